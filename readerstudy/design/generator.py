"""Reading schedules of a reader study: which reader reads which case under which condition, and when.

Pure Python (standard library only), independent of Django and the database: a service turns
the study into a :class:`DesignSpec`, calls :func:`schedule_generate`, checks the result with
:func:`schedule_check`, shows :meth:`Schedule.balance` and stores the readings.

Two multi-reader multi-case (MRMC) designs are supported:

* **fully crossed** (``kind="crossed"``): every reader reads every case under every
  condition exactly once (Obuchowski, "Multireader, multimodality receiver operating
  characteristic curve studies: hypothesis testing and sample size estimation using an
  analysis of variance approach with dependent observations", Acad Radiol 1995;2 Suppl 1).
* **split-plot** (``kind="split_plot"``): readers are split into groups and cases into as
  many disjoint subsets; each reader group reads only its own subset, fully crossed over the
  conditions (Chakraborty, "Observer Performance Methods for Diagnostic Imaging", CRC Press
  2017, chapter on split-plot designs).

Conditions are counterbalanced over sessions with a cyclic Latin square, so that the same
case is never met twice in one session: there are as many sessions as conditions, the cases
are split into that many groups, and case group ``g`` in session ``s`` is read by a reader
with offset ``o`` under condition ``(g + s + o) mod C``. The offsets rotate across the
readers (of a reader group), so that across readers each condition falls in each session
equally often. For two conditions this is the usual AB/BA crossover: half of each reader's
cases are read as A then B, the other half as B then A. A Williams (1949) square would also
balance which condition follows which; it is not needed here because the order of readings
within a session is randomised per reader.

Everything random is drawn from ``random.Random`` generators seeded with a string derived
from the spec's seed and a purpose (never from ``hash()``, which depends on
``PYTHONHASHSEED``), so the same spec and seed always give the same schedule, whatever the
order in which cases and readers are given.
"""

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CROSSED = "crossed"
SPLIT_PLOT = "split_plot"
KINDS = (CROSSED, SPLIT_PLOT)


class DesignError(ValueError):
    """A design specification that cannot be scheduled; the message says why."""


@dataclass(frozen=True)
class CaseInput:
    """One case: its code and optional attributes (e.g. ``{"site": "A", "anatomy": "knee"}``)."""

    code: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReaderInput:
    """One reader: its code and, for a split-plot design, optionally its group name."""

    code: str
    group: str = ""


@dataclass(frozen=True)
class DesignSpec:
    """What to schedule.

    ``sessions`` defaults to the number of conditions and must equal it (a cyclic Latin
    square needs one session per condition). ``n_groups`` splits the readers of a
    split-plot design into that many groups when no reader names a group; with named groups
    it may be left out. ``stratify_by`` names a case attribute whose values are spread evenly
    over case groups and subsets; ``block_by`` names a case attribute whose values are read
    in contiguous blocks within a session. Groups given to readers of a crossed design are
    ignored.
    """

    conditions: tuple[str, ...]
    cases: tuple[CaseInput, ...]
    readers: tuple[ReaderInput, ...]
    kind: str = CROSSED
    sessions: int | None = None
    n_groups: int | None = None
    stratify_by: str | None = None
    block_by: str | None = None
    seed: int | str = 0


@dataclass(frozen=True)
class PlannedReading:
    """One reading: ``session`` and ``position`` (within the session) count from 1."""

    reader: str
    session: int
    position: int
    case: str
    condition: str


@dataclass(frozen=True)
class Schedule:
    """A generated schedule: the spec it came from and its readings, ordered by reader, session, position."""

    spec: DesignSpec
    readings: tuple[PlannedReading, ...]

    def balance(self) -> dict[str, Any]:
        """The balance report of this schedule, see :func:`schedule_balance`."""
        return schedule_balance(self)


# --- validation -----------------------------------------------------------------------------


def _duplicates(codes: Iterable[str]) -> list[str]:
    return sorted(code for code, n in Counter(codes).items() if n > 1)


