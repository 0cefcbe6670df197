"""Reads: the queries views and exports use. No writes here."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from . import reference_compare, roles
from .models import (
    Case,
    GenerationJob,
    GenerationTask,
    ReaderParticipation,
    Reading,
    ReadingSchedule,
    ReadingSession,
    ReadingVisit,
    ReferenceSet,
    ReferenceStandard,
    SourceIdentity,
    Study,
)
from .models.generation import ACTIVE_TASK_STATUSES


@dataclass(frozen=True)
class SessionWindow:
    """Whether a reader's session is open now and, if not, when it opens or why it is closed.

    ``opens_at`` is set when the opening date is known; ``waiting_for`` names the earlier
    session the reader must complete first (the opening date is then not known yet).
    """

    is_open: bool
    opens_at: datetime | None = None
    waiting_for: int | None = None
    closed: bool = False
    washout_waived: bool = False

    def describe(self, washout_days: int) -> str:
        """The state in words, for the reader and the coordinator."""
        if self.is_open:
            return "open"
        if self.closed:
            return "closed"
        if self.waiting_for is not None:
            return (
                f"opens {washout_days} day{'s' if washout_days != 1 else ''} after session "
                f"{self.waiting_for} is completed"
            )
        if self.opens_at is not None:
            return f"opens {timezone.localtime(self.opens_at):%Y-%m-%d %H:%M}"
        return "not open"


def session_window(session: ReadingSession, now: datetime | None = None) -> SessionWindow:
    """When ``session`` is open: the one rule every reader request is checked against.

    A session is open from ``opens_at`` (at once if unset) until ``closes_at`` (never if
    unset). Session k > 1 opens only once the reader has completed the session before it
    and the study's washout (``Study.washout_days``) has passed since then, unless a
    coordinator waived the washout for this session (``services.sessions``). A session
    closes once the reader has started a later one, so that nothing read before the
    washout is changed after it.
    """
    now = now or timezone.now()
    if session.closes_at is not None and now >= session.closes_at:
        return SessionWindow(is_open=False, closed=True)
    siblings = session.participation.sessions
    if siblings.filter(number__gt=session.number, started_at__isnull=False).exists():
        return SessionWindow(is_open=False, closed=True)
    opens_at = session.opens_at
    waived = session.washout_waived_at is not None
    previous = siblings.filter(number__lt=session.number).order_by("-number").first()
    if previous is not None:
        if previous.completed_at is None:
            return SessionWindow(is_open=False, waiting_for=previous.number, washout_waived=waived)
        if not waived:
            washout_ends = previous.completed_at + timedelta(days=session.participation.study.washout_days)
            opens_at = max(opens_at, washout_ends) if opens_at else washout_ends
    if opens_at is not None and now < opens_at:
        return SessionWindow(is_open=False, opens_at=opens_at, washout_waived=waived)
    return SessionWindow(is_open=True, opens_at=opens_at, washout_waived=waived)


def session_washout_waiver_refusal(session: ReadingSession) -> str | None:
    """Why the washout before ``session`` cannot be waived, or None when it can."""
    if session.participation.study.status == Study.Status.LOCKED:
        return "The study is locked."
    if not session.participation.sessions.filter(number__lt=session.number).exists():
        return "The first session has no washout before it."
    if session.washout_waived_at is not None:
        return (
            f"The washout before session {session.number} of {session.participation.code} is already waived."
        )
    return None


def session_is_open(session: ReadingSession, now: datetime | None = None) -> bool:
    """Whether the reader may read in ``session`` now (see :func:`session_window`)."""
    return session_window(session, now).is_open


@dataclass(frozen=True)
class ScheduleCoverage:
    """What of a study's design a schedule version plans no reading for.

    ``conditions`` are the study's condition labels (by order) and ``cases`` the codes of
    its cases with at least one series that the schedule's plan never names.
    """

    schedule: ReadingSchedule
    conditions: tuple[str, ...]
    cases: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.conditions and not self.cases


def schedule_plan_labels(schedule: ReadingSchedule) -> tuple[set[str], set[str]]:
    """The condition labels and case codes that the schedule's plan has a reading for."""
    conditions = {row[4] for row in schedule.plan}
    cases = {row[3] for row in schedule.plan}
    return conditions, cases


