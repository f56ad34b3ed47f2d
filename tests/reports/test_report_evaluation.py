"""The evaluation sections of the report (Shapley values, decision curves, calibration, subgroups) on a fake
run folder: which tables, figures and notes they write, multiclass tasks skipped where they must be, and the
LaTeX of the four sections compiles."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from benchmarks.store import load_run
from reports.comparisons import performance_frame, pool_predictions, split_models, task_classes
from reports.evaluation import evaluation_sections
from reports.latex import compile_pdf, write_report_tex

EXTRA = (("imaging+text", "enet", "early"), ("text+pro", "enet", "early"))  # completes enet/early's game


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, make_fake_run, fake_run_models):
    run = make_fake_run(
        tmp_path_factory.mktemp("run"),
        n_patients=120,
        seed=3,
        models=fake_run_models + EXTRA,
        with_failures=False,
    )
    loaded = load_run(run)
    pooled = pool_predictions(loaded["predictions"])
    tasks = sorted(pooled["task"].unique())
    classes = {t: task_classes(loaded["tasks"], t, pooled) for t in tasks}
    perf = performance_frame(pooled, loaded["tasks"], n_boot=20)
    out = tmp_path_factory.mktemp("report")
    (out / "tables").mkdir()
    (out / "figures").mkdir()
    saved = {}

    def save(table):
        saved[table.name] = table.save(out / "tables")
        return f"tables/{table.name}.tex"

    sections, figs = evaluation_sections(
        {t: split_models(pooled, t, len(classes[t][1])) for t in tasks},
        {t: c[0] for t, c in classes.items()},
        perf,
        loaded["cohort_summary"],
        out / "figures",
        save,
        n_boot=100,
        level=0.95,
        seed=0,
    )
    return out, sections, figs, saved, perf


def test_sections_tables_and_figures(evaluated):
    _, sections, figs, saved, _ = evaluated
    assert [s.title for s in sections] == [
        "Modality contributions (Shapley values)",
        "Clinical utility (decision curves)",
        "Calibration",
        "Subgroups",
    ]
    assert set(saved) == {"modality_shapley", "decision_curve", "calibration", "subgroups"}
    for kind in ("shapley", "subgroups"):
        assert {f"{kind}_endo-active", f"{kind}_severity4"} <= set(figs)
    for kind in ("decision_curve", "calibration"):
        assert f"{kind}_endo-active" in figs and f"{kind}_severity4" not in figs  # binary only
    assert all(p.stat().st_size > 0 for paths in figs.values() for p in paths.values())
    skipped = " ".join(sections[1].paragraphs) + " ".join(sections[2].paragraphs)
    assert "severity4" in skipped and "Multiclass" in skipped


def test_shapley_table_of_the_complete_game(evaluated):
    _, _, _, saved, _ = evaluated
    frame = pd.read_csv(saved["modality_shapley"]["csv"])
    games = set(zip(frame["task"], frame["estimator"], frame["fusion"], strict=True))
    assert games == {("endo_active", "enet", "early"), ("severity4", "enet", "early")}  # rf lacks subsets
    for _, g in frame.groupby("task"):
        assert g["shapley"].sum() == pytest.approx(g["auc_all"].iat[0] - 0.5, abs=1e-9)
        assert list(g["modality"]) == ["imaging", "text", "pro"]
    # the fake scores carry signal imaging > text > pro (tests/conftest.py SIGNAL)
    g = frame[frame["task"] == "endo_active"].set_index("modality")["shapley"]
    assert g["imaging"] > g["pro"]
    md = saved["modality_shapley"]["md"].read_text(encoding="utf-8").replace("\\", "")
    assert "rf/early: not computed, no model for imaging+text" in md


def test_calibration_decision_curve_and_subgroups_tables(evaluated):
    _, _, _, saved, perf = evaluated
    cal = pd.read_csv(saved["calibration"]["csv"])
    assert set(cal["task"]) == {"endo_active"} and cal[["intercept", "slope"]].notna().all().all()
    dca = pd.read_csv(saved["decision_curve"]["csv"])
    assert set(dca["task"]) == {"endo_active"} and {"treat all", "treat none"} <= set(dca["model"])
    assert dca.groupby("model")["threshold"].size().eq(99).all()
    sub = pd.read_csv(saved["subgroups"]["csv"], keep_default_na=False, na_values=[""])
    assert {"site", "sex", "age_band", "montreal_location"} <= set(sub["variable"])
    overall = sub[sub["variable"] == "overall"].set_index("model")
    auc = perf[perf["task"] == "endo_active"].set_index("model")["auc"]
    best = auc.drop("none / none / prior", errors="ignore").idxmax()
    assert overall.loc[overall["task"] == "endo_active", "auc"].loc[best] == pytest.approx(
        auc[best], abs=1e-12
    )
    assert (sub.loc[sub["group"] == "missing", "variable"] == "sex").all()  # 5% of sexes are missing
    assert np.isfinite(sub.loc[sub["variable"] != "overall", "auc"]).any()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_the_four_sections_compile(evaluated):
    out, sections, _, _, _ = evaluated
    pdf = compile_pdf(write_report_tex(out, "evaluation", sections))
    assert pdf is not None and pdf.read_bytes()[:5] == b"%PDF-"


def test_a_run_without_predictions_gets_the_sections_without_tables(tmp_path):
    (tmp_path / "figures").mkdir()
    saved = []
    perf = pd.DataFrame(columns=["task", "modality_set", "estimator", "fusion", "model", "auc"])
    sections, figs = evaluation_sections(
        {}, {}, perf, pd.DataFrame(), tmp_path / "figures", saved.append, n_boot=20, level=0.95, seed=0
    )
    assert saved == [] and figs == {} and len(sections) == 4
    assert all(not s.tables and s.paragraphs for s in sections)
    if shutil.which("pdflatex"):
        assert compile_pdf(write_report_tex(tmp_path, "empty", sections)).read_bytes()[:5] == b"%PDF-"
