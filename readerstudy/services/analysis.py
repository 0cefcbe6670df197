"""The unblinding rule: when results may be computed, and the record that they were.

Results (readers' answers and marks with the true condition labels) are computed only
when the study is locked and every reference set the analysis uses is locked; before
that, only as an interim analysis that a statistician of the study requests with a
written reason. Either way an :class:`~readerstudy.models.AnalysisRun` is recorded and
audited, naming the reference versions used, so every result says what it was computed
against.
"""

from collections.abc import Iterable

from django.db import transaction

from .. import roles
from ..models import AnalysisRun, AuditAction, ReferenceSet, Study
from .audit import audit_event_create


class ResultsBlinded(Exception):
    """Results may not be computed yet; the message says why and what would allow it."""


def analysis_blockers(study: Study, reference_sets: Iterable[ReferenceSet]) -> list[str]:
    """Why a final (non-interim) analysis is not allowed yet; empty when it is."""
    blockers = []
    if study.status != Study.Status.LOCKED:
        blockers.append(f"The study is {study.get_status_display().lower()}, not locked.")
    for reference_set in reference_sets:
        if reference_set.study_id != study.pk:
            raise ValueError(f"Reference set {reference_set} belongs to another study.")
        if not reference_set.locked:
            blockers.append(f"The reference {reference_set.name} is not locked.")
    return blockers


def analysis_default_reference_sets(study: Study) -> list[ReferenceSet]:
    """The newest locked reference set of each source, else the newest set of each source."""
    chosen: dict[str, ReferenceSet] = {}
    for reference_set in study.reference_sets.order_by("source", "-version"):
        current = chosen.get(reference_set.source)
        if current is None or (reference_set.locked and not current.locked):
            chosen[reference_set.source] = reference_set
    return list(chosen.values())


def analysis_run_filename(run: AnalysisRun, name: str, extension: str) -> str:
    """The download name of a run's file, e.g. ``knee-answers-interim-run12.csv``."""
    interim = "-interim" if run.interim else ""
    return f"{run.study.slug}-{name}{interim}-run{run.pk}.{extension}"


def analysis_run_start(
    *,
    study: Study,
    user,
    kind: str,
    reference_sets: Iterable[ReferenceSet] | None = None,
    interim_reason: str = "",
) -> AnalysisRun:
    """Record an analysis of ``study`` by ``user`` or raise :class:`ResultsBlinded`.

    ``reference_sets`` defaults to :func:`analysis_default_reference_sets`. Without an
    ``interim_reason`` the study and those sets must be locked; with one, the analysis is
    recorded as interim (only a statistician of the study may request it).
    """
    if not roles.can_view_results(user, study):
        raise PermissionError("Only a statistician of the study may compute its results.")
    sets = list(analysis_default_reference_sets(study) if reference_sets is None else reference_sets)
    blockers = analysis_blockers(study, sets)
    reason = interim_reason.strip()
    interim = bool(blockers)
    if interim and not reason:
        raise ResultsBlinded(
            " ".join(blockers) + " Results are computed when the study and its reference are locked,"
            " or as an interim analysis with a written reason."
        )
    with transaction.atomic():
        run = AnalysisRun.objects.create(
            study=study, kind=kind, interim=interim, reason=reason if interim else "", requested_by=user
        )
        run.reference_sets.set(sets)
        audit_event_create(
            actor=user,
            action=AuditAction.ANALYSIS_INTERIM if interim else AuditAction.ANALYSIS_RUN,
            target=run,
            study=study,
            data={
                "kind": kind,
                "reference_sets": [s.name for s in sets],
                "interim": interim,
                "reason": run.reason,
                "blockers": blockers,
            },
        )
    return run
