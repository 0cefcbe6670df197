"""The iMRMC format: RJafroc's RocData.imrmc is dataset02; writing and reading agree."""

import re

import numpy as np
import pytest

from stats.dataset import NO_MARK, DatasetError
from stats.fom import jackknife
from stats.io_imrmc import read_imrmc, write_imrmc
from stats.io_plain import read_plain

from .reference import DATASETS, SHARED, fom_table, reference
from .test_io_excel import assert_same_study

FILES = SHARED / "datasets" / "rjafroc-files"


def test_rocdata_imrmc_is_dataset02():
    data = read_imrmc(FILES / "RocData.imrmc")
    assert_same_study(data, read_plain(DATASETS / "dataset02"))
    assert data.case_ids[:2] == ("1", "2") and data.case_ids[-1] == "114"
    want = fom_table(reference("dataset02")["FOMs"]["Wilcoxon"], data.modality_ids, data.reader_ids)
    np.testing.assert_allclose(jackknife(data, "Wilcoxon").fom, want, rtol=1e-12)


@pytest.mark.parametrize("name", ["dataset02", "dataset12", "dataset09"])
def test_round_trip(tmp_path, name):
    data = read_plain(DATASETS / name)  # dataset12 has missing ratings
    write_imrmc(data, tmp_path / "x.imrmc")
    again = read_imrmc(tmp_path / "x.imrmc")
    assert_same_study(again, data)
    assert again.case_ids == data.case_ids


def test_written_file_has_header_truth_then_ratings(tmp_path):
    write_imrmc(read_plain(DATASETS / "dataset02"), tmp_path / "x.imrmc", description="Van Dyke")
    lines = (tmp_path / "x.imrmc").read_text().splitlines()
    assert lines[:7] == ["Van Dyke", "N0:69", "N1:45", "NR:5", "NM:2", "BEGIN DATA:", "-1,1,truth,0"]
    assert lines[6 + 69] == "-1,70,truth,1"
    assert lines[6 + 114] == "0,1,0,1"  # reader 0, case 1, modality 0, rating 1


def test_froc_data_cannot_be_written(tmp_path):
    with pytest.raises(DatasetError, match=r"holds ROC data only; this dataset is FROC"):
        write_imrmc(read_plain(DATASETS / "dataset04"), tmp_path / "x.imrmc")


def imrmc(tmp_path, body: str, header: str = "a study\n") -> str:
    path = tmp_path / "s.imrmc"
    path.write_text(header + "BEGIN DATA:\n" + body)
    return str(path)


GOOD = "-1,c1,0,0\n-1,c2,0,0\n-1,c3,0,1\n-1,c4,0,1\nr1,c1,A,1\nr1,c2,A,2\nr1,c3,A,4\nr1,c4,A,3\n"


def test_truth_rows_with_reader_truth_and_string_ids(tmp_path):
    body = GOOD.replace("-1,c1,0,0", "truth,c1,truth,0") + "\n"
    data = read_imrmc(imrmc(tmp_path, body))
    assert data.case_ids == ("c1", "c2", "c3", "c4") and data.reader_ids == ("r1",)
    np.testing.assert_array_equal(data.nl[0, 0, :, 0], [1, 2, NO_MARK, NO_MARK])
    np.testing.assert_array_equal(data.ll[0, 0, :, 0], [4, 3])


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        ("x\n", None, "no 'BEGIN DATA:' line"),
        ("x\n", "r1,c1,A\n", "line 11: expected readerID,caseID,modalityID,score, got 'r1,c1,A'"),
        ("x\n", "-1,c9,0,2\n", "line 11: truth of case c9 is '2', not 0 or 1"),
        ("x\n", "r1,c1,A,high\n", "line 11: score 'high' is not a finite number"),
        ("x\n", "r1,c9,A,1\n", "line 11: case c9 has no truth line (readerID -1)"),
        ("x\n", "r1,c1,A,5\n", "lines 7 and 11 both rate case c1 for reader r1 in modality A"),
        ("x\n", "-1,c1,0,0\n", "lines 3 and 11 both give the truth of case c1"),
        ("x\nN0:3\nNR:1\n", "", "line 2: N0 says 3 normal cases, the data has 2"),
        ("x\nNM:two\n", "", "line 2: NM 'two' is not a whole number"),
    ],
)
def test_malformed_files(tmp_path, header, body, message):
    if body is None:
        path = tmp_path / "s.imrmc"
        path.write_text(header + GOOD)
    else:
        path = imrmc(tmp_path, GOOD + body, header)
    with pytest.raises(DatasetError, match=re.escape(message)) as caught:
        read_imrmc(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        read_imrmc(tmp_path / "none.imrmc")
