"""The demo study the set-up command loads: brain MRI with metastases, read as LR, SR and HR.

Everything is generated: the anatomy is the MNI152 template shipped with nilearn
(see ``sr_engine.brain_phantom``), lesions, bias and noise are added per case, the
thick-slice condition (LR) is simulated with ``sr_engine.slice_profile``. The HR and LR
series are written as DICOM with made-up patient identifiers and go through the regular
DICOM import, so they are de-identified like real data. The SR condition is made from LR
by the embedded SR engine through the service a coordinator uses
(``generation.services.generation_job_start``), its tasks run here, in this process and
transaction: :func:`demo_series_build` does all three conditions.

Loading is idempotent: an existing demo study is left as it is. To rebuild it, the
old one is archived (renamed, locked, readers deactivated), never deleted, because
the append-only audit log refers to it.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, Protocol, TypedDict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create
from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.generation.models import GenerationJob, GenerationTask
from readerstudy.generation.services import GenerationRequest, generation_job_start
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.jobs import jobs_run_in_caller
from readerstudy.references.models import ReferenceLesion, ReferenceSet, ReferenceStandard
from readerstudy.studies.models import Case, Condition, Question, ReaderParticipation, Study
from readerstudy.studies.policy import COORDINATOR, READER, STATISTICIAN
from sr_engine.brain_phantom import brain_case
from sr_engine.dicom_series import SeriesInfo, write_dicom_series
from sr_engine.slice_profile import thicken_slices

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # the user model, as mypy resolves AUTH_USER_MODEL

DEMO_SLUG = "demo-brain-mets"
DEMO_PASSWORD = "demo"  # noqa: S105 (demo accounts exist only under the demo settings)
DEMO_ACCOUNTS = (
    ("coordinator", COORDINATOR),
    ("reader1", READER),
    ("reader2", READER),
    ("reader3", READER),
    ("statistician", STATISTICIAN),
)


THICK_FACTOR = 4
#: The SR condition: made from LR by this ``sr_engine.upscale`` method, back onto the 1 mm grid.
#: Tricubic interpolation (TCI), the classical through-plane baseline of SR MRI studies: it
#: needs no weights and takes well under a second per case on a CPU.
SR_METHOD = "tci"
SR_SOURCE, SR_TARGET = "LR", "SR"
#: Lesions per case, cycled: a mix of normal cases and cases with one to three metastases.
LESION_COUNTS = (2, 0, 1, 3, 0, 1, 2, 0)


def _scale(*labels: str) -> list[dict[str, object]]:
    return [{"value": value, "label": label} for value, label in enumerate(labels, start=1)]


class _QuestionSpec(TypedDict):
    """A demo question: the fields of its ``Question`` row."""

    key: str
    text: str
    kind: str
    scale: list[dict[str, object]]
    required: NotRequired[bool]


CONFIDENCE = _scale("possibly", "probably", "likely", "definitely")
QUESTIONS: list[_QuestionSpec] = [
    dict(
        key="overall_quality",
        text="Overall image quality",
        kind=Question.Kind.LIKERT,
        scale=_scale("non-diagnostic", "poor", "fair", "good", "excellent"),
    ),
    dict(
        key="noise",
        text="Image noise",
        kind=Question.Kind.LIKERT,
        scale=_scale("severe", "moderate", "mild", "minimal"),
    ),
    dict(
        key="sharpness",
        text="Sharpness of grey-white matter borders",
        kind=Question.Kind.LIKERT,
        scale=_scale("blurred", "moderately sharp", "sharp", "very sharp"),
    ),
    dict(
        key="lesion_conspicuity",
        text="Visibility of small structures",
        kind=Question.Kind.LIKERT,
        scale=_scale("not visible", "poorly visible", "visible", "clearly visible"),
    ),
    dict(
        key="metastasis_present",
        text="At least one metastasis present",
        kind=Question.Kind.FINDING,
        scale=CONFIDENCE,
    ),
    dict(key="comment", text="Comment", kind=Question.Kind.TEXT, scale=[], required=False),
]


def demo_study_exists() -> bool:
    return Study.objects.filter(slug=DEMO_SLUG).exists()


def demo_study_archive() -> Study | None:
    """Move the current demo study aside (locked, readers removed) so a new one can be made.

    Nothing is deleted: the audit log keeps referring to the archived study.
    """
    study = Study.objects.filter(slug=DEMO_SLUG).first()
    if study is None:
        return None
    with transaction.atomic():
        before = {"slug": study.slug, "name": study.name, "status": study.status}
        study.slug = f"{DEMO_SLUG}-archived-{study.pk}"
        study.name = f"{study.name} (archived)"
        study.status = Study.Status.LOCKED
        study.save(update_fields=["slug", "name", "status"])
        study.participations.update(active=False)
        audit_event_create(
            actor=None,
            action=AuditAction.DEMO_ARCHIVE,
            target=study,
            study=study,
            data=audit_change(before, {"slug": study.slug, "name": study.name, "status": study.status}),
        )
    return study


def _write_cases(root: Path, n_cases: int, slices: int, seed: int) -> tuple[Path, dict[str, tuple]]:
    """Write every case's HR and LR series under ``root`` and a manifest CSV beside them.

    Returns the manifest's path and each case's lesions (patient coordinates, LPS mm,
    the frame of the written series).
    """
    rows: list[dict[str, str]] = []
    lesions: dict[str, tuple] = {}
    for number in range(1, n_cases + 1):
        code = f"BM{number:02d}"
        phantom = brain_case(seed + number, LESION_COUNTS[(number - 1) % len(LESION_COUNTS)], slices=slices)
        lesions[code] = phantom.lesions
        series_info = partial(
            SeriesInfo,
            patient_name=f"DEMO^PATIENT{number:02d}",
            patient_id=f"DEMO-{number:04d}",
            study_description="MRI brain with contrast (demo)",
        )
        hr = series_info(series_description="T1 post-contrast 1 mm", series_number=1)
        lr = series_info(
            series_description=f"T1 post-contrast {THICK_FACTOR} mm",
            series_number=2,
            study_instance_uid=hr.study_instance_uid,
            frame_of_reference_uid=hr.frame_of_reference_uid,
            derivation=f"Simulated {THICK_FACTOR} mm slices (box profile) from the 1 mm series",
        )
        write_dicom_series(phantom.volume, root / code / "HR", hr)
        write_dicom_series(thicken_slices(phantom.volume, THICK_FACTOR), root / code / "LR", lr)
        rows += [
            {"case": code, "condition": "HR", "folder": f"{code}/HR"},
            {"case": code, "condition": "LR", "folder": f"{code}/LR"},
        ]
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["case", "condition", "folder"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest, lesions


def _conditions_create(study: Study) -> None:
    """Create the HR and LR conditions the study lacks (by label); SR is the generation job's."""
    for order, (label, description) in enumerate(
        (("HR", "1 mm slices"), (SR_SOURCE, f"{THICK_FACTOR} mm slices (simulated)"))
    ):
        if not study.conditions.filter(label=label).exists():
            Condition.objects.create(study=study, label=label, description=description, order=order)


