"""Reading and answering JSON in the small APIs the pages' scripts autosave through."""

import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from readerstudy.errors import ServiceError

#: Default upper bounds of a request body: its size in bytes and how deeply it nests.
MAX_BODY_BYTES = 256 * 1024

MAX_DEPTH = 8


class BodyRefused(ServiceError, ValueError):
    """The request body cannot be used; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def json_error(message: str, status: int = 400) -> JsonResponse:
    """An error the script shows to its user: ``{"error": message}``."""
    return JsonResponse({"error": message}, status=status)


def _depth(value: object) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object; raises BodyRefused (a ValueError) with a message otherwise.

    Bodies over ``READERSTUDY_API_MAX_BODY_BYTES`` are refused with 413 before parsing, and
    objects nested deeper than ``READERSTUDY_API_MAX_JSON_DEPTH`` with 400.
    """
    limit = int(getattr(settings, "READERSTUDY_API_MAX_BODY_BYTES", MAX_BODY_BYTES))
    max_depth = int(getattr(settings, "READERSTUDY_API_MAX_JSON_DEPTH", MAX_DEPTH))
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if (declared.isdigit() and int(declared) > limit) or len(request.body) > limit:
        raise BodyRefused(f"The request is too large (at most {limit // 1024} KiB).", status=413)
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BodyRefused("The request body is not valid JSON.") from None
    except RecursionError:
        raise BodyRefused(f"The request body nests deeper than {max_depth} levels.") from None
    if not isinstance(data, dict):
        raise BodyRefused("The request body must be a JSON object.")
    if _depth(data) > max_depth:
        raise BodyRefused(f"The request body nests deeper than {max_depth} levels.")
    return data


def is_number(value: object) -> bool:
    """An int or float from JSON (``true``/``false`` are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
