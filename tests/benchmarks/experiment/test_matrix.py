"""The experiment matrix and run configuration."""

import pytest

from benchmarks.experiment.config import load_config, load_tasks
from benchmarks.experiment.matrix import (
    Cell,
    derive_seed,
    expected_cost,
    largest_first,
    plan_cells,
    unimodal_sources,
)
from benchmarks.experiment.runner import matrix_of


def test_all_modality_subsets_and_fusion_rules():
    cfg = load_config(
        "smoke", estimators=["enet", "rf"], fusions=["single", "early", "late_mean", "hybrid_gated"]
    )
    assert cfg.modality_set_names() == [
        "imaging",
        "text",
        "pro",
        "imaging+text",
        "imaging+pro",
        "text+pro",
        "imaging+text+pro",
    ]
    cells = matrix_of(cfg)
    per_fold = [c for c in cells if c.repeat == 0 and c.fold == 0]
    singles = [c for c in per_fold if "+" not in c.modality_set and c.modality_set != "none"]
    assert {c.fusion for c in singles} == {"single"} and len(singles) == 3 * 2
    multi = [c for c in per_fold if "+" in c.modality_set]
    # 4 multi-modality sets x (early, late_mean) x 2 estimators + 4 hybrid cells (estimator "hybrid")
    assert len(multi) == 4 * 2 * 2 + 4
    assert {c.estimator for c in multi if c.fusion == "hybrid_gated"} == {"hybrid"}
    assert len(cells) == len(per_fold) * cfg.folds * cfg.repeats
    assert len({c.cell_id for c in cells}) == len(cells)


def test_largest_cells_are_submitted_first_and_ties_keep_the_matrix_order():
    cfg = load_config("smoke", estimators=["enet", "rf"], fusions=["single", "early", "hybrid_gated"])
    cells = matrix_of(cfg)
    ordered = largest_first(cells)
    assert sorted(ordered) == cells  # only the order changes
    costs = [expected_cost(c) for c in ordered]
    assert costs == sorted(costs, reverse=True)
    assert ordered[0] == Cell("endo_active", "imaging+text+pro", "rf", "early", 0, 0)
    assert ordered[-1].estimator == "prior" and expected_cost(ordered[-1]) == 0
    hybrid3 = [c for c in ordered if c.is_hybrid and c.modality_set.count("+") == 2]
    enet_single = [c for c in ordered if c.estimator == "enet" and c.fusion == "single"]
    assert ordered.index(hybrid3[-1]) < ordered.index(enet_single[0])
    assert enet_single == sorted(enet_single)  # equal costs stay in the matrix order


def test_seeds_are_stable_and_distinct():
    a = Cell("endo_active", "imaging", "enet", "single", 0, 1)
    b = Cell("endo_active", "imaging", "enet", "single", 0, 2)
    assert a.seed(1) == Cell("endo_active", "imaging", "enet", "single", 0, 1).seed(1)
    assert a.seed(1) != b.seed(1) and a.seed(1) != a.seed(2)
    assert derive_seed(7, "x") == derive_seed(7, "x") != derive_seed(7, "y")
    assert 0 <= derive_seed(7, "x") < 2**31


def test_late_reuse_plans_its_unimodal_sources():
    cfg = load_config("smoke", modality_sets=["imaging+pro"], fusions=["late_mean"])
    fit, late = plan_cells(matrix_of(cfg), cfg.late_fusion)
    assert all(c.is_late for c in late) and late
    needed = {s for c in late for s in unimodal_sources(c)}
    assert needed <= set(fit)
    assert {c.modality_set for c in needed} == {"imaging", "pro"}


def test_config_keys_are_checked_and_tasks_live_in_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("n_trails = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="n_trails"):
        load_config("smoke", bad)
    tasks = load_tasks()
    assert tasks["endo_active"].endpoint == "ses_cd" and tasks["endo_active"].threshold == 3
    assert tasks["severity4"].n_classes == 4
    with pytest.raises(ValueError, match="unknown tasks"):
        load_config("smoke", tasks=["nope"]).task_defs()


def test_config_hash_ignores_execution_settings():
    assert load_config("smoke", n_jobs=1).config_hash() == load_config("smoke", n_jobs=2).config_hash()
    assert load_config("smoke").config_hash() != load_config("smoke", seed=1).config_hash()
