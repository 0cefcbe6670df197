"""Case characteristics compared between groups of cases (a study's "Table 1").

The cases' attributes (the record's ``case_attributes``, e.g. age and sex) are compared
between normal and abnormal cases (the reference standard; the default) or between the
values of a grouping attribute (setting ``characteristics_group_by``):

* a numeric attribute (every value of it parses as a finite number): n, mean and SD
  (divisor n - 1) per group, and for two groups Welch's t-test (Welch, Biometrika 34, 1947)
  or Student's (setting ``characteristics_t_test``; Student, Biometrika 6, 1908), for three
  or more the one-way ANOVA F test (Fisher, *Statistical Methods for Research Workers*,
  1925) — ``scipy.stats.ttest_ind`` and ``scipy.stats.f_oneway``;
* a categorical attribute: the count and percentage of each value per group, with Fisher's
  exact test (two-sided; Fisher, JRSS 85, 1922) for a 2 x 2 table and Pearson's chi-square
  test of independence (Pearson, Phil. Mag. 50, 1900) otherwise, without continuity
  correction — ``scipy.stats.fisher_exact`` and ``scipy.stats.chi2_contingency``.

Every case of the study counts (whether or not it was read); a case without the value
is counted as missing for that characteristic, and a case outside every group is left out
with a note.
"""

import math
import warnings
from collections import defaultdict

import numpy as np
from scipy import stats as sps

from ..matching import natural_key
from ..study_record import StudyRecord
from .table import Cell, Part, Table, num

NUMERIC_TESTS = {"welch": "Welch's t-test", "student": "Student's t-test"}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def case_groups(record: StudyRecord, attributes: dict[str, dict[str, str]]) -> tuple[dict[str, str], str]:
    """Case -> its group under ``characteristics_group_by``, and a note on the cases left out."""
    group_by = record.settings.characteristics_group_by
    cases = [row["case"] for row in record.cases]
    if group_by == "abnormal":
        status = {row["case"]: row["abnormal"] for row in record.cases}
        groups = {c: ("abnormal" if status[c] else "normal") for c in cases if status[c] is not None}
        why = "no reference standard says whether they are normal or abnormal"
    else:
        groups = {c: attributes[c][group_by] for c in cases if attributes.get(c, {}).get(group_by, "") != ""}
        why = f"no value of {group_by!r}"
    left_out = [c for c in cases if c not in groups]
    note = f"Left out of the case characteristics ({why}): {', '.join(left_out)}." if left_out else ""
    return groups, note


def _group_order(group_by: str, groups: dict[str, str]) -> list[str]:
    present = set(groups.values())
    if group_by == "abnormal":
        return [g for g in ("normal", "abnormal") if g in present]
    return sorted(present, key=natural_key)


def characteristics_part(record: StudyRecord) -> Part:
    """``case_characteristics`` (per characteristic and group) and ``case_characteristic_tests``."""
    settings = record.settings
    attributes: dict[str, dict[str, str]] = defaultdict(dict)
    for row in record.case_attributes:
        attributes[row["case"]][row["attribute"]] = row["value"]
    if not attributes:
        return Part()
    group_by = settings.characteristics_group_by
    present = {a for values in attributes.values() for a in values}
    if group_by != "abnormal" and group_by not in present:
        return Part(notes=(f"No case has the attribute {group_by!r} to group the case characteristics by.",))
    notes: list[str] = []
    groups, left_out = case_groups(record, attributes)
    if left_out:
        notes.append(left_out)
    order = _group_order(group_by, groups)
    if settings.characteristics is None:
        names = sorted(present - {group_by}, key=natural_key)
    else:
        names = [n for n in settings.characteristics if n != group_by]
        if missing := [n for n in names if n not in present]:
            notes.append("No case has the attribute(s) " + ", ".join(missing) + " (characteristics).")
            names = [n for n in names if n in present]
    rows: list[dict[str, Cell]] = []
    tests: list[dict[str, Cell]] = []
    for name in names:
        values = {g: [attributes[c].get(name, "") for c, cg in groups.items() if cg == g] for g in order}
        given = {g: [v for v in vs if v != ""] for g, vs in values.items()}
        numbers = {g: [_number(v) for v in vs] for g, vs in given.items()}
        if all(x is not None for xs in numbers.values() for x in xs):
            samples = {g: np.array(xs, dtype=float) for g, xs in numbers.items()}
            rows += _numeric_rows(name, values, samples)
            tests += _numeric_test(name, samples, settings.characteristics_t_test)
        else:
            rows += _categorical_rows(name, values, given)
            tests += _categorical_test(name, given)
    test_name = NUMERIC_TESTS[settings.characteristics_t_test]
    grouping = "normal and abnormal cases" if group_by == "abnormal" else f"the values of {group_by!r}"
    return Part(
        tables=(
            Table(
                name="case_characteristics",
                title=f"Case characteristics by group ({grouping})",
                columns=(
                    "characteristic",
                    "type",
                    "level",
                    "group",
                    "n",
                    "missing",
                    "count",
                    "percent",
                    "mean",
                    "sd",
                ),
                rows=tuple(rows),
                notes=(
                    "Numeric: mean and SD (n - 1) of the cases with a value; categorical: count and "
                    "percentage of the cases with a value in the group.",
                    *notes,
                ),
            ),
            Table(
                name="case_characteristic_tests",
                title="Case characteristics between groups",
                columns=("characteristic", "type", "test", "groups", "statistic", "df", "p"),
                rows=tuple(tests),
                notes=(
                    f"Numeric: {test_name} for two groups, one-way ANOVA for more; categorical: "
                    "Fisher's exact test (two-sided) for 2 x 2, chi-square test of independence otherwise "
                    "(statistic: the odds ratio for Fisher's test).",
                ),
            ),
        ),
    )


