"""Fixtures of the imaging tests: a live Orthanc (DICOMweb) for the PACS import."""

import os

import pytest

from tests.orthanc import Orthanc, orthanc_missing, orthanc_start


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Orthanc:
    """An Orthanc with DICOMweb on a free loopback port for the whole session (stopped at its end).

    Skips where Orthanc is not installed, unless env CI is set: then the tests fail.
    """
    missing = orthanc_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (CI is set: bin/test installs it)")
        pytest.skip(missing)
    server = orthanc_start(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()
