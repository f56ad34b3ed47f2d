"""One truth in the report: every table, figure and CSV counts "has a modality" the same way, per-pattern
results show a model only where it has its modalities, the forest plot compares meaningful pairs on the
same patients, LABEL_DERIVED_FROM_FEATURE fires on declared endpoints and on evidence (not on small n)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from benchmarks.cohort.schema import MODALITIES
from benchmarks.experiment.config import ConfigError, load_tasks
from reports import diagnostics as D
from reports.build import build_report
from reports.figures import MAX_CURVES_PER_PANEL
from reports.tables import MODALITY_DEFINITION, NO_ENDPOINT

LOST = 10  # patients whose imaging data gave no features (they have avail_imaging, not features_imaging)
NO_LABEL = 8  # patients without an endpoint (in the cohort, in no task)


def _pattern(row: pd.Series) -> str:
    return "+".join(m for m in MODALITIES if row[f"features_{m}"]) or "none"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, make_fake_run):
    """A fake run in which the file rows, the features and the task's patients all differ, written as a
    run writes them: the predictions' pattern from the features, the tasks without the unlabelled."""
    run_dir = make_fake_run(
        tmp_path_factory.mktemp("consistency") / "run", n_patients=120, n_repeats=1, seed=3
    )
    cohort = pd.read_parquet(run_dir / "cohort_summary.parquet")
    rng = np.random.default_rng(0)
    with_imaging = cohort.index[cohort["avail_imaging"]].to_numpy()
    cohort.loc[rng.choice(with_imaging, LOST, replace=False), "features_imaging"] = False
    unlabelled = rng.choice(cohort.index.to_numpy(), NO_LABEL, replace=False)
    cohort.loc[unlabelled, ["severity", "ses_cd"]] = None
    cohort.to_parquet(run_dir / "cohort_summary.parquet", index=False)
    gone = set(cohort.loc[unlabelled, "patient_id"])
    pattern = dict(zip(cohort["patient_id"], cohort.apply(_pattern, axis=1), strict=True))
    pred = pd.read_parquet(run_dir / "predictions.parquet")
    pred = pred[~pred["patient_id"].isin(gone)].assign(pattern=lambda p: p["patient_id"].map(pattern))
    pred.to_parquet(run_dir / "predictions.parquet", index=False)
    tasks = json.loads((run_dir / "tasks.json").read_text(encoding="utf-8"))
    for task, spec in tasks.items():
        labels = pred[pred["task"] == task].drop_duplicates("patient_id")["y_true"]
        spec["n_patients"] = int(labels.size)
        spec["class_counts"] = {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}
    (run_dir / "tasks.json").write_text(json.dumps(tasks), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def built(run_dir):
    return build_report(run_dir, n_boot=50, seed=0, pdf=shutil.which("pdflatex") is not None)


def _csv(built, name: str) -> pd.DataFrame:
    return pd.read_csv(built.tables[name]["csv"], keep_default_na=False, na_values=[""])


def test_has_a_modality_is_one_number_in_every_output(run_dir, built):
    cohort = pd.read_parquet(run_dir / "cohort_summary.parquet")
    pred = pd.read_parquet(run_dir / "predictions.parquet")
    n_img = int(cohort["features_imaging"].sum())
    assert n_img == int(cohort["avail_imaging"].sum()) - LOST  # the two concepts do differ here
    # cohort level: Table 1 and the availability table
    t1 = _csv(built, "table1_cohort")
    row = t1[(t1["variable"] == "has_imaging") & (t1["column"] == "Overall")]
    assert int(row["n"].iat[0]) == n_img
    avail = _csv(built, "table_availability")
    assert int(avail.loc[avail["imaging"].astype(str) == "True", "n"].sum()) == n_img
    assert f"imaging: {n_img}" in (built.tables["table_availability"]["md"]).read_text(encoding="utf-8")
    # task level: the availability table's task column, the pattern figure and the missingness CSV
    task_ids = set(pred.loc[pred["task"] == "endo_active", "patient_id"])
    of_task = cohort[cohort["patient_id"].isin(task_ids)]
    expected = of_task.apply(_pattern, axis=1).value_counts()
    by_table = avail.set_index("pattern")["endo_active (n)"]
    assert by_table[by_table > 0].sort_index().to_dict() == expected.sort_index().to_dict()
    fig = pd.read_csv(built.figures["pattern_endo-active"]["csv"])
    fig = fig[~fig["pattern"].str.startswith("text reports")]
    assert fig.drop_duplicates("pattern").set_index("pattern")["n_pattern"].to_dict() == {
        p: int(n) for p, n in expected.items() if p in set(fig["pattern"])
    }
    miss = pd.read_csv(built.tables["table_diagnostics"]["csv"].parent / f"{D.MISSINGNESS_TABLE}.csv")
    row = miss[(miss["task"] == "endo_active") & (miss["modality"] == "imaging")].iloc[0]
    assert row["n"] == len(task_ids) and row["n_missing"] == int((~of_task["features_imaging"]).sum())
    lacking = by_table[[("imaging" not in p.split("+")) for p in by_table.index]].sum()
    assert row["n_missing"] == lacking
    # the definition is stated in the report
    tex = built.report_tex.read_text(encoding="utf-8")
    assert MODALITY_DEFINITION.split(":")[0] in tex


def test_table1_columns_partition_the_cohort(built):
    t1 = _csv(built, "table1_cohort")
    n = t1[t1["variable"] == "n"].set_index("column")["n"]
    assert n[NO_ENDPOINT] == NO_LABEL
    assert n.drop("Overall").sum() == n["Overall"]
    counts = t1[(t1["variable"] == "sex") & (t1["statistic"] == "count")]
    for _, g in counts.groupby("level"):
        g = g.set_index("column")["n"]
        assert g.drop("Overall").sum() == g["Overall"]


def test_per_pattern_results_only_where_the_model_has_its_modalities(built):
    fig = pd.read_csv(built.figures["pattern_endo-active"]["csv"])
    assert len(fig)
    for r in fig.itertuples():
        mods = set(r.model.split(" / ")[0].split("+"))
        groups = set(r.pattern.split("+")) if not r.pattern.startswith("text reports") else {"text"}
        assert mods & groups, (r.model, r.pattern)
    single = fig[fig["model"].str.startswith("imaging / single")]
    assert len(single) and all("imaging" in p.split("+") for p in single["pattern"])


def test_forest_compares_a_fusion_with_its_modalities_on_the_same_patients(built, run_dir):
    rows = pd.read_csv(built.figures["forest_endo-active"]["csv"])
    pred = pd.read_parquet(run_dir / "predictions.parquet")
    n_task = pred.loc[pred["task"] == "endo_active", "patient_id"].nunique()
    assert len(rows) and (rows["family"] == "fusion_vs_components").all()
    assert (rows["n"] == n_task).all()
    for r in rows.itertuples():
        assert "+" in r.modality_set_a and "+" not in r.modality_set_b
        assert r.modality_set_b in r.modality_set_a.split("+") or "best single" in r.reference_rule
    # one best fusion per fused modality set, each against every modality it contains
    for mset, g in rows.groupby("modality_set_a"):
        assert g["model_a"].nunique() == 1
        assert set(mset.split("+")) <= set(g["modality_set_b"])


def test_roc_panels_and_tripod_appendix(built):
    roc = pd.read_csv(built.figures["roc_endo-active"]["csv"])
    drawn = roc[~roc["reference"]].drop_duplicates(["panel", "model"])
    assert drawn.groupby("panel").size().max() <= MAX_CURVES_PER_PANEL
    assert set(roc["panel"]) == {"Single modality (best model each)", "Fusion (best model of each set)"}
    tripod = built.out_dir / "tripod_ai.md"
    text = tripod.read_text(encoding="utf-8")
    assert "| 20a | " in text and f"{NO_LABEL} without the endpoint" in text
    tex = built.report_tex.read_text(encoding="utf-8")
    assert r"\appendix" in tex and "table_tripod_ai.tex" in tex
    assert tex.index(r"\appendix") < tex.index("table_tripod_ai.tex")
    if shutil.which("pdflatex"):
        assert built.pdf_error is None and built.report_pdf is not None and built.report_pdf.exists()


# --- LABEL_DERIVED_FROM_FEATURE -------------------------------------------------------------------------
def _checks(**row) -> pd.DataFrame:
    base = {"task": "endo_active", "feature": "pro:pro__pro3", "n": 29, "auc": 1.0, "separation": 1.0}
    return pd.DataFrame([{**base, **row}])


def test_a_perfect_split_of_few_patients_is_not_a_label_leak():
    # the false alarm of issue 13: pro3 separated 29 patients, 6 of them negatives
    counts = {("endo_active", "pro"): (23, 6)}
    assert D.diagnose_label_features(_checks(), class_counts=counts) == []
    # the same AUC on 200 patients (80 negatives) is evidence
    big = _checks(n=200, auc=0.002, separation=0.998)
    flagged = D.diagnose_label_features(big, class_counts={("endo_active", "pro"): (120, 80)})
    assert [d.code for d in flagged] == ["LABEL_DERIVED_FROM_FEATURE"]
    assert "pro__pro3" in flagged[0].message and "120 positive, 80 negative" in flagged[0].message
    # enough patients but a CI that reaches below the threshold: no flag
    weak = _checks(n=200, auc=0.93, separation=0.93)
    assert D.diagnose_label_features(weak, class_counts={("endo_active", "pro"): (120, 80)}) == []


def test_a_declared_derived_endpoint_is_flagged_without_any_feature():
    run = {"provenance": {"task_definitions": {"symptom_active": {"derived_from": ["pro"]}, "endo_active": {}}},
           "tasks": {}}  # fmt: skip
    declared = D.declared_derived_from(run)
    assert declared == {"symptom_active": ["pro"]}
    flagged = D.diagnose_label_features(pd.DataFrame(), derived_from=declared)
    assert [(d.code, d.task) for d in flagged] == [("LABEL_DERIVED_FROM_FEATURE", "symptom_active")]
    assert "declared computed from pro" in flagged[0].message


def test_cdai_and_hbi_tasks_declare_their_pro_origin(tmp_path):
    tasks = load_tasks()
    assert tasks["symptom_active"].derived_from == ("pro",)
    assert tasks["symptom_active_hbi"].endpoint == "hbi" and tasks["symptom_active_hbi"].derived_from == (
        "pro",
    )
    assert tasks["endo_active"].derived_from == ()
    bad = tmp_path / "tasks.toml"
    bad.write_text('[t]\ntype = "binary"\nendpoint = "cdai"\nthreshold = 150\nderived_from = ["diary"]\n')
    with pytest.raises(ConfigError, match="derived_from"):
        load_tasks(bad)


def test_auc_score_interval_against_the_wald_interval_and_at_the_boundary():
    # far from the boundary and with large groups it agrees with the Hanley-McNeil Wald interval
    auc, m, n = 0.8, 500, 500
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + (m - 1) * (q1 - auc**2) + (n - 1) * (q2 - auc**2)) / (m * n))
    low, high = D.auc_score_interval(auc, m, n)
    assert abs(low - (auc - 1.959964 * se)) < 0.002 and abs(high - (auc + 1.959964 * se)) < 0.002
    # at AUC = 1 the Wald interval is [1, 1]; the score interval stays wide for small groups
    low, high = D.auc_score_interval(1.0, 23, 6)
    assert high == 1.0 and 0.7 < low < 0.85
    assert D.auc_score_interval(1.0, 120, 80)[0] > 0.97


def test_auc_score_interval_covers_the_truth_at_about_the_nominal_rate():
    rng = np.random.default_rng(1)
    m, n, shift, reps = 25, 25, 1.8, 400
    true_auc = float(norm.cdf(shift / np.sqrt(2)))
    x = rng.normal(shift, 1, (reps, m))
    y = rng.normal(0, 1, (reps, n))
    aucs = (x[:, :, None] > y[:, None, :]).mean(axis=(1, 2))
    cover = [lo <= true_auc <= hi for lo, hi in (D.auc_score_interval(a, m, n) for a in aucs)]
    assert 0.92 <= np.mean(cover) <= 0.98
