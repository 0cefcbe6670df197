"""The audit event each standalone service writes (one test per service)."""

import pytest

from readerstudy.audit.models import AuditAction
from readerstudy.standalone.services import standalone_algorithm_delete, standalone_import
from tests.audit_events import event_written

from .conftest import MARKS_HR, upload

pytestmark = pytest.mark.django_db

FACTS = {"code": "CAD1", "name": "Detector v1", "description": "", "kind": ""}


def test_standalone_create(study, algorithm, coordinator):
    event_written(
        AuditAction.STANDALONE_CREATE,
        actor=coordinator,
        target=algorithm,
        study=study,
        data={"before": None, "after": FACTS},
    )


def test_standalone_import(study, algorithm, coordinator):
    outcome = standalone_import(algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator)
    event_written(
        AuditAction.STANDALONE_IMPORT,
        actor=coordinator,
        target=algorithm,
        study=study,
        data={
            "file": "cad.csv",
            "sha256": outcome.record.sha256,
            "kind": "marks",
            "rows": 3,
            "import": outcome.record.pk,
            "conditions": ["HR"],
            "before": {"HR": 0},
            "after": {"HR": 3},
        },
    )
    standalone_import(
        algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator
    )  # the same file: no event
    assert study.audit_events.filter(action=AuditAction.STANDALONE_IMPORT).count() == 1


def test_standalone_delete(study, algorithm, coordinator):
    standalone_import(algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator)
    pk = algorithm.pk
    standalone_algorithm_delete(algorithm=algorithm, actor=coordinator)
    event = study.audit_events.get(action=AuditAction.STANDALONE_DELETE)
    assert (event.actor, event.target_id) == (coordinator, str(pk))
    assert event.data == {
        "before": {**FACTS, "kind": "marks", "marks": 3, "ratings": 0, "imports": 1},
        "after": None,
    }
