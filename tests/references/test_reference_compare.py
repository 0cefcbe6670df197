"""The comparison of reviewers' drafts (readerstudy.references.compare): plain Python, no database."""

import subprocess
import sys

import pytest

from readerstudy.references.compare import (
    MATCH_FLOOR_MM,
    Draft,
    LesionDraft,
    Undecided,
    compare_drafts,
    lesions_match,
    match_lesions,
    resolve,
    sizes_agree,
)


def lesion(x_mm, y_mm=0.0, z_mm=0.0, size=10.0, kind="metastasis", label="L1", **pixels):
    """A lesion centred at (x_mm, y_mm, z_mm); ``pixels`` may give slice_index, x and y."""
    return LesionDraft(label=label, x_mm=x_mm, y_mm=y_mm, z_mm=z_mm, size_mm=size, lesion_type=kind, **pixels)


def test_it_imports_no_django():
    code = (
        "import sys, readerstudy.references.compare; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.')]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_identical_drafts_agree_on_everything():
    drafts = [
        Draft("a", True, [lesion(0)], {"tear": (True, 2)}),
        Draft("b", True, [lesion(0.5)], {"tear": (True, 2)}),
    ]
    comparison = compare_drafts(drafts)
    assert comparison.discrepancies == []
    assert [item.key for item in comparison.agreed] == ["abnormal", "finding:tear", "lesion:1"]
    merged = comparison.item("lesion:1").value
    assert merged.x_mm == pytest.approx(0.25)
    assert merged.size_mm == pytest.approx(10.0)
    resolution = resolve(comparison, {})
    assert resolution.is_abnormal is True
    assert resolution.findings == {"tear": (True, 2)}
    assert len(resolution.lesions) == 1


def test_case_level_disagreement_lists_both_options_with_their_drafts():
    comparison = compare_drafts([Draft("a", True), Draft("b", False), Draft("c", True)])
    (item,) = comparison.discrepancies
    assert item.key == "abnormal"
    assert [(o.key, o.drafts) for o in item.options] == [("abnormal", ("a", "c")), ("normal", ("b",))]


def test_findings_differ_by_presence_grade_or_being_recorded_at_all():
    comparison = compare_drafts(
        [
            Draft("a", True, findings={"tear": (True, 2), "effusion": (False, None), "cyst": (True, None)}),
            Draft("b", True, findings={"tear": (True, 3), "effusion": (False, None)}),
        ]
    )
    assert [i.key for i in comparison.discrepancies] == ["finding:cyst", "finding:tear"]
    assert [o.key for o in comparison.item("finding:tear").options] == ["present-grade-2", "present-grade-3"]
    assert [o.key for o in comparison.item("finding:cyst").options] == ["present", "not-recorded"]
    assert comparison.item("finding:effusion").agreed


def test_an_absent_finding_has_no_grade_to_disagree_on():
    comparison = compare_drafts(
        [
            Draft("a", False, findings={"tear": (False, 2)}),
            Draft("b", False, findings={"tear": (False, None)}),
        ]
    )
    assert comparison.discrepancies == []


def test_matching_rule_half_the_larger_diameter_with_a_floor():
    assert lesions_match(lesion(0, size=10), lesion(4.9, size=4))  # < 10 / 2
    assert not lesions_match(lesion(0, size=10), lesion(5.0, size=4))
    assert lesions_match(lesion(0, size=1), lesion(MATCH_FLOOR_MM - 0.1, size=1))  # the floor
    assert not lesions_match(lesion(0, size=1), lesion(MATCH_FLOOR_MM, size=1))
    # In three dimensions, not only along one axis.
    assert not lesions_match(lesion(3, 3, 3, size=10), lesion(0, 0, 0, size=10))


def test_size_tolerance_is_2_mm_or_20_percent_whichever_is_more_lenient():
    assert sizes_agree([5.0, 7.0])  # 2 mm
    assert not sizes_agree([5.0, 7.1])
    assert sizes_agree([20.0, 24.0])  # 20 % of 24 = 4.8 mm
    assert not sizes_agree([20.0, 25.1])


def test_matching_is_greedy_by_smallest_distance_and_one_to_one():
    # b's lesion at 1.0 is closer to a's lesion at 0.5 than to a's lesion at 0: it pairs with
    # that one, and a's lesion at 0 pairs with nothing (one-to-one).
    a = Draft("a", True, [lesion(0, size=10, label="A1"), lesion(0.5, y_mm=0.1, size=10, label="A2")])
    b = Draft("b", True, [lesion(1.0, size=10, label="B1")])
    groups = match_lesions([a, b])
    pairs = sorted(tuple(sorted(g[name].label for name in g)) for g in groups)
    assert pairs == [("A1",), ("A2", "B1")]


def test_three_drafts_join_only_when_every_pair_matches():
    # a-b and b-c are close, a-c is not: a chain never joins a and c.
    drafts = [
        Draft("a", True, [lesion(0, size=4)]),
        Draft("b", True, [lesion(1.9, size=4)]),
        Draft("c", True, [lesion(3.8, size=4)]),
    ]
    groups = match_lesions(drafts)
    assert sorted(sorted(g) for g in groups) == [["a", "b"], ["c"]]


def test_a_lesion_only_one_reviewer_marked_is_a_discrepancy_with_a_no_lesion_option():
    comparison = compare_drafts(
        [Draft("a", True, [lesion(0), lesion(40, label="L2")]), Draft("b", True, [lesion(0.5)])]
    )
    (item,) = comparison.discrepancies
    assert item.kind == "lesion"
    assert "marked in 1 of 2 drafts" in item.reasons
    assert [(o.key, o.drafts) for o in item.options] == [("from:a", ("a",)), ("none", ("b",))]
    with pytest.raises(Undecided) as caught:
        resolve(comparison, {})
    assert caught.value.missing == [item.key]
    kept = resolve(comparison, {item.key: "from:a"})
    assert sorted(lesion.x_mm for lesion in kept.lesions) == [0.25, 40]
    dropped = resolve(comparison, {item.key: "none"})
    assert len(dropped.lesions) == 1


def test_size_and_type_differences_of_a_matched_lesion_are_discrepancies():
    comparison = compare_drafts(
        [
            Draft("a", True, [lesion(0, size=6, kind="metastasis"), lesion(50, size=10, kind="cyst")]),
            Draft(
                "b", True, [lesion(0.5, size=9.5, kind="Metastasis "), lesion(50, size=10, kind="meningioma")]
            ),
        ]
    )
    reasons = {item.key: item.reasons for item in comparison.discrepancies}
    assert reasons == {
        "lesion:1": ("diameters differ (6.0 vs 9.5 mm)",),
        "lesion:2": ("types differ (cyst vs meningioma)",),
    }
    # Every reviewer marked it: the options are theirs, no "none".
    assert [o.key for o in comparison.item("lesion:2").options] == ["from:a", "from:b"]


def test_decisions_must_name_options_of_discrepancies():
    comparison = compare_drafts([Draft("a", True), Draft("b", False)])
    with pytest.raises(Undecided, match="not an option"):
        resolve(comparison, {"abnormal": "maybe"})
    with pytest.raises(Undecided, match="not a discrepancy"):
        resolve(comparison, {"abnormal": "normal", "lesion:9": "none"})
    assert resolve(comparison, {"abnormal": "normal"}).is_abnormal is False


def test_agreed_lesion_keeps_its_image_position_only_when_marked_on_the_same_slice():
    same = compare_drafts(
        [
            Draft("a", True, [lesion(0, slice_index=3, x=10.0, y=20.0)]),
            Draft("b", True, [lesion(0, slice_index=3, x=12.0, y=20.0)]),
        ]
    )
    merged = same.item("lesion:1").value
    assert (merged.slice_index, merged.x, merged.y) == (3, 11.0, 20.0)
    other = compare_drafts(
        [
            Draft("a", True, [lesion(0, slice_index=3, x=10.0, y=20.0)]),
            Draft("b", True, [lesion(0, slice_index=4, x=10.0, y=20.0)]),
        ]
    )
    assert other.item("lesion:1").value.slice_index is None


def test_keys_are_stable_for_the_same_drafts_whatever_their_order():
    a = Draft("a", True, [lesion(0, z_mm=10), lesion(0, z_mm=-10, label="L2")])
    b = Draft("b", True, [lesion(0, z_mm=-10), lesion(30, z_mm=10, label="L2")])
    first = compare_drafts([a, b])
    second = compare_drafts([b, a])
    assert [i.key for i in first.items] == [i.key for i in second.items]

    def drafts_per_option(comparison):
        return [sorted(tuple(sorted(o.drafts)) for o in i.options) for i in comparison.items]

    assert drafts_per_option(first) == drafts_per_option(second)


def test_drafts_need_unique_names():
    with pytest.raises(ValueError):
        compare_drafts([Draft("a", True), Draft("a", True)])
    with pytest.raises(ValueError):
        compare_drafts([])
