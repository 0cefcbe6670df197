"""``manage.py import_dicom <study-slug> <folder-or-zip> --manifest manifest.csv``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.models import Study
from readerstudy.services.dicom_import import DicomImportError, ImportReport, dicom_import


class Command(BaseCommand):
    help = (
        "Import a folder (searched recursively) or zip of DICOM files into a study, "
        "de-identified, mapped to cases and conditions by a CSV manifest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="Slug of the study.")
        parser.add_argument("source", help="Folder or .zip archive of DICOM files.")
        parser.add_argument(
            "--manifest",
            required=True,
            help="CSV with the columns case,condition and series_instance_uid or folder.",
        )
        parser.add_argument(
            "--strict", action="store_true", help="Exit with an error if any file or series was not imported."
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}.")
        try:
            report = dicom_import(
                study=study, source=Path(options["source"]), manifest=Path(options["manifest"])
            )
        except DicomImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("\n".join(report_lines(report)))
        if options["strict"] and not report.ok:
            raise CommandError("Some files or series were rejected or not in the manifest (--strict).")


def report_lines(report: ImportReport) -> list[str]:
    """The report as text: the summary, then one line per series, file and manifest problem."""
    lines = [report.summary()]
    lines += [
        f"imported: {s.case_code} / {s.condition_label} ({s.num_instances} instances)"
        for s in report.imported
    ]
    lines += [f"already present: {s.case_code} / {s.condition_label}" for s in report.already_present]
    lines += [
        f"rejected series {s.series_instance_uid} in {s.folder}: {s.reason}" for s in report.rejected_series
    ]
    lines += [f"rejected file {r.path}: {r.reason}" for r in report.rejected]
    lines += [f"not in manifest: series {u.series_instance_uid} in {u.folder}" for u in report.unmapped]
    lines += [f"manifest: {error}" for error in report.manifest_errors]
    return lines
