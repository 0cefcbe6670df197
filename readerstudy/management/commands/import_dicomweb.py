"""``manage.py import_dicomweb <study-slug> --url URL [--study-uid UID ...] [--manifest CSV]``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.imaging.dicom_import import DicomImportError, manifest_parse_csv, manifest_text_read
from readerstudy.imaging.import_jobs import import_job_run, pacs_import_job_start
from readerstudy.imaging.pacs import pacs_search, pacs_series_locate, pacs_server_get
from readerstudy.management.commands.import_dicom import _terminate_as_exit
from readerstudy.studies.models import Study

COLUMNS = (
    "patient_id",
    "accession",
    "study_date",
    "modality",
    "series_number",
    "series_description",
    "instances",
)


class Command(BaseCommand):
    help = (
        "Import series from a DICOMweb server (a PACS) into a study: without --manifest, list the "
        "series that match the search options (QIDO-RS); with --manifest (case,condition,"
        "series_instance_uid), retrieve those series (WADO-RS) and import them like import_dicom "
        "(validated, de-identified, reported; importing again changes nothing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="Slug of the study.")
        parser.add_argument(
            "--url",
            required=True,
            help="A server named in READERSTUDY_DICOMWEB_SERVERS, or a DICOMweb root URL (credentials "
            "then from READERSTUDY_DICOMWEB_USERNAME/_PASSWORD or READERSTUDY_DICOMWEB_TOKEN).",
        )
        parser.add_argument(
            "--study-uid",
            action="append",
            default=[],
            help="Only series of this StudyInstanceUID (repeatable).",
        )
        parser.add_argument("--manifest", help="CSV with the columns case,condition,series_instance_uid.")
        parser.add_argument("--patient-id", default="", help="Search: PatientID.")
        parser.add_argument("--accession", default="", help="Search: AccessionNumber.")
        parser.add_argument("--study-date", default="", help="Search: YYYYMMDD or YYYYMMDD-YYYYMMDD.")
        parser.add_argument("--modality", default="", help="Search: modality (MR, CT ...).")
        parser.add_argument(
            "--description", default="", help="Search: text in the series or study description."
        )
        parser.add_argument(
            "--strict", action="store_true", help="Exit with an error if any series was not imported."
        )
        parser.add_argument(
            "--acknowledge-design-change",
            action="store_true",
            help="Allow cases or conditions that the study's active schedule does not cover.",
        )

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}.")
        try:
            server = pacs_server_get(options["url"])
            if not options["manifest"]:
                self._list(server, options)
                return
            manifest_text = manifest_text_read(Path(options["manifest"]).resolve())
            uids = [
                row.series_instance_uid
                for row in manifest_parse_csv(manifest_text)
                if row.series_instance_uid
            ]
            if options["study_uid"]:
                found = pacs_search(server, study_uids=options["study_uid"])
                located = {series.series_uid: series.study_uid for series in found}
            else:
                located = pacs_series_locate(server, uids)
            series = [(located[uid], uid) for uid in dict.fromkeys(uids) if uid in located]
            if not series:
                raise DicomImportError(f"None of the manifest's series is on {server.name}.")
            with _terminate_as_exit():
                job = pacs_import_job_start(
                    study=study,
                    server=options["url"],
                    series=series,
                    manifest_text=manifest_text,
                    actor=None,
                    background=False,
                    acknowledge_design_change=options["acknowledge_design_change"],
                )
                report = import_job_run(job_id=job.pk)
        except DicomImportError as exc:
            raise CommandError(str(exc)) from exc
        if report is None:
            job.refresh_from_db()
            raise CommandError(job.error or f"Import job {job.pk} did not run ({job.get_status_display()}).")
        self.stdout.write("\n".join(report.lines()))
        if options["strict"] and not report.ok:
            raise CommandError("Some series were rejected or not found (--strict).")

    def _list(self, server, options) -> None:
        found = pacs_search(
            server,
            patient_id=options["patient_id"],
            accession=options["accession"],
            study_date=options["study_date"],
            modality=options["modality"],
            description=options["description"],
            study_uids=options["study_uid"],
        )
        self.stdout.write("\t".join(("study_instance_uid", "series_instance_uid", *COLUMNS)))
        for series in found:
            values = [series.study_uid, series.series_uid] + [
                "" if getattr(series, name) is None else str(getattr(series, name)) for name in COLUMNS
            ]
            self.stdout.write("\t".join(values))
        self.stdout.write(
            f"{len(found)} series on {server.name}. To import, give --manifest with the columns "
            "case,condition,series_instance_uid."
        )
