"""An incomplete crossed study: one reader skipped some cases. The complete-case analyses leave
those cases out; ``roc_all_reads`` analyses the case-level ROC on every submitted reading, and
equals stats.ustat run directly on the readings and marks."""

import numpy as np
import pytest
from django.urls import reverse

from readerstudy.demo import demo_study_create
from readerstudy.reading.models import Reading
from readerstudy.studies.services import study_lock
from stats.dataset import NO_MARK, roc_study
from stats.study_record import read_bundle
from stats.study_tables import analyse_study, tables_csv
from stats.ustat import METHOD, ustat_analysis
from tests.results.test_results import simulate_readers

pytestmark = pytest.mark.django_db

SKIPPED = ("R2", ("01", "04", "06"))  # reader R2 never read BM01, BM04, BM06, in any condition


@pytest.fixture
def incomplete(settings):
    settings.READERSTUDY_DEMO_ACCOUNTS = True
    study = demo_study_create(n_cases=10, slices=16)
    reader, endings = SKIPPED

    def skip(reading: Reading) -> bool:
        return reading.session.participation.code == reader and reading.series.case.code.endswith(endings)

    simulate_readers(study, skip=skip)
    assert study_lock(study=study, actor=study.coordinators.get()) > 0  # the skipped readings
    return study


def test_all_reads_table_of_an_incomplete_study(client, incomplete, tmp_path):
    client.login(username=incomplete.statisticians.get().username, password="demo")
    page = client.get(reverse("readerstudy:study_analysis", args=[incomplete.slug]))
    assert page.status_code == 200
    analysis = page.context["analysis"]
    html = page.content.decode()
    assert "roc_all_reads" in analysis.tables and "roc_mrmc" in analysis.tables
    assert analysis.tables["roc_all_reads"].title in html

    design = {row["item"]: row for row in analysis.tables["design"].as_dicts()}
    incomplete_row = design["incomplete: cases not read by every reader in every condition"]
    assert incomplete_row["count"] >= 3 and "roc_all_reads" in incomplete_row["detail"]

    # stats.ustat directly on the record: each submitted reading rated by its highest mark.
    bundle = tmp_path / "bundle.zip"
    response = client.get(reverse("readerstudy:study_export", args=[incomplete.slug, "bundle.zip"]))
    bundle.write_bytes(response.content)
    record = read_bundle(bundle)
    with_lesions = {row["case"] for row in record.lesions}
    flagged = {row["case"]: row["abnormal"] for row in record.cases}
    read = {(r["condition"], r["reader"], r["case"]) for r in record.readings}
    cases = sorted({case for _, _, case in read if not flagged[case] or case in with_lesions})
    normal = [c for c in cases if c not in with_lesions]
    ordered = normal + [c for c in cases if c in with_lesions]
    conditions, readers = record.condition_ids, record.reader_ids
    highest: dict[tuple[str, str, str], float] = {}
    for m in record.marks:
        key = (m["condition"], m["reader"], m["case"])
        highest[key] = max(highest.get(key, NO_MARK), m["rating"])
    ratings = np.array(
        [[[highest.get((c, r, k), NO_MARK) for k in ordered] for r in readers] for c in conditions]
    )
    mask = np.array([[[(c, r, k) in read for k in ordered] for r in readers] for c in conditions])
    assert not mask.all()
    want = ustat_analysis(roc_study(ratings, len(normal), conditions, readers), mask)

    rows = {row["comparison"]: row for row in analysis.tables["roc_all_reads"].as_dicts()}
    assert len(rows) == len(want.differences) == 3  # HR, LR, SR: every pair
    for d in want.differences:
        row = rows[" - ".join(d.modalities)]
        assert row["difference"] == pytest.approx(d.estimate, abs=1e-12)
        assert row["stderr"] == pytest.approx(d.stderr, abs=1e-12, nan_ok=True)
        assert row["p"] == pytest.approx(d.p, abs=1e-12, nan_ok=True)
    per_condition = {row["condition"]: row for row in analysis.tables["roc_all_reads_auc"].as_dicts()}
    for m in want.modalities:
        assert per_condition[m.modality]["auc"] == pytest.approx(m.auc, abs=1e-12)
        assert per_condition[m.modality]["readings"] == m.reads
    # every submitted reading of the analysed cases is used, more than the complete cases give
    used = sum(1 for c, r, k in read if k in ordered)
    assert want.reads == used
    assert analysis.froc is not None
    complete = int(np.prod(analysis.froc.shape))  # the complete-case analyses' readings
    assert complete < used
    note = analysis.tables["roc_all_reads"].notes[0]
    assert METHOD in note and f"all {used} submitted readings" in note and f"use {complete} readings" in note
    assert tables_csv(analyse_study(record)) == tables_csv(analysis)
