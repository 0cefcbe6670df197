"""Segmentation overlap (stats.overlap) against hand-computed values, and its analysis tables
(stats.tables.overlap) against scipy, through the reproducibility bundle."""

import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import cdist

from stats.overlap import (
    BOTH_EMPTY,
    REFERENCE_EMPTY,
    TEST_EMPTY,
    OverlapError,
    directed_surface_distances,
    hausdorff_percentile,
    label_overlaps,
    mask_overlap,
    masks_overlap,
    spacing_from_affine,
    summary,
)
from stats.study_record import StudyRecord, normalise, read_bundle, write_bundle
from stats.study_tables import SECTIONS, analyse_study, tables_csv

ROOT = Path(__file__).resolve().parents[2]


def cube(shape, lo, hi):
    """A boolean array with the box [lo, hi) set."""
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = True
    return mask


# ----------------------------------------------------------------------------- hand-computed masks


def test_two_cubes_offset_by_one_voxel_along_the_coarse_axis():
    """4x4x4 cubes, the test one a voxel further along axis 0 (2 mm): they share 3 of 4 slabs.

    |A n B| = 48, |A| = |B| = 64: Dice = 96/128 = 0.75, Jaccard = 48/80 = 0.6. Each cube has
    56 surface voxels; from A's, 36 lie on B's surface (0 mm), 4 are a 1 mm step (axis 1)
    from it and 16 (A's first slab) a 2 mm step: the 95th percentile (linear, position
    0.95 x 55 = 52.25 in the sorted 56) is 2 mm, and the same backwards. Volumes 64 x 2 mm^3.
    """
    reference = cube((8, 8, 8), (2, 2, 2), (6, 6, 6))
    test = cube((8, 8, 8), (3, 2, 2), (7, 6, 6))
    result = mask_overlap(test, reference, (2.0, 1.0, 1.0), label="amygdala")
    assert result.label == "amygdala"
    assert result.dice == 0.75
    assert result.jaccard == 0.6
    assert result.hd95_mm == 2.0
    assert result.volume_ml == pytest.approx(0.128) and result.reference_volume_ml == pytest.approx(0.128)
    assert result.volume_difference_ml == 0.0 and result.relative_volume_difference_percent == 0.0
    assert (result.voxels, result.reference_voxels, result.note) == (64, 64, "")
    distances = np.sort(directed_surface_distances(test, reference, (2.0, 1.0, 1.0)))
    assert distances.tolist() == [0.0] * 36 + [1.0] * 4 + [2.0] * 16


def test_the_distance_is_in_mm_along_the_axis_of_the_offset():
    """The same cubes offset along axis 2, whose voxels are 0.5 mm: HD95 = 0.5 mm."""
    reference = cube((8, 8, 8), (2, 2, 2), (6, 6, 6))
    test = cube((8, 8, 8), (2, 2, 3), (6, 6, 7))
    result = mask_overlap(test, reference, (2.0, 1.0, 0.5))
    assert (result.dice, result.jaccard, result.hd95_mm) == (0.75, 0.6, 0.5)
    assert result.volume_ml == pytest.approx(64 * 1.0 / 1000)


def test_a_larger_mask_gives_the_volume_difference():
    """A 4x4x5 box against a 4x4x4 cube in it (1 mm voxels): 80 against 64 voxels.

    Dice = 128/144, Jaccard = 64/80; volumes 0.080 and 0.064 mL, difference +0.016 mL = +25 %;
    the extra slab is 1 mm from the cube's surface (16 of 68 surface distances, and 4 of 56
    backwards, the cube's top face being inside the box): HD95 = 1 mm.
    """
    reference = cube((8, 8, 10), (2, 2, 2), (6, 6, 6))
    test = cube((8, 8, 10), (2, 2, 2), (6, 6, 7))
    result = mask_overlap(test, reference, (1.0, 1.0, 1.0))
    assert result.dice == pytest.approx(128 / 144, abs=1e-15)
    assert result.jaccard == 0.8
    assert result.hd95_mm == 1.0
    assert result.volume_ml == pytest.approx(0.080) and result.reference_volume_ml == pytest.approx(0.064)
    assert result.volume_difference_ml == pytest.approx(0.016)
    assert result.relative_volume_difference_percent == pytest.approx(25.0)
    forward = np.sort(directed_surface_distances(test, reference, (1, 1, 1)))
    backward = np.sort(directed_surface_distances(reference, test, (1, 1, 1)))
    assert forward.tolist() == [0.0] * 52 + [1.0] * 16
    assert backward.tolist() == [0.0] * 52 + [1.0] * 4


