"""Figures of merit and their jackknife against RJafroc 2.1.3, and on hand-made data."""

import numpy as np
import pytest

from stats.dataset import NO_MARK, DatasetError, ReaderStudy, equal_weights
from stats.fom import FROC_FOMS, jackknife
from stats.io_plain import read_plain

from .reference import DATASETS, REFERENCE_NAMES, fom_table, r_array, reference

RTOL = 1e-9


@pytest.fixture(scope="module", params=REFERENCE_NAMES)
def dataset(request):
    return request.param, read_plain(DATASETS / request.param)


def test_every_fom_matches_rjafroc(dataset):
    name, data = dataset
    ref = reference(name)
    for fom, table in ref["FOMs"].items():
        want = fom_table(table, data.modality_ids, data.reader_ids)
        np.testing.assert_allclose(jackknife(data, fom).fom, want, rtol=RTOL, err_msg=f"{name} {fom}")


def test_jackknife_foms_match_rjafroc(dataset):
    name, data = dataset
    ref = reference(name)
    want = r_array(ref["pseudovalues"]["jkFomValues"])
    np.testing.assert_allclose(jackknife(data, ref["St_FOM"]).values, want, rtol=RTOL)


def brute_force_jackknife(data: ReaderStudy, fom: str) -> np.ndarray:
    """Leave-one-case-out FOMs by actually deleting each case (slow, obviously right)."""
    result = jackknife(data, fom)
    k1 = data.k1
    cases = {"all": range(data.shape[2]), "normal": range(k1), "abnormal": range(k1, data.shape[2])}[
        result.cases
    ]
    values = []
    for k in cases:
        keep = [c for c in range(data.shape[2]) if c != k]
        keep_abnormal = [c - k1 for c in keep if c >= k1]
        smaller = ReaderStudy(
            kind=data.kind,
            modality_ids=data.modality_ids,
            reader_ids=data.reader_ids,
            k1=k1 - (k < k1),
            nl=data.nl[:, :, keep],
            ll=data.ll[:, :, keep_abnormal],
            lesions_per_case=data.lesions_per_case[keep_abnormal],
            weights=data.weights[keep_abnormal],
        )
        values.append(jackknife(smaller, fom).fom)
    return np.stack(values, axis=-1)


def random_froc(seed: int) -> ReaderStudy:
    """A small FROC study with ties, missing marks and unequal lesion counts."""
    rng = np.random.default_rng(seed)
    k1, k2, max_nl, max_ll = 6, 5, 3, 3
    lesions = rng.integers(1, max_ll + 1, size=k2)
    nl = np.where(
        rng.random((2, 3, k1 + k2, max_nl)) < 0.4, rng.integers(1, 4, (2, 3, k1 + k2, max_nl)), NO_MARK
    )
    slots = np.arange(max_ll)[None, :] < lesions[:, None]
    ll = np.where(
        (rng.random((2, 3, k2, max_ll)) < 0.7) & slots, rng.integers(1, 5, (2, 3, k2, max_ll)), NO_MARK
    )
    weights = equal_weights(lesions, max_ll)
    weights[0, : lesions[0]] = np.linspace(1, 2, lesions[0]) / np.linspace(1, 2, lesions[0]).sum()
    return ReaderStudy(
        kind="FROC",
        modality_ids=("A", "B"),
        reader_ids=("r1", "r2", "r3"),
        k1=k1,
        nl=nl.astype(float),
        ll=ll.astype(float),
        lesions_per_case=lesions,
        weights=weights,
    )


