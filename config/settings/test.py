"""Settings for the test suite: real database (SQLite, or DATABASE_URL), fast hashing."""

import os
import tempfile

from .base import *  # noqa: F403
from .base import DATABASES

# Without DATABASE_URL the suite runs on an in-memory SQLite database (nothing on disk).
if "DATABASE_URL" not in os.environ:
    DATABASES = {"default": {**DATABASES["default"], "NAME": ":memory:"}}

DEBUG = False
SECRET_KEY = "test-suite-key-not-secret"  # noqa: S105 (tests only)
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# tests/conftest.py points MEDIA_ROOT at a fresh temporary folder for every test.
MEDIA_ROOT = os.environ.get("READERSTUDY_MEDIA_ROOT") or os.path.join(
    tempfile.gettempdir(), "readerstudy-test-media"
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
READERSTUDY_DEMO_ACCOUNTS = True