def test_hd95_is_the_larger_directed_percentile_not_that_of_the_union():
    """The reference is a 5^3 cube; the mask is the same cube plus a 2x2x2 blob 7-8 mm above it.

    Mask -> reference: 98 cube surface voxels at 0 mm and the blob's 8 at 7 mm (4) and 8 mm
    (4): the 95th percentile of those 106 (position 99.75) is 7 mm. Reference -> mask: all 98
    at 0 mm. So HD95 = max(7, 0) = 7 mm (Taha & Hanbury 2015), while the 95th percentile of
    the union of both sets (204 values, 196 of them 0; MedPy's hd95) would be 0.
    """
    reference = cube((8, 8, 16), (1, 1, 1), (6, 6, 6))
    test = reference | cube((8, 8, 16), (1, 1, 12), (3, 3, 14))
    assert hausdorff_percentile(test, reference, (1, 1, 1)) == 7.0
    assert hausdorff_percentile(reference, test, (1, 1, 1)) == 7.0  # symmetric
    union = np.concatenate(
        [
            directed_surface_distances(test, reference, (1, 1, 1)),
            directed_surface_distances(reference, test, (1, 1, 1)),
        ]
    )
    assert np.percentile(union, 95) == 0.0


def _surface_by_neighbours(mask):
    """Surface voxels counted by hand: a voxel of the mask with a face neighbour outside it."""
    padded = np.pad(mask, 1)
    inner = np.ones_like(mask)
    for axis in range(3):
        for step in (-1, 1):
            inner &= np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
    return mask & ~inner


def test_hd95_equals_a_brute_force_over_all_surface_voxel_pairs():
    """Random blobs on an anisotropic grid: every directed distance is the minimum over all pairs."""
    rng = np.random.default_rng(7)
    spacing = np.array([1.5, 0.7, 0.4])
    a = rng.random((12, 14, 16)) < 0.15
    b = rng.random((12, 14, 16)) < 0.15
    a[2:8, 3:9, 4:12] = True
    b[3:9, 4:10, 5:13] = True
    pa = np.argwhere(_surface_by_neighbours(a)) * spacing
    pb = np.argwhere(_surface_by_neighbours(b)) * spacing
    pair = cdist(pa, pb)
    expected = max(np.percentile(pair.min(axis=1), 95), np.percentile(pair.min(axis=0), 95))
    assert hausdorff_percentile(a, b, spacing) == pytest.approx(expected, rel=1e-12)
    assert np.sort(directed_surface_distances(a, b, spacing)) == pytest.approx(np.sort(pair.min(axis=1)))
    hausdorff = max(pair.min(axis=1).max(), pair.min(axis=0).max())  # the classical HD
    assert hausdorff_percentile(a, b, spacing, percentile=100) == pytest.approx(hausdorff, rel=1e-12)


# ----------------------------------------------------------------------------- empty masks


def test_both_masks_empty_leaves_dice_jaccard_and_hd95_undefined():
    empty = np.zeros((4, 4, 4), dtype=bool)
    result = mask_overlap(empty, empty, (1, 1, 1))
    assert math.isnan(result.dice) and math.isnan(result.jaccard) and math.isnan(result.hd95_mm)
    assert (result.volume_ml, result.reference_volume_ml, result.volume_difference_ml) == (0.0, 0.0, 0.0)
    assert math.isnan(result.relative_volume_difference_percent)
    assert result.note == BOTH_EMPTY


