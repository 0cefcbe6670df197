"""Settings for the test suite: real database (SQLite, or DATABASE_URL), fast hashing."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES

# Without DATABASE_URL the suite runs on SQLite in a file of the temporary folder (made and
# removed by the test runner), as the embedded default is a file: the live server's threads and
# background jobs then get their own connections and SQLite's file locks with a busy timeout,
# not the table locks of a shared in-memory database (which fail at once under contention).
if "DATABASE_URL" not in os.environ:
    DATABASES = {
        "default": {
            **DATABASES["default"],
            "TEST": {"NAME": os.path.join(tempfile.gettempdir(), f"readerstudy-test-{os.getpid()}.sqlite3")},
        }
    }

DEBUG = False
SECRET_KEY = "test-suite-key-not-secret"  # noqa: S105 (tests only)
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# tests/conftest.py points MEDIA_ROOT at a fresh temporary folder for every test.
MEDIA_ROOT = Path(
    os.environ.get("READERSTUDY_MEDIA_ROOT") or os.path.join(tempfile.gettempdir(), "readerstudy-test-media")
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
READERSTUDY_DEMO_ACCOUNTS = True
# Axes stays on (tests/test_login_protection.py locks accounts for real); only Django's test
# Client.login(), which passes no request, skips its check.
AUTHENTICATION_BACKENDS = [
    "tests.auth_backends.AxesBackendAllowingClientLogin",
    "django.contrib.auth.backends.ModelBackend",
]
