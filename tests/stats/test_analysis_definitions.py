"""The published studies' own definitions as analysis settings: the detection threshold of the
sensitivity tables, the CNR formula, SNR and contrast ratio per region, and the case-characteristics
table (checked against scipy.stats and hand-computed values), and their bundle round trip."""

import math
import zipfile

import numpy as np
import pytest
from scipy import stats as sps

from stats.classical import mcnemar
from stats.study_record import AnalysisSettings, StudyRecord, normalise, read_bundle, write_bundle
from stats.study_tables import analyse_study, tables_csv
from stats.tables.measurements import cnr_value, contrast_ratio

from .study_fixtures import simulated_record


def rows(analysis, name, **match):
    return [r for r in analysis.tables[name].as_dicts() if all(r[k] == v for k, v in match.items())]


# --------------------------------------------------------------------------- detection threshold


def detection_record(settings: AnalysisSettings | None = None) -> StudyRecord:
    """Two conditions, one reader, normal cases N1-N2 and abnormal A1-A3 with one lesion each.

    A1's lesion is marked only at rating 1 under LR and at rating 3 under SR; A2's at 3 under
    both, plus a second, rating-1 mark on it under LR; A3's never. N1 has a rating-1 false
    positive under LR, N2 a rating-3 one under SR.
    """
    record = StudyRecord(
        study={"name": "Threshold", "mark_scale": [{"value": v, "label": str(v)} for v in (1, 2, 3, 4)]},
        settings=settings or AnalysisSettings(),
        conditions=[{"condition": "LR", "order": 0}, {"condition": "SR", "order": 1}],
        readers=[{"reader": "R1"}],
        cases=[{"case": c, "abnormal": c.startswith("A")} for c in ("N1", "N2", "A1", "A2", "A3")],
    )
    sizes = {"A1": 3.0, "A2": 12.0, "A3": 6.0}
    for case, size in sizes.items():
        record.lesions.append(
            {
                "case": case,
                "lesion": "L1",
                "x_mm": 10.0,
                "y_mm": 10.0,
                "z_mm": 10.0,
                "size_mm": size,
                "weight": None,
                "type": "",
            }
        )
    marks = [
        ("LR", "A1", 10.0, 1.0),
        ("SR", "A1", 10.0, 3.0),
        ("LR", "A2", 10.0, 3.0),
        ("LR", "A2", 10.5, 1.0),
        ("SR", "A2", 10.0, 3.0),
        ("LR", "N1", 80.0, 1.0),
        ("SR", "N2", 80.0, 3.0),
    ]
    for n, (condition, case, x, rating) in enumerate(marks):
        record.marks.append(
            {
                "condition": condition,
                "reader": "R1",
                "case": case,
                "mark": f"m{n}",
                "slice": 1,
                "x_mm": x,
                "y_mm": 10.0,
                "z_mm": 10.0,
                "rating": rating,
            }
        )
    for condition in ("LR", "SR"):
        for position, case in enumerate(("N1", "N2", "A1", "A2", "A3")):
            record.readings.append(
                {
                    "condition": condition,
                    "reader": "R1",
                    "case": case,
                    "session": 1,
                    "position": position,
                    "submitted_at": "",
                }
            )
    return normalise(record)


def test_a_lesion_matched_only_by_a_rating_1_mark_is_detected_by_default_and_missed_at_2():
    default = analyse_study(detection_record())
    strict = analyse_study(detection_record(AnalysisSettings(detection_min_rating=2)))
    (lr,) = rows(default, "sensitivity", condition="LR", size="all")
    assert (lr["detected"], lr["lesions"]) == (2, 3)
    (lr,) = rows(strict, "sensitivity", condition="LR", size="all")
    assert (lr["detected"], lr["lesions"], lr["sensitivity"]) == (1, 3, 1 / 3)
    # A1's lesion (3 mm) is in the <5 mm stratum: found by default, missed at k = 2.
    assert rows(default, "sensitivity", condition="LR", size="<5 mm")[0]["detected"] == 1
    assert rows(strict, "sensitivity", condition="LR", size="<5 mm")[0]["detected"] == 0
    # A2's second, rating-1 mark does not matter: its rating-3 mark localises it.
    assert rows(strict, "sensitivity", condition="LR", size=">=10 mm")[0]["detected"] == 1
    for analysis in (default, strict):
        (sr,) = rows(analysis, "sensitivity", condition="SR", size="all")
        assert sr["detected"] == 2


