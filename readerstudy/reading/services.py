"""Writes of a reader: opening a reading, answering its questions, submitting it.

Every write to a reading (answers, marks, position, telemetry, submit) runs inside
``reading_write``: one transaction that holds the reading's row lock and decides on the
locked row whether the reading may still change. Writes to one reading are therefore
serialised, and nothing is accepted after a submit that locked it.

Also here: lesion marks (placed, moved, re-rated or deleted, idempotently by client id) and
reading telemetry (what the workstation reports about one page visit).
"""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create, audit_text
from readerstudy.errors import Conflict, ServiceError
from readerstudy.imaging.models import ImageSeries
from readerstudy.reading.models import Answer, LesionMark, Reading, ReadingSession, ReadingVisit
from readerstudy.reading.policy import reading_is_locked
from readerstudy.reading.selectors import AnswerItem, reading_answer_items
from readerstudy.studies.models import Question
from sr_engine.volume import dicom_affine, slice_normal


class ReadingLocked(Conflict):
    """The reading was submitted and can no longer change."""


@dataclass(frozen=True)
class AnswerInput:
    """What a reader entered for one question; unset fields are ``None``/empty."""

    value: int | None = None
    present: bool | None = None
    text: str = ""


def answer_text_max_length() -> int:
    """The longest free text an answer may hold (``READERSTUDY_ANSWER_TEXT_MAX_LENGTH``)."""
    return int(getattr(settings, "READERSTUDY_ANSWER_TEXT_MAX_LENGTH", 10_000))


def text_refusal(text: str, *, max_length: int, what: str = "The text") -> str | None:
    """Why ``text`` cannot be stored (a NUL character, or too long), or None."""
    if "\x00" in text:
        return f"{what} contains a NUL character, which cannot be stored."
    if len(text) > max_length:
        return f"{what} is {len(text)} characters long; at most {max_length} are allowed."
    return None


def reading_check_editable(reading: Reading) -> None:
    """Raise ReadingLocked when the reading can no longer change."""
    if reading_is_locked(reading):
        raise ReadingLocked("This reading has been submitted and can no longer be changed.")


@contextmanager
def reading_write(reading: Reading) -> Iterator[Reading]:
    """A transaction holding the row lock of ``reading``; yields the locked, current row.

    Raises ReadingLocked (before anything is written) when the current row can no longer
    change. Every write of a reader to a reading goes through here.
    """
    with transaction.atomic():
        locked = (
            Reading.objects.select_for_update(of=("self",))
            .select_related("session__participation__study", "series")
            .get(pk=reading.pk)
        )
        reading_check_editable(locked)
        yield locked


def reading_set_in_progress(reading: Reading) -> None:
    """Move a pending reading to in progress (a conditional update: never moves it back)."""
    if reading.status == Reading.Status.PENDING:
        Reading.objects.filter(pk=reading.pk, status=Reading.Status.PENDING).update(
            status=Reading.Status.IN_PROGRESS
        )
        reading.status = Reading.Status.IN_PROGRESS


def _validate(question: Question, given: AnswerInput) -> str | None:
    """The reason ``given`` is not a valid answer to ``question``, or None."""
    refusal = text_refusal(
        given.text, max_length=answer_text_max_length(), what=f"The answer to '{question.text}'"
    )
    if refusal:
        return refusal
    if question.kind == Question.Kind.TEXT:
        return None
    if question.kind == Question.Kind.FINDING and given.present is False and given.value is not None:
        return "A finding marked absent takes no confidence."
    if given.value is not None and given.value not in question.scale_values():
        return f"{given.value} is not a point of the scale of '{question.text}'."
    return None


def answer_is_complete(question: Question, answer: Answer | None) -> bool:
    """Whether a stored answer fully answers the question (for required questions)."""
    if answer is None:
        return False
    if question.kind == Question.Kind.TEXT:
        return bool(answer.text.strip())
    if question.takes_value:
        return answer.value is not None
    # A finding: absent, or present with a confidence when the question has a scale.
    if answer.present is None:
        return False
    return answer.present is False or not question.scale or answer.value is not None


