"""Reading and answering JSON in the small APIs the pages' scripts autosave through."""

import json

from django.http import HttpRequest, JsonResponse


def json_error(message: str, status: int = 400) -> JsonResponse:
    """An error the script shows to its user: ``{"error": message}``."""
    return JsonResponse({"error": message}, status=status)


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object; raises ValueError with a message for the client otherwise."""
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ValueError("The request body must be a JSON object.")
    return data


def is_number(value: object) -> bool:
    """An int or float from JSON (``true``/``false`` are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
