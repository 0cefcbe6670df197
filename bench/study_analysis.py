"""Analysis benchmark: the statistician's analysis page, every export and the bundle of a large,
locked FROC study (default 300 cases x 10 readers x 3 conditions = 9,000 readings).

    .venv/bin/python bench/study_analysis.py                            # 300 cases, 10 readers
    .venv/bin/python bench/study_analysis.py --cases 300 --readers 10 --runs 3
    .venv/bin/python bench/study_analysis.py --quick                    # smoke size, one run each

What it does, all in a temporary folder (its own ``READERSTUDY_VAR_DIR``: SQLite database,
collected static files) that is removed at the end:

1. migrates the new database and collects the static files (``bench/settings_bench.py``:
   DEBUG off, static files as in production);
2. builds the study through the platform's services: the ``brain-mets-froc`` template
   (``study_create_from_template``) with an HR condition beside LR and SR (as the demo adds
   it); per case an image-series row per condition, with a DicomInstance row per slice
   (checksums, no pixel files: the analysis reads only the rows); a simulation reference set
   drafted, submitted, adjudicated and locked by a reviewer (``references.services``); readers
   enrolled and a crossed schedule generated and activated (``design.services``); every
   reading read as in tests/results/test_results.py (``reading_open``, ``mark_save``,
   ``answers_save``, ``reading_submit``): HR finds more lesions than SR, SR more than LR;
   then the study is locked (``study_lock``);
3. times, with Django's test client in-process (no server, no port), each as the
   statistician: the analysis page (``readerstudy:study_analysis``; the first request, with
   cold imports, on its own line), every ``readerstudy:study_export`` kind, the answers and
   readings CSVs, and one analysis table's CSV: the median of ``--runs`` requests each;
4. profiles one page request (cProfile, top 15 by cumulative time) when its median is over
   the target, or always with ``--profile``.

Nothing in the app caches an analysis: every request is one analysis run
(``results.services.results_compute``), recorded and audited like a real one.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import platform
import pstats
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS = "bench.settings_bench"
TEMPLATE = "brain-mets-froc"
#: Target of the analysis page (issue 20): at most this many seconds on a 2-core machine.
TARGET_PAGE_S = 5.0
#: Probability that a reader finds a lesion, per condition (as tests/results/test_results.py).
FIND = {"HR": 0.9, "SR": 0.7, "LR": 0.5}
#: Lesions per case, cycled (as the demo): normal cases and cases with one to three metastases.
LESION_COUNTS = (2, 0, 1, 3, 0, 1, 2, 0)
#: Readings simulated per database transaction: one commit (and fsync) each, not one per service call.
BATCH = 200
MATRIX, THICK = 192, 4  # HR/SR: MATRIX x MATRIX x slices at 1 mm; LR: slices / THICK at THICK mm


def machine() -> str:
    """Platform, CPUs and the load average now (the machine may be shared)."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs, "
        f"load average {load}"
    )


