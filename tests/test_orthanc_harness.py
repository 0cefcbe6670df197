"""The PACS tests' Orthanc harness: missing Orthanc skips on a user's machine and fails under CI."""

import pytest

from tests.orthanc import orthanc_missing, orthanc_required


def test_missing_orthanc_skips_without_ci_and_fails_with_it():
    missing = orthanc_missing("/nonexistent/Orthanc")
    assert missing is not None and "apt-get install orthanc orthanc-dicomweb" in missing
    with pytest.raises(pytest.skip.Exception):
        orthanc_required(missing, ci=False)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        orthanc_required(missing, ci=True)
    orthanc_required(None, ci=True)  # Orthanc is there: nothing happens
