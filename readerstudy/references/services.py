"""Writes of the reference standard: sets, reviewers' drafts, adjudication, locking, CSV import.

The workflow of a consensus set (``ReferenceSet`` of source ``consensus``):

1. a coordinator creates the set (``reference_set_create``) with two or more reviewers and,
   optionally, an adjudicator; its version is the next one for the study and source;
2. each reviewer drafts every case on their own (``reference_draft_get_or_create``, then
   lesions and findings) and submits the draft, which then no longer changes;
3. the adjudicator settles every discrepancy between the submitted drafts of a case
   (``reference_adjudicate``, rules in ``readerstudy.references.compare``) into the case's
   final version; agreed items are copied in automatically;
4. a coordinator locks the set (``reference_set_lock``), which records its provenance.

An external reference (e.g. arthroscopy) is imported from a CSV as a new, locked set
(``reference_import_csv``). A locked set never changes: every write here refuses it
(:class:`ReferenceLocked`); a change is a new version. Readers of the study are never
reviewers or adjudicators: readers never see references. Every write is audited.
"""

import csv
import hashlib
import io
import math
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_change, audit_event_create, audit_text
from readerstudy.errors import ServiceError
from readerstudy.imaging.models import ImageSeries
from readerstudy.reading.services import viewer_patient_position
from readerstudy.references import compare as reference_compare
from readerstudy.references.models import (
    ReferenceFinding,
    ReferenceLesion,
    ReferenceSet,
    ReferenceSource,
    ReferenceStandard,
)
from readerstudy.references.selectors import (
    draft_reviewer_name,
    reference_case_drafts,
    reference_compare_draft,
)
from readerstudy.studies.models import Case, Question, Study
from readerstudy.studies.policy import reads_study

#: Largest diameter a lesion may be given (mm); anything larger is a typing error.
MAX_LESION_SIZE_MM = 500.0
#: What the CSV's ``present`` column accepts (case-insensitive).
PRESENT_WORDS = {
    "yes": True,
    "1": True,
    "true": True,
    "present": True,
    "no": False,
    "0": False,
    "false": False,
    "absent": False,
}


_KEY = re.compile(r"^[-a-zA-Z0-9_]{1,60}$")
_LABEL_NUMBER = re.compile(r"^L(\d+)$")


class ReferenceInvalid(ServiceError, ValueError):
    """A reference write that is refused; the message says why."""


class ReferenceLocked(ReferenceInvalid):
    """The reference set is locked: it never changes again (a change is a new version)."""

    status = 409


class ReviewerIsReader(ReferenceInvalid):
    """A proposed reviewer or adjudicator reads in the study (readers never see references)."""


class DraftNotEditable(ReferenceInvalid):
    """The draft was submitted (or is not a draft) and can no longer change."""

    status = 409


class DraftIncomplete(ReferenceInvalid):
    """The draft cannot be submitted yet; ``problems`` lists what is missing."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("The draft cannot be submitted yet: " + " ".join(problems))


class AdjudicationInvalid(ReferenceInvalid):
    """The case cannot be adjudicated as asked (drafts missing, discrepancies undecided, ...)."""


class SetNotLockable(ReferenceInvalid):
    """The set cannot be locked yet; ``problems`` lists why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("The reference set cannot be locked yet: " + " ".join(problems))


class ReferenceImportInvalid(ReferenceInvalid):
    """The CSV was not imported; ``errors`` lists every problem (one per bad line)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        problems = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        super().__init__(f"The file was not imported ({problems}): " + " ".join(errors))


# ----------------------------------------------------------------------------- helpers


def _who(user) -> dict[str, Any] | None:
    """How provenance names a user."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return {"id": user.pk, "username": user.get_username()}


def _set_for_update(reference_set: ReferenceSet) -> ReferenceSet:
    """The set re-read and row-locked inside the caller's transaction; refuses a locked set."""
    fresh = (
        ReferenceSet.objects.select_for_update(of=("self",)).select_related("study").get(pk=reference_set.pk)
    )
    if fresh.locked:
        raise ReferenceLocked(
            f"The reference {fresh.name} is locked and can no longer change; a change is a new version."
        )
    return fresh


