"""The access matrix: every URL the resolver knows, requested as every role, with the status
each gets today (a characterisation test of the permission rules).

The table ``MATRIX`` has one row per URL name: the request's method and the expected
status for each role of ``ROLES``. The request is a GET, unless the view accepts no GET:
then the row names the method (POST, PUT) and the request carries an empty JSON object as
its body, so that the status is the permission decision (403/404) or, for a role let in,
the refusal of the body (400) or the redirect after a refused form (302). A few actions need
no body (delete a question, deactivate a reader, cancel an import, waive a washout): for a
role let in they act, and the test's savepoint undoes it.

Two more tests keep the table complete: one fails when the resolver knows a URL name that
has no row (add the row: decide who may reach the new view), the other when a row names a
URL the resolver no longer knows (remove the row).

Scope:

* every pattern of ``config/urls.py``, recursing into includes: the app (``readerstudy:``)
  and ``django.contrib.auth.urls`` (login, logout, password change and reset);
* Django's admin (``admin:``, about 215 patterns, one set per model) is covered by one row
  pattern, ``ADMIN_PATTERN``, checked on every named admin URL for every role: no role of the
  platform is staff, so the admin answers each of them with a redirect (302, to its login
  page), except on that page itself (``admin:login``, its own row). The admin's unnamed
  patterns (the object redirect and the catch-all) fall under the same pattern but are not
  requested (they cannot be reversed);
* static files have no URL pattern (``DEBUG`` is off; they are served outside Django), so
  nothing is left out: ``OUT_OF_SCOPE`` is empty and only documents where such names would go.

Every test of the matrix reads one shared world of objects (``world``, built once per module
inside a transaction that is rolled back at the end, with each test in a savepoint of its
own), so that nearly a thousand requests stay fast; it runs on SQLite and on PostgreSQL
(``DATABASE_URL``) like the rest of the suite.
"""

import functools
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from readerstudy.generation.models import GenerationJob
from readerstudy.imaging import blinding
from readerstudy.imaging.dicom_import import dicom_import
from readerstudy.imaging.models import ImportJob
from readerstudy.measurements.policy import MeasurementViewing
from readerstudy.reading.models import Reading, ReadingViewport
from readerstudy.references import services as reference_services
from readerstudy.standalone.models import StandaloneAlgorithm
from readerstudy.studies.models import ReadingPhase, Study
from tests import dicom_files
from tests import factories as f

pytestmark = pytest.mark.django_db

# ----------------------------------------------------------------------------- the roles

#: Who makes the request. "reader" owns the reading in the URL (and "reviewer" the draft);
#: "other_reader" reads in the same study, "other_reviewer" reviews the same reference set,
#: each with a reading (a draft) of their own. "coordinator_reader" coordinates the study and
#: also reads in it (the rule: an active reader sees no reference or measurement, whatever
#: else they are). "other_study" coordinates, analyses and reads in another study only.
ROLES = (
    "anonymous",
    "outsider",
    "other_study",
    "reader",
    "other_reader",
    "coordinator",
    "coordinator_reader",
    "statistician",
    "reviewer",
    "other_reviewer",
    "adjudicator",
)

# ----------------------------------------------------------------------------- the table

GET, POST, PUT = "GET", "POST", "PUT"

