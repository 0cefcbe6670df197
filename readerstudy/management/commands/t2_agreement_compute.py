"""``manage.py t2_agreement_compute <study-slug>``: DESS T2 agreement outside a request (large studies)."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.measurements.selectors import t2_agreement_rows
from readerstudy.measurements.services import MeasurementInvalid, t2_agreement_compute
from readerstudy.studies.models import Study


class Command(BaseCommand):
    help = (
        "Compute the agreement of every case's DESS T2 map under every condition with the reference "
        "condition's map (Lin's CCC, CV%, mean T2; over the tissue mask and every circle ROI): what the "
        "measurement page's button does, for studies too large to wait for in a browser."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="Slug of the study.")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}.")
        try:
            results = t2_agreement_compute(study=study, actor=None)
        except MeasurementInvalid as exc:
            raise CommandError(str(exc)) from exc
        for row in t2_agreement_rows(study):
            values = (
                f"CCC {row['ccc']:.3f} ({row['ccc_lower']:.3f} to {row['ccc_upper']:.3f})  "
                f"CV {row['cv_percent']:.1f}%  "
                f"T2 {row['mean_t2_ms']:.1f} vs {row['reference_mean_t2_ms']:.1f} ms"
                if row["ccc"] is not None
                else row["note"]
            )
            self.stdout.write(
                f"{row['case']}  {row['condition']} vs {row['reference']} ({row['region']}): {values}"
            )
        compared = sum(1 for r in results if r.ccc is not None)
        self.stdout.write(f"{compared} of {len(results)} maps and regions compared.")