def _draft_for_update(draft: ReferenceStandard) -> ReferenceStandard:
    """The draft re-read and row-locked (after its set); refuses a locked set or a submitted draft."""
    _set_for_update(draft.reference_set)
    fresh = (
        # Only the draft's row is locked: PostgreSQL cannot lock the nullable side of the
        # outer joins that the nullable series and author need.
        ReferenceStandard.objects.select_for_update(of=("self",))
        .select_related("reference_set__study", "case", "series", "author")
        .get(pk=draft.pk)
    )
    if fresh.kind != ReferenceStandard.Kind.DRAFT:
        raise DraftNotEditable("Only a reviewer's draft can be edited; the final comes from adjudication.")
    if fresh.submitted_at is not None:
        raise DraftNotEditable("This draft was submitted and can no longer change.")
    return fresh


def _readers_among(study: Study, users: Iterable) -> list:
    return [user for user in users if user is not None and reads_study(user, study)]


def _next_version(study: Study, source: str) -> int:
    latest = ReferenceSet.objects.filter(study=study, source=source).aggregate(v=Max("version"))["v"]
    return (latest or 0) + 1


# ----------------------------------------------------------------------------- sets


def reference_set_create(
    *,
    study: Study,
    source: str,
    actor,
    reviewers: Iterable = (),
    adjudicator=None,
    notes: str = "",
) -> ReferenceSet:
    """A new, open reference set: the next version of ``source`` for the study.

    A consensus needs two or more reviewers. Reviewers and the adjudicator must not read
    in the study (:class:`ReviewerIsReader`).
    """
    if source not in ReferenceSource.values:
        raise ReferenceInvalid(f"Unknown reference source '{source}'.")
    reviewers = list({user.pk: user for user in reviewers}.values())
    if source == ReferenceSource.CONSENSUS and len(reviewers) < 2:
        raise ReferenceInvalid("A consensus reference needs at least two reviewers who draft independently.")
    readers = _readers_among(study, [*reviewers, adjudicator])
    if readers:
        names = ", ".join(sorted(user.get_username() for user in readers))
        raise ReviewerIsReader(
            f"{names} read{'s' if len(readers) == 1 else ''} in this study and so may not review or "
            "adjudicate its reference: readers never see references."
        )
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()  # one new version at a time
        reference_set = ReferenceSet.objects.create(
            study=study,
            source=source,
            version=_next_version(study, source),
            notes=notes.strip(),
            adjudicator=adjudicator,
            created_by=actor if _who(actor) else None,
        )
        reference_set.reviewers.set(reviewers)
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_SET_CREATE,
            target=reference_set,
            study=study,
            data={
                "name": reference_set.name,
                "reviewers": [user.get_username() for user in reviewers],
                "adjudicator": adjudicator.get_username() if adjudicator else None,
            },
        )
    return reference_set


def reference_series_choose(case: Case) -> ImageSeries:
    """The series reviewers draft a case on: the condition labelled HR if any, else the highest-order one."""
    series = list(case.series.select_related("condition"))
    if not series:
        raise ReferenceInvalid(f"Case {case.code} has no images to draft on.")
    for candidate in series:
        if candidate.condition.label.strip().upper() == "HR":
            return candidate
    return max(series, key=lambda s: (s.condition.order, s.condition.label))


# ----------------------------------------------------------------------------- drafts