def reading_open(*, reading: Reading, user) -> Reading:
    """Mark the reading (and its session) as started the first time the reader opens it."""
    if reading.opened_at is not None:
        return reading
    now = timezone.now()
    with transaction.atomic():
        reading = Reading.objects.select_for_update().get(pk=reading.pk)
        if reading.opened_at is None:
            reading.opened_at = now
            if reading.status == Reading.Status.PENDING:
                reading.status = Reading.Status.IN_PROGRESS
            reading.save(update_fields=["opened_at", "status"])
            session = reading.session
            if session.started_at is None:
                session.started_at = now
                session.save(update_fields=["started_at"])
            audit_event_create(
                actor=user, action=AuditAction.READING_OPEN, target=reading, study=session.participation.study
            )
    return reading


def answers_save(
    *, reading: Reading, answers: Mapping[Question, AnswerInput] | Mapping[AnswerItem, AnswerInput], user
) -> dict[str, str]:
    """Store the given answers (insert or update); return {item key: error} for invalid ones.

    A key is a question (asked once per reading) or an :class:`AnswerItem` (a question about
    one chosen reference lesion, ``reading.selectors.reading_answer_items``). Valid answers
    are saved even when others are invalid, so nothing a reader entered is lost. Raises
    ReadingLocked when the reading can no longer change.
    """
    errors: dict[str, str] = {}
    before: dict[str, dict[str, object] | None] = {}
    after: dict[str, dict[str, object] | None] = {}
    with reading_write(reading) as locked:
        study = locked.session.participation.study
        for asked, given in answers.items():
            item = asked if isinstance(asked, AnswerItem) else AnswerItem(asked)
            question = item.question
            if question.study_id != study.pk:
                raise ValueError("Question of another study.")
            if question.phase_id != locked.session.phase_id:
                raise ValueError("Question of another phase.")
            if question.lesion_rule and item.lesion is None:
                raise ValueError("A lesion question is answered per lesion.")
            reason = _validate(question, given)
            if reason is None and locked.status == Reading.Status.SUBMITTED and question.required:
                draft = Answer(value=given.value, present=given.present, text=given.text)
                if not answer_is_complete(question, draft):
                    reason = f"'{question.text}' is required and this reading was submitted."
            if reason:
                errors[item.key] = reason
                continue
            present = given.present if question.kind == Question.Kind.FINDING else None
            value = None if question.kind == Question.Kind.TEXT else given.value
            text = given.text.strip()
            existing = Answer.objects.filter(reading=locked, question=question, lesion=item.lesion).first()
            if existing and (existing.value, existing.present, existing.text) == (value, present, text):
                continue
            if existing is None and value is None and present is None and not text:
                continue
            Answer.objects.update_or_create(
                reading=locked,
                question=question,
                lesion=item.lesion,
                defaults={"value": value, "present": present, "text": text},
            )
            before[item.key] = (
                {"value": existing.value, "present": existing.present, "text": audit_text(existing.text)}
                if existing is not None
                else None
            )
            after[item.key] = {"value": value, "present": present, "text": audit_text(text)}
        if after:
            reading_set_in_progress(locked)
            audit_event_create(
                actor=user,
                action=AuditAction.ANSWER_SAVE,
                target=locked,
                study=study,
                data=audit_change(before, after),
            )
    reading.status = locked.status
    return errors


def reading_missing_items(reading: Reading) -> list[AnswerItem]:
    """The items of required questions not (fully) answered in the reading, in order."""
    stored = {(a.question_id, a.lesion_id): a for a in reading.answers.all()}
    return [
        item
        for item in reading_answer_items(reading)
        if item.question.required
        and not answer_is_complete(
            item.question, stored.get((item.question.pk, item.lesion.pk if item.lesion else None))
        )
    ]


def reading_missing_answers(reading: Reading) -> list[Question]:
    """Required questions of the reading's phase not (fully) answered in it (a lesion
    question is missing while any lesion it is about is unanswered)."""
    missing: list[Question] = []
    for item in reading_missing_items(reading):
        if item.question not in missing:
            missing.append(item.question)
    return missing


