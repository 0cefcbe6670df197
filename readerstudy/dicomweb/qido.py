"""QIDO-RS searches of one DICOMweb root (PS3.18 section 10.6): studies, series and instances.

A root serves exactly one series (the reading's, the draft's or the measured one), so every
search runs over that series only: one study, one series, its instances. Every value comes
from the blinded WADO-RS metadata of the root (``blinding.series_metadata_blinded``), so a
search answers nothing that the root's metadata does not already serve: reading-specific
UIDs, the reading's pseudonym as patient name and ID, no dates, descriptions or labels.

What a search takes (PS3.18 section 8.3.4):

* matching keys, ``{attribute}={value}``, the attribute by keyword (``PatientID``) or tag
  (``00100020``): universal matching (empty value), UID list matching (``,`` or ``\\``),
  wildcard matching (``*`` and ``?``), range matching of dates and times (``a-b``) and single
  value matching otherwise (numbers compared as written). An attribute the record lacks
  matches only the empty value;
* ``includefield`` (repeated or comma-separated; keyword, tag or ``all``);
* ``limit`` and ``offset`` (non-negative integers); ``fuzzymatching`` (``true``/``false``,
  accepted and ignored: names are the reading's pseudonym).

Anything else (an unknown parameter or attribute, a sequence path, a bad number) is a
``QueryError`` (400, answered as JSON by ``RefusalMiddleware``). The response's attributes
are the level's defaults (Tables 10.6.3-3, -4 and -5, empty where the blinding removed the
value), the matching keys and the included fields; ``all`` includes every attribute of the
record: at study and series level the attributes that every instance of the series shares.
No match is 204 with an empty body (PS3.18 section 8.3.4.4.1).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.http import HttpRequest, QueryDict
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from readerstudy.errors import ServiceError
from readerstudy.imaging import blinding

DICOM_JSON = "application/dicom+json"
#: What a search answers for the Accept header: DICOM JSON (``application/json`` is its alias).
ACCEPTED_TYPES = (DICOM_JSON, "application/json")


class QueryError(ServiceError):
    """A query parameter the search cannot take (HTTP 400)."""


class NotAcceptable(ServiceError):
    """The client accepts no media type the search answers in (HTTP 406)."""

    status = 406


class Level(StrEnum):
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


def _tag(keyword: str) -> str:
    value = tag_for_keyword(keyword)
    assert value is not None, keyword
    return f"{value:08X}"


#: The attributes each level answers by default (PS3.18 Tables 10.6.3-3, -4 and -5).
DEFAULTS: dict[Level, tuple[str, ...]] = {
    Level.STUDY: tuple(
        _tag(k)
        for k in (
            "SpecificCharacterSet",
            "StudyDate",
            "StudyTime",
            "AccessionNumber",
            "InstanceAvailability",
            "ModalitiesInStudy",
            "ReferringPhysicianName",
            "RetrieveURL",
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "PatientSex",
            "StudyInstanceUID",
            "StudyID",
            "NumberOfStudyRelatedSeries",
            "NumberOfStudyRelatedInstances",
        )
    ),
    Level.SERIES: tuple(
        _tag(k)
        for k in (
            "SpecificCharacterSet",
            "Modality",
            "SeriesDescription",
            "RetrieveURL",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SeriesNumber",
            "NumberOfSeriesRelatedInstances",
            "PerformedProcedureStepStartDate",
            "PerformedProcedureStepStartTime",
        )
    ),
    Level.INSTANCE: tuple(
        _tag(k)
        for k in (
            "SpecificCharacterSet",
            "SOPClassUID",
            "SOPInstanceUID",
            "InstanceAvailability",
            "RetrieveURL",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "InstanceNumber",
            "Rows",
            "Columns",
            "BitsAllocated",
            "NumberOfFrames",
        )
    ),
}

_CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
_TAG_HEX = re.compile(r"[0-9A-Fa-f]{8}")


@dataclass(frozen=True)
class Query:
    """A parsed QIDO-RS query: matching keys (tag -> value), included fields, paging."""

    matching: dict[str, str] = field(default_factory=dict)
    include: frozenset[str] = frozenset()
    include_all: bool = False
    limit: int | None = None
    offset: int = 0


def attribute_tag(name: str) -> str:
    """The tag (8 hex digits, upper case) of an attribute given by keyword or tag; ``QueryError`` else."""
    if _TAG_HEX.fullmatch(name):
        tag = name.upper()
        if not keyword_for_tag(int(tag, 16)):
            raise QueryError(f"{name} is not an attribute of the DICOM data dictionary.")
        return tag
    value = tag_for_keyword(name)
    if value is None:
        if "." in name:
            raise QueryError(f"{name}: sequence attributes cannot be matched here.")
        raise QueryError(f"{name} is not a query parameter or a DICOM attribute keyword.")
    return f"{value:08X}"


def _count(params: QueryDict, name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise QueryError(f"{name} must be a non-negative integer.")
    return int(raw)


def parse_query(params: QueryDict) -> Query:
    """The query of a QIDO-RS request (``request.GET``); ``QueryError`` for what it cannot take."""
    matching: dict[str, str] = {}
    for name in params:
        if name in _CONTROL:
            continue
        values = params.getlist(name)
        if len(values) > 1:
            raise QueryError(f"{name} is given more than once.")
        tag = attribute_tag(name)
        if dictionary_VR(int(tag, 16)) == "SQ":
            raise QueryError(f"{name} is a sequence: it cannot be matched.")
        matching[tag] = values[0]
    include: set[str] = set()
    include_all = False
    for value in params.getlist("includefield"):
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name == "all":
                include_all = True
            else:
                include.add(attribute_tag(name))
    fuzzy = params.get("fuzzymatching", "false")
    if fuzzy not in ("true", "false"):
        raise QueryError("fuzzymatching must be true or false.")
    return Query(
        matching=matching,
        include=frozenset(include),
        include_all=include_all,
        limit=_count(params, "limit"),
        offset=_count(params, "offset") or 0,
    )


def negotiate(request: HttpRequest) -> None:
    """Refuse (406) a client that accepts none of ``ACCEPTED_TYPES`` (no Accept header accepts all)."""
    if not any(request.accepts(media_type) for media_type in ACCEPTED_TYPES):
        raise NotAcceptable(f"Searches answer {DICOM_JSON} only.")


# ----------------------------------------------------------------------------- the records


def _element(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def _empty(tag: str) -> dict[str, Any]:
    vr = dictionary_VR(int(tag, 16))
    return {"vr": vr.split(" or ")[0]}


def _shared(metadata: list[dict[str, Any]]) -> dict[str, Any]:
    """The attributes with the same value in every instance of the series."""
    if not metadata:
        return {}
    first, rest = metadata[0], metadata[1:]
    return {tag: value for tag, value in first.items() if all(other.get(tag) == value for other in rest)}


def _with_defaults(record: dict[str, Any], level: Level) -> dict[str, Any]:
    for tag in DEFAULTS[level]:
        record.setdefault(tag, _empty(tag))
    return record


@dataclass(frozen=True)
class SeriesRecords:
    """The records a root's searches match against: its study, its series and its instances."""

    study: dict[str, Any]
    series: dict[str, Any]
    instances: list[dict[str, Any]]