def reference_draft_get_or_create(
    *, reference_set: ReferenceSet, case: Case, reviewer
) -> tuple[ReferenceStandard, bool]:
    """The reviewer's draft of ``case`` in the set, created on first use; returns (draft, created)."""
    with transaction.atomic():
        reference_set = _set_for_update(reference_set)
        if case.study_id != reference_set.study_id:
            raise ReferenceInvalid("This case belongs to another study.")
        if not reference_set.reviewers.filter(pk=reviewer.pk).exists():
            raise ReferenceInvalid(f"{reviewer.get_username()} is not a reviewer of {reference_set.name}.")
        if reads_study(reviewer, reference_set.study):
            raise ReviewerIsReader("Readers of the study never see its references.")
        draft = ReferenceStandard.objects.filter(
            reference_set=reference_set, case=case, kind=ReferenceStandard.Kind.DRAFT, author=reviewer
        ).first()
        if draft is not None:
            return draft, False
        series = reference_series_choose(case)
        draft = ReferenceStandard.objects.create(
            reference_set=reference_set,
            case=case,
            kind=ReferenceStandard.Kind.DRAFT,
            author=reviewer,
            series=series,
            is_abnormal=None,
        )
        audit_event_create(
            actor=reviewer,
            action=AuditAction.REFERENCE_DRAFT_CREATE,
            target=draft,
            study=reference_set.study,
            data={"set": reference_set.name, "case": case.code, "series": str(series.public_id)},
        )
    return draft, True


def _next_label(draft: ReferenceStandard) -> str:
    numbers = [
        int(match.group(1))
        for label in draft.lesions.values_list("label", flat=True)
        if (match := _LABEL_NUMBER.match(label))
    ]
    return f"L{max(numbers, default=0) + 1}"


#: The fields of a drafted lesion that its audit events record.
_LESION_FIELDS = ("slice_index", "x", "y", "size_mm", "lesion_type", "x_mm", "y_mm", "z_mm")


def reference_lesion_save(
    *,
    draft: ReferenceStandard,
    client_id: uuid.UUID,
    slice_index: int,
    x: float,
    y: float,
    size_mm: float,
    lesion_type: str,
    actor,
) -> tuple[ReferenceLesion, bool]:
    """Create or update the draft's lesion with this client id (idempotent); returns (lesion, created).

    The point (column ``x``, row ``y`` on slice ``slice_index`` of the draft's series) is
    stored with its patient coordinates (LPS, mm), computed like a reader's mark.
    """
    with transaction.atomic():
        draft = _draft_for_update(draft)
        series = draft.series
        if series is None:
            raise ReferenceInvalid("This draft has no images to mark lesions on.")
        if not 0 <= slice_index < series.num_slices:
            raise ReferenceInvalid(
                f"Slice {slice_index} is outside the series (0 to {series.num_slices - 1})."
            )
        if not (0 <= x < series.columns and 0 <= y < series.rows):
            raise ReferenceInvalid("The lesion lies outside the image.")
        if not (math.isfinite(size_mm) and 0 < size_mm <= MAX_LESION_SIZE_MM):
            raise ReferenceInvalid(f"The diameter must be more than 0 and at most {MAX_LESION_SIZE_MM:g} mm.")
        lesion_type = " ".join(lesion_type.split())
        if len(lesion_type) > 100:
            raise ReferenceInvalid("The lesion type is at most 100 characters long.")
        x_mm, y_mm, z_mm = viewer_patient_position(series, slice_index, x, y)
        values = {
            "slice_index": slice_index,
            "x": x,
            "y": y,
            "size_mm": size_mm,
            "lesion_type": lesion_type,
            "x_mm": x_mm,
            "y_mm": y_mm,
            "z_mm": z_mm,
        }
        lesion = ReferenceLesion.objects.filter(reference=draft, client_id=client_id).first()
        if lesion is not None and all(getattr(lesion, k) == v for k, v in values.items()):
            return lesion, False
        created = lesion is None
        before = None if lesion is None else {key: getattr(lesion, key) for key in values}
        if lesion is None:
            lesion = ReferenceLesion.objects.create(
                reference=draft, client_id=client_id, label=_next_label(draft), **values
            )
        else:
            for key, value in values.items():
                setattr(lesion, key, value)
            lesion.save()
        draft.save(update_fields=["updated_at"])
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_LESION_CREATE if created else AuditAction.REFERENCE_LESION_UPDATE,
            target=draft,
            study=draft.reference_set.study,
            data={"client_id": str(client_id), "label": lesion.label, **audit_change(before, values)},
        )
    return lesion, created