def reading_submit(*, reading: Reading, user) -> list[Question]:
    """Submit the reading if every required question is answered.

    Returns the unanswered required questions (empty on success). Idempotent: only the
    first submit sets ``submitted_at`` and writes the ``reading.submit`` event; a later one
    (another tab, a retried request) changes nothing.
    """
    with transaction.atomic():
        locked = (
            Reading.objects.select_for_update(of=("self",))
            .select_related("session__participation__study")
            .get(pk=reading.pk)
        )
        if locked.status == Reading.Status.SUBMITTED:
            reading.status, reading.submitted_at = locked.status, locked.submitted_at
            return []
        missing = reading_missing_answers(locked)
        if missing:
            return missing
        now = timezone.now()
        moved = (
            Reading.objects.filter(pk=locked.pk)
            .exclude(status=Reading.Status.SUBMITTED)
            .update(status=Reading.Status.SUBMITTED, submitted_at=now)
        )
        if moved:
            was = locked.status
            session = locked.session
            if not session.readings.exclude(status=Reading.Status.SUBMITTED).exists():
                ReadingSession.objects.filter(pk=session.pk, completed_at__isnull=True).update(
                    completed_at=now
                )
            audit_event_create(
                actor=user,
                action=AuditAction.READING_SUBMIT,
                target=locked,
                study=session.participation.study,
                data=audit_change(
                    {"status": was, "submitted_at": None},
                    {"status": Reading.Status.SUBMITTED, "submitted_at": now.isoformat()},
                ),
            )
    reading.refresh_from_db(fields=["status", "submitted_at"])
    return []


def reading_position_save(*, reading: Reading, slice_index: int) -> None:
    """Remember the slice the reader is on, so that the reading resumes there.

    Raises ValueError for a slice outside the series and ReadingLocked when the reading can
    no longer change.
    """
    with reading_write(reading) as locked:
        if not 0 <= slice_index < locked.series.num_slices:
            raise ValueError(f"Slice {slice_index} is outside the series.")
        Reading.objects.filter(pk=locked.pk).update(last_slice=slice_index)


class MarkInvalid(ServiceError, ValueError):
    """The mark does not fit the series or the study's confidence scale."""


def patient_position(
    series: ImageSeries, slice_index: float, x: float, y: float
) -> tuple[float, float, float]:
    """Patient coordinates (LPS, mm) of pixel index (column x, row y) on a slice (DICOM PS3.3 C.7.6.2.1.1).

    DICOM indices count pixel centres: (0, 0) is the centre of the top-left pixel.
    """
    slice_vector = slice_normal(series.orientation) * float(series.slice_spacing or 0.0)
    affine = dicom_affine(series.orientation, series.pixel_spacing, slice_vector, series.origin)
    return tuple(float(v) for v in (affine @ np.array([x, y, slice_index, 1.0]))[:3])  # type: ignore[return-value]


def viewer_patient_position(
    series: ImageSeries, slice_index: float, x: float, y: float
) -> tuple[float, float, float]:
    """Patient coordinates (LPS, mm) of a point in the workstation's image coordinates.

    The workstation (Cornerstone3D, ``utilities.imageToWorldCoords``) measures image
    points from the top-left *corner* of the image: pixel (i, j) covers [i, i + 1) x
    [j, j + 1) and has its centre at (i + 0.5, j + 0.5). Marks and drafted lesions arrive
    in these coordinates (``0 <= x < columns``); as a DICOM index the point is
    (x - 0.5, y - 0.5).
    """
    return patient_position(series, slice_index, x - 0.5, y - 0.5)


#: Longest label a mark may carry (the model's field length).
MARK_LABEL_MAX_LENGTH = 200

#: The fields of a mark that its audit events record.
_MARK_FIELDS = ("slice_index", "x", "y", "patient_x", "patient_y", "patient_z", "rating", "label")


