"""Reading phases: every study gets one phase ("Reading"), which asks all its questions and
holds its schedules and sessions; answers may be about a reference lesion; a session records
when its reader was told it opened."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("readerstudy", "0009_import_jobs_pacs"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ReadingPhase",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "order",
                    models.PositiveIntegerField(help_text="1 for the first phase, 2 for the next, ..."),
                ),
                ("key", models.SlugField(help_text="Stable identifier used in exports.", max_length=40)),
                ("name", models.CharField(help_text="Shown to readers, e.g. Detection.", max_length=100)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("reading", "Reading (analysed)"),
                            ("practice", "Practice (not analysed; the reference is shown after each case)"),
                        ],
                        default="reading",
                        max_length=10,
                    ),
                ),
                (
                    "takes_marks",
                    models.BooleanField(
                        default=True,
                        help_text="Readers mark lesions in this phase (when the study has a mark scale).",
                    ),
                ),
                (
                    "washout_days",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Minimum days from the reader's completion of the previous phase to this phase.",
                    ),
                ),
            ],
            options={
                "ordering": ["study", "order"],
            },
        ),
        migrations.AlterModelOptions(
            name="readingsession",
            options={"ordering": ["participation", "phase__order", "number"]},
        ),
        migrations.RemoveConstraint(
            model_name="answer",
            name="answer_unique_question",
        ),
        migrations.RemoveConstraint(
            model_name="readingschedule",
            name="schedule_one_active",
        ),
        migrations.RemoveConstraint(
            model_name="readingschedule",
            name="schedule_one_draft",
        ),
        migrations.RemoveConstraint(
            model_name="readingsession",
            name="session_unique_number",
        ),
        migrations.AddField(
            model_name="answer",
            name="lesion",
            field=models.ForeignKey(
                blank=True,
                help_text="The reference lesion a lesion question's answer is about (empty otherwise).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="answers",
                to="readerstudy.referencelesion",
            ),
        ),
        migrations.AddField(
            model_name="question",
            name="lesion_rule",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Once per reading (not about a lesion)"),
                    ("all", "Each reference lesion of the case"),
                    ("largest", "The largest reference lesion"),
                    ("median", "The median-sized reference lesion (the smaller of the two medians)"),
                ],
                default="",
                help_text="Asked about chosen reference lesions of the case, answered per lesion (needs a locked reference; references.selectors.lesions_for_question).",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="readingsession",
            name="opened_notified_at",
            field=models.DateTimeField(
                blank=True, help_text="When the reader was emailed that this session is open.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="readingsession",
            name="number",
            field=models.PositiveIntegerField(help_text="1-based, within the phase."),
        ),
        migrations.AddConstraint(
            model_name="answer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("lesion__isnull", True)),
                fields=("reading", "question"),
                name="answer_unique_question",
            ),
        ),
        migrations.AddConstraint(
            model_name="answer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("lesion__isnull", False)),
                fields=("reading", "question", "lesion"),
                name="answer_unique_question_lesion",
            ),
        ),
        migrations.AddField(
            model_name="readingphase",
            name="conditions",
            field=models.ManyToManyField(
                blank=True,
                help_text="The conditions read; none chosen: all.",
                related_name="phases",
                to="readerstudy.condition",
            ),
        ),
        migrations.AddField(
            model_name="readingphase",
            name="study",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="phases", to="readerstudy.study"
            ),
        ),
        migrations.AddField(
            model_name="question",
            name="phase",
            field=models.ForeignKey(
                help_text="The phase whose readings ask this question (the study's first when not given).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="questions",
                to="readerstudy.readingphase",
            ),
        ),
        migrations.AddField(
            model_name="readingschedule",
            name="phase",
            field=models.ForeignKey(
                help_text="The phase this schedule plans (the study's first when not given).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="schedules",
                to="readerstudy.readingphase",
            ),
        ),
        migrations.AddField(
            model_name="readingsession",
            name="phase",
            field=models.ForeignKey(
                help_text="The phase of this session (the study's first when not given).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="sessions",
                to="readerstudy.readingphase",
            ),
        ),
        migrations.AddConstraint(
            model_name="readingschedule",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "active")),
                fields=("phase",),
                name="schedule_one_active_per_phase",
            ),
        ),
        migrations.AddConstraint(
            model_name="readingschedule",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "draft")),
                fields=("phase",),
                name="schedule_one_draft_per_phase",
            ),
        ),
        migrations.AddConstraint(
            model_name="readingsession",
            constraint=models.UniqueConstraint(
                fields=("participation", "phase", "number"), name="session_unique_number"
            ),
        ),
        migrations.AddConstraint(
            model_name="readingphase",
            constraint=models.UniqueConstraint(fields=("study", "order"), name="phase_unique_order"),
        ),
        migrations.AddConstraint(
            model_name="readingphase",
            constraint=models.UniqueConstraint(fields=("study", "key"), name="phase_unique_key"),
        ),
    ]
