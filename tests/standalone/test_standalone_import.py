"""The standalone import service: both formats, every refusal, idempotent re-upload, replacement,
the study lock, and the one name space of reader and algorithm codes."""

import pytest

from readerstudy.standalone.models import (
    StandaloneAlgorithm,
    StandaloneImport,
    StandaloneMark,
    StandaloneRating,
)
from readerstudy.standalone.services import (
    MAX_IMPORT_BYTES,
    StandaloneImportInvalid,
    StandaloneInvalid,
    StandaloneLocked,
    standalone_algorithm_create,
    standalone_algorithm_delete,
    standalone_import,
)
from readerstudy.studies.models import Study
from readerstudy.studies.services import ReaderInviteError, reader_invite
from tests import factories as f

from .conftest import MARKS_HR, RATINGS_LR, upload

pytestmark = pytest.mark.django_db


def refused(algorithm, text, coordinator, name="cad.csv") -> str:
    with pytest.raises(StandaloneImportInvalid) as caught:
        standalone_import(algorithm=algorithm, file=upload(text, name), actor=coordinator)
    assert not StandaloneMark.objects.exists() and not StandaloneRating.objects.exists()
    assert not StandaloneImport.objects.exists()
    return " ".join(caught.value.errors)


def test_ratings_are_imported_per_case(algorithm, coordinator, cases):
    outcome = standalone_import(algorithm=algorithm, file=upload(RATINGS_LR), actor=coordinator)
    assert outcome.created
    record = outcome.record
    assert (record.kind, record.rows, record.conditions, record.file_name) == (
        "ratings",
        3,
        ["LR"],
        "cad.csv",
    )
    assert len(record.sha256) == 64 and record.imported_by == coordinator
    ratings = {(r.case.code, r.condition.label): r.rating for r in StandaloneRating.objects.all()}
    assert ratings == {("C1", "LR"): 0.9, ("C2", "LR"): 0.1, ("C3", "LR"): 0.5}
    algorithm.refresh_from_db()
    assert algorithm.kind == "ratings"


def test_marks_are_imported_in_patient_mm_by_label_or_code(algorithm, coordinator):
    standalone_import(algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator)
    marks = sorted(
        (m.case.code, m.condition.label, m.x_mm, m.y_mm, m.z_mm, m.rating)
        for m in StandaloneMark.objects.all()
    )
    assert marks == [
        ("C1", "HR", 10.0, 20.0, 30.0, 0.8),
        ("C1", "HR", 40.0, 20.0, 30.0, 0.3),
        ("C3", "HR", 1.5, 2.0, 3.0, 0.9),
    ]


def test_the_same_file_again_is_a_no_op(algorithm, coordinator):
    first = standalone_import(algorithm=algorithm, file=upload(RATINGS_LR), actor=coordinator)
    again = standalone_import(algorithm=algorithm, file=upload(RATINGS_LR, "renamed.csv"), actor=coordinator)
    assert not again.created and again.record == first.record
    assert StandaloneImport.objects.count() == 1 and StandaloneRating.objects.count() == 3


def test_a_new_file_replaces_the_outputs_of_its_conditions_only(algorithm, coordinator, cases):
    standalone_import(algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator)
    lr = "case,condition,x_mm,y_mm,z_mm,rating\nC2,LR,5,5,5,0.4\n"
    standalone_import(algorithm=algorithm, file=upload(lr), actor=coordinator)
    hr = "case,condition,x_mm,y_mm,z_mm,rating\nC4,HR,7,7,7,0.6\n"
    standalone_import(algorithm=algorithm, file=upload(hr), actor=coordinator)
    marks = sorted((m.case.code, m.condition.label) for m in StandaloneMark.objects.all())
    assert marks == [("C2", "LR"), ("C4", "HR")]
    assert StandaloneImport.objects.count() == 3