def django_start(var_dir: Path) -> None:
    """Point Django at the bench's own folder, set it up, migrate and collect static files."""
    for name in ("DATABASE_URL", "READERSTUDY_MEDIA_ROOT", "READERSTUDY_STATIC_ROOT"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["READERSTUDY_VAR_DIR"] = str(var_dir)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


# --------------------------------------------------------------------------- the study


def _series_create(case: Any, condition: Any, slices: int, rng: Any) -> Any:
    """An image series row of ``case`` with a DicomInstance row per slice (no pixel file).

    HR and SR: 1 mm slices; LR: ``THICK`` mm slices over the same extent, in the same frame.
    """
    from readerstudy.imaging.models import DicomInstance, ImageSeries

    thick = condition.label == "LR"
    count = slices // THICK if thick else slices
    spacing = float(THICK if thick else 1)
    z0 = (spacing - 1.0) / 2.0  # the centre of the first slab
    series = ImageSeries.objects.create(
        case=case,
        condition=condition,
        series_instance_uid=f"2.25.{uuid.uuid4().int}",
        study_instance_uid=f"2.25.{uuid.uuid4().int}",
        modality="MR",
        description=f"T1 post-contrast {spacing:g} mm",
        rows=MATRIX,
        columns=MATRIX,
        num_slices=count,
        pixel_spacing=[1.0, 1.0],
        slice_spacing=spacing,
        slice_thickness=spacing,
        orientation=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        origin=[0.0, 0.0, z0],
    )
    DicomInstance.objects.bulk_create(
        DicomInstance(
            series=series,
            sop_instance_uid=f"2.25.{uuid.uuid4().int}",
            slice_index=k,
            instance_number=k + 1,
            image_position=[0.0, 0.0, z0 + k * spacing],
            file=f"bench/{series.public_id}/{k}.dcm",
            sha256=hashlib.sha256(rng.bytes(16)).hexdigest(),
            source_sha256=hashlib.sha256(rng.bytes(16)).hexdigest(),
            size=MATRIX * MATRIX * 2 + 2048,
        )
        for k in range(count)
    )
    return series


def _reference_build(study: Any, reviewer: Any, coordinator: Any, rng: Any) -> int:
    """A simulation reference set drafted by ``reviewer`` on each case's HR series, submitted,
    adjudicated (one draft: nothing to decide) and locked, all through ``references.services``.
    Returns the number of lesions."""
    from readerstudy.references.models import ReferenceSet
    from readerstudy.references.services import (
        reference_adjudicate,
        reference_draft_findings_save,
        reference_draft_get_or_create,
        reference_draft_submit,
        reference_lesion_save,
        reference_set_create,
        reference_set_lock,
    )

    reference_set = reference_set_create(
        study=study,
        source=ReferenceSet.Source.SIMULATION,
        actor=coordinator,
        reviewers=[reviewer],
        adjudicator=reviewer,
        notes="Simulated lesions of bench/study_analysis.py.",
    )
    lesions = 0
    for number, case in enumerate(study.cases.order_by("code")):
        count = LESION_COUNTS[number % len(LESION_COUNTS)]
        draft, _ = reference_draft_get_or_create(reference_set=reference_set, case=case, reviewer=reviewer)
        reference_draft_findings_save(
            draft=draft,
            is_abnormal=count > 0,
            findings={"metastasis_present": (count > 0, None)},
            actor=reviewer,
        )
        series = draft.series
        if series is None:
            raise RuntimeError(f"Case {case.code}: the reference draft has no series to mark on")
        for _ in range(count):
            reference_lesion_save(
                draft=draft,
                client_id=uuid.uuid4(),
                slice_index=int(rng.integers(8, series.num_slices - 8)),
                x=float(rng.uniform(30, MATRIX - 30)),
                y=float(rng.uniform(30, MATRIX - 30)),
                size_mm=float(rng.uniform(2.0, 15.0)),
                lesion_type="metastasis",
                actor=reviewer,
            )
        lesions += count
        reference_draft_submit(draft=draft, actor=reviewer)
        reference_adjudicate(reference_set=reference_set, case=case, decisions={}, actor=reviewer)
    reference_set_lock(reference_set=reference_set, actor=reviewer)
    return lesions


def _pixel(series: Any, point_mm: tuple[float, float, float]) -> tuple[int, float, float]:
    """Slice and workstation image point (x, y) of a patient point (inverse of viewer_patient_position)."""
    import numpy as np

    from sr_engine.volume import dicom_affine, slice_normal

    slice_vector = slice_normal(series.orientation) * float(series.slice_spacing or 0.0)
    affine = dicom_affine(series.orientation, series.pixel_spacing, slice_vector, series.origin)
    x, y, k, _ = np.linalg.solve(affine, [*point_mm, 1.0])
    return int(np.clip(round(k), 0, series.num_slices - 1)), float(x) + 0.5, float(y) + 0.5


def _reading_simulate(reading: Any, lesions: list[Any], items: list[Any], rng: Any) -> None:
    """One reader reads one reading through ``reading.services``: marks the lesions it finds
    (and a false positive now and then), answers every question, submits."""
    from readerstudy.reading.services import (
        AnswerInput,
        answers_save,
        mark_save,
        reading_open,
        reading_submit,
    )

    user = reading.session.participation.user
    reading_open(reading=reading, user=user)
    series, label = reading.series, reading.series.condition.label
    marking = reading.session.phase.takes_marks
    found = 0
    for lesion in lesions if marking else []:
        if rng.random() < FIND[label]:
            found += 1
            k, x, y = _pixel(series, (lesion.x_mm, lesion.y_mm, lesion.z_mm))
            mark_save(
                reading=reading,
                client_id=uuid.uuid4(),
                slice_index=k,
                x=x + rng.uniform(-1, 1),
                y=y + 0.5,
                rating=int(rng.integers(2, 5)),
                user=user,
            )
    if marking and rng.random() < 0.3:  # a false positive somewhere in the image
        mark_save(
            reading=reading,
            client_id=uuid.uuid4(),
            slice_index=int(rng.integers(series.num_slices)),
            x=float(rng.uniform(0, series.columns - 1)),
            y=float(rng.uniform(0, series.rows - 1)),
            rating=int(rng.integers(1, 3)),
            user=user,
        )
    answers = {}
    for item in items:
        q = item.question
        if q.kind == "likert":
            values = q.scale_values()
            answers[item] = AnswerInput(value=int(rng.choice(values[1:] if label == "HR" else values[:-1])))
        elif q.kind == "finding":
            answers[item] = AnswerInput(
                present=found > 0, value=int(rng.choice(q.scale_values())) if found else None
            )
        elif q.kind == "text" and rng.random() < 0.1:
            answers[item] = AnswerInput(text=f"Comment on {series.case.code}")
    errors = answers_save(reading=reading, answers=answers, user=user)
    if errors:
        raise RuntimeError(f"The simulated answers were refused: {errors}")
    missing = reading_submit(reading=reading, user=user)
    if missing:
        raise RuntimeError(f"The simulated reading lacks answers to {[q.key for q in missing]}")


def _readers_simulate(study: Any, rng: Any, progress: Callable[[int, int], None]) -> int:
    """Every reader reads every reading of the schedule (:func:`_reading_simulate`), in the
    readers' order; ``BATCH`` readings per database transaction."""
    from django.db import transaction

    from readerstudy.reading.models import Reading
    from readerstudy.reading.selectors import reading_answer_items
    from readerstudy.references.models import ReferenceLesion, ReferenceStandard

    lesions: dict[int, list[Any]] = {}
    for lesion in ReferenceLesion.objects.filter(
        reference__reference_set__study=study, reference__kind=ReferenceStandard.Kind.FINAL
    ).select_related("reference"):
        lesions.setdefault(lesion.reference.case_id, []).append(lesion)
    readings = list(
        Reading.objects.filter(session__participation__study=study)
        .select_related("series__case", "series__condition", "session__participation__user", "session__phase")
        .order_by("session__participation__code", "session__phase__order", "session__number", "position")
    )
    # No lesion-rule questions in this template: every reading of a phase has the same items.
    items: dict[int, list[Any]] = {}
    for start in range(0, len(readings), BATCH):
        with transaction.atomic():
            for reading in readings[start : start + BATCH]:
                if reading.session.phase_id not in items:
                    items[reading.session.phase_id] = reading_answer_items(reading)
                phase_items = items[reading.session.phase_id]
                _reading_simulate(reading, lesions.get(reading.series.case_id, []), phase_items, rng)
        progress(min(start + BATCH, len(readings)), len(readings))
    return len(readings)


def study_build(n_cases: int, n_readers: int, slices: int, seed: int) -> tuple[Any, Any, dict[str, float]]:
    """Build and lock the study; return it, its statistician and the seconds of each step."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from readerstudy.design.services import schedule_activate, schedule_draft_create
    from readerstudy.studies.models import Case, Condition, ReaderParticipation
    from readerstudy.studies.policy import COORDINATOR, READER, STATISTICIAN
    from readerstudy.studies.services import study_create_from_template, study_lock

    rng = np.random.default_rng(seed)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    users = get_user_model().objects

    def user(name: str, role: str | None) -> Any:
        made = users.create_user(name, password=None)  # no password hash: the client logs in directly
        if role:
            made.groups.add(Group.objects.get_or_create(name=role)[0])
        return made

    coordinator, statistician = user("coordinator", COORDINATOR), user("statistician", STATISTICIAN)
    reviewer = user("radiologist", None)
    readers = [user(f"reader{r}", READER) for r in range(1, n_readers + 1)]
    with transaction.atomic():
        study = study_create_from_template(
            template_key=TEMPLATE,
            name=f"Analysis benchmark: {n_cases} cases x {n_readers} readers, LR vs SR vs HR",
            slug="analysis-bench",
            washout_days=0,
            actor=coordinator,
        )
        study.statisticians.add(statistician)
        if not study.conditions.filter(label="HR").exists():  # the template has LR and SR
            Condition.objects.create(
                study=study, label="HR", description="1 mm slices", order=study.conditions.count()
            )
        conditions = list(study.conditions.order_by("order"))
        for number in range(1, n_cases + 1):
            count = LESION_COUNTS[(number - 1) % len(LESION_COUNTS)]
            case = Case.objects.create(
                study=study, code=f"BM{number:03d}", attributes={"lesion_count": count}
            )
            for condition in conditions:
                _series_create(case, condition, slices, rng)
    steps["cases and series"] = time.perf_counter() - started

    started = time.perf_counter()
    with transaction.atomic():  # one commit: each service call is a savepoint in it
        lesions = _reference_build(study, reviewer, coordinator, rng)
    steps["reference (drafted, adjudicated, locked)"] = time.perf_counter() - started

    started = time.perf_counter()
    for index, reader in enumerate(readers, start=1):
        ReaderParticipation.objects.create(study=study, user=reader, code=f"R{index}")
    for phase in study.phases.order_by("order"):
        draft = schedule_draft_create(study=study, phase=phase, actor=coordinator, seed=seed)
        if draft.problems:
            raise RuntimeError(f"The schedule has problems: {draft.problems[:5]}")
        schedule_activate(schedule=draft, actor=coordinator)
    steps["schedule (generated, activated)"] = time.perf_counter() - started

    started = time.perf_counter()
    last = [started]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 60 or done == total:
            last[0] = time.perf_counter()
            rate = done / (last[0] - started)
            print(f"    read {done}/{total} readings ({rate:.0f}/s)", flush=True)

    readings = _readers_simulate(study, rng, progress)
    steps[f"{readings} readings read and submitted"] = time.perf_counter() - started
    unsubmitted = study_lock(study=study, actor=coordinator)
    if unsubmitted:
        raise RuntimeError(f"{unsubmitted} readings were not submitted")
    print(
        f"  {n_cases} cases x {len(conditions)} conditions, {lesions} reference lesions, "
        f"{n_readers} readers, {readings} readings; study locked"
    )
    return study, statistician, steps


# --------------------------------------------------------------------------- timing


def timed(client: Any, url: str) -> tuple[float, bytes]:
    """Seconds and body of one GET that must answer 200 with a body."""
    started = time.perf_counter()
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    seconds = time.perf_counter() - started
    if response.status_code != 200 or not body:
        raise RuntimeError(f"GET {url} answered {response.status_code}: {body[:300]!r}")
    return seconds, body


def figure(name: str, times: list[float], size: int, note: str = "") -> str:
    runs = f"median of {len(times)}" if len(times) > 1 else "1 run"
    return f"  {name:<40}{statistics.median(times):8.2f} s  ({runs}; {size / 1e6:7.2f} MB){note}"


def profile_page(client: Any, url: str, top: int = 15) -> str:
    """cProfile of one request of ``url``: the ``top`` functions by cumulative time, overall (mostly
    Django's request handling around the view) and within the project's own packages, and the
    ``top`` by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    client.get(url)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    own_code = re.escape(str(ROOT)) + "/(stats|readerstudy|sr_engine)/"
    for title, order, restrictions in (
        (f"top {top} by cumulative time", "cumulative", (top,)),
        (f"top {top} by cumulative time in stats/, readerstudy/, sr_engine/", "cumulative", (own_code, top)),
        (f"top {top} by own time", "tottime", (top,)),
    ):
        out.write(f"--- {title}\n")
        stats.sort_stats(order).print_stats(*restrictions)
    return out.getvalue()


def measure(study: Any, statistician: Any, runs: int, profile: bool, page_only: bool = False) -> None:
    """Time the page, every export and the CSVs (not with ``page_only``); print a line per figure."""
    from django.test import Client
    from django.urls import reverse

    from readerstudy.results.services import EXPORTS

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(statistician)
    slug = study.slug
    page = reverse("readerstudy:study_analysis", args=[slug])

    first, html = timed(client, page)
    size = len(html)
    tables = sorted(set(re.findall(r"/results/tables/([\w-]+)\.csv", html.decode())))
    page_times = [timed(client, page)[0] for _ in range(runs)]
    target = f"   target: <= {TARGET_PAGE_S:g} s on 2 cores"
    print(f"Analysis path ({runs} run{'s' if runs > 1 else ''} each after the first page request):")
    print(figure("analysis page, first request", [first], size, "  (cold imports)"))
    print(figure("analysis page", page_times, size, target))
    urls = {f"export {kind}": reverse("readerstudy:study_export", args=[slug, kind]) for kind in EXPORTS}
    urls["answers.csv"] = reverse("readerstudy:study_results_csv", args=[slug])
    urls["readings.csv"] = reverse("readerstudy:study_readings_csv", args=[slug])
    if tables:
        name = next((t for t in tables if "jafroc" in t), tables[0])
        urls[f"table {name}.csv ({len(tables)} tables)"] = reverse(
            "readerstudy:study_analysis_table", args=[slug, name]
        )
    if page_only:
        urls = {}
    for label, url in urls.items():
        results = [timed(client, url) for _ in range(runs)]
        print(figure(label, [t for t, _ in results], len(results[-1][1])), flush=True)
    if profile or statistics.median(page_times) > TARGET_PAGE_S:
        print("Profile of one analysis page request (cProfile):")
        print(profile_page(client, page))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--slices", type=int, default=160, help="slices of the 1 mm series (LR: a quarter)")
    parser.add_argument("--runs", type=int, default=3, help="requests per figure (the median is printed)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="profile a page request even within target")
    parser.add_argument("--page-only", action="store_true", help="time the analysis page alone, no exports")
    parser.add_argument("--quick", action="store_true", help="smoke size: 16 cases, 3 readers, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.readers, args.slices, args.runs = 16, 3, 32, 1
    if args.cases < 2 or args.readers < 2 or args.slices < 8 * THICK or args.runs < 1:
        parser.error("needs at least 2 cases, 2 readers, 32 slices and 1 run")
    print(machine())
    with tempfile.TemporaryDirectory(prefix="analysis-bench-") as tmp:
        started = time.perf_counter()
        django_start(Path(tmp) / "var")
        print(f"Database migrated and static files collected in {time.perf_counter() - started:.0f} s")
        print(f"Building the study ({TEMPLATE} template, LR/SR/HR, through the platform's services):")
        started = time.perf_counter()
        study, statistician, steps = study_build(args.cases, args.readers, args.slices, args.seed)
        for step, seconds in steps.items():
            print(f"  {step:<44}{seconds:8.1f} s")
        print(f"  {'build, total':<44}{time.perf_counter() - started:8.1f} s")
        measure(study, statistician, args.runs, args.profile, args.page_only)
        print(f"At the end: {machine()}")


if __name__ == "__main__":
    main()
