"""Benchmark of stats/: FOM and DBM + OR analyses on RJafroc's larger datasets.

Run by hand: ``.venv/bin/python bench/stats_mrmc.py`` (needs ../shared beside the
project). Prints the median wall time of 15 runs of each step (after one warm-up run).
"""

import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stats.fom import jackknife  # noqa: E402
from stats.io_plain import read_plain  # noqa: E402
from stats.mrmc import dbm_analysis, or_analysis  # noqa: E402
from stats.simulate import roe_metz  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets" / "rjafroc"


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


def main() -> None:
    machine = f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs"
    print(f"{machine}; median of 15 runs")
    report("dataset07", "wAFROC")
    report("dataset11", "wAFROC")
    report("datasetBinned123", "Wilcoxon")
    big = roe_metz(modalities=1, readers=2, normal_cases=10_000, abnormal_cases=10_000, seed=1)
    print("Roe-Metz simulation (1 modality x 2 readers, 10,000 normal + 10,000 abnormal cases):")
    print(f"  Wilcoxon FOM + jackknife {median_of(lambda: jackknife(big, 'Wilcoxon')) * 1e3:8.1f} ms")


def both(data, fom):
    jk = jackknife(data, fom)
    return or_analysis(data, fom, jk), dbm_analysis(data, fom, jk)


if __name__ == "__main__":
    main()