_STUDY_UID, _SERIES_UID = _tag("StudyInstanceUID"), _tag("SeriesInstanceUID")
_SOP_UID = _tag("SOPInstanceUID")
_RETRIEVE_URL, _AVAILABILITY = _tag("RetrieveURL"), _tag("InstanceAvailability")


def series_records(viewing: blinding.BlindedViewing, root_url: str) -> SeriesRecords:
    """The blinded records of the root's series; ``root_url`` is the root's absolute URL (ending in /)."""
    metadata = blinding.series_metadata_blinded(viewing)
    series = viewing.series
    assert series is not None  # the root's policy refuses a viewing without a series
    study_uid = blinding.reading_uid(viewing, series.study_instance_uid)
    series_uid = blinding.reading_uid(viewing, series.series_instance_uid)
    shared = _shared(metadata)
    modality = shared.get(_tag("Modality"), {}).get("Value", [])
    study_url = f"{root_url}studies/{study_uid}"
    series_url = f"{study_url}/series/{series_uid}"
    common = {
        _STUDY_UID: _element("UI", study_uid),
        _SERIES_UID: _element("UI", series_uid),
        _AVAILABILITY: _element("CS", "ONLINE"),
    }
    study = _with_defaults(
        {
            **shared,
            **common,
            _tag("ModalitiesInStudy"): _element("CS", *modality),
            _tag("NumberOfStudyRelatedSeries"): _element("IS", 1),
            _tag("NumberOfStudyRelatedInstances"): _element("IS", len(metadata)),
            _RETRIEVE_URL: _element("UR", study_url),
        },
        Level.STUDY,
    )
    series_record = _with_defaults(
        {
            **shared,
            **common,
            _tag("NumberOfSeriesRelatedInstances"): _element("IS", len(metadata)),
            _RETRIEVE_URL: _element("UR", series_url),
        },
        Level.SERIES,
    )
    instances = []
    for item in metadata:
        record = {**item, **common}
        record.setdefault(_tag("NumberOfFrames"), _element("IS", 1))
        sop_uid = (item.get(_SOP_UID, {}).get("Value") or [""])[0]
        record[_RETRIEVE_URL] = _element("UR", f"{series_url}/instances/{sop_uid}")
        instances.append(_with_defaults(record, Level.INSTANCE))
    return SeriesRecords(study=study, series=series_record, instances=instances)