@pytest.mark.parametrize("fom", FROC_FOMS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_jackknife_equals_deleting_each_case(fom, seed):
    data = random_froc(seed)
    np.testing.assert_allclose(jackknife(data, fom).values, brute_force_jackknife(data, fom), rtol=1e-12)


def test_auc_of_a_tiny_roc_study_by_hand():
    # normals rated 1, 2; abnormals 2, 3: pairs (1,2)=1 (1,3)=1 (2,2)=1/2 (2,3)=1 -> 3.5/4
    nl = np.array([1.0, 2.0, NO_MARK, NO_MARK]).reshape(1, 1, 4, 1)
    ll = np.array([2.0, 3.0]).reshape(1, 1, 2, 1)
    data = ReaderStudy(
        kind="ROC",
        modality_ids=("m",),
        reader_ids=("r",),
        k1=2,
        nl=nl,
        ll=ll,
        lesions_per_case=np.array([1, 1]),
        weights=np.ones((2, 1)),
    )
    assert jackknife(data, "Wilcoxon").fom[0, 0] == pytest.approx(0.875)


def test_unmarked_lesion_ties_with_unmarked_normal():
    nl = np.full((1, 1, 4, 1), NO_MARK)
    ll = np.array([NO_MARK, 2.0]).reshape(1, 1, 2, 1)
    data = ReaderStudy(
        kind="FROC",
        modality_ids=("m",),
        reader_ids=("r",),
        k1=2,
        nl=nl,
        ll=ll,
        lesions_per_case=np.array([1, 1]),
        weights=np.ones((2, 1)),
    )
    assert jackknife(data, "wAFROC").fom[0, 0] == pytest.approx(0.75)


def test_wrong_fom_for_the_data_is_a_clear_error():
    data = read_plain(DATASETS / "dataset02")
    with pytest.raises(DatasetError, match="needs FROC data"):
        jackknife(data, "wAFROC")
    with pytest.raises(DatasetError, match="Unknown figure of merit"):
        jackknife(data, "AUCX")


def random_roi(seed: int) -> ReaderStudy:
    """Every case has 3 ROIs; abnormal cases have 1-3 lesion ROIs, the rest normal ROIs."""
    rng = np.random.default_rng(seed)
    k1, k2, rois = 5, 4, 3
    lesions = rng.integers(1, rois + 1, size=k2)
    nl = np.full((2, 2, k1 + k2, rois), NO_MARK)
    nl[:, :, :k1] = rng.integers(1, 5, (2, 2, k1, rois))
    for k, n in enumerate(lesions):
        nl[:, :, k1 + k, : rois - n] = rng.integers(1, 5, (2, 2, rois - n))
    slots = np.arange(rois)[None, :] < lesions[:, None]
    ll = np.where(slots, rng.integers(2, 6, (2, 2, k2, rois)), NO_MARK).astype(float)
    return ReaderStudy(
        kind="ROI",
        modality_ids=("A", "B"),
        reader_ids=("r1", "r2"),
        k1=k1,
        nl=nl,
        ll=ll,
        lesions_per_case=lesions,
        weights=equal_weights(lesions, rois),
    )


@pytest.mark.parametrize("seed", [4, 5])
def test_roi_jackknife_equals_deleting_each_case(seed):
    data = random_roi(seed)
    np.testing.assert_allclose(jackknife(data, "ROI").values, brute_force_jackknife(data, "ROI"), rtol=1e-12)


def test_roi_auc_by_hand():
    # Normal ROIs: 1, 3 (case 1), 2.5 (case 2), 2 (case 3, which also has a lesion ROI 2);
    # lesion ROIs: 2 (case 3), 4 (case 4). Pairs (normal, lesion) scoring 1, 1/2 or 0:
    # 1: 1 + 1; 3: 0 + 1; 2.5: 0 + 1; 2: 1/2 + 1  ->  5.5 / (4 x 2)
    nl = np.full((1, 1, 4, 2), NO_MARK)
    nl[0, 0, 0] = [1.0, 3.0]
    nl[0, 0, 1, 0] = 2.5
    nl[0, 0, 2, 0] = 2.0
    ll = np.array([[2.0], [4.0]]).reshape(1, 1, 2, 1)
    data = ReaderStudy(
        kind="ROI",
        modality_ids=("m",),
        reader_ids=("r",),
        k1=2,
        nl=nl,
        ll=ll,
        lesions_per_case=np.array([1, 1]),
        weights=np.ones((2, 1)),
    )
    assert jackknife(data, "ROI").fom[0, 0] == pytest.approx(5.5 / 8)


def test_roi_and_other_foms_do_not_mix():
    with pytest.raises(DatasetError, match="ROI data takes the ROI figure of merit"):
        jackknife(random_roi(1), "Wilcoxon")
    with pytest.raises(DatasetError, match="ROI data takes the ROI figure of merit"):
        jackknife(read_plain(DATASETS / "dataset02"), "ROI")


def test_split_plot_designs_are_refused_clearly():
    with pytest.raises(DatasetError, match="SPLIT-PLOT-C design"):
        read_plain(DATASETS / "datasetFROCSpC")


def test_subset_keeps_the_chosen_modalities_and_cases():
    data = read_plain(DATASETS / "dataset04")
    full = jackknife(data, "wAFROC").fom
    two = data.subset(modalities=[3, 4])
    assert two.modality_ids == ("4", "5")
    np.testing.assert_allclose(jackknife(two, "wAFROC").fom, full[[3, 4]], rtol=1e-12)
    same = data.subset(normal=range(data.k1), abnormal=range(data.k2))
    np.testing.assert_array_equal(same.nl, data.nl)
    fewer = data.subset(normal=[0, 0, 5], abnormal=[1, 2])
    assert (fewer.k1, fewer.k2) == (3, 2)
    np.testing.assert_array_equal(fewer.ll[:, :, 1], data.ll[:, :, 2])
