"""The reading page's fast path: bulk pixel data of slice ranges, the first image PNG made at
import, and the blinded metadata computed once per reading.

From the reader's side (a Django test client with the reader's session) and an attacker's
(other readers, crafted ranges).
"""

import io
import re
import struct
from datetime import timedelta

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from readerstudy.dicomweb.views import BULK_MAX_SLICES
from readerstudy.imaging import blinding
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.first_image import first_image_path
from readerstudy.imaging.models import DicomInstance
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.django_db

SLICES = 7


@pytest.fixture
def reading(tmp_path, study):
    """One reader's open reading of a 7-slice 12 x 10 series with a window in its header."""
    condition = f.ConditionFactory(study=study, label="SR-secret-label")
    dicom_files.write_series(
        tmp_path / "series", slices=SLICES, rows=12, columns=10, description="T1 SR-net v2 DERIVED"
    )
    for path in (tmp_path / "series").iterdir():
        ds = pydicom.dcmread(path)
        ds.WindowCenter = 60
        ds.WindowWidth = 81
        ds.save_as(path, enforce_file_format=True)
    report = dicom_import(
        study=study,
        source=tmp_path,
        manifest=[{"case": "FAST-CASE-3", "condition": "SR-secret-label", "folder": "series"}],
    )
    assert report.ok, report.summary()
    participation = f.ReaderParticipationFactory(study=study, user__username="fastreader")
    session = f.ReadingSessionFactory(participation=participation, number=1)
    return f.ReadingFactory(session=session, series=condition.series.get(), position=1)


def series_url(reading) -> str:
    study_uid = blinding.reading_uid(reading, reading.series.study_instance_uid)
    series_uid = blinding.reading_uid(reading, reading.series.series_instance_uid)
    return f"/dicomweb/r/{reading.public_id}/studies/{study_uid}/series/{series_uid}"


def parts_of(response) -> list[tuple[dict[str, str], bytes, int]]:
    """(headers, body, offset of the body in the response) of each multipart part."""
    boundary = re.search(r"boundary=([^;]+)", response["Content-Type"]).group(1).encode()
    content = response.content
    parts = []
    position = content.index(b"--" + boundary)
    while not content.startswith(b"--" + boundary + b"--", position):
        header_end = content.index(b"\r\n\r\n", position)
        lines = content[position:header_end].decode("latin1").split("\r\n")[1:]
        headers = dict(line.split(": ", 1) for line in lines)
        start = header_end + 4
        end = content.index(b"\r\n--" + boundary, start)
        parts.append((headers, content[start:end], start))
        position = end + 2
    return parts


def stored_pixels(reading) -> list[bytes]:
    """Each slice's pixel data as the stored (blinded) instance has it, in slice order."""
    return [pydicom.dcmread(i.file.path).PixelData for i in reading.series.instances.order_by("slice_index")]


def test_bulk_returns_the_slices_asked_for_in_order_aligned(client, reading):
    client.force_login(reading.session.participation.user)
    pixels = stored_pixels(reading)
    sop_uids = list(blinding.reading_instance_files(reading))
    for ranges, expected in (
        ("2-4", [2, 3, 4]),
        ("5,0-1", [5, 0, 1]),
        ("6", [6]),
        (f"0-{SLICES - 1}", range(SLICES)),
    ):
        response = client.get(f"{series_url(reading)}/slices/{ranges}")
        assert response.status_code == 200, ranges
        assert response["Content-Type"].startswith('multipart/related; type="application/octet-stream"')
        parts = parts_of(response)
        assert [body for _, body, _ in parts] == [pixels[i] for i in expected]
        for (headers, body, offset), index in zip(parts, expected, strict=True):
            assert int(headers["Content-Length"]) == len(body)
            assert (
                headers["Content-Location"] == f"{series_url(reading)}/instances/{sop_uids[index]}/frames/1"
            )
            assert offset % 8 == 0  # a browser views 16-bit frames in place


