"""Writes of a coordinator setting up a study: create it from a template, edit its questions,
invite and deactivate readers, lock it when reading is done.

Questions can change only while the study is a draft and nobody has recorded anything in
it (``study_not_editable_reason``): answers refer to questions, and a scale that changes
under readers would make their answers meaningless.
"""

from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create
from readerstudy.errors import ServiceError
from readerstudy.reading.models import Answer, LesionMark, Reading
from readerstudy.standalone.models import code_taken
from readerstudy.studies.models import Condition, Question, ReaderParticipation, ReadingPhase, Study
from readerstudy.studies.policy import READER
from readerstudy.studies.study_templates import scale_as_json, study_template_get


class StudySetupError(ServiceError, ValueError):
    """A set-up change that the study's state or data does not allow; the message says why."""


class UnknownStudyTemplate(StudySetupError):
    """No study template has the given key."""


class SlugTaken(StudySetupError):
    """Another study already has this slug."""


class StudyNotEditable(StudySetupError):
    """The study's questions can no longer change (not a draft, or readers have recorded answers)."""


class StudyNotLockable(StudySetupError):
    """Only a study whose reading is open can be locked."""


class ReaderInviteError(StudySetupError):
    """A reader could not be invited; ``field`` names the form field at fault, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ReaderAlreadyInvited(ReaderInviteError):
    """The same user was already invited with the same code (e.g. a form submitted twice)."""

    def __init__(self, message: str, *, participation: ReaderParticipation) -> None:
        super().__init__(message)
        self.participation = participation


# --- creating a study ------------------------------------------------------------------------


def study_create_from_template(
    *, template_key: str, name: str, slug: str, washout_days: int, actor: Any, description: str = ""
) -> Study:
    """Create a draft study with the template's conditions, questions and mark scale.

    The actor becomes a coordinator of the study. An empty description takes the
    template's. Raises ``UnknownStudyTemplate``, ``SlugTaken`` or ``ValidationError``.
    """
    template = study_template_get(template_key)
    if template is None:
        raise UnknownStudyTemplate(f"There is no study template '{template_key}'.")
    slug = slug.strip()
    if Study.objects.filter(slug=slug).exists():
        raise SlugTaken(f"A study with the slug '{slug}' already exists.")
    study = Study(
        name=name.strip(),
        slug=slug,
        description=description.strip() or template.description,
        washout_days=washout_days,
        mark_scale=scale_as_json(template.mark_scale),
        analysis_settings=dict(template.analysis_settings),
        status=Study.Status.DRAFT,
    )
    study.full_clean(validate_unique=False, validate_constraints=False)
    with transaction.atomic():
        try:
            with transaction.atomic():
                study.save()
        except IntegrityError as exc:
            raise SlugTaken(f"A study with the slug '{slug}' already exists.") from exc
        conditions = Condition.objects.bulk_create(
            Condition(study=study, label=c.label, description=c.description, order=order)
            for order, c in enumerate(template.conditions)
        )
        by_label = {condition.label: condition for condition in conditions}
        study.phases.all().delete()  # the default phase; the template's phases replace it
        order = 0
        for number, phase_template in enumerate(template.phases, start=1):
            phase = ReadingPhase.objects.create(
                study=study,
                order=number,
                key=phase_template.key,
                name=phase_template.name,
                kind=phase_template.kind,
                takes_marks=phase_template.takes_marks,
                washout_days=phase_template.washout_days,
                layout=phase_template.layout,
                reference_condition=by_label[phase_template.reference] if phase_template.reference else None,
            )
            phase.conditions.set([by_label[label] for label in phase_template.conditions])
            for q in phase_template.questions:
                Question.objects.create(
                    study=study,
                    phase=phase,
                    key=q.key,
                    text=q.text,
                    help_text=q.help_text,
                    kind=q.kind,
                    scale=scale_as_json(q.scale),
                    required=q.required,
                    lesion_rule=q.lesion_rule,
                    order=order,
                )
                order += 1
        if actor is not None and getattr(actor, "is_authenticated", False):
            study.coordinators.add(actor)
        data: dict[str, Any] = {
            "template": template.key,
            "conditions": template.condition_labels,
            "questions": [q.key for q in template.all_questions],
            "mark_scale": bool(template.mark_scale),
            "washout_days": washout_days,
        }
        if template.explicit_phases:
            data["phases"] = [phase.key for phase in template.phases]
        audit_event_create(actor=actor, action=AuditAction.STUDY_CREATE, target=study, study=study, data=data)
    return study


# --- phases ----------------------------------------------------------------------------------


def _phase_snapshot(phase: ReadingPhase) -> dict[str, Any]:
    return {
        "key": phase.key,
        "name": phase.name,
        "kind": phase.kind,
        "takes_marks": phase.takes_marks,
        "washout_days": phase.washout_days,
        "conditions": sorted(phase.conditions.values_list("label", flat=True)) if phase.pk else [],
        "layout": phase.layout,
        "reference": phase.reference_label,
    }


def _phase_layout_check(phase: ReadingPhase, chosen: list[Condition] | None) -> None:
    """The hanging protocol's rules: a comparative phase shows at least two conditions, its
    reference is one of them, it takes no lesion marks; its questions fit its layout."""
    if chosen is None:
        chosen = list(phase.conditions.all()) if phase.pk else []
    shown = chosen or list(phase.study.conditions.all())
    questions = list(phase.questions.all()) if phase.pk else []
    if not phase.is_comparative:
        if phase.reference_condition_id is not None:
            raise ValidationError(
                {"reference": "Only a comparative phase shows a condition labelled as the reference."}
            )
        comparative = [q.key for q in questions if q.is_comparative]
        if comparative:
            raise ValidationError(
                {
                    "layout": f"The comparative question(s) {', '.join(comparative)} "
                    "need the comparative layout."
                }
            )
        return
    if len(shown) < 2:
        raise ValidationError(
            {
                "conditions": "A comparative phase shows at least two conditions side by side: "
                "tick two or more."
            }
        )
    if phase.reference_condition_id is not None and phase.reference_condition_id not in {c.pk for c in shown}:
        raise ValidationError({"reference": "The reference must be one of the conditions the phase shows."})
    if phase.takes_marks:
        raise ValidationError(
            {"takes_marks": "A comparative phase takes no lesion marks: untick “Readers mark lesions”."}
        )
    lesion_questions = [q.key for q in questions if q.lesion_rule]
    if lesion_questions:
        raise ValidationError(
            {"layout": f"The lesion question(s) {', '.join(lesion_questions)} cannot be asked side by side."}
        )


def _phase_reference(study: Study, label: str | None) -> Condition | None:
    if not label:
        return None
    condition = study.conditions.filter(label=label).first()
    if condition is None:
        raise ValidationError({"reference": f"Not a condition of this study: {label}."})
    return condition


def _phase_check(phase: ReadingPhase) -> None:
    taken = ReadingPhase.objects.filter(study_id=phase.study_id, key=phase.key).exclude(pk=phase.pk)
    if phase.key and taken.exists():
        raise ValidationError({"key": f"A phase with the key '{phase.key}' already exists in this study."})
    phase.full_clean(validate_constraints=False, validate_unique=False, exclude=["study"])


def _phase_conditions(study: Study, labels: list[str] | None) -> list[Condition] | None:
    if labels is None:
        return None
    conditions = list(study.conditions.filter(label__in=labels))
    unknown = sorted(set(labels) - {c.label for c in conditions})
    if unknown:
        raise ValidationError({"conditions": f"Not conditions of this study: {', '.join(unknown)}."})
    return conditions


def phase_create(
    *,
    study: Study,
    key: str,
    name: str,
    actor: Any,
    kind: str = ReadingPhase.Kind.READING,
    takes_marks: bool | None = None,
    washout_days: int = 0,
    conditions: list[str] | None = None,
    layout: str = ReadingPhase.Layout.SINGLE,
    reference: str = "",
) -> ReadingPhase:
    """Add a reading phase after the study's last (while its questions may change: a draft with
    nothing recorded). ``conditions`` are labels; none: the phase reads all conditions.
    ``layout`` is the hanging protocol (``ReadingPhase.Layout``); a comparative phase may name
    the label of its ``reference`` condition. ``takes_marks`` defaults to True for a single
    layout and False for a comparative one."""
    with transaction.atomic():
        study = _study_lock_for_edit(study)
        last = study.phases.aggregate(last=Max("order"))["last"] or 0
        phase = ReadingPhase(
            study=study,
            order=last + 1,
            key=key.strip(),
            name=name.strip(),
            kind=kind,
            takes_marks=(layout != ReadingPhase.Layout.COMPARATIVE) if takes_marks is None else takes_marks,
            washout_days=washout_days,
            layout=layout,
            reference_condition=_phase_reference(study, reference),
        )
        chosen = _phase_conditions(study, conditions)
        _phase_check(phase)
        _phase_layout_check(phase, chosen)
        phase.save()
        if chosen:
            phase.conditions.set(chosen)
        audit_event_create(
            actor=actor,
            action=AuditAction.PHASE_CREATE,
            target=phase,
            study=study,
            data=audit_change(None, _phase_snapshot(phase)),
        )
    return phase


def phase_update(
    *,
    phase: ReadingPhase,
    actor: Any,
    name: str | None = None,
    kind: str | None = None,
    takes_marks: bool | None = None,
    washout_days: int | None = None,
    conditions: list[str] | None = None,
    layout: str | None = None,
    reference: str | None = None,
) -> ReadingPhase:
    """Change the given fields of a phase (``None`` leaves a field as it is; its key stays;
    ``reference=""`` removes the reference)."""
    with transaction.atomic():
        study = _study_lock_for_edit(phase.study)
        phase = ReadingPhase.objects.get(pk=phase.pk)
        before = _phase_snapshot(phase)
        for field, value in {
            "name": name.strip() if name is not None else None,
            "kind": kind,
            "takes_marks": takes_marks,
            "washout_days": washout_days,
            "layout": layout,
        }.items():
            if value is not None:
                setattr(phase, field, value)
        if reference is not None:
            phase.reference_condition = _phase_reference(study, reference)
        chosen = _phase_conditions(study, conditions)
        _phase_check(phase)
        _phase_layout_check(phase, chosen)
        phase.save()
        if chosen is not None:
            phase.conditions.set(chosen)
        after = _phase_snapshot(phase)
        if after != before:
            audit_event_create(
                actor=actor,
                action=AuditAction.PHASE_UPDATE,
                target=phase,
                study=study,
                data=audit_change(before, after),
            )
    return phase


# --- questions -------------------------------------------------------------------------------


def study_not_editable_reason(study: Study) -> str | None:
    """Why the study's questions can no longer change, or None when they can."""
    if study.status != Study.Status.DRAFT:
        return (
            f"The study is {study.get_status_display().lower()}, not a draft: its questions are "
            "fixed so that every reader answers the same ones."
        )
    recorded = (
        Answer.objects.filter(reading__session__participation__study=study).exists()
        or LesionMark.objects.filter(reading__session__participation__study=study).exists()
    )
    if recorded:
        return "Readers have already recorded answers in this study: its questions can no longer change."
    return None


