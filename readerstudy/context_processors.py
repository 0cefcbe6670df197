"""Template context shared by every page."""

from django.http import HttpRequest

from .roles import user_roles


def roles(request: HttpRequest) -> dict[str, object]:
    """The current user's platform roles, for navigation."""
    user = getattr(request, "user", None)
    if user is None:
        return {"user_roles": []}
    return {"user_roles": user_roles(user)}
