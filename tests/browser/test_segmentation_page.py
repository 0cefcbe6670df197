"""A coordinator imports segmentation masks in a real browser: the study page's link, the upload
form (a NIfTI reference with its labels, a DICOM SEG of a condition, a corrupt file) and the
per-case overlap table."""

from pathlib import Path

from playwright.sync_api import Page, expect

from readerstudy.studies.models import Study
from tests import factories as f
from tests.segmentation import masks as mk
from tests.segmentation.masks import LABELS, REFERENCE

SHIFTED = mk.label_map(left=((1, 2, 3), (3, 6, 7), 1), right=((1, 2, 7), (3, 4, 9), 2))


def test_coordinator_imports_masks_and_reads_the_overlap(
    transactional_db, tmp_path: Path, live_server, page: Page, login
):
    coordinator = f.UserFactory(username="sara", roles=["coordinator"])
    study = f.StudyFactory(
        slug="amygdala-7t", name="3T to 7T synthesis", coordinators=[coordinator], status=Study.Status.ACTIVE
    )
    f.ConditionFactory(study=study, label="3T", order=0)
    f.ConditionFactory(study=study, label="syn7T", order=1)
    f.CaseFactory(study=study, code="P01")
    reference = mk.write(tmp_path / "P01-manual.nii.gz", mk.nifti_bytes(REFERENCE, gzip=True))
    segments = {"left amygdala": SHIFTED == 1, "right amygdala": SHIFTED == 2}
    seg = mk.write(tmp_path / "P01-syn7T.dcm", mk.seg_bytes(segments))
    corrupt = mk.write(tmp_path / "broken.nii.gz", b"\x1f\x8b" + b"x" * 300)

    login(page, "sara")
    page.goto(f"{live_server.url}/studies/{study.slug}/")
    page.locator("#segmentation-link").click()
    expect(page.locator("h1")).to_contain_text("Segmentation overlap")

    page.get_by_label("Case").select_option(label="P01")
    page.get_by_label("Mask of").select_option(label="Reference mask")
    page.get_by_label("Mask file").set_input_files(str(reference))
    page.get_by_label("Labels").fill(LABELS)
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messages")).to_contain_text("The reference mask of case P01 was imported")

    page.get_by_label("Mask of").select_option(label="syn7T")
    page.get_by_label("Mask file").set_input_files(str(corrupt))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".errorlist")).to_contain_text("broken.nii.gz: it is a damaged gzip file")

    page.get_by_label("Mask of").select_option(label="syn7T")
    page.get_by_label("Mask file").set_input_files(str(seg))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messages")).to_contain_text("The syn7T mask of case P01 was imported")
    left = page.locator('.overlap-table tr[data-label="left amygdala"]')
    expect(left.locator(".dice")).to_have_text("0.7500")
    expect(left.locator(".hd95")).to_have_text("0.50")
    expect(page.locator('.mask-row[data-mask="syn7T"]')).to_contain_text("DICOM SEG")