def study_questions_editable(study: Study) -> bool:
    """Whether questions may be added, edited, deleted or reordered."""
    return study_not_editable_reason(study) is None


def _study_lock_for_edit(study: Study) -> Study:
    """The study row, locked for this transaction; ``StudyNotEditable`` when it can't change."""
    locked = Study.objects.select_for_update().get(pk=study.pk)
    reason = study_not_editable_reason(locked)
    if reason is not None:
        raise StudyNotEditable(reason)
    return locked


def _question_check(question: Question) -> None:
    """Validate the question's fields, scale and kind rules; a friendly error for a taken key."""
    taken = Question.objects.filter(study_id=question.study_id, key=question.key).exclude(pk=question.pk)
    if question.key and taken.exists():
        raise ValidationError(
            {"key": f"A question with the key '{question.key}' already exists in this study."}
        )
    question.full_clean(validate_constraints=False, validate_unique=False)


def _question_save(question: Question) -> None:
    try:
        with transaction.atomic():
            question.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"key": f"A question with the key '{question.key}' already exists in this study."}
        ) from exc


def _question_snapshot(question: Question) -> dict[str, Any]:
    return {
        "key": question.key,
        "text": question.text,
        "help_text": question.help_text,
        "kind": question.kind,
        "scale": question.scale,
        "required": question.required,
        "phase": question.phase.key,
        "lesion_rule": question.lesion_rule,
    }


