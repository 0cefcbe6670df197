import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("readerstudy", "0015_t2_agreement"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="display_grid_condition",
            field=models.ForeignKey(
                blank=True,
                help_text="The condition whose series defines each case's display grid (matrix, field of view, "
                "slices): the case's other series are resampled onto it for readers. Empty: off.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="readerstudy.condition",
            ),
        ),
        migrations.AddField(
            model_name="imageseries",
            name="display_grid",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="The common display grid (readerstudy.imaging.display_grid): empty for a series shown "
                "as imported; else the grid it was checked or resampled onto, the source and target geometry, "
                "the interpolation, the software and, when resampled, the original instances (kept).",
            ),
        ),
    ]