def schedule_active(study: Study) -> ReadingSchedule | None:
    """The study's active schedule version, if any."""
    return study.schedules.filter(status=ReadingSchedule.Status.ACTIVE).first()


def schedule_coverage(study: Study, schedule: ReadingSchedule | None = None) -> ScheduleCoverage | None:
    """The conditions and cases (with series) of ``study`` that ``schedule`` does not cover.

    ``schedule`` defaults to the active version; None when there is no such schedule.
    """
    schedule = schedule or schedule_active(study)
    if schedule is None:
        return None
    planned_conditions, planned_cases = schedule_plan_labels(schedule)
    conditions = study.conditions.order_by("order", "label").values_list("label", flat=True)
    cases = (
        study.cases.filter(series__isnull=False).distinct().order_by("code").values_list("code", flat=True)
    )
    return ScheduleCoverage(
        schedule=schedule,
        conditions=tuple(label for label in conditions if label not in planned_conditions),
        cases=tuple(code for code in cases if code not in planned_cases),
    )


def reader_sessions_list(user) -> QuerySet[ReadingSession]:
    """The user's own sessions in studies that are not drafts, with their readings."""
    return (
        ReadingSession.objects.filter(participation__user=user, participation__active=True)
        .exclude(participation__study__status=Study.Status.DRAFT)
        .select_related("participation__study")
        .prefetch_related("readings")
        .annotate(
            total=Count("readings"),
            done=Count("readings", filter=Q(readings__status=Reading.Status.SUBMITTED)),
        )
        .order_by("participation__study__name", "number")
    )


def reading_for_reader(public_id) -> Reading:
    """A reading with what its page needs; raises Reading.DoesNotExist."""
    return Reading.objects.select_related("session__participation__study", "series__case__study").get(
        public_id=public_id
    )


def reading_neighbours(reading: Reading) -> tuple[Reading | None, Reading | None, int]:
    """The previous and next reading of the same session that the study's navigation lets
    the reader go to (``roles.can_open_in_order``; none back in a sequential study), and
    the session's size."""
    siblings = list(reading.session.readings.order_by("position"))
    index = next(i for i, r in enumerate(siblings) if r.pk == reading.pk)
    previous = siblings[index - 1] if index > 0 else None
    following = siblings[index + 1] if index + 1 < len(siblings) else None
    if reading.session.participation.study.navigation == Study.Navigation.SEQUENTIAL:
        previous = None
        if following is not None and not roles.can_open_in_order(following):
            following = None
    return previous, following, len(siblings)


def reading_next_unsubmitted(reading: Reading) -> Reading | None:
    """The reading to go to after this one: the next unsubmitted one in the session's order,
    else the first unsubmitted one before it; None when the session is done."""
    remaining = reading.session.readings.exclude(status=Reading.Status.SUBMITTED).exclude(pk=reading.pk)
    after = remaining.filter(position__gt=reading.position).order_by("position").first()
    return after or remaining.order_by("position").first()


def _done_and_total(readings: QuerySet[Reading]) -> tuple[int, int]:
    counts = readings.aggregate(
        total=Count("id"), done=Count("id", filter=Q(status=Reading.Status.SUBMITTED))
    )
    return counts["done"], counts["total"]


def session_progress(session: ReadingSession) -> tuple[int, int]:
    """(submitted readings, all readings) of a session."""
    return _done_and_total(session.readings.all())


@dataclass(frozen=True)
class ReadingTelemetry:
    """What the workstation measured over all visits to one reading."""

    visits: int
    active_seconds: float
    time_to_first_mark_seconds: float | None
    slices_visited: int
    window_changes: int


def reading_telemetry(reading: Reading, visits: list[ReadingVisit] | None = None) -> ReadingTelemetry:
    """Sum the reading's visits: active time, active time before the first mark (over the
    visits in order), distinct slices shown, and window/level changes."""
    if visits is None:
        visits = list(reading.visits.order_by("started_at", "pk"))
    active_before = 0
    first_mark = None
    for visit in visits:
        if visit.first_mark_ms is not None:
            first_mark = (active_before + visit.first_mark_ms) / 1000
            break
        active_before += visit.active_ms
    slices: set[int] = set()
    for visit in visits:
        slices.update(visit.slices)
    return ReadingTelemetry(
        visits=len(visits),
        active_seconds=sum(v.active_ms for v in visits) / 1000,
        time_to_first_mark_seconds=first_mark,
        slices_visited=len(slices),
        window_changes=sum(v.window_changes for v in visits),
    )


