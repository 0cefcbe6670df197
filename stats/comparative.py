"""Comparative readings: answers to "A vs B" questions, mapped to condition order and tested.

In a comparative reading a reader sees two conditions of one case side by side, blinded as
viewports A and B (which condition is where is randomised per reading), and answers a
comparative question:

* ``preference``: -1 = A preferred, 0 = no preference, +1 = B preferred;
* ``ab_scale``: -2 "A much better", -1 "A better", 0 "equal", +1 "B better", +2 "B much better".

The answers come as the rows of the record's ``comparisons`` table (:data:`COLUMNS`). Each is
first **oriented** to the study's condition order (:func:`orient`): for a pair of conditions
(first, second) in study order the oriented value is positive when the *second* condition is
favoured, i.e. ``value`` when the second condition was in viewport B and ``-value`` when it
was in viewport A. Then, per phase, question and pair of conditions, per reader and pooled
over the readers (:func:`analyse_comparisons`):

* the shares of answers favouring the first condition, neither, and the second (for
  ``ab_scale`` by the sign of the oriented score), each with the Wilson score interval
  (Wilson, JASA 22:209-212, 1927; recommended by Agresti & Coull, Am Stat 52:119-126, 1998),
  :func:`wilson_interval`;
* the sign test: the exact two-sided binomial test of the answers favouring the second
  condition among the untied answers against 1/2, ties (no preference, equal) dropped
  (Dixon & Mood, JASA 41:557-566, 1946), :func:`sign_test`;
* for ``ab_scale``, the Wilcoxon signed-rank test of the oriented scores against 0 (Wilcoxon,
  Biometrics Bull 1:80-83, 1945) with their median and mean, :func:`scale_test`. Zeros (equal)
  are dropped before ranking (``zero_method="wilcox"``) and tied |scores| get midranks; the
  p-value is the one R's ``wilcox.test(x)`` gives by default: exact when fewer than 50 scores
  remain and none tie and none was zero, otherwise (as on a 5-point scale nearly always) the
  normal approximation with the tie-corrected variance and a continuity correction, i.e.
  ``wilcox.test(x, exact = FALSE, correct = TRUE)`` (Lehmann, *Nonparametrics*, 1975, ch. 3).

The pooled rows (reader ``All``) treat every reader-case answer as an independent
observation: readers are not modelled as exchangeable random effects, so the pooled tests
generalise to new cases read by *these* readers, not to new readers, and answers of one
reader are taken as independent of each other. The per-reader rows make no assumption
about readers. The shares and tests of a pair use every submitted answer about it;
nothing is paired across readings.
"""

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from .classical import WilcoxonResult, wilcoxon
from .dataset import DatasetError
from .spreadsheet import spreadsheet_text

#: The comparative question kinds and the values each allows, from "A favoured" to "B favoured".
KINDS: dict[str, tuple[int, ...]] = {"preference": (-1, 0, 1), "ab_scale": (-2, -1, 0, 1, 2)}

#: The columns of a comparison row (the record's ``comparisons`` table).
COLUMNS = (
    "reader",
    "case",
    "phase",
    "question",
    "kind",
    "condition_a",
    "condition_b",
    "reference",
    "value",
)

#: Columns a comparisons CSV may leave out, and the value they then hold.
OPTIONAL_COLUMNS = {"phase": "", "reference": ""}

#: The pseudo-reader of the rows that pool every reader.
ALL_READERS = "All"

#: How each kind's answers are named in the shares: (first favoured, neither, second favoured).
OUTCOMES = ("first", "none", "second")

# R's wilcox.test uses the exact distribution (no ties, no zeros) below this many scores
EXACT_MAX_N = 50


@dataclass(frozen=True, kw_only=True)
class OrientedAnswer:
    """One answer mapped to condition order: ``value`` > 0 favours ``second``."""

    reader: str
    case: str
    phase: str
    question: str
    kind: str
    first: str
    second: str
    reference: str
    value: int
    second_in_b: bool  # whether the second condition was in viewport B (value kept) or A (negated)


