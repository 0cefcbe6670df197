"""Reader-averaged curves, their bands and partial areas (stats.curves), and the plots that
draw them; the RJafroc-compatible averaging against real RJafroc 2.1.3's PlotEmpOpChrs."""

import numpy as np
import pytest

from stats.curves import _Counts, averaged_curves, partial_auc, partial_aucs, polygon_at, reader_points
from stats.dataset import DatasetError, roc_study
from stats.fom import figure_of_merit
from stats.io_plain import read_plain
from stats.plots import operating_curves_svg

from .reference import DATASETS
from .rjafroc_support import require_rjafroc


@pytest.fixture(scope="module")
def dataset02():
    return read_plain(DATASETS / "dataset02")


@pytest.fixture(scope="module")
def dataset04():
    return read_plain(DATASETS / "dataset04")


def small_study():
    """Two readers, 3 normal and 3 abnormal cases, one modality: curves by hand."""
    ratings = np.array([[[1, 2, 3, 2, 3, 4], [1, 1, 2, 2, 3, 3]]], dtype=float)
    return roc_study(ratings, 3, ["A"], ["R1", "R2"])


def test_reader_points_by_hand():
    (x1, y1), (x2, y2) = reader_points(small_study(), "ROC", 0)
    # reader 1: thresholds 4, 3, 2, 1
    np.testing.assert_allclose(x1, [0, 0, 1 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(y1, [0, 1 / 3, 2 / 3, 1, 1, 1])
    # reader 2: thresholds 3, 2, 1
    np.testing.assert_allclose(x2, [0, 0, 1 / 3, 1, 1])
    np.testing.assert_allclose(y2, [0, 2 / 3, 1, 1, 1])


def test_polygon_reading_by_hand():
    x = np.array([0.0, 0.0, 0.5, 0.5, 1.0])
    y = np.array([0.0, 0.4, 0.6, 0.9, 1.0])
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    # the polygon: the top of each vertical rise, linear in between
    np.testing.assert_allclose(polygon_at(x, y, grid), [0.4, 0.5, 0.9, 0.95, 1.0])
    np.testing.assert_allclose(
        polygon_at(x, y, grid, bottom=np.array([True] * 5)), [0.0, 0.5, 0.6, 0.95, 1.0]
    )
    # R's approx(x, y, xout, ties = min): rises collapsed to their bottoms, (0, 0) and (0.5, 0.6)
    np.testing.assert_allclose(polygon_at(x, y, grid, method="rjafroc"), [0.0, 0.3, 0.6, 0.8, 1.0])


def test_average_by_hand():
    (curve,) = averaged_curves(small_study(), "ROC", grid=np.array([0.0, 1 / 6, 1 / 3, 0.5, 1.0]), n_boot=0)
    # reader 1 at the grid: 1/3, 1/2, 2/3, 5/6, 1; reader 2: 2/3, 5/6, 1, 1, 1
    np.testing.assert_allclose(curve.y, [1 / 2, 2 / 3, 5 / 6, 11 / 12, 1.0])
    np.testing.assert_array_equal(curve.lower, curve.y)
    assert curve.reader_ids == ("R1", "R2") and curve.reader_y.shape == (2, 5)


@pytest.mark.parametrize(
    ("name", "kind", "fom"),
    [
        ("dataset02", "ROC", "Wilcoxon"),
        ("dataset04", "ROC", "HrAuc"),
        ("dataset04", "AFROC", "AFROC"),
        ("dataset04", "wAFROC", "wAFROC"),
        ("dataset05", "wAFROC", "wAFROC"),
    ],
)
def test_area_of_the_vertical_average_is_the_mean_fom(name, kind, fom):
    """Chen & Samuelson 2014: the vertically averaged curve's area is the readers' mean AUC;
    on the default grid (every FPF, bottom and top) it holds exactly."""
    data = read_plain(DATASETS / name)
    foms = figure_of_merit(data, fom)
    for i, curve in enumerate(averaged_curves(data, kind, n_boot=0)):
        assert curve.area == pytest.approx(foms[i].mean(), abs=1e-12)
        for j, (x, y) in enumerate(curve.reader_points):
            assert np.trapezoid(y, x) == pytest.approx(foms[i, j], abs=1e-12)


def test_bands_are_seeded_and_contain_the_estimate(dataset02):
    first = averaged_curves(dataset02, "ROC", n_boot=300, seed=7)
    again = averaged_curves(dataset02, "ROC", n_boot=300, seed=7)
    other = averaged_curves(dataset02, "ROC", n_boot=300, seed=8)
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a.lower, b.lower)
        np.testing.assert_array_equal(a.upper, b.upper)
        assert not np.array_equal(a.upper, c.upper)
        inner = (a.x > 0.05) & (a.x < 0.95)
        assert np.all(a.lower[inner] <= a.y[inner]) and np.all(a.y[inner] <= a.upper[inner])
        assert np.all(a.upper[inner] - a.lower[inner] > 0)
        assert (a.x[0], a.y[0], a.x[-1], a.y[-1]) == (0.0, 0.0, 1.0, 1.0)
    narrow = averaged_curves(dataset02, "ROC", n_boot=300, seed=7, confidence=0.5)
    assert np.all(narrow[0].upper - narrow[0].lower <= first[0].upper - first[0].lower + 1e-12)


def test_resampled_operating_points_are_those_of_the_resampled_cases(dataset04):
    """The bootstrap's weighted counts equal the operating points of the cases drawn."""
    rng = np.random.default_rng(3)
    normal = rng.integers(0, dataset04.k1, dataset04.k1)
    abnormal = rng.integers(0, dataset04.k2, dataset04.k2)
    drawn = dataset04.subset(normal=normal, abnormal=abnormal)
    for kind in ("ROC", "AFROC", "wAFROC"):
        for j in range(2):
            x, y = _Counts(dataset04, kind, 1, j).points(
                np.bincount(normal, minlength=dataset04.k1)[None].astype(float),
                np.bincount(abnormal, minlength=dataset04.k2)[None].astype(float),
            )
            xd, yd = reader_points(drawn, kind, 1)[j]
            # the same polygon: resampling leaves some thresholds without cases (repeated points)
            grid = np.linspace(0, 1, 201)
            np.testing.assert_allclose(polygon_at(x[0], y[0], grid), polygon_at(xd, yd, grid), atol=1e-12)


def test_partial_auc_by_hand():
    x, y = np.array([0.0, 0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0, 1.0])
    # from (0, 0.5) to (0.2, 0.7): 0.2 * (0.5 + 0.7) / 2
    assert partial_auc(x, y, (0, 0.2)) == pytest.approx(0.12, abs=1e-15)
    # McClish: (1 + (0.12 - 0.02) / (0.2 - 0.02)) / 2
    assert partial_auc(x, y, (0, 0.2), standardized=True) == pytest.approx(7 / 9, abs=1e-15)
    # (0.2, 0.7) to (0.5, 1), then flat: 0.3 * (0.7 + 1) / 2 + 0.1
    assert partial_auc(x, y, (0.2, 0.6)) == pytest.approx(0.355, abs=1e-15)
    chance, perfect = (
        (np.array([0.0, 1.0]), np.array([0.0, 1.0])),
        (np.array([0.0, 0, 1]), np.array([0.0, 1, 1])),
    )
    assert partial_auc(*chance, (0.1, 0.3), standardized=True) == pytest.approx(0.5, abs=1e-15)
    assert partial_auc(*perfect, (0.1, 0.3), standardized=True) == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(DatasetError, match="0 <= e1 < e2 <= 1"):
        partial_auc(x, y, (0.3, 0.2))


def test_partial_auc_matches_proc():
    """Literal numbers from R's pROC 1.18.0, ties included:
    r <- roc(controls = c(1, 2, 3, 3, 4, 2, 1, 5), cases = c(2, 4, 5, 5, 3, 4, 5, 1), direction = "<");
    auc(r, partial.auc = c(1, 0.8), partial.auc.focus = "specificity") = 0.0571875, with
    partial.auc.correct = TRUE 0.603298611111111; partial.auc = c(0.9, 0.6): 0.1703125; auc(r) 0.6953125."""
    controls, cases = [1, 2, 3, 3, 4, 2, 1, 5], [2, 4, 5, 5, 3, 4, 5, 1]
    data = roc_study(np.array([[controls + cases]], dtype=float), 8, ["M"], ["R"])
    assert partial_aucs(data, (0, 0.2)).values[0, 0] == pytest.approx(0.0571875, abs=1e-15)
    assert partial_aucs(data, (0, 0.2), standardized=True).values[0, 0] == pytest.approx(
        0.603298611111111, abs=1e-14
    )
    assert partial_aucs(data, (0.1, 0.4)).values[0, 0] == pytest.approx(0.1703125, abs=1e-15)
    assert partial_aucs(data, (0, 1)).values[0, 0] == pytest.approx(0.6953125, abs=1e-15)


def test_partial_aucs_whole_range_is_the_fom_and_agree_with_numpy(dataset02):
    whole = partial_aucs(dataset02, (0, 1))
    np.testing.assert_allclose(whole.values, figure_of_merit(dataset02, "Wilcoxon"), atol=1e-12)
    part = partial_aucs(dataset02, (0.1, 0.3))
    for i in range(2):
        for j, (x, y) in enumerate(reader_points(dataset02, "ROC", i)):
            # independent: a fine grid of the polygon, numpy's trapezoid
            grid = np.linspace(0.1, 0.3, 20001)
            assert part.values[i, j] == pytest.approx(np.trapezoid(polygon_at(x, y, grid), grid), abs=1e-6)
    assert part.modality_means.shape == (2,)


def test_kinds_are_checked(dataset02):
    with pytest.raises(DatasetError, match="needs FROC data"):
        averaged_curves(dataset02, "wAFROC")
    with pytest.raises(DatasetError, match="Unknown curve"):
        averaged_curves(dataset02, "LROC")


def test_curves_plot_draws_the_average_and_its_band(dataset04):
    svg = operating_curves_svg(dataset04)
    for name in ("ROC", "AFROC", "wAFROC"):
        for i in range(5):
            assert f'id="band-{name}-{i}"' in svg
    assert "reader average, 95% band" in svg
    assert svg == operating_curves_svg(dataset04)


def test_rjafroc_averaging_matches_plot_emp_op_chrs():
    """RJafroc 2.1.3's PlotEmpOpChrs(ds, trts = list(i), rdrs = list(1:J)): its averaged points
    (AvgROCPoints, AvgAFROCPoints, AvgwAFROCPoints) are method="rjafroc"'s curve, with the
    (0, 0) it puts in front (and, for wAFROC, the (1, 1) it adds at the end)."""
    require_rjafroc()
    import rpy2.robjects as ro

    from stats.rjafroc_engine import r_dataset_in_memory

    from .rjafroc_support import r_call

    cases = {"dataset02": ("ROC",), "dataset04": ("ROC", "AFROC", "wAFROC"), "dataset05": ("AFROC", "wAFROC")}
    compared = 0
    for name, kinds in cases.items():
        data = read_plain(DATASETS / name)
        ds = r_dataset_in_memory(data)
        readers = ro.r["list"](ro.IntVector(range(1, len(data.reader_ids) + 1)))
        for kind in kinds:
            for i, curve in enumerate(averaged_curves(data, kind, method="rjafroc", n_boot=0)):
                points = r_call("PlotEmpOpChrs", ds, trts=ro.r["list"](i + 1), rdrs=readers, opChType=kind)
                frame = points.rx2("Points")
                x = np.array(frame.rx2("genAbscissa"), dtype=float)
                y = np.array(frame.rx2("genOrdinate"), dtype=float)
                end = -1 if kind == "wAFROC" else len(x)
                assert (x[0], y[0]) == (0.0, 0.0)
                np.testing.assert_array_equal(curve.x, x[1:end])
                np.testing.assert_allclose(curve.y, y[1:end], rtol=1e-12, atol=1e-15)
                compared += 1
    assert compared == 2 + 5 * 3 + 2 * 2
