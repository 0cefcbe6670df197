"""Side by side: the reader workstation against OHIF v3, same server, same reading, same machine.

Run by hand (needs Debian's chromium at /usr/bin/chromium, the built viewer
``node frontend/build.mjs``, and npm with access to the npm registry the first time)::

    .venv/bin/python bench/peer_viewer.py             # 5 cold loads of each viewer
    .venv/bin/python bench/peer_viewer.py --runs 1    # quick self-check (a few minutes)

The data and server are bench/workstation.py's (imported, not copied): a temporary folder
with an SQLite database, a generated 160 x 512 x 512 MR series brought in by the real DICOM
import, one reader with one open reading, gunicorn serving the app like production. The
server uses ``bench/settings_peer.py`` / ``bench/urls_peer.py``, which add OHIF's built viewer
on the same origin (so OHIF sends the reader's session cookie to the reading's DICOMweb root).

**The peer.** OHIF's npm package ``@ohif/app`` ships the built viewer app in ``dist/``. The
bench fetches it once with ``npm pack @ohif/app@<version>`` (default 3.13.2, the version of
issue 19's measurement) and unpacks it into ``~/.cache/readerstudy-bench/ohif-<version>/``
(``$XDG_CACHE_HOME`` is honoured; ``--cache`` changes it); later runs reuse it. Nothing is
installed into the project and the app never depends on it. ``--ohif-dist FOLDER`` uses a
``dist/`` you have already. The bench writes OHIF's ``app-config.js``: one ``dicomweb`` data
source whose ``qidoRoot`` and ``wadoRoot`` are the reading's root ``/dicomweb/r/<reading>``
(as README.md says), no study list, OHIF's study prefetcher on (``studyPrefetcher``, one
display set, nearest slices first; without it OHIF loads only a few slices around the one
shown), and opens ``/viewer?StudyInstanceUIDs=<the reading's blinded study UID>``.

**How it measures.** Cold loads in headless Chromium (its own GPU set-up: WebGL on SwiftShader
Vulkan, see ``workstation.CHROMIUM_ARGS``), each in a fresh
browser context (empty HTTP cache, service workers blocked), one unmeasured warm-up load of
each viewer first, then ``--runs`` loads of each, interleaved: ours, OHIF, OHIF, ours, ours,
... (the order flips every round, so a drift of the shared machine hits both alike). Times are
ms from navigation start:

* first image: ours, the page's ``performance.mark("workstation:first-image")``; OHIF, the
  first ``IMAGE_RENDERED`` event of Cornerstone (OHIF puts its Cornerstone instance on
  ``window.cornerstone``; the bench hooks it as it is set) after which the viewport's canvas
  holds non-black pixels. When that instance is not reachable, a canvas poll (every animation
  frame, the same non-black test) times it instead; the report names the method used;
* full series: ours, ``performance.mark("workstation:series-loaded")``; OHIF, the
  ``IMAGE_LOADED`` event of Cornerstone's image cache for the last of the series' 160
  distinct images (the bench knows the series has 160 instances); when Cornerstone is not
  reachable, the end of the last pixel request per Resource Timing once every instance has had
  one (the report names the method);
* renderer memory, after the full series and a garbage collection (CDP
  ``HeapProfiler.collectGarbage``): the proportional set size (PSS, ``/proc/<pid>/smaps_rollup``)
  of the largest renderer process Chromium lists (CDP ``SystemInfo.getProcessInfo``; the page's
  own renderer, its web workers included), and the JS heap in use (CDP
  ``Performance.getMetrics`` ``JSHeapUsedSize``). The GPU process (SwiftShader's textures) is
  printed too, for information.

Prints one line per figure with the medians and the ratio (OHIF's time over ours: how many
times sooner; our memory over OHIF's), then the per-load values, the machine (platform, CPUs,
load average before and after) and N. A figure that cannot be measured on a load makes the
bench exit non-zero with a message saying which and why. OHIF's files go out uncompressed
(loopback, nothing to gain) and ours as WhiteNoise serves them (gzipped).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import workstation  # noqa: E402

OHIF_PACKAGE = "@ohif/app"
OHIF_VERSION = "3.13.2"
SETTINGS = "bench.settings_peer"
DIST_ENV = "READERSTUDY_BENCH_OHIF_DIST"
CONFIG_ENV = "READERSTUDY_BENCH_OHIF_CONFIG"
RUNS = 5
VIEWPORT = {"width": 1600, "height": 1000}
FIRST_IMAGE_TIMEOUT_MS = 60_000
SERIES_TIMEOUT_MS = 180_000
#: Time to let the page settle (network idle) after the full series, before memory is read.
SETTLE_TIMEOUT_MS = 10_000
NPM_TIMEOUT_S = 600

OURS, OHIF = "ours", "OHIF"


# --------------------------------------------------------------------------- the peer's install


def cache_root(cache: str | None) -> Path:
    """The bench's cache folder: --cache, else $XDG_CACHE_HOME/readerstudy-bench, else ~/.cache/..."""
    if cache:
        return Path(cache).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "readerstudy-bench"


