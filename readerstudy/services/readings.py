"""Writes of a reader: opening a reading, answering its questions, submitting it."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ..models import Answer, Question, Reading
from .audit import audit_event_create


class ReadingLocked(Exception):
    """The reading was submitted and can no longer change."""


@dataclass(frozen=True)
class AnswerInput:
    """What a reader entered for one question; unset fields are ``None``/empty."""

    value: int | None = None
    present: bool | None = None
    text: str = ""


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


def _validate(question: Question, given: AnswerInput) -> str | None:
    """The reason ``given`` is not a valid answer to ``question``, or None."""
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
                actor=user, action="reading.open", target=reading, study=session.participation.study
            )
    return reading


def answers_save(*, reading: Reading, answers: dict[Question, AnswerInput], user) -> dict[str, str]:
    """Store the given answers (insert or update); return {question key: error} for invalid ones.

    Valid answers are saved even when others are invalid, so nothing a reader entered is lost.
    """
    reading_check_editable(reading)
    errors: dict[str, str] = {}
    changed: dict[str, dict[str, object]] = {}
    with transaction.atomic():
        for question, given in answers.items():
            if question.study_id != reading.session.participation.study_id:
                raise ValueError("Question of another study.")
            reason = _validate(question, given)
            if reason is None and reading.status == Reading.Status.SUBMITTED and question.required:
                draft = Answer(value=given.value, present=given.present, text=given.text)
                if not answer_is_complete(question, draft):
                    reason = f"'{question.text}' is required and this reading was submitted."
            if reason:
                errors[question.key] = reason
                continue
            present = given.present if question.kind == Question.Kind.FINDING else None
            value = None if question.kind == Question.Kind.TEXT else given.value
            text = given.text.strip()
            existing = Answer.objects.filter(reading=reading, question=question).first()
            if existing and (existing.value, existing.present, existing.text) == (value, present, text):
                continue
            if existing is None and value is None and present is None and not text:
                continue
            Answer.objects.update_or_create(
                reading=reading,
                question=question,
                defaults={"value": value, "present": present, "text": text},
            )
            changed[question.key] = {"value": value, "present": present, "text": text}
        if changed:
            if reading.status == Reading.Status.PENDING:
                reading.status = Reading.Status.IN_PROGRESS
                reading.save(update_fields=["status"])
            audit_event_create(
                actor=user,
                action="answer.save",
                target=reading,
                study=reading.session.participation.study,
                data={"answers": changed},
            )
    return errors


def reading_missing_answers(reading: Reading) -> list[Question]:
    """Required questions of the study not (fully) answered in this reading."""
    study = reading.session.participation.study
    stored = {a.question_id: a for a in reading.answers.all()}
    return [q for q in study.questions.filter(required=True) if not answer_is_complete(q, stored.get(q.pk))]


def reading_submit(*, reading: Reading, user) -> list[Question]:
    """Submit the reading if every required question is answered.

    Returns the unanswered required questions (empty on success). Submitting twice is harmless.
    """
    with transaction.atomic():
        reading = Reading.objects.select_for_update().select_related("session").get(pk=reading.pk)
        if reading.status == Reading.Status.SUBMITTED:
            return []
        missing = reading_missing_answers(reading)
        if missing:
            return missing
        now = timezone.now()
        reading.status = Reading.Status.SUBMITTED
        reading.submitted_at = now
        reading.save(update_fields=["status", "submitted_at"])
        session = reading.session
        if not session.readings.exclude(status=Reading.Status.SUBMITTED).exists():
            session.completed_at = now
            session.save(update_fields=["completed_at"])
        audit_event_create(
            actor=user, action="reading.submit", target=reading, study=session.participation.study
        )
    return []


def reading_position_save(*, reading: Reading, slice_index: int) -> None:
    """Remember the slice the reader is on, so that the reading resumes there."""
    if not 0 <= slice_index < reading.series.num_slices:
        raise ValueError(f"Slice {slice_index} is outside the series.")
    Reading.objects.filter(pk=reading.pk).update(last_slice=slice_index)