# Columns, in the order of ROLES: anon(ymous), outs(ider), othS = other_study, read(er),
# othR = other_reader, coor(dinator), coRd = coordinator_reader, stat(istician), rev(iewer),
# oRev = other_reviewer, adj(udicator). 302 for anonymous is the redirect to the login page.
# fmt: off
APP_ROWS: dict[str, tuple[str, tuple[int, ...]]] = {
    #                                    anon outs othS read othR coor coRd stat rev  oRev adj
    # The reader's pages, API and DICOMweb root (the reading in the URL is the reader's)
    "home":                      (GET,  (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "after_login":               (GET,  (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "reader_sessions":           (GET,  (302, 403, 200, 200, 200, 403, 200, 403, 200, 403, 403)),
    "reading_detail":            (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "session_complete":          (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "api_reading_state":         (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "api_answer":                (POST, (302, 404, 404, 400, 404, 404, 404, 404, 404, 404, 404)),
    "api_mark":                  (PUT,  (302, 404, 404, 400, 404, 404, 404, 404, 404, 404, 404)),
    "api_position":              (POST, (302, 404, 404, 400, 404, 404, 404, 404, 404, 404, 404)),
    "api_visit":                 (PUT,  (302, 404, 404, 400, 404, 404, 404, 404, 404, 404, 404)),
    "wado_uri":                  (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "qido_studies":              (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "qido_series":               (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "qido_study_instances":      (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "qido_instances":            (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "wado_study":                (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "wado_study_metadata":       (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "wado_series":               (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "wado_metadata":             (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "wado_instance":             (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "wado_frames":               (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "wado_bulk_frames":          (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "first_image":               (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    # A comparative reading's viewports (the reader's, in a study whose phase lays cases side by side)
    "viewport_wado_uri":             (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_qido_studies":         (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_qido_series":          (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_qido_study_instances": (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_qido_instances":       (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_wado_study":           (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_wado_study_metadata":  (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_wado_series":          (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_wado_metadata":        (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_wado_instance":        (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_wado_frames":          (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_wado_bulk_frames":     (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    "viewport_first_image":          (GET,  (302, 404, 404, 200, 404, 404, 404, 404, 404, 404, 404)),
    # Study pages, imports, identities. NOTE coRd: a coordinator who also reads in the study
    # sees its set-up unblinded (condition labels, case codes, the identity mapping, the
    # schedule) though refused its references and measurements: can_coordinate does not
    # exclude readers (recorded as it is today, flagged for review).
    "study_list":                (GET,  (302, 403, 200, 403, 403, 200, 200, 200, 403, 403, 403)),
    "study_detail":              (GET,  (302, 403, 403, 403, 403, 200, 200, 200, 403, 403, 403)),
    "study_import":              (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_import_pacs":         (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_import_state":        (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_import_job":          (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_import_cancel":       (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_identities":          (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    # Unblinded results (statisticians; the study is not locked, so they are sent back: 302)
    "study_results":             (GET,  (302, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403)),
    "study_results_csv":         (GET,  (302, 403, 403, 403, 403, 403, 403, 302, 403, 403, 403)),
    "study_readings_csv":        (GET,  (302, 403, 403, 403, 403, 403, 403, 302, 403, 403, 403)),
    "study_analysis":            (GET,  (302, 403, 403, 403, 403, 403, 403, 302, 403, 403, 403)),
    "study_report":              (GET,  (302, 403, 403, 403, 403, 403, 403, 302, 403, 403, 403)),
    "study_analysis_settings":   (GET,  (302, 403, 403, 403, 403, 200, 200, 200, 403, 403, 403)),
    "study_analysis_table":      (GET,  (302, 403, 403, 403, 403, 403, 403, 302, 403, 403, 403)),
    "study_export":              (GET,  (302, 403, 403, 403, 403, 403, 403, 302, 403, 403, 403)),
    # Schedule, set-up, generation (coordinators of the study)
    "study_schedule":            (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "session_waive_washout":     (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_create":              (GET,  (302, 403, 200, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_questions":           (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_question_edit":       (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_phases":              (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_phase_edit":          (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_question_delete":     (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_question_move":       (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_readers":             (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_reader_deactivate":   (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_reader_reactivate":   (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_reader_link":         (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_display_grid":        (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    "study_lock":                (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_generation":          (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_generation_state":    (GET,  (302, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403)),
    "study_generation_retry":    (POST, (302, 403, 403, 403, 403, 302, 302, 403, 403, 403, 403)),
    # Reference standard (never an active reader of the study, whatever else they are)
    "study_references":          (GET,  (302, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403)),
    "reference_mine":            (GET,  (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "reference_cases":           (GET,  (302, 403, 403, 403, 403, 403, 403, 403, 200, 200, 403)),
    "reference_set_lock":        (POST, (302, 403, 403, 403, 403, 302, 403, 403, 403, 403, 403)),
    "reference_discrepancies":   (GET,  (302, 403, 403, 403, 403, 200, 403, 403, 403, 403, 200)),
    "reference_final":           (GET,  (302, 403, 403, 403, 403, 200, 403, 200, 403, 403, 200)),
    "reference_draft":           (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "reference_set_create":      (POST, (302, 403, 403, 403, 403, 400, 403, 403, 403, 403, 403)),
    "reference_import":          (POST, (302, 403, 403, 403, 403, 400, 403, 403, 403, 403, 403)),
    "api_reference_draft_state": (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "api_reference_lesion":      (PUT,  (302, 404, 404, 404, 404, 404, 404, 404, 400, 404, 404)),
    "draft_wado_uri":            (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_qido_studies":        (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_qido_series":         (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_qido_study_instances": (GET, (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_qido_instances":      (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_wado_study":          (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_wado_study_metadata": (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_wado_series":         (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_wado_metadata":       (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_wado_instance":       (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_wado_frames":         (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_wado_bulk_frames":    (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    "draft_first_image":         (GET,  (302, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404)),
    # Image-quality measurements (coordinators measure, statisticians look; never a reader)
    "measurement_index":         (GET,  (302, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403)),
    "measurement_reference":     (POST, (302, 403, 403, 403, 403, 302, 403, 403, 403, 403, 403)),
    "measurement_fidelity":      (POST, (302, 403, 403, 403, 403, 302, 403, 403, 403, 403, 403)),
    "measurement_t2_agreement":  (POST, (302, 403, 403, 403, 403, 302, 403, 403, 403, 403, 403)),
    "measurement_case":          (GET,  (302, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403)),
    "measurement_recompute":     (POST, (302, 403, 403, 403, 403, 302, 403, 403, 403, 403, 403)),
    "api_measurement_state":     (GET,  (302, 403, 403, 403, 403, 200, 403, 200, 403, 403, 403)),
    "api_measurement_roi":       (PUT,  (302, 403, 403, 403, 403, 400, 403, 403, 403, 403, 403)),
    "api_measurement_cnr":       (PUT,  (302, 403, 403, 403, 403, 400, 403, 403, 403, 403, 403)),
    "measure_wado_uri":          (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_qido_studies":      (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_qido_series":       (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_qido_study_instances": (GET, (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_qido_instances":    (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_wado_study":        (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_wado_study_metadata": (GET, (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_wado_series":       (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_wado_metadata":     (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_wado_instance":     (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_wado_frames":       (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_wado_bulk_frames":  (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    "measure_first_image":       (GET,  (302, 404, 404, 404, 404, 200, 404, 200, 404, 404, 404)),
    # Segmentation masks and their overlap (coordinators of the study who do not read in it)
    "segmentation_index":        (GET,  (302, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "segmentation_delete":       (POST, (302, 403, 403, 403, 403, 302, 403, 403, 403, 403, 403)),
    # Standalone algorithms (coordinators of the study who do not read in it; the POSTs' empty
    # bodies: a refused form, 400, or the delete done, 302)
    "standalone_index":          (GET,  (302, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403)),
    "standalone_create":         (POST, (302, 403, 403, 403, 403, 400, 403, 403, 403, 403, 403)),
    "standalone_import":         (POST, (302, 403, 403, 403, 403, 400, 403, 403, 403, 403, 403)),
    "standalone_delete":         (POST, (302, 403, 403, 403, 403, 302, 403, 403, 403, 403, 403)),
}

AUTH_ROWS: dict[str, tuple[str, tuple[int, ...]]] = {  # django.contrib.auth.urls and the admin's login
    #                                    anon outs othS read othR coor coRd stat rev  oRev adj
    "login":                     (GET,  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "logout":                    (POST, (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302)),
    "password_change":           (GET,  (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "password_change_done":      (GET,  (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "password_reset":            (GET,  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "password_reset_done":       (GET,  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "password_reset_confirm":    (GET,  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "password_reset_complete":   (GET,  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
    "admin:login":               (GET,  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
}
# fmt: on

#: Every row, by the URL's full name (namespaces included).
MATRIX: dict[str, tuple[str, tuple[int, ...]]] = {
    **{f"readerstudy:{name}": row for name, row in APP_ROWS.items()},
    **AUTH_ROWS,
}

#: Every admin URL but ``admin:login``: one row for all of them (see the module docstring).
ADMIN_PATTERN = ("admin:", GET, (302,) * len(ROLES))

#: URL names deliberately not requested, with the reason. Empty today: see the module docstring.
OUT_OF_SCOPE: dict[str, str] = {}


# ----------------------------------------------------------------------------- the resolver


def resolver_patterns() -> list[tuple[str | None, str, str, tuple[str, ...]]]:
    """(name with its namespaces or None, route, namespace, kwarg names) of every pattern."""
    found = []

    def kwarg_names(pattern) -> tuple[str, ...]:
        return tuple(pattern.regex.groupindex)  # path() converters and re_path() groups alike

    def walk(resolver: URLResolver, prefix: str, namespace: str, kwargs: tuple[str, ...]) -> None:
        for entry in resolver.url_patterns:
            inner_kwargs = kwargs + kwarg_names(entry.pattern)
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry, prefix + str(entry.pattern), inner, inner_kwargs)
            elif isinstance(entry, URLPattern):
                name = f"{namespace}{entry.name}" if entry.name else None
                found.append((name, prefix + str(entry.pattern), namespace, inner_kwargs))

    walk(get_resolver(), "", "", ())
    return found


def _is_admin(name: str | None, namespace: str) -> bool:
    return namespace.startswith(ADMIN_PATTERN[0]) if name is None else name.startswith(ADMIN_PATTERN[0])


def test_every_url_the_resolver_knows_has_a_row():
    """A new URL fails here until the table says who may reach it."""
    missing, unnamed, twice = [], [], []
    seen: set[str] = set()
    for name, route, namespace, _ in resolver_patterns():
        if _is_admin(name, namespace) and name not in MATRIX:
            continue  # ADMIN_PATTERN
        if name is None:
            unnamed.append(route)
            continue
        if name in seen:
            twice.append(name)
        seen.add(name)
        if name not in MATRIX and name not in OUT_OF_SCOPE:
            missing.append(f"{name} ({route})")
    assert not unnamed, f"Name these URL patterns so that the access matrix can have a row: {unnamed}"
    assert not twice, f"These URL names are used twice; the matrix checks only one of each: {twice}"
    assert not missing, "URLs without a row in tests/test_access_matrix.py MATRIX: " + ", ".join(missing)


def test_every_row_names_a_url_the_resolver_knows():
    names = {name for name, _, _, _ in resolver_patterns() if name is not None}
    stale = sorted(set(MATRIX) - names) + sorted(set(OUT_OF_SCOPE) - names)
    assert not stale, f"Rows for URLs the resolver no longer knows (remove them): {stale}"
    assert any(name.startswith(ADMIN_PATTERN[0]) for name in names), "ADMIN_PATTERN matches no URL"


def test_every_row_has_one_status_per_role():
    for name, (method, statuses) in MATRIX.items():
        assert method in (GET, POST, PUT), name
        assert len(statuses) == len(ROLES), name


# ----------------------------------------------------------------------------- the world


@dataclass
class World:
    """The objects every URL of the matrix points at, and a user per role."""

    users: dict[str, object]
    study: Study
    reading: Reading  # the reader's
    draft: object  # the reviewer's open draft (a ReferenceStandard)
    series: object  # the series shown on the measuring page (an ImageSeries)
    case: object  # the case of the measuring page and of the reference's final version
    reference_set: object
    question: object
    participation: object  # the reader's
    session: object  # the reader's second session (waiting for the first one)
    viewport: object  # a viewport of the reader's comparative reading (in another study)
    import_job: ImportJob
    generation_job: GenerationJob
    standalone: object  # a standalone algorithm of the study (a StandaloneAlgorithm)
    media_root: str
    sessions: dict[str, str] = field(default_factory=dict)  # role -> session key of a logged-in client
    client_id: uuid.UUID = field(default_factory=lambda: uuid.UUID("00000000-0000-4000-8000-000000000001"))


def _comparative_viewport(folder, users) -> ReadingViewport:
    """Viewport A of the reader's reading in a study whose one phase is comparative."""
    compare = f.StudyFactory(
        slug="access-compare", coordinators=[users["coordinator"]], status=Study.Status.ACTIVE
    )
    ReadingPhase.objects.filter(study=compare).update(
        layout=ReadingPhase.Layout.COMPARATIVE, takes_marks=False
    )
    labels = ("CA", "CB")
    for order, label in enumerate(labels):
        f.ConditionFactory(study=compare, label=label, order=order)
        dicom_files.write_series(folder / label, slices=3, rows=16, columns=16)
    report = dicom_import(
        study=compare, source=folder, manifest=[{"case": "V1", "condition": x, "folder": x} for x in labels]
    )
    assert report.ok, report.summary()
    series = [compare.cases.get(code="V1").series.get(condition__label=x) for x in labels]
    participation = f.ReaderParticipationFactory(study=compare, user=users["reader"], code="R1")
    reading = f.ReadingFactory(session__participation=participation, series=series[0], position=1)
    viewports = [
        ReadingViewport.objects.create(reading=reading, slot=slot, series=s, label=label)
        for slot, (s, label) in enumerate(zip(series, "AB", strict=True), start=1)
    ]
    return viewports[0]


def _build_world(folder) -> World:
    users = {
        "outsider": f.UserFactory(username="acc-outsider"),
        "other_study": f.UserFactory(username="acc-other", roles=["coordinator", "statistician", "reader"]),
        "coordinator": f.UserFactory(username="acc-coord", roles=["coordinator"]),
        "coordinator_reader": f.UserFactory(username="acc-coordreader", roles=["coordinator", "reader"]),
        "statistician": f.UserFactory(username="acc-stat", roles=["statistician"]),
        "reviewer": f.UserFactory(username="acc-rev1", roles=["reader"]),  # reads in other studies
        "other_reviewer": f.UserFactory(username="acc-rev2"),
        "adjudicator": f.UserFactory(username="acc-adj"),
    }
    study = f.StudyFactory(
        slug="access-study",
        coordinators=[users["coordinator"], users["coordinator_reader"]],
        statisticians=[users["statistician"]],
        status=Study.Status.ACTIVE,
    )
    elsewhere = f.StudyFactory(
        slug="access-elsewhere",
        coordinators=[users["other_study"]],
        statisticians=[users["other_study"]],
        status=Study.Status.ACTIVE,
    )
    f.ReaderParticipationFactory(study=elsewhere, user=users["other_study"], code="X1")

    hr = f.ConditionFactory(study=study, label="HR", order=0)
    lr = f.ConditionFactory(study=study, label="LR", order=1)
    sr = f.ConditionFactory(study=study, label="SR", order=2)
    question = f.QuestionFactory(study=study, key="quality")
    f.QuestionFactory(study=study, key="tear", text="Meniscal tear", kind="finding", scale=[])
    manifest = []
    for code in ("C1", "C2"):
        for condition in (hr, lr):
            dicom_files.write_series(folder / code / condition.label, slices=3, rows=16, columns=16)
            manifest.append(
                {"case": code, "condition": condition.label, "folder": f"{code}/{condition.label}"}
            )
    report = dicom_import(study=study, source=folder, manifest=manifest)
    assert report.ok, report.summary()
    case1, case2 = study.cases.get(code="C1"), study.cases.get(code="C2")

    participations = {}
    for role, code in (("reader", "R1"), ("other_reader", "R2"), ("coordinator_reader", "R3")):
        if role in users:
            participations[role] = f.ReaderParticipationFactory(study=study, user=users[role], code=code)
        else:
            participations[role] = f.ReaderParticipationFactory(
                study=study, user__username=f"acc-{role}", code=code
            )
            users[role] = participations[role].user
    readings = {}
    for position, (role, series) in enumerate(
        (("reader", case1.series.get(condition=lr)), ("other_reader", case1.series.get(condition=hr))),
        start=1,
    ):
        session = f.ReadingSessionFactory(participation=participations[role], number=1)
        readings[role] = f.ReadingFactory(session=session, series=series, position=position)
    later = f.ReadingSessionFactory(participation=participations["reader"], number=2)
    f.ReadingFactory(session=later, series=case2.series.get(condition=lr), position=1)

    viewport = _comparative_viewport(folder.parent / "compare", users)

    reference_set = reference_services.reference_set_create(
        study=study,
        source="consensus",
        actor=users["coordinator"],
        reviewers=[users["reviewer"], users["other_reviewer"]],
        adjudicator=users["adjudicator"],
    )
    # Case C1 has a final version (from the other reviewer's submitted draft); the reviewer's
    # draft of C2 is open, and it is the draft in the URLs.
    submitted, _ = reference_services.reference_draft_get_or_create(
        reference_set=reference_set, case=case1, reviewer=users["other_reviewer"]
    )
    reference_services.reference_draft_findings_save(
        draft=submitted, is_abnormal=False, findings={"tear": (False, None)}, actor=users["other_reviewer"]
    )
    reference_services.reference_draft_submit(draft=submitted, actor=users["other_reviewer"])
    reference_services.reference_adjudicate(
        reference_set=reference_set, case=case1, decisions={}, actor=users["adjudicator"]
    )
    draft, _ = reference_services.reference_draft_get_or_create(
        reference_set=reference_set, case=case2, reviewer=users["reviewer"]
    )
    reference_services.reference_draft_get_or_create(
        reference_set=reference_set, case=case2, reviewer=users["other_reviewer"]
    )

    import_job = ImportJob.objects.create(
        study=study, source_name="upload.zip", manifest_text="case,condition,folder\n"
    )
    generation_job = GenerationJob.objects.create(
        study=study,
        source_condition=lr,
        target_condition=sr,
        method="tci",
        factor=2,
        created_by=users["coordinator"],
        finished_at=timezone.now() - timedelta(minutes=1),
        status=GenerationJob.Status.DONE,
    )
    standalone = StandaloneAlgorithm.objects.create(study=study, code="CAD1", name="Detector")
    users["anonymous"] = None
    sessions = {}
    for role, user in users.items():  # log each role in once (a login writes the session, the audit log...)
        if user is not None:
            client = Client()
            client.force_login(user)
            sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return World(
        users=users,
        study=study,
        reading=readings["reader"],
        draft=draft,
        series=case1.series.get(condition=hr),
        case=case1,
        reference_set=reference_set,
        question=question,
        participation=participations["reader"],
        session=later,
        viewport=viewport,
        import_job=import_job,
        generation_job=generation_job,
        standalone=standalone,
        media_root=str(folder.parent / "media"),
        sessions=sessions,
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The objects of the matrix, made once for the module and rolled back after it.

    Each test runs in a savepoint of this transaction (pytest-django's ``db``), so what a
    request changes is undone before the next one.
    """
    folder = tmp_path_factory.mktemp("access-matrix")
    media = folder / "media"
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _build_world(folder / "dicom")
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def media_root(settings, world):
    """Every test of this module reads the world's files (replaces the suite's fresh folder)."""
    settings.MEDIA_ROOT = world.media_root
    return settings.MEDIA_ROOT


# ----------------------------------------------------------------------------- the requests


def _root(name: str, world: World):
    """The DICOMweb root (or page object) a URL of the matrix is about."""
    if name.startswith("readerstudy:draft_") or "reference_draft" in name or "reference_lesion" in name:
        return world.draft
    if name.startswith("readerstudy:measure_"):
        return MeasurementViewing(world.series.public_id, world.series)
    if name.startswith("readerstudy:viewport_"):
        return world.viewport
    return world.reading


def _dicomweb(root) -> dict[str, str]:
    series = root.series
    return {
        "study_uid": blinding.reading_uid(root, series.study_instance_uid),
        "series_uid": blinding.reading_uid(root, series.series_instance_uid),
        "sop_uid": next(iter(blinding.reading_instance_files(root))),
    }


def url_kwargs(name: str, kwarg_names: tuple[str, ...], world: World) -> dict[str, object]:
    """Concrete kwargs for every converter of the URL (from the world's objects)."""
    root = _root(name, world)
    uids = _dicomweb(root) if "study_uid" in kwarg_names else {}
    values = {
        "slug": world.study.slug,
        "public_id": root.public_id,
        "client_id": world.client_id,
        "case_id": world.case.pk,
        "set_id": world.reference_set.pk,
        "question_id": world.question.pk,
        "phase_id": world.study.first_phase().pk,
        "participation_id": world.participation.pk,
        "session_id": world.session.pk,
        "job_id": world.generation_job.pk if "generation" in name else world.import_job.pk,
        "algorithm_id": world.standalone.pk,
        "name": "likert",
        "kind": "tables.xlsx",
        "frames": "1",
        "slices": "0-1",
        # django.contrib.auth's password reset link (not a valid one)
        "uidb64": "MQ",
        "token": "set-password",
        # the admin's
        "object_id": "1",
        "content_type_id": "1",
        "id": "1",
        "app_label": "readerstudy",
        **uids,
    }
    return {key: values[key] for key in kwarg_names}


def _query(name: str, world: World) -> str:
    """The query a WADO-URI request needs (without it the view answers 400 to everyone)."""
    if not name.endswith("wado_uri"):
        return ""
    uids = _dicomweb(_root(name, world))
    return (
        f"?requestType=WADO&studyUID={uids['study_uid']}&seriesUID={uids['series_uid']}"
        f"&objectUID={uids['sop_uid']}"
    )


@functools.cache
def _kwarg_names() -> dict[str, tuple[str, ...]]:
    return {name: kwargs for name, _, _, kwargs in resolver_patterns() if name is not None}


def client_as(world: World, role: str) -> Client:
    """A test client logged in as ``role`` (its session from the world), or anonymous."""
    client = Client(raise_request_exception=False)
    if role in world.sessions:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    return client


def request_as(world: World, role: str, name: str, method: str, kwarg_names: tuple[str, ...]) -> int:
    """The status of one request to URL ``name`` by ``role`` (see the module docstring for the body)."""
    client = client_as(world, role)
    url = reverse(name, kwargs=url_kwargs(name, kwarg_names, world)) + _query(name, world)
    if method == PUT:
        response = client.put(url, data="{}", content_type="application/json")
    elif method == POST:
        response = client.post(url, data="{}", content_type="application/json")
    else:
        response = client.get(url)
    return response.status_code


@pytest.mark.parametrize(
    ("name", "role"), [(name, role) for name in MATRIX for role in ROLES], ids=lambda value: value
)
def test_access(world, name, role):
    method, statuses = MATRIX[name]
    kwargs = _kwarg_names().get(name)
    assert kwargs is not None, f"{name} is not a URL the resolver knows"
    expected = statuses[ROLES.index(role)]
    status = request_as(world, role, name, method, kwargs)
    assert status == expected, f"{method} {name} as {role}: {status}, the matrix says {expected}"


@pytest.mark.parametrize("role", ROLES)
def test_admin_pattern(world, role):
    """Every admin URL without a row of its own, as ``role``: the status of ADMIN_PATTERN."""
    prefix, method, statuses = ADMIN_PATTERN
    expected = statuses[ROLES.index(role)]
    client = client_as(world, role)
    differ, requested = {}, 0
    for name, kwargs in _kwarg_names().items():
        if not name.startswith(prefix) or name in MATRIX:
            continue
        requested += 1
        status = client.get(reverse(name, kwargs=url_kwargs(name, kwargs, world))).status_code
        if status != expected:
            differ[name] = status
    assert requested > 100, f"only {requested} admin URLs"
    assert not differ, f"{method} admin URLs as {role}, expected {expected}: {differ}"
