"""The platform's roles and the study-level rules (coordinate a study, view its results).

Each domain keeps its own access rules beside it, built on these: ``reading.policy`` (the one
rule for a reader's access to a reading), ``references.policy``, ``measurements.policy``.

Three roles, each a Django group of the same name:

* ``coordinator``: configures studies (conditions, cases, readers, questions,
  references, imports); within a study only if listed in ``Study.coordinators``.
  Coordinators never see readers' scores.
* ``reader``: reads the series of their own readings; never sees condition
  labels, references, or anybody else's readings.
* ``statistician``: reads the unblinded results of the studies they are listed on
  (``Study.statisticians``) and may set their analysis settings; changes nothing else.

Superusers pass every check.
"""

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from readerstudy.studies.models import ReaderParticipation, Study

COORDINATOR = "coordinator"
READER = "reader"
STATISTICIAN = "statistician"
ROLES = (COORDINATOR, READER, STATISTICIAN)
User = AbstractUser | AnonymousUser


def has_role(user: User, role: str) -> bool:
    """Whether the user holds a platform-wide role (is in the group of that name)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_readerstudy_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        vars(user)["_readerstudy_roles"] = cached
    return role in cached


def user_roles(user: User) -> list[str]:
    """The roles a user holds, in the fixed order of ``ROLES``."""
    return [role for role in ROLES if has_role(user, role)]


def can_create_study(user: User) -> bool:
    return has_role(user, COORDINATOR)


def can_coordinate(user: User, study: Study) -> bool:
    """Configure the study and see its unblinded set-up (labels, identities, references)."""
    if not has_role(user, COORDINATOR):
        return False
    return user.is_superuser or study.coordinators.filter(pk=user.pk).exists()  # type: ignore[misc]  # pk is set: has_role passed


def reads_study(user: User, study: Study) -> bool:
    """Whether the user is an active reader of the study."""
    if not user.is_authenticated:
        return False
    return ReaderParticipation.objects.filter(study=study, user_id=user.pk, active=True).exists()


def study_for_request(request: HttpRequest, slug: str, *, allowed) -> Study:
    """The study if ``allowed(user, study)``; 404 for unknown slugs, 403 otherwise."""
    study = get_object_or_404(Study, slug=slug)
    if not allowed(request.user, study):
        raise PermissionDenied
    return study


def can_view_results(user: User, study: Study) -> bool:
    """See readers' answers and marks with condition labels (the analysis)."""
    if not has_role(user, STATISTICIAN):
        return False
    return user.is_superuser or study.statisticians.filter(pk=user.pk).exists()  # type: ignore[misc]  # pk is set: has_role passed


def can_set_analysis_settings(user: User, study: Study) -> bool:
    """Choose how the study's results are analysed (matching radius, strata, FOM): its
    coordinators and statisticians."""
    return can_coordinate(user, study) or can_view_results(user, study)
