"""Access to RJafroc 2.1.3's reference results in ../shared (read-only, never copied)."""

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
DATASETS = SHARED / "datasets" / "rjafroc"
REFERENCE = SHARED / "reference" / "rjafroc"
REFERENCE_NAMES = ("dataset02", "dataset04", "dataset05")


def require_shared() -> None:
    if not REFERENCE.exists():
        pytest.fail(f"The shared reference data is missing: {REFERENCE} (it lies beside the project).")


@cache
def reference(name: str) -> dict:
    require_shared()
    return json.loads((REFERENCE / f"{name}.json").read_text())


def r_array(entry: dict) -> np.ndarray:
    """An R array stored column-major as ``{"dim": [...], "values": [...]}``."""
    return np.array(entry["values"], dtype=float).reshape(entry["dim"], order="F")


def fom_table(table: dict, modalities, readers) -> np.ndarray:
    """RJafroc's FOM table ``{trt<m>: {rdr<r>: value}}`` as an [I, J] array."""
    return np.array([[table[f"trt{m}"][f"rdr{r}"] for r in readers] for m in modalities])
