"""Reads of studies (writes: ``studies.services``)."""

from django.db.models import Count, Q, QuerySet

from readerstudy.studies.models import Study


def studies_for_user(user) -> QuerySet[Study]:
    """Studies the user coordinates or analyses (all of them for a superuser)."""
    studies = Study.objects.all()
    if not user.is_superuser:
        studies = studies.filter(Q(coordinators=user) | Q(statisticians=user)).distinct()
    return studies.annotate(
        n_cases=Count("cases", distinct=True),
        n_readers=Count("participations", distinct=True),
    )
