"""build_report on a realistic fake run folder: every table, figure, report.tex (+ PDF), summary.md,
comparisons, pooling, failed cells and diagnostics."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmarks.store import load_run
from reports.build import build_report
from reports.comparisons import (
    default_comparisons,
    performance_frame,
    pool_predictions,
    split_models,
)
from reports.delong import delong_ci, delong_ovr, delong_test
from reports.diagnostics import diagnose_duplicates, missingness_frame
from reports.stats import adjust_pvalues

N_BOOT = 200


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, make_fake_run):
    return make_fake_run(tmp_path_factory.mktemp("run"), n_patients=120, seed=7)


@pytest.fixture(scope="module")
def built(run_dir):
    return build_report(run_dir, n_boot=N_BOOT, seed=0)


@pytest.fixture(scope="module")
def pooled(run_dir):
    return pool_predictions(load_run(run_dir)["predictions"])


@pytest.fixture(scope="module")
def tasks(run_dir):
    return json.loads((run_dir / "tasks.json").read_text(encoding="utf-8"))


def test_every_table_and_figure_is_written_with_its_data(built):
    names = set(built.tables)
    for expected in (
        "table1_cohort",
        "table_availability",
        "table_performance_endo-active",
        "table_performance_severity4",
        "table_comparisons_endo-active",
        "table_comparisons_severity4",
        "table_failed_cells",
        "table_diagnostics",
        "table_per_class_severity4",
    ):
        assert expected in names
        assert all(p.exists() and p.stat().st_size > 0 for p in built.tables[expected].values())
    for task in ("endo-active", "severity4"):
        for kind in ("roc", "forest", "calibration", "pattern"):
            paths = built.figures[f"{kind}_{task}"]
            assert {p.suffix for p in paths.values()} == {".png", ".pdf", ".csv"}
            assert all(p.stat().st_size > 0 for p in paths.values())
            assert len(pd.read_csv(paths["csv"])) > 0


def test_report_tex_inputs_every_table_and_includes_every_figure(built):
    tex = built.report_tex.read_text(encoding="utf-8")
    inputs = set(re.findall(r"\\input\{([^}]*)\}", tex))
    graphics = set(re.findall(r"\\includegraphics\[[^\]]*\]\{([^}]*)\}", tex))
    assert inputs == {f"tables/{name}.tex" for name in built.tables}
    assert graphics == {f"figures/{name}.pdf" for name in built.figures}
    assert r"\documentclass" in tex and r"\end{document}" in tex
    # packages of texlive-latex-base/recommended, and Latin Modern only where it is installed
    assert r"\IfFileExists{lmodern.sty}{\usepackage{lmodern}}{}" in tex
    for pkg in re.findall(r"\\usepackage(?:\[[^\]]*\])?\{([^}]*)\}", tex):
        assert pkg in {"fontenc", "lmodern", "geometry", "booktabs", "graphicx", "float", "longtable"}
    for path in [built.report_tex, *(paths["tex"] for paths in built.tables.values())]:
        assert path.read_text(encoding="utf-8").isascii(), path  # no input encoding can fail


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_report_compiles_with_pdflatex(built):
    assert built.pdf_error is None
    assert built.report_pdf is not None and built.report_pdf.read_bytes()[:5] == b"%PDF-"


def test_performance_table_uses_repeat_averaged_scores(built, pooled, run_dir):
    pred = load_run(run_dir)["predictions"]
    key = ("endo_active", "imaging+text+pro", "enet", "early")
    sub = pred[(pred[["task", "modality_set", "estimator", "fusion"]] == key).all(axis=1)]
    manual = sub.groupby("patient_id").agg(y=("y_true", "first"), s=("proba_1", "mean"), r=("repeat", "size"))
    assert (manual["r"] == 2).all()
    ref = delong_ci(manual["y"].to_numpy(), manual["s"].to_numpy())
    perf = pd.read_csv(built.tables["table_performance_endo-active"]["csv"])
    row = perf[(perf["modality_set"] == key[1]) & (perf["estimator"] == "enet") & (perf["fusion"] == "early")]
    assert np.isclose(row["auc"].iat[0], ref.auc) and np.isclose(row["auc_low"].iat[0], ref.ci_low)
    assert row["n"].iat[0] == len(manual)
    md = built.tables["table_performance_endo-active"]["md"].read_text(encoding="utf-8")
    assert "averaged over repeats" in md and "**" in md


def test_per_class_table_matches_delong_ovr(built, pooled):
    assert "table_per_class_endo-active" not in built.tables  # binary tasks have no per-class table
    frame = pd.read_csv(built.tables["table_per_class_severity4"]["csv"])
    model = frame["model"].iat[0]
    models = split_models(pooled, "severity4", 4)
    m = next(v for v in models.values() if v.label == model)
    ref = delong_ovr(m.y, m.proba)
    got = frame[frame["model"] == model]
    assert np.allclose(got["auc"], [r.auc for r in ref.per_class])
    assert np.allclose(got["auc_low"], [r.ci_low for r in ref.per_class])
    assert list(got["class"]) == ["inactive", "mild", "moderate", "severe"]


def test_known_signal_ranks_fusion_above_single_modalities(built):
    perf = pd.read_csv(built.tables["table_performance_endo-active"]["csv"])
    best = perf.loc[perf["auc"].idxmax()]
    assert "+" in best["modality_set"]
    prior = perf[perf["modality_set"] == "none"]
    # the prior is constant within a fold; pooled over folds it is not informative (often < 0.5, since a
    # fold's training prior is anti-correlated with its test labels)
    assert len(prior) == 1 and prior["auc"].iat[0] < 0.6
    single = perf[perf["fusion"] == "single"]
    assert single["auc"].max() < perf[perf["modality_set"] == "imaging+text+pro"]["auc"].max()


def test_comparison_families_and_holm_within_family(built, pooled, tasks, fake_run_models):
    s = pd.read_csv(built.tables["table_comparisons_endo-active"]["csv"])
    assert set(s["family"]) == {
        "fusion_vs_best_unimodal",
        "fusion_vs_components",
        "vs_best_overall",
        "top_pairs",
    }
    assert (s["adjust_method"] == "holm").all()
    n_fused = sum("+" in m for m, _, _ in fake_run_models)
    assert (s["family"] == "fusion_vs_best_unimodal").sum() == n_fused
    assert (s["family"] == "top_pairs").sum() == 6  # k = 4
    sets = {m for m, _, _ in fake_run_models}
    assert (s["family"] == "vs_best_overall").sum() == len(sets) - 1
    for _, g in s.groupby("family"):
        assert np.allclose(g["p_adjusted"], adjust_pvalues(g["p_value"].to_numpy(), method="holm"))
        assert (g["p_adjusted"] >= g["p_value"] - 1e-12).all()
    # same estimator rule; the hybrid network falls back to any estimator
    fam = s[s["family"] == "fusion_vs_best_unimodal"]
    assert (fam["estimator_b"] == fam["estimator_a"]).sum() == n_fused - 1
    assert fam.loc[fam["estimator_a"] == "hybrid", "reference_rule"].str.startswith("any estimator").all()
    # one row checked against a direct DeLong test on the common patients
    row = fam.iloc[0]
    models = split_models(pooled, "endo_active", 2)
    a = models[("endo_active", row["modality_set_a"], row["estimator_a"], row["fusion_a"])]
    b = models[("endo_active", row["modality_set_b"], row["estimator_b"], row["fusion_b"])]
    ref = delong_test(a.y, a.score, b.score)
    assert np.isclose(row["delta_auc"], ref.diff) and np.isclose(row["p_value"], ref.p_value)
    assert np.isclose(row["ci_low"], ref.ci_low) and np.isfinite(row["boot_ci_low"])
    sm = pd.read_csv(built.tables["table_comparisons_severity4"]["csv"])
    assert sm["test"].str.contains("bootstrap").all() and sm["p_value"].between(0, 1).all()


def test_bh_option_and_best_unimodal_choice(pooled, tasks):
    perf = performance_frame(pooled, tasks, n_boot=0)
    res = default_comparisons(pooled, tasks, perf, adjust="fdr_bh")
    s = res.summary[res.summary["task"] == "endo_active"]
    assert (s["adjust_method"] == "fdr_bh").all()
    fam = s[s["family"] == "fusion_vs_best_unimodal"]
    p = perf[(perf["task"] == "endo_active") & (perf["fusion"] == "single")]
    for est, g in fam.groupby("estimator_a"):
        if est == "hybrid":
            continue
        best = p[p["estimator"] == est].sort_values("auc", ascending=False).iloc[0]
        assert (g["modality_set_b"] == best["modality_set"]).all()
    with pytest.raises(ValueError, match="adjust"):
        default_comparisons(pooled, tasks, perf, adjust="bonferroni")


def test_failed_cells_are_listed_not_fatal(built, fake_run_failed_model):
    failed = pd.read_csv(built.tables["table_failed_cells"]["csv"])
    models = set(
        zip(failed["task"], failed["modality_set"], failed["estimator"], failed["fusion"], strict=True)
    )
    assert fake_run_failed_model in models and len(models) == 2
    summary = built.summary_md.read_text(encoding="utf-8")
    assert "## Failed cells" in summary and "MemoryError" in summary
    perf = pd.read_csv(built.tables["table_performance_endo-active"]["csv"])
    assert not ((perf["modality_set"] == "imaging+text") & (perf["fusion"] == "early")).any()
    codes = {d.code for d in built.diagnostics}
    assert {"CELL_FAILED", "INCOMPLETE_REPEATS"} <= codes


def test_diagnostics_missingness_and_search_edge(built, pooled):
    by_code = {}
    for d in built.diagnostics:
        by_code.setdefault(d.code, []).append(d)
    miss = by_code["MISSINGNESS_LINKED_TO_LABEL"]
    assert {d.details["modality"] for d in miss} == {"imaging"}  # only imaging is missing by design
    frame = missingness_frame(pooled)
    assert set(frame["modality"]) == {"imaging", "text", "pro"} and frame["p_value"].notna().all()
    edge = by_code["HPARAM_AT_SEARCH_EDGE"]
    assert all(d.details["param"] == "C" and d.details["edge"] == "upper" for d in edge)
    assert {d.task for d in edge} == {"endo_active", "severity4"}
    summary = built.summary_md.read_text(encoding="utf-8")
    for code in ("MISSINGNESS_LINKED_TO_LABEL", "HPARAM_AT_SEARCH_EDGE", "CELL_FAILED"):
        assert f"`{code}`" in summary


def test_summary_has_headline_performance_and_comparisons(built):
    text = built.summary_md.read_text(encoding="utf-8")
    for heading in ("## Headline", "## Performance", "## Comparisons", "## Diagnostics"):
        assert heading in text
    assert re.search(r"\*\*endo_active\*\* \(binary\): best model .+ AUC 0\.\d{3} \(0\.\d{3}–", text)
    assert "Largest fusion gain" in text and "holm" in text and f"{N_BOOT} resamples" in text


def test_headline_is_returned_as_plain_text(built):
    text = built.summary_md.read_text(encoding="utf-8")
    section = text.split("## Headline\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert built.headline == [ln.strip().replace("**", "") for ln in section]
    assert built.headline[0].startswith("- endo_active (binary): best model ")
    assert built.headline[1].startswith("Largest fusion gain: ")


def test_rebuild_is_identical(run_dir, built, tmp_path):
    again = build_report(run_dir, tmp_path / "again", n_boot=N_BOOT, seed=0, pdf=False)
    for name, paths in built.tables.items():
        for fmt in ("tex", "md", "csv"):
            assert again.tables[name][fmt].read_bytes() == paths[fmt].read_bytes(), (name, fmt)
    for name, paths in built.figures.items():
        assert again.figures[name]["csv"].read_bytes() == paths["csv"].read_bytes(), name
        assert again.figures[name]["pdf"].read_bytes() == paths["pdf"].read_bytes(), name
        assert again.figures[name]["png"].read_bytes() == paths["png"].read_bytes(), name
    assert again.summary_md.read_text(encoding="utf-8") == built.summary_md.read_text(encoding="utf-8")


def test_minimal_run_folder_and_bad_input(tmp_path, make_fake_run):
    run = make_fake_run(
        tmp_path / "mini",
        n_patients=60,
        n_repeats=1,
        models=(("imaging", "enet", "single"), ("imaging+pro", "enet", "early")),
        with_search_space=False,
        with_failures=False,
    )
    (run / "cohort_summary.parquet").unlink()
    (run / "cells.parquet").unlink()
    out = build_report(run, n_boot=50, pdf=False)
    assert "table1_cohort" not in out.tables and "table_failed_cells" not in out.tables
    assert out.summary_md.exists() and "figures/roc_severity4.pdf" in out.report_tex.read_text(
        encoding="utf-8"
    )
    with pytest.raises(FileNotFoundError, match="predictions.parquet"):
        build_report(tmp_path / "nothing")
    pred = pd.read_parquet(run / "predictions.parquet")
    pred.loc[0, "y_true"] = 1 - pred.loc[0, "y_true"]
    twice = pd.concat([pred, pred.iloc[:1].assign(repeat=1)], ignore_index=True)
    twice.loc[len(twice) - 1, "y_true"] = 1 - twice.loc[0, "y_true"]
    with pytest.raises(ValueError, match=str(pred.loc[0, "patient_id"])):
        pool_predictions(twice)


def test_run_where_every_cell_failed_lists_the_failures(run_dir, tmp_path):
    run = tmp_path / "allfail"
    run.mkdir()
    for name in ("tasks.json", "cohort_summary.parquet"):
        shutil.copy(run_dir / name, run / name)
    pd.DataFrame().to_parquet(run / "predictions.parquet")  # what the runner writes when nothing finished
    cells = pd.read_parquet(run_dir / "cells.parquet").assign(status="failed", error="RuntimeError: boom")
    cells.to_parquet(run / "cells.parquet")
    out = build_report(run, n_boot=20, pdf=False)
    assert out.figures == {} and "table_failed_cells" in out.tables
    text = out.summary_md.read_text(encoding="utf-8")
    assert "No model produced predictions" in text and "RuntimeError: boom" in text
    assert out.headline == ["- No model produced predictions; see Failed cells."]
    assert (
        sum(d.code == "CELL_FAILED" for d in out.diagnostics)
        == cells.groupby(["task", "modality_set", "estimator", "fusion"]).ngroups
    )


def test_duplicate_prediction_is_an_error_diagnostic(run_dir, tmp_path):
    pred = load_run(run_dir)["predictions"]
    assert diagnose_duplicates(pred) == []
    dup = pd.concat([pred, pred.iloc[[0, 1]].assign(fold=4)], ignore_index=True)
    (d,) = diagnose_duplicates(dup)
    assert d.code == "PATIENT_IN_TWO_FOLDS" and d.severity == "error"
    assert d.details["patients"] == sorted(pred["patient_id"].iloc[[0, 1]])