def test_bulk_reads_the_stored_offsets_and_the_command_fills_missing_ones(client, reading, capsys):
    instances = list(reading.series.instances.order_by("slice_index"))
    for instance in instances:
        with open(instance.file.path, "rb") as handle:
            data = handle.read()
        assert instance.pixel_offset is not None
        assert (
            data[instance.pixel_offset : instance.pixel_offset + instance.pixel_length]
            == pydicom.dcmread(instance.file.path).PixelData
        )
    DicomInstance.objects.filter(series=reading.series).update(pixel_offset=None, pixel_length=None)
    call_command("instance_pixel_offsets")
    assert f"{SLICES} offsets stored" in capsys.readouterr().out
    after = {i.pk: (i.pixel_offset, i.pixel_length) for i in reading.series.instances.all()}
    assert after == {i.pk: (i.pixel_offset, i.pixel_length) for i in instances}


@pytest.mark.parametrize(
    "ranges",
    ["", "x", "3-1", f"0-{SLICES}", f"{SLICES}", "-1", "1-2-3", "1,1", "0-2,2", "1.5", " 1"],
)
def test_bad_bulk_ranges_are_refused_with_400(client, reading, ranges):
    client.force_login(reading.session.participation.user)
    response = client.get(f"{series_url(reading)}/slices/{ranges}")
    assert response.status_code in (400, 404), ranges  # "" does not match the URL at all
    if ranges:
        assert response.status_code == 400
        assert b"Bad slice range" in response.content


def test_bulk_refuses_more_than_the_limit(client, study, tmp_path, reading):
    client.force_login(reading.session.participation.user)
    many = ",".join(["0-6"] + [str(i) for i in range(SLICES)])  # duplicates as well
    assert client.get(f"{series_url(reading)}/slices/{many}").status_code == 400
    assert BULK_MAX_SLICES >= 16


def test_bulk_and_first_image_are_the_readers_only(client, study, coordinator, statistician, reading):
    other = f.ReaderParticipationFactory(study=study, user__username="other-fast-reader").user
    urls = [f"{series_url(reading)}/slices/0-2", f"{series_url(reading)}/first-image.png"]
    for outsider in (other, coordinator, statistician):
        client.force_login(outsider)
        for url in urls:
            assert client.get(url).status_code == 404, (outsider, url)
    client.force_login(reading.session.participation.user)
    for url in urls:
        assert client.get(url).status_code == 200
    # Another reading's UIDs under this root, and a closed session.
    assert client.get(f"/dicomweb/r/{reading.public_id}/studies/x/series/y/slices/0-1").status_code == 404
    session = reading.session
    session.opens_at = timezone.now() + timedelta(days=7)
    session.save()
    for url in urls:
        assert client.get(url).status_code == 403
    client.logout()
    assert client.get(urls[0]).status_code == 302


def display_rule(
    stored: np.ndarray, center: float, width: float, slope: float, intercept: float, mono1: bool
):
    """PS3.3 C.11.2.1.2.1 (linear VOI) after C.11.1 (Modality LUT), written out per pixel."""
    out = np.zeros(stored.shape, dtype=np.uint8)
    for index, value in np.ndenumerate(stored):
        x = float(value) * slope + intercept
        if x <= center - 0.5 - (width - 1) / 2:
            y = 0.0
        elif x > center - 0.5 + (width - 1) / 2:
            y = 255.0
        else:
            y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
        if mono1:
            y = 255.0 - y
        out[index] = int(np.rint(y))
    return out


def png_chunks(png: bytes) -> list[bytes]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    kinds, position = [], 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kinds.append(png[position + 4 : position + 8])
        position += 12 + length
    return kinds


