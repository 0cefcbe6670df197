"""Fixtures shared by the whole suite: users in each role and a small study."""

import pytest

from readerstudy.studies.models import Study
from tests import factories as f


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path_factory):
    """Every test stores its files in a fresh folder that pytest cleans up."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    return settings.MEDIA_ROOT


@pytest.fixture
def coordinator(db):
    return f.UserFactory(username="coord", roles=["coordinator"])


@pytest.fixture
def statistician(db):
    return f.UserFactory(username="stat", roles=["statistician"])


@pytest.fixture
def study(db, coordinator, statistician):
    return f.StudyFactory(
        coordinators=[coordinator], statisticians=[statistician], status=Study.Status.ACTIVE
    )


@pytest.fixture
def reader_setup(study):
    """Two readers of ``study``, each with one session holding one reading of a shared case."""
    cond_a = f.ConditionFactory(study=study, label="LR-secret-label")
    cond_b = f.ConditionFactory(study=study, label="SR-secret-label")
    case = f.CaseFactory(study=study, code="K001")
    series_a = f.ImageSeriesFactory(case=case, condition=cond_a)
    series_b = f.ImageSeriesFactory(case=case, condition=cond_b)
    part1 = f.ReaderParticipationFactory(study=study, user__username="reader1", code="R1")
    part2 = f.ReaderParticipationFactory(study=study, user__username="reader2", code="R2")
    reading1 = f.ReadingFactory(session__participation=part1, series=series_a, position=1)
    reading2 = f.ReadingFactory(session__participation=part2, series=series_b, position=1)
    return {
        "conditions": (cond_a, cond_b),
        "case": case,
        "series": (series_a, series_b),
        "readers": (part1.user, part2.user),
        "readings": (reading1, reading2),
    }