def question_create(
    *,
    study: Study,
    key: str,
    text: str,
    kind: str,
    scale: list[dict[str, Any]],
    actor: Any,
    help_text: str = "",
    required: bool = True,
    phase: ReadingPhase | None = None,
    lesion_rule: str = "",
) -> Question:
    """Add a question at the end of the study's questions, asked in ``phase`` (default: the
    first), about the case or, with a ``lesion_rule``, about each chosen reference lesion.

    Raises ``StudyNotEditable``, or ``ValidationError`` for invalid fields (e.g. a taken key,
    a Likert question with fewer than two points, a free-text question with a scale).
    """
    with transaction.atomic():
        study = _study_lock_for_edit(study)
        if phase is not None and phase.study_id != study.pk:
            raise ValidationError({"phase": "That phase is not a phase of this study."})
        last = study.questions.aggregate(last=Max("order"))["last"]
        question = Question(
            study=study,
            phase=phase or study.first_phase(),
            lesion_rule=lesion_rule,
            key=key.strip(),
            text=text.strip(),
            help_text=help_text.strip(),
            kind=kind,
            scale=scale,
            required=required,
            order=0 if last is None else last + 1,
        )
        _question_check(question)
        _question_save(question)
        audit_event_create(
            actor=actor,
            action=AuditAction.QUESTION_CREATE,
            target=question,
            study=study,
            data=audit_change(None, _question_snapshot(question)),
        )
    return question


