"""The split-plot OR analysis (stats.splitplot) against the crossed OR, the paired t-test and its size."""

import dataclasses

import numpy as np
import pytest
from scipy import stats as scipy_stats

from stats.dataset import DatasetError, ReaderStudy
from stats.io_plain import read_plain
from stats.mrmc import MRMCResult, or_analysis
from stats.simulate import roe_metz
from stats.splitplot import split_plot_or_analysis

from .reference import DATASETS


def _same_result(crossed: MRMCResult, split: MRMCResult) -> None:
    assert split.foms == pytest.approx(crossed.foms, rel=1e-12)
    for key, value in crossed.variance_components.items():
        assert split.variance_components[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key
    for option, expected in crossed.tests.items():
        got = split.tests[option]
        assert (got.statistic_name, got.ndf) == (expected.statistic_name, expected.ndf)
        assert got.statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert got.p == pytest.approx(expected.p, rel=1e-10)
        if expected.ddf is None:
            assert got.ddf is None
        else:
            assert got.ddf == pytest.approx(expected.ddf, rel=1e-12)
        pairs = [*zip(expected.differences, got.differences, strict=True)]
        pairs += [*zip(expected.modality_estimates, got.modality_estimates, strict=True)]
        pairs += [*zip(expected.reader_differences, got.reader_differences, strict=True)]
        for e, g in pairs:
            assert g.estimate == pytest.approx(e.estimate, rel=1e-12)
            assert g.stderr == pytest.approx(e.stderr, rel=1e-12)
            assert g.df == pytest.approx(e.df, rel=1e-12)
            assert g.ci == pytest.approx(e.ci, rel=1e-12)


@pytest.mark.parametrize(("name", "fom"), [("dataset02", "Wilcoxon"), ("dataset04", "wAFROC")])
def test_one_group_is_the_crossed_or_analysis(name, fom):
    data = read_plain(DATASETS / name)
    split = split_plot_or_analysis([data], fom)
    _same_result(or_analysis(data, fom), split)
    assert split.method == "split-plot OR, 1 reader group"


def test_one_group_with_bootstrap_covariance_is_the_crossed_one():
    data = roe_metz(readers=4, normal_cases=12, abnormal_cases=12, seed=5)
    crossed = or_analysis(data, "Wilcoxon", covariance="bootstrap", n_boot=50, seed=3)
    _same_result(
        crossed, split_plot_or_analysis([data], "Wilcoxon", covariance="bootstrap", n_boot=50, seed=3)
    )


def _group(data: ReaderStudy, name: str) -> ReaderStudy:
    k = data.shape[2]
    return dataclasses.replace(
        data,
        reader_ids=tuple(f"{name}-{r}" for r in data.reader_ids),
        case_ids=tuple(f"{name}-c{c}" for c in range(k)),
    )


def _split_study(sizes: tuple[int, ...], cases: int, seed: object, tau: tuple[float, float] = (0.0, 0.0)):
    return [
        _group(
            roe_metz(readers=n, normal_cases=cases, abnormal_cases=cases, tau=tau, seed=[seed, g]), f"G{g}"
        )
        for g, n in enumerate(sizes)
    ]


def test_one_reader_per_group_is_the_paired_t_test_of_reader_differences():
    # Cases nested within readers: readers are independent, so the RRRC test of two
    # modalities is the one-sample t-test of the readers' FOM differences (J - 1 df).
    groups = _split_study((1, 1, 1, 1, 1), 10, seed=11, tau=(0.0, 0.3))
    result = split_plot_or_analysis(groups, "Wilcoxon")
    d = result.foms[0] - result.foms[1]
    expected = scipy_stats.ttest_1samp(d, 0.0)
    rrrc = result.tests["RRRC"]
    assert rrrc.ddf == pytest.approx(4)
    assert rrrc.differences[0].statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert rrrc.p == pytest.approx(expected.pvalue, rel=1e-10)
    assert rrrc.differences[0].stderr == pytest.approx(scipy_stats.sem(d), rel=1e-12)


def test_groups_are_told_apart_and_named():
    groups = _split_study((3, 2), 8, seed=1)
    result = split_plot_or_analysis(groups, "Wilcoxon")
    assert result.method == "split-plot OR, 2 reader groups"
    assert result.reader_ids == groups[0].reader_ids + groups[1].reader_ids
    assert result.foms.shape == (2, 5)
    assert [g[0] for g in result.groups] == [groups[0].reader_ids, groups[1].reader_ids]
    # each group's FOMs are its own crossed study's
    assert result.foms[:, :3] == pytest.approx(or_analysis(groups[0], "Wilcoxon").foms)


def test_bad_groups_are_refused():
    groups = _split_study((2, 2), 6, seed=2)
    with pytest.raises(DatasetError, match="more than one reader group"):
        split_plot_or_analysis(
            [groups[0], dataclasses.replace(groups[1], reader_ids=groups[0].reader_ids)], "Wilcoxon"
        )
    with pytest.raises(DatasetError, match="disjoint"):
        split_plot_or_analysis(
            [groups[0], dataclasses.replace(groups[1], case_ids=groups[0].case_ids)], "Wilcoxon"
        )
    with pytest.raises(DatasetError, match="same modalities"):
        other = dataclasses.replace(groups[1], modality_ids=("A", "B"))
        split_plot_or_analysis([groups[0], other], "Wilcoxon")


@pytest.mark.parametrize("sizes", [(3, 3), (2, 4, 3)])
def test_the_rrrc_test_keeps_its_size_under_the_null(sizes):
    # 600 seeded Roe-Metz split-plot studies with equal modalities: about 5% rejections
    # (binomial sd 0.9%), with equal and unequal reader groups.
    n = 600
    p = np.array(
        [
            split_plot_or_analysis(_split_study(sizes, 15, seed=[2026, s]), "Wilcoxon").tests["RRRC"].p
            for s in range(n)
        ]
    )
    rate = float(np.mean(p < 0.05))
    assert 0.03 <= rate <= 0.075, rate


def test_the_test_has_power_under_an_alternative():
    n = 100
    p = [
        split_plot_or_analysis(_split_study((3, 3), 25, seed=[7, s], tau=(0.0, 0.8)), "Wilcoxon")
        .tests["RRRC"]
        .p
        for s in range(n)
    ]
    assert np.mean(np.array(p) < 0.05) > 0.5
