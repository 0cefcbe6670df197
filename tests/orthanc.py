"""A real Orthanc with its DICOMweb plugin, for the PACS import tests.

``orthanc_start`` writes an Orthanc configuration into a folder (HTTP on a free loopback
port, no DICOM network, storage and index in the folder, remote access off, HTTP
authentication on with one registered user, the Debian DICOMweb plugin), starts
``Orthanc <config.json>`` and waits for its ``/system``. Files are loaded through the REST
API (``POST /instances``). ``bin/test`` installs Debian's ``orthanc orthanc-dicomweb``; where
Orthanc is missing the tests skip with the reason, except under CI (env ``CI`` set), where
they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ORTHANC = os.environ.get("READERSTUDY_ORTHANC", "/usr/sbin/Orthanc")
PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
USERNAME = "pacs-reader"
PASSWORD = "s3cret-pacs-password"
START_TIMEOUT_S = 30.0


def dicomweb_plugin() -> str | None:
    for candidate in PLUGIN_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    plugins = Path("/usr/lib/orthanc")
    found = sorted(plugins.glob("libOrthancDicomWeb.so*")) if plugins.is_dir() else []
    return str(found[0]) if found else None


def orthanc_missing(executable: str = ORTHANC) -> str | None:
    """Why Orthanc cannot run here, or None."""
    if not (Path(executable).exists() or shutil.which(executable)):
        return f"Orthanc is not installed ({executable} missing; apt-get install orthanc orthanc-dicomweb)"
    if dicomweb_plugin() is None:
        return "Orthanc's DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return None


def orthanc_required(missing: str | None, *, ci: bool) -> None:
    """Skip (a user's machine) or fail (CI) the test when Orthanc is missing; nothing when it is there."""
    if missing is None:
        return
    if ci:
        pytest.fail(f"{missing} (CI is set: bin/test installs it)", pytrace=False)
    pytest.skip(missing)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Orthanc:
    process: subprocess.Popen
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def rest(self) -> requests.Session:
        session = requests.Session()
        session.auth = (USERNAME, PASSWORD)
        return session

    def upload(self, paths: list[Path]) -> None:
        """Store DICOM files in Orthanc (its REST API)."""
        with self.rest() as session:
            for path in paths:
                response = session.post(f"{self.url}/instances", data=path.read_bytes(), timeout=30)
                response.raise_for_status()

    def clear(self) -> None:
        """Delete every stored patient (each test module loads what it needs)."""
        with self.rest() as session:
            for patient in session.get(f"{self.url}/patients", timeout=30).json():
                session.delete(f"{self.url}/patients/{patient}", timeout=30).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def orthanc_start(folder: Path) -> Orthanc:
    """Start an Orthanc that serves DICOMweb at ``/dicom-web/`` on a free loopback port."""
    port = free_port()
    storage = folder / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "readerstudy-test",
        "HttpPort": port,
        "DicomServerEnabled": False,
        "DicomPort": free_port(),
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USERNAME: PASSWORD},
        "Plugins": [dicomweb_plugin()],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "HttpTimeout": 30,
        "StableAge": 1,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen([ORTHANC, str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    orthanc = Orthanc(process=process, port=port, folder=folder)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"{orthanc.url}/system", auth=(USERNAME, PASSWORD), timeout=2).ok:
                return orthanc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    orthanc.stop()
    tail = (folder / "orthanc.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"Orthanc did not start on port {port}:\n{tail}")
