"""Results: the analysis of a study and its exports, each an audited analysis run.

Every computation goes through :func:`results_compute`: it records an
:class:`~readerstudy.models.AnalysisRun` under the unblinding rule
(``services.analysis.analysis_run_start``), reads the study into a
:class:`stats.study_record.StudyRecord` (``selectors_results.study_record``) and computes
every table with :func:`stats.study_tables.analyse_study`. Exports are files built from
that same record and analysis, so the numbers on the page, in the workbook, in the
RJafroc and iMRMC files and in the reproducibility bundle are one computation. The
``stats`` writers make every file safe to open in a spreadsheet: no text cell runs as a
formula (:mod:`stats.spreadsheet`).
"""

import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stats.io_excel import write_excel
from stats.io_imrmc import write_imrmc
from stats.study_export import codebook_csv, long_csv, roc_for_export
from stats.study_record import AnalysisSettings, StudyRecord, bundle_files
from stats.study_tables import StudyAnalysis, analyse_study, tables_csv
from stats.workbook import write_workbook

from ..models import AnalysisRun, AuditAction, Study
from ..selectors_results import study_record
from .analysis import analysis_run_filename, analysis_run_start
from .audit import audit_event_create


@dataclass
class Results:
    """One analysis run with the record it read and the tables it computed."""

    run: AnalysisRun
    record: StudyRecord
    analysis: StudyAnalysis


class ExportUnavailable(Exception):
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
        data={"before": before, "after": values},
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
    "rjafroc.xlsx": (XLSX, "RJafroc Excel (TRUTH/NL/LL)"),
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
        if analysis.froc is None:
            raise ExportUnavailable("This study has no lesion marks to export in RJafroc's format.")
        return _file_bytes(lambda p: write_excel(analysis.froc, p), ".xlsx")
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
