"""The coordinator's study pages: the list, a study's overview and set-up (conditions, questions,
readers, locking), and the home page."""

import re
from typing import Any, Literal, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from readerstudy.design.selectors import study_reader_progress
from readerstudy.design.services import display_grid_problems
from readerstudy.imaging.selectors import study_source_identities
from readerstudy.reading.models import Reading
from readerstudy.studies import services as setup
from readerstudy.studies.models import Question, ReaderParticipation, ReadingPhase, Study
from readerstudy.studies.policy import (
    COORDINATOR,
    STATISTICIAN,
    can_coordinate,
    can_create_study,
    can_view_results,
    has_role,
    study_for_request,
    user_roles,
)
from readerstudy.studies.selectors import studies_for_user
from readerstudy.studies.study_templates import STUDY_TEMPLATES


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "readerstudy/home.html", {"roles": user_roles(request.user)})


def _coordinates_or_analyses(user, study: Study) -> bool:
    return can_coordinate(user, study) or can_view_results(user, study)


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    """Studies the user coordinates or analyses."""
    if not (has_role(request.user, COORDINATOR) or has_role(request.user, STATISTICIAN)):
        raise PermissionDenied
    return render(request, "readerstudy/study_list.html", {"studies": studies_for_user(request.user)})


@login_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Overview: conditions (with labels), questions, cases and series, reader progress (no scores)."""
    study = study_for_request(request, slug, allowed=_coordinates_or_analyses)
    cases = study.cases.prefetch_related("series__condition").order_by("code")
    return render(
        request,
        "readerstudy/study_detail.html",
        {
            "study": study,
            "conditions": study.conditions.all(),
            "questions": study.questions.select_related("phase"),
            "phases": list(study.phases.order_by("order")),
            "cases": cases,
            "progress": study_reader_progress(study),
            "can_coordinate": can_coordinate(request.user, study),
            "can_view_results": can_view_results(request.user, study),
            "display_grid_problems": display_grid_problems(study),
        },
    )


@login_required
def study_identities(request: HttpRequest, slug: str) -> HttpResponse:
    """The private mapping from de-identified series to their original identifiers."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    return render(
        request,
        "readerstudy/study_identities.html",
        {"study": study, "identities": study_source_identities(study)},
    )


