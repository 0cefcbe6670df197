"""Every question, schedule and session now belongs to a phase (filled by 0011)."""

import django.db.models.deletion
from django.db import migrations, models


def _phase_fk(help_text, related_name):
    return models.ForeignKey(
        help_text=help_text,
        on_delete=django.db.models.deletion.PROTECT,
        related_name=related_name,
        to="readerstudy.readingphase",
    )


class Migration(migrations.Migration):
    dependencies = [("readerstudy", "0011_reading_phases_data")]

    operations = [
        migrations.AlterField(
            model_name="question",
            name="phase",
            field=_phase_fk(
                "The phase whose readings ask this question (the study's first when not given).", "questions"
            ),
        ),
        migrations.AlterField(
            model_name="readingschedule",
            name="phase",
            field=_phase_fk("The phase this schedule plans (the study's first when not given).", "schedules"),
        ),
        migrations.AlterField(
            model_name="readingsession",
            name="phase",
            field=_phase_fk("The phase of this session (the study's first when not given).", "sessions"),
        ),
    ]