def test_mcnemar_uses_the_same_detections():
    default = analyse_study(detection_record())
    strict = analyse_study(detection_record(AnalysisSettings(detection_min_rating=2)))
    (row,) = rows(default, "sensitivity_tests", size="all")
    assert (row["first_only"], row["second_only"]) == (0, 0)
    (row,) = rows(strict, "sensitivity_tests", size="all")
    expected = mcnemar([False, True, False], [True, True, False])  # A1, A2, A3: LR vs SR
    assert (row["first_only"], row["second_only"], row["p"]) == (0, 1, expected.pvalue)
    (small,) = rows(strict, "sensitivity_tests", size="<5 mm")
    assert (small["lesions"], small["second_only"]) == (1, 1)


def test_per_case_tables_count_only_marks_at_the_threshold_and_jafroc_uses_every_rating():
    default = analyse_study(detection_record())
    strict = analyse_study(detection_record(AnalysisSettings(detection_min_rating=2)))
    (lr_default,) = rows(default, "case_detection", condition="LR")
    (lr_strict,) = rows(strict, "case_detection", condition="LR")
    assert (lr_default["abnormal_found"], lr_default["normal_clear"]) == (2, 1)  # N1's rating-1 mark
    assert (lr_strict["abnormal_found"], lr_strict["normal_clear"]) == (1, 2)
    (fp_default,) = rows(default, "false_positives", condition="LR")
    (fp_strict,) = rows(strict, "false_positives", condition="LR")
    assert (fp_default["false_positives"], fp_strict["false_positives"]) == (1, 0)
    for name in ("jafroc_fom", "roc_auc", "lesion_matches"):
        assert strict.tables[name].csv() == default.tables[name].csv(), name


def test_the_notes_say_which_threshold_was_used():
    default = analyse_study(detection_record())
    strict = analyse_study(detection_record(AnalysisSettings(detection_min_rating=2)))
    for name in ("sensitivity", "sensitivity_tests", "case_detection", "false_positives"):
        assert "any mark counts" in " ".join(default.tables[name].notes), name
        assert "only marks rated >= 2 count" in " ".join(strict.tables[name].notes), name


def test_default_tables_are_those_of_any_mark():
    """Under the defaults, the simulated study's sensitivity is np.isfinite of the LL ratings."""
    analysis = analyse_study(simulated_record())
    froc = analysis.froc
    hits = np.isfinite(froc.ll[0, 0])[froc.lesion_mask]
    (row,) = rows(analysis, "sensitivity", reader="R1", condition="LR", size="all")
    assert row["detected"] == int(hits.sum())
    at_2 = analyse_study(simulated_record(settings=AnalysisSettings(detection_min_rating=2)))
    (row,) = rows(at_2, "sensitivity", reader="R1", condition="LR", size="all")
    assert row["detected"] == int((froc.ll[0, 0][froc.lesion_mask] >= 2).sum())


@pytest.mark.parametrize("bad", ["2", math.inf, True])
def test_a_bad_detection_threshold_is_refused(bad):
    with pytest.raises(ValueError, match="detection_min_rating must be a number"):
        AnalysisSettings(detection_min_rating=bad)


# --------------------------------------------------------------------------- CNR, SNR, contrast ratio


