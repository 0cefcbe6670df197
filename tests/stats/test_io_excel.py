"""RJafroc's Excel format: its example files give RJafroc's FOMs, bad files their own errors."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from stats.dataset import NO_MARK, DatasetError, ReaderStudy, equal_weights
from stats.fom import FROC_FOMS, jackknife
from stats.io_excel import read_excel, write_excel
from stats.io_plain import read_plain

from .reference import DATASETS, SHARED, fom_table, reference

FILES = SHARED / "datasets" / "rjafroc-files"
TOYS = FILES / "toyFiles"
ARRAYS = ("nl", "ll", "lesions_per_case", "weights", "lesion_ids")


def assert_same_study(a: ReaderStudy, b: ReaderStudy, ids: bool = True) -> None:
    assert (a.kind, a.k1) == (b.kind, b.k1)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    if ids:
        assert (a.modality_ids, a.reader_ids) == (b.modality_ids, b.reader_ids)


# --- the example files hold RJafroc's datasets -------------------------------------------------


def test_roc_xlsx_is_dataset02():
    data = read_excel(FILES / "Roc.xlsx")
    assert_same_study(data, read_plain(DATASETS / "dataset02"))
    want = fom_table(reference("dataset02")["FOMs"]["Wilcoxon"], data.modality_ids, data.reader_ids)
    np.testing.assert_allclose(jackknife(data, "Wilcoxon").fom, want, rtol=1e-12)


def test_jt_xlsx_is_dataset05_in_the_old_layout():
    data = read_excel(FILES / "JT.xlsx")
    assert data.kind == "FROC"  # inferred: the old layout does not say
    assert_same_study(data, read_plain(DATASETS / "dataset05"))
    for fom, table in reference("dataset05")["FOMs"].items():
        want = fom_table(table, data.modality_ids, data.reader_ids)
        np.testing.assert_allclose(jackknife(data, fom).fom, want, rtol=1e-12, err_msg=fom)


def test_froc_xlsx_is_modalities_4_and_5_of_dataset04():
    data = read_excel(FILES / "Froc.xlsx")
    plain = read_plain(DATASETS / "dataset04")
    assert data.modality_ids == ("4", "5") and data.reader_ids == plain.reader_ids
    for fom in FROC_FOMS:
        want = fom_table(reference("dataset04")["FOMs"][fom], data.modality_ids, data.reader_ids)
        np.testing.assert_allclose(jackknife(data, fom).fom, want, rtol=1e-12, err_msg=fom)
        np.testing.assert_array_equal(jackknife(data, fom).fom, jackknife(plain, fom).fom[3:])
    # Weights 0.33, 0.33, 0.33 (sum 0.99) are rescaled to sum to 1, as RJafroc does.
    np.testing.assert_array_equal(data.weights, plain.weights)


def test_case_ids_are_kept_with_normal_cases_first():
    data = read_excel(FILES / "Froc.xlsx")  # abnormal cases are 0..99, normal ones 100..199
    assert data.case_ids[:2] == ("100", "101") and data.case_ids[data.k1 : data.k1 + 2] == ("0", "1")
    data = read_excel(TOYS / "FROC" / "frocCrAbnormalCasesFirst.xlsx")
    assert data.case_ids == tuple(str(c) for c in [*range(10, 20), *range(1, 10)])


@pytest.mark.parametrize(
    ("new", "old"),
    [
        ("frocCr013Lesions.xlsx", "frocCr013LesionsOldFormat.xlsx"),
        ("frocCrAbnormalCasesFirst.xlsx", "frocCrAbnormalCasesFirstOldFormat.xlsx"),
    ],
)
def test_old_and_new_truth_layouts_read_alike(new, old):
    a, b = read_excel(TOYS / "FROC" / new), read_excel(TOYS / "FROC" / old)
    assert_same_study(a, b, ids=False)
    assert a.case_ids == b.case_ids


def test_weights_all_zero_mean_equal_weights_and_near_one_sums_are_rescaled():
    eq = read_excel(TOYS / "FROC" / "frocCrEqWts.xlsx")
    np.testing.assert_array_equal(eq.weights, equal_weights(eq.lesions_per_case, eq.ll.shape[3]))
    given = read_excel(TOYS / "FROC" / "frocCr.xlsx")
    np.testing.assert_allclose(given.weights[0, :2], [0.3, 0.7])
    np.testing.assert_allclose(given.weights[2], [1 / 3] * 3)  # 0.333 x 3 = 0.999, rescaled


@pytest.mark.parametrize(
    ("name", "kind", "shape", "k1"),
    [
        ("CadFrocData.xlsx", "FROC", (1, 10, 200), 120),
        ("JT2Rdrs.xlsx", "FROC", (2, 2, 92), 45),
        ("NicoRadRoc.xlsx", "ROC", (1, 10, 200), 120),
        ("toyFiles/FROC/2T7R.xlsx", "FROC", (2, 7, 318), 229),
        ("toyFiles/FROC/frocCr.xlsx", "FROC", (2, 3, 8), 3),
        ("toyFiles/FROC/frocCr1R.xlsx", "FROC", (2, 1, 8), 3),
        ("toyFiles/FROC/frocCr1T.xlsx", "FROC", (1, 3, 8), 3),
        ("toyFiles/FROC/frocCrStrRdrsTrts.xlsx", "FROC", (2, 3, 8), 3),
        ("toyFiles/FROC/frocLocatClass.xlsx", "FROC", (1, 1, 3), 0),
        ("toyFiles/LROC/lroc.xlsx", "LROC", (2, 3, 8), 3),
        ("toyFiles/LROC/lroc1.xlsx", "LROC", (2, 3, 8), 3),
        ("toyFiles/LROC/lroc2.xlsx", "LROC", (2, 3, 8), 3),
        ("toyFiles/ROC/rocCr.xlsx", "ROC", (2, 5, 8), 3),
        ("toyFiles/ROC/rocCr1R.xlsx", "ROC", (2, 1, 8), 3),
        ("toyFiles/ROC/rocCr1T.xlsx", "ROC", (1, 5, 8), 3),
        ("toyFiles/ROC/rocCrStrRdrsTrts.xlsx", "ROC", (2, 5, 8), 3),
    ],
)
def test_example_files_read(name, kind, shape, k1):
    data = read_excel(FILES / name)
    assert (data.kind, data.shape, data.k1) == (kind, shape, k1)


def test_string_ids_keep_the_truth_sheet_order():
    data = read_excel(TOYS / "ROC" / "rocCrStrRdrsTrts.xlsx")
    assert data.modality_ids == ("Trt0", "Trt1")
    assert data.reader_ids == ("Rdr0", "Rdr1", "Rdr2", "Rdr3", "Rdr4")
    numbers = read_excel(TOYS / "ROC" / "rocCr.xlsx")
    np.testing.assert_array_equal(data.nl, numbers.nl)
    np.testing.assert_array_equal(data.ll, numbers.ll)


def test_lroc_incorrect_localisations_are_nl_marks_of_abnormal_cases():
    data = read_excel(TOYS / "LROC" / "lroc.xlsx")
    # Reader 0, modality 0: case 70 (first abnormal) has an FP row, not a TP row.
    assert data.nl[0, 0, data.k1, 0] == 5.28 and data.ll[0, 0, 0, 0] == NO_MARK
    assert data.ll[0, 0, 1, 0] == 3.01


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("toyFiles/ROC/rocSpA.xlsx", "SPLIT-PLOT-A designs are not supported"),
        ("toyFiles/ROC/rocSpA1.xlsx", "SPLIT-PLOT-A designs are not supported"),
        ("toyFiles/ROC/rocSpA-unbalanced.xlsx", "SPLIT-PLOT-A designs are not supported"),
        ("toyFiles/ROC/rocSpC.xlsx", "split-plot-c designs are not supported"),
        ("toyFiles/ROC/rocSpCVaryK.xlsx", "split-plot designs are not supported"),
        ("XModDataFile.xlsx", "crossed-modality files (two modality factors, FP sheet) are not supported"),
    ],
)
def test_designs_the_study_object_cannot_hold_are_refused(name, message):
    with pytest.raises(DatasetError, match=re.escape(message)):
        read_excel(FILES / name)


# --- every deliberately malformed file is refused with its own message ------------------------

BAD_FILES = {
    "FROC/bad/frocCr2BlankRows.xlsx": [
        "TRUTH row 6 is blank (blank rows may only follow the table)",
        "TRUTH row 7 is blank",
    ],
    "FROC/bad/frocCrNonCharInModalityID.xlsx": [
        "TRUTH row 9: ModalityID lists 0 but row 2 lists 0,1; in a factorial design"
    ],
    "FROC/bad/frocCrNonCharInReaderID.xlsx": ["TRUTH row 7: ReaderID lists 1 but row 2 lists 0,1,2"],
    "FROC/bad/incorrectCaseIDsInTP.xlsx": [
        "TP row 7: case 0 is not in the TRUTH sheet",
        "TP row 10: case 1 is normal in the TRUTH sheet (LesionID 0) and has no lesion to rate",
    ],
    "ROC/bad/duplicatedRow.xlsx": ["TRUTH rows 6 and 7 both list case 71 lesion 1"],
    "ROC/bad/incorrectSheetName.xlsx": ["no TRUTH sheet (the workbook has FP, TRUTH1, TP)"],
    "ROC/bad/incorrectWeights.xlsx": [
        "TRUTH sheet: the weights of case 70 sum to 0.5, not 1",
        "the weights of case 73 sum to 1.1, not 1",
    ],
    "ROC/bad/missing1CellRow5.xlsx": ["TRUTH row 5: Weight is empty"],
    "ROC/bad/missing2CellsRow5and7.xlsx": [
        "TRUTH row 7 is blank",
        "TRUTH row 3: CaseID is empty",
        "TRUTH row 5: Weight is empty",
        "FP sheet is empty (no header row)",
    ],
    "ROC/bad/missingCells.xlsx": [
        "TRUTH row 3: CaseID is empty",
        "TRUTH row 3: ReaderID is empty",
        "TRUTH row 8: LesionID is empty",
        "TP sheet is empty (no header row)",
    ],
    "ROC/bad/missingEntireRow5.xlsx": ["TRUTH row 5 is blank (blank rows may only follow the table)"],
    "ROC/bad/non-integerCaseID.xlsx": ["TRUTH row 7: CaseID 71.1 is not an integer"],
    "ROC/bad/non-integerCellsRows5and7.xlsx": [
        "TRUTH row 5: Weight 'b' is not a number",
        "TRUTH row 7: LesionID 'a' is not an integer",
        "TRUTH row 9: CaseID 'd' is not an integer",
    ],
    "ROC/bad/non-integerLesionID.xlsx": [
        "TRUTH row 2: LesionID 0.1 is not an integer",
        "TRUTH row 6: LesionID 1.1 is not an integer",
    ],
    "ROC/bad/non-numeric-weight.xlsx": ["TRUTH row 5: Weight 'abc' is not a number"],
    "ROC/bad/rocCrStrRdrsNonUnique.xlsx": ["TRUTH row 2: ReaderID lists reader Rdr1 twice"],
    "ROC/bad/rocSpCText.xlsx": ["TRUTH row 2: CaseID '6a' is not an integer", "and 82 more problem(s)"],
}


def test_every_bad_file_has_an_expected_message():
    on_disk = {str(p.relative_to(TOYS)) for p in TOYS.glob("*/bad/*.xlsx")}
    assert on_disk == set(BAD_FILES)


@pytest.mark.parametrize("name", sorted(BAD_FILES), ids=lambda n: Path(n).stem)
def test_bad_file_is_refused_with_its_own_message(name):
    path = TOYS / name
    with pytest.raises(DatasetError) as caught:
        read_excel(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for part in BAD_FILES[name]:
        assert part in message


# --- hand-made workbooks for the other checks ---------------------------------------------------

TRUTH_HEADER = ["CaseID", "LesionID", "Weight", "ReaderID", "ModalityID", "Paradigm"]


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def froc_sheets(**changes: list[list]) -> dict[str, list[list]]:
    """A small valid FROC workbook (2 normal, 2 abnormal cases, one reader and modality)."""
    sheets = {
        "TRUTH": [
            TRUTH_HEADER,
            [1, 0, 0, "A", "M", "FROC"],
            [2, 0, 0, "A", "M", "FCTRL"],
            [3, 1, 0.5, "A", "M", None],
            [3, 2, 0.5, "A", "M", None],
            [4, 1, 1, "A", "M", None],
        ],
        "NL": [["ReaderID", "ModalityID", "CaseID", "NL_Rating"], ["A", "M", 1, 2.5], ["A", "M", 1, 1]],
        "LL": [
            ["ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating"],
            ["A", "M", 3, 2, 4],
            ["A", "M", 4, 1, 3],
        ],
    }
    sheets.update(changes)
    return sheets


def test_hand_made_workbook_reads(tmp_path):
    data = read_excel(workbook(tmp_path / "ok.xlsx", froc_sheets()))
    assert data.kind == "FROC" and data.shape == (1, 1, 4)
    np.testing.assert_array_equal(data.nl[0, 0, 0], [2.5, 1])
    np.testing.assert_array_equal(data.ll[0, 0], [[NO_MARK, 4], [3, NO_MARK]])
    np.testing.assert_array_equal(data.lesion_ids, [[1, 2], [1, 0]])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"LL": [["ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating"], ["A", "M", 3, 7, 4]]},
            "LL row 2: case 3 has no lesion 7 in the TRUTH sheet",
        ),
        (
            {
                "LL": [
                    ["ReaderID", "ModalityID", "CaseID", "LesionID", "LL_Rating"],
                    ["A", "M", 3, 1, 4],
                    ["A", "M", 3, 1, 5],
                ]
            },
            "LL rows 2 and 3 both rate lesion 1 of case 3 for reader A in modality M",
        ),
        (
            {"NL": [["ReaderID", "ModalityID", "CaseID", "NL_Rating"], ["A", "M", 1, "high"]]},
            "NL row 2: rating 'high' is not a finite number",
        ),
        (
            {"NL": [["ReaderID", "ModalityID", "CaseID", "NL_Rating"], ["A", "M", 9, 1]]},
            "NL row 2: case 9 is not in the TRUTH sheet",
        ),
        (
            {"NL": [["ReaderID", "ModalityID", "CaseID", "NL_Rating"], ["B", "M", 1, 1]]},
            "NL row 2: reader B is not among the TRUTH sheet's readers (A)",
        ),
        (
            {"NL": [["ReaderID", "ModalityID", "Case", "NL_Rating"], ["A", "M", 1, 1]]},
            "NL sheet: no CaseID column (its header row has ReaderID, ModalityID, Case, NL_Rating)",
        ),
        (
            {"NL": [["ReaderID", "ModalityID", "CaseID", "NL_Rating", "FP_Rating"]]},
            "NL sheet: both FP_Rating and NL_Rating columns; keep one",
        ),
        (
            {"FP": [["ReaderID", "ModalityID", "CaseID", "FP_Rating"]]},
            "both sheets NL and FP hold the NL table; keep one",
        ),
        (
            {"TRUTH": [TRUTH_HEADER, [1, 0, 0, "A", "M", "FROC"], [3, 1, 1, "A", "M", None]]},
            "TRUTH sheet: the Paradigm column gives no design (FCTRL) below the paradigm",
        ),
        (
            {"TRUTH": [TRUTH_HEADER, [1, 0, 0, "A", "M", "ROI"], [3, 1, 1, "A", "M", "FCTRL"]]},
            "the Paradigm column gives 'ROI'; expected ROC, FROC or LROC",
        ),
        (
            {"TRUTH": [TRUTH_HEADER, [1, 0, 0, "A", "M", "FROC"], [3, -1, 1, "A", "M", "FCTRL"]]},
            "TRUTH row 3: LesionID -1 is negative",
        ),
        (
            {"TRUTH": [TRUTH_HEADER, [1, 0, 0, "A", "M", "FROC"], [1, 1, 1, "A", "M", "FCTRL"]]},
            "case 1 is listed as normal (LesionID 0) and with lesion 1",
        ),
        (
            {"TRUTH": [TRUTH_HEADER, [1, 0, 0, "A", "M", "FROC"], [2, 0, 0, "A", "M", "FCTRL"]]},
            "TRUTH sheet has no abnormal cases",
        ),
    ],
)
def test_hand_made_problems(tmp_path, changes, message):
    path = workbook(tmp_path / "bad.xlsx", froc_sheets(**changes))
    with pytest.raises(DatasetError, match=re.escape(message)) as caught:
        read_excel(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_roc_files_have_one_rating_per_case(tmp_path):
    truth = [
        TRUTH_HEADER,
        [1, 0, 0, "A", "M", "ROC"],
        [2, 0, 0, "A", "M", "FCTRL"],
        [3, 1, 0, "A", "M", None],
    ]
    fp = [
        ["ReaderID", "ModalityID", "CaseID", "FP_Rating"],
        ["A", "M", 1, 1],
        ["A", "M", 1, 2],
        ["A", "M", 3, 1],
    ]
    tp = [["ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating"], ["A", "M", 3, 1, 4]]
    path = workbook(tmp_path / "roc.xlsx", {"TRUTH": truth, "FP": fp, "TP": tp})
    with pytest.raises(DatasetError) as caught:
        read_excel(path)
    assert "FP rows 2 and 3 both rate case 1 for reader A in modality M; ROC data has one rating" in str(
        caught.value
    )
    assert "FP row 4: case 3 is abnormal; ROC data rates abnormal cases in the TP (LL) sheet" in str(
        caught.value
    )


def test_files_that_are_not_workbooks(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        read_excel(tmp_path / "missing.xlsx")
    text = tmp_path / "text.xlsx"
    text.write_text("CaseID,LesionID\n")
    with pytest.raises(DatasetError, match=r"text\.xlsx: not a readable \.xlsx workbook"):
        read_excel(text)


# --- writing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["Roc.xlsx", "JT.xlsx", "Froc.xlsx", "toyFiles/LROC/lroc.xlsx", "toyFiles/FROC/frocCrStrRdrsTrts.xlsx"],
)
def test_round_trip_of_example_files(tmp_path, source):
    data = read_excel(FILES / source)
    write_excel(data, tmp_path / "copy.xlsx")
    again = read_excel(tmp_path / "copy.xlsx")
    assert_same_study(again, data)
    assert again.case_ids == data.case_ids


@pytest.mark.parametrize("name", ["dataset02", "dataset04", "dataset11", "dataset12", "datasetCadLroc"])
def test_round_trip_of_plain_datasets_is_exact(tmp_path, name):
    data = read_plain(DATASETS / name)
    write_excel(data, tmp_path / f"{name}.xlsx")
    again = read_excel(tmp_path / f"{name}.xlsx")
    slots = np.where(data.lesion_mask, np.arange(1, data.ll.shape[3] + 1)[None, :], 0)
    if name == "dataset11":  # lesion ids that are not 1..n: written as slot numbers, as RJafroc needs
        assert not np.array_equal(np.where(data.lesion_mask, data.lesion_ids, 0), slots)
        data = dataclasses.replace(data, lesion_ids=slots)
    assert_same_study(again, data)  # weights such as 0.33333333333333337 survive to the last bit
    assert again.case_ids == data.case_ids


def test_written_file_is_the_new_layout(tmp_path):
    write_excel(read_plain(DATASETS / "dataset02"), tmp_path / "d.xlsx")
    book = openpyxl.load_workbook(tmp_path / "d.xlsx", read_only=True)
    assert book.sheetnames == ["TRUTH", "FP", "TP"]  # RJafroc 2.1.3 sorts them and wants these
    truth = list(book["TRUTH"].iter_rows(values_only=True))
    assert next(book["FP"].iter_rows(values_only=True)) == ("ReaderID", "ModalityID", "CaseID", "FP_Rating")
    assert next(book["TP"].iter_rows(values_only=True)) == (
        "ReaderID",
        "ModalityID",
        "CaseID",
        "LesionID",
        "TP_Rating",
    )
    book.close()
    assert truth[0] == tuple(TRUTH_HEADER)
    assert truth[1] == (1, 0, 0, "0,1,2,3,4", "0,1", "ROC")
    assert truth[2][5] == "FCTRL" and truth[70][:5] == (70, 1, 0, "0,1,2,3,4", "0,1")


def test_study_ids_that_cannot_be_written(tmp_path):
    data = read_excel(TOYS / "ROC" / "rocCr.xlsx")
    odd = ReaderStudy(
        kind=data.kind,
        modality_ids=("a,b", "c"),
        reader_ids=data.reader_ids,
        k1=data.k1,
        nl=data.nl,
        ll=data.ll,
        lesions_per_case=data.lesions_per_case,
        weights=data.weights,
    )
    with pytest.raises(DatasetError, match="reads 'a,b' as more than one id"):
        write_excel(odd, tmp_path / "odd.xlsx")
    spaced = dataclasses.replace(odd, modality_ids=("SR net", "c"))
    with pytest.raises(DatasetError, match="reads 'SR net' as more than one id"):
        write_excel(spaced, tmp_path / "spaced.xlsx")
    renumbered = ReaderStudy(
        kind=data.kind,
        modality_ids=data.modality_ids,
        reader_ids=data.reader_ids,
        k1=data.k1,
        nl=data.nl,
        ll=data.ll,
        lesions_per_case=data.lesions_per_case,
        weights=data.weights,
    )
    write_excel(renumbered, tmp_path / "plain.xlsx")
    again = read_excel(tmp_path / "plain.xlsx")
    assert again.case_ids == tuple(str(k) for k in range(1, 9))
    assert_same_study(again, data)
