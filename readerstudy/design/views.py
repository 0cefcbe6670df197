"""Coordinator pages for the reading schedule: generate and preview, activate, versions,
the conditions and cases the active schedule does not cover, and the washout waiver of one
reader's session."""

import secrets
from collections import defaultdict
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from readerstudy.design.generator import CROSSED, SPLIT_PLOT
from readerstudy.design.models import ReadingSchedule
from readerstudy.design.selectors import schedule_coverage
from readerstudy.design.services import (
    ScheduleError,
    SessionError,
    phase_reference_problems,
    schedule_activate,
    schedule_draft_create,
    schedule_draft_discard,
    session_washout_waive,
)
from readerstudy.reading.models import ReadingSession
from readerstudy.studies.models import ReadingPhase, Study
from readerstudy.studies.policy import can_coordinate, study_for_request


def _case_attribute_choices(study: Study) -> list[tuple[str, str]]:
    keys = sorted(
        {key for attributes in study.cases.values_list("attributes", flat=True) for key in attributes}
    )
    return [("", "—"), *((key, key) for key in keys)]


class ScheduleForm(forms.Form):
    """What a coordinator chooses when generating a schedule."""

    kind = forms.ChoiceField(
        choices=[
            (CROSSED, "Fully crossed: every reader reads every case under every condition"),
            (SPLIT_PLOT, "Split-plot: reader groups read disjoint case subsets"),
        ],
        initial=CROSSED,
    )
    n_groups = forms.IntegerField(
        required=False,
        min_value=1,
        label="Reader groups (split-plot)",
        help_text="Leave empty when every reader has a group on the readers page.",
    )
    stratify_by = forms.ChoiceField(
        required=False, label="Stratify by", help_text="Spread each value of this case attribute evenly."
    )
    block_by = forms.ChoiceField(
        required=False, label="Read in blocks of", help_text="Read the cases of each value together."
    )
    seed = forms.CharField(
        max_length=64, help_text="The same seed always gives the same schedule; note it in the protocol."
    )
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required for a new version of an active schedule; goes to the audit log.",
    )

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _case_attribute_choices(study)
        cast(forms.ChoiceField, self.fields["stratify_by"]).choices = choices
        cast(forms.ChoiceField, self.fields["block_by"]).choices = choices

    def clean_seed(self) -> int | str:
        seed = self.cleaned_data["seed"].strip()
        return int(seed) if seed.isdigit() else seed


def _preview(schedule: ReadingSchedule) -> dict[str, Any]:
    """The balance report arranged for the page: a row per reader and session, and the orders."""
    balance = schedule.balance
    conditions = balance["conditions"]
    cells: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in balance["rows"]:
        cells[row["reader"], row["session"]][row["condition"]] = row
    rows = [
        {"reader": reader, "session": session, "cells": [by_condition.get(c) for c in conditions]}
        for (reader, session), by_condition in sorted(cells.items())
    ]
    orders: dict[str, dict[int, list[list[Any]]]] = defaultdict(lambda: defaultdict(list))
    for reader, session, position, case, condition in schedule.plan:
        orders[reader][session].append([position, case, condition])
    sessions = sorted({row["session"] for row in balance["per_session"]})
    per_session = {(r["session"], r["condition"]): r["n"] for r in balance["per_session"]}
    return {
        "conditions": conditions,
        "rows": rows,
        "per_session": [{"session": s, "counts": [per_session[s, c] for c in conditions]} for s in sessions],
        "orders": {reader: dict(by_session) for reader, by_session in sorted(orders.items())},
        "readers": len(orders),
    }


def _phase_of_request(request: HttpRequest, study: Study) -> ReadingPhase:
    """The phase the page is about: ``phase`` (its key) in the query or form, else the first."""
    key = request.POST.get("phase") or request.GET.get("phase")
    if not key:
        return study.first_phase()
    phase = study.phases.filter(key=key).first()
    if phase is None:
        raise Http404("No such phase.")
    return phase


def _schedule_url(study: Study, phase: ReadingPhase) -> str:
    url = reverse("readerstudy:study_schedule", kwargs={"slug": study.slug})
    return url if phase.order == 1 else f"{url}?phase={phase.key}"


