"""The unblinding rule: when results may be computed, and the record that they were.

Results (readers' answers and marks with the true condition labels) are computed only
when the study is locked and every reference set the analysis uses is locked; before
that, only as an interim analysis that a statistician of the study requests with a
written reason. Either way an :class:`~readerstudy.results.models.AnalysisRun` is recorded and
audited, naming the reference versions used, so every result says what it was computed
against.

Every computation goes through :func:`results_compute`: it records the run, reads the study
into a :class:`stats.study_record.StudyRecord` (``results.selectors.study_record``) and computes
every table with :func:`stats.study_tables.analyse_study`. Exports (workbook, RJafroc, iMRMC,
bundle) are built from that same record and analysis, and are safe to open in a spreadsheet.
"""

import io
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create
from readerstudy.errors import ServiceError
from readerstudy.references.models import ReferenceSet
from readerstudy.results.models import AnalysisRun
from readerstudy.results.selectors import study_record
from readerstudy.studies.models import Study
from readerstudy.studies.policy import can_view_results
from stats.io_excel import rjafroc_ids_problem, write_excel
from stats.io_imrmc import write_imrmc
from stats.splitplot import SplitPlotResult
from stats.study_export import codebook_csv, long_csv, roc_for_export
from stats.study_record import AnalysisSettings, StudyRecord, bundle_files
from stats.study_tables import StudyAnalysis, analyse_study, tables_csv
from stats.workbook import write_workbook


class ResultsBlinded(ServiceError):
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
    if not can_view_results(user, study):
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


@dataclass
class Results:
    """One analysis run with the record it read and the tables it computed."""

    run: AnalysisRun
    record: StudyRecord
    analysis: StudyAnalysis


class ExportUnavailable(ServiceError):
    """The study's data cannot give this export (e.g. RJafroc without lesion marks)."""


def analysis_settings_save(*, study: Study, settings: AnalysisSettings, actor) -> Study:
    """Store the study's analysis settings (only what differs from the defaults), audited.

    Every later analysis run uses them, and its bundle carries them (settings.json).
    """
    defaults = AnalysisSettings().to_dict()
    values = {k: v for k, v in settings.to_dict().items() if v != defaults[k]}
    before = study.analysis_settings
    study.analysis_settings = values
    study.save(update_fields=["analysis_settings", "updated_at"])
    audit_event_create(
        actor=actor,
        action=AuditAction.STUDY_ANALYSIS_SETTINGS,
        target=study,
        study=study,
        data=audit_change(before, values),
    )
    return study


def results_compute(*, study: Study, user, kind: str = "analysis", interim_reason: str = "") -> Results:
    """Record an analysis run (or raise ``ResultsBlinded``/``PermissionError``) and compute every table."""
    run = analysis_run_start(study=study, user=user, kind=kind, interim_reason=interim_reason)
    record = study_record(study, run.reference_sets.all(), run)
    return Results(run=run, record=record, analysis=analyse_study(record))


BUNDLE_README = """Reproducibility bundle of the reader study "{name}" (analysis run {run}).

record/*.csv      every submitted reading, answer and mark, the reference lesions and
                  findings, measurements and image checksums (the study record)
settings.json     the analysis settings (acceptance radius, size strata, case ratings, ...)
provenance.json   the schedule (seed, version), reference versions, software versions,
                  and the analysis run
study.json        the study
tables/*.csv      every table as the platform computed it

Re-create every table with the project's stats package (no database needed):

    python -m stats tables {file} --out tables-again --check

--check compares the re-created tables with tables/*.csv and says whether they are identical.
"""


def _file_bytes(write, suffix: str) -> bytes:
    """Bytes of a file that a ``stats`` writer writes to a path."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export{suffix}"
        write(path)
        return path.read_bytes()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Export kinds: ``name.extension`` (its file is ``<study>-<name>-run<id>.<extension>``)
#: -> (content type, label).
EXPORTS = {
    "tables.xlsx": (XLSX, "All tables (XLSX)"),
    "rjafroc.xlsx": (XLSX, "RJafroc Excel (TRUTH/FP/TP)"),
    "roc.imrmc": ("text/plain; charset=utf-8", "iMRMC (case ratings)"),
    "long.zip": ("application/zip", "Every answer and mark, long CSV with codebook"),
    "bundle.zip": ("application/zip", "Reproducibility bundle"),
}


def results_export_filename(results: Results, kind: str) -> str:
    """The download name of export ``kind`` of these results."""
    name, extension = kind.rsplit(".", 1)
    return analysis_run_filename(results.run, name, extension)


def results_export(results: Results, kind: str) -> bytes:
    """The bytes of export ``kind`` (see :data:`EXPORTS`) of computed results."""
    analysis, record = results.analysis, results.record
    if kind == "tables.xlsx":
        return _file_bytes(lambda p: write_workbook(analysis.tables.values(), p), ".xlsx")
    if kind == "rjafroc.xlsx":
        if isinstance(analysis.mrmc, SplitPlotResult):
            raise ExportUnavailable(
                "This is a split-plot study (reader groups reading disjoint cases), which RJafroc's "
                "workbook cannot hold; its analysis is the split-plot OR on the results page."
            )
        if analysis.froc is None:
            raise ExportUnavailable("This study has no lesion marks to export in RJafroc's format.")
        froc = analysis.froc
        if problem := rjafroc_ids_problem(froc):
            raise ExportUnavailable(problem)
        return _file_bytes(lambda p: write_excel(froc, p), ".xlsx")
    if kind == "roc.imrmc":
        if analysis.roc is None:
            raise ExportUnavailable(
                "This study has no case ratings for iMRMC (it needs lesion marks or a case rating)."
            )
        description = f"{record.study['name']} (analysis run {results.run.pk})"
        return _file_bytes(lambda p: write_imrmc(roc_for_export(analysis.roc), p, description), ".imrmc")
    if kind == "long.zip":
        return _zip({"long.csv": long_csv(record, analysis), "codebook.csv": codebook_csv(record)})
    if kind == "bundle.zip":
        files = {**bundle_files(record), **tables_csv(analysis)}
        files["README.txt"] = BUNDLE_README.format(
            name=record.study["name"], run=results.run.pk, file=results_export_filename(results, kind)
        )
        return _zip(files)
    raise ValueError(f"Unknown export {kind!r}.")


def _zip(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()
