"""Writes of standalone algorithms: make one, import its output from a CSV, delete it.

The CSV is one of two formats, told apart by its header (``case`` and ``condition`` as the
study names them; ``condition`` its label or its code):

* ``case,condition,rating``: one case-level rating per case. Every case with a series in a
  condition named in the file must have exactly one.
* ``case,condition,x_mm,y_mm,z_mm,rating``: lesion marks in patient coordinates (mm, as
  readers' marks are stored). A case without rows is unmarked: the algorithm is taken to have
  read every case of each condition the file names.

An import replaces the algorithm's outputs for the conditions the file names, atomically, with
the algorithm row locked; re-uploading the file of its last import (same SHA-256) changes
nothing. Any bad line refuses the whole file, every problem listed with its line
(:class:`StandaloneImportInvalid`). A locked study refuses every write here
(:class:`StandaloneLocked`). Every write is audited.
"""

import csv
import hashlib
import io
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create, audit_text
from readerstudy.errors import ServiceError
from readerstudy.imaging.models import ImageSeries
from readerstudy.standalone.models import (
    OutputKind,
    StandaloneAlgorithm,
    StandaloneImport,
    StandaloneMark,
    StandaloneRating,
    code_taken,
)
from readerstudy.studies.models import Case, Condition, Study

#: The largest file accepted (bytes): ~250 000 mark rows, far beyond any study.
MAX_IMPORT_BYTES = 10 * 1024 * 1024
#: The two headers, by the kind of output they carry.
HEADERS: dict[str, tuple[str, ...]] = {
    OutputKind.RATINGS: ("case", "condition", "rating"),
    OutputKind.MARKS: ("case", "condition", "x_mm", "y_mm", "z_mm", "rating"),
}
#: How many problems a refusal lists before it counts the rest.
MAX_ERRORS = 30

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$")


class StandaloneInvalid(ServiceError, ValueError):
    """A standalone-algorithm write that is refused; the message says why."""


class StandaloneLocked(StandaloneInvalid):
    """The study is locked: its algorithms and their outputs no longer change."""

    status = 409


