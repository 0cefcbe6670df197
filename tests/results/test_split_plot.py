"""A split-plot study end to end: scheduled by the generator with two reader groups (through
design.services, as the schedule page does), read through the reading services, locked, and
analysed on the results page by the split-plot OR analysis instead of being refused."""

import pytest
from django.urls import reverse

from readerstudy.demo import demo_study_create
from readerstudy.design.services import schedule_activate, schedule_draft_create
from readerstudy.reading.models import Reading
from readerstudy.studies.models import Study
from readerstudy.studies.services import study_lock
from stats.study_record import read_bundle
from stats.study_tables import NO_READINGS, analyse_study, tables_csv
from tests import factories as f
from tests.results.test_results import simulate_readers

pytestmark = pytest.mark.django_db


@pytest.fixture
def split_study(settings) -> Study:
    """The demo's two-phase study with 16 cases and four readers, rescheduled split-plot."""
    settings.READERSTUDY_DEMO_ACCOUNTS = True
    study = demo_study_create(n_cases=16, slices=16)
    f.ReaderParticipationFactory(study=study, code="R4", user__username="reader4")
    coordinator = study.coordinators.get()
    for phase in study.phases.order_by("order"):
        draft = schedule_draft_create(
            study=study,
            phase=phase,
            actor=coordinator,
            seed=11,
            kind="split_plot",
            n_groups=2,
            stratify_by="lesion_count",
            reason="Two reader groups, each reading half of the cases.",
        )
        assert not draft.problems, draft.problems
        schedule_activate(schedule=draft, actor=coordinator)
    simulate_readers(study)
    return study


def _scheduled_groups(study: Study) -> set[frozenset[str]]:
    """The reader groups as the schedule made them: readers who read the same cases."""
    cases_of: dict[str, set[str]] = {}
    for code, case in Reading.objects.filter(session__participation__study=study).values_list(
        "session__participation__code", "series__case__code"
    ):
        cases_of.setdefault(code, set()).add(case)
    return {frozenset(r for r in cases_of if cases_of[r] == cases) for cases in cases_of.values()}


def test_a_split_plot_study_is_analysed_by_the_split_plot_or(client, split_study, tmp_path):
    groups = _scheduled_groups(split_study)
    assert len(groups) == 2 and sorted(map(len, groups)) == [2, 2]
    assert study_lock(study=split_study, actor=split_study.coordinators.get()) == 0
    client.login(username=split_study.statisticians.get().username, password="demo")
    page = client.get(reverse("readerstudy:study_analysis", args=[split_study.slug]))
    assert page.status_code == 200
    analysis = page.context["analysis"]
    html = page.content.decode()

    assert NO_READINGS not in analysis.notes
    assert analysis.mrmc is not None and analysis.mrmc.method == "split-plot OR, 2 reader groups"
    assert {frozenset(readers) for readers, _ in analysis.mrmc.groups} == groups
    # the groups' case subsets are disjoint and cover the 16 cases
    cases = [c for _, subset in analysis.mrmc.groups for c in subset]
    assert (
        len(cases) == len(set(cases)) == 16 - sum(1 for n in analysis.notes if "without located lesions" in n)
    )
    assert "split-plot OR, 2 reader groups" in analysis.tables["jafroc_tests"].title
    assert "split-plot OR, 2 reader groups" in html
    design = {row["item"]: row for row in analysis.tables["design"].as_dicts()}
    assert design["reader groups (split-plot)"]["count"] == 2
    assert design["cases read by every reader in every condition"]["count"] == 0

    rrrc = [row for row in analysis.tables["jafroc_tests"].as_dicts() if row["analysis"] == "RRRC"]
    assert len(rrrc) == 3  # HR, LR, SR: every pair
    result = analysis.mrmc.tests["RRRC"]
    assert result.ddf > 0 and 0 <= result.p <= 1
    assert {row["p"] for row in rrrc} == {d.p for d in result.differences}
    fom_rows = {row["reader"]: row for row in analysis.tables["jafroc_fom"].as_dicts()}
    assert set(fom_rows) == {"R1", "R2", "R3", "R4", "Average"}
    # HR was read better than LR by construction (tests.results.test_results.FIND)
    assert fom_rows["Average"]["HR"] > fom_rows["Average"]["LR"]
    assert any("case-level ROC" in note for note in analysis.notes)

    # RJafroc's workbook cannot hold reader groups: the export says so instead of a wrong file
    export = client.get(
        reverse("readerstudy:study_export", args=[split_study.slug, "rjafroc.xlsx"]), follow=True
    )
    assert export.redirect_chain and "This is a split-plot study" in export.content.decode()

    # The reproducibility bundle re-creates the same split-plot tables outside the platform.
    bundle = tmp_path / "bundle.zip"
    response = client.get(reverse("readerstudy:study_export", args=[split_study.slug, "bundle.zip"]))
    assert response.status_code == 200
    bundle.write_bytes(response.content)
    again = analyse_study(read_bundle(bundle))
    assert tables_csv(again) == tables_csv(analysis)
    assert again.mrmc is not None and again.mrmc.method == "split-plot OR, 2 reader groups"
