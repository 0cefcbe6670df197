"""Reads for the reader: their sessions, a reading and its neighbours, reading telemetry
(writes: ``reading.services``)."""

from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Q, QuerySet

from readerstudy.design.washout import session_is_open
from readerstudy.imaging.models import ImageSeries
from readerstudy.reading.models import Reading, ReadingSession, ReadingVisit
from readerstudy.reading.policy import can_open_in_order
from readerstudy.references.models import ReferenceLesion, ReferenceSet, ReferenceStandard
from readerstudy.studies.models import Case, Question, Study
from sr_engine.volume import dicom_affine, slice_normal
from stats.lesion_choice import lesions_chosen


@dataclass(frozen=True)
class AnswerItem:
    """One thing a reader answers in a reading: a question, about the case or about one chosen
    reference lesion (``lesion``, the ``index``-th of the lesions the question's rule chose)."""

    question: Question
    lesion: ReferenceLesion | None = None
    index: int | None = None

    @property
    def key(self) -> str:
        """The item's key in forms and the answers API: the question's key, ``key@n`` for lesion n."""
        return self.question.key if self.index is None else f"{self.question.key}@{self.index}"


def detection_reference_lesions(case: Case) -> list[ReferenceLesion]:
    """The case's lesions in the study's locked detection reference (``ReferenceSet.detection_set``
    over its locked sets, the rule the analysis uses); empty when none is locked."""
    locked = ReferenceSet.objects.filter(study_id=case.study_id, status=ReferenceSet.Status.LOCKED)
    reference_set = ReferenceSet.detection_set(locked)
    if reference_set is None:
        return []
    return list(
        ReferenceLesion.objects.filter(
            reference__reference_set=reference_set,
            reference__case=case,
            reference__kind=ReferenceStandard.Kind.FINAL,
        ).order_by("label", "pk")
    )


def reading_answer_items(reading: Reading) -> list[AnswerItem]:
    """What the reader answers in ``reading``: the questions of its session's phase, in order;
    a lesion question once per lesion its rule chooses from the locked reference
    (``stats.lesion_choice.lesions_chosen``), none for a case without such lesions."""
    questions = list(reading.session.phase.questions.order_by("order", "id"))
    lesions: list[ReferenceLesion] | None = None
    items: list[AnswerItem] = []
    for question in questions:
        if not question.lesion_rule:
            items.append(AnswerItem(question))
            continue
        if lesions is None:
            lesions = detection_reference_lesions(reading.series.case)
        chosen = lesions_chosen(question.lesion_rule, lesions, size=lambda lesion: lesion.size_mm)
        items += [AnswerItem(question, lesion, index) for index, lesion in enumerate(chosen, start=1)]
    return items


def lesion_slice(series: ImageSeries, lesion: ReferenceLesion) -> int:
    """The slice of ``series`` nearest the lesion's centre (patient mm, LPS): the inverse of the
    DICOM image-plane mapping (PS3.3 C.7.6.2.1.1)."""
    slice_vector = slice_normal(series.orientation) * float(series.slice_spacing or 0.0)
    affine = dicom_affine(series.orientation, series.pixel_spacing, slice_vector, series.origin)
    index = (np.linalg.inv(affine) @ np.array([lesion.x_mm, lesion.y_mm, lesion.z_mm, 1.0]))[2]
    return int(min(max(round(float(index)), 0), series.num_slices - 1))


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
        .select_related("phase")
        .order_by("participation__study__name", "phase__order", "number")
    )


def reader_next_open_reading(user) -> Reading | None:
    """The reading a reader goes on with: the first unsubmitted one (in the reader's order) of
    the first of their sessions, in the order of the sessions list, that is open now (an active
    study, the session's dates and washout, ``design.washout.session_window``); None when none is."""
    for session in reader_sessions_list(user).filter(participation__study__status=Study.Status.ACTIVE):
        if not session_is_open(session):
            continue
        upcoming = session.readings.exclude(status=Reading.Status.SUBMITTED).order_by("position").first()
        if upcoming is not None:
            return upcoming
    return None


def reading_neighbours(reading: Reading) -> tuple[Reading | None, Reading | None, int]:
    """The previous and next reading of the same session that the study's navigation lets
    the reader go to (``can_open_in_order``; none back in a sequential study), and
    the session's size."""
    siblings = list(reading.session.readings.order_by("position"))
    index = next(i for i, r in enumerate(siblings) if r.pk == reading.pk)
    previous = siblings[index - 1] if index > 0 else None
    following = siblings[index + 1] if index + 1 < len(siblings) else None
    if reading.session.participation.study.navigation == Study.Navigation.SEQUENTIAL:
        previous = None
        if following is not None and not can_open_in_order(following):
            following = None
    return previous, following, len(siblings)


def reading_next_unsubmitted(reading: Reading) -> Reading | None:
    """The reading to go to after this one: the next unsubmitted one in the session's order,
    else the first unsubmitted one before it; None when the session is done."""
    remaining = reading.session.readings.exclude(status=Reading.Status.SUBMITTED).exclude(pk=reading.pk)
    after = remaining.filter(position__gt=reading.position).order_by("position").first()
    return after or remaining.order_by("position").first()


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


def next_session(session: ReadingSession) -> ReadingSession | None:
    """The reader's session after ``session``: the next of its phase, else the first of a later phase."""
    later = session.participation.sessions.filter(
        Q(phase=session.phase_id, number__gt=session.number) | Q(phase__order__gt=session.phase.order)
    )
    return later.order_by("phase__order", "number").first()


@dataclass(frozen=True)
class PracticeFeedback:
    """The reference of a practice case, shown to the reader once the reading is submitted:
    whether the case is abnormal, its lesions (with the slice of this reading's series) and
    the findings of the finding questions."""

    abnormal: bool | None
    lesions: list[tuple[str, float, int]]
    findings: list[tuple[str, bool]]


def practice_feedback(reading: Reading) -> PracticeFeedback | None:
    """The feedback of a submitted reading of a practice phase; None otherwise (never for a
    phase that is analysed, and never before the reader has submitted)."""
    if not reading.session.phase.is_practice or reading.status != Reading.Status.SUBMITTED:
        return None
    case = reading.series.case
    lesions = detection_reference_lesions(case)
    locked = ReferenceSet.objects.filter(study_id=case.study_id, status=ReferenceSet.Status.LOCKED)
    standard = (
        ReferenceStandard.objects.filter(
            case=case, kind=ReferenceStandard.Kind.FINAL, reference_set__in=locked
        )
        .order_by("-reference_set__locked_at")
        .first()
    )
    texts = dict(reading.session.phase.questions.values_list("key", "text"))
    findings = (
        [(texts[f.key], f.present) for f in standard.findings.order_by("key") if f.key in texts]
        if standard is not None
        else []
    )
    return PracticeFeedback(
        abnormal=standard.is_abnormal if standard is not None else None,
        lesions=[
            (
                lesion.label,
                lesion.size_mm,
                lesion_slice(reading.series, lesion) + 1,
            )
            for lesion in lesions
        ],
        findings=findings,
    )