def install_help(version: str, folder: Path) -> str:
    """What to do by hand when the install fails."""
    return (
        "The bench needs OHIF's built viewer: the dist/ folder of the npm package "
        f"{OHIF_PACKAGE}@{version}.\n"
        "It fetches it with npm from the npm registry (the only network it uses). To fix:\n"
        "  * check that `npm` is on PATH and that `npm view "
        f"{OHIF_PACKAGE}@{version} version` answers (registry, proxy, .npmrc);\n"
        "  * or fetch it by hand, on any machine that reaches the registry:\n"
        f"      mkdir -p {folder} && cd {folder} && npm pack {OHIF_PACKAGE}@{version} && "
        f"tar xzf ohif-app-{version}.tgz\n"
        f"    (the bench then finds {folder}/package/dist/index.html);\n"
        "  * or pass --ohif-dist /path/to/dist (a folder with OHIF's index.html and app bundle)."
    )


def ohif_install(version: str, cache: Path) -> Path:
    """OHIF's dist/ folder in the cache, fetched (npm pack) and unpacked the first time; reused after."""
    folder = cache / f"ohif-{version}"
    dist = folder / "package" / "dist"
    if (dist / "index.html").is_file():
        return dist
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not on PATH.\n" + install_help(version, folder))
    cache.mkdir(parents=True, exist_ok=True)
    print(f"Installing OHIF: npm pack {OHIF_PACKAGE}@{version} into {folder} (once) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"ohif-{version}-", dir=cache) as tmp:
        try:
            result = subprocess.run(
                [npm, "pack", f"{OHIF_PACKAGE}@{version}", "--pack-destination", tmp],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            sys.exit(f"npm pack did not finish in {NPM_TIMEOUT_S} s.\n" + install_help(version, folder))
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            sys.exit(
                f"npm pack {OHIF_PACKAGE}@{version} failed (exit {result.returncode}):\n"
                f"{(result.stderr or result.stdout)[-2000:]}\n" + install_help(version, folder)
            )
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(unpacked, filter="data")
        if not (unpacked / "package" / "dist" / "index.html").is_file():
            sys.exit(
                f"{OHIF_PACKAGE}@{version} has no built dist/index.html: this version does not ship the "
                "built viewer.\n" + install_help(version, folder)
            )
        if folder.exists():
            shutil.rmtree(folder)
        unpacked.rename(folder)
    return dist


def ohif_config_write(path: Path, root_url: str) -> None:
    """OHIF's app-config.js: one dicomweb data source on the reading's root, no study list."""
    source = {
        "friendlyName": "Reading",
        "name": "readerstudy",
        "qidoRoot": root_url,
        "wadoRoot": root_url,
        "wadoUriRoot": f"{root_url}/wado",
        "qidoSupportsIncludeField": True,
        "supportsWildcard": True,
        "supportsFuzzyMatching": False,
        "imageRendering": "wadors",
        "thumbnailRendering": "wadors",
        "enableStudyLazyLoad": True,
        "omitQuotationForMultipartRequest": True,
    }
    config = {
        "routerBasename": "/",
        "showStudyList": False,
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "investigationalUseDialog": {"option": "never"},
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": False,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        # OHIF's shipped defaults (dist/app-config.js).
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        "studyPrefetcher": {
            "enabled": True,
            "displaySetsCount": 1,
            "maxNumPrefetchRequests": 10,
            "order": "closest",
        },
        "defaultDataSourceName": "readerstudy",
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": "readerstudy",
                "configuration": source,
            }
        ],
    }
    path.write_text(
        f"/* Written by bench/peer_viewer.py. */\nwindow.config = {json.dumps(config, indent=2)};\n"
    )