def test_the_page_shows_the_first_image_of_the_start_slice_with_the_display_rule(client, reading):
    client.force_login(reading.session.participation.user)
    page = client.get(reverse("readerstudy:reading_detail", args=[reading.public_id])).content.decode()
    [src] = re.findall(r'<img id="first-image"[^>]* src="([^"]+)"', page)
    assert src == f"{series_url(reading)}/first-image.png"  # the reading's own, blinded URL
    response = client.get(src)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    png = response.content
    assert png_chunks(png) == [b"IHDR", b"IDAT", b"IEND"]  # no text, time or other metadata chunks
    image = Image.open(io.BytesIO(png))
    assert image.mode == "L" and image.size == (10, 12)
    start = pydicom.dcmread(reading.series.instances.get(slice_index=SLICES // 2).file.path)
    expected = display_rule(start.pixel_array, 60, 81, 1.0, 0.0, mono1=False)
    assert np.array_equal(np.asarray(image), expected)
    assert 0 < expected.mean() < 255  # the window cuts through the values (both clipped ends exist)
    assert (expected == 0).any() and (expected == 255).any()


def test_first_image_follows_monochrome1_rescale_and_full_range(client, study, tmp_path):
    condition = f.ConditionFactory(study=study, label="M1")
    dicom_files.write_series(tmp_path / "m1", slices=3, rows=8, columns=8)
    for path in (tmp_path / "m1").iterdir():
        ds = pydicom.dcmread(path)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.RescaleSlope = 2
        ds.RescaleIntercept = -5
        ds.save_as(path, enforce_file_format=True)
    report = dicom_import(
        study=study, source=tmp_path, manifest=[{"case": "M1C", "condition": "M1", "folder": "m1"}]
    )
    assert report.ok, report.summary()
    series = condition.series.get()
    stored = pydicom.dcmread(series.instances.get(slice_index=1).file.path).pixel_array
    modality = stored * 2.0 - 5
    lo, hi = modality.min(), modality.max()
    expected = display_rule(stored, (hi + lo) / 2, hi - lo, 2.0, -5.0, mono1=True)
    from django.core.files.storage import default_storage

    with default_storage.open(first_image_path(series), "rb") as handle:
        image = np.asarray(Image.open(handle))
    assert np.array_equal(image, expected)


def test_a_resumed_reading_elsewhere_has_no_first_image_in_its_page(client, reading):
    reading.last_slice = 1
    reading.save()
    client.force_login(reading.session.participation.user)
    page = client.get(reverse("readerstudy:reading_detail", args=[reading.public_id])).content.decode()
    assert 'id="first-image"' not in page


def test_the_blinded_metadata_is_computed_once_per_reading(client, reading, monkeypatch):
    calls = {"neutral": 0, "personalized": 0}
    neutral, personalize = blinding.series_metadata_neutral, blinding._personalize

    def counting_neutral(series):
        calls["neutral"] += 1
        return neutral(series)

    def counting_personalize(item, **kwargs):
        calls["personalized"] += 1
        return personalize(item, **kwargs)

    monkeypatch.setattr(blinding, "series_metadata_neutral", counting_neutral)
    monkeypatch.setattr(blinding, "_personalize", counting_personalize)
    client.force_login(reading.session.participation.user)
    page_url = reverse("readerstudy:reading_detail", args=[reading.public_id])
    bodies = []
    for _ in range(3):
        page = client.get(page_url).content.decode()
        [inline] = re.findall(
            r'<script type="application/json" id="series-metadata">(.*?)</script>', page, re.S
        )
        bodies.append(inline)
        bodies.append(client.get(f"{series_url(reading)}/metadata").content.decode())
    assert calls["neutral"] == 1
    top_level = calls["personalized"]
    assert top_level >= SLICES  # one per instance (and its sequences), once
    import json

    served = json.loads(bodies[1])
    assert all(json.loads(body) == served for body in bodies)
    assert [i["00080018"]["Value"][0] for i in served] == list(blinding.reading_instance_files(reading))
    # Another reading of the same series is blinded on its own (its own UIDs).
    other = f.ReadingFactory(
        session=f.ReadingSessionFactory(participation=reading.session.participation, number=2),
        series=reading.series,
        position=1,
    )
    assert blinding.series_metadata_json(other) != blinding.series_metadata_json(reading)
    assert calls["personalized"] > top_level
