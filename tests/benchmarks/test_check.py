"""The metric gate: passes on an unchanged run, fails with a readable diff on a regression."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks.check import compare, main, make_baseline
from benchmarks.experiment.provenance import provenance
from benchmarks.experiment.runner import run_matrix
from benchmarks.store import PROVENANCE, write_json


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, smoke_config, toy_blocks):
    run_dir = tmp_path_factory.mktemp("gate")
    config = smoke_config(fusions=["single", "early"])
    run_matrix(config, *toy_blocks(), run_dir, progress=False)
    write_json(provenance(config, {}), run_dir / PROVENANCE)
    return run_dir


def test_baseline_has_bootstrap_tolerances_and_an_unchanged_run_passes(run_dir, tmp_path, capsys):
    baseline = make_baseline(run_dir)
    entries = pd.DataFrame(baseline["metrics"])
    assert set(entries["metric"]) == {"roc_auc", "balanced_accuracy", "brier"}
    # a constant prior has no spread in AUC (nor has balanced accuracy of a one-class predictor)
    fitted_auc = ~entries["model_id"].str.contains("/prior/") & (entries["metric"] == "roc_auc")
    assert (entries.loc[fitted_auc, "bootstrap_se"] > 0).all()
    assert (entries["tolerance"] >= entries["bootstrap_se"]).all() and (entries["tolerance"] >= 0.005).all()
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline), encoding="utf-8")
    assert main(["--run", str(run_dir), "--baseline", str(path)]) == 0
    assert "OK:" in capsys.readouterr().out


def test_a_drop_beyond_tolerance_fails_with_the_model_named(run_dir, tmp_path, capsys):
    baseline = make_baseline(run_dir)
    target = next(
        e for e in baseline["metrics"] if e["metric"] == "roc_auc" and "imaging+pro" in e["model_id"]
    )
    small = dict(target, value=target["value"] + 0.5 * target["tolerance"])  # within tolerance
    big = dict(target, value=target["value"] + 2 * target["tolerance"] + 0.01)  # baseline was better
    for entry, expect in ((small, 0), (big, 1)):
        edited = {**baseline, "metrics": [entry if e is target else e for e in baseline["metrics"]]}
        path = tmp_path / "baseline.json"
        path.write_text(json.dumps(edited), encoding="utf-8")
        assert main(["--run", str(run_dir), "--baseline", str(path)]) == expect
    out = capsys.readouterr().out
    assert "REGRESSED" in out and target["model_id"] in out and "FAIL" in out


def test_lower_is_better_metrics_regress_upwards_and_missing_models_fail(run_dir):
    baseline = make_baseline(run_dir)
    brier = next(e for e in baseline["metrics"] if e["metric"] == "brier")
    worse = {**baseline, "metrics": [dict(brier, value=brier["value"] - brier["tolerance"] - 0.02)]}
    assert compare(run_dir, worse)["status"].tolist() == ["REGRESSED"]
    better = {**baseline, "metrics": [dict(brier, value=brier["value"] + 0.05)]}
    assert compare(run_dir, better)["status"].tolist() == ["ok"]
    ghost = {**baseline, "metrics": [dict(brier, model_id="endo_active/ghost/enet/single")]}
    assert compare(run_dir, ghost)["status"].tolist() == ["missing"]