# --- forms -----------------------------------------------------------------------------------


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    """Attach a model ValidationError to the form: to its field when the form has one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


class StudyCreateForm(forms.Form):
    template = forms.ChoiceField(
        choices=[(t.key, t.title) for t in STUDY_TEMPLATES.values()], widget=forms.RadioSelect
    )
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=80,
        required=False,
        help_text="Short name used in addresses; made from the name when empty.",
    )
    washout_days = forms.IntegerField(
        min_value=0, initial=7, label="Washout (days)", help_text="Minimum days between a reader's sessions."
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Leave empty to use the template's description.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("slug") and data.get("name"):
            data["slug"] = slugify(data["name"])[:80].strip("-")
            if not data["slug"]:
                self.add_error("slug", "Give a slug (letters, digits, hyphens).")
        return data


SCALE_LINE = re.compile(r"^\s*(-?\d+)\s*=\s*(\S.*?)\s*$")


def scale_parse(text: str) -> list[dict[str, object]]:
    """Lines like ``1 = poor`` → ``[{"value": 1, "label": "poor"}, ...]``; blank lines are skipped."""
    points = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = SCALE_LINE.match(line)
        if match is None:
            raise ValidationError(f"Line {number} ('{line.strip()}') is not of the form '1 = poor'.")
        points.append({"value": int(match.group(1)), "label": match.group(2)})
    return points


def scale_format(scale: list[dict[str, object]]) -> str:
    return "\n".join(f"{point['value']} = {point['label']}" for point in scale)


class QuestionForm(forms.Form):
    text = forms.CharField(max_length=300, label="Question")
    key = forms.SlugField(
        max_length=60,
        required=False,
        help_text="Identifier in exports (letters, digits, _ and -); made from the question when empty.",
    )
    kind = forms.ChoiceField(choices=Question.Kind.choices)
    scale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "1 = poor\n2 = fair\n3 = good"}),
        required=False,
        help_text=(
            "One point per line, lowest first, as '1 = poor'. Likert: at least two points. "
            "Finding: the confidence that it is present (may be empty). Free text: none."
        ),
    )
    help_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Help for readers"
    )
    required = forms.BooleanField(required=False, initial=True, label="Readers must answer it")
    phase = forms.ChoiceField(label="Asked in the phase", required=False)
    lesion_rule = forms.ChoiceField(
        choices=Question.LesionRule.choices,
        required=False,
        label="About",
        help_text="A question about chosen lesions of the locked reference is answered per lesion; "
        "readers are shown where the lesion is.",
    )

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.study = study
        phases = list(study.phases.order_by("order"))
        field = cast(forms.ChoiceField, self.fields["phase"])
        field.choices = [(p.key, f"{p.order}. {p.name}") for p in phases]
        field.initial = phases[0].key if phases else ""

    def clean_phase(self) -> ReadingPhase:
        key = self.cleaned_data.get("phase") or ""
        phase = self.study.phases.filter(key=key).first() if key else self.study.first_phase()
        if phase is None:
            raise ValidationError("Choose a phase of this study.")
        return phase

    def clean_scale(self) -> list[dict[str, object]]:
        return scale_parse(self.cleaned_data.get("scale", ""))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("key") and data.get("text"):
            data["key"] = slugify(data["text"]).replace("-", "_")[:60].strip("_")
            if not data["key"]:
                self.add_error("key", "Give a key (letters, digits, _ and -).")
        return data

    @staticmethod
    def initial_for(question: Question) -> dict[str, object]:
        return {
            "text": question.text,
            "key": question.key,
            "kind": question.kind,
            "scale": scale_format(question.scale),
            "help_text": question.help_text,
            "required": question.required,
            "phase": question.phase.key,
            "lesion_rule": question.lesion_rule,
        }


class PhaseForm(forms.Form):
    """A reading phase as a coordinator sets it up (its key is fixed once made)."""

    name = forms.CharField(max_length=100, help_text="Shown to readers, e.g. Detection or Image quality.")
    key = forms.SlugField(
        max_length=40, required=False, help_text="Identifier in exports; made from the name."
    )
    kind = forms.ChoiceField(choices=ReadingPhase.Kind.choices, initial=ReadingPhase.Kind.READING)
    takes_marks = forms.BooleanField(
        required=False, initial=True, label="Readers mark lesions (when the study has a mark scale)"
    )
    washout_days = forms.IntegerField(
        min_value=0,
        initial=0,
        label="Washout after the previous phase (days)",
        help_text="The phase opens for a reader this many days after they completed the phase before.",
    )
    conditions = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The conditions this phase reads; none ticked: all.",
    )
    layout = forms.ChoiceField(
        choices=ReadingPhase.Layout.choices,
        initial=ReadingPhase.Layout.SINGLE,
        required=False,
        label="Hanging protocol",
        help_text="Comparative: one reading per case, its conditions side by side in linked viewports, "
        "blinded as A, B, … in random left/right order (no lesion marks).",
    )
    reference = forms.ChoiceField(
        required=False,
        label="Reference (comparative phases)",
        help_text="Shown labelled “Reference”; the other conditions stay blinded.",
    )

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.MultipleChoiceField, self.fields["conditions"])
        labels = [c.label for c in study.conditions.order_by("order", "label")]
        field.choices = [(label, label) for label in labels]
        reference = cast(forms.ChoiceField, self.fields["reference"])
        reference.choices = [("", "none: every condition blinded"), *((label, label) for label in labels)]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("key") and data.get("name"):
            data["key"] = slugify(data["name"])[:40].strip("-")
        data["layout"] = data.get("layout") or ReadingPhase.Layout.SINGLE
        return data

    @staticmethod
    def initial_for(phase: ReadingPhase) -> dict[str, object]:
        return {
            "name": phase.name,
            "key": phase.key,
            "kind": phase.kind,
            "takes_marks": phase.takes_marks,
            "washout_days": phase.washout_days,
            "conditions": list(phase.conditions.values_list("label", flat=True)),
            "layout": phase.layout,
            "reference": phase.reference_label,
        }


class ReaderInviteForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="A new account is created if there is none.")
    email = forms.EmailField(required=False, help_text="Optional: the invitation is emailed to it.")
    code = forms.CharField(max_length=20, label="Reader code", help_text="Used in exports, e.g. R1.")
    group = forms.CharField(max_length=20, required=False, help_text="Reader group (split-plot designs).")


@login_required
def study_create(request: HttpRequest) -> HttpResponse:
    """GET: the templates to choose from. POST: create a draft study from the chosen one."""
    if not can_create_study(request.user):
        raise PermissionDenied
    form = StudyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            study = setup.study_create_from_template(
                template_key=data["template"],
                name=data["name"],
                slug=data["slug"],
                washout_days=data["washout_days"],
                description=data["description"],
                actor=request.user,
            )
        except setup.SlugTaken as exc:
            existing = Study.objects.filter(slug=data["slug"]).first()
            if existing and existing.name == data["name"].strip() and can_coordinate(request.user, existing):
                messages.info(request, f"The study “{existing.name}” was already created.")
                return redirect("readerstudy:study_detail", existing.slug)
            form.add_error("slug", str(exc))
        except setup.UnknownStudyTemplate as exc:
            form.add_error("template", str(exc))
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(
                request,
                f"Created “{study.name}” as a draft. "
                "Next: check the questions, import cases and invite readers.",
            )
            return redirect("readerstudy:study_detail", study.slug)
    return render(
        request, "readerstudy/study_create.html", {"form": form, "templates": list(STUDY_TEMPLATES.values())}
    )


# --- questions -------------------------------------------------------------------------------


def _questions_url(study: Study) -> str:
    return reverse("readerstudy:study_questions", args=[study.slug])


@login_required
def study_questions(request: HttpRequest, slug: str, question_id: int | None = None) -> HttpResponse:
    """The study's questions in order; the form adds one, or edits ``question_id``."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    editing = get_object_or_404(Question, study=study, pk=question_id) if question_id is not None else None
    reason = setup.study_not_editable_reason(study)
    form = QuestionForm(
        request.POST or None,
        study=study,
        initial=QuestionForm.initial_for(editing) if editing else {"kind": Question.Kind.LIKERT},
    )
    if request.method == "POST":
        if reason is not None:
            messages.error(request, reason)
            return redirect(_questions_url(study))
        if form.is_valid():
            data = form.cleaned_data
            fields = {
                name: data[name]
                for name in ("key", "text", "kind", "scale", "help_text", "required", "phase", "lesion_rule")
            }
            try:
                if editing is not None:
                    question = setup.question_update(question=editing, actor=request.user, **fields)
                    messages.success(request, f"Saved “{question.text}”.")
                else:
                    question = setup.question_create(study=study, actor=request.user, **fields)
                    messages.success(request, f"Added “{question.text}”.")
                return redirect(_questions_url(study))
            except setup.StudyNotEditable as exc:
                messages.error(request, str(exc))
                return redirect(_questions_url(study))
            except ValidationError as exc:
                if editing is None and _same_question_exists(study, fields):
                    messages.info(request, f"“{fields['text']}” was already added.")
                    return redirect(_questions_url(study))
                _add_errors(form, exc)
    return render(
        request,
        "readerstudy/study_questions.html",
        {
            "study": study,
            "questions": study.questions.select_related("phase"),
            "phases": list(study.phases.order_by("order")),
            "form": form,
            "editing": editing,
            "not_editable_reason": reason,
        },
    )


