"""URLs of bench/peer_viewer.py's server: the app's, then OHIF's built viewer at the site root.

OHIF's ``dist/`` is built for the root path (its ``index.html`` and webpack chunks load from
``/``), so its files are served at the root, but only under the names its ``dist/`` folder
has (``app.bundle.*.js``, ``assets/``, ...), after every URL of the app, so no URL of the app
changes. ``/app-config.js`` is the configuration the benchmark wrote; ``/viewer`` (OHIF's
route for ``?StudyInstanceUIDs=``) answers ``index.html``, as OHIF's own deployments do for
its single-page routes. These responses carry no Content-Security-Policy: OHIF's page needs
inline scripts and styles that the app's policy forbids. Not for real use.
"""

import mimetypes
import re
from pathlib import Path

from csp.decorators import csp_exempt
from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, re_path
from django.views.static import serve

from config.urls import handler400, handler403, handler404, handler500
from config.urls import urlpatterns as app_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")

DIST: Path = getattr(settings, "READERSTUDY_BENCH_OHIF_DIST", Path("/nonexistent"))
CONFIG: Path = getattr(settings, "READERSTUDY_BENCH_OHIF_CONFIG", Path("/nonexistent"))
#: OHIF's single-page routes the benchmark opens (each answers index.html).
SPA_ROUTES = ("viewer",)


@csp_exempt()
def ohif_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """A file of OHIF's dist folder (404 outside it)."""
    return serve(request, path, document_root=str(DIST))


@csp_exempt()
def ohif_index(request: HttpRequest, route: str = "") -> HttpResponseBase:
    """OHIF's index.html, for its single-page routes."""
    return FileResponse((DIST / "index.html").open("rb"), content_type="text/html; charset=utf-8")


@csp_exempt()
def ohif_config(request: HttpRequest) -> HttpResponseBase:
    """The app-config.js the benchmark wrote (instead of the one in OHIF's dist)."""
    if not CONFIG.is_file():
        raise Http404("No OHIF configuration was written.")
    return FileResponse(CONFIG.open("rb"), content_type="text/javascript; charset=utf-8")


def _ohif_patterns() -> list[URLPattern]:
    if not (DIST / "index.html").is_file():
        return []
    names = sorted(entry.name for entry in DIST.iterdir() if entry.name != "app-config.js")
    files = "|".join(re.escape(name) for name in names)
    routes = "|".join(re.escape(route) for route in SPA_ROUTES)
    return [
        re_path(r"^app-config\.js$", ohif_config, name="ohif_config"),
        re_path(rf"^(?P<route>{routes})(?:/.*)?$", ohif_index, name="ohif_index"),
        re_path(rf"^(?P<path>(?:{files})(?:/.*)?)$", ohif_file, name="ohif_file"),
    ]


urlpatterns: list[URLPattern | URLResolver] = [*app_urlpatterns, *_ohif_patterns()]
