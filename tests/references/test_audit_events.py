"""The audit event each reference-standard service writes (one test per service)."""

import hashlib
import io
import uuid
from unittest.mock import ANY

import pytest

from readerstudy.audit.models import AuditAction
from readerstudy.references import services as svc
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db

LESION = uuid.UUID(int=1)


def _draft(consensus, case, reviewer):
    return svc.reference_draft_get_or_create(reference_set=consensus, case=case, reviewer=reviewer)[0]


def _lesion(draft, *, size_mm=8.0):
    svc.reference_lesion_save(
        draft=draft,
        client_id=LESION,
        slice_index=3,
        x=20.0,
        y=30.0,
        size_mm=size_mm,
        lesion_type="metastasis",
        actor=draft.author,
    )


def _submitted(draft):
    svc.reference_draft_findings_save(
        draft=draft, is_abnormal=False, findings={"tear": (False, None)}, actor=draft.author
    )
    return svc.reference_draft_submit(draft=draft, actor=draft.author)


def test_reference_set_create(consensus, study, coordinator):
    event_written(
        AuditAction.REFERENCE_SET_CREATE,
        actor=coordinator,
        target=consensus,
        study=study,
        data={"name": "consensus v1", "reviewers": ["rev1", "rev2"], "adjudicator": "adj"},
    )


def test_reference_draft_get_or_create(consensus, cases, people, study):
    draft = _draft(consensus, cases[0], people.rev1)
    _draft(consensus, cases[0], people.rev1)  # the same draft again: no new event
    event_written(
        AuditAction.REFERENCE_DRAFT_CREATE,
        actor=people.rev1,
        target=draft,
        study=study,
        data={"set": "consensus v1", "case": "C1", "series": str(draft.series.public_id)},
    )


def test_reference_lesion_save_creates_then_updates(consensus, cases, people, study):
    draft = _draft(consensus, cases[0], people.rev1)
    _lesion(draft)
    where = {"x_mm": ANY, "y_mm": ANY, "z_mm": ANY}
    fields = {"slice_index": 3, "x": 20.0, "y": 30.0, "size_mm": 8.0, "lesion_type": "metastasis"}
    event_written(
        AuditAction.REFERENCE_LESION_CREATE,
        actor=people.rev1,
        target=draft,
        study=study,
        data={"client_id": str(LESION), "label": "L1", "before": None, "after": {**fields, **where}},
    )
    _lesion(draft, size_mm=9.5)
    event_written(
        AuditAction.REFERENCE_LESION_UPDATE,
        actor=people.rev1,
        target=draft,
        study=study,
        data={"client_id": str(LESION), "label": "L1", "before": {"size_mm": 8.0}, "after": {"size_mm": 9.5}},
    )


def test_reference_lesion_delete(consensus, cases, people, study):
    draft = _draft(consensus, cases[0], people.rev1)
    _lesion(draft)
    svc.reference_lesion_delete(draft=draft, client_id=LESION, actor=people.rev1)
    event = event_written(
        AuditAction.REFERENCE_LESION_DELETE,
        actor=people.rev1,
        target=draft,
        study=study,
        data={"client_id": str(LESION), "label": "L1", "before": ANY, "after": None},
    )
    assert event.data["before"]["size_mm"] == 8.0 and event.data["before"]["lesion_type"] == "metastasis"


def test_reference_draft_findings_save(consensus, cases, people, study):
    draft = _draft(consensus, cases[0], people.rev1)
    svc.reference_draft_findings_save(
        draft=draft, is_abnormal=True, findings={"tear": (True, 2)}, actor=people.rev1
    )
    svc.reference_draft_findings_save(
        draft=draft,
        is_abnormal=True,
        findings={"tear": (True, 3)},
        notes="Grade 3 on sagittal",
        actor=people.rev1,
    )
    events = study.audit_events.filter(action=AuditAction.REFERENCE_DRAFT_FINDINGS).order_by("id")
    assert [e.data for e in events] == [
        {
            "before": {"is_abnormal": None, "findings": {}},
            "after": {"is_abnormal": True, "findings": {"tear": {"present": True, "grade": 2}}},
        },
        {
            "before": {"findings": {"tear": {"present": True, "grade": 2}}, "notes": ""},
            "after": {"findings": {"tear": {"present": True, "grade": 3}}, "notes": "Grade 3 on sagittal"},
        },
    ]
    assert {(e.actor, e.target_id) for e in events} == {(people.rev1, str(draft.pk))}


def test_reference_draft_submit(consensus, cases, people, study):
    draft = _submitted(_draft(consensus, cases[0], people.rev1))
    svc.reference_draft_submit(draft=draft, actor=people.rev1)  # submitting twice is harmless
    event_written(
        AuditAction.REFERENCE_DRAFT_SUBMIT,
        actor=people.rev1,
        target=draft,
        study=study,
        data={
            "case": "C1",
            "lesions": 0,
            "findings": 1,
            "before": {"submitted_at": None},
            "after": {"submitted_at": draft.submitted_at.isoformat()},
        },
    )


def test_reference_adjudicate_and_reference_set_lock(consensus, cases, people, coordinator, study):
    drafts = [_submitted(_draft(consensus, cases[0], reviewer)) for reviewer in (people.rev1, people.rev2)]
    final = svc.reference_adjudicate(reference_set=consensus, case=cases[0], decisions={}, actor=people.adj)
    event_written(
        AuditAction.REFERENCE_ADJUDICATE,
        actor=people.adj,
        target=final,
        study=study,
        data={
            "set": "consensus v1",
            "case": "C1",
            "by": {"id": people.adj.pk, "username": "adj"},
            "at": ANY,
            "drafts": sorted(d.pk for d in drafts),
            "decisions": {},
            "agreed": ANY,
        },
    )
    svc.reference_set_lock(reference_set=consensus, actor=coordinator)
    event_written(
        AuditAction.REFERENCE_SET_LOCK,
        actor=coordinator,
        target=consensus,
        study=study,
        data={
            "name": "consensus v1",
            "cases": ["C1"],
            "before": {"status": "open"},
            "after": {"status": "locked"},
        },
    )


def test_reference_import_csv(study, cases, coordinator):
    content = b"Case,Finding,Present,Grade\nC1,tear,yes,2\nC2,tear,no,\n"
    upload = io.BytesIO(content)
    upload.name = "arthroscopy.csv"
    reference_set = svc.reference_import_csv(
        study=study, source="arthroscopy", file=upload, actor=coordinator
    )
    event_written(
        AuditAction.REFERENCE_SET_IMPORT,
        actor=coordinator,
        target=reference_set,
        study=study,
        data={
            "name": "arthroscopy v1",
            "file": "arthroscopy.csv",
            "sha256": hashlib.sha256(content).hexdigest(),
            "rows": 2,
            "cases": 2,
        },
    )
