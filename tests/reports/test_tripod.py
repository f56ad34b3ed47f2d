"""The TRIPOD+AI checklist: every item under its number, filled ones quoting the run, the rest marked."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from benchmarks.store import load_run
from reports import tripod as TR
from reports.comparisons import performance_frame, pool_predictions, ranked_models
from reports.formatting import fmt_ci


@pytest.fixture(scope="module")
def fake(make_fake_run, tmp_path_factory):
    run_dir = make_fake_run(tmp_path_factory.mktemp("tripod") / "run", n_patients=80, n_repeats=1)
    prov_path = run_dir / "provenance.json"
    prov = json.loads(prov_path.read_text(encoding="utf-8"))
    prov["config"] = {"folds": 5, "repeats": 1, "inner_splits": 3, "n_trials": 7, "estimators": ["enet", "rf"],
                      "fusions": ["single", "early"], "n": None, "validation": "cv"}  # fmt: skip
    prov["cohort"] = {"n_patients": 80, "hash": "feedbeef12345678", "path": "/data/my_cd_cohort"}
    prov_path.write_text(json.dumps(prov), encoding="utf-8")
    run = load_run(run_dir)
    perf = performance_frame(pool_predictions(run["predictions"]), run["tasks"], n_boot=0)
    tables = run_dir / "report" / "tables"
    tables.mkdir(parents=True)
    return run_dir, run, perf, tables


def _items(fake, **kw) -> dict[str, TR.TripodItem]:
    run_dir, run, perf, tables = fake
    items = TR.tripod_checklist(run, perf, run_dir=run_dir, tables_dir=tables, **kw)
    return {i.item: i for i in items}


def test_every_item_of_the_checklist_appears_once_in_order(fake):
    run_dir, run, perf, tables = fake
    items = TR.tripod_checklist(run, perf, run_dir=run_dir, tables_dir=tables)
    assert [i.item for i in items] == [n for n, _, _ in TR.TRIPOD_AI_ITEMS]
    assert len(items) == 52
    # the 27 numbered items of TRIPOD+AI, with their parts a, b, c... in order
    numbers = [int(re.match(r"\d+", i.item).group()) for i in items]
    assert sorted(set(numbers)) == list(range(1, 28)) and numbers == sorted(numbers)
    assert {i.item for i in items} >= {"5b", "12c", "12g", "18f", "20a", "23a", "23b", "27c"}
    assert all(i.status in TR.STATUSES and i.text for i in items)
    md = TR.tripod_markdown(items, run_name="run")
    for i in items:
        assert f"| {i.item} | " in md
    assert "(of 52 items)" in md
    tex = TR.tripod_table(items).to_latex()
    assert r"\begin{longtable}" in tex and "TRIPOD{+}AI" in tex


def test_filled_items_quote_the_runs_values(fake):
    run_dir, run, perf, tables = fake
    it = _items(fake)
    tasks = run["tasks"]
    # participants: the cohort size and each task's class counts from tasks.json
    assert it["20a"].status == TR.FILLED
    assert "80 patients in the cohort" in it["20a"].text
    for spec in tasks.values():
        for k, v in spec["class_counts"].items():
            assert f"{spec['class_names'][int(k)]}: {v}" in it["20a"].text
    # code and versions
    prov = run["provenance"]
    assert prov["git"]["commit"] in it["18f"].text and "scikit-learn 1.9.1" in it["18f"].text
    assert f"seed {prov['seed']}" in it["18f"].text
    # model building and internal validation from the stored configuration
    assert "7 trials" in it["12c"].text and "enet, rf" in it["12c"].text
    assert "5 outer folds" in it["12a"].text and "3-fold inner" in it["12a"].text
    # performance with its CI, the best model of each task as the report ranks it
    for task in perf["task"].unique():
        best = ranked_models(perf, task).iloc[0]
        assert (
            f"{best['model']}, AUC {fmt_ci(best['auc'], best['auc_low'], best['auc_high'])}" in it["23a"].text
        )
    # missing data: the one definition of having a modality, with the run's counts
    cohort = run["cohort_summary"]
    n_img = int(cohort["features_imaging"].sum())
    assert f"imaging: {n_img} of 80 have it ({80 - n_img} missing)" in it["11"].text
    # a user's cohort is named by its folder, never as synthetic
    assert "my_cd_cohort" in it["5a"].text and "synthetic" not in it["5a"].text
    # eligibility: patients without an endpoint are counted
    assert "0 without it left out" in it["6b"].text


def test_unfilled_items_are_marked_for_the_authors(fake):
    it = _items(fake)
    for number in (
        "2",
        "3a",
        "3b",
        "3c",
        "6c",
        "8b",
        "8c",
        "17",
        "18a",
        "18b",
        "18c",
        "18d",
        "18e",
        "19",
        "25",
    ):
        assert it[number].status == TR.AUTHORS
        assert it[number].text.startswith("To be completed by the authors: ")
    # partly filled items say what the run gives and what the authors must add
    for number in ("1", "5a", "6b", "8a", "10", "18f", "22"):
        assert it[number].status == TR.PARTLY and "To be completed by the authors" in it[number].text


def test_statistics_of_other_modules_are_pointed_to_or_not_computed(fake):
    run_dir, run, perf, tables = fake
    it = _items(fake)
    assert it["23b"].status == TR.NOT_COMPUTED and "not computed in this run" in it["23b"].text
    assert "calibration: not computed in this run" in it["23a"].text
    assert "decision curves: not computed in this run" in it["23a"].text
    for stem in ("calibration", "decision_curve", "transport"):
        pd.DataFrame({"x": [1]}).to_csv(tables / f"{stem}.csv", index=False)
    try:
        it = _items(fake)
        assert it["23b"].status == TR.FILLED and "report/tables/transport.csv" in it["23b"].text
        assert "calibration: report/tables/calibration.csv" in it["23a"].text
        assert "report/tables/decision_curve.csv" in it["12e"].text
    finally:
        for stem in ("calibration", "decision_curve", "transport"):
            (tables / f"{stem}.csv").unlink()


def test_dates_come_from_the_selection_table(fake):
    run_dir, run, perf, tables = fake
    assert "carry no dates" in _items(fake)["5b"].text
    sel = pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3"],
            "modality": ["imaging", "imaging", "pro"],
            "date": ["2021-03-04", "2019-11-30", None],
        }  # fmt: skip
    )
    sel.to_parquet(run_dir / "selection.parquet", index=False)
    try:
        text = _items(fake)["5b"].text
        assert "imaging: 2019-11-30 to 2021-03-04 (2 of 2 rows dated)" in text
        assert _items(fake)["5b"].status == TR.PARTLY
    finally:
        (run_dir / "selection.parquet").unlink()