@login_required
def study_phases(request: HttpRequest, slug: str, phase_id: int | None = None) -> HttpResponse:
    """The study's reading phases in order; the form adds one, or edits ``phase_id``."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    editing = get_object_or_404(ReadingPhase, study=study, pk=phase_id) if phase_id is not None else None
    reason = setup.study_not_editable_reason(study)
    form = PhaseForm(
        request.POST or None, study=study, initial=PhaseForm.initial_for(editing) if editing else None
    )
    if request.method == "POST":
        if reason is not None:
            messages.error(request, reason)
            return redirect("readerstudy:study_phases", slug=study.slug)
        if form.is_valid():
            data = form.cleaned_data
            fields = {
                name: data[name]
                for name in (
                    "name",
                    "kind",
                    "takes_marks",
                    "washout_days",
                    "conditions",
                    "layout",
                    "reference",
                )
            }
            try:
                if editing is not None:
                    phase = setup.phase_update(phase=editing, actor=request.user, **fields)
                    messages.success(request, f"Saved the phase “{phase.name}”.")
                else:
                    phase = setup.phase_create(study=study, key=data["key"], actor=request.user, **fields)
                    messages.success(request, f"Added the phase “{phase.name}”.")
                return redirect("readerstudy:study_phases", slug=study.slug)
            except ValidationError as exc:
                _add_errors(form, exc)
    return render(
        request,
        "readerstudy/study_phases.html",
        {
            "study": study,
            "phases": list(study.phases.order_by("order").prefetch_related("conditions", "questions")),
            "form": form,
            "editing": editing,
            "not_editable_reason": reason,
        },
    )


def _same_question_exists(study: Study, fields: dict[str, object]) -> bool:
    """Whether exactly this question is already there (a form submitted twice)."""
    return study.questions.filter(
        key=fields["key"], text=str(fields["text"]).strip(), kind=fields["kind"], scale=fields["scale"]
    ).exists()


@login_required
@require_POST
def study_question_delete(request: HttpRequest, slug: str, question_id: int) -> HttpResponse:
    study = study_for_request(request, slug, allowed=can_coordinate)
    question = study.questions.filter(pk=question_id).first()
    if question is None:
        messages.info(request, "That question was already deleted.")
        return redirect(_questions_url(study))
    try:
        setup.question_delete(question=question, actor=request.user)
    except setup.StudyNotEditable as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Deleted “{question.text}”.")
    return redirect(_questions_url(study))


@login_required
@require_POST
def study_question_move(request: HttpRequest, slug: str, question_id: int) -> HttpResponse:
    study = study_for_request(request, slug, allowed=can_coordinate)
    question = get_object_or_404(Question, study=study, pk=question_id)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        messages.error(request, "Move a question up or down.")
        return redirect(_questions_url(study))
    try:
        setup.question_move(
            question=question,
            direction=cast(Literal["up", "down"], direction),  # one of the two, checked above
            actor=request.user,
        )
    except setup.StudyNotEditable as exc:
        messages.error(request, str(exc))
    return redirect(_questions_url(study))


# --- readers ---------------------------------------------------------------------------------


def _invitation_session_key(study: Study) -> str:
    return f"readerstudy.invitation.{study.pk}"


def _participations(study: Study) -> QuerySet[ReaderParticipation]:
    submitted = Q(sessions__readings__status=Reading.Status.SUBMITTED)
    return (
        study.participations.select_related("user")
        .annotate(
            n_readings=Count("sessions__readings"), n_submitted=Count("sessions__readings", filter=submitted)
        )
        .order_by("code")
    )


def _next_code(study: Study) -> str:
    """The first free code R1, R2, ... to suggest."""
    taken = {code.upper() for code in study.participations.values_list("code", flat=True)}
    number = 1
    while f"R{number}" in taken:
        number += 1
    return f"R{number}"


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@login_required
def study_readers(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's readers with their status; the form invites one (the link is shown once)."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    readers_url = reverse("readerstudy:study_readers", args=[study.slug])
    form = ReaderInviteForm(request.POST or None, initial={"code": _next_code(study)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation = setup.reader_invite(
                study=study,
                username=data["username"],
                email=data["email"],
                code=data["code"],
                group=data["group"],
                actor=request.user,
                site_url=_site_url(request),
            )
        except setup.ReaderAlreadyInvited as exc:
            messages.info(request, str(exc))
            return redirect(readers_url)
        except setup.ReaderInviteError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            _invitation_remember(request, study, invitation)
            messages.success(
                request,
                f"Invited {invitation.participation.user.get_username()} as {invitation.participation.code}.",
            )
            return redirect(readers_url)
    shown_invitation = (
        request.session.pop(_invitation_session_key(study), None) if request.method == "GET" else None
    )
    return render(
        request,
        "readerstudy/study_readers.html",
        {
            "study": study,
            "form": form,
            "participations": _participations(study),
            "invitation": shown_invitation,
            "locked": study.status == Study.Status.LOCKED,
        },
    )


def _invitation_remember(request: HttpRequest, study: Study, invitation: setup.Invitation) -> None:
    """Keep the invitation for the next page view only (the link is shown once)."""
    request.session[_invitation_session_key(study)] = {
        "username": invitation.participation.user.get_username(),
        "code": invitation.participation.code,
        "user_created": invitation.user_created,
        "link": invitation.set_password_url,
        "emailed_to": invitation.emailed_to,
        "email_error": invitation.email_error,
    }


def _participation_for_request(request: HttpRequest, slug: str, participation_id: int) -> ReaderParticipation:
    study = study_for_request(request, slug, allowed=can_coordinate)
    return get_object_or_404(
        ReaderParticipation.objects.select_related("user", "study"), study=study, pk=participation_id
    )


@login_required
@require_POST
def study_reader_deactivate(request: HttpRequest, slug: str, participation_id: int) -> HttpResponse:
    participation = _participation_for_request(request, slug, participation_id)
    setup.reader_deactivate(participation=participation, actor=request.user)
    messages.success(request, f"Deactivated {participation.code}: they can no longer open readings.")
    return redirect("readerstudy:study_readers", slug)


@login_required
@require_POST
def study_reader_reactivate(request: HttpRequest, slug: str, participation_id: int) -> HttpResponse:
    participation = _participation_for_request(request, slug, participation_id)
    setup.reader_reactivate(participation=participation, actor=request.user)
    messages.success(request, f"Reactivated {participation.code}.")
    return redirect("readerstudy:study_readers", slug)


@login_required
@require_POST
def study_reader_link(request: HttpRequest, slug: str, participation_id: int) -> HttpResponse:
    """A new set-password link for a reader who has not set a password yet."""
    participation = _participation_for_request(request, slug, participation_id)
    try:
        invitation = setup.reader_invitation_renew(
            participation=participation, actor=request.user, site_url=_site_url(request)
        )
    except setup.ReaderInviteError as exc:
        messages.info(request, str(exc))
    else:
        _invitation_remember(request, participation.study, invitation)
    return redirect("readerstudy:study_readers", slug)


@login_required
@require_POST
def study_display_grid(request: HttpRequest, slug: str) -> HttpResponse:
    """POST: set the study's display grid to a condition (``condition``: its id) or off (empty)."""
    from readerstudy.imaging.display_grid import DisplayGridError, study_display_grid_set

    study = study_for_request(request, slug, allowed=can_coordinate)
    value = (request.POST.get("condition") or "").strip()
    condition = None
    if value:
        condition = study.conditions.filter(pk=int(value)).first() if value.isdigit() else None
        if condition is None:
            messages.info(request, "Choose a condition of this study for the display grid.")
            return redirect("readerstudy:study_detail", study.slug)
    try:
        problems = study_display_grid_set(study=study, condition=condition, actor=request.user)
    except DisplayGridError as exc:
        messages.info(request, str(exc))
        return redirect("readerstudy:study_detail", study.slug)
    if condition is None:
        messages.success(request, "Display grid off: every series is shown as imported.")
    else:
        messages.success(
            request, f"Display grid: every case is shown on the grid of its {condition.label} series."
        )
    for problem in problems[:5]:
        messages.info(request, problem)
    return redirect("readerstudy:study_detail", study.slug)


@login_required
def study_lock(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: confirm, with the number of unsubmitted readings. POST: lock the study."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    if request.method == "POST":
        try:
            unsubmitted = setup.study_lock(study=study, actor=request.user)
        except setup.StudyNotLockable as exc:
            messages.info(request, str(exc))
            return redirect("readerstudy:study_lock", study.slug)
        if unsubmitted == 0:
            outcome = "Every reading was submitted."
        elif unsubmitted == 1:
            outcome = "1 reading was not submitted."
        else:
            outcome = f"{unsubmitted} readings were not submitted."
        messages.success(request, f"Locked “{study.name}”. {outcome}")
        return redirect("readerstudy:study_detail", study.slug)
    total = Reading.objects.filter(session__participation__study=study).count()
    return render(
        request,
        "readerstudy/study_lock.html",
        {"study": study, "unsubmitted": setup.study_unsubmitted_count(study), "total": total},
    )
