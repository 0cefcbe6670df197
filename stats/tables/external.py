"""Findings against an external reference (e.g. arthroscopy): sensitivity and specificity with
Wilson intervals (Wilson, JASA 22, 1927) and AUC with DeLong intervals (DeLong, DeLong &
Clarke-Pearson, Biometrics 44:837-845, 1988) per reader and condition; McNemar tests of
sensitivity and specificity (McNemar, Psychometrika 12, 1947) and DeLong tests of AUC between
conditions.
"""

import json
import math
from collections import defaultdict
from itertools import combinations
from typing import Any

import numpy as np

from ..classical import mcnemar
from ..diagnostic import delong_test, proportion, roc_auc
from ..matching import natural_key
from ..study_record import StudyRecord
from .table import Cell, Part, Table, num, pair_name


def finding_score(answer: dict[str, Any], scale: list[int]) -> float | None:
    """A reader's certainty that a finding is present, for the AUC.

    Called present: its confidence (the call itself, 1, without a scale or a confidence);
    called absent (which takes no confidence): one below the lowest confidence, so every
    "present" call ranks above every "absent" one.
    """
    if answer["present"] is None:
        return None
    floor = (min(scale) - 1.0) if scale else 0.0
    if not answer["present"]:
        return floor
    if scale and answer["value"] is not None:
        return float(answer["value"])
    return floor + 1.0 if not scale else float(max(scale))


def external_part(record: StudyRecord, cases: list[str]) -> Part:
    """``diagnostic`` and ``diagnostic_tests`` (nothing when no reference covers a finding question)."""
    conf = record.settings.confidence
    conditions, readers = record.condition_ids, record.reader_ids
    finding_questions = {
        q["question"]: [point["value"] for point in json.loads(q["scale"] or "[]")]
        for q in record.questions
        if q["kind"] == "finding"
    }
    truth: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for row in record.findings:
        if row["finding"] in finding_questions and row["case"] in set(cases):
            truth[(row["reference"], row["finding"])][row["case"]] = row["present"]
    if not truth:
        return Part()
    answers = {(a["question"], a["condition"], a["reader"], a["case"]): a for a in record.answers}
    rows: list[dict[str, Cell]] = []
    tests: list[dict[str, Cell]] = []
    for (reference, finding), known in sorted(truth.items()):
        scale = finding_questions[finding]
        for reader in readers:
            calls: dict[str, list[bool]] = {}
            scores: dict[str, list[float | None]] = {}
            used: list[str] = []
            for case in sorted(known, key=natural_key):
                per_condition = [answers.get((finding, c, reader, case)) for c in conditions]
                given = [a for a in per_condition if a is not None and a["present"] is not None]
                if len(given) < len(conditions):
                    continue
                used.append(case)
                for c, answer in zip(conditions, given, strict=True):
                    calls.setdefault(c, []).append(bool(answer["present"]))
                    scores.setdefault(c, []).append(finding_score(answer, scale))
            if not used:
                continue
            positive = np.array([known[c] for c in used])
            unit: dict[str, Cell] = {"reference": reference, "finding": finding, "reader": reader}
            for condition in conditions:
                call = np.array(calls[condition])
                tp, fn = int((call & positive).sum()), int((~call & positive).sum())
                tn, fp = int((~call & ~positive).sum()), int((call & ~positive).sum())
                se, sp = proportion(tp, tp + fn, confidence=conf), proportion(tn, tn + fp, confidence=conf)
                auc = (math.nan, math.nan, math.nan)
                if positive.any() and (~positive).any():
                    a = roc_auc(positive, np.array(scores[condition]), confidence=conf)
                    auc = (a.estimate, a.ci[0], a.ci[1])
                rows.append(
                    {
                        **unit,
                        "condition": condition,
                        "tp": tp,
                        "fn": fn,
                        "tn": tn,
                        "fp": fp,
                        "sensitivity": num(se.estimate),
                        "se_ci_lower": num(se.ci_wilson[0]),
                        "se_ci_upper": num(se.ci_wilson[1]),
                        "specificity": num(sp.estimate),
                        "sp_ci_lower": num(sp.ci_wilson[0]),
                        "sp_ci_upper": num(sp.ci_wilson[1]),
                        "auc": num(auc[0]),
                        "auc_ci_lower": num(auc[1]),
                        "auc_ci_upper": num(auc[2]),
                    }
                )
            for first_condition, second_condition in combinations(conditions, 2):
                first, second = np.array(calls[first_condition]), np.array(calls[second_condition])
                se_p = mcnemar(first[positive], second[positive]).pvalue if positive.any() else math.nan
                sp_p = (
                    mcnemar(~first[~positive], ~second[~positive]).pvalue if (~positive).any() else math.nan
                )
                auc_diff = auc_p = math.nan
                if positive.any() and (~positive).any():
                    d = delong_test(
                        positive,
                        np.array(scores[first_condition]),
                        np.array(scores[second_condition]),
                        confidence=conf,
                    )
                    auc_diff, auc_p = d.estimate, d.pvalue
                tests.append(
                    {
                        **unit,
                        "comparison": pair_name(first_condition, second_condition),
                        "cases": len(used),
                        "sensitivity_p": num(se_p),
                        "specificity_p": num(sp_p),
                        "auc_difference": num(auc_diff),
                        "auc_p": num(auc_p),
                    }
                )
    return Part(
        tables=(
            Table(
                name="diagnostic",
                title="Diagnostic performance against the external reference (Wilson CI; AUC with DeLong CI)",
                columns=(
                    "reference",
                    "finding",
                    "reader",
                    "condition",
                    "tp",
                    "fn",
                    "tn",
                    "fp",
                    "sensitivity",
                    "se_ci_lower",
                    "se_ci_upper",
                    "specificity",
                    "sp_ci_lower",
                    "sp_ci_upper",
                    "auc",
                    "auc_ci_lower",
                    "auc_ci_upper",
                ),
                rows=tuple(rows),
                notes=(
                    "Only cases that the reference covers and that the reader answered under every "
                    "condition. AUC scores: the confidence when called present, below every confidence "
                    "when absent.",
                ),
            ),
            Table(
                name="diagnostic_tests",
                title="Diagnostic performance between conditions "
                "(McNemar on sensitivity and specificity; DeLong on AUC)",
                columns=(
                    "reference",
                    "finding",
                    "reader",
                    "comparison",
                    "cases",
                    "sensitivity_p",
                    "specificity_p",
                    "auc_difference",
                    "auc_p",
                ),
                rows=tuple(tests),
            ),
        )
    )
