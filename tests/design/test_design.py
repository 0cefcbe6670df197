"""Property-based tests of the reading-schedule generator (``readerstudy.design.generator``); no database."""

import ast
import dataclasses
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from readerstudy.design import generator as design
from readerstudy.design.generator import (
    CaseInput,
    DesignError,
    DesignSpec,
    PlannedReading,
    ReaderInput,
    Schedule,
    schedule_check,
    schedule_generate,
)

# Modest example counts keep the file well under 30 s; no example database is written.
PROPERTY = settings(max_examples=40, deadline=None, database=None)

CONDITION_NAMES = ("LR", "SR", "HR", "XR")


@st.composite
def specs(draw, kind=None, n_conditions=None, stratify=None, block=None, min_cases=1, min_readers=1):
    """Design specs with 1..40 cases, 1..8 readers, 1..4 conditions and optional attributes."""
    kind = kind or draw(st.sampled_from(["crossed", "split_plot"]))
    n_conditions = n_conditions or draw(st.integers(1, 4))
    n_cases = draw(st.integers(min_cases, 40))
    n_readers = draw(st.integers(min_readers, 8))
    stratify = draw(st.booleans()) if stratify is None else stratify
    block = draw(st.booleans()) if block is None else block
    strata = draw(st.lists(st.sampled_from("abc"), min_size=n_cases, max_size=n_cases))
    blocks = draw(st.lists(st.sampled_from("xyzw"), min_size=n_cases, max_size=n_cases))
    cases = [CaseInput(f"K{i:02d}", {"site": strata[i], "anatomy": blocks[i]}) for i in range(n_cases)]
    readers = [ReaderInput(f"R{i}") for i in range(n_readers)]
    n_groups = None
    if kind == "split_plot":
        k = draw(st.integers(1, min(n_readers, n_cases, 4)))
        if draw(st.booleans()):
            labels = draw(st.permutations([f"G{i % k}" for i in range(n_readers)]))
            readers = [ReaderInput(r.code, label) for r, label in zip(readers, labels, strict=True)]
        else:
            n_groups = k
    return DesignSpec(
        conditions=CONDITION_NAMES[:n_conditions],
        cases=tuple(draw(st.permutations(cases))),
        readers=tuple(draw(st.permutations(readers))),
        kind=kind,
        n_groups=n_groups,
        stratify_by="site" if stratify else None,
        block_by="anatomy" if block else None,
        seed=draw(st.one_of(st.integers(0, 2**32), st.text(max_size=6))),
    )


def slots(schedule: Schedule) -> dict[tuple[str, int], list[PlannedReading]]:
    """The readings of each (reader, session), in reading order."""
    out: dict[tuple[str, int], list[PlannedReading]] = defaultdict(list)
    for reading in sorted(schedule.readings, key=lambda r: (r.reader, r.session, r.position)):
        out[reading.reader, reading.session].append(reading)
    return out


def case_sets(schedule: Schedule) -> dict[str, frozenset[str]]:
    """The cases each reader reads."""
    out: dict[str, set[str]] = defaultdict(set)
    for reading in schedule.readings:
        out[reading.reader].add(reading.case)
    return {reader: frozenset(cases) for reader, cases in out.items()}


def spread(values) -> int:
    values = list(values)
    return max(values) - min(values)