def mark_save(
    *,
    reading: Reading,
    client_id: uuid.UUID,
    slice_index: int,
    x: float,
    y: float,
    rating: int,
    label: str = "",
    user,
) -> tuple[LesionMark, bool]:
    """Create or update the mark with this client id; returns (mark, created).

    Same input, same result: a repeated or concurrent PUT of one client id is an update.
    Raises MarkInvalid for a mark that does not fit, ReadingLocked when the reading can no
    longer change.
    """
    label = label.strip()
    refusal = text_refusal(label, max_length=MARK_LABEL_MAX_LENGTH, what="The mark's label")
    if refusal:
        raise MarkInvalid(refusal)
    with reading_write(reading) as locked:
        series = locked.series
        study = locked.session.participation.study
        scale = [point["value"] for point in study.mark_scale]
        if not scale:
            raise MarkInvalid("This study has no lesion marking.")
        if not locked.session.phase.takes_marks:
            raise MarkInvalid(f"Lesions are not marked in the {locked.session.phase.name} phase.")
        if rating not in scale:
            raise MarkInvalid(
                f"Confidence {rating} is not on the study's scale ({', '.join(map(str, scale))})."
            )
        if not 0 <= slice_index < series.num_slices:
            raise MarkInvalid(f"Slice {slice_index} is outside the series (0 to {series.num_slices - 1}).")
        if not (0 <= x < series.columns and 0 <= y < series.rows):
            raise MarkInvalid("The mark lies outside the image.")
        px, py, pz = viewer_patient_position(series, slice_index, x, y)
        values = {
            "slice_index": slice_index,
            "x": x,
            "y": y,
            "patient_x": px,
            "patient_y": py,
            "patient_z": pz,
            "rating": rating,
            "label": label,
        }
        mark = LesionMark.objects.filter(reading=locked, client_id=client_id).first()
        if mark is not None and all(getattr(mark, k) == v for k, v in values.items()):
            return mark, False
        created = mark is None
        before = None if mark is None else {key: getattr(mark, key) for key in values}
        if mark is None:
            mark = LesionMark.objects.create(reading=locked, client_id=client_id, **values)
        else:
            for key, value in values.items():
                setattr(mark, key, value)
            mark.save()
        reading_set_in_progress(locked)
        audit_event_create(
            actor=user,
            action=AuditAction.MARK_CREATE if created else AuditAction.MARK_UPDATE,
            target=locked,
            study=study,
            data={"client_id": str(client_id), **audit_change(before, values)},
        )
    return mark, created


def mark_delete(*, reading: Reading, client_id: uuid.UUID, user) -> bool:
    """Delete the mark with this client id; False if there was none (deleting twice is harmless)."""
    with reading_write(reading) as locked:
        mark = LesionMark.objects.filter(reading=locked, client_id=client_id).first()
        before = None if mark is None else {key: getattr(mark, key) for key in _MARK_FIELDS}
        deleted, _ = LesionMark.objects.filter(reading=locked, client_id=client_id).delete()
        if deleted:
            audit_event_create(
                actor=user,
                action=AuditAction.MARK_DELETE,
                target=locked,
                study=locked.session.participation.study,
                data={"client_id": str(client_id), **audit_change(before, None)},
            )
    return bool(deleted)


#: Upper bound of one visit's figures, to keep a broken or hostile client from storing nonsense.
MAX_VISIT_MS = 7 * 24 * 3600 * 1000
#: Most slice numbers one report may list (a workstation reports each shown slice once).
MAX_REPORTED_SLICES = 10_000


class TelemetryInvalid(ServiceError, ValueError):
    """The report does not fit the reading (negative times, slices outside the series...)."""


@dataclass(frozen=True)
class VisitReport:
    """Cumulative figures of one page visit so far (they only grow during a visit)."""

    active_ms: int
    first_mark_ms: int | None
    slices: list[int]
    window_changes: int


def reading_visit_record(*, reading: Reading, client_id: uuid.UUID, report: VisitReport) -> ReadingVisit:
    """Store a visit's report, keeping the largest figures seen and the union of the slices.

    Reports are cumulative, so repeating one or receiving an older one late changes nothing.
    Raises TelemetryInvalid for figures that cannot be true and ReadingLocked when the
    reading was submitted and locked (its time on task is final).
    """
    numbers = (report.active_ms, report.window_changes, report.first_mark_ms or 0)
    if any(n < 0 or n > MAX_VISIT_MS for n in numbers):
        raise TelemetryInvalid("Times and counts must be between 0 and one week.")
    if len(report.slices) > MAX_REPORTED_SLICES:
        raise TelemetryInvalid(f"At most {MAX_REPORTED_SLICES} slice numbers may be reported at once.")
    slices = set(report.slices)
    with reading_write(reading) as locked:
        n_slices = locked.series.num_slices
        if any(not 0 <= s < n_slices for s in slices):
            raise TelemetryInvalid(f"Slices must lie between 0 and {n_slices - 1}.")
        visit, _ = ReadingVisit.objects.get_or_create(reading=locked, client_id=client_id)
        visit.active_ms = max(visit.active_ms, report.active_ms)
        visit.window_changes = max(visit.window_changes, report.window_changes)
        if report.first_mark_ms is not None:
            visit.first_mark_ms = (
                report.first_mark_ms
                if visit.first_mark_ms is None
                else min(visit.first_mark_ms, report.first_mark_ms)
            )
        visit.slices = sorted(set(visit.slices) | slices)
        visit.save()
    return visit