def demo_sr_generate(study: Study, *, seed: int = 0) -> GenerationJob:
    """Fill the SR condition from LR as a coordinator would: ``generation_job_start`` with
    ``SR_METHOD`` x ``THICK_FACTOR``, its tasks run at once in this thread and transaction.

    The service creates the SR condition if the study has none (or fills an empty one),
    records the job, a task per case with the output series and its provenance, and the
    audit events. Raises ``RuntimeError`` unless every case got its SR series.
    """
    request = GenerationRequest(
        source_condition=study.conditions.get(label=SR_SOURCE),
        target_label=SR_TARGET,
        method=SR_METHOD,
        factor=THICK_FACTOR,
        seed=seed,
    )
    with jobs_run_in_caller():
        job, _ = generation_job_start(study=study, request=request, actor=None)
    job.refresh_from_db()
    unfinished = job.tasks.exclude(status=GenerationTask.Status.DONE).select_related("case")
    failed = [f"{task.case.code}: {task.error}" for task in unfinished]
    if job.status != GenerationJob.Status.DONE or failed:
        raise RuntimeError(f"The demo's SR generation failed ({job.status}): {'; '.join(failed)}")
    return job


def demo_series_build(
    study: Study, *, n_cases: int, slices: int, seed: int, say: Callable[[str], None] = print
) -> dict[str, tuple]:
    """The demo's three conditions and every case's series in them: HR and simulated LR
    generated and imported (``dicom_import``), then SR made from LR by the SR engine through
    the generation service (:func:`demo_sr_generate`). Conditions the study already has (by
    label, e.g. from a template) are used as they are.

    Returns each case's lesions (patient coordinates, LPS mm), for the reference standard.
    """
    _conditions_create(study)
    with tempfile.TemporaryDirectory(prefix="readerstudy-demo-") as folder:
        say(f"Generating {n_cases} cases x 2 conditions (HR, {SR_SOURCE}) ...")
        manifest, lesions = _write_cases(Path(folder), n_cases, slices, seed)
        say("Importing the DICOM series ...")
        report = dicom_import(study=study, source=Path(folder), manifest=manifest)
    if not report.ok or len(report.imported) != 2 * n_cases:
        raise RuntimeError(f"The demo import failed: {report.summary()}")
    say(report.summary())
    say(f"Generating {SR_TARGET} from {SR_SOURCE} with the SR engine ({SR_METHOD} x{THICK_FACTOR}) ...")
    job = demo_sr_generate(study, seed=seed)
    say(f"Generated {job.tasks.count()} {SR_TARGET} series (generation job {job.pk}).")
    return lesions


