"""Benchmark of the reader workstation: a 160-slice 512 x 512 MR series in headless Chromium.

Run by hand: ``.venv/bin/python bench/workstation.py`` (needs Debian's chromium at
/usr/bin/chromium and the built viewer, ``node frontend/build.mjs``; no network).

Everything lives in a temporary folder that is removed at the end: an SQLite database
(``READERSTUDY_VAR_DIR``), a generated 160 x 512 x 512 MR series brought in by the real
DICOM import, a study with one reader and one open reading. The app is served by
gunicorn on 127.0.0.1 with ``bench/settings_bench.py`` (DEBUG off, WhiteNoise serving
the collected, compressed static files, as in production).

Prints, next to the issue's targets, with the machine (platform, CPU count):

* over 7 page loads of the reading (each in a fresh browser context, so the HTTP cache
  is cold), the median and max time from navigation start to the page's
  ``performance.mark("workstation:first-image")`` (first image on the canvas) and to
  ``performance.mark("workstation:series-loaded")`` (every slice loaded), and the slowest
  request the browser saw (Resource Timing ``duration``, and the part of it from
  ``requestStart`` to ``responseEnd``, i.e. without the time queued in the browser);
  any other ``workstation:*`` marks the page makes are listed below them;
* the server's throughput for WADO-RS frame and instance requests sent from Python
  threads: requests/s, MB/s and latency percentiles including the max.

When the page never emits a mark, that figure is reported as missing (after a timeout).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sr_engine.volume import Volume

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CHROMIUM = "/usr/bin/chromium"
#: Chromium's own GPU set-up: headless Chromium 156 gives WebGL2 through ANGLE on SwiftShader's
#: Vulkan device without any flag. The flags these benches used before
#: (``--use-angle=swiftshader --enable-unsafe-swiftshader --ignore-gpu-blocklist``) also moved the
#: page compositor onto SwiftShader's GL, which no reader's browser does: a one-line page's first
#: paint took 160 ms (median of 8 fresh contexts) where it takes 52 ms without them, and both
#: viewers were about twice as slow (ours: first image 376 -> 212 ms; OHIF 4.7 -> 2.3 s).
CHROMIUM_ARGS: list[str] = []
SETTINGS = "bench.settings_bench"

SLICES, SIZE = 160, 512
PAGE_LOADS = 7
#: gunicorn: one worker process per CPU (at least 2), each with a few threads, since a
#: request spends part of its time reading files (and SQLite) rather than in Python.
WORKERS = max(2, os.cpu_count() or 1)
THREADS = 4
#: Python client threads of the throughput test, and passes over the 160 instances.
CLIENT_THREADS = 8
PASSES = 2

FIRST_IMAGE_MARK = "workstation:first-image"
SERIES_MARK = "workstation:series-loaded"
#: The issue's targets on a quiet machine (issue 19: first image <= 300 ms, full series <= 2 s).
TARGET_FIRST_IMAGE_MS = 300
TARGET_SERIES_MS = 2000
TARGET_REQUEST_MS = 1000
#: How long a page load waits for each mark before calling it missing.
MARK_TIMEOUT_MS = {FIRST_IMAGE_MARK: 30_000, SERIES_MARK: 60_000}
#: While a mark has not been seen on any page load yet, later loads only wait this long for it.
MISSING_MARK_TIMEOUT_MS = 5_000
SERVER_START_TIMEOUT_S = 60
BUNDLE = ROOT / "static" / "readerstudy" / "build" / "workstation.js"

READER_USERNAME = "bench-reader"
PASSWORD_ENV = "BENCH_READER_PASSWORD"  # noqa: S105 (the name of a variable, not a password)


# --------------------------------------------------------------------------- data set-up
# These functions run in a subprocess (``workstation.py --setup``) with Django configured.


def phantom_volume(seed: int = 2026) -> Volume:
    """A 160 x 512 x 512 image-like volume: smooth Gaussian blobs on a dim background, plus noise."""
    import numpy as np

    from sr_engine.volume import Volume, dicom_affine

    rng = np.random.default_rng(seed)
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in (SLICES, SIZE, SIZE)]
    data = np.full((SLICES, SIZE, SIZE), 100.0, dtype=np.float32)
    for _ in range(16):
        center = rng.uniform(-0.6, 0.6, size=3)
        sigma = rng.uniform(0.05, 0.4)
        amplitude = rng.uniform(150.0, 700.0)
        z, y, x = (np.exp(-(((axis - c) / sigma) ** 2)) for axis, c in zip(axes, center, strict=True))
        data += amplitude * z[:, None, None] * y[None, :, None] * x[None, None, :]
    data += 20.0 * rng.standard_normal(data.shape, dtype=np.float32)
    affine = dicom_affine(
        orientation=(1, 0, 0, 0, 1, 0),
        pixel_spacing=(0.5, 0.5),
        slice_vector=(0, 0, 1.0),
        origin=(-128, -128, -80),
    )
    return Volume(data=np.clip(data, 0, None).astype(np.int16), affine=affine)


def study_create(folder: Path, password: str) -> dict[str, Any]:
    """Import the series into a new active study with one reader; return what the benchmark needs."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from readerstudy.imaging import blinding
    from readerstudy.imaging.dicom_import import dicom_import
    from readerstudy.reading.models import Reading, ReadingSession
    from readerstudy.studies.models import Condition, ReaderParticipation, Study
    from readerstudy.studies.policy import READER
    from sr_engine.dicom_series import SeriesInfo, write_dicom_series

    info = SeriesInfo(
        patient_name="BENCH^WORKSTATION", patient_id="BENCH-0001", series_description="Bench 160 x 512 x 512"
    )
    write_dicom_series(phantom_volume(), folder / "series", info)

    study = Study.objects.create(name="Workstation benchmark", slug="workstation-bench")
    Condition.objects.create(study=study, label="A")
    manifest = [{"case": "WS01", "condition": "A", "folder": "series"}]
    report = dicom_import(study=study, source=folder, manifest=manifest)
    if not report.ok or len(report.imported) != 1:
        raise RuntimeError(f"The import failed: {report.summary()}")
    series = report.imported[0].series
    study.status = Study.Status.ACTIVE
    study.save(update_fields=["status"])

    user = get_user_model().objects.create_user(username=READER_USERNAME, password=password)
    user.groups.add(Group.objects.get_or_create(name=READER)[0])
    participation = ReaderParticipation.objects.create(study=study, user=user, code="R1")
    session = ReadingSession.objects.create(
        participation=participation, number=1, opens_at=timezone.now() - timedelta(minutes=1)
    )
    reading = Reading.objects.create(session=session, series=series, position=1)
    return {
        "reading": str(reading.public_id),
        "study_uid": blinding.reading_uid(reading, series.study_instance_uid),
        "series_uid": blinding.reading_uid(reading, series.series_instance_uid),
        "sop_uids": [
            blinding.reading_uid(reading, instance.sop_instance_uid)
            for instance in series.instances.order_by("slice_index")
        ],
    }


