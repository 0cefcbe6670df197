"""Every existing study gets its one phase ("Reading"), with all its questions, schedules and sessions.

Its own migration (and so its own transaction), between adding the nullable phase columns
(0010) and making them required (0012): PostgreSQL refuses to alter a table with pending
deferred-constraint events from updates in the same transaction.
"""

from django.db import migrations


def one_phase_per_study(apps, schema_editor):
    """Give every existing study its one phase and put its questions, schedules and sessions in it."""
    Study = apps.get_model("readerstudy", "Study")
    ReadingPhase = apps.get_model("readerstudy", "ReadingPhase")
    Question = apps.get_model("readerstudy", "Question")
    ReadingSchedule = apps.get_model("readerstudy", "ReadingSchedule")
    ReadingSession = apps.get_model("readerstudy", "ReadingSession")
    for study in Study.objects.all():
        phase = ReadingPhase.objects.create(study=study, order=1, key="reading", name="Reading")
        Question.objects.filter(study=study).update(phase=phase)
        ReadingSchedule.objects.filter(study=study).update(phase=phase)
        ReadingSession.objects.filter(participation__study=study).update(phase=phase)


class Migration(migrations.Migration):
    dependencies = [("readerstudy", "0010_reading_phases")]

    operations = [
        migrations.RunPython(one_phase_per_study, migrations.RunPython.noop),
    ]