def _validate(spec: DesignSpec) -> int:
    """Raise :class:`DesignError` if ``spec`` cannot be scheduled; return the number of sessions."""
    if spec.kind not in KINDS:
        raise DesignError(f"Unknown design kind {spec.kind!r}; expected one of {', '.join(KINDS)}.")
    if not spec.conditions:
        raise DesignError("The design needs at least one condition.")
    if not spec.cases:
        raise DesignError("The design needs at least one case.")
    if not spec.readers:
        raise DesignError("The design needs at least one reader.")
    for what, codes in (
        ("condition", spec.conditions),
        ("case", [c.code for c in spec.cases]),
        ("reader", [r.code for r in spec.readers]),
    ):
        if any(not isinstance(code, str) or not code for code in codes):
            raise DesignError(f"Every {what} needs a non-empty code.")
        if dup := _duplicates(codes):
            raise DesignError(f"Duplicate {what} codes: {', '.join(dup)}.")
    n_conditions = len(spec.conditions)
    sessions = n_conditions if spec.sessions is None else spec.sessions
    if sessions != n_conditions:
        raise DesignError(
            f"The design needs as many sessions as conditions ({n_conditions}), got {sessions}: "
            "each case is read once per session, under a different condition each time."
        )
    for purpose, attribute in (("stratify", spec.stratify_by), ("block", spec.block_by)):
        if attribute is None:
            continue
        missing = sorted(c.code for c in spec.cases if attribute not in c.attributes)
        if missing:
            raise DesignError(
                f"Cannot {purpose} by {attribute!r}: cases without it: {', '.join(missing[:10])}"
                + (" ..." if len(missing) > 10 else "")
                + "."
            )
    if spec.kind == CROSSED:
        if spec.n_groups is not None:
            raise DesignError("n_groups applies to split-plot designs only.")
    else:
        _reader_groups(spec)  # raises on inconsistent groups
    return sessions


# --- generation -----------------------------------------------------------------------------


def _rng(seed: int | str, *purpose: object) -> random.Random:
    """A generator for one purpose, seeded from the study seed; independent of PYTHONHASHSEED."""
    # Reproducible scheduling, not security: a seeded Mersenne Twister is what we want.
    return random.Random(json.dumps([seed, *map(str, purpose)]))  # noqa: S311


def _deal(cases: Sequence[CaseInput], n: int, stratify_by: str | None, rng: random.Random) -> list[list[str]]:
    """Split ``cases`` into ``n`` groups of case codes whose sizes differ by at most 1.

    The cases of each stratum (value of ``stratify_by``; one stratum without it) are
    shuffled and dealt round-robin, continuing across strata, so that every stratum is spread
    over the groups within 1 as well. The groups are finally put in random order.
    """
    strata: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        strata[case.attributes[stratify_by] if stratify_by else ""].append(case.code)
    groups: list[list[str]] = [[] for _ in range(n)]
    dealt = 0
    for value in sorted(strata):
        members = sorted(strata[value])
        rng.shuffle(members)
        for code in members:
            groups[dealt % n].append(code)
            dealt += 1
    rng.shuffle(groups)
    return groups


def _reader_groups(spec: DesignSpec) -> list[list[str]]:
    """The reader codes of each reader group (one group for a crossed design), each sorted."""
    codes = sorted(r.code for r in spec.readers)
    if spec.kind == CROSSED:
        return [codes]
    named = [r for r in spec.readers if r.group]
    if named:
        if len(named) != len(spec.readers):
            unnamed = sorted(r.code for r in spec.readers if not r.group)
            raise DesignError(
                f"Either every reader names a group or none does; no group: {', '.join(unnamed)}."
            )
        by_group: dict[str, list[str]] = defaultdict(list)
        for reader in spec.readers:
            by_group[reader.group].append(reader.code)
        if spec.n_groups is not None and spec.n_groups != len(by_group):
            raise DesignError(f"n_groups is {spec.n_groups} but the readers name {len(by_group)} groups.")
        groups = [sorted(by_group[name]) for name in sorted(by_group)]
    else:
        if spec.n_groups is None:
            raise DesignError("A split-plot design needs reader groups or n_groups.")
        if spec.n_groups < 1:
            raise DesignError("n_groups must be at least 1.")
        if spec.n_groups > len(codes):
            raise DesignError(
                f"Cannot split {len(codes)} readers into {spec.n_groups} groups: "
                "a group would have no readers."
            )
        rng = _rng(spec.seed, "reader-groups")
        rng.shuffle(codes)
        groups = [sorted(codes[i :: spec.n_groups]) for i in range(spec.n_groups)]
    if len(groups) > len(spec.cases):
        raise DesignError(
            f"Cannot split {len(spec.cases)} cases into {len(groups)} reader groups: "
            "a group would have no cases."
        )
    return groups


