"""Figures: ROC bands, calibration bins, saving PNG + PDF + the data frame beside them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from reports import figures as F


def _binary(n=200, seed=0, signal=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(0, 1.5, n))))
    return y, np.column_stack([1 - s, s])


def test_roc_on_grid_matches_sklearn_curve():
    y, P = _binary()
    tpr = F._roc_on_grid(y == 1, P[:, 1], np.ones((1, y.size)))[0]
    fpr_sk, tpr_sk, _ = roc_curve(y, P[:, 1])
    expected = np.interp(F.FPR_GRID[1:], fpr_sk, tpr_sk)
    assert np.allclose(tpr[1:], expected)
    # the area under the gridded curve is close to the exact AUC
    assert abs(np.trapz(tpr, F.FPR_GRID) - roc_auc_score(y, P[:, 1])) < 0.01


def test_roc_band_contains_curve_and_is_deterministic():
    y, P = _binary()
    a = F.roc_band(y, P, n_boot=200, seed=3)
    b = F.roc_band(y, P, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    inner = a.iloc[5:-5]
    assert (inner["tpr_low"] <= inner["tpr"] + 1e-9).mean() > 0.95
    assert (inner["tpr_high"] >= inner["tpr"] - 1e-9).mean() > 0.95
    middle = a[(a["fpr"] >= 0.05) & (a["fpr"] <= 0.5)]
    assert (middle["tpr_high"] - middle["tpr_low"]).min() > 0
    assert a["tpr"].is_monotonic_increasing


def test_roc_band_multiclass_macro_average():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    logits = rng.normal(0, 1, (150, 3)) + 2.0 * np.eye(3)[y]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    band = F.roc_band(y, P, n_boot=50, seed=0)
    per_class = [F._roc_on_grid(y == k, P[:, k], np.ones((1, y.size)))[0] for k in range(3)]
    assert np.allclose(band["tpr"], np.mean(per_class, axis=0))


def test_perfect_and_useless_scores():
    y = np.array([0] * 50 + [1] * 50)
    perfect = np.column_stack([1 - y, y]).astype(float)
    band = F.roc_band(y, perfect, n_boot=0)
    assert np.allclose(band["tpr"], 1.0)
    constant = np.full((100, 2), 0.5)
    band = F.roc_band(y, constant, n_boot=0)
    assert np.allclose(band["tpr"].iloc[1:], band["fpr"].iloc[1:])


def test_calibration_bins_of_calibrated_scores():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 4000)
    y = (rng.uniform(0, 1, 4000) < p).astype(int)
    bins = F.calibration_bins(y, np.column_stack([1 - p, p]), n_bins=10)
    assert len(bins) == 10 and bins["n"].sum() == 4000
    assert np.abs(bins["mean_predicted"] - bins["observed"]).max() < 0.06


def test_save_figure_writes_png_pdf_csv_and_pdf_is_reproducible(tmp_path):
    y, P = _binary(n=80)
    curves = F.roc_band(y, P, n_boot=20).assign(model="m", label="m (AUC 0.8)")
    paths = F.save_figure(F.roc_figure(curves, title="t"), curves, tmp_path / "a", "roc")
    assert {p.suffix for p in paths.values()} == {".png", ".pdf", ".csv"}
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["pdf"].read_bytes()[:5] == b"%PDF-"
    pd.testing.assert_frame_equal(pd.read_csv(paths["csv"]), curves, check_dtype=False)
    again = F.save_figure(F.roc_figure(curves, title="t"), curves, tmp_path / "b", "roc")
    assert again["pdf"].read_bytes() == paths["pdf"].read_bytes()


def test_forest_and_pattern_figures_draw_with_empty_input(tmp_path):
    empty = pd.DataFrame(columns=["label", "delta_auc", "ci_low", "ci_high", "p_adjusted"])
    F.save_figure(F.forest_figure(empty, title="none"), empty, tmp_path, "forest")
    empty_pat = pd.DataFrame(columns=["model", "label", "pattern", "n_pattern", "auc", "auc_low", "auc_high"])
    F.save_figure(F.pattern_figure(empty_pat, title="none"), empty_pat, tmp_path, "pattern")
    assert (tmp_path / "forest.pdf").exists() and (tmp_path / "pattern.png").exists()