def test_one_empty_mask_is_no_overlap_and_no_distance():
    full = cube((4, 4, 4), (1, 1, 1), (3, 3, 3))
    empty = np.zeros((4, 4, 4), dtype=bool)
    missed = mask_overlap(empty, full, (1, 1, 1))
    assert (missed.dice, missed.jaccard) == (0.0, 0.0) and math.isnan(missed.hd95_mm)
    assert missed.relative_volume_difference_percent == -100.0 and missed.note == TEST_EMPTY
    invented = mask_overlap(full, empty, (1, 1, 1))
    assert (invented.dice, invented.jaccard) == (0.0, 0.0) and math.isnan(invented.hd95_mm)
    assert math.isnan(invented.relative_volume_difference_percent) and invented.note == REFERENCE_EMPTY


# ----------------------------------------------------------------------------- labels and refusals


def test_labels_are_matched_by_name_whatever_their_values():
    reference = np.zeros((8, 8, 8), dtype=np.int16)
    reference[cube((8, 8, 8), (0, 0, 0), (4, 4, 4))] = 1  # left
    reference[cube((8, 8, 8), (4, 4, 4), (8, 8, 8))] = 2  # right
    test = np.zeros_like(reference)
    test[cube((8, 8, 8), (0, 0, 0), (4, 4, 4))] = 7  # left, perfect
    test[cube((8, 8, 8), (5, 4, 4), (8, 8, 8))] = 3  # right, one slab short
    left, right = label_overlaps(
        test,
        reference,
        (1, 1, 1),
        test_labels={"right": 3, "left": 7},
        reference_labels={"left": 1, "right": 2},
    )
    assert (left.label, left.dice, left.hd95_mm) == ("left", 1.0, 0.0)
    assert right.label == "right" and right.dice == pytest.approx(2 * 48 / (48 + 64))
    assert right.relative_volume_difference_percent == pytest.approx(-25.0)


def test_a_label_missing_or_extra_is_refused():
    a = np.zeros((4, 4, 4), dtype=int)
    with pytest.raises(OverlapError, match="it lacks right"):
        label_overlaps(a, a, (1, 1, 1), test_labels={"left": 1}, reference_labels={"left": 1, "right": 2})
    with pytest.raises(OverlapError, match="the reference has no hippocampus"):
        masks_overlap({"left": a, "hippocampus": a}, {"left": a}, (1, 1, 1))


def test_a_value_no_label_names_is_refused():
    reference = np.zeros((4, 4, 4), dtype=int)
    test = reference.copy()
    test[0, 0, 0] = 3
    with pytest.raises(OverlapError, match="mask holds the value\\(s\\) 3, which no label names"):
        label_overlaps(test, reference, (1, 1, 1), test_labels={"left": 1}, reference_labels={"left": 1})


def test_shapes_spacing_and_types_are_checked():
    a = np.zeros((4, 4, 4), dtype=bool)
    with pytest.raises(OverlapError, match="different shapes"):
        mask_overlap(a, np.zeros((4, 4, 5), dtype=bool), (1, 1, 1))
    with pytest.raises(OverlapError, match="positive finite"):
        mask_overlap(a, a, (1, 0, 1))
    with pytest.raises(OverlapError, match="3 values"):
        mask_overlap(a, a, (1, 1))
    with pytest.raises(OverlapError, match="not a label map of integers"):
        label_overlaps(a.astype(float), a, (1, 1, 1), test_labels={"x": 1}, reference_labels={"x": 1})


def test_spacing_from_an_affine_and_a_sheared_grid_refused():
    affine = np.diag([-0.8, 0.8, 2.5, 1.0])
    affine[:3, 3] = [10, -20, 30]
    assert spacing_from_affine(affine) == pytest.approx((0.8, 0.8, 2.5))
    sheared = affine.copy()
    sheared[0, 2] = 1.0
    with pytest.raises(OverlapError, match="not orthogonal"):
        spacing_from_affine(sheared)