def _order(cases: list[str], blocks: Mapping[str, str] | None, rng: random.Random) -> list[str]:
    """A random order of ``cases``; with ``blocks`` (case -> block value), in contiguous blocks."""
    if blocks is None:
        ordered = sorted(cases)
        rng.shuffle(ordered)
        return ordered
    by_block: dict[str, list[str]] = defaultdict(list)
    for code in sorted(cases):
        by_block[blocks[code]].append(code)
    values = sorted(by_block)
    rng.shuffle(values)
    ordered = []
    for value in values:
        members = by_block[value]
        rng.shuffle(members)
        ordered.extend(members)
    return ordered


def schedule_generate(spec: DesignSpec) -> Schedule:
    """Generate the reading schedule of ``spec``; raise :class:`DesignError` if it is invalid.

    Cases are split into disjoint subsets, one per reader group (a crossed design has one
    group and one subset holding every case); each subset is split into one case group per
    condition (the rows of the Latin square). Reader ``r`` of a group, with offset ``o``,
    reads in session ``s`` (0-based here, 1-based in the result) every case of its subset,
    case group ``g`` under condition ``(g + s + o) mod C``; offsets rotate over the group's
    readers in random order. Within each session the readings are in random order, per
    reader (in blocks of ``block_by`` if given).
    """
    sessions = _validate(spec)
    conditions = tuple(spec.conditions)
    n_conditions = len(conditions)
    reader_groups = _reader_groups(spec)
    subsets = _deal(spec.cases, len(reader_groups), spec.stratify_by, _rng(spec.seed, "case-subsets"))
    case_by_code = {c.code: c for c in spec.cases}
    blocks = {c.code: c.attributes[spec.block_by] for c in spec.cases} if spec.block_by else None

    readings: list[PlannedReading] = []
    for index, (readers, subset) in enumerate(zip(reader_groups, subsets, strict=True)):
        latin = _deal(
            [case_by_code[code] for code in subset],
            n_conditions,
            spec.stratify_by,
            _rng(spec.seed, "latin-groups", index),
        )
        rotation = list(readers)
        _rng(spec.seed, "reader-offsets", index).shuffle(rotation)
        for offset, reader in enumerate(rotation):
            for session in range(sessions):
                condition_of = {
                    code: conditions[(g + session + offset) % n_conditions]
                    for g, codes in enumerate(latin)
                    for code in codes
                }
                order = _order(subset, blocks, _rng(spec.seed, "order", reader, session + 1))
                readings.extend(
                    PlannedReading(reader, session + 1, position, code, condition_of[code])
                    for position, code in enumerate(order, start=1)
                )
    readings.sort(key=lambda r: (r.reader, r.session, r.position))
    return Schedule(spec=spec, readings=tuple(readings))


# --- comparative readings -------------------------------------------------------------------


#: The viewport labels of the blinded conditions of a comparative reading, by slot.
VIEWPORT_LABELS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: The viewport label of a comparative phase's reference condition.
REFERENCE_LABEL = "Reference"


def comparison_condition(blinded: Sequence[str], reference: str | None = None) -> str:
    """The one "condition" a comparative phase is scheduled under (its readings show them all).

    A comparative reading shows every condition of the phase at once, so the design has one
    session per reader with every case once; the plan names this combined label.
    """
    shown = " vs ".join(blinded)
    return f"{shown} vs {reference} (reference)" if reference else shown


