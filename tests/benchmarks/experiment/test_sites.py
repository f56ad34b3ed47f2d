"""External validation by site (site folds), ComBat cells and robustness to missing modalities in a run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.experiment.config import ConfigError
from benchmarks.experiment.matrix import Cell
from benchmarks.experiment.runner import run_matrix, task_datas
from benchmarks.experiment.taskdata import encode_labels, site_folds
from benchmarks.store import ROBUSTNESS


def _sites(index: pd.Index, names=("Lyon", "Oslo", "York"), seed: int = 1, missing: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    sites = pd.Series(rng.choice(list(names), len(index)), index=index, dtype=object)
    sites.iloc[:missing] = None
    return sites


@pytest.fixture(scope="module")
def toy(toy_blocks):
    endpoints, blocks = toy_blocks(n=90)
    return endpoints, blocks, _sites(endpoints.index)


@pytest.fixture(scope="module")
def labels(toy, smoke_config):
    return encode_labels(toy[0], smoke_config().task_defs()["endo_active"]).sort_index()


def test_leave_one_site_out_tests_each_site_once_and_never_trains_on_it(toy, labels):
    sites = toy[2].reindex(labels.index)
    folds, names = site_folds(labels, sites, task="endo_active")
    assert [test for _, test in names] == [["Lyon"], ["Oslo"], ["York"]]
    tested = np.concatenate([te for _, te in folds])
    assert len(tested) == len(set(tested)) == int(sites.notna().sum())  # every patient with a site, once
    for (tr, te), (train_sites, (test_site,)) in zip(folds, names, strict=True):
        assert set(sites.iloc[te]) == {test_site} and test_site not in set(sites.iloc[tr])
        assert not set(labels.index[tr]) & set(labels.index[te])
        assert set(sites.iloc[tr]) == set(train_sites)
    no_site = set(np.flatnonzero(sites.isna().to_numpy()))
    assert no_site and not no_site & {i for tr, te in folds for i in (*tr, *te)}  # in no site fold


def test_train_sites_and_test_sites_give_one_split(toy, labels):
    sites = toy[2].reindex(labels.index)
    folds, names = site_folds(labels, sites, task="t", train_sites=["Lyon", "Oslo"], test_sites=["York"])
    assert names == [(["Lyon", "Oslo"], ["York"])] and len(folds) == 1
    tr, te = folds[0]
    assert set(sites.iloc[tr]) == {"Lyon", "Oslo"} and set(sites.iloc[te]) == {"York"}
    folds, names = site_folds(labels, sites, task="t", test_sites=["Oslo"])
    assert names == [(["Lyon", "York"], ["Oslo"])] and set(sites.iloc[folds[0][1]]) == {"Oslo"}


def test_unknown_single_or_one_class_sites_are_config_errors_naming_the_site(toy, labels):
    sites = toy[2].reindex(labels.index)
    with pytest.raises(ConfigError, match="'Paris'.*Lyon"):
        site_folds(labels, sites, task="t", test_sites=["Paris"])
    with pytest.raises(ConfigError, match="at least 2 sites.*'Lyon'"):
        site_folds(labels, pd.Series("Lyon", index=labels.index), task="t")
    with pytest.raises(ConfigError, match="'site' column"):
        site_folds(labels, pd.Series(None, index=labels.index, dtype=object), task="t")
    one_class = sites.copy()
    one_class[(labels == 1).to_numpy() & (sites == "York").to_numpy()] = "Oslo"  # York keeps negatives only
    with pytest.raises(ConfigError, match="York"):
        site_folds(labels, one_class, task="t")


def test_harmonise_without_sites_is_a_config_error(toy, smoke_config):
    endpoints, blocks, _ = toy
    with pytest.raises(ConfigError, match="harmonise.*site"):
        task_datas(smoke_config(validation="site", harmonise=["imaging"]), endpoints, blocks, None)
    with pytest.raises(ConfigError, match="harmonise.*validation 'site'"):
        smoke_config(harmonise=["imaging"])


@pytest.fixture(scope="module")
def two_sites(toy):
    return _sites(toy[0].index, names=("Lyon", "Oslo"))


@pytest.fixture(scope="module")
def site_run(tmp_path_factory, toy, two_sites, smoke_config):
    """Leave-one-site-out over two sites, with robustness (20 small cells)."""
    endpoints, blocks, _ = toy
    config = smoke_config(
        validation="site", robustness=True, folds=2, n_trials=1, inner_splits=2,
        modality_sets=["imaging", "pro", "imaging+pro"], fusions=["single", "early", "late_mean"],
    )  # fmt: skip
    run_dir = tmp_path_factory.mktemp("site_run")
    outcome = run_matrix(config, endpoints, blocks, run_dir, progress=False, sites=two_sites)
    assert outcome.n_failed == 0 and outcome.n_cells == 20
    return config, run_dir


def test_site_run_holds_internal_and_external_predictions_of_the_same_models(site_run, two_sites):
    _, run_dir = site_run
    pred = pd.read_parquet(run_dir / "predictions.parquet")
    ext = pred[pred["validation"] == "external"]
    internal = pred[pred["validation"] == "internal"]
    assert set(ext["model_id"]) == set(internal["model_id"]) and set(pred["harmonise"]) == {"none"}
    per_model = ext.groupby("model_id")["patient_id"].agg(["count", "nunique"])
    assert (per_model["count"] == per_model["nunique"]).all()
    assert (per_model["nunique"] == int(two_sites.notna().sum())).all()  # none for site-less patients
    for _, g in ext.groupby(["model_id", "fold"]):
        assert two_sites[g["patient_id"]].nunique() == 1  # one site tested per external fold
    cells = pd.read_parquet(run_dir / "cells.parquet")
    assert set(cells.loc[cells["validation"] == "external", "fold"]) == {0, 1}
    tasks = json.loads((run_dir / "tasks.json").read_text(encoding="utf-8"))["endo_active"]
    assert tasks["n_without_site"] == 3
    assert [(f["train_sites"], f["test_sites"]) for f in tasks["site_folds"]] == [
        (["Oslo"], ["Lyon"]), (["Lyon"], ["Oslo"])
    ]  # fmt: skip
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert {"internal", "external"} == set(metrics["validation"])


def test_rerun_reuses_every_cell_and_other_sites_change_only_the_site_cells_keys(site_run, toy, two_sites):
    config, run_dir = site_run
    endpoints, blocks, _ = toy
    outcome = run_matrix(config, endpoints, blocks, run_dir, progress=False, sites=two_sites)
    assert outcome.n_run == 0 and outcome.n_skipped == outcome.n_cells
    same = task_datas(config, endpoints, blocks, two_sites)["endo_active"]
    swapped = two_sites.replace({"Lyon": "Oslo", "Oslo": "Lyon"})
    other = task_datas(config, endpoints, blocks, swapped)["endo_active"]
    internal = Cell("endo_active", "imaging", "enet", "single", 0, 0)
    external = Cell("endo_active", "imaging", "enet", "single", 0, 0, "external")
    harmonised = Cell("endo_active", "imaging", "enet", "single", 0, 0, "external", "imaging")
    assert same.key(internal) == other.key(internal)  # other site labels do not touch the CV cells
    assert same.key(external) != other.key(external) and same.key(harmonised) != other.key(harmonised)
    assert len({same.key(c) for c in (internal, external, harmonised)}) == 3


def test_robustness_at_0_percent_is_the_prediction_and_at_100_percent_predicts_without_the_modality(site_run):
    _, run_dir = site_run
    robust = pd.read_parquet(run_dir / ROBUSTNESS)
    pred = pd.read_parquet(run_dir / "predictions.parquet")
    assert set(robust["fraction"]) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert set(robust["modality_set"]) == {"imaging+pro"}  # fused models only
    keys = ["cell_id", "patient_id"]
    for fusion in ("early", "late_mean"):
        zero = robust[(robust["fusion"] == fusion) & (robust["fraction"] == 0)]
        for _, g in zero.groupby("withheld"):
            merged = g.merge(pred, on=keys, suffixes=("", "_pred"))
            assert len(merged) == len(g) > 0 and not g["masked"].any()
            np.testing.assert_array_equal(merged["y_score"], merged["y_score_pred"])
    # late mean without imaging for everyone = the pro model alone (the prior for patients without pro)
    full = robust[
        (robust["fusion"] == "late_mean") & (robust["withheld"] == "imaging") & (robust.fraction == 1)
    ]
    assert full["masked"].all()
    assert set(full["validation"]) == {"internal", "external"}
    single = pred[pred["model_id"] == "endo_active/pro/enet/single"]
    on = ["patient_id", "fold", "validation", "harmonise"]
    merged = full.merge(single, on=on, suffixes=("", "_pro"))
    assert len(merged) == len(full)
    has_pro = merged["pattern"].str.contains("pro")
    np.testing.assert_allclose(
        merged.loc[has_pro, "y_score"], merged.loc[has_pro, "y_score_pro"], rtol=0, atol=1e-12
    )
    # an early-fusion model without imaging for everyone differs from the model with it
    early = robust[(robust["fusion"] == "early") & (robust["withheld"] == "imaging")]
    a = early[early.fraction == 0].set_index(keys)["y_score"]
    b = early[early.fraction == 1].set_index(keys)["y_score"]
    assert not np.allclose(a.sort_index(), b.sort_index())


def test_withheld_patients_are_nested_and_the_same_for_every_model_of_a_fold(site_run):
    _, run_dir = site_run
    robust = pd.read_parquet(run_dir / ROBUSTNESS)
    sub = robust[(robust["validation"] == "internal") & (robust["harmonise"] == "none")]
    chosen = (
        sub[sub["masked"]].groupby(["fold", "withheld", "fraction", "fusion"])["patient_id"].agg(frozenset)
    )
    for _, g in chosen.groupby(level=[0, 1, 2]):
        assert len(set(g)) == 1  # early and late mean lose the same patients
    for _, g in chosen.groupby(level=[0, 1]):
        sets = [v.iloc[0] for _, v in g.groupby(level=2)]  # by increasing share
        assert all(a <= b for a, b in zip(sets, sets[1:], strict=False))
    n_test = sub[sub["fraction"] == 0].groupby(["fold", "fusion", "withheld"]).size()
    half = sub[(sub["fraction"] == 0.5) & sub["masked"]].groupby(["fold", "fusion", "withheld"]).size()
    assert (abs(half - n_test / 2) <= 0.5).all()


@pytest.mark.parametrize("validation", ["external", "internal"])
def test_site_folds_and_combat_never_fit_on_a_test_patient(
    toy, smoke_config, tmp_path, monkeypatch, validation
):
    """The leakage probe for site folds and ComBat: every pipeline fit and every ComBat fit is recorded."""
    import combatlearn

    from tests.benchmarks.experiment.test_runner import RecordingProbe

    endpoints, blocks, sites = toy
    seen_combat: list[set[str]] = []
    original = combatlearn.ComBat.fit

    def recording_fit(self, X, y=None):
        seen_combat.append(set(map(str, X.index)))
        return original(self, X, y)

    monkeypatch.setattr(combatlearn.ComBat, "fit", recording_fit)
    config = smoke_config(validation="site", harmonise=["imaging"], n_trials=1, inner_splits=2,
                          modality_sets=["imaging+pro"], fusions=["early"])  # fmt: skip
    data = task_datas(config, endpoints, blocks, sites)["endo_active"]
    cell = Cell("endo_active", "imaging+pro", "enet", "early", 0, 1, "external", "imaging")
    _, te = data.fold_of(cell)
    test_ids = set(data.y.index[te])
    assert set(sites[list(test_ids)]) == {"Oslo"}
    log = tmp_path / "seen.jsonl"
    run_matrix(config, endpoints, blocks, tmp_path / "run", progress=False, probe=RecordingProbe(str(log)),
               only=[cell], sites=sites)  # fmt: skip
    seen = [set(json.loads(line)) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(seen) >= 2 and all(not (s & test_ids) for s in seen)
    assert len(seen_combat) >= 2 and all(not (s & test_ids) for s in seen_combat)
    assert all(set(sites[list(s)]) == {"Lyon", "York"} for s in seen_combat)
