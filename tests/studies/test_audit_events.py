"""The audit event each study set-up service writes (one test per service)."""

import pytest

from readerstudy import demo
from readerstudy.audit.models import AuditAction
from readerstudy.studies import services as setup
from readerstudy.studies.models import Question, Study
from tests import factories as f
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db

SCALE = [{"value": 1, "label": "poor"}, {"value": 2, "label": "good"}]


@pytest.fixture
def draft(coordinator):
    return setup.study_create_from_template(
        template_key="image-quality", name="IQ", slug="iq", washout_days=7, actor=coordinator
    )


@pytest.fixture
def question(draft, coordinator):
    return setup.question_create(
        study=draft, key="extra", text="Noise", kind=Question.Kind.LIKERT, scale=SCALE, actor=coordinator
    )


def _snapshot(**changes):
    values = {
        "key": "extra",
        "text": "Noise",
        "help_text": "",
        "kind": "likert",
        "scale": SCALE,
        "required": True,
        "phase": "reading",
        "lesion_rule": "",
    }
    return {**values, **changes}


def test_study_create_from_template(draft, coordinator):
    template = setup.study_template_get("image-quality")
    event_written(
        AuditAction.STUDY_CREATE,
        actor=coordinator,
        target=draft,
        study=draft,
        data={
            "template": "image-quality",
            "conditions": template.condition_labels,
            "questions": [q.key for q in template.questions],
            "mark_scale": False,
            "washout_days": 7,
        },
    )


def test_question_create(question, draft, coordinator):
    event_written(
        AuditAction.QUESTION_CREATE,
        actor=coordinator,
        target=question,
        study=draft,
        data={"before": None, "after": _snapshot()},
    )


def test_question_update_records_only_what_changed(question, draft, coordinator):
    setup.question_update(question=question, text="Image noise", required=False, actor=coordinator)
    setup.question_update(question=question, text="Image noise", actor=coordinator)  # no change, no event
    event_written(
        AuditAction.QUESTION_UPDATE,
        actor=coordinator,
        target=question,
        study=draft,
        data={
            "before": {"text": "Noise", "required": True},
            "after": {"text": "Image noise", "required": False},
        },
    )


def test_question_delete(question, draft, coordinator):
    pk = question.pk
    setup.question_delete(question=question, actor=coordinator)
    question.pk = pk
    event_written(
        AuditAction.QUESTION_DELETE,
        actor=coordinator,
        target=question,
        study=draft,
        data={"before": _snapshot(), "after": None},
    )


def test_question_move(question, draft, coordinator):
    keys = list(draft.questions.order_by("order", "id").values_list("key", flat=True))
    setup.question_move(question=question, direction="up", actor=coordinator)
    moved = [*keys[:-2], keys[-1], keys[-2]]
    event_written(
        AuditAction.QUESTION_MOVE,
        actor=coordinator,
        target=question,
        study=draft,
        data={"direction": "up", "before": {"order": keys}, "after": {"order": moved}},
    )


def test_reader_invite(draft, coordinator):
    invitation = setup.reader_invite(
        study=draft, username="newreader", email="", code="R1", group="A", actor=coordinator
    )
    event_written(
        AuditAction.READER_INVITE,
        actor=coordinator,
        target=invitation.participation,
        study=draft,
        data={"code": "R1", "group": "A", "user_created": True, "email": ""},
    )


def test_reader_invitation_renew(draft, coordinator):
    participation = setup.reader_invite(
        study=draft, username="newreader", email="", code="R1", actor=coordinator
    ).participation
    setup.reader_invitation_renew(participation=participation, actor=coordinator)
    event_written(
        AuditAction.READER_INVITATION_RENEW, actor=coordinator, target=participation, study=draft, data={}
    )


def test_reader_deactivate_and_reactivate(draft, coordinator):
    participation = f.ReaderParticipationFactory(study=draft)
    setup.reader_deactivate(participation=participation, actor=coordinator)
    setup.reader_deactivate(participation=participation, actor=coordinator)  # idempotent: one event
    event_written(
        AuditAction.READER_DEACTIVATE,
        actor=coordinator,
        target=participation,
        study=draft,
        data={"before": {"active": True}, "after": {"active": False}},
    )
    setup.reader_reactivate(participation=participation, actor=coordinator)
    event_written(
        AuditAction.READER_REACTIVATE,
        actor=coordinator,
        target=participation,
        study=draft,
        data={"before": {"active": False}, "after": {"active": True}},
    )


def test_study_lock(study, coordinator):
    f.ReadingFactory(session__participation=f.ReaderParticipationFactory(study=study), position=1)
    setup.study_lock(study=study, actor=coordinator)
    event_written(
        AuditAction.STUDY_LOCK,
        actor=coordinator,
        target=study,
        study=study,
        data={"unsubmitted_readings": 1, "before": {"status": "active"}, "after": {"status": "locked"}},
    )


def test_demo_study_create_and_archive():
    study = demo.demo_study_create(n_cases=2, slices=16, seed=7)
    event_written(
        AuditAction.DEMO_CREATE,
        actor=None,
        target=study,
        study=study,
        data={"cases": 2, "slices": 16, "seed": 7, "template": "brain-mets-2phase"},
    )
    name = study.name
    demo.demo_study_archive()
    event_written(
        AuditAction.DEMO_ARCHIVE,
        actor=None,
        target=study,
        study=study,
        data={
            "before": {"slug": demo.DEMO_SLUG, "name": name, "status": "active"},
            "after": {
                "slug": f"{demo.DEMO_SLUG}-archived-{study.pk}",
                "name": f"{name} (archived)",
                "status": Study.Status.LOCKED.value,
            },
        },
    )


def test_phase_create(draft, coordinator):
    phase = setup.phase_create(
        study=draft, key="quality", name="Image quality", washout_days=7, takes_marks=False, actor=coordinator
    )
    event_written(
        AuditAction.PHASE_CREATE,
        actor=coordinator,
        target=phase,
        study=draft,
        data={
            "before": None,
            "after": {
                "key": "quality",
                "name": "Image quality",
                "kind": "reading",
                "takes_marks": False,
                "washout_days": 7,
                "conditions": [],
                "layout": "single",
                "reference": "",
            },
        },
    )


def test_phase_update(draft, coordinator):
    phase = draft.first_phase()
    label = draft.conditions.order_by("order").first().label
    setup.phase_update(phase=phase, name="Detection", conditions=[label], actor=coordinator)
    event_written(
        AuditAction.PHASE_UPDATE,
        actor=coordinator,
        target=phase,
        study=draft,
        data={
            "before": {"name": "Reading", "conditions": []},
            "after": {"name": "Detection", "conditions": [label]},
        },
    )


def test_phase_update_to_a_comparative_layout(draft, coordinator):
    phase = draft.first_phase()
    labels = list(draft.conditions.order_by("order").values_list("label", flat=True))
    assert len(labels) >= 2
    setup.phase_update(
        phase=phase,
        layout="comparative",
        takes_marks=False,
        conditions=labels[:2],
        reference=labels[1],
        actor=coordinator,
    )
    event_written(
        AuditAction.PHASE_UPDATE,
        actor=coordinator,
        target=phase,
        study=draft,
        data={
            "before": {"takes_marks": True, "conditions": [], "layout": "single", "reference": ""},
            "after": {
                "takes_marks": False,
                "conditions": sorted(labels[:2]),
                "layout": "comparative",
                "reference": labels[1],
            },
        },
    )
