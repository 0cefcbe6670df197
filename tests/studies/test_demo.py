"""The demo study that `bin/demo` loads: complete (HR, LR and SR by the SR engine), crossed, idempotent."""

from collections import Counter

import numpy as np
import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from readerstudy import demo as demo_service
from readerstudy.audit.models import AuditEvent
from readerstudy.demo import DEMO_SLUG, demo_study_create
from readerstudy.design.models import ReadingSchedule
from readerstudy.design.washout import session_window
from readerstudy.generation.models import GenerationJob, GenerationTask
from readerstudy.imaging.models import ImageSeries
from readerstudy.reading.models import Reading, ReadingSession
from readerstudy.references.models import ReferenceLesion, ReferenceSet, ReferenceStandard
from readerstudy.studies.models import Study

pytestmark = pytest.mark.django_db
N_CASES = 6
SLICES = 16


@pytest.fixture
def demo():
    return demo_study_create(n_cases=N_CASES, slices=SLICES)


def test_demo_study_has_cases_conditions_questions_and_references(demo):
    counts = (Study.objects.count(), ImageSeries.objects.count(), Reading.objects.count())
    assert demo_study_create(n_cases=N_CASES, slices=SLICES) == demo  # loading twice changes nothing
    assert (Study.objects.count(), ImageSeries.objects.count(), Reading.objects.count()) == counts

    assert demo.name == "Demo: brain metastases, LR vs SR vs HR"
    assert demo.status == Study.Status.ACTIVE
    assert demo.washout_days == 7
    assert list(demo.conditions.order_by("order").values_list("label", flat=True)) == ["HR", "LR", "SR"]
    assert all(code.startswith("C-") for code in demo.conditions.values_list("code", flat=True))
    assert demo.cases.count() == N_CASES
    assert ImageSeries.objects.filter(case__study=demo).count() == 3 * N_CASES
    for label in ("HR", "LR", "SR"):  # one series per case and condition
        assert ImageSeries.objects.filter(case__study=demo, condition__label=label).count() == N_CASES
    hr = ImageSeries.objects.get(case__study=demo, case__code="BM01", condition__label="HR")
    lr = ImageSeries.objects.get(case__study=demo, case__code="BM01", condition__label="LR")
    assert (hr.num_slices, lr.num_slices) == (SLICES, SLICES // 4)
    assert (hr.slice_spacing, lr.slice_spacing) == pytest.approx((1.0, 4.0))
    assert (hr.slice_thickness, lr.slice_thickness) == pytest.approx((1.0, 4.0))
    # The thick slices are centred on the thin slices they average: 1.5 mm further along z.
    assert lr.origin[2] == pytest.approx(hr.origin[2] + 1.5)
    assert Counter(demo.questions.values_list("kind", flat=True)) == {"likert": 4, "finding": 1, "text": 1}
    assert len(demo.questions.get(key="overall_quality").scale) == 5
    assert not demo.questions.get(kind="text").required
    assert [point["value"] for point in demo.mark_scale] == [1, 2, 3, 4]
    assert AuditEvent.objects.filter(study=demo, action="demo.create").count() == 1


def _voxels(series: ImageSeries) -> np.ndarray:
    """The stored series as a [slice, row, column] array of real values (rescale applied)."""
    planes = []
    for instance in series.instances.order_by("slice_index"):
        with instance.file.open("rb") as handle:
            ds = pydicom.dcmread(handle)
        slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
        planes.append(ds.pixel_array.astype(float) * slope + intercept)
    return np.stack(planes)


def test_every_case_has_an_sr_series_on_the_hr_grid_that_differs_from_lr_and_hr(demo):
    for case in demo.cases.order_by("code"):
        hr, lr, sr = (
            ImageSeries.objects.get(case=case, condition__label=label) for label in ("HR", "LR", "SR")
        )
        assert (sr.num_slices, sr.slice_spacing) == (hr.num_slices, pytest.approx(hr.slice_spacing))
        assert sr.slice_thickness == pytest.approx(1.0)
        assert sr.origin == pytest.approx(hr.origin) and sr.orientation == pytest.approx(hr.orientation)
        assert sr.study_instance_uid == lr.study_instance_uid  # the derived series joins the source's study
        hr_voxels, lr_voxels, sr_voxels = _voxels(hr), _voxels(lr), _voxels(sr)
        thick_copied = np.repeat(lr_voxels, 4, axis=0)  # LR shown on the 1 mm grid, slice by slice
        assert sr_voxels.shape == hr_voxels.shape == thick_copied.shape
        assert not np.allclose(sr_voxels, hr_voxels, atol=1.0)
        assert not np.allclose(sr_voxels, thick_copied, atol=1.0)
        # A plausible SR arm: nearer to the thin slices than the thick slices are (inside the
        # slab; beyond the outer thick slices' centres every method extrapolates).
        inner = hr_voxels[4:-4]
        sr_error, thick_error = (
            float(np.sqrt(np.mean((a[4:-4] - inner) ** 2))) for a in (sr_voxels, thick_copied)
        )
        assert sr_error < thick_error, case.code


def test_sr_is_generated_from_lr_by_the_generation_service_with_its_provenance(demo):
    job = GenerationJob.objects.get(study=demo)
    assert (job.source_condition.label, job.target_condition.label) == ("LR", "SR")
    assert (job.method, job.factor, job.status) == (demo_service.SR_METHOD, 4, GenerationJob.Status.DONE)
    assert job.target_condition.description == "Generated from LR by tci x4"
    tasks = list(job.tasks.select_related("case", "output_series__condition"))
    assert sorted(task.case.code for task in tasks) == sorted(demo.cases.values_list("code", flat=True))
    lr_inputs = set()
    for task in tasks:
        # Done before any commit (the test's transaction never commits): run in the caller.
        assert task.status == GenerationTask.Status.DONE and task.attempts == 1 and not task.error
        assert task.output_series == ImageSeries.objects.get(case=task.case, condition__label="SR")
        provenance = task.provenance
        assert (provenance["method"], provenance["factor"], provenance["axis"]) == ("tci", 4, "slice")
        assert provenance["sr_engine_version"] and len(provenance["input_sha256"]) == 64
        lr_inputs.add(provenance["input_sha256"])
    assert len(lr_inputs) == N_CASES  # each task read its own case's LR series
    actions = list(AuditEvent.objects.filter(study=demo).values_list("action", flat=True))
    assert actions.count("generation.start") == actions.count("generation.finish") == 1
    start = AuditEvent.objects.get(study=demo, action="generation.start")
    assert (start.data["source"], start.data["target"], start.data["method"]) == ("LR", "SR", "tci")


def test_references_are_locked_and_hold_the_inserted_lesions(demo):
    references = ReferenceStandard.objects.filter(case__study=demo)
    assert references.count() == N_CASES
    reference_set = demo.reference_sets.get()
    assert reference_set.locked and reference_set.source == ReferenceSet.Source.SIMULATION
    assert all(
        r.reference_set == reference_set and r.kind == ReferenceStandard.Kind.FINAL for r in references
    )
    counts = Counter(r.is_abnormal for r in references)
    assert counts[True] and counts[False]
    for reference in references:
        n_lesions = reference.lesions.count()
        assert (1 <= n_lesions <= 3) if reference.is_abnormal else n_lesions == 0
        assert reference.case.attributes["lesion_count"] == n_lesions
    lesions = ReferenceLesion.objects.filter(reference__case__study=demo)
    assert set(lesions.values_list("lesion_type", flat=True)) == {"metastasis"}
    assert all(3 <= lesion.size_mm <= 15 for lesion in lesions)


def _stored_slice(series: ImageSeries, point_mm: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The stored pixels of the slice through ``point_mm`` (LPS) and the point's (column, row)."""
    row_dir, col_dir = np.array(series.orientation[:3]), np.array(series.orientation[3:])
    offset = point_mm - np.array(series.origin)
    row_spacing, col_spacing = series.pixel_spacing
    slice_index = round(float(offset @ np.cross(row_dir, col_dir)) / series.slice_spacing)
    instance = series.instances.get(slice_index=slice_index)
    with instance.file.open("rb") as handle:
        pixels = pydicom.dcmread(handle).pixel_array.astype(float)
    return pixels, float(offset @ row_dir) / col_spacing, float(offset @ col_dir) / row_spacing


def test_reference_lesions_are_bright_where_the_imported_series_put_them(demo):
    lesions = ReferenceLesion.objects.filter(reference__case__study=demo).select_related("reference")
    assert lesions.exists()
    for lesion in lesions:
        series = ImageSeries.objects.get(case=lesion.reference.case, condition__label="HR")
        pixels, column, row = _stored_slice(series, np.array([lesion.x_mm, lesion.y_mm, lesion.z_mm]))
        rows, columns = np.indices(pixels.shape)
        distance = np.hypot(columns - column, rows - row)  # 1 mm pixels
        radius = lesion.size_mm / 2
        rim = (distance >= 0.65 * radius) & (distance <= 0.9 * radius)  # enhances, solid or ring
        around = (distance >= radius + 1.5) & (distance <= radius + 3)
        assert pixels[rim].mean() > 1.05 * pixels[around].mean(), lesion


def test_demo_accounts_have_their_roles(demo):
    users = {u.username: u for u in get_user_model().objects.all()}
    expected = {
        "coordinator": "coordinator",
        "reader1": "reader",
        "reader2": "reader",
        "reader3": "reader",
        "statistician": "statistician",
    }
    assert set(users) == set(expected)
    for name, role in expected.items():
        assert users[name].check_password("demo")
        assert list(users[name].groups.values_list("name", flat=True)) == [role]
    assert list(demo.coordinators.all()) == [users["coordinator"]]
    assert list(demo.statisticians.all()) == [users["statistician"]]
    codes = dict(demo.participations.values_list("code", "user__username"))
    assert codes == {"R1": "reader1", "R2": "reader2", "R3": "reader3"}


def test_sessions_follow_the_active_counterbalanced_schedule(demo):
    schedule = demo.schedules.get()
    assert schedule.status == ReadingSchedule.Status.ACTIVE and not schedule.problems
    hr_first_thirds, orders = [], []
    for participation in demo.participations.all():
        sessions = list(participation.sessions.order_by("number"))
        assert [s.number for s in sessions] == [1, 2, 3]  # a session per condition
        assert session_window(sessions[0]).is_open
        assert session_window(sessions[1]).waiting_for == 1  # washout counted from completion
        seen = {}
        for session in sessions:
            readings = list(session.readings.select_related("series__case", "series__condition"))
            assert all(r.schedule == schedule for r in readings)
            assert [r.position for r in readings] == list(range(1, N_CASES + 1))
            assert len({r.series.case.code for r in readings}) == N_CASES  # every case once
            assert Counter(r.series.condition.label for r in readings) == {"HR": 2, "LR": 2, "SR": 2}
            seen[session.number] = {r.series.case.code: r.series.condition.label for r in readings}
            orders.append(tuple(r.series.case.code for r in readings))
        for case in seen[1]:  # every case under every condition, once (fully crossed)
            assert sorted(seen[number][case] for number in seen) == ["HR", "LR", "SR"]
        hr_first_thirds.append(frozenset(c for c, label in seen[1].items() if label == "HR"))
    assert len(set(hr_first_thirds)) == 3  # Latin square: the thirds rotate over the readers
    assert len(set(orders)) > 1  # shuffled


def test_no_demo_accounts_outside_the_demo_settings(settings):
    settings.READERSTUDY_DEMO_ACCOUNTS = False
    study = demo_study_create(n_cases=2, slices=16)
    assert not get_user_model().objects.exists()
    assert study.cases.count() == 2
    assert not study.participations.exists()
    assert not ReadingSession.objects.exists()


def test_a_failed_load_leaves_no_half_built_study(monkeypatch):
    def broken_import(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(demo_service, "dicom_import", broken_import)
    with pytest.raises(OSError, match="disk full"):
        demo_study_create(n_cases=2, slices=16)
    assert not Study.objects.exists()


@pytest.fixture
def var_dir(settings, tmp_path, monkeypatch):
    """A READERSTUDY_VAR_DIR of the test's own, and no PORT in the environment."""
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("PORT", raising=False)
    return tmp_path


def test_command_is_non_interactive_prints_logins_and_resets(capsys, var_dir):
    call_command("load_demo", "--cases", "2")
    out = capsys.readouterr().out
    assert "reader1       demo      reader" in out
    assert "http://127.0.0.1:8000/accounts/login/" in out
    call_command("load_demo", "--cases", "2")
    assert "already loaded" in capsys.readouterr().out
    assert Study.objects.count() == 1
    call_command("load_demo", "--cases", "2", "--reset")
    assert Study.objects.get(slug=DEMO_SLUG).status == Study.Status.ACTIVE
    archived = Study.objects.exclude(slug=DEMO_SLUG).get()
    assert archived.status == Study.Status.LOCKED
    assert not archived.participations.filter(active=True).exists()
    assert AuditEvent.objects.filter(action="demo.archive").count() == 1


def test_the_login_url_after_reset_names_the_port_the_demo_is_served_on(capsys, var_dir, monkeypatch):
    call_command("load_demo", "--cases", "2", "--port", "8101")  # what `PORT=8101 bash bin/demo` runs
    assert "Log in at http://127.0.0.1:8101/accounts/login/" in capsys.readouterr().out
    # Later, in another shell (no --port, no PORT): the README's rebuild command.
    call_command("load_demo", "--cases", "2", "--reset")
    out = capsys.readouterr().out
    assert "Archived the previous demo study" in out
    assert "Log in at http://127.0.0.1:8101/accounts/login/" in out and ":8000/" not in out
    monkeypatch.setenv("PORT", "8102")  # the environment's PORT, then --port, take precedence
    call_command("load_demo", "--cases", "2", "--reset")
    assert "Log in at http://127.0.0.1:8102/accounts/login/" in capsys.readouterr().out
    call_command("load_demo", "--cases", "2", "--reset", "--port", "8103")
    assert "Log in at http://127.0.0.1:8103/accounts/login/" in capsys.readouterr().out
    assert (var_dir / "demo-port").read_text() == "8103\n"


def test_a_port_that_is_not_a_number_is_refused(var_dir):
    with pytest.raises(CommandError, match="--port must be a port number"):
        call_command("load_demo", "--cases", "2", "--port", "80; rm")
    assert not Study.objects.exists()