def studies_for_user(user) -> QuerySet[Study]:
    """Studies the user coordinates or analyses (all of them for a superuser)."""
    studies = Study.objects.all()
    if not user.is_superuser:
        studies = studies.filter(Q(coordinators=user) | Q(statisticians=user)).distinct()
    return studies.annotate(
        n_cases=Count("cases", distinct=True),
        n_readers=Count("participations", distinct=True),
    )


@dataclass(frozen=True)
class SessionProgress:
    """One reader's session as the coordinator sees it: counts, time and dates, no scores."""

    session: ReadingSession
    done: int
    total: int
    active_seconds: float
    last_activity: datetime | None
    window: SessionWindow
    washout_waivable: bool


@dataclass(frozen=True)
class ReaderProgress:
    """A reader's progress over all sessions of a study."""

    participation: ReaderParticipation
    sessions: list[SessionProgress]

    @property
    def done(self) -> int:
        return sum(s.done for s in self.sessions)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.sessions)

    @property
    def active_seconds(self) -> float:
        return sum(s.active_seconds for s in self.sessions)

    @property
    def last_activity(self) -> datetime | None:
        moments = [s.last_activity for s in self.sessions if s.last_activity]
        return max(moments) if moments else None


def study_reader_progress(study: Study, now: datetime | None = None) -> list[ReaderProgress]:
    """Per reader and session: readings submitted of all, active reading time (from the
    workstation's telemetry), last activity (a reading opened or submitted, or telemetry
    received) and when the session opens. Never any answer or mark."""
    sessions = (
        ReadingSession.objects.filter(participation__study=study)
        .select_related("participation__study")
        .annotate(
            n_total=Count("readings", distinct=True),
            n_done=Count("readings", filter=Q(readings__status=Reading.Status.SUBMITTED), distinct=True),
            last_opened=Max("readings__opened_at"),
            last_submitted=Max("readings__submitted_at"),
        )
        .order_by("number")
    )
    telemetry = {
        row["reading__session"]: row
        for row in ReadingVisit.objects.filter(reading__session__participation__study=study)
        .values("reading__session")
        .annotate(active_ms=Sum("active_ms"), last=Max("updated_at"))
    }
    by_participation: dict[int, list[SessionProgress]] = {}
    for session in sessions:
        visits = telemetry.get(session.pk, {})
        moments = [m for m in (session.last_opened, session.last_submitted, visits.get("last")) if m]
        window = session_window(session, now)
        by_participation.setdefault(session.participation_id, []).append(
            SessionProgress(
                session=session,
                done=session.n_done,
                total=session.n_total,
                active_seconds=(visits.get("active_ms") or 0) / 1000,
                last_activity=max(moments) if moments else None,
                window=window,
                # Offered while the session waits for its washout (not once it is open or closed).
                washout_waivable=not (window.is_open or window.closed)
                and session_washout_waiver_refusal(session) is None,
            )
        )
    return [
        ReaderProgress(participation, by_participation.get(participation.pk, []))
        for participation in study.participations.select_related("user").order_by("code")
    ]


def study_source_identities(study: Study) -> QuerySet[SourceIdentity]:
    return (
        SourceIdentity.objects.filter(series__case__study=study)
        .select_related("series__case", "series__condition")
        .order_by("series__case__code", "series__condition__order")
    )


def study_references(study: Study) -> QuerySet[ReferenceStandard]:
    """The final version of every case in every reference set of the study, set by set
    (by source, newest version first), then by case."""
    return (
        ReferenceStandard.objects.filter(case__study=study, kind=ReferenceStandard.Kind.FINAL)
        .select_related("case", "reference_set")
        .prefetch_related("lesions", "findings")
        .order_by("reference_set__source", "-reference_set__version", "case__code")
    )


#: The columns that say which reading a row of a results table belongs to (unblinded).
READING_KEY_COLUMNS = ["study", "reader", "session", "position", "case", "condition"]


