"""How refusals reach people: styled pages for browsers, ``{"error": ...}`` for the scripts' APIs.

``config/urls.py`` installs the handlers below for 400, 403, 404 and 500.

Services refuse with a subclass of :class:`ServiceError`, whose message is written for the user
and whose ``status`` is the HTTP status to answer with. A view that has a form or a page to show
the message on catches ``ServiceError``; any other reaches ``RefusalMiddleware``, the one place
that answers it (``{"error": message}`` on the API, the styled refusal page otherwise).
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

#: URL prefixes of the endpoints that the pages' scripts and the DICOMweb client call.
API_PREFIXES = ("/api/", "/dicomweb/")

NOT_FOUND_MESSAGE = "This page does not exist, or it is not yours."


class ServiceError(Exception):
    """A service refused the request; the message (the exception's text) is shown to the user.

    ``status`` is the HTTP status a view answers with: 400 (the request is not valid) unless a
    subclass says otherwise.
    """

    status: int = 400

    @property
    def message(self) -> str:
        """The refusal in words, for the user."""
        return str(self)


class Conflict(ServiceError):
    """The request cannot be done in the object's present state (HTTP 409), e.g. a locked study."""

    status = 409


def is_api_request(request: HttpRequest) -> bool:
    """Whether a script rather than a person reads the answer (so refusals are JSON)."""
    path = request.path
    if path.startswith(API_PREFIXES) or path.endswith(".json"):
        return True
    match = getattr(request, "resolver_match", None)
    if match is not None and (match.url_name or "").startswith("api_"):
        return True
    return request.accepts("application/json") and not request.accepts("text/html")


def json_refusal(message: str, status: int) -> JsonResponse:
    """The API's refusal: ``{"error": message}`` with its HTTP status."""
    return JsonResponse({"error": message}, status=status)


def refusal_response(request: HttpRequest, exception: ServiceError) -> HttpResponse:
    """A service's refusal: JSON for the API, the styled page (with the message) otherwise."""
    if is_api_request(request):
        return json_refusal(exception.message, exception.status)
    body = render_to_string("409.html", {"exception": exception.message}, request=request)
    return HttpResponse(body, status=exception.status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return json_refusal("The request is not valid.", 400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """403 with the exception's message (our views write it for the user) when it has one."""
    if is_api_request(request):
        return json_refusal(str(exception) or "You may not do this.", 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 that never says whether the object exists (someone else's reading looks the same)."""
    if is_api_request(request):
        return json_refusal(NOT_FOUND_MESSAGE, 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500 without the request context (the database may be what failed)."""
    if is_api_request(request):
        return json_refusal("Something went wrong on the server; please try again.", 500)
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused CSRF check: JSON for the API, Django's 403 page (``403_csrf.html``) otherwise."""
    if is_api_request(request):
        return json_refusal("The page's security token expired; reload the page and try again.", 403)
    return django_csrf_failure(request, reason=reason)