def question_update(
    *,
    question: Question,
    actor: Any,
    key: str | None = None,
    text: str | None = None,
    kind: str | None = None,
    scale: list[dict[str, Any]] | None = None,
    help_text: str | None = None,
    required: bool | None = None,
    phase: ReadingPhase | None = None,
    lesion_rule: str | None = None,
) -> Question:
    """Change the given fields of a question (``None`` leaves a field as it is).

    Raises ``StudyNotEditable`` or ``ValidationError`` as ``question_create`` does.
    """
    with transaction.atomic():
        study = _study_lock_for_edit(question.study)
        question = Question.objects.get(pk=question.pk)
        before = _question_snapshot(question)
        changes = {
            "key": key.strip() if key is not None else None,
            "text": text.strip() if text is not None else None,
            "help_text": help_text.strip() if help_text is not None else None,
            "kind": kind,
            "scale": scale,
            "required": required,
            "phase": phase,
            "lesion_rule": lesion_rule,
        }
        if phase is not None and phase.study_id != study.pk:
            raise ValidationError({"phase": "That phase is not a phase of this study."})
        for field, value in changes.items():
            if value is not None:
                setattr(question, field, value)
        after = _question_snapshot(question)
        if after == before:
            return question
        _question_check(question)
        _question_save(question)
        audit_event_create(
            actor=actor,
            action=AuditAction.QUESTION_UPDATE,
            target=question,
            study=study,
            data=audit_change(before, after),
        )
    return question


def _questions_renumber(study: Study, ordered: list[Question]) -> None:
    """Store ``ordered`` as the study's question order 0, 1, 2, ..."""
    for order, question in enumerate(ordered):
        if question.order != order:
            question.order = order
            question.save(update_fields=["order"])


def question_delete(*, question: Question, actor: Any) -> None:
    """Remove a question (only while the study is editable); the others close the gap."""
    with transaction.atomic():
        study = _study_lock_for_edit(question.study)
        snapshot = _question_snapshot(question)
        audit_event_create(
            actor=actor,
            action=AuditAction.QUESTION_DELETE,
            target=question,
            study=study,
            data=audit_change(snapshot, None),
        )
        Question.objects.filter(pk=question.pk).delete()
        _questions_renumber(study, list(study.questions.order_by("order", "id")))


def question_move(*, question: Question, direction: Literal["up", "down"], actor: Any) -> Question:
    """Swap the question with its neighbour above or below; at either end nothing changes."""
    if direction not in ("up", "down"):
        raise ValueError("direction must be 'up' or 'down'.")
    with transaction.atomic():
        study = _study_lock_for_edit(question.study)
        ordered = list(study.questions.order_by("order", "id"))
        before = [q.key for q in ordered]
        index = next(i for i, q in enumerate(ordered) if q.pk == question.pk)
        target = index - 1 if direction == "up" else index + 1
        if not 0 <= target < len(ordered):
            return ordered[index]
        ordered[index], ordered[target] = ordered[target], ordered[index]
        _questions_renumber(study, ordered)
        audit_event_create(
            actor=actor,
            action=AuditAction.QUESTION_MOVE,
            target=ordered[target],
            study=study,
            data={
                "direction": direction,
                **audit_change({"order": before}, {"order": [q.key for q in ordered]}),
            },
        )
    return ordered[target]