def _references_create(study: Study, cases: list[Case], lesions: dict[str, tuple]) -> ReferenceSet:
    """A locked reference set whose finals hold exactly the lesions the generator inserted."""
    now = timezone.now()
    reference_set = ReferenceSet.objects.create(
        study=study,
        source=ReferenceSet.Source.SIMULATION,
        status=ReferenceSet.Status.LOCKED,
        locked_at=now,
        notes="Lesions inserted by the demo generator (exact).",
        provenance={"generator": "readerstudy.demo", "cases": len(cases)},
    )
    for case in cases:
        found = lesions[case.code]
        ring = [f"L{n}" for n, lesion in enumerate(found, start=1) if lesion.ring_enhancing]
        reference = ReferenceStandard.objects.create(
            reference_set=reference_set,
            case=case,
            kind=ReferenceStandard.Kind.FINAL,
            is_abnormal=bool(found),
            notes=f"Ring-enhancing: {', '.join(ring)}." if ring else "",
        )
        ReferenceLesion.objects.bulk_create(
            ReferenceLesion(
                reference=reference,
                label=f"L{n}",
                lesion_type="metastasis",
                size_mm=lesion.diameter_mm,
                x_mm=lesion.center_mm[0],
                y_mm=lesion.center_mm[1],
                z_mm=lesion.center_mm[2],
            )
            for n, lesion in enumerate(found, start=1)
        )
        case.attributes = {**case.attributes, "lesion_count": len(found)}
        case.save(update_fields=["attributes"])
    return reference_set


def _accounts() -> dict[str, User]:
    """The demo users, created (password ``demo``) or reset to it, each in its role's group."""
    users = {}
    for username, role in DEMO_ACCOUNTS:
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        users[username] = user
    return users


def _schedule(study: Study, readers: list, seed: int) -> None:
    """Enrol the readers and activate a crossed two-session schedule (``design.services``).

    Each reader reads every case once per session, half of the cases as HR in session 1
    and LR in session 2, the other half the reverse, in a random order of their own;
    session 2 opens once the reader has completed session 1 and the washout has passed.
    """
    for index, user in enumerate(readers, start=1):
        ReaderParticipation.objects.create(study=study, user=user, code=f"R{index}")
    draft = schedule_draft_create(study=study, actor=None, seed=seed)
    schedule_activate(schedule=draft, actor=None)


class _Writer(Protocol):
    """Where progress goes: a text stream or a management command's ``stdout``."""

    def write(self, text: str, /) -> object: ...


def demo_study_create(
    *, n_cases: int = 8, slices: int = 64, seed: int = 2026, stdout: _Writer | None = None
) -> Study:
    """Build the demo study, or return it unchanged when it exists; see the module docstring.

    Everything is written in one transaction: an interrupted run leaves no half-built
    study behind (only, at worst, unreferenced files under MEDIA_ROOT).
    """
    existing = Study.objects.filter(slug=DEMO_SLUG).first()
    if existing is not None:
        return existing
    if n_cases < 2:
        raise ValueError("The demo needs at least two cases.")
    if slices < 4 * THICK_FACTOR or slices % THICK_FACTOR:
        raise ValueError(f"The demo needs a multiple of {THICK_FACTOR} slices, at least {4 * THICK_FACTOR}.")

    def say(message: str) -> None:
        if stdout is not None:
            stdout.write(message + "\n")

    with transaction.atomic():
        study = Study.objects.create(
            name="Demo: brain metastases, LR vs SR vs HR",
            slug=DEMO_SLUG,
            description=(
                "Generated demo: contrast-enhanced T1 brain MRI (MNI152 anatomy) with metastasis-like "
                f"lesions, read as 1 mm slices (HR), simulated {THICK_FACTOR} mm slices (LR) and "
                f"SR: 1 mm slices made from LR by the SR engine ({SR_METHOD})."
            ),
            washout_days=7,
            mark_scale=CONFIDENCE,
        )
        for order, question in enumerate(QUESTIONS):
            Question.objects.create(study=study, order=order, **question)
        audit_event_create(
            actor=None,
            action=AuditAction.DEMO_CREATE,
            target=study,
            study=study,
            data={"cases": n_cases, "slices": slices, "seed": seed},
        )
        lesions = demo_series_build(study, n_cases=n_cases, slices=slices, seed=seed, say=say)

        cases = list(study.cases.order_by("code"))
        _references_create(study, cases, lesions)
        if getattr(settings, "READERSTUDY_DEMO_ACCOUNTS", False):
            users = _accounts()
            study.coordinators.add(users["coordinator"])
            study.statisticians.add(users["statistician"])
            _schedule(study, [users[f"reader{i}"] for i in (1, 2, 3)], seed)
        else:
            say("Demo accounts are only made under the demo settings (config.settings.local).")
        study.status = Study.Status.ACTIVE
        study.save(update_fields=["status"])
    return study
