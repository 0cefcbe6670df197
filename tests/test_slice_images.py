"""Readers see their series' slices as PNG images, and only theirs."""

import io

import pytest
from django.urls import reverse
from PIL import Image

from readerstudy.services.dicom_import import dicom_import

from . import dicom_files
from . import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_reading(tmp_path, study, reader_setup):
    """reader1's reading now points at a real imported 6-slice series."""
    condition = f.ConditionFactory(study=study, label="HR-secret-label")
    dicom_files.write_series(tmp_path / "src" / "hr", slices=6, rows=24, columns=20)
    report = dicom_import(
        study=study,
        source=tmp_path / "src",
        manifest=[{"case": "K009", "condition": condition.label, "folder": "hr"}],
    )
    assert report.ok, report.summary()
    reading = reader_setup["readings"][0]
    reading.series = condition.series.get()
    reading.save()
    return reading


def slice_url(reading, index, **query):
    url = reverse("readerstudy:reading_slice", args=[reading.public_id, index])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def test_reader_gets_each_slice_as_png(client, imported_reading, reader_setup):
    client.force_login(reader_setup["readers"][0])
    response = client.get(slice_url(imported_reading, 0))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (20, 24)
    assert image.mode == "L"
    assert client.get(slice_url(imported_reading, 5)).status_code == 200
    assert client.get(slice_url(imported_reading, 6)).status_code == 404


def test_window_can_be_chosen_and_bad_values_are_refused(client, imported_reading, reader_setup):
    client.force_login(reader_setup["readers"][0])
    narrow = client.get(slice_url(imported_reading, 2, c=100, w=2)).content
    wide = client.get(slice_url(imported_reading, 2, c=300, w=1000)).content
    assert narrow != wide
    assert client.get(slice_url(imported_reading, 2, c="x", w=3)).status_code == 400


def test_png_carries_no_dicom_header(client, imported_reading, reader_setup):
    client.force_login(reader_setup["readers"][0])
    body = client.get(slice_url(imported_reading, 0)).content
    for secret in (dicom_files.PATIENT_NAME, dicom_files.PATIENT_ID, dicom_files.INSTITUTION):
        assert secret.encode() not in body


def test_other_users_get_no_slices(client, imported_reading, reader_setup, coordinator, statistician):
    for user in (reader_setup["readers"][1], coordinator, statistician):
        client.force_login(user)
        assert client.get(slice_url(imported_reading, 0)).status_code == 404
    client.logout()
    assert client.get(slice_url(imported_reading, 0)).status_code == 302