def test_summary_is_numpy_s_mean_sd_and_quartiles_of_the_defined_values():
    values = [0.81, 0.77, None, 0.9, float("nan"), 0.85]
    defined = np.array([0.81, 0.77, 0.9, 0.85])
    s = summary(values)
    assert s["n"] == 4 and s["mean"] == defined.mean() and s["sd"] == defined.std(ddof=1)
    assert (s["q1"], s["median"], s["q3"]) == tuple(np.percentile(defined, [25, 50, 75]))


# ----------------------------------------------------------------------------- the tables


def overlap_record(n_cases: int = 10, seed: int = 3) -> StudyRecord:
    """Two conditions (synthetic 7T better than 3T) x two labels, Dice and HD95 per case."""
    rng = np.random.default_rng(seed)
    record = StudyRecord(study={"slug": "seg", "name": "Segmentation"})
    record.conditions = [{"condition": "3T", "order": 0}, {"condition": "syn7T", "order": 1}]
    record.cases = [{"case": f"C{i}", "abnormal": None} for i in range(1, n_cases + 1)]
    for case in record.cases:
        for label in ("left amygdala", "right amygdala"):
            reference_volume = 1.6 + rng.normal(0, 0.1)
            for condition, quality in (("3T", 0.78), ("syn7T", 0.84)):
                dice = quality + rng.normal(0, 0.03)
                volume = reference_volume * (1 + rng.normal(0, 0.05))
                record.overlap.append(
                    {
                        "case": case["case"],
                        "condition": condition,
                        "label": label,
                        "dice": dice,
                        "jaccard": dice / (2 - dice),
                        "hd95_mm": 2.5 - 5 * (dice - 0.8) + rng.normal(0, 0.2),
                        "volume_ml": volume,
                        "reference_volume_ml": reference_volume,
                        "volume_difference_ml": volume - reference_volume,
                        "relative_volume_difference_percent": 100
                        * (volume - reference_volume)
                        / reference_volume,
                    }
                )
    # an undefined HD95 (an empty mask): C1 leaves that metric's pairs
    record.overlap[0]["hd95_mm"] = None
    return normalise(record)


def values(record, label, metric, condition):
    return [
        r[metric]
        for r in record.overlap
        if r["label"] == label and r["condition"] == condition and r[metric] is not None
    ]


def test_overlap_tests_are_scipy_s_wilcoxon_and_paired_t():
    record = overlap_record()
    analysis = analyse_study(record)
    rows = [r for r in analysis.tables["overlap_tests"].as_dicts() if r["label"] == "left amygdala"]
    dice = next(r for r in rows if r["metric"] == "dice")
    a = np.array(values(record, "left amygdala", "dice", "3T"))
    b = np.array(values(record, "left amygdala", "dice", "syn7T"))
    assert dice["comparison"] == "3T - syn7T" and dice["n"] == 10
    assert dice["p_wilcoxon"] == sps.wilcoxon(a, b).pvalue
    assert dice["wilcoxon_w"] == sps.wilcoxon(a - b, alternative="greater").statistic  # W+
    assert dice["wilcoxon_method"] == "exact" and dice["p_wilcoxon_holm"] == dice["p_wilcoxon"]
    t = sps.ttest_rel(a, b)
    assert dice["t"] == t.statistic and dice["p_t"] == t.pvalue and dice["df"] == 9
    ci = t.confidence_interval(0.95)
    assert (dice["ci_lower"], dice["ci_upper"]) == (ci.low, ci.high)
    assert dice["mean_difference"] == pytest.approx((a - b).mean(), abs=1e-15)
    assert dice["median_difference"] == np.median(a - b)
    assert dice["sd_difference"] == np.std(a - b, ddof=1)
    assert dice["p_wilcoxon"] < 0.01  # the simulated synthetic 7T segments better
    hd95 = next(r for r in rows if r["metric"] == "hd95_mm")
    assert hd95["n"] == 9  # C1's undefined HD95 leaves that pair out
    assert "left out of the tests" in " ".join(analysis.tables["overlap_tests"].notes)


