"""Import from a PACS: search a DICOMweb server (QIDO-RS) and retrieve series (WADO-RS).

``pacs_search`` lists the series that match a patient id, accession number, study date (or
range), modality and description. ``pacs_retrieve`` writes the chosen series' instances
into a folder; the import job then runs the ordinary ``dicom_import`` on that folder with the
manifest rows (series_instance_uid -> case, condition), so validation, de-identification,
the report and idempotence are the zip import's.

Servers are configured in settings (``READERSTUDY_DICOMWEB_SERVERS``, from the environment:
name -> URL, with optional username/password or token); a job stores only the server's
name. An ad-hoc URL (the ``import_dicomweb`` command's ``--url``) takes its credentials from
the environment (``READERSTUDY_DICOMWEB_USERNAME`` / ``_PASSWORD`` or ``_TOKEN``).

Whatever goes wrong with the server (unreachable, too slow, refused credentials, an HTTP
error, an answer that is not DICOM or JSON, more bytes than the import caps allow) is a
``PacsError`` with one line for the user, never a traceback.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydicom
import pydicom.errors
import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings

from readerstudy.imaging.dicom_import import DicomImportError, import_limits
from readerstudy.imaging.import_safety import ExtractLimits

#: Bytes read from the server at a time.
CHUNK_SIZE = 1024**2
#: A study date: ``YYYYMMDD``, or a range ``YYYYMMDD-YYYYMMDD`` (either end may be left open).
STUDY_DATE = re.compile(r"^(\d{8})?-?(\d{8})?$")
MODALITY = re.compile(r"^[A-Z0-9]{1,16}$")
#: Search keys allowed characters (no wildcards of the user's: the service adds them).
SEARCH_TEXT = re.compile(r"^[^*?\\\x00-\x1f]{0,64}$")
SERIES_FIELDS = (
    "PatientID",
    "AccessionNumber",
    "StudyDate",
    "StudyDescription",
    "SeriesDescription",
    "Modality",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
)
#: Called with the fraction retrieved (0..1); may raise ``ImportCancelled``.
RetrieveProgress = Callable[[float], None]


class PacsError(DicomImportError):
    """The DICOMweb server cannot be searched or retrieved from; the message says why in one line."""


@dataclass(frozen=True)
class PacsServer:
    """A DICOMweb server: its name (what a job stores), its root URL and its credentials."""

    name: str
    url: str
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)


@dataclass(frozen=True)
class PacsSeries:
    """One series a search found."""

    study_uid: str
    series_uid: str
    patient_id: str = ""
    accession: str = ""
    study_date: str = ""
    modality: str = ""
    study_description: str = ""
    series_description: str = ""
    series_number: str = ""
    instances: int | None = None


@dataclass
class RetrieveResult:
    """What ``pacs_retrieve`` wrote: instances and bytes, and the series the server did not have."""

    instances: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- servers


def pacs_servers() -> dict[str, PacsServer]:
    """The servers configured in ``READERSTUDY_DICOMWEB_SERVERS``, by name."""
    configured = getattr(settings, "READERSTUDY_DICOMWEB_SERVERS", {}) or {}
    servers = {}
    for name, value in configured.items():
        entry = {"url": value} if isinstance(value, str) else dict(value)
        servers[str(name)] = PacsServer(
            name=str(name),
            url=str(entry.get("url", "")).rstrip("/"),
            username=str(entry.get("username", "")),
            password=str(entry.get("password", "")),
            token=str(entry.get("token", "")),
        )
    return servers


def pacs_server_get(name_or_url: str) -> PacsServer:
    """A configured server by its name, or an ad-hoc server by its URL (credentials from the
    environment). Raises ``PacsError`` for an unknown name or a URL that is not http(s) or
    holds credentials."""
    servers = pacs_servers()
    if name_or_url in servers:
        server = servers[name_or_url]
        _url_check(server.url, server.name)
        return server
    if not name_or_url.startswith(("http://", "https://")):
        known = ", ".join(sorted(servers)) or "none configured"
        raise PacsError(f"Unknown DICOMweb server {name_or_url!r} (READERSTUDY_DICOMWEB_SERVERS: {known}).")
    url = name_or_url.rstrip("/")
    _url_check(url, url)
    return PacsServer(
        name=url,
        url=url,
        username=os.environ.get("READERSTUDY_DICOMWEB_USERNAME", ""),
        password=os.environ.get("READERSTUDY_DICOMWEB_PASSWORD", ""),
        token=os.environ.get("READERSTUDY_DICOMWEB_TOKEN", ""),
    )


def _url_check(url: str, name: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PacsError(f"The DICOMweb server {name!r} has no http(s) URL.")
    if parts.username or parts.password:
        raise PacsError(
            f"The URL of the DICOMweb server {name!r} holds credentials: give them in the settings "
            "or the environment instead."
        )


# --------------------------------------------------------------------------- the client


class _ByteCap:
    """Counts the bytes every response streams and refuses more than the import caps allow."""

    def __init__(self, limits: ExtractLimits, server: PacsServer) -> None:
        self.limits, self.server = limits, server
        self.total = 0
        self.part = 0  # since the last instance was taken

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        original = response.iter_content

        def counted(chunk_size: int | None = 1, decode_unicode: bool = False) -> Iterator[Any]:
            for chunk in original(chunk_size, decode_unicode):  # type: ignore[call-overload]
                self.total += len(chunk)
                self.part += len(chunk)
                if self.total > self.limits.total:
                    raise PacsError(
                        f"The DICOMweb server {self.server.name} sent more than {self.limits.total} bytes "
                        "(READERSTUDY_MAX_IMPORT_UNCOMPRESSED): import fewer series at a time."
                    )
                if self.part > self.limits.member + CHUNK_SIZE:
                    raise PacsError(
                        f"The DICOMweb server {self.server.name} sent an instance over {self.limits.member} "
                        "bytes (READERSTUDY_MAX_IMPORT_MEMBER)."
                    )
                yield chunk

        response.iter_content = counted  # type: ignore[method-assign]
        return response


def _client(server: PacsServer, cap: _ByteCap) -> DICOMwebClient:
    session = requests.Session()
    if server.token:
        session.headers["Authorization"] = f"Bearer {server.token}"
    elif server.username or server.password:
        session.auth = (server.username, server.password)
    session.hooks["response"].append(cap.hook)
    timeout = float(getattr(settings, "READERSTUDY_DICOMWEB_TIMEOUT", 30))
    client = DICOMwebClient(
        url=server.url, session=session, chunk_size=CHUNK_SIZE, timeout=(timeout, timeout)
    )
    # Network errors and 429/503 answers are tried again, waiting 1 s, then 2 s ...
    attempts = max(1, int(getattr(settings, "READERSTUDY_DICOMWEB_ATTEMPTS", 3)))
    client.set_http_retry_params(retry=attempts > 1, max_attempts=attempts, wait_exponential_multiplier=500)
    return client


@contextmanager
def _server_errors(server: PacsServer, doing: str) -> Iterator[None]:
    """Turn whatever the server or the network does wrong into one ``PacsError`` line."""
    where = f"the DICOMweb server {server.name}"
    try:
        yield
    except DicomImportError:
        raise
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise PacsError(
                f"{doing.capitalize()} failed: {where} refused the credentials (HTTP {status})."
            ) from None
        if status == 404:
            raise PacsError(
                f"{doing.capitalize()} failed: {where} answered 404 (is {server.url} its DICOMweb root?)."
            ) from None
        raise PacsError(f"{doing.capitalize()} failed: {where} answered HTTP {status}.") from None
    except requests.exceptions.Timeout:
        timeout = getattr(settings, "READERSTUDY_DICOMWEB_TIMEOUT", 30)
        raise PacsError(f"{doing.capitalize()} failed: {where} did not answer within {timeout} s.") from None
    except requests.exceptions.ConnectionError:
        raise PacsError(f"{doing.capitalize()} failed: {where} cannot be reached ({server.url}).") from None
    except requests.exceptions.RequestException as exc:
        raise PacsError(f"{doing.capitalize()} failed: {where}: {type(exc).__name__}.") from None
    except (pydicom.errors.InvalidDicomError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise PacsError(
            f"{doing.capitalize()} failed: {where} sent an answer that is not DICOMweb "
            f"({type(exc).__name__})."
        ) from None


# --------------------------------------------------------------------------- search


def search_date(date_from: str = "", date_to: str = "") -> str:
    """A QIDO-RS StudyDate from the ends of a range (``YYYYMMDD`` or ``YYYY-MM-DD``; either may be empty)."""
    start, end = date_from.replace("-", ""), date_to.replace("-", "")
    if start and end == start:
        return start
    return f"{start}-{end}" if start or end else ""


def pacs_search(
    server: PacsServer,
    *,
    patient_id: str = "",
    accession: str = "",
    study_date: str = "",
    modality: str = "",
    description: str = "",
    study_uids: Sequence[str] = (),
    series_uid: str = "",
    limit: int | None = None,
) -> list[PacsSeries]:
    """The series of ``server`` that match every given key (QIDO-RS, series level).

    ``study_date`` is ``YYYYMMDD`` or a range ``YYYYMMDD-YYYYMMDD``; ``description`` matches
    the series' or the study's description (case-insensitive, anywhere in it);
    ``study_uids`` limits the search to these studies. At most ``limit`` series
    (``READERSTUDY_DICOMWEB_SEARCH_LIMIT``). Raises ``PacsError``.
    """
    limit = limit or int(getattr(settings, "READERSTUDY_DICOMWEB_SEARCH_LIMIT", 500))
    filters: dict[str, str] = {}
    for keyword, value in (("PatientID", patient_id), ("AccessionNumber", accession)):
        value = value.strip()
        if value:
            if not SEARCH_TEXT.match(value):
                raise PacsError(f"The {keyword} to search for has characters a search cannot take.")
            filters[keyword] = value
    study_date = study_date.strip()
    if study_date:
        if not STUDY_DATE.match(study_date) or study_date == "-":
            raise PacsError("The study date is YYYYMMDD or a range YYYYMMDD-YYYYMMDD.")
        filters["StudyDate"] = study_date
    modality = modality.strip().upper()
    if modality:
        if not MODALITY.match(modality):
            raise PacsError("The modality is a DICOM modality code such as MR or CT.")
        filters["Modality"] = modality
    if series_uid:
        filters["SeriesInstanceUID"] = series_uid
    description = description.strip().casefold()
    if not SEARCH_TEXT.match(description):
        raise PacsError("The description to search for has characters a search cannot take.")
    cap = _ByteCap(import_limits(), server)
    client = _client(server, cap)
    found: list[PacsSeries] = []
    studies: list[str | None] = [*study_uids] or [None]
    with _server_errors(server, "the search"):
        for study_uid in studies:
            # The description is matched here, not by the server: servers differ in how they
            # take wildcards, and in whether their matching ignores case.
            rows = client.search_for_series(
                study_instance_uid=study_uid,
                fields=list(SERIES_FIELDS),
                search_filters=dict(filters),
                limit=None if description else limit,
            )
            for row in rows:
                series = _series(row)
                if not series.series_uid or not series.study_uid:
                    continue
                text = f"{series.series_description}\n{series.study_description}".casefold()
                if description and description not in text:
                    continue
                found.append(series)
    found.sort(
        key=lambda s: (s.patient_id, s.study_date, s.study_uid, _number(s.series_number), s.series_uid)
    )
    return found[:limit]


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _value(row: dict[str, Any], tag: str) -> Any:
    values = (row.get(tag) or {}).get("Value") or []
    if not values:
        return ""
    value = values[0]
    if isinstance(value, dict):  # a person name
        return str(value.get("Alphabetic", ""))
    return value


def _series(row: dict[str, Any]) -> PacsSeries:
    instances = _value(row, "00201209")
    return PacsSeries(
        study_uid=str(_value(row, "0020000D")),
        series_uid=str(_value(row, "0020000E")),
        patient_id=str(_value(row, "00100020")),
        accession=str(_value(row, "00080050")),
        study_date=str(_value(row, "00080020")),
        modality=str(_value(row, "00080060")),
        study_description=str(_value(row, "00081030")),
        series_description=str(_value(row, "0008103E")),
        series_number=str(_value(row, "00200011")),
        instances=int(instances) if str(instances).isdigit() else None,
    )


def pacs_series_locate(server: PacsServer, series_uids: Sequence[str]) -> dict[str, str]:
    """The study UID of each series the server has (by a search per series), by series UID."""
    located = {}
    for uid in series_uids:
        for series in pacs_search(server, series_uid=uid, limit=10):
            if series.series_uid == uid:
                located[uid] = series.study_uid
                break
    return located


# --------------------------------------------------------------------------- retrieve


def pacs_retrieve(
    server: PacsServer,
    series: Sequence[tuple[str, str]],
    folder: Path,
    *,
    progress: RetrieveProgress | None = None,
) -> RetrieveResult:
    """Write every instance of each (study UID, series UID) of ``series`` into ``folder``
    (one sub-folder per series; names are counters, never the server's text).

    The bytes received count against the zip import's caps (``READERSTUDY_MAX_IMPORT_UNCOMPRESSED``
    in all, ``READERSTUDY_MAX_IMPORT_MEMBER`` per instance). A series the server does not
    have is left out (the import's report then says its manifest row found nothing).
    ``progress`` is called between instances. Raises ``PacsError``.
    """
    result = RetrieveResult()
    cap = _ByteCap(import_limits(), server)
    client = _client(server, cap)
    folder.mkdir(parents=True, exist_ok=True)
    counts: list[int] = []
    with _server_errors(server, "listing the series' instances"):
        for study_uid, series_uid in series:
            try:
                instances = client.search_for_instances(
                    study_instance_uid=study_uid, series_instance_uid=series_uid, fields=["SOPInstanceUID"]
                )
            except requests.exceptions.HTTPError as exc:
                if exc.response is None or exc.response.status_code != 404:
                    raise
                instances = []
            counts.append(len(instances))
    total = sum(counts) or 1
    with _server_errors(server, "retrieving the series"):
        for index, ((study_uid, series_uid), count) in enumerate(zip(series, counts, strict=True)):
            if not count:
                result.missing.append(series_uid)
                continue
            target = folder / f"series-{index + 1:04d}"
            target.mkdir(exist_ok=True)
            cap.part = 0
            for number, dataset in enumerate(client.iter_series(study_uid, series_uid), start=1):
                path = target / f"{number:06d}.dcm"
                pydicom.dcmwrite(path, dataset, enforce_file_format=True)
                cap.part = 0
                result.instances += 1
                result.bytes += path.stat().st_size
                if progress is not None:
                    progress(min(result.instances / total, 1.0))
    return result


# --------------------------------------------------------------------------- the page's choices


def pacs_manifest_csv(choices: Sequence[tuple[str, str, str]]) -> str:
    """The manifest (CSV text) of (series UID, case code, condition label) choices, for the import job."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("case", "condition", "series_instance_uid"))
    for series_uid, case, condition in choices:
        writer.writerow((case, condition, series_uid))
    return out.getvalue()
