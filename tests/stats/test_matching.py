"""Mark-to-lesion matching on hand-made cases (stats.matching)."""

import numpy as np
import pytest

from stats.dataset import NO_MARK, DatasetError
from stats.fom import figure_of_merit
from stats.matching import (
    DUPLICATE,
    LL,
    NL,
    AcceptanceRule,
    Mark,
    TrueLesion,
    froc_study,
    match_case,
    roc_from_froc,
)


def lesion(label: str, x: float, size: float = 6.0, case: str = "C1", weight=None) -> TrueLesion:
    return TrueLesion(case=case, lesion=label, position=(x, 0.0, 0.0), size_mm=size, weight=weight)


def mark(
    x: float, rating: float, case: str = "C1", reader: str = "R1", modality: str = "SR", y: float = 0.0
) -> Mark:
    return Mark(
        modality=modality, reader=reader, case=case, position=(x, y, 0.0), rating=rating, mark=f"{x},{y}"
    )


def outcomes(matches):
    return [(m.outcome, m.lesion) for m in matches]


class TestAcceptanceRule:
    def test_radius_is_tied_to_size_with_a_floor(self):
        rule = AcceptanceRule()  # half the diameter, at least 3 mm
        assert rule.radius(10.0) == 5.0
        assert rule.radius(2.0) == 3.0

    def test_fixed_radius_overrides_size(self):
        assert AcceptanceRule(radius_mm=7.5).radius(40.0) == 7.5

    def test_rejects_a_non_positive_radius(self):
        with pytest.raises(ValueError, match="positive"):
            AcceptanceRule(radius_mm=0)


class TestMatchCase:
    def test_mark_inside_the_radius_is_a_lesion_localisation(self):
        result = match_case([lesion("L1", 0.0, size=10.0)], [mark(4.9, 3)])
        assert outcomes(result) == [(LL, "L1")]
        assert result[0].distance_mm == pytest.approx(4.9)

    def test_mark_outside_the_radius_is_a_non_lesion_localisation(self):
        result = match_case([lesion("L1", 0.0, size=10.0)], [mark(5.1, 3)])
        assert outcomes(result) == [(NL, None)]

    def test_distance_is_measured_in_three_dimensions(self):
        three_d = Mark(
            modality="SR", reader="R1", case="C1", position=(3.0, 0.0, 4.0), rating=2
        )  # 5 mm away, 3 mm in-plane
        assert outcomes(match_case([lesion("L1", 0.0, size=8.0)], [three_d])) == [(NL, None)]
        assert outcomes(match_case([lesion("L1", 0.0, size=10.0)], [three_d])) == [(LL, "L1")]

    def test_two_marks_on_one_lesion_keep_the_highest_rated(self):
        result = match_case([lesion("L1", 0.0, size=10.0)], [mark(1.0, 2), mark(3.0, 4)])
        assert outcomes(result) == [(DUPLICATE, None), (LL, "L1")]

    def test_duplicates_can_count_as_non_lesion_localisations(self):
        result = match_case([lesion("L1", 0.0, size=10.0)], [mark(1.0, 2), mark(3.0, 4)], duplicates="nl")
        assert outcomes(result) == [(NL, None), (LL, "L1")]

    def test_a_mark_between_two_lesions_goes_to_the_nearer(self):
        lesions = [lesion("L1", 0.0, size=20.0), lesion("L2", 12.0, size=20.0)]
        assert outcomes(match_case(lesions, [mark(5.0, 3)])) == [(LL, "L1")]
        assert outcomes(match_case(lesions, [mark(7.0, 3)])) == [(LL, "L2")]

    def test_two_marks_between_two_lesions_localise_both(self):
        # The higher-rated mark is nearer L1 but also within L2's radius; the lower-rated one
        # reaches only L1. Pairing them so that both lesions are found beats giving L1 the
        # higher rating and leaving L2 unfound.
        lesions = [lesion("L1", 0.0, size=20.0), lesion("L2", 12.0, size=20.0)]
        result = match_case(lesions, [mark(5.0, 4), mark(-8.0, 2)])
        assert outcomes(result) == [(LL, "L2"), (LL, "L1")]

    def test_each_lesion_takes_its_highest_rated_mark_when_both_can_be_found(self):
        lesions = [lesion("L1", 0.0), lesion("L2", 50.0)]
        result = match_case(lesions, [mark(1.0, 1), mark(49.0, 2), mark(-1.0, 5), mark(25.0, 3)])
        assert outcomes(result) == [(DUPLICATE, None), (LL, "L2"), (LL, "L1"), (NL, None)]

    def test_every_mark_on_a_normal_case_is_a_non_lesion_localisation(self):
        result = match_case([], [mark(1.0, 3), mark(2.0, 1)])
        assert outcomes(result) == [(NL, None), (NL, None)]
        assert result[0].distance_mm is None