def _numeric_rows(
    name: str, values: dict[str, list[str]], samples: dict[str, np.ndarray]
) -> list[dict[str, Cell]]:
    return [
        {
            "characteristic": name,
            "type": "numeric",
            "level": "",
            "group": g,
            "n": int(x.size),
            "missing": len(values[g]) - int(x.size),
            "count": None,
            "percent": None,
            "mean": num(x.mean()) if x.size else math.nan,
            "sd": num(x.std(ddof=1)) if x.size > 1 else math.nan,
        }
        for g, x in samples.items()
    ]


def _numeric_test(name: str, samples: dict[str, np.ndarray], t_test: str) -> list[dict[str, Cell]]:
    used = [x for x in samples.values() if x.size]
    if len(used) < 2 or any(x.size < 2 for x in used):
        return []
    with warnings.catch_warnings():  # constant groups give NaN (no variance to test), not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        if len(used) == 2:
            result = sps.ttest_ind(used[0], used[1], equal_var=t_test == "student")
            test, statistic, df = NUMERIC_TESTS[t_test], result.statistic, result.df
        else:
            result = sps.f_oneway(*used)
            test, statistic, df = "one-way ANOVA", result.statistic, None
    return [
        {
            "characteristic": name,
            "type": "numeric",
            "test": test,
            "groups": len(used),
            "statistic": num(statistic),
            "df": num(df),
            "p": num(result.pvalue),
        }
    ]


def _categorical_rows(
    name: str, values: dict[str, list[str]], given: dict[str, list[str]]
) -> list[dict[str, Cell]]:
    levels = sorted({v for vs in given.values() for v in vs}, key=natural_key)
    return [
        {
            "characteristic": name,
            "type": "categorical",
            "level": level,
            "group": g,
            "n": len(vs),
            "missing": len(values[g]) - len(vs),
            "count": vs.count(level),
            "percent": 100.0 * vs.count(level) / len(vs) if vs else math.nan,
            "mean": None,
            "sd": None,
        }
        for level in levels
        for g, vs in given.items()
    ]


def _categorical_test(name: str, given: dict[str, list[str]]) -> list[dict[str, Cell]]:
    used = {g: vs for g, vs in given.items() if vs}
    levels = sorted({v for vs in used.values() for v in vs}, key=natural_key)
    if len(used) < 2 or len(levels) < 2:
        return []
    table = np.array([[vs.count(level) for level in levels] for vs in used.values()])
    row: dict[str, Cell] = {"characteristic": name, "type": "categorical", "groups": len(used)}
    if table.shape == (2, 2):
        fisher = sps.fisher_exact(table, alternative="two-sided")
        return [
            {
                **row,
                "test": "Fisher's exact test",
                "statistic": num(fisher.statistic),
                "df": None,
                "p": num(fisher.pvalue),
            }
        ]
    chi2 = sps.chi2_contingency(table, correction=False)
    return [
        {
            **row,
            "test": "chi-square test",
            "statistic": num(chi2.statistic),
            "df": num(chi2.dof),
            "p": num(chi2.pvalue),
        }
    ]
