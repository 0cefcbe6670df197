"""A seeded, simulated study record: lesions, readers' marks and answers, a reference, measurements."""

import json

import numpy as np

from stats.dataset import ReaderStudy
from stats.matching import Mark, TrueLesion, froc_study
from stats.study_record import AnalysisSettings, StudyRecord, normalise

LIKERT = [{"value": v, "label": str(v)} for v in (1, 2, 3, 4)]
CONFIDENCE = [{"value": v, "label": str(v)} for v in (1, 2, 3)]


def simulated_record(
    *,
    conditions=("LR", "SR"),
    readers=4,
    normal=10,
    abnormal=10,
    seed=1,
    settings: AnalysisSettings | None = None,
    drop_readings=(),
) -> StudyRecord:
    """A study in which detection improves from the first condition to the last."""
    rng = np.random.default_rng(seed)
    reader_ids = [f"R{j + 1}" for j in range(readers)]
    case_ids = [f"C{k + 1}" for k in range(normal + abnormal)]
    record = StudyRecord(
        study={"name": "Simulated", "slug": "simulated", "mark_scale": CONFIDENCE},
        settings=settings or AnalysisSettings(),
        conditions=[{"condition": c, "order": i} for i, c in enumerate(conditions)],
        readers=[{"reader": r} for r in reader_ids],
        cases=[{"case": c, "abnormal": k >= normal} for k, c in enumerate(case_ids)],
        questions=[
            {"question": "quality", "kind": "likert", "text": "Image quality", "scale": json.dumps(LIKERT)},
            {"question": "tear", "kind": "finding", "text": "Meniscal tear", "scale": json.dumps(CONFIDENCE)},
        ],
    )
    for k, case in enumerate(case_ids[normal:]):
        for n in range(1 + k % 2):
            record.lesions.append(
                {
                    "case": case,
                    "lesion": f"L{n + 1}",
                    "x_mm": float(40 * n),
                    "y_mm": 10.0,
                    "z_mm": 5.0,
                    "size_mm": float(rng.choice([3.0, 6.0, 12.0])),
                    "weight": None,
                    "type": "metastasis",
                }
            )
    lesions_of = {}
    for row in record.lesions:
        lesions_of.setdefault(row["case"], []).append(row)
    for i, condition in enumerate(conditions):
        p_find = 0.45 + 0.4 * i / max(len(conditions) - 1, 1)
        for reader in reader_ids:
            for position, case in enumerate(case_ids):
                if (condition, reader, case) in drop_readings:
                    continue
                record.readings.append(
                    {
                        "condition": condition,
                        "reader": reader,
                        "case": case,
                        "session": i + 1,
                        "position": position + 1,
                        "submitted_at": "",
                    }
                )
                n_marks = 0
                for lesion in lesions_of.get(case, []):
                    if rng.random() < p_find:
                        n_marks += 1
                        record.marks.append(
                            {
                                "condition": condition,
                                "reader": reader,
                                "case": case,
                                "mark": f"{condition}-{reader}-{case}-{n_marks}",
                                "slice": 3,
                                "x_mm": lesion["x_mm"] + rng.normal(0, 0.5),
                                "y_mm": lesion["y_mm"] + rng.normal(0, 0.5),
                                "z_mm": lesion["z_mm"],
                                "rating": float(rng.integers(2, 4)),
                            }
                        )
                for _ in range(rng.poisson(0.4)):
                    n_marks += 1
                    record.marks.append(
                        {
                            "condition": condition,
                            "reader": reader,
                            "case": case,
                            "mark": f"{condition}-{reader}-{case}-{n_marks}",
                            "slice": 7,
                            "x_mm": float(rng.uniform(100, 150)),
                            "y_mm": float(rng.uniform(100, 150)),
                            "z_mm": 20.0,
                            "rating": float(rng.integers(1, 3)),
                        }
                    )
                quality = int(np.clip(rng.integers(1, 4) + (i > 0 and rng.random() < 0.6), 1, 4))
                tear_truth = k_truth = int(case[1:]) % 3 == 0
                called = bool(rng.random() < (0.8 if tear_truth else 0.2))
                record.answers.append(
                    {
                        "condition": condition,
                        "reader": reader,
                        "case": case,
                        "question": "quality",
                        "value": quality,
                        "present": None,
                        "text": "",
                    }
                )
                record.answers.append(
                    {
                        "condition": condition,
                        "reader": reader,
                        "case": case,
                        "question": "tear",
                        "value": int(rng.integers(1, 4)) if called else None,
                        "present": called,
                        "text": "",
                    }
                )
                del k_truth
    for case in case_ids[:14]:
        record.findings.append(
            {
                "reference": "arthroscopy v1",
                "case": case,
                "finding": "tear",
                "present": int(case[1:]) % 3 == 0,
                "grade": None,
            }
        )
    for case in case_ids[:8]:
        for i, condition in enumerate(conditions):
            record.measurements.append(
                {
                    "case": case,
                    "condition": condition,
                    "roi": "edge",
                    "kind": "line",
                    "metric": "fwhm_mm",
                    "value": 2.0 - 0.3 * i + rng.normal(0, 0.1),
                }
            )
            record.measurements.append(
                {
                    "case": case,
                    "condition": condition,
                    "roi": "muscle",
                    "kind": "circle",
                    "metric": "snr",
                    "value": 20.0 + 2 * i + rng.normal(0, 1),
                }
            )
            if condition != conditions[-1]:
                record.fidelity.append(
                    {
                        "case": case,
                        "condition": condition,
                        "reference": conditions[-1],
                        "psnr": 30.0 + i + rng.normal(0, 0.5),
                        "ssim": 0.9 + 0.01 * i,
                        "rmse": 0.03 - 0.001 * i + rng.normal(0, 0.001),
                        "psnr_tissue": None,
                        "ssim_tissue": None,
                    }
                )
    return normalise(record)


def froc_with_algorithms(
    record: StudyRecord, cases: tuple[str, ...], readers: list[str], condition: str = "SR"
) -> ReaderStudy:
    """The one-condition FROC data of ``readers`` (readers and algorithms, in that order), their
    marks (``marks`` and ``standalone_marks``) matched to the lesions of ``cases`` here, from the
    definitions, by the study's acceptance rule: what the standalone tables must reproduce."""
    lesions = [
        TrueLesion(
            case=r["case"],
            lesion=r["lesion"],
            position=(r["x_mm"], r["y_mm"], r["z_mm"]),
            size_mm=r["size_mm"],
            weight=r["weight"],
        )
        for r in record.lesions
        if r["case"] in cases
    ]
    marks = [
        Mark(
            modality=condition,
            reader=r["reader"],
            case=r["case"],
            position=(r["x_mm"], r["y_mm"], r["z_mm"]),
            rating=r["rating"],
            mark=r["mark"],
        )
        for r in [*record.marks, *record.standalone_marks]
        if r["condition"] == condition and r["case"] in cases
    ]
    data, _ = froc_study(
        lesions,
        marks,
        modalities=[condition],
        readers=readers,
        cases=list(cases),
        rule=record.settings.acceptance_rule(),
        duplicates=record.settings.duplicates,
    )
    return data