def comparative_placement(
    seed: int | str, reader: str, case: str, blinded: Sequence[str], reference: str | None = None
) -> list[tuple[int, str, str, bool]]:
    """Where a comparative reading shows each condition: ``(slot, condition, label, is_reference)``.

    The blinded conditions are put in a random order, drawn from the schedule's seed, the
    reader and the case (so the same seed always gives the same placement, and placements
    are independent across readers and cases), in slots 1..k labelled A, B, ...; the
    reference, if any, takes the last slot. Randomising the order of the pair per
    presentation keeps a position bias out of paired comparisons (ITU-T Recommendation
    P.910, "Subjective video quality assessment methods", pair comparison method; ITU-R
    BT.500, random presentation order).
    """
    if len(blinded) > len(VIEWPORT_LABELS):
        raise DesignError(f"At most {len(VIEWPORT_LABELS)} blinded conditions can be shown side by side.")
    order = list(blinded)
    _rng(seed, "placement", reader, case).shuffle(order)
    placement = [(slot, label, VIEWPORT_LABELS[slot - 1], False) for slot, label in enumerate(order, start=1)]
    if reference:
        placement.append((len(order) + 1, reference, REFERENCE_LABEL, True))
    return placement


# --- checking -------------------------------------------------------------------------------


def _spread(counts: Iterable[int]) -> int:
    values = list(counts)
    return max(values) - min(values) if values else 0


def schedule_check(schedule: Schedule) -> list[str]:
    """Verify the rules of a schedule independently of how it was made; return the violations in words.

    Checked: the spec is valid; readings name known readers, cases, conditions and sessions;
    per reader and session the positions are 1..n without gaps and no case appears twice;
    every reader reads each of its cases under every condition exactly once, and reads every
    case of the study (crossed) or of its group's subset (split-plot); split-plot subsets are
    disjoint, cover all cases and match the reader groups; per reader and session the
    conditions are balanced within 1; with ``stratify_by`` each stratum is balanced within 1
    (over conditions per session, and over split-plot subsets); with ``block_by`` each block
    is contiguous. An empty list means every rule holds.
    """
    spec = schedule.spec
    try:
        sessions = _validate(spec)
    except DesignError as error:
        return [f"Invalid spec: {error}"]
    problems: list[str] = []
    readers = {r.code for r in spec.readers}
    cases = {c.code: c for c in spec.cases}
    conditions = set(spec.conditions)

    by_slot: dict[tuple[str, int], list[PlannedReading]] = defaultdict(list)
    for reading in schedule.readings:
        if reading.reader not in readers:
            problems.append(f"Unknown reader {reading.reader!r}.")
        elif reading.case not in cases:
            problems.append(f"Unknown case {reading.case!r}.")
        elif reading.condition not in conditions:
            problems.append(f"Unknown condition {reading.condition!r}.")
        elif not 1 <= reading.session <= sessions:
            problems.append(f"Reader {reading.reader}: session {reading.session} is not in 1..{sessions}.")
        else:
            by_slot[reading.reader, reading.session].append(reading)
    if problems:
        return problems

    # Positions and cases within each reader's session.
    for (reader, session), slot in sorted(by_slot.items()):
        positions = sorted(r.position for r in slot)
        if positions != list(range(1, len(slot) + 1)):
            problems.append(f"Reader {reader}, session {session}: positions are not 1..{len(slot)}.")
        for code, n in sorted(Counter(r.case for r in slot).items()):
            if n > 1:
                problems.append(f"Reader {reader}, session {session}: case {code} is read {n} times.")
        counts = Counter(r.condition for r in slot)
        if _spread(counts[c] for c in spec.conditions) > 1:
            problems.append(f"Reader {reader}, session {session}: conditions are unbalanced {dict(counts)}.")
        if spec.stratify_by:
            strata: dict[str, Counter[str]] = defaultdict(Counter)
            for r in slot:
                strata[cases[r.case].attributes[spec.stratify_by]][r.condition] += 1
            for value, per_condition in sorted(strata.items()):
                if _spread(per_condition[c] for c in spec.conditions) > 1:
                    problems.append(
                        f"Reader {reader}, session {session}: "
                        f"stratum {value!r} is unbalanced over conditions."
                    )
        if spec.block_by:
            values = [cases[r.case].attributes[spec.block_by] for r in sorted(slot, key=lambda r: r.position)]
            runs = [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]
            if len(runs) != len(set(runs)):
                problems.append(f"Reader {reader}, session {session}: blocks of {spec.block_by!r} are split.")

    # Completeness per reader.
    read: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for reading in schedule.readings:
        read[reading.reader][reading.case, reading.condition] += 1
    case_sets: dict[str, frozenset[str]] = {}
    for reader in sorted(readers):
        pairs = read.get(reader, Counter())
        if not pairs:
            problems.append(f"Reader {reader} has no readings.")
            continue
        case_sets[reader] = frozenset(case for case, _ in pairs)
        for (case, condition), n in sorted(pairs.items()):
            if n > 1:
                problems.append(f"Reader {reader} reads case {case} under {condition} {n} times.")
        for case in sorted(case_sets[reader]):
            missing = [c for c in spec.conditions if (case, c) not in pairs]
            if missing:
                problems.append(f"Reader {reader} never reads case {case} under {', '.join(missing)}.")
    if spec.kind == CROSSED:
        for reader, seen in sorted(case_sets.items()):
            if seen != set(cases):
                problems.append(f"Reader {reader} does not read {len(set(cases) - seen)} of the cases.")
        return list(dict.fromkeys(problems))

    # Split-plot: subsets are disjoint, cover the cases and follow the reader groups.
    subsets = set(case_sets.values())
    for a in subsets:
        for b in subsets:
            if a != b and a & b:
                problems.append(f"Case subsets overlap in {', '.join(sorted(a & b)[:10])}.")
    if set().union(*subsets) != set(cases):
        problems.append(f"{len(set(cases) - set().union(*subsets))} cases are read by no reader.")
    n_groups = len(_reader_groups(spec))
    if len(subsets) != n_groups:
        problems.append(f"Readers read {len(subsets)} distinct case subsets, expected {n_groups}.")
    groups = {r.code: r.group for r in spec.readers}
    if all(groups.values()):
        for reader, seen in case_sets.items():
            for other, other_seen in case_sets.items():
                if reader < other and (groups[reader] == groups[other]) != (seen == other_seen):
                    problems.append(
                        f"Readers {reader} and {other} read case subsets that contradict their groups."
                    )
    if spec.stratify_by and len(subsets) == n_groups:
        for value in sorted({c.attributes[spec.stratify_by] for c in spec.cases}):
            per_subset = [
                sum(cases[code].attributes[spec.stratify_by] == value for code in s) for s in subsets
            ]
            if _spread(per_subset) > 1:
                problems.append(
                    f"Stratum {value!r} is unbalanced over the case subsets: {sorted(per_subset)}."
                )
    return list(dict.fromkeys(problems))


