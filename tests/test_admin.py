"""Every model has a working Django admin; the audit log there is read-only."""

import uuid

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from readerstudy.audit.models import AuditAction
from readerstudy.audit.services import audit_event_create
from readerstudy.design.generator import CaseInput, DesignSpec, ReaderInput, schedule_generate
from readerstudy.design.models import ReadingSchedule
from readerstudy.generation.models import GenerationJob, GenerationTask
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.models import ImportJob
from readerstudy.measurements.models import (
    FidelityReference,
    FidelityResult,
    MeasurementCNR,
    MeasurementCNRValue,
    MeasurementROI,
    MeasurementValue,
    T2AgreementResult,
)
from readerstudy.reading.models import ReadingViewport, ReadingVisit
from readerstudy.references.models import ReferenceFinding
from readerstudy.results.models import AnalysisRun
from readerstudy.standalone.models import (
    StandaloneAlgorithm,
    StandaloneImport,
    StandaloneMark,
    StandaloneRating,
)
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.django_db
MODELS = list(apps.get_app_config("readerstudy").get_models())


@pytest.fixture
def admin_client_with_data(client, reader_setup, study, tmp_path):
    dicom_files.write_series(tmp_path / "hr", slices=2)
    report = dicom_import(
        study=study,
        source=tmp_path,
        manifest=[{"case": "K2", "condition": reader_setup["conditions"][0].label, "folder": "hr"}],
    )
    assert report.ok, report.summary()
    reference = f.ReferenceStandardFactory(case=reader_setup["case"])
    ReferenceFinding.objects.create(reference=reference, key="mets", present=True)
    f.AnswerFactory(reading=reader_setup["readings"][0], question=f.QuestionFactory(study=study))
    f.LesionMarkFactory(reading=reader_setup["readings"][0])
    ReadingVisit.objects.create(reading=reader_setup["readings"][0], client_id=uuid.uuid4(), slices=[0])
    ReadingViewport.objects.create(
        reading=reader_setup["readings"][0], slot=1, series=reader_setup["series"][0], label="A"
    )
    f.ReferenceLesionFactory(reference=reference)
    audit_event_create(actor=None, action=AuditAction.STUDY_CREATE, target=study, study=study)
    superuser = f.UserFactory(username="admin", is_staff=True, is_superuser=True)
    schedule = schedule_generate(DesignSpec(("A",), (CaseInput("K1"),), (ReaderInput("R1"),)))
    ReadingSchedule.objects.create(
        study=study,
        version=1,
        kind="crossed",
        seed="0",
        spec={},
        plan=[[r.reader, r.session, r.position, r.case, r.condition] for r in schedule.readings],
        balance=schedule.balance(),
    )
    run = AnalysisRun.objects.create(study=study, kind="answers.csv", requested_by=superuser)
    run.reference_sets.add(reference.reference_set)
    job = GenerationJob.objects.create(
        study=study,
        source_condition=reader_setup["conditions"][0],
        target_condition=f.ConditionFactory(study=study, label="SR-generated"),
        method="tci",
        factor=2,
    )
    GenerationTask.objects.create(job=job, case=reader_setup["case"])
    ImportJob.objects.create(study=study, source_name="upload.zip", manifest_text="case,condition,folder\n")
    _measurements(reader_setup, superuser)
    _segmentation(reader_setup, superuser, tmp_path)
    _standalone(reader_setup, superuser)
    client.force_login(superuser)
    return client