def assert_design_rules(schedule: Schedule) -> None:
    """Every rule of the design, asserted directly on the readings."""
    spec = schedule.spec
    conditions = spec.conditions
    n_conditions = len(conditions)
    attributes = {c.code: c.attributes for c in spec.cases}
    all_cases = set(attributes)
    readers = {r.code for r in spec.readers}
    subsets = case_sets(schedule)
    assert set(subsets) == readers

    # Each reader reads each of its cases under every condition exactly once.
    for reader, subset in subsets.items():
        pairs = Counter((r.case, r.condition) for r in schedule.readings if r.reader == reader)
        assert pairs == Counter({(case, c): 1 for case in subset for c in conditions})
    assert len(schedule.readings) == sum(len(s) for s in subsets.values()) * n_conditions

    # Sessions: as many as conditions, each holding every case of the reader's subset once,
    # positions 1..n, conditions balanced within 1.
    by_slot = slots(schedule)
    for reader, subset in subsets.items():
        assert {s for (r, s) in by_slot if r == reader} == set(range(1, n_conditions + 1))
        for session in range(1, n_conditions + 1):
            slot = by_slot[reader, session]
            assert [r.position for r in slot] == list(range(1, len(slot) + 1))
            assert sorted(r.case for r in slot) == sorted(subset)
            counts = Counter(r.condition for r in slot)
            assert spread(counts[c] for c in conditions) <= 1
            if spec.stratify_by:
                for value in {attributes[r.case][spec.stratify_by] for r in slot}:
                    in_stratum = Counter(r.condition for r in slot if attributes[r.case]["site"] == value)
                    assert spread(in_stratum[c] for c in conditions) <= 1
            if spec.block_by:
                values = [attributes[r.case][spec.block_by] for r in slot]
                starts = [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]
                assert len(starts) == len(set(starts)), values

    # Cyclic Latin square: from one session to the next, a case moves to the next condition.
    for (reader, session), slot in by_slot.items():
        if session < n_conditions:
            following = {r.case: r.condition for r in by_slot[reader, session + 1]}
            for r in slot:
                assert (
                    conditions.index(following[r.case]) == (conditions.index(r.condition) + 1) % n_conditions
                )

    distinct = set(subsets.values())
    if spec.kind == "crossed":
        assert distinct == {frozenset(all_cases)}
    else:
        # Split-plot: disjoint subsets of balanced size covering every case, one per reader group.
        for a in distinct:
            for b in distinct:
                assert a == b or not a & b
        assert set().union(*distinct) == all_cases
        assert spread(len(s) for s in distinct) <= 1
        groups = {r.code: r.group for r in spec.readers}
        if spec.n_groups is not None:
            assert len(distinct) == spec.n_groups
        else:
            assert len(distinct) == len(set(groups.values()))
            for a in readers:
                for b in readers:
                    assert (groups[a] == groups[b]) == (subsets[a] == subsets[b])
        if spec.stratify_by:
            for value in {a["site"] for a in attributes.values()}:
                assert spread(sum(attributes[c]["site"] == value for c in s) for s in distinct) <= 1

    assert schedule_check(schedule) == []


# --- properties -----------------------------------------------------------------------------


@PROPERTY
@given(specs(kind="crossed"))
def test_crossed_design_holds_every_rule(spec):
    assert_design_rules(schedule_generate(spec))


@PROPERTY
@given(specs(kind="split_plot"))
def test_split_plot_design_holds_every_rule(spec):
    assert_design_rules(schedule_generate(spec))


@PROPERTY
@given(specs(), st.randoms(use_true_random=False))
def test_same_seed_gives_same_schedule_whatever_the_input_order(spec, rnd):
    first = schedule_generate(spec)
    assert schedule_generate(spec).readings == first.readings
    cases, readers = list(spec.cases), list(spec.readers)
    rnd.shuffle(cases)
    rnd.shuffle(readers)
    reordered = dataclasses.replace(spec, cases=tuple(cases), readers=tuple(readers))
    assert schedule_generate(reordered).readings == first.readings


@PROPERTY
@given(specs(block=False, min_cases=10))
def test_different_seeds_give_different_orders(spec):
    # At least 10 readings per session: two seeds agree on all orders with chance < 1/10!.
    orders = [
        [
            (r.reader, r.session, r.case)
            for r in schedule_generate(dataclasses.replace(spec, seed=seed)).readings
        ]
        for seed in (1, 2)
    ]
    assert orders[0] != orders[1]


