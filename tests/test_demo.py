"""The demo study that `bin/demo` loads: complete, counterbalanced, idempotent."""

from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from readerstudy.models import AuditEvent, ImageSeries, Reading, ReferenceStandard, Study
from readerstudy.services.demo import DEMO_SLUG, demo_study_create

pytestmark = pytest.mark.django_db
N_CASES = 4


@pytest.fixture
def demo():
    return demo_study_create(n_cases=N_CASES, slices=16)


def test_demo_study_has_cases_conditions_questions_and_references(demo):
    assert demo.status == Study.Status.ACTIVE
    assert sorted(demo.conditions.values_list("label", flat=True)) == ["HR", "LR"]
    assert demo.cases.count() == N_CASES
    assert ImageSeries.objects.filter(case__study=demo).count() == 2 * N_CASES
    hr = ImageSeries.objects.get(case__code="BM01", condition__label="HR")
    lr = ImageSeries.objects.get(case__code="BM01", condition__label="LR")
    assert (hr.num_slices, lr.num_slices) == (16, 4)
    assert (hr.slice_spacing, lr.slice_spacing) == pytest.approx((1.0, 4.0))
    assert demo.questions.filter(kind="likert").count() == 4
    assert demo.questions.filter(kind="finding").count() == 1
    assert len(demo.mark_scale) == 4
    references = ReferenceStandard.objects.filter(case__study=demo)
    assert references.count() == N_CASES and all(r.locked for r in references)
    assert references.filter(is_abnormal=False).exists() and references.filter(is_abnormal=True).exists()
    for reference in references:
        assert reference.lesions.count() == (1 if reference.is_abnormal else 0) or reference.is_abnormal


def test_reference_lesions_lie_inside_their_series(demo):
    for reference in ReferenceStandard.objects.filter(case__study=demo, is_abnormal=True):
        series = reference.case.series.get(condition__label="HR")
        first_z, last_z = series.origin[2], series.origin[2] + (series.num_slices - 1) * series.slice_spacing
        for lesion in reference.lesions.all():
            assert first_z <= lesion.z_mm <= last_z


def test_demo_accounts_have_their_roles(demo):
    users = {u.username: u for u in get_user_model().objects.all()}
    for name, role in [
        ("coordinator", "coordinator"),
        ("reader1", "reader"),
        ("statistician", "statistician"),
    ]:
        assert users[name].check_password("demo")
        assert list(users[name].groups.values_list("name", flat=True)) == [role]
    assert list(demo.coordinators.all()) == [users["coordinator"]]
    assert list(demo.statisticians.all()) == [users["statistician"]]
    assert demo.participations.count() == 3


def test_sessions_are_counterbalanced_and_separated_by_the_washout(demo):
    for participation in demo.participations.all():
        sessions = list(participation.sessions.order_by("number"))
        assert [s.number for s in sessions] == [1, 2]
        assert (sessions[1].opens_at - sessions[0].opens_at).days == demo.washout_days
        seen = {}
        for session in sessions:
            readings = list(session.readings.select_related("series__case", "series__condition"))
            assert sorted(r.position for r in readings) == list(range(1, N_CASES + 1))
            cases = [r.series.case.code for r in readings]
            assert len(set(cases)) == N_CASES  # every case once per session
            assert Counter(r.series.condition.label for r in readings) == {"HR": 2, "LR": 2}
            seen[session.number] = {r.series.case.code: r.series.condition.label for r in readings}
        assert all(seen[1][case] != seen[2][case] for case in seen[1])  # conditions swapped


def test_loading_twice_changes_nothing(demo):
    counts = (Study.objects.count(), ImageSeries.objects.count(), Reading.objects.count())
    assert demo_study_create(n_cases=N_CASES, slices=16) == demo
    assert (Study.objects.count(), ImageSeries.objects.count(), Reading.objects.count()) == counts


def test_no_demo_accounts_outside_the_demo_settings(settings):
    settings.READERSTUDY_DEMO_ACCOUNTS = False
    study = demo_study_create(n_cases=2, slices=16)
    assert not get_user_model().objects.exists()
    assert study.cases.count() == 2
    assert not study.participations.exists()


def test_command_is_non_interactive_prints_logins_and_resets(capsys):
    call_command("load_demo", "--cases", "2")
    out = capsys.readouterr().out
    assert "reader1" in out and "password for all: demo" in out
    call_command("load_demo", "--cases", "2")
    assert "already loaded" in capsys.readouterr().out
    call_command("load_demo", "--cases", "2", "--reset")
    assert Study.objects.get(slug=DEMO_SLUG).status == Study.Status.ACTIVE
    archived = Study.objects.exclude(slug=DEMO_SLUG).get()
    assert archived.status == Study.Status.LOCKED
    assert not archived.participations.filter(active=True).exists()
    assert AuditEvent.objects.filter(action="demo.archive").count() == 1
