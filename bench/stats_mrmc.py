"""Benchmark of stats/: FOM and DBM + OR analyses on RJafroc's larger datasets, and DeLong.

Run by hand: ``.venv/bin/python bench/stats_mrmc.py`` (needs ../shared beside the
project). Prints the median wall time of 15 runs of each step (after one warm-up run),
including a simulated FROC study of 2 modalities x 30 readers x 10,000 cases.

``--peers`` also times DeLong's AUC with its CI and DeLong's test of two AUCs against the
Python packages that offer them, ``confidenceinterval`` (``roc_auc_score(method="delong")``)
and ``MLstatkit`` (``Delong_test``). They are installed once, with pip, into the bench's own
virtual environment ``~/.cache/readerstudy-bench/stats-peers/`` (``$XDG_CACHE_HOME`` is
honoured), never into the project. Each implementation runs in its own interpreter
(``bench/delong_timing.py``), on the same seeded data, in interleaved rounds (the order
flips every round); the report gives the median per-call time over the rounds and the
peer's time over ours.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stats.fom import jackknife  # noqa: E402
from stats.io_plain import read_plain  # noqa: E402
from stats.mrmc import dbm_analysis, or_analysis  # noqa: E402
from stats.simulate import roe_metz, rsm_froc  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets" / "rjafroc"
PEERS = {"confidenceinterval": "1.0.5", "MLstatkit": "0.1.91"}
ROUNDS = 5
DELONG_CASES = (100, 1_000, 20_000)


def median_of(fn, repeat: int = 15) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, fom: str) -> None:
    data = read_plain(DATASETS / name)
    i, j, k = data.shape
    print(f"{name} ({i} modalities x {j} readers x {k} cases, {fom}):")
    print(f"  FOM + jackknife          {median_of(lambda: jackknife(data, fom)) * 1e3:8.1f} ms")
    if i > 1:
        print(f"  OR (RRRC, FRRC, RRFC)    {median_of(lambda: or_analysis(data, fom)) * 1e3:8.1f} ms")
        print(f"  DBM (RRRC, FRRC, RRFC)   {median_of(lambda: dbm_analysis(data, fom)) * 1e3:8.1f} ms")
        print(f"  DBM + OR, one jackknife  {median_of(lambda: both(data, fom)) * 1e3:8.1f} ms")


def peer_python() -> Path:
    """The peers' interpreter: their own virtual environment in the cache, made once."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "readerstudy-bench"
    venv = cache / "stats-peers"
    python = venv / "bin" / "python"
    wanted = [f"{name}=={version}" for name, version in PEERS.items()]
    stamp = venv / "installed.txt"
    if not python.exists() or not stamp.exists() or stamp.read_text() != " ".join(wanted):
        print(f"Installing {', '.join(wanted)} into {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
        stamp.write_text(" ".join(wanted))
    return python


def timing(python: Path | str, impl: str, cases: int) -> dict[str, float]:
    """One run of bench/delong_timing.py: median microseconds per call, by call."""
    script = str(ROOT / "bench" / "delong_timing.py")
    command = [str(python), script, "--impl", impl, "--cases", str(cases)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def delong_peers() -> None:
    """Interleaved rounds of ours and each peer; medians and the peer-over-ours ratio."""
    peer = peer_python()
    runners = {"ours": sys.executable, **dict.fromkeys(PEERS, peer)}
    print(f"DeLong against the peers ({ROUNDS} interleaved rounds, each the median of 7 timing loops):")
    for cases in DELONG_CASES:
        seen: dict[str, dict[str, list[float]]] = {impl: {} for impl in runners}
        for number in range(ROUNDS):
            order = list(runners) if number % 2 == 0 else list(reversed(runners))
            for impl in order:
                for call, us in timing(runners[impl], impl, cases).items():
                    seen[impl].setdefault(call, []).append(us)
        ours = {call: statistics.median(values) for call, values in seen["ours"].items()}
        for impl in PEERS:
            for call, values in seen[impl].items():
                theirs = statistics.median(values)
                what = "AUC + CI" if call == "auc" else "test of two AUCs"
                print(
                    f"  {cases:>6} cases, {what:<16} ours {ours[call]:9.1f} us, {impl} {theirs:9.1f} us, "
                    f"{theirs / ours[call]:.1f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", action="store_true", help="also time DeLong against Python peers")
    args = parser.parse_args()
    machine = f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs"
    print(f"{machine}; median of 15 runs")
    report("dataset07", "wAFROC")
    report("dataset11", "wAFROC")
    report("datasetBinned123", "Wilcoxon")
    big = roe_metz(modalities=1, readers=2, normal_cases=10_000, abnormal_cases=10_000, seed=1)
    print("Roe-Metz simulation (1 modality x 2 readers, 10,000 normal + 10,000 abnormal cases):")
    print(f"  Wilcoxon FOM + jackknife {median_of(lambda: jackknife(big, 'Wilcoxon')) * 1e3:8.1f} ms")
    froc = rsm_froc(modalities=2, readers=30, normal_cases=5_000, abnormal_cases=5_000, seed=1)
    print("RSM FROC simulation (2 modalities x 30 readers x 10,000 cases, half abnormal), wAFROC:")
    froc_jackknife = median_of(lambda: jackknife(froc, "wAFROC"), repeat=5)
    froc_or = median_of(lambda: or_analysis(froc, "wAFROC"), repeat=5)
    print(f"  FOM + jackknife          {froc_jackknife * 1e3:8.1f} ms")
    print(f"  OR (RRRC, FRRC, RRFC)    {froc_or * 1e3:8.1f} ms")
    if args.peers:
        delong_peers()


def both(data, fom):
    jk = jackknife(data, fom)
    return or_analysis(data, fom, jk), dbm_analysis(data, fom, jk)


if __name__ == "__main__":
    main()