class TestFrocStudy:
    def test_builds_the_rjafroc_layout(self):
        lesions = [
            lesion("L1", 0.0, case="C2"),
            lesion("L2", 40.0, case="C2"),
            lesion("L1", 0.0, case="C10", weight=3.0),
            lesion("L2", 40.0, case="C10", weight=1.0),
        ]
        marks = [
            mark(1.0, 4, case="C2"),  # LL of C2 L1
            mark(20.0, 2, case="C2"),  # NL
            mark(41.0, 3, case="C10", modality="LR"),  # LL of C10 L2 under LR
            mark(5.0, 1, case="C1", reader="R2"),  # NL on a normal case
            mark(9.0, 5, case="C1", reader="R2"),  # NL on a normal case
        ]
        data, matches = froc_study(
            lesions, marks, modalities=["LR", "SR"], readers=["R1", "R2"], cases=["C10", "C2", "C1"]
        )
        assert data.kind == "FROC"
        assert data.case_ids == ("C1", "C2", "C10")
        assert data.k1 == 1 and data.k2 == 2
        assert list(data.lesions_per_case) == [2, 2]
        np.testing.assert_allclose(data.weights, [[0.5, 0.5], [0.75, 0.25]])
        sr, lr = 1, 0
        assert data.ll[sr, 0, 0].tolist() == [4.0, NO_MARK]
        assert data.ll[lr, 0, 1].tolist() == [NO_MARK, 3.0]
        assert data.nl[sr, 0, 1].tolist() == [2.0, NO_MARK]
        assert data.nl[sr, 1, 0].tolist() == [5.0, 1.0]  # sorted from highest
        assert [m.outcome for m in matches].count(LL) == 2

    def test_marks_outside_the_study_are_refused(self):
        with pytest.raises(DatasetError, match="outside the study"):
            froc_study([], [mark(0.0, 1, case="C9")], modalities=["SR"], readers=["R1"], cases=["C1"])

    def test_lesions_on_unread_cases_are_refused(self):
        with pytest.raises(DatasetError, match="not read"):
            froc_study([lesion("L1", 0, case="C9")], [], modalities=["SR"], readers=["R1"], cases=["C1"])

    def test_perfect_reader_has_wafroc_one_and_inferred_roc_auc_one(self):
        lesions = [lesion("L1", 0.0, case="A1"), lesion("L1", 0.0, case="A2")]
        marks = [mark(0.0, 5, case="A1"), mark(0.5, 4, case="A2"), mark(3.0, 1, case="N1", y=30.0)]
        data, _ = froc_study(
            lesions, marks, modalities=["SR"], readers=["R1"], cases=["N1", "N2", "A1", "A2"]
        )
        assert figure_of_merit(data, "wAFROC")[0, 0] == pytest.approx(1.0)
        roc = roc_from_froc(data)
        assert roc.kind == "ROC"
        assert roc.nl[0, 0, :2, 0].tolist() == [1.0, NO_MARK]
        assert figure_of_merit(roc, "Wilcoxon")[0, 0] == pytest.approx(1.0)
