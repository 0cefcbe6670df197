"""Who may manage a study's standalone algorithms.

Their outputs are marks and ratings on the study's cases under labelled conditions: never for a
reader of the study (an algorithm's marks would tell them where to look), whatever other role
they hold.
"""

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from readerstudy.standalone.models import StandaloneAlgorithm
from readerstudy.studies.models import Study
from readerstudy.studies.policy import User, can_coordinate, reads_study, study_for_request


def can_manage_standalone(user: User, study: Study) -> bool:
    """See, make, import and delete the study's standalone algorithms: its coordinators who do not
    read in it."""
    return can_coordinate(user, study) and not reads_study(user, study)


def algorithm_for_request(request: HttpRequest, slug: str, algorithm_id: int) -> StandaloneAlgorithm:
    """The algorithm of the study if the user manages it; 403 for the study, 404 for another's algorithm."""
    study = study_for_request(request, slug, allowed=can_manage_standalone)
    algorithm = get_object_or_404(StandaloneAlgorithm.objects.select_related("study"), pk=algorithm_id)
    if algorithm.study_id != study.pk:
        raise Http404
    return algorithm