def _measurements(reader_setup, user) -> None:
    """An ROI of each kind with values, a CNR and a fidelity result (objective measurements)."""
    case, series = reader_setup["case"], reader_setup["series"][0]
    rois = [
        MeasurementROI.objects.create(
            case=case,
            client_id=uuid.uuid4(),
            number=n,
            kind=kind,
            points_mm=[[0, 0, 0], [4, 0, 0]],
            radius_mm=4.0 if kind == "circle" else None,
            drawn_on=series,
            drawn_slice=0,
            drawn_points=[[0, 0], [4, 0]],
            created_by=user,
        )
        for n, kind in enumerate(("circle", "circle"), start=1)
    ]
    MeasurementValue.objects.create(roi=rois[0], series=series, mean=10.0, sd=2.0, snr=5.0)
    cnr = MeasurementCNR.objects.create(
        case=case, client_id=uuid.uuid4(), roi_a=rois[0], roi_b=rois[1], created_by=user
    )
    MeasurementCNRValue.objects.create(cnr=cnr, series=series, value=3.0)
    FidelityReference.objects.create(study=case.study, condition=series.condition, chosen_by=user)
    FidelityResult.objects.create(
        case=case, condition=reader_setup["conditions"][1], reference=series.condition, psnr=30.0
    )
    T2AgreementResult.objects.create(
        case=case,
        condition=reader_setup["conditions"][1],
        reference=series.condition,
        region="tissue",
        ccc=0.9,
    )


def _segmentation(reader_setup, user, folder) -> None:
    """A reference mask and a condition's mask with its overlap rows."""
    from readerstudy.segmentation.services import segmentation_mask_import
    from tests.segmentation import masks as mk
    from tests.segmentation.masks import LABELS, REFERENCE

    for condition, labels in ((None, LABELS), (reader_setup["conditions"][0], "")):
        path = folder / f"mask-{condition.pk if condition else 'reference'}.nii"
        path.write_bytes(mk.nifti_bytes(REFERENCE))
        segmentation_mask_import(
            case=reader_setup["case"],
            condition=condition,
            path=path,
            file_name=path.name,
            labels_text=labels,
            actor=user,
        )


def _standalone(reader_setup, user) -> None:
    """A standalone algorithm with a mark, a rating and an import."""
    case, condition = reader_setup["case"], reader_setup["conditions"][0]
    algorithm = StandaloneAlgorithm.objects.create(
        study=case.study, code="CAD1", name="Detector", created_by=user
    )
    StandaloneMark.objects.create(
        algorithm=algorithm, case=case, condition=condition, x_mm=1, y_mm=2, z_mm=3, rating=1
    )
    StandaloneRating.objects.create(algorithm=algorithm, case=case, condition=condition, rating=0.5)
    StandaloneImport.objects.create(
        algorithm=algorithm, kind="marks", file_name="cad.csv", sha256="0" * 64, rows=1
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_is_in_the_admin(model):
    assert admin.site.is_registered(model)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_admin_pages_open(admin_client_with_data, model):
    opts = model._meta
    changelist = admin_client_with_data.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    obj = model.objects.first()
    assert obj is not None, f"no {model.__name__} in the fixture data"
    change = admin_client_with_data.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )
    assert change.status_code == 200


def test_audit_log_cannot_be_added_or_deleted_in_admin(admin_client_with_data):
    assert admin_client_with_data.get(reverse("admin:readerstudy_auditevent_add")).status_code == 403
    event_pk = apps.get_model("readerstudy", "AuditEvent").objects.first().pk
    url = reverse("admin:readerstudy_auditevent_delete", args=[event_pk])
    assert admin_client_with_data.get(url).status_code == 403


def test_a_locked_reference_set_is_read_only_in_the_admin(admin_client_with_data, reader_setup):
    from readerstudy.references.models import ReferenceSet, ReferenceStandard

    standard = ReferenceStandard.objects.get(case=reader_setup["case"])
    reference_set = standard.reference_set
    reference_set.status = ReferenceSet.Status.LOCKED
    reference_set.save()
    url = reverse("admin:readerstudy_referencestandard_change", args=[standard.pk])
    response = admin_client_with_data.post(url, {"is_abnormal": "false", "kind": "final"})
    assert response.status_code == 403
    set_url = reverse("admin:readerstudy_referenceset_change", args=[reference_set.pk])
    assert admin_client_with_data.post(set_url, {"status": "open"}).status_code == 403
    delete = reverse("admin:readerstudy_referencelesion_delete", args=[standard.lesions.get().pk])
    assert admin_client_with_data.post(delete, {"post": "yes"}).status_code == 403
    reference_set.refresh_from_db()
    assert reference_set.locked and standard.lesions.exists()
