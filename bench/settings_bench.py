"""Settings for bench/workstation.py: the local settings served like production, over plain HTTP.

DEBUG is off and the static files are served as in production: collected
(``bench/workstation.py`` runs ``collectstatic`` into the benchmark's own folder) with
WhiteNoise's compressed manifest storage, so the bundles go out hashed and gzipped.
Not for real use: the secret key and the demo-account switch come from the local settings.
"""

from config.settings.local import *  # noqa: F403
from config.settings.local import MIDDLEWARE as LOCAL_MIDDLEWARE

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# WhiteNoise right after the security middleware, as in config/settings/production.py.
MIDDLEWARE = [LOCAL_MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *LOCAL_MIDDLEWARE[1:]]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Only warnings and errors in the server log (every request would otherwise be logged).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