# --- balance report -------------------------------------------------------------------------


def schedule_balance(schedule: Schedule) -> dict[str, Any]:
    """A JSON-serialisable report of how conditions are spread over readers, sessions and order.

    ``rows`` holds one entry per (reader, session, condition): the number of readings, their
    mean position, their mean relative position ((position - 0.5) / session length, 0.5 when
    balanced) and how many fall in the first half (position <= length / 2) and the rest.
    ``per_session`` holds the counts per (session, condition) over all readers,
    ``per_condition`` the counts per condition and ``total`` the number of readings.
    """
    spec = schedule.spec
    lengths = Counter((r.reader, r.session) for r in schedule.readings)
    positions: dict[tuple[str, int, str], list[int]] = defaultdict(list)
    for r in schedule.readings:
        positions[r.reader, r.session, r.condition].append(r.position)
    rows = []
    for reader, session in sorted(lengths):
        length = lengths[reader, session]
        for condition in spec.conditions:
            found = positions.get((reader, session, condition), [])
            first = sum(2 * p <= length for p in found)
            rows.append(
                {
                    "reader": reader,
                    "session": session,
                    "condition": condition,
                    "n": len(found),
                    "mean_position": round(sum(found) / len(found), 3) if found else None,
                    "mean_relative_position": (
                        round(sum((p - 0.5) / length for p in found) / len(found), 3) if found else None
                    ),
                    "first_half": first,
                    "second_half": len(found) - first,
                }
            )
    per_session = Counter((r.session, r.condition) for r in schedule.readings)
    per_condition = Counter(r.condition for r in schedule.readings)
    return {
        "kind": spec.kind,
        "seed": spec.seed,
        "conditions": list(spec.conditions),
        "total": len(schedule.readings),
        "per_condition": {c: per_condition[c] for c in spec.conditions},
        "per_session": [
            {"session": s, "condition": c, "n": per_session[s, c]}
            for s in sorted({r.session for r in schedule.readings})
            for c in spec.conditions
        ],
        "rows": rows,
    }