def _reading_key(study: Study, reading: Reading) -> dict[str, object]:
    """The READING_KEY_COLUMNS of a reading (needs its participation, case and condition)."""
    return {
        "study": study.slug,
        "reader": reading.session.participation.code,
        "session": reading.session.number,
        "position": reading.position,
        "case": reading.series.case.code,
        "condition": reading.series.condition.label,
    }


def _isoformat(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


READING_COLUMNS = [
    *READING_KEY_COLUMNS,
    "reading_status",
    "opened_at",
    "submitted_at",
    "marks",
    "visits",
    "active_seconds",
    "time_to_first_mark_seconds",
    "slices_visited",
    "window_changes",
]


def study_reading_rows(study: Study) -> list[dict[str, object]]:
    """One row per reading, unblinded, with its marks count and telemetry (statisticians)."""
    readings = (
        Reading.objects.filter(session__participation__study=study)
        .select_related("session__participation", "series__case", "series__condition")
        .annotate(n_marks=Count("marks", distinct=True))
        .prefetch_related("visits")
        .order_by("session__participation__code", "session__number", "position")
    )
    rows = []
    for reading in readings:
        visits = sorted(reading.visits.all(), key=lambda v: (v.started_at, v.pk))
        telemetry = reading_telemetry(reading, visits)
        rows.append(
            {
                **_reading_key(study, reading),
                "reading_status": reading.status,
                "opened_at": _isoformat(reading.opened_at),
                "submitted_at": _isoformat(reading.submitted_at),
                "marks": reading.n_marks,
                "visits": telemetry.visits,
                "active_seconds": round(telemetry.active_seconds, 3),
                "time_to_first_mark_seconds": ""
                if telemetry.time_to_first_mark_seconds is None
                else round(telemetry.time_to_first_mark_seconds, 3),
                "slices_visited": telemetry.slices_visited,
                "window_changes": telemetry.window_changes,
            }
        )
    return rows


# ----------------------------------------------------------------------------- reference standard
# Reads of reference sets, drafts, discrepancies and finals (writes: services.references).
# Views check roles.can_* before calling these: readers of a study never reach them.


@dataclass(frozen=True)
class ReferenceCaseProgress:
    """Where one case stands in a reference set: the reviewers' drafts and the final version."""

    case: Case
    drafts: list[ReferenceStandard]
    final: ReferenceStandard | None

    @property
    def submitted(self) -> int:
        return sum(1 for draft in self.drafts if draft.submitted_at is not None)

    @property
    def ready(self) -> bool:
        """Every draft started is submitted (and there is one): the case can be adjudicated."""
        return bool(self.drafts) and self.submitted == len(self.drafts)


@dataclass(frozen=True)
class ReferenceSetOverview:
    """One reference set of a study with its reviewers and the progress of every case."""

    reference_set: ReferenceSet
    reviewers: list
    cases: list[ReferenceCaseProgress]

    @property
    def finals(self) -> int:
        return sum(1 for row in self.cases if row.final is not None)

    @property
    def drafts_submitted(self) -> int:
        return sum(row.submitted for row in self.cases)

    @property
    def drafts_expected(self) -> int:
        return len(self.reviewers) * len(self.cases)


def reference_sets_overview(study: Study) -> list[ReferenceSetOverview]:
    """Every reference set of the study (by source, newest version first) and its cases.

    A set with reviewers lists every case of the study; an imported set the cases it has finals for.
    """
    sets = list(
        study.reference_sets.select_related("adjudicator", "created_by", "locked_by")
        .prefetch_related("reviewers")
        .order_by("source", "-version")
    )
    finals = {(final.reference_set_id, final.case_id): final for final in study_references(study)}
    drafts: dict[tuple[int, int], list[ReferenceStandard]] = {}
    for draft in (
        ReferenceStandard.objects.filter(reference_set__study=study, kind=ReferenceStandard.Kind.DRAFT)
        .select_related("author")
        .order_by("author__username")
    ):
        drafts.setdefault((draft.reference_set_id, draft.case_id), []).append(draft)
    cases = list(study.cases.order_by("code"))
    overview = []
    for reference_set in sets:
        reviewers = sorted(reference_set.reviewers.all(), key=lambda user: user.get_username())
        rows = [
            ReferenceCaseProgress(
                case, drafts.get((reference_set.pk, case.pk), []), finals.get((reference_set.pk, case.pk))
            )
            for case in cases
            if reviewers or (reference_set.pk, case.pk) in finals
        ]
        overview.append(ReferenceSetOverview(reference_set, reviewers, rows))
    return overview


def reference_sets_for_user(user) -> list[ReferenceSet]:
    """Open sets the user reviews or adjudicates, never one of a study the user reads in."""
    sets = (
        ReferenceSet.objects.filter(status=ReferenceSet.Status.OPEN)
        .filter(Q(reviewers=user) | Q(adjudicator=user))
        .distinct()
        .select_related("study")
        .order_by("study__name", "source", "-version")
    )
    return [s for s in sets if not roles.reads_study(user, s.study)]


@dataclass(frozen=True)
class ReviewerCase:
    """A case as a reviewer sees it in their list: their own draft, if started."""

    case: Case
    draft: ReferenceStandard | None
    has_images: bool


def reference_reviewer_cases(reference_set: ReferenceSet, user) -> list[ReviewerCase]:
    """Every case of the set's study with the user's own draft (never anybody else's)."""
    own = {
        draft.case_id: draft
        for draft in reference_set.standards.filter(kind=ReferenceStandard.Kind.DRAFT, author=user)
    }
    cases = reference_set.study.cases.annotate(n_series=Count("series")).order_by("code")
    return [ReviewerCase(case, own.get(case.pk), case.n_series > 0) for case in cases]


def reference_draft_for_request(public_id) -> ReferenceStandard:
    """A draft with what its pages need; raises ReferenceStandard.DoesNotExist."""
    return ReferenceStandard.objects.select_related(
        "reference_set__study", "case", "author", "series__case__study"
    ).get(public_id=public_id, kind=ReferenceStandard.Kind.DRAFT)


def reference_case_drafts(reference_set: ReferenceSet, case: Case) -> QuerySet[ReferenceStandard]:
    """The reviewers' drafts of one case in a set, with their lesions and findings."""
    return (
        reference_set.standards.filter(case=case, kind=ReferenceStandard.Kind.DRAFT)
        .select_related("author", "series", "case")
        .prefetch_related("lesions", "findings")
        .order_by("author__username", "pk")
    )


def reference_compare_draft(draft: ReferenceStandard) -> reference_compare.Draft:
    """A stored draft as ``reference_compare`` takes it (named by its id)."""
    return reference_compare.Draft(
        name=str(draft.pk),
        is_abnormal=draft.is_abnormal,
        lesions=tuple(
            reference_compare.LesionDraft(
                label=lesion.label,
                x_mm=lesion.x_mm,
                y_mm=lesion.y_mm,
                z_mm=lesion.z_mm,
                size_mm=lesion.size_mm,
                lesion_type=lesion.lesion_type,
                slice_index=lesion.slice_index,
                x=lesion.x,
                y=lesion.y,
            )
            for lesion in sorted(draft.lesions.all(), key=lambda lesion: lesion.label)
        ),
        findings={finding.key: (finding.present, finding.grade) for finding in draft.findings.all()},
    )


@dataclass(frozen=True)
class OptionView:
    """An option of a discrepancy with the names of the reviewers who gave it."""

    option: reference_compare.Option
    reviewers: list[str]


@dataclass(frozen=True)
class ItemView:
    """An item of the comparison with a title for people (the question's text for findings)."""

    item: reference_compare.Item
    title: str
    options: list[OptionView]


@dataclass(frozen=True)
class CaseDiscrepancies:
    """The drafts of one case compared: discrepancies with the reviewers' options, agreed items."""

    reference_set: ReferenceSet
    case: Case
    submitted: list[ReferenceStandard]
    drafting: list[ReferenceStandard]
    not_started: list
    comparison: reference_compare.Comparison | None
    discrepancies: list[ItemView]
    agreed: list[ItemView]
    final: ReferenceStandard | None
    adjudication: dict | None

    @property
    def ready(self) -> bool:
        """Whether the case can be adjudicated: submitted drafts and none still being drafted."""
        return bool(self.submitted) and not self.drafting

    @property
    def stale(self) -> bool:
        """Whether the final was made from other drafts than the case has now."""
        if self.final is None or self.adjudication is None:
            return False
        return self.adjudication.get("drafts") != sorted(d.pk for d in self.submitted + self.drafting)


def _item_title(item: reference_compare.Item, questions: dict[str, str]) -> str:
    if item.kind == reference_compare.ABNORMAL:
        return "Case abnormal"
    number = item.key.split(":", 1)[1]
    if item.kind == reference_compare.FINDING:
        return questions.get(number, number)
    return f"Lesion {number}"


def reference_discrepancies(reference_set: ReferenceSet, case: Case) -> CaseDiscrepancies:
    """Compare the submitted drafts of a case (``reference_compare``): what the adjudicator decides."""
    drafts = list(reference_case_drafts(reference_set, case))
    submitted = [d for d in drafts if d.submitted_at is not None]
    drafting = [d for d in drafts if d.submitted_at is None]
    started = {d.author_id for d in drafts}
    not_started = [user for user in reference_set.reviewers.order_by("username") if user.pk not in started]
    comparison = None
    if submitted:
        comparison = reference_compare.compare_drafts([reference_compare_draft(d) for d in submitted])
    reviewer_of = {str(d.pk): d.author.get_username() for d in submitted}
    questions = dict(reference_set.study.questions.values_list("key", "text"))

    def view(item: reference_compare.Item) -> ItemView:
        options = [OptionView(o, [reviewer_of[name] for name in o.drafts]) for o in item.options]
        return ItemView(item, _item_title(item, questions), options)

    final = reference_final(reference_set, case)
    return CaseDiscrepancies(
        reference_set=reference_set,
        case=case,
        submitted=submitted,
        drafting=drafting,
        not_started=not_started,
        comparison=comparison,
        discrepancies=[view(item) for item in comparison.discrepancies] if comparison else [],
        agreed=[view(item) for item in comparison.agreed] if comparison else [],
        final=final,
        adjudication=reference_set.provenance.get("adjudications", {}).get(case.code)
        or reference_set.provenance.get("cases", {}).get(case.code, {}).get("adjudication"),
    )


def reference_final(reference_set: ReferenceSet, case: Case) -> ReferenceStandard | None:
    """The final version of a case in a set, with its lesions and findings; None before adjudication."""
    return (
        reference_set.standards.filter(case=case, kind=ReferenceStandard.Kind.FINAL)
        .select_related("case", "series")
        .prefetch_related("lesions", "findings")
        .first()
    )


# --------------------------------------------------------------------------- generation jobs


def generation_task_stale_before() -> datetime:
    """Tasks queued or running but silent since before this moment are lost (their worker died)."""
    return timezone.now() - timedelta(seconds=settings.READERSTUDY_JOBS_STALE_SECONDS)


def generation_tasks_retryable(job: GenerationJob) -> QuerySet[GenerationTask]:
    """Failed tasks, and queued or running ones that have been silent for too long (lost)."""
    stale = Q(status__in=ACTIVE_TASK_STATUSES, updated_at__lt=generation_task_stale_before())
    return job.tasks.filter(Q(status=GenerationTask.Status.FAILED) | stale)


def generation_jobs_for_study(study: Study) -> QuerySet[GenerationJob]:
    """The study's jobs, newest first, with their conditions, creator and tasks (by case code)."""
    return (
        study.generation_jobs.select_related("source_condition", "target_condition", "created_by")
        .prefetch_related("tasks__case", "tasks__output_series")
        .order_by("-created_at", "-id")
    )


def generation_jobs_state(study: Study) -> dict[str, Any]:
    """The jobs' and tasks' state as JSON-able data (what the console polls)."""
    jobs = []
    for job in generation_jobs_for_study(study):
        jobs.append(
            {
                "id": job.pk,
                "status": job.status,
                "tasks": [
                    {
                        "id": task.pk,
                        "case": task.case.code,
                        "status": task.status,
                        "progress": round(task.progress, 3),
                        "error": task.error,
                        "attempts": task.attempts,
                    }
                    for task in job.tasks.all()
                ],
            }
        )
    return {"jobs": jobs, "running": any(job["status"] == GenerationJob.Status.RUNNING for job in jobs)}


# ---- Objective image-quality measurements
# Reads of measurement ROIs, their values per condition, CNRs and image fidelity (writes:
# services.measurements). Views check roles.can_view_measurements first: never readers.
# The section's imports stay with it, so that it is one block of this shared file.

from collections import Counter  # noqa: E402

from .models import (  # noqa: E402
    Condition,
    FidelityReference,
    FidelityResult,
    ImageSeries,
    MeasurementCNR,
    MeasurementCNRValue,
    MeasurementROI,
    MeasurementValue,
)

#: The metrics of each kind of ROI, in the order tables list them.
MEASUREMENT_METRICS: dict[str, tuple[str, ...]] = {
    "line": ("fwhm_mm", "edge_rise_distance_mm", "edge_rise_slope"),
    "circle": ("mean", "sd", "snr"),
    "cnr": ("cnr",),
}
#: The keys of a ``measurement_rows`` row.
MEASUREMENT_ROW_KEYS = ["case", "condition", "roi", "kind", "metric", "value"]
#: The keys of a ``fidelity_rows`` row (``note`` says why a row has no values).
FIDELITY_ROW_KEYS = [
    "case",
    "condition",
    "reference",
    "psnr",
    "ssim",
    "rmse",
    "psnr_tissue",
    "ssim_tissue",
    "note",
]


def measurement_cases(study: Study) -> QuerySet[Case]:
    """The study's cases with their number of series (``n_series``) and of ROIs (``n_rois``)."""
    return study.cases.annotate(
        n_series=Count("series", distinct=True), n_rois=Count("measurement_rois", distinct=True)
    ).order_by("code")


def measurement_case_series(case: Case) -> list[ImageSeries]:
    """The case's series, one per condition, in the conditions' order."""
    return list(
        case.series.select_related("condition", "case__study").order_by(
            "condition__order", "condition__label"
        )
    )


def measurement_roi_names(rois) -> dict[int, str]:
    """ROI id -> its name in tables: the label, with its number when another ROI of the case has
    the same label ("muscle #3"), or "ROI <number>" without a label."""
    labels = Counter((roi.case_id, roi.label) for roi in rois if roi.label)
    return {
        roi.pk: (roi.label if labels[(roi.case_id, roi.label)] == 1 else f"{roi.label} #{roi.number}")
        if roi.label
        else f"ROI {roi.number}"
        for roi in rois
    }


def _cnr_name(cnr: MeasurementCNR, names: dict[int, str]) -> str:
    return cnr.label or f"{names[cnr.roi_a_id]} vs {names[cnr.roi_b_id]}"


def _value_state(value: MeasurementValue) -> dict[str, Any]:
    return {
        "slice": value.slice_index,
        "plane_distance_mm": value.plane_distance_mm,
        "points": value.points,
        "length_mm": value.length_mm,
        **{
            metric: getattr(value, metric)
            for metric in MEASUREMENT_METRICS["line"] + MEASUREMENT_METRICS["circle"]
        },
        "n_pixels": value.n_pixels,
        "profile": value.profile,
        "notes": value.notes,
        "error": value.error,
    }


def measurement_case_state(case: Case) -> dict[str, Any]:
    """The case's ROIs and CNRs with their values per series (keyed by the series' public id), as
    JSON-able data: what the measuring page shows and its API answers."""
    rois = list(case.measurement_rois.select_related("drawn_on").prefetch_related("values__series"))
    names = measurement_roi_names(rois)
    by_pk = {roi.pk: roi for roi in rois}
    cnrs = list(case.measurement_cnrs.prefetch_related("values__series"))
    return {
        "rois": [
            {
                "client_id": str(roi.client_id),
                "number": roi.number,
                "name": names[roi.pk],
                "kind": roi.kind,
                "label": roi.label,
                "points_mm": roi.points_mm,
                "radius_mm": roi.radius_mm,
                "drawn_on": str(roi.drawn_on.public_id) if roi.drawn_on else None,
                "drawn_slice": roi.drawn_slice,
                "drawn_points": roi.drawn_points,
                "values": {str(value.series.public_id): _value_state(value) for value in roi.values.all()},
            }
            for roi in rois
        ],
        "cnrs": [
            {
                "client_id": str(cnr.client_id),
                "name": _cnr_name(cnr, names),
                "label": cnr.label,
                "a": str(by_pk[cnr.roi_a_id].client_id),
                "b": str(by_pk[cnr.roi_b_id].client_id),
                "values": {
                    str(value.series.public_id): {"value": value.value, "error": value.error}
                    for value in cnr.values.all()
                },
            }
            for cnr in cnrs
        ],
    }


def measurement_rows(study: Study) -> list[dict[str, Any]]:
    """One row per ROI x condition x metric with a value, for tables, tests and exports.

    Keys (``MEASUREMENT_ROW_KEYS``): ``case`` (case code), ``condition`` (condition label),
    ``roi`` (the ROI's name: its label, "label #n" when the case has several ROIs with that
    label, "ROI n" without one; for a CNR its label or "<ROI A> vs <ROI B>"), ``kind``
    ("line", "circle" or "cnr"), ``metric`` (``MEASUREMENT_METRICS``: "fwhm_mm",
    "edge_rise_distance_mm", "edge_rise_slope"; "mean", "sd", "snr"; "cnr") and ``value``
    (a float). A metric that is not defined on a series (e.g. no FWHM on a profile across
    a single edge, an ROI outside the series) has no row. Ordered by case, ROI (CNRs after
    the ROIs), condition and metric.
    """
    rois = list(MeasurementROI.objects.filter(case__study=study).select_related("case"))
    names = measurement_roi_names(rois)
    rows: list[tuple[tuple, dict[str, Any]]] = []
    values = MeasurementValue.objects.filter(roi__case__study=study).select_related(
        "roi__case", "series__condition"
    )
    for value in values:
        roi, condition = value.roi, value.series.condition
        for position, metric in enumerate(MEASUREMENT_METRICS[roi.kind]):
            number = getattr(value, metric)
            if number is None:
                continue
            key = (roi.case.code, 0, roi.number, condition.order, condition.label, position)
            rows.append(
                (
                    key,
                    {
                        "case": roi.case.code,
                        "condition": condition.label,
                        "roi": names[roi.pk],
                        "kind": roi.kind,
                        "metric": metric,
                        "value": float(number),
                    },
                )
            )
    cnr_values = MeasurementCNRValue.objects.filter(
        cnr__case__study=study, value__isnull=False
    ).select_related("cnr__case", "series__condition")
    for value in cnr_values:
        cnr, condition = value.cnr, value.series.condition
        key = (cnr.case.code, 1, cnr.created_at, cnr.pk, condition.order, condition.label, 0)
        rows.append(
            (
                key,
                {
                    "case": cnr.case.code,
                    "condition": condition.label,
                    "roi": _cnr_name(cnr, names),
                    "kind": "cnr",
                    "metric": "cnr",
                    "value": float(value.value),
                },
            )
        )
    rows.sort(key=lambda item: item[0])
    return [row for _, row in rows]


def fidelity_reference_condition(study: Study) -> Condition | None:
    """The condition image fidelity is measured against: the coordinator's choice
    (``FidelityReference``), else the condition labelled "HR" (any case), else None."""
    chosen = FidelityReference.objects.filter(study=study).select_related("condition").first()
    if chosen is not None:
        return chosen.condition
    return study.conditions.filter(label__iexact="HR").order_by("order", "pk").first()


def fidelity_rows(study: Study) -> list[dict[str, Any]]:
    """One row per case x condition compared with the reference (``FIDELITY_ROW_KEYS``): ``case``,
    ``condition``, ``reference`` (labels), ``psnr`` (dB), ``ssim``, ``rmse``, ``psnr_tissue``,
    ``ssim_tissue`` (None where not computed) and ``note`` (why not: e.g. "not on the reference
    grid"; empty otherwise), as last computed by ``services.measurements.fidelity_compute``."""
    results = (
        FidelityResult.objects.filter(case__study=study)
        .select_related("case", "condition", "reference")
        .order_by("case__code", "condition__order", "condition__label")
    )
    return [
        {
            "case": result.case.code,
            "condition": result.condition.label,
            "reference": result.reference.label,
            "psnr": result.psnr,
            "ssim": result.ssim,
            "rmse": result.rmse,
            "psnr_tissue": result.psnr_tissue,
            "ssim_tissue": result.ssim_tissue,
            "note": result.note,
        }
        for result in results
    ]
