"""Writes of a reader: opening a reading, answering its questions, submitting it.

Every write to a reading (answers, marks, position, telemetry, submit) runs inside
``reading_write``: one transaction that holds the reading's row lock and decides on the
locked row whether the reading may still change. Writes to one reading are therefore
serialised, and nothing is accepted after a submit that locked it.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Answer, AuditAction, Question, Reading, ReadingSession
from .audit import audit_event_create

#: Text longer than this is recorded in the audit log as a preview, its length and its hash.
AUDIT_TEXT_PREVIEW = 200


class ReadingLocked(Exception):
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


def reading_is_locked(reading: Reading) -> bool:
    """Whether the reading can no longer change: it was submitted and the study does not keep
    submitted readings editable (those stay editable while their session is open; the views
    refuse closed sessions)."""
    return (
        reading.status == Reading.Status.SUBMITTED
        and not reading.session.participation.study.submitted_editable
    )


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


def audit_text(text: str) -> str | dict[str, object]:
    """How a free text goes into the audit log: itself when short, else a preview, length and hash."""
    if len(text) <= AUDIT_TEXT_PREVIEW:
        return text
    return {
        "preview": text[:AUDIT_TEXT_PREVIEW],
        "length": len(text),
        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    }


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
    if question.kind == Question.Kind.LIKERT:
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


def answers_save(*, reading: Reading, answers: dict[Question, AnswerInput], user) -> dict[str, str]:
    """Store the given answers (insert or update); return {question key: error} for invalid ones.

    Valid answers are saved even when others are invalid, so nothing a reader entered is lost.
    Raises ReadingLocked when the reading can no longer change.
    """
    errors: dict[str, str] = {}
    changed: dict[str, dict[str, object]] = {}
    with reading_write(reading) as locked:
        study = locked.session.participation.study
        for question, given in answers.items():
            if question.study_id != study.pk:
                raise ValueError("Question of another study.")
            reason = _validate(question, given)
            if reason is None and locked.status == Reading.Status.SUBMITTED and question.required:
                draft = Answer(value=given.value, present=given.present, text=given.text)
                if not answer_is_complete(question, draft):
                    reason = f"'{question.text}' is required and this reading was submitted."
            if reason:
                errors[question.key] = reason
                continue
            present = given.present if question.kind == Question.Kind.FINDING else None
            value = None if question.kind == Question.Kind.TEXT else given.value
            text = given.text.strip()
            existing = Answer.objects.filter(reading=locked, question=question).first()
            if existing and (existing.value, existing.present, existing.text) == (value, present, text):
                continue
            if existing is None and value is None and present is None and not text:
                continue
            Answer.objects.update_or_create(
                reading=locked,
                question=question,
                defaults={"value": value, "present": present, "text": text},
            )
            changed[question.key] = {"value": value, "present": present, "text": audit_text(text)}
        if changed:
            reading_set_in_progress(locked)
            audit_event_create(
                actor=user,
                action=AuditAction.ANSWER_SAVE,
                target=locked,
                study=study,
                data={"answers": changed},
            )
    reading.status = locked.status
    return errors


def reading_missing_answers(reading: Reading) -> list[Question]:
    """Required questions of the study not (fully) answered in this reading."""
    study = reading.session.participation.study
    stored = {a.question_id: a for a in reading.answers.all()}
    return [q for q in study.questions.filter(required=True) if not answer_is_complete(q, stored.get(q.pk))]


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
