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


def test_forest_axis_spans_the_intervals_and_zero_only():
    rows = pd.DataFrame(
        {
            "label": ["a vs x", "a vs y", "b vs x"],
            "group": ["a", "a", "b"],
            "delta_auc": [0.05, 0.10, 0.02],
            "ci_low": [0.01, 0.04, -0.03],
            "ci_high": [0.09, 0.16, 0.07],
            "p_adjusted": [0.02, 0.0004, 0.4],
        }
    )
    fig = F.forest_figure(rows, title="t")
    ax = fig.axes[0]
    left, right = ax.get_xlim()
    span = 0.16 - (-0.03)
    assert np.isclose(left, -0.03 - 0.06 * span) and np.isclose(right, 0.16 + 0.06 * span)
    # the adjusted p-values are tick labels of the right-hand axis, not text inside the plot
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == [
        "p adj. 0.020",
        "p adj. <0.001",
        "p adj. 0.400",
    ]
    assert not ax.texts
    # all intervals above 0: the axis still shows 0 and no empty negative half
    left, right = F.forest_figure(rows.assign(ci_low=[0.01, 0.04, 0.01]), title="t").axes[0].get_xlim()
    assert np.isclose(left, -0.06 * 0.16) and np.isclose(right, 0.16 + 0.06 * 0.16)


def test_roc_panels_hold_at_most_a_few_curves_and_one_band_each():
    y, P = _binary(n=80)
    band = F.roc_band(y, P, n_boot=20)
    frames = [band.assign(model=f"m{i}", label=f"m{i}", panel="A", reference=False) for i in range(6)]
    frames.append(band.assign(model="m0", label="m0", panel="B", reference=True))
    frames += [band.assign(model=f"f{i}", label=f"f{i}", panel="B", reference=False) for i in range(2)]
    fig = F.roc_figure(pd.concat(frames, ignore_index=True), title="t")
    a, b = fig.axes
    n_curves = [len([ln for ln in ax.get_lines() if ln.get_label() and not ln.get_label().startswith("_")])
                for ax in (a, b)]  # fmt: skip
    assert n_curves == [F.MAX_CURVES_PER_PANEL, 3]  # 6 asked in A, capped; B: 2 + the dashed reference
    assert len(a.collections) == 1 and len(b.collections) == 1  # one band per panel
    dashed = [ln for ln in b.get_lines() if ln.get_linestyle() == "--"]
    assert [ln.get_label() for ln in dashed] == ["m0"]
