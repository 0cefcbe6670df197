"""Fixtures of the imaging tests: a live Orthanc (DICOMweb) for the PACS import."""

import os

import pytest

from tests.orthanc import Orthanc, orthanc_missing, orthanc_required, orthanc_start


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Orthanc:
    """An Orthanc with DICOMweb on a free loopback port for the whole session (stopped at its end).

    Skips where Orthanc is not installed, unless env CI is set: then the tests fail.
    """
    orthanc_required(orthanc_missing(), ci=bool(os.environ.get("CI")))
    server = orthanc_start(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()