def reference_lesion_delete(*, draft: ReferenceStandard, client_id: uuid.UUID, actor) -> bool:
    """Delete the draft's lesion with this client id; False if there was none (deleting twice is harmless)."""
    with transaction.atomic():
        draft = _draft_for_update(draft)
        lesion = ReferenceLesion.objects.filter(reference=draft, client_id=client_id).first()
        if lesion is None:
            return False
        label = lesion.label
        before = {key: getattr(lesion, key) for key in _LESION_FIELDS}
        lesion.delete()
        draft.save(update_fields=["updated_at"])
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_LESION_DELETE,
            target=draft,
            study=draft.reference_set.study,
            data={"client_id": str(client_id), "label": label, **audit_change(before, None)},
        )
    return True


def _finding_questions(study: Study) -> list[Question]:
    return list(study.questions.filter(kind=Question.Kind.FINDING).order_by("order", "id"))


def _draft_findings_record(
    is_abnormal: bool | None, findings: Mapping[str, tuple[bool, int | None]], notes: str
) -> dict[str, Any]:
    """A draft's case-level truth as its audit events record it."""
    return {
        "is_abnormal": is_abnormal,
        "findings": {key: {"present": p, "grade": g} for key, (p, g) in sorted(findings.items())},
        "notes": audit_text(notes),
    }


def reference_draft_findings_save(
    *,
    draft: ReferenceStandard,
    is_abnormal: bool | None,
    findings: Mapping[str, tuple[bool, int | None]],
    actor,
    notes: str | None = None,
) -> ReferenceStandard:
    """Store the case-level truth and the findings of a draft (the whole set: keys left out are removed).

    ``findings`` maps a finding question's key to (present, grade); an absent finding has no grade.
    """
    with transaction.atomic():
        draft = _draft_for_update(draft)
        known = {q.key for q in _finding_questions(draft.reference_set.study)}
        problems = []
        clean: dict[str, tuple[bool, int | None]] = {}
        for key, (present, grade) in findings.items():
            if key not in known:
                problems.append(f"'{key}' is not a finding question of this study.")
            elif not isinstance(present, bool) or (grade is not None and not isinstance(grade, int)):
                problems.append(f"{key}: present must be yes or no and the grade a whole number.")
            elif not present and grade is not None:
                problems.append(f"{key}: an absent finding takes no grade.")
            else:
                clean[key] = (present, grade)
        if problems:
            raise ReferenceInvalid(" ".join(problems))
        stored = {f.key: (f.present, f.grade) for f in draft.findings.all()}
        new_notes = draft.notes if notes is None else notes.strip()
        if stored == clean and draft.is_abnormal == is_abnormal and draft.notes == new_notes:
            return draft
        before = _draft_findings_record(draft.is_abnormal, stored, draft.notes)
        draft.findings.exclude(key__in=list(clean)).delete()
        for key, (present, grade) in clean.items():
            ReferenceFinding.objects.update_or_create(
                reference=draft, key=key, defaults={"present": present, "grade": grade}
            )
        draft.is_abnormal = is_abnormal
        draft.notes = new_notes
        draft.save(update_fields=["is_abnormal", "notes", "updated_at"])
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_DRAFT_FINDINGS,
            target=draft,
            study=draft.reference_set.study,
            data=audit_change(before, _draft_findings_record(is_abnormal, clean, new_notes)),
        )
    return draft


def reference_draft_missing(draft: ReferenceStandard) -> list[str]:
    """What the draft still lacks before it can be submitted (empty when complete)."""
    problems = []
    if draft.is_abnormal is None:
        problems.append("Say whether the case is abnormal.")
    recorded = set(draft.findings.values_list("key", flat=True))
    for question in _finding_questions(draft.reference_set.study):
        if question.key not in recorded:
            problems.append(f"Record '{question.text}' as present or absent.")
    if draft.is_abnormal is False and draft.lesions.exists():
        problems.append("A normal case has no lesions: delete them or mark the case abnormal.")
    return problems


