"""An SR output imported as NIfTI is read in the workstation like any series, on its source's grid."""

import re
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from playwright.sync_api import Page, expect

from readerstudy.demo import demo_study_create
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.models import ImageSeries
from readerstudy.reading.models import Reading
from readerstudy.studies.models import Condition
from sr_engine.dicom_series import read_dicom_series
from sr_engine.nifti_io import write_nifti
from sr_engine.upscale import upscale
from tests.browser.test_workstation import CANVAS_LIT_FRACTION, DEMO_PASSWORD

pytestmark = pytest.mark.browser


def test_a_nifti_sr_output_is_read_in_the_workstation(
    transactional_db, live_server, page: Page, login, tmp_path
):
    study = demo_study_create(n_cases=2, slices=24)
    Condition.objects.create(study=study, label="SR NIfTI", order=5)
    reading = Reading.objects.filter(session__participation__user__username="reader1").order_by(
        "session__number", "position"
    )[0]
    case = reading.series.case
    lr = ImageSeries.objects.get(case=case, condition__label="LR")
    folder = tmp_path / "lr"
    folder.mkdir()
    for instance in lr.instances.all():
        (folder / f"{instance.slice_index:04d}.dcm").write_bytes(
            default_storage.open(instance.file.name).read()
        )
    write_nifti(upscale(read_dicom_series(folder), 4, "tci"), tmp_path / "sr" / "sr.nii.gz")
    report = dicom_import(
        study=study,
        source=Path(tmp_path / "sr"),
        manifest=[{"case": case.code, "condition": "SR NIfTI", "nifti": "sr.nii.gz"}],
        acknowledge_design_change=True,
    )
    assert report.ok, report.lines()
    sr = ImageSeries.objects.get(case=case, condition__label="SR NIfTI")
    assert sr.num_slices == 4 * lr.num_slices
    Reading.objects.filter(pk=reading.pk).update(series=sr)  # the reader's first reading shows the SR series

    login(page, "reader1", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/reading/")
    page.get_by_role("link", name="Start").first.click()
    expect(page.locator("body")).to_have_attribute("data-workstation", "ready", timeout=20_000)
    assert re.search(r"/reading/([0-9a-f-]{36})/", page.url).group(1) == str(reading.public_id)
    page.wait_for_function(f"() => ({CANVAS_LIT_FRACTION})() > 0.05")
    expect(page.locator("#overlay-slice")).to_contain_text(f"/ {sr.num_slices}")
