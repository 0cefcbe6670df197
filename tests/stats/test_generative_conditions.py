"""Generative conditions (made by a model that can invent detail) in the record, its bundle and the
design table; a bundle from before the column reads them as not generative."""

import zipfile

from stats.study_record import read_bundle, write_bundle
from stats.study_tables import analyse_study
from tests.stats.study_fixtures import simulated_record


def design_rows(record) -> dict[str, dict]:
    return {row["item"]: row for row in analyse_study(record).tables["design"].as_dicts()}


def test_the_design_table_names_the_generative_conditions_and_the_bundle_keeps_them(tmp_path):
    record = simulated_record(conditions=("LR", "GAN", "HR"))
    assert [row["generative"] for row in record.conditions] == [False, False, False]  # the default
    record.conditions[1]["generative"] = True
    row = design_rows(record)["generative conditions"]
    assert (row["count"], row["detail"]) == (1, "GAN")
    path = tmp_path / "bundle.zip"
    write_bundle(record, path)
    with zipfile.ZipFile(path) as bundle:
        assert bundle.read("record/conditions.csv").decode().splitlines() == [
            "condition,order,generative",
            "LR,0,0",
            "GAN,1,1",
            "HR,2,0",
        ]
    assert read_bundle(path) == record


def test_a_bundle_from_before_the_column_reads_as_not_generative(tmp_path):
    record = simulated_record()
    path, old = tmp_path / "new.zip", tmp_path / "old.zip"
    write_bundle(record, path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            text = src.read(name).decode()
            if name == "record/conditions.csv":
                text = "condition,order\nLR,0\nSR,1\n"
            dst.writestr(name, text)
    again = read_bundle(old)
    assert again == record
    assert design_rows(again)["generative conditions"]["count"] == 0