@login_required
def study_schedule(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the active schedule of a phase (``?phase=``; the first by default) and what it does
    not cover, the draft's preview and the versions. POST: generate, activate or discard (``action``)."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    phase = _phase_of_request(request, study)
    if request.method == "POST":
        return _schedule_post(request, study, phase)
    schedules = list(phase.schedules.select_related("created_by", "activated_by"))
    draft = next((s for s in schedules if s.status == ReadingSchedule.Status.DRAFT), None)
    active = next((s for s in schedules if s.status == ReadingSchedule.Status.ACTIVE), None)
    shown = draft or active
    requested = request.GET.get("version")
    if requested:
        shown = next((s for s in schedules if str(s.version) == requested), None)
        if shown is None:
            raise Http404("No such schedule version.")
    initial: dict[str, object] = {"seed": secrets.randbelow(10**6)}
    if shown is not None:
        spec = shown.spec
        initial.update(
            kind=spec["kind"],
            n_groups=spec["n_groups"],
            stratify_by=spec["stratify_by"] or "",
            block_by=spec["block_by"] or "",
            seed=shown.seed,
        )
    return render(
        request,
        "readerstudy/study_schedule.html",
        {
            "study": study,
            "phase": phase,
            "phases": list(study.phases.order_by("order")),
            "phase_conditions": [c.label for c in phase.included_conditions()],
            "reference_needed": phase_reference_problems(phase),
            "form": ScheduleForm(study=study, initial=initial),
            "schedules": schedules,
            "draft": draft,
            "active": active,
            "shown": shown,
            "preview": _preview(shown) if shown else None,
            "coverage": schedule_coverage(study, active) if active else None,
            "draft_coverage": schedule_coverage(study, draft) if draft else None,
            "editable": study.status != Study.Status.LOCKED,
        },
    )


def _schedule_post(request: HttpRequest, study: Study, phase: ReadingPhase) -> HttpResponse:
    action = request.POST.get("action")
    try:
        if action == "generate":
            form = ScheduleForm(request.POST, study=study)
            if not form.is_valid():
                for field, errors in form.errors.items():
                    messages.error(request, f"{field}: {' '.join(str(error) for error in errors)}")
                return redirect(_schedule_url(study, phase))
            data = form.cleaned_data
            draft = schedule_draft_create(
                study=study,
                phase=phase,
                actor=request.user,
                seed=data["seed"],
                kind=data["kind"],
                stratify_by=data["stratify_by"] or None,
                block_by=data["block_by"] or None,
                n_groups=data["n_groups"],
                reason=data["reason"],
            )
            if draft.problems:
                messages.error(
                    request, f"Draft v{draft.version} has problems; it cannot be activated as it is."
                )
            else:
                messages.success(
                    request, f"Draft v{draft.version} generated: check the balance, then activate it."
                )
        elif action in ("activate", "discard"):
            version = request.POST.get("version")
            schedule = (
                phase.schedules.filter(status=ReadingSchedule.Status.DRAFT, version=version).first()
                if version is not None
                else None
            )
            if schedule is None:
                # A second click, or a stale page: nothing to do, say what is there.
                messages.info(request, "That draft is no longer there (already activated or discarded).")
            elif action == "activate":
                schedule_activate(schedule=schedule, actor=request.user)
                messages.success(request, f"Schedule v{schedule.version} is active; readers can start.")
            else:
                schedule_draft_discard(schedule=schedule, actor=request.user)
                messages.info(request, f"Draft v{schedule.version} discarded.")
        else:
            messages.error(request, "Unknown action.")
    except ScheduleError as error:
        messages.error(request, str(error))
    return redirect(_schedule_url(study, phase))


@login_required
@require_POST
def session_waive_washout(request: HttpRequest, slug: str, session_id: int) -> HttpResponse:
    """Open one reader's session without waiting for the washout, with the reason (audited)."""
    study = study_for_request(request, slug, allowed=can_coordinate)
    session = get_object_or_404(ReadingSession, pk=session_id, participation__study=study)
    try:
        session_washout_waive(session=session, actor=request.user, reason=request.POST.get("reason", ""))
    except SessionError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"Washout waived for {session.participation.code}, session {session.number}."
        )
    return redirect("readerstudy:study_detail", slug=study.slug)
