"""Reads: the queries views and exports use. No writes here."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import (
    Answer,
    ReaderParticipation,
    Reading,
    ReadingSession,
    ReferenceStandard,
    SourceIdentity,
    Study,
)


def session_is_open(session: ReadingSession, now: datetime | None = None) -> bool:
    """A session is open from ``opens_at`` (or always, if unset) until ``closes_at``."""
    now = now or timezone.now()
    if session.opens_at is not None and now < session.opens_at:
        return False
    return session.closes_at is None or now < session.closes_at


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
    return Reading.objects.select_related("session__participation__study", "series").get(public_id=public_id)


def reading_neighbours(reading: Reading) -> tuple[Reading | None, Reading | None, int]:
    """The previous and next reading of the same session and the session's size."""
    siblings = list(reading.session.readings.order_by("position"))
    index = next(i for i, r in enumerate(siblings) if r.pk == reading.pk)
    previous = siblings[index - 1] if index > 0 else None
    following = siblings[index + 1] if index + 1 < len(siblings) else None
    return previous, following, len(siblings)


def reading_next_unsubmitted(reading: Reading) -> Reading | None:
    """The reading to go to after this one: the next unsubmitted one in the session's order,
    else the first unsubmitted one before it; None when the session is done."""
    remaining = reading.session.readings.exclude(status=Reading.Status.SUBMITTED).exclude(pk=reading.pk)
    after = remaining.filter(position__gt=reading.position).order_by("position").first()
    return after or remaining.order_by("position").first()


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
class ReaderProgress:
    participation: ReaderParticipation
    done: int
    total: int
    last_activity: datetime | None


def study_reader_progress(study: Study) -> list[ReaderProgress]:
    """Readings done and in total per reader; no scores."""
    rows = []
    participations = study.participations.select_related("user").order_by("code")
    for participation in participations:
        readings = Reading.objects.filter(session__participation=participation)
        stats = readings.aggregate(
            total=Count("id"), done=Count("id", filter=Q(status=Reading.Status.SUBMITTED))
        )
        last = (
            readings.exclude(submitted_at=None)
            .order_by("-submitted_at")
            .values_list("submitted_at", flat=True)
        ).first()
        rows.append(ReaderProgress(participation, stats["done"], stats["total"], last))
    return rows


def study_source_identities(study: Study) -> QuerySet[SourceIdentity]:
    return (
        SourceIdentity.objects.filter(series__case__study=study)
        .select_related("series__case", "series__condition")
        .order_by("series__case__code", "series__condition__order")
    )


def study_references(study: Study) -> QuerySet[ReferenceStandard]:
    return (
        ReferenceStandard.objects.filter(case__study=study)
        .select_related("case")
        .prefetch_related("lesions", "findings")
        .order_by("case__code", "source", "-version")
    )


RESULT_COLUMNS = [
    "study",
    "reader",
    "session",
    "position",
    "case",
    "condition",
    "question",
    "value",
    "present",
    "text",
    "reading_status",
    "submitted_at",
]


def study_answer_rows(study: Study) -> list[dict[str, object]]:
    """One row per answer, unblinded (condition labels): the statistician's long table."""
    answers = (
        Answer.objects.filter(reading__session__participation__study=study)
        .select_related(
            "question",
            "reading__session__participation",
            "reading__series__case",
            "reading__series__condition",
        )
        .order_by(
            "reading__session__participation__code",
            "reading__session__number",
            "reading__position",
            "question__order",
        )
    )
    rows = []
    for answer in answers:
        reading = answer.reading
        rows.append(
            {
                "study": study.slug,
                "reader": reading.session.participation.code,
                "session": reading.session.number,
                "position": reading.position,
                "case": reading.series.case.code,
                "condition": reading.series.condition.label,
                "question": answer.question.key,
                "value": "" if answer.value is None else answer.value,
                "present": "" if answer.present is None else int(answer.present),
                "text": answer.text,
                "reading_status": reading.status,
                "submitted_at": reading.submitted_at.isoformat() if reading.submitted_at else "",
            }
        )
    return rows
