"""Settings shared by every environment.

Embedded defaults: SQLite under ``var/``, media files on local disk under
``var/media``. Override with environment variables:

``DATABASE_URL``           e.g. ``postgres://user@127.0.0.1:5432/readerstudy``
``READERSTUDY_VAR_DIR``     folder for the SQLite file and media (default ``var/``)
``READERSTUDY_MEDIA_ROOT``  where DICOM files and other uploads are stored
``CELERY_BROKER_URL``       e.g. ``redis://127.0.0.1:6379/0``: background jobs run on Celery
                           workers instead of a thread of the web process
``READERSTUDY_SR_WEIGHTS_DIR``  trained SR weights coordinators may choose (default ``var/sr-weights``)
``READERSTUDY_SITE_URL``    the platform's address, for links in emails (readers told a session opened)
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, WASM_UNSAFE_EVAL
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("READERSTUDY_VAR_DIR", BASE_DIR / "var"))

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "readerstudy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "readerstudy.middleware.RefusalMiddleware",
    # Last: turns a login that axes refused into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "readerstudy.context_processors.roles",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"


def _sqlite_folder(name: object) -> None:
    """Create the folder of the SQLite file (e.g. a new READERSTUDY_VAR_DIR): SQLite creates the
    file but not its folder, and says only "unable to open database file" when it is missing."""
    if not name or str(name) == ":memory:" or str(name).startswith("file:"):
        return
    folder = Path(str(name)).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"Cannot create the folder {folder} for the SQLite database ({exc.strerror or exc}); "
            "set READERSTUDY_VAR_DIR (or DATABASE_URL) to a place this user can write."
        ) from None


DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # BEGIN IMMEDIATE: a transaction takes SQLite's write lock when it starts, so concurrent
    # writers queue (up to the timeout) instead of failing with "database is locked" when a
    # reading transaction tries to become a writer. PostgreSQL serialises with row locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    _sqlite_folder(DATABASES["default"]["NAME"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Reader input: the longest free-text answer (characters), and what the reading API accepts.
READERSTUDY_ANSWER_TEXT_MAX_LENGTH = int(os.environ.get("READERSTUDY_ANSWER_TEXT_MAX_LENGTH", 10_000))
READERSTUDY_API_MAX_BODY_BYTES = 256 * 1024
READERSTUDY_API_MAX_JSON_DEPTH = 8

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes' backend first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"
# A reader goes on with their next open reading (reading.views.after_login); ?next= still wins.
LOGIN_REDIRECT_URL = "readerstudy:after_login"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username
# within the cool-off, that account's logins are refused, from every address and before the
# password is checked, until the cool-off has passed since the lockout began (trying again
# meanwhile does not extend it). Attempts are kept in the database, so every worker counts
# them. Locked per account, not per address: a hospital's readers often share one NAT
# address, and locking the address would lock them all out (axes.W006 warns about exactly
# this choice). An administrator unlocks early by deleting the account's access attempts in
# the admin, or with `manage.py axes_reset_username USERNAME`.
AXES_FAILURE_LIMIT = int(os.environ.get("READERSTUDY_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("READERSTUDY_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Content-Security-Policy (django-csp): scripts, styles, workers and fetches from this site only;
# no inline scripts or style attributes. 'wasm-unsafe-eval' lets the DICOM codecs compile their
# WebAssembly (it allows no JavaScript eval); blob: images are Cornerstone's cursors; data: is
# the empty favicon. JSON data in pages travels in json_script tags, which are not executed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, WASM_UNSAFE_EVAL],
        "worker-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# A refused CSRF check answers JSON on the API and the styled 403 page elsewhere.
CSRF_FAILURE_VIEW = "readerstudy.errors.csrf_failure"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("READERSTUDY_STATIC_ROOT", VAR_DIR / "staticfiles"))

MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("READERSTUDY_MEDIA_ROOT", VAR_DIR / "media"))

# Uploaded DICOM archives can be large; files above this go to a temporary file.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
# Upper bound for one uploaded archive on the import page (bytes).
READERSTUDY_MAX_IMPORT_UPLOAD = int(os.environ.get("READERSTUDY_MAX_IMPORT_UPLOAD", 2 * 1024**3))
# Upper bounds for the uncompressed content of one imported zip archive, and for one of its
# members or one file of an imported folder (bytes).
READERSTUDY_MAX_IMPORT_UNCOMPRESSED = int(os.environ.get("READERSTUDY_MAX_IMPORT_UNCOMPRESSED", 8 * 1024**3))
READERSTUDY_MAX_IMPORT_MEMBER = int(os.environ.get("READERSTUDY_MAX_IMPORT_MEMBER", 512 * 1024**2))
# Upper bound for the voxels (times channels) of one NIfTI file of an import (2**28 float32 voxels: 1 GiB).
READERSTUDY_MAX_NIFTI_VOXELS = int(os.environ.get("READERSTUDY_MAX_NIFTI_VOXELS", 2**28))


def _dicomweb_servers(text: str) -> dict:
    try:
        servers = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"READERSTUDY_DICOMWEB_SERVERS is not valid JSON ({exc}).") from None
    if not isinstance(servers, dict) or not all(
        isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("url"), str))
        for value in servers.values()
    ):
        raise ImproperlyConfigured(
            'READERSTUDY_DICOMWEB_SERVERS maps each name to a URL or to {"url": ..., '
            '"username": ..., "password": ...} or {"url": ..., "token": ...}.'
        )
    return servers


# DICOMweb servers (PACS) a coordinator may import from: JSON in the environment, a name per
# server mapped to its URL or to {"url": ..., "username": ..., "password": ...} or
# {"url": ..., "token": ...} (a bearer token). Only the name is stored with an import job, so
# credentials live in the environment, never in the database. The import_dicomweb command's
# --url may also name an ad-hoc URL; its credentials then come from
# READERSTUDY_DICOMWEB_USERNAME / READERSTUDY_DICOMWEB_PASSWORD or READERSTUDY_DICOMWEB_TOKEN.
READERSTUDY_DICOMWEB_SERVERS = _dicomweb_servers(os.environ.get("READERSTUDY_DICOMWEB_SERVERS", ""))
# Seconds to wait for a DICOMweb server to answer (connect and each read).
READERSTUDY_DICOMWEB_TIMEOUT = float(os.environ.get("READERSTUDY_DICOMWEB_TIMEOUT", 30))
# Attempts per DICOMweb request (network errors, HTTP 429 and 503 are tried again).
READERSTUDY_DICOMWEB_ATTEMPTS = int(os.environ.get("READERSTUDY_DICOMWEB_ATTEMPTS", 3))
# The most series one PACS search lists.
READERSTUDY_DICOMWEB_SEARCH_LIMIT = int(os.environ.get("READERSTUDY_DICOMWEB_SEARCH_LIMIT", 500))

# Reader invitations are emailed; locally the console backend prints them. Set
# DJANGO_EMAIL_BACKEND (and Django's EMAIL_* settings) to send real mail.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "readerstudy@localhost")
# The address readers reach the platform at, for links in emails sent without a request
# (``manage.py notify_readers``: a session has opened).
READERSTUDY_SITE_URL = os.environ.get("READERSTUDY_SITE_URL", "http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes: failed logins and lockouts (warnings), not every successful login.
    "loggers": {"axes": {"level": "WARNING"}},
}

# Background jobs (generating a condition with the SR engine). Without a broker URL, jobs
# run in a worker thread of the web process (one at a time). With one (e.g.
# redis://127.0.0.1:6379/0) they go to Celery workers: `celery -A config worker`.
# Task state lives in the database, so no result backend is needed.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again (tasks are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # SR tasks are long: take one at a time
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With Celery, beat (`celery -A config beat`) emails readers whose session opened; without
# it, run `manage.py notify_readers` from cron.
CELERY_BEAT_SCHEDULE = {
    "sessions-open-notify": {
        "task": "readerstudy.tasks.sessions_open_notify",
        "schedule": float(os.environ.get("READERSTUDY_NOTIFY_EVERY_SECONDS", 900)),
    }
}
# Run jobs synchronously in the caller after commit (tests); never on a real site.
READERSTUDY_JOBS_EAGER = False
# A running generation task silent (no progress) for this long is considered lost and may be retried.
READERSTUDY_JOBS_STALE_SECONDS = int(os.environ.get("READERSTUDY_JOBS_STALE_SECONDS", 30 * 60))
# Trained SR weights a coordinator may choose from (files with metadata; never uploaded).
READERSTUDY_SR_WEIGHTS_DIR = Path(os.environ.get("READERSTUDY_SR_WEIGHTS_DIR", VAR_DIR / "sr-weights"))