def setup_main() -> None:
    """``--setup``: migrate the database, collect the static files, build the study; print it as JSON."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    with tempfile.TemporaryDirectory(prefix="workstation-bench-dicom-") as folder:
        result = study_create(Path(folder), os.environ[PASSWORD_ENV])
    print(json.dumps(result))


# --------------------------------------------------------------------------- server


def django_env(var_dir: Path, password: str = "") -> dict[str, str]:
    """Environment for the set-up subprocess and gunicorn: bench settings, everything under var_dir."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "READERSTUDY_MEDIA_ROOT", "READERSTUDY_STATIC_ROOT"):
        env.pop(name, None)
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS
    env["READERSTUDY_VAR_DIR"] = str(var_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    if password:
        env[PASSWORD_ENV] = password
    return env


def data_setup(var_dir: Path, password: str) -> dict[str, Any]:
    """Run ``workstation.py --setup`` in a subprocess and return the study it made."""
    result = subprocess.run(
        [PYTHON, str(Path(__file__).resolve()), "--setup"],
        cwd=ROOT,
        env=django_env(var_dir, password),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"The data set-up failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


#: Ports that people start servers on by hand while the bench runs; never picked.
RESERVED_PORTS = range(8711, 8716)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (never one of RESERVED_PORTS)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


@contextmanager
def gunicorn_server(var_dir: Path, log_path: Path) -> Iterator[str]:
    """Serve the app with gunicorn on a free local port; yield its base URL; stop it at the end."""
    port = free_port()
    command = [
        GUNICORN,
        "config.wsgi:application",
        "--chdir",
        str(ROOT),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
        "--timeout",
        "120",
    ]
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=django_env(var_dir), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        server_wait(server, port, log_path)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def server_wait(server: subprocess.Popen, port: int, log_path: Path) -> None:
    """Wait until the login page answers 200; fail with the server log if it does not."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/accounts/login/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not start. Its log:\n{log_path.read_text()[-4000:]}")


# --------------------------------------------------------------------------- browser


@dataclass
class PageLoad:
    """What one page load of the reading measured (ms from navigation start; None: no mark)."""

    first_image_ms: float | None
    series_ms: float | None
    slowest_ms: float
    slowest_wire_ms: float
    slowest_url: str
    requests: int
    transferred_bytes: int
    other_marks: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: kind -> (requests, first start, last response end, bytes), ms from navigation start
    trace: dict[str, tuple[int, float, float, int]] = field(default_factory=dict)


RESOURCES_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const doc = {name: nav.name, duration: nav.responseEnd, wire: nav.responseEnd - nav.requestStart,
               size: nav.transferSize, start: 0, end: nav.responseEnd};
  const rest = performance.getEntriesByType("resource").map((e) => ({
    name: e.name, duration: e.duration, wire: e.responseEnd - e.requestStart, size: e.transferSize,
    start: e.startTime, end: e.responseEnd}));
  return [doc, ...rest];
}"""

#: The trace: kinds of request of a page load, by URL (first match wins).
TRACE_KINDS = (
    ("page (HTML)", "/reading/"),
    ("first image PNG", "/first-image.png"),
    ("bulk slices (.../slices/a-b)", "/slices/"),
    ("single frames (.../frames/1)", "/frames/"),
    ("metadata", "/metadata"),
    ("workstation.js", "/workstation"),
    ("viewer.js and its chunks", "/build/"),
)


def trace_kind(url: str) -> str:
    """The trace's kind of a request URL ('other' when none matches)."""
    path = "/" + url.split("/", 3)[-1]
    return next((kind for kind, part in TRACE_KINDS if part in path), "other")


# The page's other workstation:* marks, and the browser's own first paints (Paint Timing), which
# tell the time the browser took to show anything at all from the time it took for the image.
OTHER_MARKS_JS = """([first, series]) => Object.fromEntries([
  ...performance.getEntriesByType("paint").map((p) => [`browser:${p.name}`, p.startTime]),
  ...performance.getEntriesByType("mark")
    .filter((m) => m.name.startsWith("workstation:") && m.name !== first && m.name !== series)
    .map((m) => [m.name, m.startTime]),
])"""


def storage_state_logged_in(browser, base_url: str, password: str) -> dict[str, Any]:
    """Log the reader in through the login form; return the context's cookies (storage state)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base_url}/accounts/login/")
        page.fill("input[name=username]", READER_USERNAME)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        state = context.storage_state()
    finally:
        context.close()
    if not any(cookie["name"] == "sessionid" for cookie in state["cookies"]):
        raise RuntimeError("Logging in failed: no session cookie.")
    return state


def console_error_keep(message, errors: list[str]) -> None:
    """Keep the text of a console message of type error."""
    if message.type == "error":
        errors.append(f"console: {message.text}")


def http_error_keep(response, errors: list[str]) -> None:
    """Keep the status and URL of a response that is an HTTP error."""
    if response.status >= 400:
        errors.append(f"HTTP {response.status}: {response.url}")


def mark_time(page, name: str, timeout_ms: int) -> float | None:
    """The mark's time (ms after navigation start) once the page has made it; None after the timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    script = "name => performance.getEntriesByName(name, 'mark').length > 0"
    try:
        page.wait_for_function(script, arg=name, timeout=timeout_ms)
    except PlaywrightTimeoutError:
        return None
    return page.evaluate("name => performance.getEntriesByName(name, 'mark')[0].startTime", name)


def page_load(browser, state: dict[str, Any], url: str, timeouts: dict[str, int]) -> PageLoad:
    """Open the reading in a fresh context (cold cache), wait for the marks, read Resource Timing."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    context = browser.new_context(storage_state=state, viewport={"width": 1600, "height": 1000})
    context.add_init_script("performance.setResourceTimingBufferSize(10000);")
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.on("console", lambda message: console_error_keep(message, errors))
        page.on("response", lambda response: http_error_keep(response, errors))
        page.goto(url, wait_until="commit")
        first_image = mark_time(page, FIRST_IMAGE_MARK, timeouts[FIRST_IMAGE_MARK])
        series = mark_time(page, SERIES_MARK, timeouts[SERIES_MARK])
        try:
            page.wait_for_load_state("networkidle", timeout=30_000)
        except PlaywrightTimeoutError:
            errors.append("the network never went idle (30 s)")
        entries = page.evaluate(RESOURCES_JS)
        other_marks = page.evaluate(OTHER_MARKS_JS, [FIRST_IMAGE_MARK, SERIES_MARK])
    finally:
        context.close()
    slowest = max(entries, key=lambda entry: entry["duration"])
    trace: dict[str, tuple[int, float, float, int]] = {}
    for entry in entries:
        kind = trace_kind(entry["name"])
        count, start, end, size = trace.get(kind, (0, float("inf"), 0.0, 0))
        trace[kind] = (count + 1, min(start, entry["start"]), max(end, entry["end"]), size + entry["size"])
    return PageLoad(
        trace=trace,
        first_image_ms=first_image,
        series_ms=series,
        slowest_ms=slowest["duration"],
        slowest_wire_ms=max(entry["wire"] for entry in entries),
        slowest_url=slowest["name"],
        requests=len(entries),
        transferred_bytes=sum(entry["size"] for entry in entries),
        other_marks=other_marks,
        errors=errors,
    )


def browser_runs(base_url: str, reading: str, password: str) -> tuple[list[PageLoad], str, dict[str, Any]]:
    """Log in once, then load the reading PAGE_LOADS times.

    Returns the loads, the browser version and the logged-in storage state (its cookies).
    """
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, "--no-sandbox"] if os.geteuid() == 0 else CHROMIUM_ARGS
    url = f"{base_url}/reading/{reading}/"
    timeouts = dict(MARK_TIMEOUT_MS)
    loads = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            state = storage_state_logged_in(browser, base_url, password)
            for _ in range(PAGE_LOADS):
                load = page_load(browser, state, url, timeouts)
                loads.append(load)
                if all(seen.first_image_ms is None for seen in loads):
                    timeouts[FIRST_IMAGE_MARK] = MISSING_MARK_TIMEOUT_MS
                if all(seen.series_ms is None for seen in loads):
                    timeouts[SERIES_MARK] = MISSING_MARK_TIMEOUT_MS
            version = browser.version
        finally:
            browser.close()
    return loads, version, state


# --------------------------------------------------------------------------- throughput


@dataclass
class LoadTest:
    """Latencies (s) of the requests of one throughput test, its wall time and bytes received."""

    latencies: list[float]
    wall_s: float
    received_bytes: int


def http_get(local: threading.local, port: int, path: str, cookie: str) -> tuple[float, int]:
    """GET path on the thread's keep-alive connection; return (latency in s, body size)."""
    for attempt in range(2):
        if getattr(local, "connection", None) is None:
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start = time.perf_counter()
        try:
            local.connection.request("GET", path, headers={"Cookie": cookie})
            response = local.connection.getresponse()
            body = response.read()
        except (http.client.HTTPException, ConnectionError):
            local.connection.close()
            local.connection = None
            if attempt:
                raise
            continue
        latency = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        return latency, len(body)
    raise AssertionError("unreachable")


def load_test(port: int, paths: list[str], cookie: str) -> LoadTest:
    """Send every path once from CLIENT_THREADS threads at the same time (after a short warm-up)."""
    local = threading.local()
    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        list(pool.map(lambda path: http_get(local, port, path, cookie), paths[: 2 * CLIENT_THREADS]))
        start = time.perf_counter()
        results = list(pool.map(lambda path: http_get(local, port, path, cookie), paths))
        wall = time.perf_counter() - start
    return LoadTest([latency for latency, _ in results], wall, sum(size for _, size in results))


def wado_paths(data: dict[str, Any], frames: bool) -> list[str]:
    """WADO-RS paths of every instance of the series (its frame 1 when frames), PASSES times over."""
    base = f"/dicomweb/r/{data['reading']}/studies/{data['study_uid']}/series/{data['series_uid']}"
    suffix = "/frames/1" if frames else ""
    return [f"{base}/instances/{sop}{suffix}" for sop in data["sop_uids"]] * PASSES


# --------------------------------------------------------------------------- report


def ms(value: float) -> str:
    """A time in ms, right-aligned in 11 characters."""
    return f"{value:8.0f} ms"


def figure_line(label: str, values: list[float | None], target_ms: int | None = None) -> str:
    """Median and max of one figure over the page loads that have it ('missing' when none has)."""
    seen = [value for value in values if value is not None]
    target = f"   target < {target_ms} ms" if target_ms else ""
    if not seen:
        return f"  {label:<44}{'missing':>11}{'':>11}{target}"
    note = "" if len(seen) == len(values) else f"   ({len(values) - len(seen)} loads without it)"
    return f"  {label:<44}{ms(statistics.median(seen))}{ms(max(seen))}{target}{note}"


def url_short(url: str, length: int = 100) -> str:
    """The URL's path, its middle (long UIDs) cut out when it is longer than ``length``."""
    path = "/" + url.split("/", 3)[-1]
    return path if len(path) <= length else f"{path[:30]}...{path[-(length - 33) :]}"


def mark_order(loads: list[PageLoad], name: str) -> float:
    """Sort key of a mark: its earliest time over the page loads."""
    return min(load.other_marks[name] for load in loads if name in load.other_marks)


def browser_report(loads: list[PageLoad], version: str) -> None:
    """Print the browser figures: marks, slowest request, requests and bytes per load."""
    gpu = "WebGL on SwiftShader Vulkan"
    print(f"Browser: headless Chromium {version} ({gpu}), {len(loads)} page loads, cold cache")
    print(f"  {'':<44}{'median':>11}{'max':>11}")
    first_image = [load.first_image_ms for load in loads]
    series = [load.series_ms for load in loads]
    slowest = [load.slowest_ms for load in loads]
    wire = [load.slowest_wire_ms for load in loads]
    print(figure_line("first image (navigation -> first-image)", first_image, TARGET_FIRST_IMAGE_MS))
    print(figure_line("full series (navigation -> series-loaded)", series, TARGET_SERIES_MS))
    print(figure_line("slowest request seen by the browser", slowest, TARGET_REQUEST_MS))
    print(figure_line("  slowest requestStart -> responseEnd", wire))
    for name in sorted(
        {name for load in loads for name in load.other_marks}, key=lambda n: mark_order(loads, n)
    ):
        print(figure_line(f"  (mark {name})", [load.other_marks.get(name) for load in loads]))
    worst = max(loads, key=lambda load: load.slowest_ms)
    print(f"  slowest request of all: {url_short(worst.slowest_url)}")
    print(f"  trace (medians over the loads)  {'requests':>9}{'first start':>12}{'last end':>10}{'MB':>7}")
    kinds = [kind for kind, _ in TRACE_KINDS] + ["other"]
    for kind in kinds:
        seen = [load.trace[kind] for load in loads if kind in load.trace]
        if not seen:
            continue
        count = statistics.median(t[0] for t in seen)
        start = statistics.median(t[1] for t in seen)
        end = statistics.median(t[2] for t in seen)
        size = statistics.median(t[3] for t in seen) / 1e6
        print(f"    {kind:<30}{count:9.0f}{start:9.0f} ms{end:7.0f} ms{size:7.1f}")
    requests = statistics.median(load.requests for load in loads)
    megabytes = statistics.median(load.transferred_bytes for load in loads) / 1e6
    print(f"  requests per load (median): {requests:.0f}, transferred {megabytes:.1f} MB")


def load_test_line(label: str, test: LoadTest) -> str:
    """One throughput line: requests/s, MB/s and latency percentiles incl. max, in ms."""
    cuts = statistics.quantiles(test.latencies, n=100)
    p50, p90, p99 = (cuts[i] * 1e3 for i in (49, 89, 98))
    rate = len(test.latencies) / test.wall_s
    megabytes = test.received_bytes / test.wall_s / 1e6
    worst = max(test.latencies) * 1e3
    return f"  {label:<24}{rate:8.0f}{megabytes:8.1f}{p50:8.0f}{p90:8.0f}{p99:8.0f}{worst:8.0f}"


def browser_notes(loads: list[PageLoad]) -> None:
    """Explain missing marks and show the errors of the first page load that had any."""
    figures = {FIRST_IMAGE_MARK: [x.first_image_ms for x in loads], SERIES_MARK: [x.series_ms for x in loads]}
    missing = [name for name, values in figures.items() if all(value is None for value in values)]
    with_errors = [(number, load) for number, load in enumerate(loads, start=1) if load.errors]
    if missing or with_errors:
        print()
    for name in missing:
        print(
            f'NOTE: the page never called performance.mark("{name}") '
            f"(waited {MARK_TIMEOUT_MS[name] // 1000} s on the first load)."
        )
    if with_errors:
        number, load = with_errors[0]
        print(f"Browser errors on page load {number} ({len(with_errors)} of {len(loads)} loads had errors):")
        for error in load.errors[:10]:
            print(f"  {error[:200]}")


def main() -> None:
    """Set up data and server, measure in the browser and from Python threads, print the figures."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    machine = f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs"
    print(f"{machine}; {platform.platform()}")
    if not BUNDLE.is_file():
        sys.exit(f"{BUNDLE.relative_to(ROOT)} is missing: build the viewer first (node frontend/build.mjs).")
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="workstation-bench-") as tmp:
        var_dir = Path(tmp) / "var"
        var_dir.mkdir()
        start = time.perf_counter()
        data = data_setup(var_dir, password)
        print(
            f"Data: {SLICES} x {SIZE} x {SIZE} MR series (16-bit) imported in "
            f"{time.perf_counter() - start:.0f} s"
        )
        with gunicorn_server(var_dir, Path(tmp) / "gunicorn.log") as base_url:
            print(f"Server: gunicorn, {WORKERS} workers x {THREADS} threads (gthread), at {base_url}")
            loads, version, state = browser_runs(base_url, data["reading"], password)
            browser_report(loads, version)
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in state["cookies"])
            port = int(base_url.rsplit(":", 1)[1])
            frames = load_test(port, wado_paths(data, frames=True), cookie)
            instances = load_test(port, wado_paths(data, frames=False), cookie)
        print(
            f"Server: WADO-RS, {CLIENT_THREADS} client threads, {SLICES * PASSES} requests each"
            f"   target: max < {TARGET_REQUEST_MS} ms"
        )
        print(f"  {'':<24}{'req/s':>8}{'MB/s':>8}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}")
        print(load_test_line("frames (.../frames/1)", frames))
        print(load_test_line("instances (Part 10)", instances))
        browser_notes(loads)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="(internal) build the data set; prints JSON")
    if parser.parse_args().setup:
        setup_main()
    else:
        main()
