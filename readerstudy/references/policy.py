"""Who may see and make reference standards.

Readers never see references: every rule here refuses a user who reads in the study (an
active participation), whatever other role they hold, superusers included.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from readerstudy.references.models import ReferenceSet, ReferenceStandard
from readerstudy.references.selectors import reference_draft_for_request
from readerstudy.studies.models import Study
from readerstudy.studies.policy import User, can_coordinate, can_view_results, reads_study


def can_manage_references(user: User, study: Study) -> bool:
    """Create reference sets, import external references, lock sets, follow the drafts and
    their discrepancies: coordinators of the study."""
    return can_coordinate(user, study) and not reads_study(user, study)


def can_view_references(user: User, study: Study) -> bool:
    """See the reference sets of the study and their final versions: coordinators and
    statisticians of the study."""
    return (can_coordinate(user, study) or can_view_results(user, study)) and not reads_study(user, study)


def can_draft_reference(user: User, reference_set: ReferenceSet) -> bool:
    """Draft cases in the set: its reviewers, while the set is open."""
    return (
        user.is_authenticated
        and not reference_set.locked
        and reference_set.reviewers.filter(pk=user.pk).exists()
        and not reads_study(user, reference_set.study)
    )


def can_open_draft(user: User, draft: ReferenceStandard) -> bool:
    """Open a draft (its page, its images, its lesions): only its own reviewer, while the set is open."""
    return (
        draft.kind == ReferenceStandard.Kind.DRAFT
        and draft.author_id == user.pk
        and can_draft_reference(user, draft.reference_set)
    )


def can_adjudicate_reference(user: User, reference_set: ReferenceSet) -> bool:
    """Settle the discrepancies of the set's drafts into finals: the set's adjudicator, or a
    coordinator of the study when the set names none; only while the set is open."""
    if not user.is_authenticated or reference_set.locked or reads_study(user, reference_set.study):
        return False
    if reference_set.adjudicator_id is not None:
        return reference_set.adjudicator_id == user.pk
    return can_coordinate(user, reference_set.study)


# ----------------------------------------------------------------------------- access


def reference_set_for_request(request: HttpRequest, set_id: int, *, allowed) -> ReferenceSet:
    """The set if ``allowed(user, set)``; 404 for unknown ids, 403 otherwise."""
    reference_set = get_object_or_404(ReferenceSet.objects.select_related("study", "adjudicator"), pk=set_id)
    if not allowed(request.user, reference_set):
        raise PermissionDenied
    return reference_set


def draft_for_reviewer_request(request: HttpRequest, public_id) -> ReferenceStandard:
    """The draft if it is the user's own in an open set; 404 otherwise (no existence leak)."""
    try:
        draft = reference_draft_for_request(public_id)
    except ReferenceStandard.DoesNotExist:
        raise Http404 from None
    if not can_open_draft(request.user, draft) or draft.series is None:
        raise Http404
    return draft
