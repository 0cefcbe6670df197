"""``manage.py fidelity_compute <study-slug>``: image fidelity outside a request (large studies)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.measurements.selectors import fidelity_rows
from readerstudy.measurements.services import MeasurementInvalid, fidelity_compute
from readerstudy.studies.models import Study


class Command(BaseCommand):
    help = (
        "Compute PSNR, SSIM and RMSE of every case and condition of a study against its reference "
        "condition (chosen on the measurement page, else the one labelled HR): what the page's button "
        "does, for studies too large to wait for in a browser."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="Slug of the study.")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}.")
        try:
            results = fidelity_compute(study=study, actor=None)
        except MeasurementInvalid as exc:
            raise CommandError(str(exc)) from exc
        for row in fidelity_rows(study):
            values = (
                f"PSNR {row['psnr']:.2f} dB  SSIM {row['ssim']:.4f}  RMSE {row['rmse']:.3f}"
                if row["psnr"] is not None
                else row["note"]
            )
            self.stdout.write(f"{row['case']}  {row['condition']} vs {row['reference']}: {values}")
        compared = sum(1 for r in results if r.psnr is not None)
        self.stdout.write(f"{compared} of {len(results)} series compared.")
