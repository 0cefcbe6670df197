"""Reads of reference sets, drafts, discrepancies and finals (writes: ``references.services``).
Views check ``references.policy`` before calling these: readers of a study never reach them."""

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from readerstudy.references import compare as reference_compare
from readerstudy.references.models import ReferenceSet, ReferenceStandard
from readerstudy.studies.models import Case, Study
from readerstudy.studies.policy import reads_study


def study_references(study: Study) -> QuerySet[ReferenceStandard]:
    """The final version of every case in every reference set of the study, set by set
    (by source, newest version first), then by case."""
    return (
        ReferenceStandard.objects.filter(case__study=study, kind=ReferenceStandard.Kind.FINAL)
        .select_related("case", "reference_set")
        .prefetch_related("lesions", "findings")
        .order_by("reference_set__source", "-reference_set__version", "case__code")
    )


@dataclass(frozen=True)
class ReferenceCaseProgress:
    """Where one case stands in a reference set: the reviewers' drafts and the final version."""

    case: Case
    drafts: list[ReferenceStandard]
    final: ReferenceStandard | None

    @property
    def submitted(self) -> int:
        return sum(1 for draft in self.drafts if draft.submitted_at is not None)

    @property
    def ready(self) -> bool:
        """Every draft started is submitted (and there is one): the case can be adjudicated."""
        return bool(self.drafts) and self.submitted == len(self.drafts)


@dataclass(frozen=True)
class ReferenceSetOverview:
    """One reference set of a study with its reviewers and the progress of every case."""

    reference_set: ReferenceSet
    reviewers: list
    cases: list[ReferenceCaseProgress]

    @property
    def finals(self) -> int:
        return sum(1 for row in self.cases if row.final is not None)

    @property
    def drafts_submitted(self) -> int:
        return sum(row.submitted for row in self.cases)

    @property
    def drafts_expected(self) -> int:
        return len(self.reviewers) * len(self.cases)


def reference_sets_overview(study: Study) -> list[ReferenceSetOverview]:
    """Every reference set of the study (by source, newest version first) and its cases.

    A set with reviewers lists every case of the study; an imported set the cases it has finals for.
    """
    sets = list(
        study.reference_sets.select_related("adjudicator", "created_by", "locked_by")
        .prefetch_related("reviewers")
        .order_by("source", "-version")
    )
    finals = {(final.reference_set_id, final.case_id): final for final in study_references(study)}
    drafts: dict[tuple[int, int], list[ReferenceStandard]] = {}
    for draft in (
        ReferenceStandard.objects.filter(reference_set__study=study, kind=ReferenceStandard.Kind.DRAFT)
        .select_related("author")
        .order_by("author__username")
    ):
        drafts.setdefault((draft.reference_set_id, draft.case_id), []).append(draft)
    cases = list(study.cases.order_by("code"))
    overview = []
    for reference_set in sets:
        reviewers = sorted(reference_set.reviewers.all(), key=lambda user: user.get_username())
        rows = [
            ReferenceCaseProgress(
                case, drafts.get((reference_set.pk, case.pk), []), finals.get((reference_set.pk, case.pk))
            )
            for case in cases
            if reviewers or (reference_set.pk, case.pk) in finals
        ]
        overview.append(ReferenceSetOverview(reference_set, reviewers, rows))
    return overview


def reference_sets_for_user(user) -> list[ReferenceSet]:
    """Open sets the user reviews or adjudicates, never one of a study the user reads in."""
    sets = (
        ReferenceSet.objects.filter(status=ReferenceSet.Status.OPEN)
        .filter(Q(reviewers=user) | Q(adjudicator=user))
        .distinct()
        .select_related("study")
        .order_by("study__name", "source", "-version")
    )
    return [s for s in sets if not reads_study(user, s.study)]


@dataclass(frozen=True)
class ReviewerCase:
    """A case as a reviewer sees it in their list: their own draft, if started."""

    case: Case
    draft: ReferenceStandard | None
    has_images: bool


def reference_reviewer_cases(reference_set: ReferenceSet, user) -> list[ReviewerCase]:
    """Every case of the set's study with the user's own draft (never anybody else's)."""
    own = {
        draft.case_id: draft
        for draft in reference_set.standards.filter(kind=ReferenceStandard.Kind.DRAFT, author=user)
    }
    cases = reference_set.study.cases.annotate(n_series=Count("series")).order_by("code")
    return [ReviewerCase(case, own.get(case.pk), case.n_series > 0) for case in cases]


def reference_draft_for_request(public_id) -> ReferenceStandard:
    """A draft with what its pages need; raises ReferenceStandard.DoesNotExist."""
    return ReferenceStandard.objects.select_related(
        "reference_set__study", "case", "author", "series__case__study"
    ).get(public_id=public_id, kind=ReferenceStandard.Kind.DRAFT)


