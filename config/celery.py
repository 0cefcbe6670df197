"""The Celery application: runs the platform's background jobs on worker machines.

Used only when ``CELERY_BROKER_URL`` is set (e.g. a Redis broker); without it jobs run
in-process (``readerstudy.jobs``). Start a worker with::

    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 .venv/bin/celery -A config worker -l info

Settings are the Django settings named ``CELERY_*`` (``config/settings/base.py``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