@dataclass(frozen=True)
class Invitation:
    """The result of inviting a reader.

    ``set_password_url`` is the one-time link for a user without a password yet (empty
    for users who already have one); ``emailed_to`` is the address the invitation went to
    (empty when none was given or sending failed, see ``email_error``).
    """

    participation: ReaderParticipation
    user_created: bool
    set_password_url: str
    emailed_to: str = ""
    email_error: str = ""


def set_password_path(user: Any) -> str:
    """The path of the one-time link that lets ``user`` set their password (Django's reset flow)."""
    return reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


def _invitation_send(participation: ReaderParticipation, address: str, link: str) -> str:
    """Email the invitation; return the error text, or "" when it was sent."""
    study = participation.study
    lines = [
        f'You are invited to read in the reader study "{study.name}" as reader {participation.code}.',
        "",
        f"Your username: {participation.user.get_username()}",
    ]
    if link:
        days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
        lines += ["", f"Set your password here (the link works once and for {days} days):", link]
    else:
        lines += ["", "Log in with your existing password to see your reading sessions."]
    try:
        send_mail(
            subject=f"Invitation: {study.name}",
            message="\n".join(lines) + "\n",
            from_email=None,
            recipient_list=[address],
        )
    except OSError as exc:  # smtplib errors are OSErrors
        return f"The email to {address} could not be sent ({exc}); send the link yourself."
    return ""


def _reader_user_get_or_create(username: str, email: str) -> tuple[Any, bool]:
    """The existing user with this username (case-insensitively) or a new one without a password."""
    User = get_user_model()
    existing = User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).first()
    if existing is not None:
        return existing, False
    user = User(**{User.USERNAME_FIELD: username}, email=email)
    user.set_unusable_password()
    try:
        user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        messages = exc.message_dict
        field = "username" if User.USERNAME_FIELD in messages else "email" if "email" in messages else None
        raise ReaderInviteError(" ".join(m for ms in messages.values() for m in ms), field=field) from exc
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise ReaderInviteError(
            f"The username '{username}' was just taken; try again.", field="username"
        ) from exc
    return user, True


def reader_invite(
    *,
    study: Study,
    username: str,
    email: str,
    code: str,
    actor: Any,
    group: str = "",
    site_url: str = "",
) -> Invitation:
    """Add a reader to the study, creating their account if needed.

    A new account has no usable password and is put in the ``reader`` group; the returned
    invitation holds its one-time set-password link (``site_url`` + path), which is also
    emailed when ``email`` is given. Raises ``ReaderInviteError`` for a taken reader code, a
    user who already participates, coordinates or analyses this study, or invalid input, and
    ``ReaderAlreadyInvited`` when the same user was already invited with the same code.
    """
    username, email, code, group = username.strip(), email.strip(), code.strip(), group.strip()
    if not username:
        raise ReaderInviteError("Give the reader's username.", field="username")
    if not code:
        raise ReaderInviteError("Give a reader code (e.g. R1).", field="code")
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ReaderInviteError("Enter a valid email address.", field="email") from exc
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status == Study.Status.LOCKED:
            raise ReaderInviteError("The study is locked: no readers can be added.")
        User = get_user_model()
        known = User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).first()
        if known is not None:
            _reader_check_existing(study, known, code)
        taken = study.participations.filter(code__iexact=code).select_related("user").first()
        if taken is not None:
            raise ReaderInviteError(
                f"The reader code {taken.code} is already taken in this study "
                f"(by {taken.user.get_username()}).",
                field="code",
            )
        if reason := code_taken(study, code):  # a standalone algorithm's code
            raise ReaderInviteError(reason, field="code")
        user, created = _reader_user_get_or_create(username, email)
        user.groups.add(Group.objects.get_or_create(name=READER)[0])
        try:
            with transaction.atomic():
                participation = ReaderParticipation.objects.create(
                    study=study, user=user, code=code, group=group
                )
        except IntegrityError as exc:
            raise ReaderInviteError(
                "This reader or code was just added by someone else; reload the page."
            ) from exc
        needs_password = not user.has_usable_password()
        audit_event_create(
            actor=actor,
            action=AuditAction.READER_INVITE,
            target=participation,
            study=study,
            data={"code": code, "group": group, "user_created": created, "email": email},
        )
    link = site_url + set_password_path(user) if needs_password else ""
    error = _invitation_send(participation, email, link) if email else ""
    return Invitation(
        participation=participation,
        user_created=created,
        set_password_url=link,
        emailed_to=email if email and not error else "",
        email_error=error,
    )