@dataclass(frozen=True, kw_only=True)
class Proportion:
    """A share ``count / n`` with its Wilson score interval (NaN when n is 0)."""

    count: int
    n: int
    estimate: float
    ci_lower: float
    ci_upper: float
    confidence: float


@dataclass(frozen=True, kw_only=True)
class SignTestResult:
    """Exact two-sided sign test of the untied answers (``n_second`` of ``n_untied``) against 1/2."""

    n_first: int
    n_tied: int
    n_second: int
    n_untied: int
    pvalue: float  # NaN when every answer is tied


@dataclass(frozen=True, kw_only=True)
class ScaleTestResult:
    """Wilcoxon signed-rank test of oriented scores against 0, with their median and mean.

    ``wilcoxon.statistic`` is W+ (R's ``V``), the rank sum of the scores favouring the second
    condition; ``method`` is ``"exact"`` or ``"asymptotic"`` (normal, tie-corrected, with
    continuity correction); ``pvalue`` is NaN when every score is 0.
    """

    n: int
    median: float
    mean: float
    counts: tuple[int, ...]  # answers per oriented point, in the order of ``points``
    points: tuple[int, ...]
    wilcoxon: WilcoxonResult


@dataclass(frozen=True, kw_only=True)
class PairSummary:
    """One phase x question x pair of conditions x reader (or ``All``)."""

    phase: str
    question: str
    kind: str
    first: str
    second: str
    reader: str
    references: tuple[str, ...]  # the labelled references shown beside the pair (none: empty)
    n: int
    first_preferred: Proportion
    no_preference: Proportion
    second_preferred: Proportion
    sign_test: SignTestResult
    scale: ScaleTestResult | None  # ab_scale only


@dataclass(frozen=True, kw_only=True)
class ComparativeAnalysis:
    """Every :class:`PairSummary`, in phase, question, pair and reader order (``All`` last)."""

    summaries: tuple[PairSummary, ...]
    confidence: float


# --------------------------------------------------------------------------- the formulas


def wilson_interval(count: int, n: int, confidence: float = 0.95) -> Proportion:
    """``count / n`` with the Wilson score interval (Wilson, JASA 22:209-212, 1927).

    The interval holds the p whose score test does not reject:
    ``(k + z^2/2 +- z sqrt(k (n - k) / n + z^2 / 4)) / (n + z^2)`` with z the normal
    quantile of ``(1 + confidence) / 2``; unlike the Wald interval it stays inside [0, 1]
    and keeps close to its nominal coverage for small n and shares near 0 or 1 (Agresti &
    Coull, Am Stat 52:119-126, 1998). The same as R's ``prop.test(k, n, correct = FALSE)``;
    computed by ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    if n < 0 or not 0 <= count <= max(n, 0):
        raise ValueError(f"A share needs 0 <= count <= n, got {count} of {n}.")
    if n == 0:
        return Proportion(
            count=0, n=0, estimate=math.nan, ci_lower=math.nan, ci_upper=math.nan, confidence=confidence
        )
    ci = stats.binomtest(count, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Proportion(
        count=count,
        n=n,
        estimate=count / n,
        ci_lower=float(ci.low),
        ci_upper=float(ci.high),
        confidence=confidence,
    )


def sign_test(values: Iterable[int]) -> SignTestResult:
    """Sign test of oriented answers: the exact two-sided binomial test (``scipy.stats.binomtest``,
    R's ``binom.test``) of the answers > 0 among the non-zero ones against 1/2; zeros (no
    preference) are dropped (Dixon & Mood, JASA 41:557-566, 1946)."""
    v = list(values)
    n_first = sum(1 for x in v if x < 0)
    n_second = sum(1 for x in v if x > 0)
    untied = n_first + n_second
    p = float(stats.binomtest(n_second, untied, 0.5).pvalue) if untied else math.nan
    return SignTestResult(
        n_first=n_first, n_tied=len(v) - untied, n_second=n_second, n_untied=untied, pvalue=p
    )


def scale_test(values: Sequence[int], points: Sequence[int] = KINDS["ab_scale"]) -> ScaleTestResult:
    """Wilcoxon signed-rank test of oriented scale scores against 0 (Wilcoxon 1945) as R's
    ``wilcox.test(x)`` does it by default: zeros dropped, midranks for ties; exact p when
    fewer than 50 scores remain and there were neither ties nor zeros, otherwise the normal
    approximation with tie-corrected variance and continuity correction
    (``wilcox.test(x, exact = FALSE, correct = TRUE)``; Lehmann 1975, ch. 3). See
    :func:`stats.classical.wilcoxon`."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("No scores to test.")
    nonzero = x[x != 0]
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    exact = nonzero.size < EXACT_MAX_N and not ties and nonzero.size == x.size
    test = wilcoxon(
        x,
        np.zeros_like(x),
        zero_method="wilcox",
        method="exact" if exact else "asymptotic",
        correction=True,
    )
    return ScaleTestResult(
        n=int(x.size),
        median=float(np.median(x)),
        mean=float(np.mean(x)),
        counts=tuple(int(np.sum(x == p)) for p in points),
        points=tuple(points),
        wilcoxon=test,
    )