def test_overlap_summary_is_mean_sd_median_and_quartiles_per_condition():
    record = overlap_record()
    table = analyse_study(record).tables["overlap"]
    row = next(
        r
        for r in table.as_dicts()
        if (r["label"], r["metric"], r["condition"]) == ("right amygdala", "volume_difference_ml", "syn7T")
    )
    v = np.array(values(record, "right amygdala", "volume_difference_ml", "syn7T"))
    assert row["n"] == 10 and row["mean"] == v.mean() and row["sd"] == v.std(ddof=1)
    assert (row["q1"], row["median"], row["q3"]) == tuple(np.percentile(v, [25, 50, 75]))
    conditions = {r["condition"] for r in table.as_dicts()}
    assert conditions == {"3T", "syn7T"}


def test_three_conditions_get_every_pair_with_holm():
    record = overlap_record()
    for row in [r for r in record.overlap if r["condition"] == "syn7T"]:
        record.overlap.append({**row, "condition": "7T", "dice": row["dice"] + 0.01})
    record.conditions.append({"condition": "7T", "order": 2})
    rows = [
        r
        for r in analyse_study(record).tables["overlap_tests"].as_dicts()
        if (r["label"], r["metric"]) == ("left amygdala", "dice")
    ]
    assert [r["comparison"] for r in rows] == ["3T - syn7T", "3T - 7T", "syn7T - 7T"]
    p = np.array([r["p_wilcoxon"] for r in rows])
    order = np.argsort(p)
    expected = np.minimum(1, np.maximum.accumulate((3 - np.arange(3)) * p[order]))
    assert np.array([r["p_wilcoxon_holm"] for r in rows])[order] == pytest.approx(expected)


def test_the_section_is_on_the_results_page():
    (section,) = [s for s in SECTIONS if s.key == "overlap"]
    assert section.tables == ("overlap", "overlap_tests")
    assert analyse_study(StudyRecord(study={"slug": "none"})).tables.keys().isdisjoint(section.tables)


def test_bundle_round_trip_recreates_the_overlap_tables(tmp_path):
    record = overlap_record()
    analysis = analyse_study(record)
    path = tmp_path / "bundle.zip"
    write_bundle(record, path, tables_csv(analysis))
    with zipfile.ZipFile(path) as archive:
        assert (
            archive.read("record/overlap.csv")
            .decode()
            .startswith("case,condition,label,dice,jaccard,hd95_mm")
        )
    again = read_bundle(path)
    assert again.overlap == record.overlap
    assert tables_csv(analyse_study(again)) == tables_csv(analysis)
    assert "tables/overlap_tests.csv" in tables_csv(analysis)
    done = subprocess.run(
        [sys.executable, "-m", "stats", "tables", str(path), "--out", str(tmp_path / "out"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "overlap_tests.csv").read_text() == analysis.tables["overlap_tests"].csv()


def test_a_bundle_written_before_the_overlap_table_reads_without_it(tmp_path):
    record = overlap_record()
    path = tmp_path / "old.zip"
    write_bundle(record, path)
    older = tmp_path / "older.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(older, "w") as dst:
        for name in src.namelist():
            if name != "record/overlap.csv":
                dst.writestr(name, src.read(name))
    assert read_bundle(older).overlap == []


def test_the_masks_position_in_a_larger_image_changes_nothing():
    """The distance transforms run on the masks' bounding box: the same masks at an edge of a
    small array and in the middle of a large one give identical results."""
    rng = np.random.default_rng(11)
    a = rng.random((6, 7, 8)) < 0.4
    b = rng.random((6, 7, 8)) < 0.4
    big_a, big_b = np.zeros((40, 50, 60), dtype=bool), np.zeros((40, 50, 60), dtype=bool)
    big_a[20:26, 30:37, 10:18], big_b[20:26, 30:37, 10:18] = a, b
    spacing = (0.9, 1.1, 2.3)
    assert mask_overlap(big_a, big_b, spacing) == mask_overlap(a, b, spacing)
