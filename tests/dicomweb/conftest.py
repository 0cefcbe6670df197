"""Fixtures of the DICOMweb tests: one imported case and a root of every kind on it."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

from readerstudy.imaging import blinding
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.measurements.policy import MeasurementViewing
from readerstudy.references import services as reference_services
from tests import dicom_files
from tests import factories as f


@dataclass
class DicomwebRoot:
    """A DICOMweb root, who may use it and who may not."""

    kind: str
    viewing: object  # a Reading, a ReferenceStandard (draft) or a MeasurementViewing
    path: str  # ends in "/"
    owner: object
    refused: tuple

    @property
    def study_uid(self) -> str:
        return blinding.reading_uid(self.viewing, self.viewing.series.study_instance_uid)

    @property
    def series_uid(self) -> str:
        return blinding.reading_uid(self.viewing, self.viewing.series.series_instance_uid)

    @property
    def series_path(self) -> str:
        return f"{self.path}studies/{self.study_uid}/series/{self.series_uid}"


def _path(url_name: str, public_id) -> str:
    return reverse(url_name, args=[public_id]).removesuffix("wado")


@pytest.fixture
def roots(tmp_path, study, coordinator, statistician):
    """One case imported under HR and SR (4 slices each): a reader's reading of SR, a reviewer's
    draft (on HR) and the measuring page's root of HR, each with who is refused it."""
    conditions = [
        f.ConditionFactory(study=study, label=label, order=n) for n, label in enumerate(("HR", "SR"))
    ]
    for condition in conditions:
        dicom_files.write_series(tmp_path / condition.label, slices=4, rows=16, columns=16)
    report = dicom_import(
        study=study,
        source=tmp_path,
        manifest=[{"case": "QIDO-CASE-7", "condition": c.label, "folder": c.label} for c in conditions],
    )
    assert report.ok, report.summary()
    hr, sr = (c.series.get() for c in conditions)
    participation = f.ReaderParticipationFactory(study=study, user__username="qidoreader")
    other = f.ReaderParticipationFactory(study=study, user__username="otherreader")
    reading = f.ReadingFactory(session__participation=participation, series=sr, position=1)
    f.ReadingFactory(session__participation=other, series=sr, position=1)
    reader, other_reader = participation.user, other.user
    reviewer, other_reviewer = f.UserFactory(username="qidorev1"), f.UserFactory(username="qidorev2")
    reference_set = reference_services.reference_set_create(
        study=study, source="consensus", actor=coordinator, reviewers=[reviewer, other_reviewer]
    )
    draft, _ = reference_services.reference_draft_get_or_create(
        reference_set=reference_set, case=hr.case, reviewer=reviewer
    )
    measured = MeasurementViewing(hr.public_id, hr)
    return {
        "reading": DicomwebRoot(
            "reading",
            reading,
            _path("readerstudy:wado_uri", reading.public_id),
            reader,
            (other_reader, coordinator),
        ),
        "draft": DicomwebRoot(
            "draft",
            draft,
            _path("readerstudy:draft_wado_uri", draft.public_id),
            reviewer,
            (other_reviewer, reader, coordinator),
        ),
        "measure": DicomwebRoot(
            "measure",
            measured,
            _path("readerstudy:measure_wado_uri", hr.public_id),
            coordinator,
            (reader, reviewer),
        ),
    }
