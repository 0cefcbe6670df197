"""Fixtures of the generation tests: jobs that run at once, and a study with LR series."""

import pytest

from readerstudy.studies.models import Study
from tests import factories as f
from tests.generation.cases import import_cases


@pytest.fixture
def eager(settings):
    """Jobs run synchronously once the transaction commits (see readerstudy.jobs)."""
    settings.READERSTUDY_JOBS_EAGER = True
    settings.CELERY_BROKER_URL = ""


@pytest.fixture
def lr_study(db, coordinator, tmp_path):
    study = f.StudyFactory(coordinators=[coordinator], status=Study.Status.DRAFT)
    f.ConditionFactory(study=study, label="LR")
    volumes = import_cases(study, tmp_path / "upload", coordinator)
    return study, volumes