def reference_draft_submit(*, draft: ReferenceStandard, actor) -> ReferenceStandard:
    """Submit the draft (then it no longer changes). Submitting twice is harmless."""
    with transaction.atomic():
        _set_for_update(draft.reference_set)
        fresh = ReferenceStandard.objects.select_for_update().get(pk=draft.pk)
        if fresh.kind != ReferenceStandard.Kind.DRAFT:
            raise DraftNotEditable("Only a reviewer's draft can be submitted.")
        if fresh.submitted_at is not None:
            return fresh
        problems = reference_draft_missing(fresh)
        if problems:
            raise DraftIncomplete(problems)
        fresh.submitted_at = timezone.now()
        fresh.save(update_fields=["submitted_at", "updated_at"])
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_DRAFT_SUBMIT,
            target=fresh,
            study=fresh.reference_set.study,
            data={
                "case": fresh.case.code,
                "lesions": fresh.lesions.count(),
                "findings": fresh.findings.count(),
                **audit_change({"submitted_at": None}, {"submitted_at": fresh.submitted_at.isoformat()}),
            },
        )
    return fresh


# ----------------------------------------------------------------------------- adjudication


def reference_adjudicate(
    *, reference_set: ReferenceSet, case: Case, decisions: Mapping[str, str], actor
) -> ReferenceStandard:
    """Write the case's final version from its submitted drafts: agreed items plus ``decisions``.

    ``decisions`` maps every discrepancy key (``reference_discrepancies``) to the
    chosen option's key. Every draft of the case must be submitted. Adjudicating again
    (while the set is open) replaces the final.
    """
    with transaction.atomic():
        reference_set = _set_for_update(reference_set)
        if case.study_id != reference_set.study_id:
            raise ReferenceInvalid("This case belongs to another study.")
        drafts = list(reference_case_drafts(reference_set, case))
        pending = [draft_reviewer_name(d) for d in drafts if d.submitted_at is None]
        if pending:
            raise AdjudicationInvalid(
                f"Case {case.code} cannot be adjudicated until every draft is submitted "
                f"(still drafting: {', '.join(pending)})."
            )
        if not drafts:
            raise AdjudicationInvalid(f"Case {case.code} has no submitted drafts to adjudicate.")
        comparison = reference_compare.compare_drafts([reference_compare_draft(d) for d in drafts])
        try:
            resolution = reference_compare.resolve(comparison, decisions)
        except reference_compare.Undecided as exc:
            raise AdjudicationInvalid(str(exc)) from exc
        if resolution.is_abnormal is False and resolution.lesions:
            raise AdjudicationInvalid("A normal case has no lesions: keep no lesion or decide 'abnormal'.")
        series_ids = {d.series_id for d in drafts}
        final, _ = ReferenceStandard.objects.get_or_create(
            reference_set=reference_set, case=case, kind=ReferenceStandard.Kind.FINAL
        )
        final.is_abnormal = resolution.is_abnormal
        final.series_id = series_ids.pop() if len(series_ids) == 1 else None
        final.save()
        final.lesions.all().delete()
        final.findings.all().delete()
        ReferenceLesion.objects.bulk_create(
            ReferenceLesion(
                reference=final,
                label=f"L{n}",
                lesion_type=lesion.lesion_type,
                size_mm=round(lesion.size_mm, 2),
                x_mm=lesion.x_mm,
                y_mm=lesion.y_mm,
                z_mm=lesion.z_mm,
                slice_index=lesion.slice_index,
                x=lesion.x,
                y=lesion.y,
            )
            for n, lesion in enumerate(resolution.lesions, start=1)
        )
        ReferenceFinding.objects.bulk_create(
            ReferenceFinding(reference=final, key=key, present=present, grade=grade)
            for key, (present, grade) in sorted(resolution.findings.items())
        )
        record = {
            "by": _who(actor),
            "at": timezone.now().isoformat(),
            "drafts": sorted(d.pk for d in drafts),
            "decisions": {item.key: decisions[item.key] for item in comparison.discrepancies},
            "agreed": [item.key for item in comparison.agreed],
        }
        reference_set.provenance = {
            **reference_set.provenance,
            "adjudications": {**reference_set.provenance.get("adjudications", {}), case.code: record},
        }
        reference_set.save(update_fields=["provenance"])
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_ADJUDICATE,
            target=final,
            study=reference_set.study,
            data={"set": reference_set.name, "case": case.code, **record},
        )
    return final


