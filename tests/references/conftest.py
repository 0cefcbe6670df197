"""Fixtures of the reference-standard tests: reviewers, two cases and an open consensus set."""

from types import SimpleNamespace

import pytest

from readerstudy.references import services as svc
from tests import factories as f


@pytest.fixture
def people(db):
    return SimpleNamespace(
        # A radiologist who reads in other studies may review this one's reference.
        rev1=f.UserFactory(username="rev1", roles=["reader"]),
        rev2=f.UserFactory(username="rev2"),
        adj=f.UserFactory(username="adj"),
    )


@pytest.fixture
def cases(study):
    """Two cases, each with an LR and an HR series (HR has the lower order)."""
    hr = f.ConditionFactory(study=study, label="HR", order=0)
    lr = f.ConditionFactory(study=study, label="LR", order=1)
    f.QuestionFactory(study=study, key="tear", text="Meniscal tear", kind="finding", scale=[])
    made = []
    for code in ("C1", "C2"):
        case = f.CaseFactory(study=study, code=code)
        f.ImageSeriesFactory(case=case, condition=lr)
        f.ImageSeriesFactory(case=case, condition=hr, origin=[-10.0, 20.0, 5.0])
        made.append(case)
    return made


@pytest.fixture
def consensus(study, coordinator, people, cases):
    return svc.reference_set_create(
        study=study,
        source="consensus",
        actor=coordinator,
        reviewers=[people.rev1, people.rev2],
        adjudicator=people.adj,
    )
