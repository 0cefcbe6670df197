"""Demo and development settings: DEBUG on, embedded defaults, demo accounts allowed."""

import os

from .base import *  # noqa: F403

DEBUG = True
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "local-demo-only-insecure-key-never-use-in-production")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

# Only these settings let `load_demo` create the demo accounts with password "demo".
READERSTUDY_DEMO_ACCOUNTS = True