# ----------------------------------------------------------------------------- locking


def reference_set_lock(*, reference_set: ReferenceSet, actor) -> ReferenceSet:
    """Lock the set: every draft submitted, every drafted case adjudicated from its current drafts.

    Writes the provenance (who locked it and when; per case the drafts, their reviewers and
    submission times, and who adjudicated which decisions). Afterwards nothing in the set changes.
    """
    with transaction.atomic():
        reference_set = _set_for_update(reference_set)
        drafts = list(
            reference_set.standards.filter(kind=ReferenceStandard.Kind.DRAFT)
            .select_related("case", "author")
            .order_by("case__code", "author__username")
        )
        finals = {
            final.case_id: final
            for final in reference_set.standards.filter(kind=ReferenceStandard.Kind.FINAL).select_related(
                "case"
            )
        }
        adjudications = reference_set.provenance.get("adjudications", {})
        by_case: dict[int, list[ReferenceStandard]] = {}
        for draft in drafts:
            by_case.setdefault(draft.case_id, []).append(draft)
        problems = [
            f"Case {d.case.code}: {draft_reviewer_name(d)} has not submitted the draft."
            for d in drafts
            if d.submitted_at is None
        ]
        for case_drafts in by_case.values():
            case = case_drafts[0].case
            record = adjudications.get(case.code)
            if case.pk not in finals or record is None:
                problems.append(f"Case {case.code} has no final version yet: adjudicate it.")
            elif sorted(d.pk for d in case_drafts) != record["drafts"]:
                problems.append(
                    f"Case {case.code}: its drafts changed since it was adjudicated; adjudicate again."
                )
        if not finals:
            problems.append("No case has a final version.")
        if problems:
            raise SetNotLockable(problems)
        now = timezone.now()
        cases: dict[str, Any] = {}
        for final in sorted(finals.values(), key=lambda f: f.case.code):
            case_drafts = by_case.get(final.case_id, [])
            cases[final.case.code] = {
                "final": final.pk,
                "drafts": [
                    {
                        "id": d.pk,
                        "reviewer": _who(d.author),
                        "submitted_at": d.submitted_at.isoformat() if d.submitted_at else None,
                    }
                    for d in case_drafts
                ],
                "adjudication": adjudications.get(final.case.code),
            }
        provenance = {key: value for key, value in reference_set.provenance.items() if key != "adjudications"}
        provenance.update(
            {
                "locked_by": _who(actor),
                "locked_at": now.isoformat(),
                "reviewers": [_who(user) for user in reference_set.reviewers.order_by("username")],
                "adjudicator": _who(reference_set.adjudicator),
                "cases": cases,
            }
        )
        reference_set.provenance = provenance
        was = reference_set.status
        reference_set.status = ReferenceSet.Status.LOCKED
        reference_set.locked_by = actor if _who(actor) else None
        reference_set.locked_at = now
        reference_set.save(update_fields=["provenance", "status", "locked_by", "locked_at"])
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_SET_LOCK,
            target=reference_set,
            study=reference_set.study,
            data={
                "name": reference_set.name,
                "cases": sorted(cases),
                **audit_change({"status": was}, {"status": reference_set.status}),
            },
        )
    return reference_set


# ----------------------------------------------------------------------------- CSV import


def _read_upload(file) -> tuple[bytes, str]:
    """The file's bytes and its name (without folders)."""
    content = file.read()
    if isinstance(content, str):
        content = content.encode("utf-8")
    return content, os.path.basename(getattr(file, "name", "") or "")


