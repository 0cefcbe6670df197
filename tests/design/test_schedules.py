"""The stored reading schedule: generate a draft, preview its balance, activate it, make versions;
the washout between sessions, enforced on every reader request, and the coordinator's waiver."""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from readerstudy.audit.models import AuditEvent
from readerstudy.design.models import ReadingSchedule, ScheduleImmutable
from readerstudy.design.services import (
    ScheduleError,
    SessionError,
    schedule_activate,
    schedule_draft_create,
    schedule_spec_from_json,
    session_washout_waive,
)
from readerstudy.design.washout import session_window
from readerstudy.reading.models import Reading, ReadingSession
from readerstudy.reading.services import AnswerInput, answers_save, reading_open, reading_submit
from readerstudy.studies.models import Study
from tests import factories as f

pytestmark = pytest.mark.django_db
N_CASES = 6


@pytest.fixture
def draft_study(coordinator, statistician):
    """A draft study: two conditions, six cases with a series under each, two readers, one question."""
    study = f.StudyFactory(
        coordinators=[coordinator], statisticians=[statistician], status=Study.Status.DRAFT
    )
    conditions = [
        f.ConditionFactory(study=study, label=label, order=i) for i, label in enumerate(("LR", "SR"))
    ]
    for n in range(1, N_CASES + 1):
        case = f.CaseFactory(study=study, code=f"C{n:02d}", attributes={"site": "A" if n % 2 else "B"})
        for condition in conditions:
            f.ImageSeriesFactory(case=case, condition=condition)
    for code in ("R1", "R2"):
        f.ReaderParticipationFactory(study=study, code=code, user__username=f"reader-{code}")
    f.QuestionFactory(
        study=study, key="overall", kind="likert", scale=[{"value": v, "label": str(v)} for v in (1, 2, 3)]
    )
    return study


def _readings_as_plan(study: Study) -> list[list]:
    readings = Reading.objects.filter(session__participation__study=study).select_related(
        "session__participation", "series__case", "series__condition"
    )
    return sorted(
        [
            r.session.participation.code,
            r.session.number,
            r.position,
            r.series.case.code,
            r.series.condition.label,
        ]
        for r in readings
    )


def _read_session(session: ReadingSession, user) -> None:
    """Answer and submit every reading of a session through the reader's services."""
    question = session.participation.study.questions.get()
    for reading in session.readings.all():
        reading_open(reading=reading, user=user)
        assert not answers_save(reading=reading, answers={question: AnswerInput(value=2)}, user=user)
        assert reading_submit(reading=reading, user=user) == []


# --- generate and activate ------------------------------------------------------------------


