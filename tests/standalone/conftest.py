"""A study with two conditions (HR, LR) and four cases with a series in each (C4 only in HR)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from readerstudy.standalone.services import standalone_algorithm_create
from tests import factories as f


@pytest.fixture
def conditions(study):
    return {
        label: f.ConditionFactory(study=study, label=label, code=f"C-{label}", order=n)
        for n, label in enumerate(("HR", "LR"))
    }


@pytest.fixture
def cases(study, conditions):
    made = {code: f.CaseFactory(study=study, code=code) for code in ("C1", "C2", "C3", "C4")}
    for code, case in made.items():
        for label, condition in conditions.items():
            if code != "C4" or label == "HR":
                f.ImageSeriesFactory(case=case, condition=condition)
    return made


def upload(text: str | bytes, name: str = "cad.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8") if isinstance(text, str) else text, "text/csv")


RATINGS_LR = "case,condition,rating\nC1,LR,0.9\nC2,LR,0.1\nC3,LR,0.5\n"
MARKS_HR = (
    "case,condition,x_mm,y_mm,z_mm,rating\nC1,HR,10,20,30,0.8\nC1,HR,40,20,30,0.3\nC3,C-HR,1.5,2,3,0.9\n"
)


@pytest.fixture
def algorithm(study, cases, coordinator):
    return standalone_algorithm_create(study=study, code="CAD1", name="Detector v1", actor=coordinator)