def _parse_reference_csv(content: bytes, cases: dict[str, Case]) -> tuple[list[tuple], list[str]]:
    """Rows (case, key, present, grade) and the errors (every bad line), from the CSV bytes."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["The file is not UTF-8 text."]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in ("case", "finding", "present") if column not in header]
    if missing:
        return [], [
            f"The header lacks the column(s) {', '.join(missing)} (expected: case, finding, present, grade)."
        ]
    reader.fieldnames = header
    rows, errors = [], []
    first_line: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"Line {line}: more cells than columns.")
            continue
        cells = {key: (value or "").strip() for key, value in row.items()}
        if not any(cells.values()):
            continue
        problems = []
        code, key = cells.get("case", ""), cells.get("finding", "")
        raw_present, raw_grade = cells.get("present", "").lower(), cells.get("grade", "")
        if code not in cases:
            problems.append(f"unknown case '{code}'" if code else "no case")
        if not _KEY.match(key):
            problems.append(
                f"finding '{key}' is not a key (letters, digits, - and _)" if key else "no finding"
            )
        present = PRESENT_WORDS.get(raw_present)
        if present is None:
            problems.append(f"present must be yes/no, 1/0, true/false or present/absent, not '{raw_present}'")
        grade = None
        if raw_grade:
            try:
                grade = int(raw_grade)
            except ValueError:
                problems.append(f"grade must be a whole number, not '{raw_grade}'")
            else:
                if present is False:
                    problems.append("an absent finding takes no grade")
        if not problems and (code, key) in first_line:
            problems.append(
                f"case {code} finding {key} appears again (first on line {first_line[(code, key)]})"
            )
        if problems:
            errors.append(f"Line {line}: " + "; ".join(problems) + ".")
            continue
        first_line[(code, key)] = line
        rows.append((cases[code], key, present, grade))
    if not rows and not errors:
        errors.append("The file has no rows.")
    return rows, errors


def reference_import_csv(*, study: Study, source: str, file, actor, notes: str = "") -> ReferenceSet:
    """Import an external reference (e.g. arthroscopy findings) as a new, locked set.

    The CSV has the columns ``case, finding, present, grade`` (grade optional): one row per
    case x finding. ``present`` takes yes/no, 1/0, true/false or present/absent. Any bad
    line (unknown case, malformed value, repeated case x finding) refuses the whole file
    with every problem listed (:class:`ReferenceImportInvalid`); nothing is written then.
    The provenance holds the file's name, SHA-256 and row count.
    """
    if source not in ReferenceSource.values:
        raise ReferenceInvalid(f"Unknown reference source '{source}'.")
    content, name = _read_upload(file)
    digest = hashlib.sha256(content).hexdigest()
    cases = {case.code: case for case in study.cases.all()}
    rows, errors = _parse_reference_csv(content, cases)
    earlier = next(
        (
            s
            for s in ReferenceSet.objects.filter(study=study, source=source)
            if s.provenance.get("import", {}).get("sha256") == digest
        ),
        None,
    )
    if earlier is not None:
        errors.append(f"This file was already imported as {earlier.name}.")
    if errors:
        raise ReferenceImportInvalid(errors)
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()
        now = timezone.now()
        who = actor if _who(actor) else None
        reference_set = ReferenceSet.objects.create(
            study=study,
            source=source,
            version=_next_version(study, source),
            status=ReferenceSet.Status.LOCKED,
            notes=notes.strip(),
            created_by=who,
            locked_by=who,
            locked_at=now,
            provenance={
                "import": {"file": name, "sha256": digest, "rows": len(rows), "imported_at": now.isoformat()},
                "locked_by": _who(actor),
                "locked_at": now.isoformat(),
            },
        )
        finals: dict[int, ReferenceStandard] = {}
        for case, _key, _present, _grade in rows:
            if case.pk not in finals:
                finals[case.pk] = ReferenceStandard.objects.create(
                    reference_set=reference_set,
                    case=case,
                    kind=ReferenceStandard.Kind.FINAL,
                    is_abnormal=None,
                )
        ReferenceFinding.objects.bulk_create(
            ReferenceFinding(reference=finals[case.pk], key=key, present=present, grade=grade)
            for case, key, present, grade in rows
        )
        audit_event_create(
            actor=actor,
            action=AuditAction.REFERENCE_SET_IMPORT,
            target=reference_set,
            study=study,
            data={
                "name": reference_set.name,
                "file": name,
                "sha256": digest,
                "rows": len(rows),
                "cases": len(finals),
            },
        )
    return reference_set
