"""Settings for bench/workstation.py: the local settings served like production, over plain HTTP.

DEBUG is off (as in production), and WhiteNoise serves the static files straight from
their source folders (``WHITENOISE_USE_FINDERS``), so no ``collectstatic`` is needed.
Not for real use: the secret key and the demo-account switch come from the local settings.
"""

from config.settings.local import *  # noqa: F403
from config.settings.local import MIDDLEWARE as LOCAL_MIDDLEWARE

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# WhiteNoise right after the security middleware, as in config/settings/production.py.
MIDDLEWARE = [LOCAL_MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *LOCAL_MIDDLEWARE[1:]]
WHITENOISE_USE_FINDERS = True

# Only warnings and errors in the server log (every request would otherwise be logged).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
