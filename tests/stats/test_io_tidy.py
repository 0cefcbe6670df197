"""The tidy CSV layout (reader, modality or treatment, case, truth, rating), as MRMCaov uses it."""

import re

import numpy as np
import pytest

from stats.dataset import NO_MARK, DatasetError
from stats.fom import jackknife
from stats.io_imrmc import read_imrmc
from stats.io_plain import read_plain
from stats.io_tidy import natural_order, read_tidy, write_tidy

from .reference import DATASETS, SHARED, fom_table, reference
from .test_io_excel import assert_same_study

FILES = SHARED / "datasets" / "rjafroc-files"


def test_rocdata_csv_is_dataset02():
    data = read_tidy(FILES / "RocData.csv")
    assert_same_study(data, read_plain(DATASETS / "dataset02"))
    assert data.case_ids == read_imrmc(FILES / "RocData.imrmc").case_ids
    want = fom_table(reference("dataset02")["FOMs"]["Wilcoxon"], data.modality_ids, data.reader_ids)
    np.testing.assert_allclose(jackknife(data, "Wilcoxon").fom, want, rtol=1e-12)


@pytest.mark.parametrize("name", ["dataset02", "dataset12", "dataset14"])
def test_round_trip(tmp_path, name):
    data = read_plain(DATASETS / name)  # dataset12: missing ratings, some cases never rated
    write_tidy(data, tmp_path / "x.csv")
    again = read_tidy(tmp_path / "x.csv")
    assert_same_study(again, data)
    assert again.case_ids == data.case_ids


def test_written_file(tmp_path):
    write_tidy(read_plain(DATASETS / "dataset02"), tmp_path / "x.csv")
    lines = (tmp_path / "x.csv").read_text().splitlines()
    assert lines[0] == "reader,treatment,case,truth,rating"
    assert lines[1] == "0,0,1,0,1" and lines[70] == "0,0,70,1,5"
    assert len(lines) == 1 + 2 * 5 * 114  # one row per reader x modality x case


def test_froc_data_cannot_be_written(tmp_path):
    with pytest.raises(DatasetError, match="holds ROC data only; this dataset is FROC"):
        write_tidy(read_plain(DATASETS / "dataset05"), tmp_path / "x.csv")


def tidy(tmp_path, text: str) -> str:
    path = tmp_path / "t.csv"
    path.write_text(text)
    return str(path)


HEADER = "reader,modality,case,truth,rating,note\n"
ROWS = "r1,A,n1,0,1,x\nr1,A,n2,0,2,\nr1,A,p1,1,4,\nr1,A,p2,1,NA,\n"


def test_modality_column_missing_ratings_and_extra_columns(tmp_path):
    data = read_tidy(tidy(tmp_path, HEADER + ROWS + "\n"))
    assert data.modality_ids == ("A",) and data.case_ids == ("n1", "n2", "p1", "p2")
    np.testing.assert_array_equal(data.nl[0, 0, :, 0], [1, 2, NO_MARK, NO_MARK])
    np.testing.assert_array_equal(data.ll[0, 0, :, 0], [4, NO_MARK])


def test_numeric_ids_sort_as_numbers():
    assert natural_order(["10", "9", "1", "9"]) == ["1", "9", "10"]
    assert natural_order(["b", "a", "10"]) == ["b", "a", "10"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        (HEADER, "no rows after the header"),
        ("reader,case,truth,rating\n", "no 'treatment' column (the header has reader, case, truth, rating;"),
        ("reader,modality,treatment,case,truth,rating\n", "both a 'modality' and a 'treatment' column"),
        (HEADER + ROWS + "r1,A,n3,yes,1,\n", "line 6: truth 'yes' is not 0 (normal) or 1 (abnormal)"),
        (HEADER + ROWS + "r1,A,n3,0,high,\n", "line 6: rating 'high' is not a finite number (or NA)"),
        (HEADER + ROWS + "r1,A,,0,1,\n", "line 6: case is empty"),
        (HEADER + ROWS + "r2,A,n1,1,1,\n", "line 6: case n1 has truth 1, but line 2 gives 0"),
        (HEADER + ROWS + "r1,A,n1,0,3,\n", "lines 2 and 6 both rate case n1 for reader r1 in modality A"),
        (HEADER + ROWS + "r1,A\n", "line 6: 2 fields, the header has 6"),
        (HEADER + "r1,A,n1,0,1,\nr1,A,n2,0,1,\n", "ROC data needs normal and abnormal cases; found 2 and 0"),
    ],
)
def test_malformed_files(tmp_path, text, message):
    path = tidy(tmp_path, text)
    with pytest.raises(DatasetError, match=re.escape(message)) as caught:
        read_tidy(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        read_tidy(tmp_path / "none.csv")
