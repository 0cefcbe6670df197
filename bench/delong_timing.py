"""Time one DeLong implementation on seeded data; prints JSON (run by bench/stats_mrmc.py --peers).

Runs under the interpreter of the implementation it times: the project's .venv for ``ours``,
the bench's own peer environment for ``confidenceinterval`` and ``MLstatkit``. The data are
the same for all: ``cases`` cases, half positive, two score vectors from a seeded normal
model (scores shifted by 1 on positives), rounded to 3 decimals so that ties occur.

    python bench/delong_timing.py --impl ours --cases 100
"""

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def data(cases: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth (0/1) and two score vectors, seeded."""
    rng = np.random.default_rng(20)
    truth = np.r_[np.ones(cases // 2, dtype=int), np.zeros(cases - cases // 2, dtype=int)]
    first = np.round(rng.normal(size=cases) + truth, 3)
    second = np.round(rng.normal(size=cases) + 0.8 * truth, 3)
    return truth, first, second


def calls(impl: str, cases: int) -> dict[str, Callable[[], Any]]:
    """The two timed calls of ``impl``: one AUC with its CI, and the test of two AUCs."""
    truth, first, second = data(cases)
    if impl == "ours":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from stats.diagnostic import delong_test, roc_auc

        positive = truth.astype(bool)
        return {
            "auc": lambda: roc_auc(positive, first),
            "test": lambda: delong_test(positive, first, second),
        }
    if impl == "confidenceinterval":
        from confidenceinterval import roc_auc_score

        return {"auc": lambda: roc_auc_score(truth, first, confidence_level=0.95, method="delong")}
    if impl == "MLstatkit":
        from MLstatkit import Delong_test

        return {"test": lambda: Delong_test(truth, first, second)}
    raise SystemExit(f"unknown implementation {impl!r}")


def per_call_us(call: Callable[[], Any], budget_s: float = 0.4) -> float:
    """Median time of one call in microseconds (7 repeats of a loop sized to ~budget_s / 7)."""
    call()
    start = timeit.default_timer()
    call()
    once = max(timeit.default_timer() - start, 1e-7)
    number = max(1, int(budget_s / 7 / once))
    return statistics.median(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True)
    parser.add_argument("--cases", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps({name: per_call_us(call) for name, call in calls(args.impl, args.cases).items()}))


if __name__ == "__main__":
    main()