class StandaloneImportInvalid(StandaloneInvalid):
    """The file was not imported; ``errors`` lists every problem (one per bad line)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        problems = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        super().__init__(f"The file was not imported ({problems}): " + " ".join(errors))


@dataclass(frozen=True)
class ImportOutcome:
    """The import that holds the algorithm's outputs now; ``created`` False when the file was its
    last import again (nothing changed)."""

    record: StandaloneImport
    created: bool


@dataclass(frozen=True)
class _Parsed:
    kind: str
    conditions: list[Condition]  # named in the file, in order of first appearance
    marks: list[tuple[Case, Condition, float, float, float, float]]
    ratings: list[tuple[Case, Condition, float]]
    rows: int


def _refuse_locked(study: Study) -> None:
    if study.status == Study.Status.LOCKED:
        raise StandaloneLocked("The study is locked: its standalone algorithms can no longer change.")


def _study_for_update(study: Study) -> Study:
    """The study row, locked for this transaction; refuses a locked study."""
    fresh = Study.objects.select_for_update().get(pk=study.pk)
    _refuse_locked(fresh)
    return fresh


def _facts(algorithm: StandaloneAlgorithm) -> dict[str, Any]:
    return {
        "code": algorithm.code,
        "name": algorithm.name,
        "description": audit_text(algorithm.description),
        "kind": algorithm.kind,
    }


# ----------------------------------------------------------------------------- create, delete


def standalone_algorithm_create(
    *, study: Study, code: str, name: str, actor: Any, description: str = "", file: Any = None
) -> StandaloneAlgorithm:
    """Make an algorithm of ``study`` (and, with ``file``, import its output in the same
    transaction: a refused file makes no algorithm either).

    ``code`` (letters, digits, - and _, at most 20) names it in the results: unique in the study
    and never a reader's code (:func:`readerstudy.standalone.models.code_taken`).
    """
    code, name, description = code.strip(), name.strip(), description.strip()
    if not _CODE.match(code):
        raise StandaloneInvalid(
            "The code must be 1 to 20 letters, digits, - or _ (starting with a letter or digit), e.g. CAD1."
        )
    if not name:
        raise StandaloneInvalid("Give the algorithm a name.")
    if len(name) > StandaloneAlgorithm._meta.get_field("name").max_length:  # type: ignore[operator]
        raise StandaloneInvalid("The name is too long (at most 200 characters).")
    with transaction.atomic():
        study = _study_for_update(study)
        if reason := code_taken(study, code):
            raise StandaloneInvalid(reason)
        try:
            with transaction.atomic():
                algorithm = StandaloneAlgorithm.objects.create(
                    study=study,
                    code=code,
                    name=name,
                    description=description,
                    created_by=actor if getattr(actor, "is_authenticated", False) else None,
                )
        except IntegrityError as exc:
            raise StandaloneInvalid("This code was just taken by someone else; reload the page.") from exc
        audit_event_create(
            actor=actor,
            action=AuditAction.STANDALONE_CREATE,
            target=algorithm,
            study=study,
            data=audit_change(None, _facts(algorithm)),
        )
        if file is not None:
            standalone_import(algorithm=algorithm, file=file, actor=actor)
    return algorithm


def standalone_algorithm_delete(*, algorithm: StandaloneAlgorithm, actor: Any) -> None:
    """Delete the algorithm with its outputs and imports (not in a locked study)."""
    with transaction.atomic():
        study = _study_for_update(algorithm.study)
        locked = StandaloneAlgorithm.objects.select_for_update().filter(pk=algorithm.pk).first()
        if locked is None:
            return  # already deleted (a retried request): nothing to do
        before = {
            **_facts(locked),
            "marks": locked.marks.count(),
            "ratings": locked.ratings.count(),
            "imports": locked.imports.count(),
        }
        audit_event_create(
            actor=actor,
            action=AuditAction.STANDALONE_DELETE,
            target=locked,
            study=study,
            data=audit_change(before, None),
        )
        locked.delete()


# ----------------------------------------------------------------------------- import


def _read_upload(file: Any) -> tuple[bytes, str]:
    """The file's bytes (refusing one over :data:`MAX_IMPORT_BYTES`) and its name without folders."""
    name = os.path.basename(getattr(file, "name", "") or "")
    size = getattr(file, "size", None)
    content = file.read(MAX_IMPORT_BYTES + 1) if size is None or size <= MAX_IMPORT_BYTES else b""
    if isinstance(content, str):
        content = content.encode("utf-8")
    if (size is not None and size > MAX_IMPORT_BYTES) or len(content) > MAX_IMPORT_BYTES:
        raise StandaloneImportInvalid(
            [f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; split it by condition."]
        )
    return content, name


def _number(text: str, column: str, problems: list[str]) -> float:
    """A finite number from a cell, or a problem saying what is wrong with it."""
    if not text:
        problems.append(f"no {column}")
        return math.nan
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{column} '{text}' is not a number")
        return math.nan
    if not math.isfinite(value):
        problems.append(f"{column} must be a finite number, not '{text}'")
    return value


def _header_problem(header: list[str]) -> str:
    shown = ",".join(header)
    return (
        f"Line 1: the header must be '{','.join(HEADERS[OutputKind.RATINGS])}' (case ratings) or "
        f"'{','.join(HEADERS[OutputKind.MARKS])}' (lesion marks), not '{shown}'."
    )


def _parse(study: Study, content: bytes) -> _Parsed:
    """The file's rows, checked against the study; :class:`StandaloneImportInvalid` otherwise."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StandaloneImportInvalid(["The file is not UTF-8 text (save the CSV as UTF-8)."]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip().lower() for cell in next(reader, [])]
    kind = next((k for k, h in HEADERS.items() if tuple(header) == h), None)
    if kind is None:
        raise StandaloneImportInvalid(["The file is empty." if not header else _header_problem(header)])
    columns = HEADERS[kind]
    cases = {case.code: case for case in study.cases.all()}
    conditions: dict[str, Condition] = {}
    for c in study.conditions.all():
        conditions.setdefault(c.code, c)
    for c in study.conditions.all():
        conditions[c.label] = c  # a label wins over another condition's code
    with_series = set(ImageSeries.objects.filter(case__study=study).values_list("case_id", "condition_id"))
    errors: list[str] = []
    named: dict[int, Condition] = {}
    first_line: dict[tuple[int, int], int] = {}
    marks: list[tuple[Case, Condition, float, float, float, float]] = []
    ratings: list[tuple[Case, Condition, float]] = []
    rows = 0
    for cells in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        rows += 1
        if len(cells) != len(columns):
            errors.append(f"Line {line}: {len(cells)} cells, expected {len(columns)} ({','.join(columns)}).")
            continue
        values = dict(zip(columns, cells, strict=True))
        problems: list[str] = []
        case = cases.get(values["case"])
        condition = conditions.get(values["condition"])
        if case is None:
            problems.append(f"unknown case '{values['case']}'" if values["case"] else "no case")
        if condition is None:
            problems.append(
                f"unknown condition '{values['condition']}' (give its label or code)"
                if values["condition"]
                else "no condition"
            )
        if case is not None and condition is not None and (case.pk, condition.pk) not in with_series:
            problems.append(f"case {case.code} has no series in condition {condition.label}")
        numbers = [_number(values[c], c, problems) for c in columns[2:]]
        if not problems and case is not None and condition is not None and kind == OutputKind.RATINGS:
            key = (case.pk, condition.pk)
            if key in first_line:
                first = first_line[key]
                problems.append(
                    f"case {case.code} under {condition.label} is rated again (first on line {first})"
                )
            first_line.setdefault(key, line)
        if problems or case is None or condition is None:
            errors.append(f"Line {line}: " + "; ".join(problems) + ".")
            continue
        named.setdefault(condition.pk, condition)
        if kind == OutputKind.MARKS:
            x, y, z, rating = numbers
            marks.append((case, condition, x, y, z, rating))
        else:
            ratings.append((case, condition, numbers[0]))
    if not rows and not errors:
        errors.append("The file has no rows (only its header).")
    if kind == OutputKind.RATINGS and not errors:
        rated = {(case.pk, condition.pk) for case, condition, _ in ratings}
        for condition in named.values():
            missing = sorted(
                code
                for code, case in cases.items()
                if (case.pk, condition.pk) in with_series and (case.pk, condition.pk) not in rated
            )
            if missing:
                shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
                errors.append(
                    f"Condition {condition.label}: no rating for {len(missing)} case(s) with a series in it "
                    f"({shown}); every case needs one."
                )
    if errors:
        extra = len(errors) - MAX_ERRORS
        raise StandaloneImportInvalid(errors[:MAX_ERRORS] + ([f"... and {extra} more."] if extra > 0 else []))
    return _Parsed(kind=kind, conditions=list(named.values()), marks=marks, ratings=ratings, rows=rows)


def _counts(algorithm: StandaloneAlgorithm, conditions: list[Condition]) -> dict[str, int]:
    """Outputs (marks or ratings) the algorithm holds per condition, by label."""
    ids = [c.pk for c in conditions]
    counted = Counter(algorithm.marks.filter(condition_id__in=ids).values_list("condition_id", flat=True))
    counted.update(algorithm.ratings.filter(condition_id__in=ids).values_list("condition_id", flat=True))
    return {c.label: counted.get(c.pk, 0) for c in conditions}


def standalone_import(*, algorithm: StandaloneAlgorithm, file: Any, actor: Any) -> ImportOutcome:
    """Import the algorithm's output from a CSV (formats and rules in the module docstring).

    Replaces its outputs for the conditions the file names; the file of its last import again is
    a no-op (``created`` False). Raises :class:`StandaloneImportInvalid` (nothing written),
    :class:`StandaloneLocked` or :class:`StandaloneInvalid` (a file of the other kind).
    """
    _refuse_locked(algorithm.study)
    content, name = _read_upload(file)
    digest = hashlib.sha256(content).hexdigest()
    parsed = _parse(algorithm.study, content)
    with transaction.atomic():
        study = _study_for_update(algorithm.study)
        locked = StandaloneAlgorithm.objects.select_for_update().get(pk=algorithm.pk)
        last = locked.imports.order_by("-imported_at", "-pk").first()
        if last is not None and last.sha256 == digest:
            return ImportOutcome(record=last, created=False)
        if locked.kind and locked.kind != parsed.kind:
            raise StandaloneInvalid(
                f"{locked.code} outputs {OutputKind(locked.kind).label.lower()}; this file has "
                f"{OutputKind(parsed.kind).label.lower()}. Make another algorithm for it."
            )
        before = _counts(locked, parsed.conditions)
        ids = [c.pk for c in parsed.conditions]
        locked.marks.filter(condition_id__in=ids).delete()
        locked.ratings.filter(condition_id__in=ids).delete()
        StandaloneMark.objects.bulk_create(
            StandaloneMark(algorithm=locked, case=case, condition=condition, x_mm=x, y_mm=y, z_mm=z, rating=r)
            for case, condition, x, y, z, r in parsed.marks
        )
        StandaloneRating.objects.bulk_create(
            StandaloneRating(algorithm=locked, case=case, condition=condition, rating=r)
            for case, condition, r in parsed.ratings
        )
        if not locked.kind:
            locked.kind = parsed.kind
            locked.save(update_fields=["kind"])
        record = StandaloneImport.objects.create(
            algorithm=locked,
            kind=parsed.kind,
            file_name=name,
            sha256=digest,
            rows=parsed.rows,
            conditions=[c.label for c in parsed.conditions],
            imported_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_event_create(
            actor=actor,
            action=AuditAction.STANDALONE_IMPORT,
            target=locked,
            study=study,
            data={
                "file": name,
                "sha256": digest,
                "kind": parsed.kind,
                "rows": parsed.rows,
                "import": record.pk,
                "conditions": [c.label for c in parsed.conditions],
                **audit_change(before, _counts(locked, parsed.conditions)),
            },
        )
    algorithm.kind = locked.kind
    return ImportOutcome(record=record, created=True)
