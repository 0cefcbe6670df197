"""Split-plot studies: reader groups that read disjoint case subsets, found from the readings,
and their JAFROC analysis by the split-plot OR (:func:`stats.splitplot.split_plot_or_analysis`).

The groups are read off what was read, not from the schedule: readers are in one group
when they are connected by cases they both read (under any condition). A study with two
or more such groups is split-plot; within a group only the cases every reader of the group
read under every condition are analysed (as :func:`stats.tables.design.complete_cases`
does for a crossed study).
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..dataset import DatasetError, ReaderStudy
from ..fom import jackknife
from ..matching import MarkMatch, natural_key
from ..splitplot import SplitPlotResult, split_plot_or_analysis
from ..study_record import StudyRecord
from .design import complete_cases
from .jafroc import or_tables
from .marks import Matching, _matches_table, matching_part
from .table import Cell, Part, Table, num


@dataclass(frozen=True, kw_only=True)
class ReaderGroup:
    """A reader group of a split-plot study: its readers, its analysed cases, what it left out."""

    name: str
    readers: tuple[str, ...]
    cases: tuple[str, ...]  # read by every reader of the group under every condition
    left_out: tuple[str, ...] = ()


def reader_groups(record: StudyRecord) -> list[ReaderGroup]:
    """The study's reader groups (connected by shared cases), in the order of their first reader.

    Readers with no reading belong to no group. A crossed study gives one group.
    """
    order = {r: n for n, r in enumerate(record.reader_ids)}
    cases_of: dict[str, set[str]] = {}
    for row in record.readings:
        if row["reader"] in order:
            cases_of.setdefault(row["reader"], set()).add(row["case"])
    parent = {r: r for r in cases_of}

    def root(r: str) -> str:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    reader_of_case: dict[str, str] = {}
    for reader in sorted(cases_of, key=order.__getitem__):
        for case in cases_of[reader]:
            if case in reader_of_case:
                parent[root(reader)] = root(reader_of_case[case])
            else:
                reader_of_case[case] = reader
    members: dict[str, list[str]] = {}
    for reader in sorted(cases_of, key=order.__getitem__):
        members.setdefault(root(reader), []).append(reader)
    groups = []
    for n, readers in enumerate(members.values(), start=1):
        cases = sorted(set().union(*(cases_of[r] for r in readers)), key=natural_key)
        complete, left_out = complete_cases(record, readers, cases, group=f"G{n}")
        groups.append(
            ReaderGroup(name=f"G{n}", readers=tuple(readers), cases=tuple(complete), left_out=tuple(left_out))
        )
    return groups


def design_rows(groups: list[ReaderGroup]) -> tuple[dict[str, Cell], ...]:
    """Rows for the ``design`` table: the number of groups and each group's readers and cases."""
    rows: list[dict[str, Cell]] = [
        {
            "item": "reader groups (split-plot)",
            "count": len(groups),
            "detail": ", ".join(g.name for g in groups),
        }
    ]
    rows += [
        {
            "item": f"group {g.name}: cases read by each of its readers in every condition",
            "count": len(g.cases),
            "detail": "readers " + ", ".join(g.readers),
        }
        for g in groups
    ]
    return tuple(rows)


@dataclass(frozen=True, kw_only=True)
class SplitPlotDetection(Part):
    """The marks matched per group, the FOMs of all readers and the split-plot OR analysis."""

    frocs: tuple[ReaderStudy, ...] = ()
    mrmc: SplitPlotResult | None = None
    matches: tuple[MarkMatch, ...] = ()


def _group_record(record: StudyRecord, group: ReaderGroup) -> StudyRecord:
    readers = set(group.readers)
    return dataclasses.replace(record, readers=[row for row in record.readers if row["reader"] in readers])


def split_plot_detection_part(record: StudyRecord, groups: list[ReaderGroup]) -> SplitPlotDetection:
    """``lesion_matches``, ``jafroc_fom`` and, when the groups allow it, ``jafroc_tests`` and
    ``jafroc_conditions`` by the split-plot OR analysis."""
    settings = record.settings
    fom = settings.fom
    matchings: list[Matching] = [matching_part(_group_record(record, g), list(g.cases)) for g in groups]
    matches = tuple(m for part in matchings for m in part.matches)
    notes = [note for part in matchings for note in part.notes]
    matches_table = _matches_table(list(matches), settings.acceptance_rule().describe())
    frocs = tuple(part.froc for part in matchings)
    short = [
        f"{g.name} ({f.k1} normal, {f.k2} abnormal)"
        for g, f in zip(groups, frocs, strict=True)
        if f.k1 < 2 or f.k2 < 2
    ]
    if short:
        notes.append(
            "The split-plot JAFROC analysis needs at least two normal and two abnormal cases read by "
            f"every reader of each group; {', '.join(short)} has fewer."
        )
        return SplitPlotDetection(tables=(matches_table,), notes=tuple(notes), frocs=frocs, matches=matches)
    jks = [jackknife(f, fom) for f in frocs]
    conditions = list(frocs[0].modality_ids)
    fom_rows: list[dict[str, Cell]] = []
    for g, f, jk in zip(groups, frocs, jks, strict=True):
        fom_rows += [
            {"reader": reader, "group": g.name, **{c: num(jk.fom[i, j]) for i, c in enumerate(conditions)}}
            for j, reader in enumerate(f.reader_ids)
        ]
    group_notes = tuple(
        f"Group {g.name}: readers {', '.join(g.readers)}; {f.k1} normal and {f.k2} abnormal cases, "
        f"{int(f.lesions_per_case.sum())} lesions."
        for g, f in zip(groups, frocs, strict=True)
    )
    try:
        result = split_plot_or_analysis(
            frocs,
            fom,
            jks,
            covariance=settings.covariance,
            seed=0,
        )
    except DatasetError as exc:
        result = None
        notes.append(f"No MRMC test of {fom}: {exc}")
    means = np.concatenate([jk.fom for jk in jks], axis=1).mean(axis=1)
    average: dict[str, Cell] = {
        "reader": "Average",
        "group": "all",
        **{c: num(means[i]) for i, c in enumerate(conditions)},
    }
    fom_table = Table(
        name="jafroc_fom",
        title=f"{fom} figure of merit per reader and condition (each reader on their group's cases)",
        columns=("reader", "group", *conditions),
        rows=(*fom_rows, average),
        notes=group_notes,
    )
    if result is None:
        return SplitPlotDetection(
            tables=(matches_table, fom_table), notes=tuple(notes), frocs=frocs, matches=matches
        )
    method_note = (
        f"Method: {result.method} (stats.splitplot: Obuchowski-Rockette with covariances estimated within "
        "each reader group and pooled over the groups' reader pairs; Hillis's denominator degrees "
        "of freedom).",
    )
    tests_table, conditions_table = or_tables(settings, result, result.method, method_note)
    return SplitPlotDetection(
        tables=(matches_table, fom_table, tests_table, conditions_table),
        notes=tuple(notes),
        frocs=frocs,
        mrmc=result,
        matches=matches,
    )
