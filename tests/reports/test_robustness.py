"""AUC with modalities withheld at test time (reports.robustness): values, table and figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.delong import delong_ci
from reports.robustness import robustness_figure, robustness_frame, robustness_table

FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _robust(n: int = 160) -> tuple[pd.DataFrame, np.ndarray, dict]:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.4).astype(int)
    good, weak = 2 * y + rng.normal(size=n), 0.3 * y + rng.normal(size=n)
    order = rng.permutation(n)
    frames, scores = [], {}
    for validation in ("internal", "external"):
        for withheld in ("imaging", "pro"):
            for f in FRACTIONS:
                masked = np.zeros(n, bool)
                masked[order[: int(round(f * n))]] = True
                s = np.where(masked, weak, good) if withheld == "imaging" else good
                p = 1 / (1 + np.exp(-s))
                scores[(validation, withheld, f)] = p
                frames.append(pd.DataFrame({
                    "task": "endo_active", "modality_set": "imaging+pro", "estimator": "enet", "fusion": "early",
                    "model_id": "endo_active/imaging+pro/enet/early", "repeat": 0, "fold": np.arange(n) % 3,
                    "validation": validation, "harmonise": "none", "patient_id": [f"P{i:03d}" for i in range(n)],
                    "y_true": y, "proba_0": 1 - p, "proba_1": p, "y_score": p, "withheld": withheld,
                    "fraction": f, "masked": masked,
                }))  # fmt: skip
    return pd.concat(frames, ignore_index=True), y, scores


def test_auc_per_share_withheld_matches_delong_and_only_internal_rows_count(tmp_path):
    robust, y, scores = _robust()
    frame = robustness_frame(robust, {"endo_active": {"type": "binary"}})
    assert len(frame) == 2 * len(FRACTIONS)  # internal rows only
    for row in frame.itertuples():
        ref = delong_ci(y, scores[("internal", row.withheld, row.fraction)])
        assert np.isclose(row.auc, ref.auc) and np.isclose(row.ci_low, ref.ci_low)
        assert row.n_withheld == int(round(row.fraction * len(y)))
    imaging = frame[frame["withheld"] == "imaging"].sort_values("fraction")
    assert imaging["auc"].is_monotonic_decreasing and imaging["loss_vs_0"].iloc[-1] > 0.2
    pro = frame[frame["withheld"] == "pro"]
    assert np.allclose(pro["loss_vs_0"], 0)
    paths = robustness_table(frame).save(tmp_path)
    md = paths["md"].read_text(encoding="utf-8")
    assert "100% withheld" in md and "imaging" in md and len(pd.read_csv(paths["csv"])) == len(frame)
    figs = robustness_figure(frame, tmp_path)
    assert figs["pdf"].stat().st_size > 0


def test_no_robustness_data_gives_an_empty_frame():
    assert robustness_frame(pd.DataFrame(), {}).empty
    assert robustness_frame(None, {}).empty