# ----------------------------------------------------------------------------- matching


def _strings(element: dict[str, Any]) -> list[str]:
    values = []
    for value in element.get("Value", []):
        if isinstance(value, dict):  # a person name
            values.append(str(value.get("Alphabetic", "")))
        elif value is not None:
            values.append(str(value))
    return values


def _range_match(value: str, query: str) -> bool:
    low, _, high = query.partition("-")
    return (not low or value >= low) and (not high or value <= high)


_NUMERIC = ("UI", "IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "UV", "SV")


def _wildcard(query: str, *, ignore_case: bool) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` one character (PS3.4 C.2.2.2.4), the rest literal."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in query)
    return re.compile(pattern, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _value_matches(value: str, query: str, vr: str) -> bool:
    if vr in ("DA", "TM", "DT") and "-" in query:
        return _range_match(value, query)
    if vr not in _NUMERIC and any(c in query for c in "*?"):
        return _wildcard(query, ignore_case=vr == "PN").fullmatch(value) is not None
    if vr == "PN":
        return value.upper() == query.upper()
    if vr in ("IS", "DS"):
        try:
            return float(value) == float(query)
        except ValueError:
            return False
    return value == query


def matches(record: dict[str, Any], tag: str, query: str) -> bool:
    """Whether ``record`` matches the key ``tag`` = ``query`` (PS3.4 C.2.2.2 as PS3.18 8.3.4 uses it)."""
    if query == "":
        return True
    element = record.get(tag)
    if element is None:
        return False
    vr = element.get("vr", "")
    if vr == "SQ":
        raise QueryError(f"{tag} is a sequence: it cannot be matched.")
    alternatives = re.split(r"[,\\]", query) if vr in ("UI", "CS") else [query]
    return any(_value_matches(value, q, vr) for value in _strings(element) for q in alternatives)


def _answer(record: dict[str, Any], level: Level, query: Query) -> dict[str, Any]:
    if query.include_all:
        tags: Iterable[str] = record
    else:
        tags = {*DEFAULTS[level], *query.matching, *query.include}
    return {tag: record[tag] for tag in sorted(tags) if tag in record}


def search(records: list[dict[str, Any]], level: Level, query: Query) -> tuple[list[dict[str, Any]], int]:
    """The answers to ``query`` over ``records`` (one page of them) and how many more matched."""
    matched = [r for r in records if all(matches(r, tag, value) for tag, value in query.matching.items())]
    page = matched[query.offset :]
    if query.limit is not None:
        page = page[: query.limit]
    remaining = max(0, len(matched) - query.offset - len(page))
    return [_answer(record, level, query) for record in page], remaining


def search_root(
    viewing: blinding.BlindedViewing, root_url: str, level: Level, query: Query
) -> tuple[list[dict[str, Any]], int]:
    """The answers to a search of the root at ``level`` (one page) and how many more matched."""
    records = series_records(viewing, root_url)
    candidates = {
        Level.STUDY: [records.study],
        Level.SERIES: [records.series],
        Level.INSTANCE: records.instances,
    }[level]
    return search(candidates, level, query)
