"""The coordinator's page for generating a condition with the SR engine: start a job, follow its
cases' progress (the page polls a small JSON endpoint), retry the failed ones. With an active
schedule, a new condition needs the coordinator's acknowledgement (a checkbox)."""

import json
import uuid
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from readerstudy.design.models import ReadingSchedule
from readerstudy.design.selectors import schedule_coverage
from readerstudy.design.services import DESIGN_CHANGE_ACKNOWLEDGEMENT, DesignChangeUnacknowledged
from readerstudy.generation.models import GenerationJob
from readerstudy.generation.selectors import (
    generation_jobs_for_study,
    generation_jobs_state,
    generation_model_files,
    generation_tasks_retryable,
    generation_weights_choices,
)
from readerstudy.generation.services import (
    FACTORS,
    MODEL_METHOD,
    WEIGHTED_METHODS,
    GenerationError,
    GenerationRequest,
    generation_job_retry,
    generation_job_start,
    generation_methods,
)
from readerstudy.studies.models import Study
from readerstudy.studies.policy import can_coordinate, study_for_request


class GenerationForm(forms.Form):
    """What a coordinator chooses: source condition, new condition, method, factor, seed, weights
    (resnet3d/resnet2d) or model file (the method model)."""

    source = forms.ChoiceField(label="Source condition", help_text="Conditions with at least one series.")
    target = forms.CharField(
        max_length=50,
        label="New condition",
        help_text="E.g. SR; an existing condition without series is filled.",
    )
    method = forms.ChoiceField()
    factor = forms.TypedChoiceField(coerce=int, choices=[(f, str(f)) for f in FACTORS], initial=2)
    seed = forms.IntegerField(initial=0, min_value=0, max_value=2**31 - 1)
    weights = forms.ChoiceField(
        required=False, help_text=f"Trained weights ({', '.join(sorted(WEIGHTED_METHODS))} only)."
    )
    model = forms.ChoiceField(
        required=False,
        label="Model file",
        help_text="A model trained elsewhere (ONNX or TorchScript with its .json; method model only).",
    )
    options = forms.CharField(
        required=False,
        label="Options (JSON)",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "{}"}),
        help_text="Further options of the method as a JSON object; usually empty.",
    )
    request_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, study: Study, active_schedule: ReadingSchedule | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        sources = study.conditions.filter(series__isnull=False).distinct()
        cast(forms.ChoiceField, self.fields["source"]).choices = [(c.pk, c.label) for c in sources]
        cast(forms.ChoiceField, self.fields["method"]).choices = [(m, m) for m in generation_methods()]
        cast(forms.ChoiceField, self.fields["weights"]).choices = [
            ("", "—"),
            *((w, w) for w in generation_weights_choices()),
        ]
        cast(forms.ChoiceField, self.fields["model"]).choices = [
            ("", "—"),
            *((m.path, m.label) for m in generation_model_files() if m.usable),
        ]
        if active_schedule is not None:
            self.fields["acknowledge_design_change"] = forms.BooleanField(
                required=False, label=DESIGN_CHANGE_ACKNOWLEDGEMENT
            )
        self.study = study

    def clean_options(self) -> dict[str, Any]:
        text = self.cleaned_data.get("options", "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('Give a JSON object, e.g. {"epochs": 20}.')
        return value

    def generation_request(self) -> GenerationRequest:
        data = self.cleaned_data
        return GenerationRequest(
            source_condition=self.study.conditions.get(pk=data["source"]),
            target_label=data["target"],
            method=data["method"],
            factor=data["factor"],
            seed=data["seed"],
            weights=data["model"] if data["method"] == MODEL_METHOD else data["weights"],
            options=data["options"],
        )


@login_required
def study_generation(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the form and the study's jobs with per-case progress. POST: start a job."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    coverage = schedule_coverage(study)
    form = GenerationForm(
        request.POST or None,
        study=study,
        active_schedule=coverage.schedule if coverage else None,
        initial={"request_key": uuid.uuid4(), "method": "selfsr"},
    )
    if request.method == "POST" and form.is_valid():
        try:
            job, created = generation_job_start(
                study=study,
                request=form.generation_request(),
                actor=request.user,
                request_key=form.cleaned_data["request_key"],
                acknowledge_design_change=form.cleaned_data.get("acknowledge_design_change", False),
            )
        except GenerationError as error:
            form.add_error(None, str(error))
        except DesignChangeUnacknowledged as error:
            field = "acknowledge_design_change" if "acknowledge_design_change" in form.fields else None
            form.add_error(field, str(error))
        else:
            if created:
                messages.success(
                    request, f"Generating {job.target_condition.label} for {job.tasks.count()} cases."
                )
            else:
                messages.info(request, "That request was already submitted; here is its job.")
            return redirect("readerstudy:study_generation", slug=study.slug)
    editable = study.status != Study.Status.LOCKED
    jobs = list(generation_jobs_for_study(study))
    retryable = {job.pk for job in jobs if editable and generation_tasks_retryable(job).exists()}
    return render(
        request,
        "readerstudy/study_generation.html",
        {
            "study": study,
            "form": form,
            "jobs": jobs,
            "retryable": retryable,
            "editable": editable,
            "coverage": coverage,
            "model_files": generation_model_files() if editable else [],
        },
    )


@login_required
@require_GET
def study_generation_state(request: HttpRequest, slug: str) -> JsonResponse:
    """The jobs' and cases' status and progress, for the page to poll."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    return JsonResponse(generation_jobs_state(study))


@login_required
@require_POST
def study_generation_retry(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """Queue the job's failed (and lost) cases again."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    job = get_object_or_404(GenerationJob, pk=job_id, study=study)
    try:
        count = generation_job_retry(job=job, actor=request.user)
    except GenerationError as error:
        messages.error(request, str(error))
    else:
        if count:
            messages.success(request, f"Retrying {count} case{'s' if count != 1 else ''}.")
        else:
            messages.info(request, "Nothing to retry: no case has failed.")
    return redirect("readerstudy:study_generation", slug=study.slug)