def _reader_check_existing(study: Study, user: Any, code: str) -> None:
    """Refuse an existing user who is deactivated, coordinates or analyses this study, or already
    reads in it."""
    name = user.get_username()
    if not user.is_active:
        raise ReaderInviteError(f"The account {name} is deactivated.", field="username")
    if study.coordinators.filter(pk=user.pk).exists():
        raise ReaderInviteError(
            f"{name} coordinates this study and so cannot read in it (readers must be blinded).",
            field="username",
        )
    if study.statisticians.filter(pk=user.pk).exists():
        raise ReaderInviteError(
            f"{name} analyses this study's unblinded results and so cannot read in it.", field="username"
        )
    existing = study.participations.filter(user=user).first()
    if existing is None:
        return
    if existing.code.lower() == code.lower():
        raise ReaderAlreadyInvited(
            f"{name} was already invited to this study as {existing.code}.", participation=existing
        )
    raise ReaderInviteError(f"{name} already reads in this study as {existing.code}.", field="username")


def reader_invitation_renew(
    *, participation: ReaderParticipation, actor: Any, site_url: str = ""
) -> Invitation:
    """A new set-password link for a reader who has not set a password yet (links expire)."""
    user = participation.user
    if user.has_usable_password():
        raise ReaderInviteError(f"{user.get_username()} has already set a password.")
    audit_event_create(
        actor=actor,
        action=AuditAction.READER_INVITATION_RENEW,
        target=participation,
        study=participation.study,
    )
    link = site_url + set_password_path(user)
    error = _invitation_send(participation, user.email, link) if user.email else ""
    return Invitation(
        participation=participation,
        user_created=False,
        set_password_url=link,
        emailed_to=user.email if user.email and not error else "",
        email_error=error,
    )


def _participation_set_active(
    participation: ReaderParticipation, active: bool, actor: Any
) -> ReaderParticipation:
    with transaction.atomic():
        participation = ReaderParticipation.objects.select_for_update().get(pk=participation.pk)
        if participation.active != active:
            participation.active = active
            participation.save(update_fields=["active"])
            audit_event_create(
                actor=actor,
                action=AuditAction.READER_REACTIVATE if active else AuditAction.READER_DEACTIVATE,
                target=participation,
                study=participation.study,
                data=audit_change({"active": not active}, {"active": active}),
            )
    return participation


def reader_deactivate(*, participation: ReaderParticipation, actor: Any) -> ReaderParticipation:
    """Stop a reader from reading in the study (their readings stay); idempotent."""
    return _participation_set_active(participation, False, actor)


def reader_reactivate(*, participation: ReaderParticipation, actor: Any) -> ReaderParticipation:
    """Let a deactivated reader read again; idempotent."""
    return _participation_set_active(participation, True, actor)


# --- locking ---------------------------------------------------------------------------------


def study_unsubmitted_count(study: Study) -> int:
    """How many readings of the study have not been submitted."""
    return (
        Reading.objects.filter(session__participation__study=study)
        .exclude(status=Reading.Status.SUBMITTED)
        .count()
    )


def study_lock(*, study: Study, actor: Any) -> int:
    """Close reading for good (active → locked); return the number of unsubmitted readings.

    Raises ``StudyNotLockable`` for a draft or an already locked study.
    """
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        if locked.status == Study.Status.DRAFT:
            raise StudyNotLockable("A draft study cannot be locked: reading has not started.")
        if locked.status == Study.Status.LOCKED:
            raise StudyNotLockable("The study is already locked.")
        unsubmitted = study_unsubmitted_count(locked)
        was = locked.status
        locked.status = Study.Status.LOCKED
        locked.save(update_fields=["status", "updated_at"])
        audit_event_create(
            actor=actor,
            action=AuditAction.STUDY_LOCK,
            target=locked,
            study=locked,
            data={
                "unsubmitted_readings": unsubmitted,
                **audit_change({"status": was}, {"status": locked.status}),
            },
        )
    study.status = locked.status
    return unsubmitted