def test_a_refused_replacement_keeps_the_earlier_outputs(algorithm, coordinator):
    standalone_import(algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator)
    with pytest.raises(StandaloneImportInvalid):
        standalone_import(
            algorithm=algorithm,
            file=upload("case,condition,x_mm,y_mm,z_mm,rating\nC1,HR,1,2,3,x\n"),
            actor=coordinator,
        )
    assert StandaloneMark.objects.count() == 3 and StandaloneImport.objects.count() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("case,condition,score\nC1,LR,1\n", "Line 1: the header must be 'case,condition,rating'"),
        ("", "The file is empty."),
        ("case,condition,rating\n", "The file has no rows"),
        ("case,condition,rating\nC9,LR,1\nC1,LR,1\nC2,LR,1\nC3,LR,1\n", "Line 2: unknown case 'C9'."),
        ("case,condition,rating\nC1,XR,1\n", "Line 2: unknown condition 'XR' (give its label or code)."),
        ("case,condition,rating\nC4,LR,1\n", "Line 2: case C4 has no series in condition LR."),
        ("case,condition,rating\nC1,LR,\nC2,LR,1\nC3,LR,1\n", "Line 2: no rating."),
        (
            "case,condition,rating\nC1,LR,nan\nC2,LR,1\nC3,LR,1\n",
            "Line 2: rating must be a finite number, not 'nan'.",
        ),
        (
            "case,condition,rating\nC1,LR,inf\nC2,LR,1\nC3,LR,1\n",
            "Line 2: rating must be a finite number, not 'inf'.",
        ),
        ("case,condition,rating\nC1,LR,high\nC2,LR,1\nC3,LR,1\n", "Line 2: rating 'high' is not a number."),
        (
            "case,condition,rating\nC1,LR,1\nC2,LR,1\nC3,LR,1\nC1,C-LR,2\n",
            "Line 5: case C1 under LR is rated again (first on line 2).",
        ),
        (
            "case,condition,rating\nC1,LR,1\n",
            "Condition LR: no rating for 2 case(s) with a series in it (C2, C3)",
        ),
        ("case,condition,rating\nC1,LR\n", "Line 2: 2 cells, expected 3"),
        ("case,condition,x_mm,y_mm,z_mm,rating\nC1,HR,1,,3,0.5\n", "Line 2: no y_mm."),
        (
            "case,condition,x_mm,y_mm,z_mm,rating\nC1,HR,1,2,-inf,0.5\n",
            "Line 2: z_mm must be a finite number",
        ),
    ],
)
def test_bad_files_are_refused_naming_the_line(algorithm, coordinator, text, message):
    assert message in refused(algorithm, text, coordinator)


def test_a_file_that_is_not_utf8_or_too_large_is_refused(algorithm, coordinator):
    assert "not UTF-8" in refused(algorithm, "case,condition,rating\nC1,LR,1\n".encode("utf-16"), coordinator)
    big = b"case,condition,rating\n" + b"C1,LR,1\n" * (MAX_IMPORT_BYTES // 8 + 1)
    assert "larger than 10 MB" in refused(algorithm, big, coordinator)


def test_a_file_of_the_other_kind_needs_another_algorithm(algorithm, coordinator):
    standalone_import(algorithm=algorithm, file=upload(RATINGS_LR), actor=coordinator)
    with pytest.raises(StandaloneInvalid, match="Make another algorithm"):
        standalone_import(algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator)


def test_a_locked_study_refuses_every_write(study, algorithm, coordinator):
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)
    algorithm.study.refresh_from_db()
    with pytest.raises(StandaloneLocked, match="locked"):
        standalone_import(algorithm=algorithm, file=upload(RATINGS_LR), actor=coordinator)
    with pytest.raises(StandaloneLocked):
        standalone_algorithm_create(study=algorithm.study, code="CAD2", name="Other", actor=coordinator)
    with pytest.raises(StandaloneLocked):
        standalone_algorithm_delete(algorithm=algorithm, actor=coordinator)
    assert StandaloneAlgorithm.objects.count() == 1 and not StandaloneImport.objects.exists()


def test_codes_are_unique_and_never_a_readers(study, cases, algorithm, coordinator):
    f.ReaderParticipationFactory(study=study, code="R1")
    with pytest.raises(StandaloneInvalid, match="reader's code"):
        standalone_algorithm_create(study=study, code="r1", name="Clash", actor=coordinator)
    with pytest.raises(StandaloneInvalid, match="taken by the standalone algorithm Detector v1"):
        standalone_algorithm_create(study=study, code="cad1", name="Again", actor=coordinator)
    with pytest.raises(StandaloneInvalid, match="The code must be"):
        standalone_algorithm_create(study=study, code="CAD 1", name="Bad", actor=coordinator)
    with pytest.raises(ReaderInviteError, match="standalone algorithm"):
        reader_invite(study=study, username="newreader", email="", code="CAD1", actor=coordinator)
    assert StandaloneAlgorithm.objects.count() == 1


def test_a_refused_file_at_creation_makes_no_algorithm(study, cases, coordinator):
    with pytest.raises(StandaloneImportInvalid):
        standalone_algorithm_create(
            study=study,
            code="CAD2",
            name="Other",
            actor=coordinator,
            file=upload("case,condition,rating\nC9,LR,1\n"),
        )
    assert not StandaloneAlgorithm.objects.exists()
    made = standalone_algorithm_create(
        study=study, code="CAD2", name="Other", actor=coordinator, file=upload(RATINGS_LR)
    )
    assert made.kind == "ratings" and made.ratings.count() == 3


def test_delete_removes_the_outputs(algorithm, coordinator):
    standalone_import(algorithm=algorithm, file=upload(MARKS_HR), actor=coordinator)
    standalone_algorithm_delete(algorithm=algorithm, actor=coordinator)
    assert not StandaloneAlgorithm.objects.exists() and not StandaloneMark.objects.exists()
    standalone_algorithm_delete(algorithm=algorithm, actor=coordinator)  # a retried request: nothing to do