def test_draft_holds_plan_and_balance_and_activation_creates_exactly_the_plan(draft_study, coordinator):
    draft = schedule_draft_create(study=draft_study, actor=coordinator, seed=7)
    assert draft.status == ReadingSchedule.Status.DRAFT and draft.version == 1 and not draft.problems
    assert draft.balance["total"] == 2 * 2 * N_CASES
    assert draft.balance["per_condition"] == {"LR": 2 * N_CASES, "SR": 2 * N_CASES}
    assert not Reading.objects.exists()  # a draft is only a preview

    schedule_activate(schedule=draft, actor=coordinator)
    draft.refresh_from_db()
    draft_study.refresh_from_db()
    assert draft.status == ReadingSchedule.Status.ACTIVE and draft.activated_by == coordinator
    assert draft_study.status == Study.Status.ACTIVE
    assert _readings_as_plan(draft_study) == sorted(draft.plan)
    assert set(Reading.objects.values_list("schedule", flat=True)) == {draft.pk}
    for session in ReadingSession.objects.all():
        labels = Counter(
            r.series.condition.label for r in session.readings.select_related("series__condition")
        )
        assert labels == {"LR": N_CASES // 2, "SR": N_CASES // 2}
    assert AuditEvent.objects.filter(action="schedule.activate", study=draft_study).count() == 1


def test_the_stored_spec_regenerates_the_same_plan_and_the_same_seed_gives_the_same_draft(
    draft_study, coordinator
):
    from readerstudy.design.generator import schedule_generate

    first = schedule_draft_create(study=draft_study, actor=coordinator, seed="protocol-2026")
    plan = first.plan
    regenerated = schedule_generate(schedule_spec_from_json(first.spec))
    assert [[r.reader, r.session, r.position, r.case, r.condition] for r in regenerated.readings] == plan
    again = schedule_draft_create(study=draft_study, actor=coordinator, seed="protocol-2026")
    assert again.plan == plan and again.version == 1  # the draft was replaced, not a new version
    other = schedule_draft_create(study=draft_study, actor=coordinator, seed="protocol-2027")
    assert other.plan != plan
    assert ReadingSchedule.objects.count() == 1


def test_missing_series_are_problems_and_block_activation(draft_study, coordinator):
    case = f.CaseFactory(study=draft_study, code="C99")
    f.ImageSeriesFactory(case=case, condition=draft_study.conditions.get(label="LR"))
    draft = schedule_draft_create(study=draft_study, actor=coordinator, seed=1)
    assert draft.problems == ["Case C99 has no image series for condition SR."]
    with pytest.raises(ScheduleError, match="problem"):
        schedule_activate(schedule=draft, actor=coordinator)
    assert not Reading.objects.exists()


def test_design_errors_are_clear(draft_study, coordinator):
    with pytest.raises(ScheduleError, match="split-plot design needs reader groups or n_groups"):
        schedule_draft_create(study=draft_study, actor=coordinator, seed=1, kind="split_plot")


# --- immutability and versions --------------------------------------------------------------


def test_an_activated_schedule_cannot_be_edited(draft_study, coordinator):
    active = schedule_activate(
        schedule=schedule_draft_create(study=draft_study, actor=coordinator, seed=3), actor=coordinator
    )
    active.seed = "other"
    with pytest.raises(ScheduleImmutable):
        active.save()
    active.refresh_from_db()
    active.plan = []
    with pytest.raises(ScheduleImmutable):
        active.save(update_fields=["plan"])
    with pytest.raises(ScheduleImmutable):
        active.delete()
    with pytest.raises(ScheduleError, match="needs a reason"):
        schedule_draft_create(study=draft_study, actor=coordinator, seed=4)
    active.refresh_from_db()
    assert active.seed == "3" and active.plan


def test_a_new_version_keeps_started_readers_and_replaces_the_rest(draft_study, coordinator):
    v1 = schedule_activate(
        schedule=schedule_draft_create(study=draft_study, actor=coordinator, seed=5), actor=coordinator
    )
    r1 = draft_study.participations.get(code="R1")
    first = r1.sessions.get(number=1).readings.order_by("position").first()
    reading_open(reading=first, user=r1.user)
    kept = set(Reading.objects.filter(session__participation=r1).values_list("pk", flat=True))
    f.ReaderParticipationFactory(study=draft_study, code="R3", user__username="reader-R3")

    v2 = schedule_draft_create(
        study=draft_study, actor=coordinator, seed=6, reason="R3 joined to replace a reader on leave"
    )
    assert v2.version == 2 and v2.carried_over == ["R1"] and not v2.problems
    assert [row for row in v2.plan if row[0] == "R1"] == [row for row in v1.plan if row[0] == "R1"]
    schedule_activate(schedule=v2, actor=coordinator)

    v1.refresh_from_db()
    assert v1.status == ReadingSchedule.Status.SUPERSEDED
    assert set(Reading.objects.filter(session__participation=r1).values_list("pk", flat=True)) == kept
    assert _readings_as_plan(draft_study) == sorted(v2.plan)
    assert Reading.objects.filter(session__participation__code="R3", schedule=v2).count() == 2 * N_CASES
    event = AuditEvent.objects.get(action="schedule.activate", data__after__active_version=2)
    assert event.data["reason"] == "R3 joined to replace a reader on leave"
    assert event.data["before"] == {"active_version": 1} and event.data["after"] == {"active_version": 2}


def test_a_reader_who_started_after_the_draft_blocks_its_activation(draft_study, coordinator):
    schedule_activate(
        schedule=schedule_draft_create(study=draft_study, actor=coordinator, seed=5), actor=coordinator
    )
    v2 = schedule_draft_create(
        study=draft_study, actor=coordinator, seed=6, reason="new seed for the protocol"
    )
    r2 = draft_study.participations.get(code="R2")
    reading_open(reading=r2.sessions.get(number=1).readings.first(), user=r2.user)
    with pytest.raises(ScheduleError, match="R2 started reading after this draft"):
        schedule_activate(schedule=v2, actor=coordinator)


# --- the schedule page ----------------------------------------------------------------------


def test_coordinator_generates_previews_and_activates_on_the_page(client, draft_study, coordinator):
    client.force_login(coordinator)
    url = reverse("readerstudy:study_schedule", args=[draft_study.slug])
    page = client.get(url)
    assert page.status_code == 200 and "No schedule is active yet" in page.content.decode()
    data = {
        "action": "generate",
        "kind": "crossed",
        "seed": "42",
        "stratify_by": "site",
        "block_by": "",
        "reason": "",
    }
    response = client.post(url, data, follow=True)
    html = response.content.decode()
    assert "Draft v1 generated" in html and 'id="balance-table"' in html and "stratified by site" in html
    draft = ReadingSchedule.objects.get()
    assert draft.spec["stratify_by"] == "site" and draft.seed == "42"

    client.post(url, {"action": "activate", "version": "1"})
    again = client.post(url, {"action": "activate", "version": "1"}, follow=True)  # double submit
    assert "no longer there" in again.content.decode()
    assert ReadingSchedule.objects.get().status == ReadingSchedule.Status.ACTIVE
    assert Reading.objects.count() == 2 * 2 * N_CASES

    edit = client.post(url, {**data, "seed": "43"}, follow=True)
    assert "cannot be edited" in edit.content.decode() and ReadingSchedule.objects.count() == 1


@pytest.mark.parametrize("who", ["anonymous", "reader", "statistician", "other_coordinator"])
def test_schedule_page_is_for_the_studys_coordinators_only(client, draft_study, who):
    url = reverse("readerstudy:study_schedule", args=[draft_study.slug])
    if who == "anonymous":
        assert client.get(url).status_code == 302
        return
    user = {
        "reader": lambda: draft_study.participations.first().user,
        "statistician": lambda: draft_study.statisticians.first(),
        "other_coordinator": lambda: f.UserFactory(roles=["coordinator"]),
    }[who]()
    client.force_login(user)
    assert client.get(url).status_code == 403
    assert client.post(url, {"action": "generate", "seed": "1", "kind": "crossed"}).status_code == 403
    assert not ReadingSchedule.objects.exists()


# --- washout --------------------------------------------------------------------------------


@pytest.fixture
def active_study(draft_study, coordinator):
    draft_study.washout_days = 14
    draft_study.save()
    schedule_activate(
        schedule=schedule_draft_create(study=draft_study, actor=coordinator, seed=9), actor=coordinator
    )
    return draft_study


def test_session_two_opens_only_after_the_washout_counted_from_completion(client, active_study):
    participation = active_study.participations.get(code="R1")
    reader = participation.user
    first, second = participation.sessions.order_by("number")
    session_two_reading = second.readings.first()
    url = reverse("readerstudy:reading_detail", args=[session_two_reading.public_id])
    client.force_login(reader)
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        assert client.get(url).status_code == 403  # session 1 not completed
        page = client.get(reverse("readerstudy:reader_sessions")).content.decode()
        assert "Opens 14 days after you complete session 1" in page
        _read_session(first, reader)
    completed = ReadingSession.objects.get(pk=first.pk).completed_at
    assert completed is not None

    with time_machine.travel(completed + timedelta(days=13, hours=23), tick=False):
        assert client.get(url).status_code == 403
        wado = reverse("readerstudy:wado_uri", args=[session_two_reading.public_id])
        assert client.get(wado, {"requestType": "WADO"}).status_code == 403  # every request
        page = client.get(reverse("readerstudy:reader_sessions")).content.decode()
        opens = timezone.localtime(completed + timedelta(days=14))
        assert f"Opens on <strong>{opens:%A} {opens.day} {opens:%B %Y, %H:%M}</strong>" in page

    with time_machine.travel(completed + timedelta(days=14, seconds=1), tick=False):
        client.force_login(reader)  # the login of two weeks ago has expired
        assert client.get(url).status_code == 200
        # Once session 2 is started, session 1 is closed: nothing read before the washout changes.
        assert (
            client.get(
                reverse("readerstudy:reading_detail", args=[first.readings.first().public_id])
            ).status_code
            == 403
        )


def test_coordinator_waives_the_washout_for_one_reader_with_an_audited_reason(
    client, active_study, coordinator
):
    r1, r2 = active_study.participations.get(code="R1"), active_study.participations.get(code="R2")
    for participation in (r1, r2):
        _read_session(participation.sessions.get(number=1), participation.user)
    session = r1.sessions.get(number=2)
    assert not session_window(session).is_open

    client.force_login(coordinator)
    waive = reverse("readerstudy:session_waive_washout", args=[active_study.slug, session.pk])
    refused = client.post(waive, {"reason": "   "}, follow=True)
    assert "Give a reason" in refused.content.decode()
    detail = client.post(waive, {"reason": "Reader leaves the institution next week"}, follow=True)
    assert "Washout waived for R1, session 2" in detail.content.decode()

    session.refresh_from_db()
    assert session_window(session).is_open and session.washout_waived_by == coordinator
    assert not session_window(r2.sessions.get(number=2)).is_open  # only that reader
    event = AuditEvent.objects.get(action="session.washout_waive")
    assert event.actor == coordinator and event.data["reason"] == "Reader leaves the institution next week"
    assert event.data["reader"] == "R1" and event.data["session"] == 2
    client.force_login(r1.user)
    assert (
        client.get(
            reverse("readerstudy:reading_detail", args=[session.readings.first().public_id])
        ).status_code
        == 200
    )
    with pytest.raises(SessionError, match="already waived"):
        session_washout_waive(session=session, actor=coordinator, reason="Reader leaves the institution")


def test_a_waiver_does_not_skip_the_previous_session(active_study, coordinator):
    session = active_study.participations.get(code="R1").sessions.get(number=2)
    session_washout_waive(session=session, actor=coordinator, reason="Reader is travelling for a month")
    assert session_window(session).waiting_for == 1


def test_waiver_is_for_the_studys_coordinators_only(client, active_study):
    participation = active_study.participations.get(code="R1")
    session = participation.sessions.get(number=2)
    client.force_login(participation.user)
    url = reverse("readerstudy:session_waive_washout", args=[active_study.slug, session.pk])
    assert client.post(url, {"reason": "I would like to go on now"}).status_code == 403
    session.refresh_from_db()
    assert session.washout_waived_at is None


def test_progress_shows_counts_times_and_dates_but_no_scores(client, active_study, coordinator):
    participation = active_study.participations.get(code="R1")
    _read_session(participation.sessions.get(number=1), participation.user)
    client.force_login(coordinator)
    html = client.get(reverse("readerstudy:study_detail", args=[active_study.slug])).content.decode()
    assert f"{N_CASES} / {2 * N_CASES}" in html  # R1 overall
    assert f"{N_CASES} / {N_CASES}" in html and "completed" in html  # R1 session 1
    assert "14 d after session 1 is completed" in html  # R2 session 2
    assert "Waive washout" in html
    assert "overall" not in html.split('id="progress"')[1].split("</section>")[0]  # no question, no score


def test_no_waiver_in_a_locked_study_or_before_the_first_session(active_study, coordinator):
    participation = active_study.participations.get(code="R1")
    with pytest.raises(SessionError, match="first session has no washout"):
        session_washout_waive(
            session=participation.sessions.get(number=1), actor=coordinator, reason="Reader is travelling"
        )
    active_study.status = Study.Status.LOCKED
    active_study.save()
    with pytest.raises(SessionError, match="locked"):
        session_washout_waive(
            session=participation.sessions.get(number=2), actor=coordinator, reason="Reader is travelling"
        )


def test_a_reader_who_started_and_left_keeps_their_readings_when_a_new_version_is_activated(
    draft_study, coordinator
):
    schedule_activate(
        schedule=schedule_draft_create(study=draft_study, actor=coordinator, seed=5), actor=coordinator
    )
    r2 = draft_study.participations.get(code="R2")
    reading_open(reading=r2.sessions.get(number=1).readings.first(), user=r2.user)
    kept = set(Reading.objects.filter(session__participation=r2).values_list("pk", flat=True))
    r2.active = False
    r2.save()
    v2 = schedule_draft_create(study=draft_study, actor=coordinator, seed=6, reason="R2 left the study")
    assert not v2.problems and {row[0] for row in v2.plan} == {"R1"}
    schedule_activate(schedule=v2, actor=coordinator)
    assert set(Reading.objects.filter(session__participation=r2).values_list("pk", flat=True)) == kept
    assert Reading.objects.filter(session__participation__code="R1", schedule=v2).count() == 2 * N_CASES
