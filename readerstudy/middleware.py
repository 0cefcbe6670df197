"""Middleware of the reader-study site."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from readerstudy.errors import ServiceError, is_api_request, json_refusal, refusal_response


class RefusalMiddleware:
    """Answers a service's refusal (:class:`~readerstudy.errors.ServiceError`) with its status and
    message, and the API's 405 as JSON.

    Django's ``require_http_methods`` answers a wrong method with an empty 405; on the API
    the scripts read ``{"error": ...}`` instead (the ``Allow`` header is kept).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and is_api_request(request):
            refusal = json_refusal(f"{request.method} is not allowed here.", 405)
            if response.has_header("Allow"):
                refusal["Allow"] = response["Allow"]
            return refusal
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, ServiceError):
            return refusal_response(request, exception)
        return None
