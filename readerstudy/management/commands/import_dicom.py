"""``manage.py import_dicom <study-slug> <folder-or-zip> --manifest manifest.csv``."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.imaging.dicom_import import DicomImportError, manifest_text_read
from readerstudy.imaging.import_jobs import import_job_run, import_job_start
from readerstudy.studies.models import Study


class Command(BaseCommand):
    help = (
        "Import a folder (searched recursively) or zip of DICOM files into a study, "
        "de-identified, mapped to cases and conditions by a CSV manifest. Runs as an import "
        "job in this process (listed on the study's import page)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="Slug of the study.")
        parser.add_argument("source", help="Folder or .zip archive of DICOM files.")
        parser.add_argument(
            "--manifest",
            required=True,
            help="CSV with the columns case,condition and one of series_instance_uid, folder or nifti.",
        )
        parser.add_argument(
            "--strict", action="store_true", help="Exit with an error if any file or series was not imported."
        )
        parser.add_argument(
            "--acknowledge-design-change",
            action="store_true",
            help="Allow cases or conditions that the study's active schedule does not cover "
            "(then make a new schedule version).",
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}.")
        manifest = Path(options["manifest"]).resolve()
        with _terminate_as_exit():
            try:
                job = import_job_start(
                    study=study,
                    manifest_text=manifest_text_read(manifest),
                    actor=None,
                    source=Path(options["source"]).resolve(),
                    manifest_path=manifest,
                    background=False,
                    acknowledge_design_change=options["acknowledge_design_change"],
                )
            except DicomImportError as exc:
                raise CommandError(str(exc)) from exc
            report = import_job_run(job_id=job.pk)
        if report is None:
            job.refresh_from_db()
            raise CommandError(job.error or f"Import job {job.pk} did not run ({job.get_status_display()}).")
        self.stdout.write("\n".join(report.lines()))
        if options["strict"] and not report.ok:
            raise CommandError("Some files or series were rejected or not in the manifest (--strict).")


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM exits through ``SystemExit``, so that the import job cleans up after itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
