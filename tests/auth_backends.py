"""The authentication backend of the test settings (``config/settings/test.py``)."""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class AxesBackendAllowingClientLogin(AxesStandaloneBackend):
    """Axes' lockout check for every login with a request, as on the real site.

    Django's test ``Client.login()`` calls ``authenticate()`` without a request, which axes
    refuses with an error; that one call is let through to the password check.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
