"""The demo study that `bin/demo` loads: complete, counterbalanced, idempotent."""

from collections import Counter

import numpy as np
import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from readerstudy import demo as demo_service
from readerstudy.audit.models import AuditEvent
from readerstudy.demo import DEMO_SLUG, demo_study_create
from readerstudy.design.models import ReadingSchedule
from readerstudy.design.washout import session_window
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

    assert demo.name == "Demo: brain metastases, thin vs thick slices"
    assert demo.status == Study.Status.ACTIVE
    assert demo.washout_days == 7
    assert sorted(demo.conditions.values_list("label", flat=True)) == ["HR", "LR"]
    assert all(code.startswith("C-") for code in demo.conditions.values_list("code", flat=True))
    assert demo.cases.count() == N_CASES
    assert ImageSeries.objects.filter(case__study=demo).count() == 2 * N_CASES
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
    hr_first_halves, orders = [], []
    for participation in demo.participations.all():
        sessions = list(participation.sessions.order_by("number"))
        assert [s.number for s in sessions] == [1, 2]
        assert session_window(sessions[0]).is_open
        assert session_window(sessions[1]).waiting_for == 1  # washout counted from completion
        seen = {}
        for session in sessions:
            readings = list(session.readings.select_related("series__case", "series__condition"))
            assert all(r.schedule == schedule for r in readings)
            assert [r.position for r in readings] == list(range(1, N_CASES + 1))
            assert len({r.series.case.code for r in readings}) == N_CASES  # every case once
            assert Counter(r.series.condition.label for r in readings) == {"HR": 3, "LR": 3}
            seen[session.number] = {r.series.case.code: r.series.condition.label for r in readings}
            orders.append(tuple(r.series.case.code for r in readings))
        assert all(seen[1][case] != seen[2][case] for case in seen[1])  # conditions swapped
        hr_first_halves.append(frozenset(c for c, label in seen[1].items() if label == "HR"))
    assert len(set(hr_first_halves)) == 2  # AB/BA: the two halves alternate over the readers
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


def test_command_is_non_interactive_prints_logins_and_resets(capsys):
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