@PROPERTY
@given(specs(kind="crossed", block=False, min_cases=10, min_readers=2))
def test_readers_get_different_orders(spec):
    by_slot = slots(schedule_generate(spec))
    orders = {tuple(r.case for r in by_slot[reader.code, 1]) for reader in spec.readers}
    assert len(orders) == len(spec.readers)


@PROPERTY
@given(specs(kind="crossed", n_conditions=2))
def test_two_arms_read_half_the_cases_each_way(spec):
    schedule = schedule_generate(spec)
    n_cases, n_readers = len(spec.cases), len(spec.readers)
    for reader in spec.readers:
        first = {r.case: r.condition for r in schedule.readings if r.reader == reader.code and r.session == 1}
        second = {
            r.case: r.condition for r in schedule.readings if r.reader == reader.code and r.session == 2
        }
        a_then_b = sum(first[c] == "LR" and second[c] == "SR" for c in first)
        b_then_a = sum(first[c] == "SR" and second[c] == "LR" for c in first)
        assert a_then_b + b_then_a == n_cases
        assert abs(a_then_b - b_then_a) <= 1
    if n_readers % 2 == 0:
        per_session = Counter((r.session, r.condition) for r in schedule.readings)
        assert set(per_session.values()) == {n_readers * n_cases // 2}


@PROPERTY
@given(specs(kind="crossed", n_conditions=3))
def test_three_arms_form_a_latin_square(spec):
    schedule = schedule_generate(spec)
    n_cases, n_readers = len(spec.cases), len(spec.readers)
    for reader in spec.readers:
        mine = [r for r in schedule.readings if r.reader == reader.code]
        for case in spec.cases:
            assert sorted(r.condition for r in mine if r.case == case.code) == ["HR", "LR", "SR"]
            assert sorted(r.session for r in mine if r.case == case.code) == [1, 2, 3]
        for session in (1, 2, 3):
            counts = Counter(r.condition for r in mine if r.session == session)
            for condition in spec.conditions:
                assert counts[condition] in (n_cases // 3, -(-n_cases // 3))
    # Across readers each session holds each condition for about a third of the readings,
    # exactly a third when the readers fill the rotation.
    per_session = Counter((r.session, r.condition) for r in schedule.readings)
    assert len(per_session) == 9 or n_cases < 3
    for n in per_session.values():
        assert n_readers * (n_cases // 3) <= n <= n_readers * -(-n_cases // 3)
    if n_readers % 3 == 0:
        assert set(per_session.values()) == {n_readers * n_cases // 3}


@PROPERTY
@given(specs(stratify=True))
def test_stratification_balances_each_stratum_over_groups(spec):
    schedule = schedule_generate(spec)
    site = {c.code: c.attributes["site"] for c in spec.cases}
    subsets = set(case_sets(schedule).values())
    for value in set(site.values()):
        assert spread(sum(site[c] == value for c in s) for s in subsets) <= 1
    # The case groups of the Latin square are the condition classes of any session.
    for (_reader, _session), slot in slots(schedule).items():
        for value in set(site.values()):
            counts = Counter(r.condition for r in slot if site[r.case] == value)
            assert spread(counts[c] for c in spec.conditions) <= 1


@PROPERTY
@given(specs(block=True))
def test_blocks_are_contiguous(spec):
    anatomy = {c.code: c.attributes["anatomy"] for c in spec.cases}
    for slot in slots(schedule_generate(spec)).values():
        values = [anatomy[r.case] for r in slot]
        for value in set(values):
            where = [i for i, v in enumerate(values) if v == value]
            assert where == list(range(where[0], where[-1] + 1))


@PROPERTY
@given(specs())
def test_balance_report_counts_sum_to_the_total(spec):
    schedule = schedule_generate(spec)
    report = schedule.balance()
    assert json.loads(json.dumps(report)) == report
    total = len(schedule.readings)
    assert report["total"] == total
    assert sum(row["n"] for row in report["rows"]) == total
    assert sum(row["n"] for row in report["per_session"]) == total
    assert sum(report["per_condition"].values()) == total
    counts = Counter((r.reader, r.session, r.condition) for r in schedule.readings)
    for row in report["rows"]:
        assert row["n"] == counts[row["reader"], row["session"], row["condition"]]
        assert row["first_half"] + row["second_half"] == row["n"]
        if row["n"]:
            assert 0 < row["mean_relative_position"] < 1
    assert len(report["rows"]) == len({(r.reader, r.session) for r in schedule.readings}) * len(
        spec.conditions
    )


# --- schedule_check catches broken schedules ------------------------------------------------


def broken(schedule: Schedule, readings) -> Schedule:
    return Schedule(spec=schedule.spec, readings=tuple(readings))


@PROPERTY
@given(specs(n_conditions=2, min_cases=2), st.data())
def test_schedule_check_catches_a_broken_schedule(spec, data):
    schedule = schedule_generate(spec)
    readings = list(schedule.readings)
    i = data.draw(st.integers(0, len(readings) - 1))
    r = readings[i]
    mutation = data.draw(st.sampled_from(["condition", "drop", "position", "case", "session"]))
    if mutation == "condition":
        readings[i] = dataclasses.replace(r, condition="SR" if r.condition == "LR" else "LR")
    elif mutation == "drop":
        del readings[i]
    elif mutation == "position":
        readings[i] = dataclasses.replace(r, position=r.position + 1 if r.position == 1 else 1)
    elif mutation == "case":
        others = sorted({x.case for x in readings if x.reader == r.reader} - {r.case})
        assume(others)
        readings[i] = dataclasses.replace(r, case=others[0])
    else:
        readings[i] = dataclasses.replace(r, session=3)
    assert schedule_check(broken(schedule, readings)) != []


@PROPERTY
@given(specs(kind="split_plot", min_readers=2, min_cases=2))
def test_schedule_check_catches_overlapping_subsets(spec):
    schedule = schedule_generate(spec)
    subsets = case_sets(schedule)
    assume(len(set(subsets.values())) >= 2)
    reader = min(subsets)
    other = next(r for r in sorted(subsets) if subsets[r] != subsets[reader])
    intruder = min(subsets[other])
    readings = list(schedule.readings)
    by_slot = slots(schedule)
    for session in range(1, len(spec.conditions) + 1):
        condition = next(x.condition for x in by_slot[other, session] if x.case == intruder)
        readings.append(
            PlannedReading(reader, session, len(by_slot[reader, session]) + 1, intruder, condition)
        )
    problems = schedule_check(broken(schedule, readings))
    assert any("overlap" in p for p in problems), problems


def test_schedule_check_reports_unbalanced_sessions():
    spec = DesignSpec(
        conditions=("A", "B"), cases=(CaseInput("K1"), CaseInput("K2")), readers=(ReaderInput("R1"),)
    )
    readings = [
        PlannedReading("R1", 1, 1, "K1", "A"),
        PlannedReading("R1", 1, 2, "K2", "A"),
        PlannedReading("R1", 2, 1, "K1", "B"),
        PlannedReading("R1", 2, 2, "K2", "B"),
    ]
    problems = schedule_check(Schedule(spec, tuple(readings)))
    assert len(problems) == 2
    assert all("unbalanced" in p for p in problems)


def test_schedule_check_reports_missing_reader_and_gaps():
    spec = DesignSpec(
        conditions=("A",), cases=(CaseInput("K1"),), readers=(ReaderInput("R1"), ReaderInput("R2"))
    )
    problems = schedule_check(Schedule(spec, (PlannedReading("R1", 1, 2, "K1", "A"),)))
    assert "Reader R1, session 1: positions are not 1..1." in problems
    assert "Reader R2 has no readings." in problems


# --- examples and errors --------------------------------------------------------------------


def test_a_small_crossed_design_is_an_ab_ba_crossover():
    spec = DesignSpec(
        conditions=("A", "B"),
        cases=tuple(CaseInput(f"K{i}") for i in range(4)),
        readers=(ReaderInput("R1"), ReaderInput("R2")),
        seed="study-7",
    )
    schedule = schedule_generate(spec)
    assert len(schedule.readings) == 16
    assert_design_rules(schedule)
    session_one = {
        reader: sorted(
            r.case for r in schedule.readings if r.reader == reader and r.session == 1 and r.condition == "A"
        )
        for reader in ("R1", "R2")
    }
    # The two readers take the two rows of the square: what one reads as A first, the other reads as B first.
    assert set(session_one["R1"]).isdisjoint(session_one["R2"])
    assert len(session_one["R1"]) == len(session_one["R2"]) == 2


def test_seeds_do_not_depend_on_pythonhashseed():
    script = (
        "from readerstudy.design.generator import *\n"
        "spec = DesignSpec(('A', 'B', 'C'), tuple(CaseInput(f'K{i}', {'s': str(i % 3)}) for i in range(12)),"
        " tuple(ReaderInput(f'R{i}') for i in range(4)), stratify_by='s', block_by='s', seed='x')\n"
        "print(schedule_generate(spec).readings)\n"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={"PYTHONHASHSEED": hashseed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hashseed in ("1", "2")
    }
    assert len(outputs) == 1


def test_design_module_needs_only_the_standard_library():
    tree = ast.parse(Path(design.__file__).read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules <= set(sys.stdlib_module_names)
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))


CASES = tuple(CaseInput(f"K{i}", {"site": "A"}) for i in range(3))
READERS = (ReaderInput("R1"), ReaderInput("R2"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"conditions": ()}, "at least one condition"),
        ({"cases": ()}, "at least one case"),
        ({"readers": ()}, "at least one reader"),
        ({"conditions": ("A", "A")}, "Duplicate condition codes: A"),
        ({"cases": (CaseInput("K1"), CaseInput("K1"))}, "Duplicate case codes: K1"),
        ({"readers": (ReaderInput("R1"), ReaderInput("R1"))}, "Duplicate reader codes: R1"),
        ({"readers": (ReaderInput(""),)}, "non-empty code"),
        ({"kind": "parallel"}, "Unknown design kind 'parallel'"),
        ({"sessions": 3}, r"as many sessions as conditions \(2\), got 3"),
        ({"stratify_by": "anatomy"}, "Cannot stratify by 'anatomy': cases without it: K0, K1, K2"),
        ({"block_by": "anatomy"}, "Cannot block by 'anatomy'"),
        ({"n_groups": 2}, "split-plot designs only"),
        ({"kind": "split_plot"}, "needs reader groups or n_groups"),
        ({"kind": "split_plot", "n_groups": 3}, "Cannot split 2 readers into 3 groups"),
        ({"kind": "split_plot", "n_groups": 0}, "at least 1"),
        (
            {"kind": "split_plot", "readers": tuple(ReaderInput(f"R{i}", f"G{i}") for i in range(4))},
            "Cannot split 3 cases into 4 reader groups",
        ),
        (
            {"kind": "split_plot", "readers": (ReaderInput("R1", "G1"), ReaderInput("R2"))},
            "Either every reader names a group or none does; no group: R2",
        ),
        (
            {
                "kind": "split_plot",
                "n_groups": 1,
                "readers": (ReaderInput("R1", "G1"), ReaderInput("R2", "G2")),
            },
            "n_groups is 1 but the readers name 2 groups",
        ),
    ],
)
def test_invalid_specs_are_refused_with_a_clear_message(changes, message):
    spec = dataclasses.replace(DesignSpec(("A", "B"), CASES, READERS), **changes)
    with pytest.raises(DesignError, match=message):
        schedule_generate(spec)
    assert schedule_check(Schedule(spec, ())) != []