# --------------------------------------------------------------------------- the answers


def _text(row: Mapping[str, Any], column: str, where: str) -> str:
    value = row.get(column)
    if not isinstance(value, str):
        raise DatasetError(f"{where}: {column} must be text, got {value!r}.")
    return value


def orient(rows: Iterable[Mapping[str, Any]], conditions: Sequence[str]) -> list[OrientedAnswer]:
    """The comparison rows mapped to condition order (``conditions``: the study's, in order).

    Refuses (``DatasetError``) a condition not in ``conditions``, a pair with the same
    condition twice, an unknown kind, a value outside its kind's range and a question
    answered with two kinds.
    """
    order = {c: i for i, c in enumerate(conditions)}
    if len(order) != len(conditions):
        raise DatasetError("The condition order names a condition twice.")
    kinds: dict[str, str] = {}
    out = []
    for n, row in enumerate(rows, start=1):
        where = f"comparison {n}"
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise DatasetError(f"{where}: missing {', '.join(missing)}.")
        kind = _text(row, "kind", where)
        if kind not in KINDS:
            raise DatasetError(f"{where}: unknown kind {kind!r} (one of {', '.join(KINDS)}).")
        question = _text(row, "question", where)
        if kinds.setdefault(question, kind) != kind:
            raise DatasetError(
                f"{where}: question {question!r} is answered as {kinds[question]} and as {kind}."
            )
        a, b = _text(row, "condition_a", where), _text(row, "condition_b", where)
        for label in (a, b):
            if label not in order:
                raise DatasetError(
                    f"{where}: unknown condition {label!r} (the study's are {', '.join(conditions)})."
                )
        if a == b:
            raise DatasetError(
                f"{where}: viewports A and B both show {a!r}; a comparison needs two conditions."
            )
        value = row["value"]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value not in KINDS[kind]:
            allowed = ", ".join(f"{v:+d}" if v else "0" for v in KINDS[kind])
            raise DatasetError(f"{where}: value {value!r} is not a {kind} answer ({allowed}).")
        second_in_b = order[b] > order[a]
        first, second = (a, b) if second_in_b else (b, a)
        out.append(
            OrientedAnswer(
                reader=_text(row, "reader", where),
                case=_text(row, "case", where),
                phase=_text(row, "phase", where),
                question=question,
                kind=kind,
                first=first,
                second=second,
                reference=_text(row, "reference", where),
                value=int(value) if second_in_b else -int(value),
                second_in_b=second_in_b,
            )
        )
    return out


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _summary(answers: Sequence[OrientedAnswer], reader: str, confidence: float) -> PairSummary:
    head = answers[0]
    values = [a.value for a in answers]
    signs = sign_test(values)
    n = len(values)
    return PairSummary(
        phase=head.phase,
        question=head.question,
        kind=head.kind,
        first=head.first,
        second=head.second,
        reader=reader,
        references=tuple(sorted({a.reference for a in answers if a.reference})),
        n=n,
        first_preferred=wilson_interval(signs.n_first, n, confidence),
        no_preference=wilson_interval(signs.n_tied, n, confidence),
        second_preferred=wilson_interval(signs.n_second, n, confidence),
        sign_test=signs,
        scale=scale_test(values, KINDS["ab_scale"]) if head.kind == "ab_scale" else None,
    )