def test_cnr_formulas_by_hand():
    # lesion: mean 300, SD 20; brain: mean 200, SD 10
    assert cnr_value(300, 20, 200, 10, "background_sd") == 10.0
    assert cnr_value(300, 20, 200, 10, "pooled_sd") == pytest.approx(100 / math.sqrt(250))
    assert 100 / math.sqrt(250) == pytest.approx(6.324555320336759)
    # The magnitude of the contrast: the darker region may be A.
    assert cnr_value(200, 10, 300, 20, "pooled_sd") == cnr_value(300, 20, 200, 10, "pooled_sd")
    assert cnr_value(200, 10, 300, 20, "background_sd") == 100 / 20
    assert math.isnan(cnr_value(1, 0, 2, 0, "pooled_sd"))
    with pytest.raises(ValueError, match="Unknown CNR formula"):
        cnr_value(1, 1, 2, 1, "rms")
    assert contrast_ratio(300, 200) == 1.5
    assert math.isnan(contrast_ratio(1, 0))


def measurement_record(settings: AnalysisSettings | None = None) -> StudyRecord:
    """Cases C1-C3 with circles "lesion" and "brain" on LR and SR, and the pair "lesion vs brain"."""
    record = StudyRecord(
        study={"name": "ROIs"},
        settings=settings or AnalysisSettings(),
        conditions=[{"condition": "LR", "order": 0}, {"condition": "SR", "order": 1}],
        cases=[{"case": c, "abnormal": True} for c in ("C1", "C2", "C3")],
    )
    circles = {  # (case, condition) -> (lesion mean, SD), (brain mean, SD)
        ("C1", "LR"): ((300.0, 20.0), (200.0, 10.0)),
        ("C1", "SR"): ((320.0, 16.0), (200.0, 12.0)),
        ("C2", "LR"): ((280.0, 25.0), (190.0, 15.0)),
        ("C2", "SR"): ((310.0, 20.0), (195.0, 10.0)),
        ("C3", "LR"): ((260.0, 30.0), (210.0, 20.0)),
        ("C3", "SR"): ((300.0, 24.0), (205.0, 18.0)),
    }
    for (case, condition), regions in circles.items():
        for roi, (mean, sd) in zip(("lesion", "brain"), regions, strict=True):
            for metric, value in (("mean", mean), ("sd", sd), ("snr", mean / sd)):
                record.measurements.append(
                    {
                        "case": case,
                        "condition": condition,
                        "roi": roi,
                        "kind": "circle",
                        "metric": metric,
                        "value": value,
                    }
                )
        (ma, _), (mb, sdb) = regions
        record.measurements.append(
            {
                "case": case,
                "condition": condition,
                "roi": "lesion vs brain",
                "kind": "cnr",
                "metric": "cnr",
                "value": abs(ma - mb) / sdb,
            }
        )
    for case in ("C1", "C2", "C3"):
        record.roi_pairs.append(
            {"case": case, "pair": "lesion vs brain", "roi_a": "lesion", "roi_b": "brain"}
        )
    return normalise(record), circles


def test_the_default_cnr_is_the_stored_background_sd_cnr():
    record, circles = measurement_record()
    analysis = analyse_study(record)
    (lr,) = rows(analysis, "measurements", kind="cnr", metric="cnr", condition="LR")
    expected = [abs(a[0] - b[0]) / b[1] for (case, c), (a, b) in circles.items() if c == "LR"]
    assert lr["n"] == 3 and lr["mean"] == pytest.approx(np.mean(expected), rel=1e-15)
    assert not rows(analysis, "measurements", metric="cnr_pooled_sd")
    assert not rows(analysis, "measurements", metric="contrast_ratio")
    assert "SD_B" in analysis.tables["measurements"].notes[0]


