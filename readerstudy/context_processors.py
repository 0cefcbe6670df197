"""Template context shared by every page."""

from django.db.models import Q
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from readerstudy.references.models import ReferenceSet
from readerstudy.studies.policy import user_roles


def roles(request: HttpRequest) -> dict[str, object]:
    """The current user's platform roles, and whether they review references, for navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_roles": [], "reviews_references": False}
    return {
        "user_roles": user_roles(user),
        # Evaluated only when a template asks (one query).
        "reviews_references": SimpleLazyObject(
            lambda: (
                ReferenceSet.objects.filter(status=ReferenceSet.Status.OPEN)
                .filter(Q(reviewers=user) | Q(adjudicator=user))
                .exists()
            )
        ),
    }