def analyse_comparisons(
    rows: Iterable[Mapping[str, Any]],
    conditions: Sequence[str],
    *,
    readers: Sequence[str] | None = None,
    questions: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> ComparativeAnalysis:
    """Shares, sign tests and (``ab_scale``) Wilcoxon tests per phase, question, pair and reader.

    ``conditions`` gives the study's condition order (see :func:`orient`); ``readers`` and
    ``questions`` the order of the rows (default: as first seen; with ``readers`` given, an
    answer of another reader is refused). Pairs come in condition order, phases as first
    seen; each group gets a row per reader who answered it and one for ``All`` (every
    answer pooled, taken as independent: see the module docstring).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}.")
    answers = orient(rows, conditions)
    if readers is not None:
        known = set(readers)
        for a in answers:
            if a.reader not in known:
                raise DatasetError(
                    f"A comparison is answered by {a.reader!r}, who is not a reader of the study."
                )
    reader_order = {r: i for i, r in enumerate(readers or _first_seen(a.reader for a in answers))}
    question_list = _first_seen([*(questions or ()), *(a.question for a in answers)])
    question_order = {q: i for i, q in enumerate(question_list)}
    phase_order = {p: i for i, p in enumerate(_first_seen(a.phase for a in answers))}
    condition_order = {c: i for i, c in enumerate(conditions)}
    groups: dict[tuple[str, str, str, str], list[OrientedAnswer]] = {}
    for a in answers:
        groups.setdefault((a.phase, a.question, a.first, a.second), []).append(a)
    summaries: list[PairSummary] = []
    for key in sorted(
        groups,
        key=lambda k: (
            phase_order[k[0]],
            question_order[k[1]],
            condition_order[k[2]],
            condition_order[k[3]],
        ),
    ):
        group = groups[key]
        by_reader: dict[str, list[OrientedAnswer]] = {}
        for a in group:
            by_reader.setdefault(a.reader, []).append(a)
        for reader in sorted(by_reader, key=reader_order.__getitem__):
            summaries.append(_summary(by_reader[reader], reader, confidence))
        summaries.append(_summary(group, ALL_READERS, confidence))
    return ComparativeAnalysis(summaries=tuple(summaries), confidence=confidence)


# --------------------------------------------------------------------------- a CSV file


def read_comparisons_csv(path: str | Path) -> list[dict[str, Any]]:
    """The comparison rows of a CSV file with the columns of :data:`COLUMNS` (any order;
    ``phase`` and ``reference`` may be left out). Text cells are read as the bundle writes
    them (a leading quote that kept a formula-like text safe is dropped)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise DatasetError(f"{path}: empty file; expected the columns {', '.join(COLUMNS)}.")
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        problems = [
            *([f"missing {', '.join(missing)}"] if missing else []),
            *([f"unknown {', '.join(unknown)}"] if unknown else []),
            *(["a column named twice"] if len(set(header)) != len(header) else []),
        ]
        raise DatasetError(f"{path}: {'; '.join(problems)} (the columns are {', '.join(COLUMNS)}).")
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise DatasetError(f"{path} line {line}: {len(cells)} cells, expected {len(header)}.")
        row: dict[str, Any] = dict(OPTIONAL_COLUMNS)
        for column, cell in zip(header, cells, strict=True):
            if column == "value":
                try:
                    row[column] = int(cell)
                except ValueError:
                    raise DatasetError(f"{path} line {line}: value {cell!r} is not a whole number.") from None
            else:
                row[column] = spreadsheet_text(cell)
        rows.append(row)
    return rows


def read_conditions_csv(path: str | Path) -> list[str]:
    """The condition labels of a conditions CSV (columns ``condition`` and ``order``, as the
    bundle's ``record/conditions.csv``), in their order."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"condition", "order"} <= set(rows[0]):
        raise DatasetError(f"{path}: expected the columns condition and order.")
    try:
        ordered = sorted(rows, key=lambda r: (int(r["order"]), r["condition"]))
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: every order must be a whole number.") from None
    return [spreadsheet_text(r["condition"]) for r in ordered]