# --------------------------------------------------------------------------- server


@contextmanager
def gunicorn_server(var_dir: Path, log_path: Path, port: int, extra_env: dict[str, str]) -> Iterator[str]:
    """Serve the app (with OHIF beside it) with gunicorn on 127.0.0.1:port; stop it at the end."""
    env = {**workstation.django_env(var_dir), **extra_env, "DJANGO_SETTINGS_MODULE": SETTINGS}
    command = [
        workstation.GUNICORN,
        "config.wsgi:application",
        "--chdir",
        str(ROOT),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workstation.WORKERS),
        "--threads",
        str(workstation.THREADS),
        "--timeout",
        "120",
    ]
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        workstation.server_wait(server, port, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --------------------------------------------------------------------------- browser

#: Runs in OHIF's page before its scripts: hooks Cornerstone as OHIF sets window.cornerstone,
#: times the first IMAGE_RENDERED with a non-black canvas and the IMAGE_LOADED of the last
#: distinct image; polls the canvases on each animation frame while Cornerstone is not hooked.
OHIF_PROBE_JS = """(expected) => {
  const probe = {firstImage: null, method: null, series: null, loaded: 0, failed: [], hooked: false};
  window.__peerProbe = probe;
  const ids = new Set();
  const sample = document.createElement("canvas");
  sample.width = sample.height = 128;
  const sampleContext = sample.getContext("2d", {willReadFrequently: true});
  const nonBlack = (canvas) => {
    if (!canvas || !canvas.width || !canvas.height) return false;
    try {
      sampleContext.clearRect(0, 0, 128, 128);
      sampleContext.drawImage(canvas, 0, 0, 128, 128);
    } catch (error) { return false; }
    const pixels = sampleContext.getImageData(0, 0, 128, 128).data;
    let lit = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (Math.max(pixels[i], pixels[i + 1], pixels[i + 2]) > 4) lit += 1;
    }
    return lit > 128 * 128 / 100;
  };
  // A viewport on the page: not Cornerstone's hidden element for a thumbnail (renderToCanvasGPU).
  const shown = (element) => {
    if (!element || !element.isConnected || element.hasAttribute("viewport-id-for-remove")) return false;
    if (element.closest("[viewport-id-for-remove]")) return false;
    const box = element.getBoundingClientRect();
    return box.width >= 256 && box.height >= 256 && getComputedStyle(element).visibility !== "hidden";
  };
  const seen = (method) => {
    if (probe.firstImage === null) { probe.firstImage = performance.now(); probe.method = method; }
  };
  const hook = (cs) => {
    if (!cs || probe.hooked || !cs.eventTarget || !cs.Enums || !cs.Enums.Events) return;
    probe.hooked = true;
    const events = cs.Enums.Events;
    cs.eventTarget.addEventListener(events.IMAGE_LOADED, (event) => {
      const id = event.detail && event.detail.image && event.detail.image.imageId;
      if (!id || ids.has(id)) return;
      ids.add(id);
      probe.loaded = ids.size;
      if (ids.size >= expected && probe.series === null) probe.series = performance.now();
    });
    cs.eventTarget.addEventListener(events.IMAGE_LOAD_FAILED, (event) => {
      const detail = event.detail || {};
      probe.failed.push(String(detail.imageId || "") + " " + String(detail.error || ""));
    });
    cs.eventTarget.addEventListener(events.ELEMENT_ENABLED, (event) => {
      const element = event.detail && event.detail.element;
      if (!element) return;
      element.addEventListener(events.IMAGE_RENDERED, () => {
        if (probe.firstImage !== null || !shown(element)) return;
        if (nonBlack(element.querySelector("canvas"))) seen("IMAGE_RENDERED");
      });
    });
  };
  let value;
  Object.defineProperty(window, "cornerstone", {
    configurable: true, enumerable: true,
    get() { return value; },
    set(next) { value = next; hook(next); },
  });
  const poll = () => {
    if (probe.firstImage !== null || probe.hooked) return;
    for (const canvas of document.querySelectorAll("canvas")) {
      if (shown(canvas) && nonBlack(canvas)) { seen("canvas poll"); return; }
    }
    requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}"""

RESOURCES_JS = """() => performance.getEntriesByType("resource").length + 1"""


@dataclass
class Load:
    """One cold load of one viewer (ms from navigation start, bytes; None: not measured)."""

    viewer: str
    first_image_ms: float | None = None
    series_ms: float | None = None
    renderer_pss: int | None = None
    js_heap: int | None = None
    gpu_pss: int | None = None
    method: str = ""
    series_method: str = ""
    requests: int = 0
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def pss_bytes(pid: int) -> int | None:
    """The process' proportional set size from /proc/<pid>/smaps_rollup (None if unreadable)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def process_memory(browser_cdp) -> tuple[int | None, int | None]:
    """PSS of the largest renderer process and of the GPU process Chromium lists right now."""
    processes = browser_cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    renderers = [pss_bytes(p["id"]) for p in processes if p["type"] == "renderer"]
    gpus = [pss_bytes(p["id"]) for p in processes if p["type"] == "GPU"]
    renderer = max((value for value in renderers if value is not None), default=None)
    gpu = max((value for value in gpus if value is not None), default=None)
    return renderer, gpu


def wait_value(page, script: str, arg: Any, timeout_ms: int) -> Any:
    """Wait until script(arg) is not null; return it, or None after the timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        handle = page.wait_for_function(
            f"(arg) => {{ const v = ({script})(arg); return v === null || v === undefined ? null : {{v}}; }}",
            arg=arg,
            timeout=timeout_ms,
        )
    except PlaywrightTimeoutError:
        return None
    return handle.json_value()["v"]


#: When every instance of the series has had a pixel request (its URL names the instance) that
#: finished: the last responseEnd (ms); null before.
PIXEL_REQUESTS_DONE_JS = r"""(sops) => {
  const wanted = new Set(sops);
  const done = new Map();
  for (const entry of performance.getEntriesByType("resource")) {
    const match = /\/instances\/([^/?]+)/.exec(entry.name);
    if (match && wanted.has(match[1]) && entry.responseEnd > 0) {
      done.set(match[1], Math.max(done.get(match[1]) || 0, entry.responseEnd));
    }
  }
  return done.size === wanted.size ? Math.max(...done.values()) : null;
}"""

MARK_JS = """(name) => {
  const mark = performance.getEntriesByName(name, "mark")[0];
  return mark ? mark.startTime : null;
}"""


def measure_ours(page, load: Load, sop_uids: list[str]) -> None:
    """The workstation's own marks."""
    load.method = load.series_method = "performance marks"
    load.first_image_ms = wait_value(page, MARK_JS, workstation.FIRST_IMAGE_MARK, FIRST_IMAGE_TIMEOUT_MS)
    if load.first_image_ms is None:
        load.problems.append(f'no performance.mark("{workstation.FIRST_IMAGE_MARK}") within the timeout')
    load.series_ms = wait_value(page, MARK_JS, workstation.SERIES_MARK, SERIES_TIMEOUT_MS)
    if load.series_ms is None:
        load.problems.append(f'no performance.mark("{workstation.SERIES_MARK}") within the timeout')


def measure_ohif(page, load: Load, sop_uids: list[str]) -> None:
    """OHIF's first rendered non-black image and its image cache holding every slice."""
    load.first_image_ms = wait_value(
        page, "() => window.__peerProbe && window.__peerProbe.firstImage", None, FIRST_IMAGE_TIMEOUT_MS
    )
    probe = page.evaluate("() => window.__peerProbe")
    load.method = (probe or {}).get("method") or ""
    if load.first_image_ms is None:
        hooked = "hooked" if probe and probe["hooked"] else "never set window.cornerstone (canvas poll used)"
        load.problems.append(f"OHIF showed no non-black image within the timeout (Cornerstone {hooked})")
    if not (probe and probe["hooked"]):
        load.series_method = "Resource Timing"
        load.series_ms = wait_value(page, PIXEL_REQUESTS_DONE_JS, sop_uids, SERIES_TIMEOUT_MS)
        if load.series_ms is None:
            load.problems.append(
                "OHIF's Cornerstone instance (window.cornerstone) was not reachable, and the pixel "
                f"requests of its {len(sop_uids)} instances had not all finished within the timeout"
            )
        return
    load.series_method = "IMAGE_LOADED"
    load.series_ms = wait_value(
        page, "() => window.__peerProbe.series", None, int(SERIES_TIMEOUT_MS - (load.first_image_ms or 0))
    )
    if load.series_ms is None:
        probe = page.evaluate("() => window.__peerProbe")
        failed = (
            f"; {len(probe['failed'])} failed, e.g. {probe['failed'][0][:200]}" if probe["failed"] else ""
        )
        load.problems.append(
            f"OHIF's image cache had {probe['loaded']} of {len(sop_uids)} images within the timeout{failed}"
        )


def page_load(
    browser, browser_cdp, state: dict[str, Any], viewer: str, url: str, sop_uids: list[str]
) -> Load:
    """Open one viewer in a fresh context (cold cache), time it, then read its memory."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    load = Load(viewer)
    context = browser.new_context(storage_state=state, viewport=VIEWPORT, service_workers="block")
    context.add_init_script("performance.setResourceTimingBufferSize(10000);")
    if viewer == OHIF:
        context.add_init_script(f"({OHIF_PROBE_JS})({len(sop_uids)});")
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: load.errors.append(f"page error: {error}"))
        page.on("console", lambda message: workstation.console_error_keep(message, load.errors))
        page.on("response", lambda response: workstation.http_error_keep(response, load.errors))
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url, wait_until="commit")
        measure: Callable[[Any, Load, list[str]], None] = measure_ours if viewer == OURS else measure_ohif
        measure(page, load, sop_uids)
        if load.series_ms is not None:
            try:
                page.wait_for_load_state("networkidle", timeout=SETTLE_TIMEOUT_MS)
            except PlaywrightTimeoutError:
                load.errors.append(f"the network did not go idle within {SETTLE_TIMEOUT_MS // 1000} s")
            cdp.send("HeapProfiler.collectGarbage")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            load.js_heap = int(metrics["JSHeapUsedSize"]) if "JSHeapUsedSize" in metrics else None
            load.renderer_pss, load.gpu_pss = process_memory(browser_cdp)
            if load.js_heap is None:
                load.problems.append("CDP Performance.getMetrics gave no JSHeapUsedSize")
            if load.renderer_pss is None:
                load.problems.append("no renderer process' memory could be read (/proc/<pid>/smaps_rollup)")
        load.requests = page.evaluate(RESOURCES_JS)
    finally:
        context.close()
    return load


def browser_runs(
    base_url: str, urls: dict[str, str], password: str, runs: int, sop_uids: list[str], warmup: bool = True
) -> tuple[list[Load], str]:
    """Log in once; a warm-up load of each viewer (if warmup), then runs loads of each, interleaved."""
    from playwright.sync_api import sync_playwright

    args = [*workstation.CHROMIUM_ARGS, "--no-sandbox"] if os.geteuid() == 0 else workstation.CHROMIUM_ARGS
    loads: list[Load] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=workstation.CHROMIUM, headless=True, args=args)
        try:
            browser_cdp = browser.new_browser_cdp_session()
            state = workstation.storage_state_logged_in(browser, base_url, password)
            for viewer in (OURS, OHIF) if warmup else ():
                warm = page_load(browser, browser_cdp, state, viewer, urls[viewer], sop_uids)
                print(f"  warm-up {viewer}: {load_summary(warm)}", flush=True)
            for number in range(runs):
                order = (OURS, OHIF) if number % 2 == 0 else (OHIF, OURS)
                for viewer in order:
                    load = page_load(browser, browser_cdp, state, viewer, urls[viewer], sop_uids)
                    loads.append(load)
                    print(f"  load {number + 1} {viewer}: {load_summary(load)}", flush=True)
            version = browser.version
        finally:
            browser.close()
    return loads, version


# --------------------------------------------------------------------------- report


def mb(value: float | None) -> str:
    """Bytes as MB."""
    return "-" if value is None else f"{value / 1e6:.0f} MB"


def milliseconds(value: float | None) -> str:
    """A time in ms."""
    return "-" if value is None else f"{value:.0f} ms"


def load_summary(load: Load) -> str:
    """One load on one line."""
    text = (
        f"first image {milliseconds(load.first_image_ms)} ({load.method or 'not measured'}), "
        f"series {milliseconds(load.series_ms)} ({load.series_method or 'not measured'}), "
        f"renderer {mb(load.renderer_pss)}, "
        f"JS heap {mb(load.js_heap)}, GPU process {mb(load.gpu_pss)}, {load.requests} requests"
    )
    if load.problems:
        text += f"  PROBLEM: {'; '.join(load.problems)}"
    return text


def median_of(loads: list[Load], viewer: str, name: str) -> float | None:
    """The median of one figure over the viewer's loads (None when a load lacks it)."""
    values = [getattr(load, name) for load in loads if load.viewer == viewer]
    if not values or any(value is None for value in values):
        return None
    return statistics.median(values)


def figure_line(label: str, ours: float | None, ohif: float | None, memory: bool) -> str:
    """``first image: ours 80 ms, OHIF 1400 ms, 17.5x sooner`` (memory: our size over OHIF's)."""
    show = mb if memory else milliseconds
    if ours is None or ohif is None or ours <= 0 or ohif <= 0:
        return f"{label}: ours {show(ours)}, OHIF {show(ohif)}, ratio not measurable"
    ratio = f"{ours / ohif:.2f}x OHIF's" if memory else f"{ohif / ours:.1f}x sooner"
    return f"{label}: ours {show(ours)}, OHIF {show(ohif)}, {ratio}"


def report(loads: list[Load], version: str, runs: int, load_before: tuple[float, ...]) -> list[str]:
    """Print the figures; return the problems (a figure not measured on some load)."""
    load_after = os.getloadavg()
    print()
    print(
        f"Machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (1 min)"
    )
    print(
        f"Browser: headless Chromium {version} (WebGL on SwiftShader Vulkan); "
        f"N = {runs} cold loads of each viewer, "
        "interleaved, after one warm-up load of each; medians:"
    )
    figures = [
        ("first image", "first_image_ms", False),
        ("full series", "series_ms", False),
        ("renderer memory", "renderer_pss", True),
        ("JS heap", "js_heap", True),
        ("GPU process memory", "gpu_pss", True),
    ]
    for label, name, memory in figures:
        print(figure_line(label, median_of(loads, OURS, name), median_of(loads, OHIF, name), memory))
    methods = sorted({load.method for load in loads if load.viewer == OHIF and load.method})
    series_methods = sorted(
        {load.series_method for load in loads if load.viewer == OHIF and load.series_method}
    )
    print(
        f"(OHIF: first image by {', '.join(methods) or '-'}, "
        f"full series by {', '.join(series_methods) or '-'}; "
        "ours by the workstation:* marks; memory: renderer PSS and CDP JSHeapUsedSize after a GC)"
    )
    problems = [
        f"load {index // 2 + 1} {load.viewer}: {problem}"
        for index, load in enumerate(loads)
        for problem in load.problems
    ]
    with_errors = next((load for load in loads if load.errors), None)
    if with_errors is not None:
        print(f"Browser errors on a {with_errors.viewer} load (first 5):")
        for error in with_errors.errors[:5]:
            print(f"  {error[:200]}")
    return problems


def main() -> None:
    """Install OHIF (once), set up data and server, run the interleaved loads, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"cold loads of each viewer (default {RUNS})")
    parser.add_argument("--port", type=int, default=0, help="port of the server (default: a free one)")
    parser.add_argument(
        "--ohif-version", default=OHIF_VERSION, help=f"{OHIF_PACKAGE} version ({OHIF_VERSION})"
    )
    parser.add_argument("--ohif-dist", help="use this OHIF dist/ folder instead of installing one")
    parser.add_argument("--cache", help="cache folder (default ~/.cache/readerstudy-bench)")
    options = parser.parse_args()
    if options.runs < 1:
        parser.error("--runs must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()
    if not workstation.BUNDLE.is_file():
        sys.exit(
            f"{workstation.BUNDLE.relative_to(ROOT)} is missing: build the viewer (node frontend/build.mjs)."
        )
    if not Path(workstation.CHROMIUM).is_file():
        sys.exit(f"{workstation.CHROMIUM} is missing: install Debian's chromium (apt-get install chromium).")
    if options.ohif_dist:
        dist = Path(options.ohif_dist).expanduser().resolve()
        if not (dist / "index.html").is_file():
            sys.exit(f"{dist} has no index.html: --ohif-dist must be OHIF's built dist/ folder.")
        print(f"OHIF: {dist}")
    else:
        dist = ohif_install(options.ohif_version, cache_root(options.cache))
        print(f"OHIF: {OHIF_PACKAGE}@{options.ohif_version}, dist/ at {dist}")
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="peer-viewer-bench-") as tmp:
        var_dir = Path(tmp) / "var"
        var_dir.mkdir()
        start = time.perf_counter()
        data = workstation.data_setup(var_dir, password)
        expected = len(data["sop_uids"])
        print(
            f"Data: {expected} x {workstation.SIZE} x {workstation.SIZE} MR series imported in "
            f"{time.perf_counter() - start:.0f} s"
        )
        port = options.port or workstation.free_port()
        base_url = f"http://127.0.0.1:{port}"
        config = Path(tmp) / "app-config.js"
        ohif_config_write(config, f"{base_url}/dicomweb/r/{data['reading']}")
        extra_env = {DIST_ENV: str(dist), CONFIG_ENV: str(config)}
        with gunicorn_server(var_dir, Path(tmp) / "gunicorn.log", port, extra_env):
            workers = f"{workstation.WORKERS} workers x {workstation.THREADS} threads"
            print(f"Server: gunicorn, {workers}, at {base_url}")
            urls = {
                OURS: f"{base_url}/reading/{data['reading']}/",
                OHIF: f"{base_url}/viewer?StudyInstanceUIDs={data['study_uid']}",
            }
            loads, version = browser_runs(base_url, urls, password, options.runs, data["sop_uids"])
    problems = report(loads, version, options.runs, load_before)
    if problems:
        print("\nFAILED: these figures could not be measured:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
