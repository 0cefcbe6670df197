"""The audit event each results service writes (one test per service)."""

import pytest

from readerstudy.audit.models import AuditAction
from readerstudy.results.services import (
    analysis_blockers,
    analysis_default_reference_sets,
    analysis_run_start,
    analysis_settings_save,
)
from readerstudy.studies.models import Study
from stats.study_record import AnalysisSettings
from tests.audit_events import event_written

pytestmark = pytest.mark.django_db


def test_analysis_run_start_of_a_locked_study(study, statistician):
    study.status = Study.Status.LOCKED
    study.save(update_fields=["status"])
    run = analysis_run_start(study=study, user=statistician, kind="analysis")
    event_written(
        AuditAction.ANALYSIS_RUN,
        actor=statistician,
        target=run,
        study=study,
        data={"kind": "analysis", "reference_sets": [], "interim": False, "reason": "", "blockers": []},
    )


def test_analysis_run_start_as_an_interim_analysis(study, statistician):
    blockers = analysis_blockers(study, analysis_default_reference_sets(study))
    assert blockers  # the study is open: only an interim analysis is possible
    run = analysis_run_start(study=study, user=statistician, kind="answers", interim_reason="DSMB look")
    event_written(
        AuditAction.ANALYSIS_INTERIM,
        actor=statistician,
        target=run,
        study=study,
        data={
            "kind": "answers",
            "reference_sets": [],
            "interim": True,
            "reason": "DSMB look",
            "blockers": blockers,
        },
    )


def test_analysis_settings_save_records_the_settings_that_changed(study, coordinator):
    settings = AnalysisSettings(fom="AFROC", confidence=0.9)
    analysis_settings_save(study=study, settings=settings, actor=coordinator)
    analysis_settings_save(study=study, settings=AnalysisSettings(fom="AFROC"), actor=coordinator)
    events = study.audit_events.filter(action=AuditAction.STUDY_ANALYSIS_SETTINGS).order_by("id")
    assert [e.data for e in events] == [
        {"before": {"fom": None, "confidence": None}, "after": {"fom": "AFROC", "confidence": 0.9}},
        {"before": {"confidence": 0.9}, "after": {"confidence": None}},
    ]
    assert {(e.actor, e.target_id) for e in events} == {(coordinator, str(study.pk))}


def test_analysis_settings_save_audits_the_hypothesis_of_the_mrmc_tests(study, coordinator):
    analysis_settings_save(
        study=study, settings=AnalysisSettings(alternative="greater", margin=0.05), actor=coordinator
    )
    analysis_settings_save(study=study, settings=AnalysisSettings(), actor=coordinator)
    events = study.audit_events.filter(action=AuditAction.STUDY_ANALYSIS_SETTINGS).order_by("id")
    assert [e.data for e in events] == [
        {
            "before": {"alternative": None, "margin": None},
            "after": {"alternative": "greater", "margin": 0.05},
        },
        {
            "before": {"alternative": "greater", "margin": 0.05},
            "after": {"alternative": None, "margin": None},
        },
    ]
