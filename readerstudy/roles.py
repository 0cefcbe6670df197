"""Who may do what: the one place for the platform's permission rules.

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

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .models import ReaderParticipation, Reading, ReferenceSet, ReferenceStandard, Study

COORDINATOR = "coordinator"
READER = "reader"
STATISTICIAN = "statistician"
ROLES = (COORDINATOR, READER, STATISTICIAN)

User = AbstractBaseUser | AnonymousUser


def has_role(user: User, role: str) -> bool:
    """Whether the user holds a platform-wide role (is in the group of that name)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_readerstudy_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._readerstudy_roles = cached
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
    return user.is_superuser or study.coordinators.filter(pk=user.pk).exists()


def can_view_results(user: User, study: Study) -> bool:
    """See readers' answers and marks with condition labels (the analysis)."""
    if not has_role(user, STATISTICIAN):
        return False
    return user.is_superuser or study.statisticians.filter(pk=user.pk).exists()


def can_set_analysis_settings(user: User, study: Study) -> bool:
    """Choose how the study's results are analysed (matching radius, strata, FOM): its
    coordinators and statisticians."""
    return can_coordinate(user, study) or can_view_results(user, study)


def can_read(user: User, reading: Reading) -> bool:
    """Open a reading and the images of its series: the reader's own, active participation,
    in a study whose reading is open. (Whether the session's time window is open is
    checked separately, so that the reader can be told when it opens.)"""
    if not has_role(user, READER):
        return False
    participation = reading.session.participation
    return (
        participation.active
        and participation.user_id == user.pk
        and participation.study.status == Study.Status.ACTIVE
    )


def can_open_in_order(reading: Reading) -> bool:
    """Whether the study's navigation lets the reader open this reading now.

    Free navigation: any reading of the session. Sequential: the submitted ones (to see
    them) and the first unsubmitted one in the reader's order, nothing ahead of it.
    """
    if reading.session.participation.study.navigation == Study.Navigation.FREE:
        return True
    if reading.status == Reading.Status.SUBMITTED:
        return True
    first_open = (
        reading.session.readings.exclude(status=Reading.Status.SUBMITTED).order_by("position").first()
    )
    return first_open is not None and first_open.pk == reading.pk


# ----------------------------------------------------------------------------- reference standard
# Readers never see references: every rule below refuses a user who reads in the study
# (an active participation), whatever other role they hold, superusers included.


def reads_study(user: User, study: Study) -> bool:
    """Whether the user is an active reader of the study."""
    if not user.is_authenticated:
        return False
    return ReaderParticipation.objects.filter(study=study, user_id=user.pk, active=True).exists()


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


# ----------------------------------------------------------------------------- image-quality measurements
# Objective measurements show every condition of a case side by side, with its label:
# never for a reader of the study (as references), whatever other role they hold.


def can_measure(user: User, study: Study) -> bool:
    """Draw and delete measurement ROIs, recompute values, choose the fidelity reference and
    compute image fidelity: coordinators of the study."""
    return can_coordinate(user, study) and not reads_study(user, study)


def can_view_measurements(user: User, study: Study) -> bool:
    """See the measurement pages (images of every condition, ROIs and values) without changing
    anything: coordinators and statisticians of the study."""
    return (can_coordinate(user, study) or can_view_results(user, study)) and not reads_study(user, study)