def reference_case_drafts(reference_set: ReferenceSet, case: Case) -> QuerySet[ReferenceStandard]:
    """The reviewers' drafts of one case in a set, with their lesions and findings."""
    return (
        reference_set.standards.filter(case=case, kind=ReferenceStandard.Kind.DRAFT)
        .select_related("author", "series", "case")
        .prefetch_related("lesions", "findings")
        .order_by("author__username", "pk")
    )


def draft_reviewer_name(draft: ReferenceStandard) -> str:
    """The username of the reviewer who writes the draft (only finals have no author)."""
    assert draft.author is not None, "every draft has its reviewer as author"
    return draft.author.get_username()


def reference_compare_draft(draft: ReferenceStandard) -> reference_compare.Draft:
    """A stored draft as ``references.compare`` takes it (named by its id)."""
    return reference_compare.Draft(
        name=str(draft.pk),
        is_abnormal=draft.is_abnormal,
        lesions=tuple(
            reference_compare.LesionDraft(
                label=lesion.label,
                x_mm=lesion.x_mm,
                y_mm=lesion.y_mm,
                z_mm=lesion.z_mm,
                size_mm=lesion.size_mm,
                lesion_type=lesion.lesion_type,
                slice_index=lesion.slice_index,
                x=lesion.x,
                y=lesion.y,
            )
            for lesion in sorted(draft.lesions.all(), key=lambda lesion: lesion.label)
        ),
        findings={finding.key: (finding.present, finding.grade) for finding in draft.findings.all()},
    )


@dataclass(frozen=True)
class OptionView:
    """An option of a discrepancy with the names of the reviewers who gave it."""

    option: reference_compare.Option
    reviewers: list[str]


@dataclass(frozen=True)
class ItemView:
    """An item of the comparison with a title for people (the question's text for findings)."""

    item: reference_compare.Item
    title: str
    options: list[OptionView]


@dataclass(frozen=True)
class CaseDiscrepancies:
    """The drafts of one case compared: discrepancies with the reviewers' options, agreed items."""

    reference_set: ReferenceSet
    case: Case
    submitted: list[ReferenceStandard]
    drafting: list[ReferenceStandard]
    not_started: list
    comparison: reference_compare.Comparison | None
    discrepancies: list[ItemView]
    agreed: list[ItemView]
    final: ReferenceStandard | None
    adjudication: dict | None

    @property
    def ready(self) -> bool:
        """Whether the case can be adjudicated: submitted drafts and none still being drafted."""
        return bool(self.submitted) and not self.drafting

    @property
    def stale(self) -> bool:
        """Whether the final was made from other drafts than the case has now."""
        if self.final is None or self.adjudication is None:
            return False
        return self.adjudication.get("drafts") != sorted(d.pk for d in self.submitted + self.drafting)


def _item_title(item: reference_compare.Item, questions: dict[str, str]) -> str:
    if item.kind == reference_compare.ABNORMAL:
        return "Case abnormal"
    number = item.key.split(":", 1)[1]
    if item.kind == reference_compare.FINDING:
        return questions.get(number, number)
    return f"Lesion {number}"


def reference_discrepancies(reference_set: ReferenceSet, case: Case) -> CaseDiscrepancies:
    """Compare the submitted drafts of a case (``references.compare``): what the adjudicator decides."""
    drafts = list(reference_case_drafts(reference_set, case))
    submitted = [d for d in drafts if d.submitted_at is not None]
    drafting = [d for d in drafts if d.submitted_at is None]
    started = {d.author_id for d in drafts}
    not_started = [user for user in reference_set.reviewers.order_by("username") if user.pk not in started]
    comparison = None
    if submitted:
        comparison = reference_compare.compare_drafts([reference_compare_draft(d) for d in submitted])
    reviewer_of = {str(d.pk): draft_reviewer_name(d) for d in submitted}
    questions = dict(reference_set.study.questions.values_list("key", "text"))

    def view(item: reference_compare.Item) -> ItemView:
        options = [OptionView(o, [reviewer_of[name] for name in o.drafts]) for o in item.options]
        return ItemView(item, _item_title(item, questions), options)

    final = reference_final(reference_set, case)
    return CaseDiscrepancies(
        reference_set=reference_set,
        case=case,
        submitted=submitted,
        drafting=drafting,
        not_started=not_started,
        comparison=comparison,
        discrepancies=[view(item) for item in comparison.discrepancies] if comparison else [],
        agreed=[view(item) for item in comparison.agreed] if comparison else [],
        final=final,
        adjudication=reference_set.provenance.get("adjudications", {}).get(case.code)
        or reference_set.provenance.get("cases", {}).get(case.code, {}).get("adjudication"),
    )


def reference_final(reference_set: ReferenceSet, case: Case) -> ReferenceStandard | None:
    """The final version of a case in a set, with its lesions and findings; None before adjudication."""
    return (
        reference_set.standards.filter(case=case, kind=ReferenceStandard.Kind.FINAL)
        .select_related("case", "series")
        .prefetch_related("lesions", "findings")
        .first()
    )
