"""Reading the plain layout: a folder with NL.csv, LL.csv, truth.csv and meta.json.

Columns: ``NL.csv`` modality,reader,case,mark_index,rating; ``LL.csv``
modality,reader,case,mark_index,lesion_id,rating; ``truth.csv``
case,truth,lesion_slot,lesion_id,weight. Cases are 1..K with the K1 normal cases
first; ``meta.json`` gives the type and the ordered modality and reader ids. A
rating that is not listed is a missing mark (-inf). Lesion weights that are all 0
for a case mean equal weights (1/n), as in RJafroc.

LROC folders add ``LL_IL.csv`` (modality,reader,case,mark_index,rating): the incorrect
localisations of abnormal cases (RJafroc's ``LL_IL``). They become NL marks of those cases,
after any NL.csv marks of theirs, as the Excel reader keeps them (stats.io_excel), so that the
ROC rating of an abnormal case is its highest rating over correct and incorrect
localisations (RJafroc 2.1.3 ``DfLroc2Roc``).
"""

import csv
import json
from pathlib import Path

import numpy as np

from .dataset import NO_MARK, DatasetError, ReaderStudy


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise DatasetError(f"{path}: file missing.")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def read_plain(folder: str | Path) -> ReaderStudy:
    """Read a dataset folder in the plain layout into a ReaderStudy."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except FileNotFoundError:
        raise DatasetError(f"{folder}: no meta.json (not a dataset folder).") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{folder / 'meta.json'}: not valid JSON ({exc}).") from None
    kind = meta.get("type", "FROC")
    if "modality_ids" not in meta:
        raise DatasetError(f"{folder}: crossed-modality datasets (two modality factors) are not supported.")
    if kind not in ("ROC", "FROC", "LROC", "ROI"):
        raise DatasetError(f"{folder}: {kind} data is not supported (ROC, FROC, LROC and ROI are).")
    if meta.get("design", "FCTRL") != "FCTRL":
        raise DatasetError(
            f"{folder}: the {meta['design']} design (readers read different cases) is not supported; "
            "only fully crossed (factorial) studies are."
        )
    modalities = [str(m) for m in meta["modality_ids"]]
    readers = [str(r) for r in meta["reader_ids"]]
    mod_index = {m: n for n, m in enumerate(modalities)}
    rdr_index = {r: n for n, r in enumerate(readers)}

    truth = _rows(folder / "truth.csv")
    normal = sorted({int(r["case"]) for r in truth if r["truth"] == "normal"})
    abnormal = sorted({int(r["case"]) for r in truth if r["truth"] != "normal"})
    k1, k2 = len(normal), len(abnormal)
    if normal != list(range(1, k1 + 1)) or abnormal != list(range(k1 + 1, k1 + k2 + 1)):
        raise DatasetError(f"{folder / 'truth.csv'}: cases must be 1..K with the normal cases first.")
    lesion_rows = [r for r in truth if r["truth"] != "normal"]
    lesions_per_case = np.zeros(k2, dtype=int)
    for r in lesion_rows:
        lesions_per_case[int(r["case"]) - k1 - 1] += 1
    max_ll = max(int(lesions_per_case.max(initial=1)), 1)
    weights = np.zeros((k2, max_ll))
    lesion_ids = np.zeros((k2, max_ll), dtype=int)
    for r in lesion_rows:
        k, slot = int(r["case"]) - k1 - 1, int(r["lesion_slot"]) - 1
        weights[k, slot] = float(r["weight"])
        lesion_ids[k, slot] = int(r["lesion_id"])
    unset = weights.sum(axis=1) == 0
    slots = np.arange(max_ll)[None, :] < lesions_per_case[:, None]
    weights[unset] = np.where(slots[unset], 1.0 / lesions_per_case[unset, None], 0.0)

    nl_rows = _rows(folder / "NL.csv")
    ll_rows = _rows(folder / "LL.csv")
    il_rows = _rows(folder / "LL_IL.csv") if kind == "LROC" and (folder / "LL_IL.csv").exists() else []
    try:
        # LL_IL marks go into the NL slots after the case's own NL marks.
        nl_slots = [(r["modality"], r["reader"], int(r["case"]), int(r["mark_index"])) for r in nl_rows]
        used: dict[tuple[str, str, int], int] = {}
        for m, rd, case, slot in nl_slots:
            used[(m, rd, case)] = max(used.get((m, rd, case), 0), slot)
        for r in il_rows:
            key = (r["modality"], r["reader"], int(r["case"]))
            if not k1 < key[2] <= k1 + k2:
                raise DatasetError(f"{folder / 'LL_IL.csv'}: case {key[2]} is not an abnormal case.")
            used[key] = used.get(key, 0) + 1
            nl_rows.append({**r, "mark_index": str(used[key])})
    except (KeyError, ValueError) as exc:
        raise DatasetError(f"{folder}: a mark has a missing or bad field ({exc}).") from None
    max_nl = max([int(r["mark_index"]) for r in nl_rows] + [1])
    shape = (len(modalities), len(readers))
    nl = np.full((*shape, k1 + k2, max_nl), NO_MARK)
    ll = np.full((*shape, k2, max_ll), NO_MARK)
    try:
        for r in nl_rows:
            nl[
                mod_index[r["modality"]], rdr_index[r["reader"]], int(r["case"]) - 1, int(r["mark_index"]) - 1
            ] = float(r["rating"])
        for r in ll_rows:
            ll[
                mod_index[r["modality"]],
                rdr_index[r["reader"]],
                int(r["case"]) - k1 - 1,
                int(r["mark_index"]) - 1,
            ] = float(r["rating"])
    except (KeyError, ValueError, IndexError) as exc:
        raise DatasetError(
            f"{folder}: a mark refers to an unknown modality, reader, case or slot ({exc})."
        ) from None
    return ReaderStudy(
        kind=kind,
        modality_ids=tuple(modalities),
        reader_ids=tuple(readers),
        k1=k1,
        nl=nl,
        ll=ll,
        lesions_per_case=lesions_per_case,
        weights=weights,
        lesion_ids=lesion_ids,
        case_ids=tuple(str(k) for k in range(1, k1 + k2 + 1)),
        name=meta.get("name", folder.name),
    )