def test_pooled_sd_cnr_replaces_the_stored_cnr():
    record, circles = measurement_record(AnalysisSettings(cnr_formula="pooled_sd"))
    analysis = analyse_study(record)
    assert not rows(analysis, "measurements", metric="cnr")
    for condition in ("LR", "SR"):
        (row,) = rows(analysis, "measurements", kind="cnr", metric="cnr_pooled_sd", condition=condition)
        by_hand = [
            abs(a[0] - b[0]) / math.sqrt((a[1] ** 2 + b[1] ** 2) / 2)
            for (_, c), (a, b) in circles.items()
            if c == condition
        ]
        assert row["mean"] == pytest.approx(np.mean(by_hand), rel=1e-14)
        assert row["sd"] == pytest.approx(np.std(by_hand, ddof=1), rel=1e-12)
    # C1 LR by hand: 100 / sqrt((20^2 + 10^2) / 2) = 6.3245...
    (c1,) = [
        r
        for r in analysis.tables["measurements_by_region"].as_dicts()
        if r["region"] == "lesion vs brain" and r["metric"] == "cnr_pooled_sd" and r["condition"] == "LR"
    ]
    assert c1["n"] == 3
    (test,) = rows(analysis, "measurement_tests", metric="cnr_pooled_sd")
    pooled = {
        c: [
            abs(a[0] - b[0]) / math.sqrt((a[1] ** 2 + b[1] ** 2) / 2)
            for (_, cc), (a, b) in circles.items()
            if cc == c
        ]
        for c in ("LR", "SR")
    }
    expected = sps.ttest_rel(pooled["LR"], pooled["SR"])
    assert test["t"] == pytest.approx(expected.statistic, rel=1e-12)
    assert test["p"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert "sqrt((SD_A^2 + SD_B^2) / 2)" in analysis.tables["measurements"].notes[0]


def test_contrast_ratio_of_the_chosen_pairs_and_snr_per_region():
    record, _ = measurement_record(AnalysisSettings(contrast_ratio_pairs=("lesion vs brain",)))
    analysis = analyse_study(record)
    (ratio,) = rows(analysis, "measurements", kind="cnr", metric="contrast_ratio", condition="SR")
    assert ratio["mean"] == pytest.approx(np.mean([320 / 200, 310 / 195, 300 / 205]), rel=1e-15)
    by_region = analysis.tables["measurements_by_region"].as_dicts()
    (brain,) = [r for r in by_region if (r["region"], r["metric"], r["condition"]) == ("brain", "snr", "LR")]
    assert brain["n"] == 3 and brain["mean"] == pytest.approx(np.mean([200 / 10, 190 / 15, 210 / 20]))
    (lesion,) = [
        r for r in by_region if (r["region"], r["metric"], r["condition"]) == ("lesion", "snr", "SR")
    ]
    assert lesion["mean"] == pytest.approx(np.mean([320 / 16, 310 / 20, 300 / 24]))
    # Pooled over every circle, the existing table mixes both regions.
    (pooled,) = rows(analysis, "measurements", kind="circle", metric="snr", condition="LR")
    assert pooled["n"] == 6
    assert "m_A / m_B" in " ".join(analysis.tables["measurements"].notes)


def test_an_unknown_pair_or_formula_is_said():
    record, _ = measurement_record(AnalysisSettings(contrast_ratio_pairs=("rod vs air",)))
    assert any("No ROI pair is named 'rod vs air'" in n for n in analyse_study(record).notes)
    with pytest.raises(ValueError, match="cnr_formula must be one of background_sd, pooled_sd"):
        AnalysisSettings.from_dict({"cnr_formula": "rms"})
    with pytest.raises(ValueError, match="contrast_ratio_pairs must be a list"):
        AnalysisSettings.from_dict({"contrast_ratio_pairs": "lesion vs brain"})


def test_pooled_cnr_without_pair_definitions_is_left_out_with_a_note():
    record, _ = measurement_record(AnalysisSettings(cnr_formula="pooled_sd"))
    record.roi_pairs = [p for p in record.roi_pairs if p["case"] != "C2"]
    analysis = analyse_study(record)
    (row,) = rows(analysis, "measurements", metric="cnr_pooled_sd", condition="LR")
    assert row["n"] == 2
    assert any("C2 lesion vs brain" in n for n in analysis.notes)


# --------------------------------------------------------------------------- case characteristics

AGES = {"N1": 54, "N2": 61, "N3": 47, "N4": 70, "N5": 58, "A1": 66, "A2": 72, "A3": 59, "A4": 80}
SEX = {"N1": "F", "N2": "M", "N3": "F", "N4": "F", "N5": "M", "A1": "M", "A2": "M", "A3": "F", "A4": "M"}
SITE = {"N1": "A", "N2": "B", "N3": "C", "N4": "A", "N5": "B", "A1": "C", "A2": "A", "A3": "B", "A4": "C"}


def characteristics_record(**settings) -> StudyRecord:
    cases = [*AGES, "X1"]
    record = StudyRecord(
        study={"name": "Table 1"},
        settings=AnalysisSettings(**settings),
        cases=[{"case": c, "abnormal": None if c == "X1" else c.startswith("A")} for c in cases],
    )
    for case in AGES:
        record.case_attributes += [
            {"case": case, "attribute": "age", "value": str(AGES[case])},
            {"case": case, "attribute": "sex", "value": SEX[case]},
            {"case": case, "attribute": "site", "value": SITE[case]},
        ]
    record.case_attributes.append({"case": "X1", "attribute": "age", "value": "40"})
    return normalise(record)


def test_age_by_welch_and_student_t_test():
    normal = [AGES[c] for c in AGES if c.startswith("N")]
    abnormal = [AGES[c] for c in AGES if c.startswith("A")]
    analysis = analyse_study(characteristics_record())
    (n_row,) = rows(analysis, "case_characteristics", characteristic="age", group="normal")
    assert (n_row["n"], n_row["type"], n_row["missing"]) == (5, "numeric", 0)
    assert n_row["mean"] == pytest.approx(58.0) and n_row["sd"] == pytest.approx(math.sqrt(290 / 4))
    (a_row,) = rows(analysis, "case_characteristics", characteristic="age", group="abnormal")
    assert a_row["mean"] == pytest.approx(69.25)
    (test,) = rows(analysis, "case_characteristic_tests", characteristic="age")
    welch = sps.ttest_ind(normal, abnormal, equal_var=False)
    assert test["test"] == "Welch's t-test"
    assert (test["statistic"], test["df"], test["p"]) == (welch.statistic, welch.df, welch.pvalue)
    # Welch's df by hand (Welch-Satterthwaite).
    v1, v2 = np.var(normal, ddof=1) / 5, np.var(abnormal, ddof=1) / 4
    assert test["df"] == pytest.approx((v1 + v2) ** 2 / (v1**2 / 4 + v2**2 / 3))
    student = analyse_study(characteristics_record(characteristics_t_test="student"))
    (test,) = rows(student, "case_characteristic_tests", characteristic="age")
    expected = sps.ttest_ind(normal, abnormal)
    assert (test["test"], test["df"], test["p"]) == ("Student's t-test", 7.0, expected.pvalue)
    assert any("X1" in note for note in analysis.tables["case_characteristics"].notes)  # no reference


def test_sex_by_fisher_and_site_by_chi_square():
    analysis = analyse_study(characteristics_record())
    (f_normal,) = rows(analysis, "case_characteristics", characteristic="sex", level="F", group="normal")
    assert (f_normal["count"], f_normal["n"], f_normal["percent"]) == (3, 5, 60.0)
    (m_abnormal,) = rows(analysis, "case_characteristics", characteristic="sex", level="M", group="abnormal")
    assert (m_abnormal["count"], m_abnormal["percent"]) == (3, 75.0)
    (fisher,) = rows(analysis, "case_characteristic_tests", characteristic="sex")
    expected = sps.fisher_exact([[3, 2], [1, 3]])
    assert fisher["test"] == "Fisher's exact test"
    assert (fisher["statistic"], fisher["p"]) == (expected.statistic, expected.pvalue)
    assert fisher["statistic"] == pytest.approx((3 * 3) / (2 * 1))  # the odds ratio by hand
    (chi,) = rows(analysis, "case_characteristic_tests", characteristic="site")
    table = [[2, 2, 1], [1, 1, 2]]  # normal, abnormal x A, B, C
    expected = sps.chi2_contingency(table, correction=False)
    assert chi["test"] == "chi-square test" and chi["df"] == 2.0
    assert (chi["statistic"], chi["p"]) == (expected.statistic, expected.pvalue)
    # By hand: sum (O - E)^2 / E with E = row total x column total / 9.
    observed = np.array(table, dtype=float)
    e = observed.sum(1, keepdims=True) * observed.sum(0, keepdims=True) / observed.sum()
    assert chi["statistic"] == pytest.approx(((observed - e) ** 2 / e).sum())


def test_grouping_by_an_attribute_and_choosing_characteristics():
    analysis = analyse_study(characteristics_record(characteristics=["age"], characteristics_group_by="sex"))
    assert {r["characteristic"] for r in analysis.tables["case_characteristics"].as_dicts()} == {"age"}
    assert [r["group"] for r in analysis.tables["case_characteristics"].as_dicts()] == ["F", "M"]
    (test,) = analysis.tables["case_characteristic_tests"].as_dicts()
    female = [AGES[c] for c in AGES if SEX[c] == "F"]
    male = [AGES[c] for c in AGES if SEX[c] == "M"]
    assert test["p"] == sps.ttest_ind(female, male, equal_var=False).pvalue
    three = analyse_study(characteristics_record(characteristics=["age"], characteristics_group_by="site"))
    (anova,) = three.tables["case_characteristic_tests"].as_dicts()
    by_site = [[AGES[c] for c in AGES if SITE[c] == s] for s in "ABC"]
    assert anova["test"] == "one-way ANOVA" and anova["p"] == sps.f_oneway(*by_site).pvalue
    unknown = analyse_study(characteristics_record(characteristics_group_by="scanner"))
    assert "case_characteristics" not in unknown.tables
    assert any("No case has the attribute 'scanner'" in n for n in unknown.notes)
    missing = analyse_study(characteristics_record(characteristics=["age", "weight"]))
    assert any("weight" in n for n in missing.tables["case_characteristics"].notes)


def test_a_value_that_is_not_a_number_makes_the_attribute_categorical():
    record = characteristics_record(characteristics=["age"])
    record.case_attributes[0]["value"] = "unknown"
    analysis = analyse_study(record)
    assert {r["type"] for r in analysis.tables["case_characteristics"].as_dicts()} == {"categorical"}
    with pytest.raises(ValueError, match='characteristics_t_test must be "welch" or "student"'):
        AnalysisSettings(characteristics_t_test="mann-whitney")


def test_no_attributes_no_table():
    assert "case_characteristics" not in analyse_study(simulated_record()).tables


# --------------------------------------------------------------------------- bundle


def test_bundle_round_trip_with_attributes_pairs_and_settings(tmp_path):
    record = characteristics_record(characteristics_group_by="sex", detection_min_rating=2.0)
    measured, _ = measurement_record()
    record.measurements, record.roi_pairs = measured.measurements, measured.roi_pairs
    record.conditions = measured.conditions
    record.settings = AnalysisSettings(
        characteristics_group_by="sex",
        detection_min_rating=2,
        cnr_formula="pooled_sd",
        contrast_ratio_pairs=("lesion vs brain",),
        characteristics=("age", "site"),
    )
    analysis = analyse_study(record)
    path = tmp_path / "bundle.zip"
    write_bundle(record, path, tables_csv(analysis))
    again = read_bundle(path)
    assert again == record
    assert again.settings.characteristics == ("age", "site")
    assert tables_csv(analyse_study(again)) == tables_csv(analysis)
    assert "tables/case_characteristics.csv" in tables_csv(analysis)


def test_a_bundle_without_the_new_tables_reads_them_empty(tmp_path):
    record = simulated_record()
    path = tmp_path / "old.zip"
    write_bundle(record, path)
    old = tmp_path / "older.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            if name not in ("record/roi_pairs.csv", "record/case_attributes.csv"):
                dst.writestr(name, src.read(name))
    again = read_bundle(old)
    assert again.roi_pairs == [] and again.case_attributes == []
    assert again == record
