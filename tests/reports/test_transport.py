"""Internal vs external AUC per model (reports.transport): values, verdicts, table and figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.store import internal_rows
from reports.delong import delong_ci
from reports.transport import (
    transport_figure,
    transport_frame,
    transport_table,
    verdict,
)

N = 240


def _rows(model: str, score: np.ndarray, y: np.ndarray, validation: str, harmonise: str = "none"):
    mset, est, fusion = model.split("/")
    p = 1 / (1 + np.exp(-score))
    return pd.DataFrame({"task": "endo_active", "modality_set": mset, "estimator": est, "fusion": fusion,
                         "model_id": f"endo_active/{model}", "repeat": 0, "fold": 0, "validation": validation,
                         "harmonise": harmonise, "patient_id": [f"P{i:03d}" for i in range(len(y))],
                         "y_true": y, "pattern": mset, "proba_0": 1 - p, "proba_1": p, "y_score": p})  # fmt: skip


def _predictions() -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    y = (rng.random(N) < 0.5).astype(int)
    good = 2.5 * y + rng.normal(size=N)
    scores = {
        "stable": good,
        "stable_ext": good + rng.normal(0, 0.05, N),
        "fragile": good,
        "fragile_ext": 0.5 * y + rng.normal(size=N) * 1.5,
        "fragile_combat": good + rng.normal(0, 0.2, N),
    }
    frames = [
        _rows("imaging/enet/single", scores["stable"], y, "internal"),
        _rows("imaging/enet/single", scores["stable_ext"], y, "external"),
        _rows("imaging+pro/enet/early", scores["fragile"], y, "internal"),
        _rows("imaging+pro/enet/early", scores["fragile_ext"], y, "external"),
        _rows("imaging+pro/enet/early", scores["fragile_combat"], y, "external", "imaging"),
        _rows("none/prior/none", np.zeros(N), y, "internal"),
        _rows("none/prior/none", np.zeros(N), y, "external"),
    ]
    return pd.concat(frames, ignore_index=True), y, scores


def test_verdict_rule():
    assert verdict(-0.01, 0.03) == "transports"
    assert verdict(0.02, 0.2) == "drops"
    assert verdict(-0.05, 0.12) == "inconclusive"


def test_transport_frame_pairs_internal_and_external_auc_of_each_model(tmp_path):
    pred, y, scores = _predictions()
    frame = transport_frame(pred, {"endo_active": {"type": "binary"}}, n_boot=300, seed=1)
    assert list(frame["model"]) == ["imaging / single / enet", "imaging+pro / early / enet"]  # no prior row
    stable, fragile = frame.iloc[0], frame.iloc[1]
    p = lambda s: 1 / (1 + np.exp(-s))  # noqa: E731
    assert np.isclose(stable["auc_internal"], delong_ci(y, p(scores["stable"])).auc)
    assert np.isclose(fragile["auc_external"], delong_ci(y, p(scores["fragile_ext"])).auc)
    assert np.isclose(fragile["drop"], fragile["auc_internal"] - fragile["auc_external"])
    assert fragile["drop_low"] < fragile["drop"] < fragile["drop_high"]
    assert stable["verdict"] == "transports" and fragile["verdict"] == "drops"
    assert fragile["harmonised"] == "imaging" and fragile["combat_gain"] > 0 and fragile["gain_low"] > 0
    assert np.isnan(stable["combat_gain"])  # that model was not harmonised
    table = transport_table(frame, n_boot=300, sites_note="endo_active: test York <- train Lyon+Oslo.")
    paths = table.save(tmp_path)
    assert "drops" in paths["md"].read_text(encoding="utf-8") and "York" in paths["tex"].read_text(
        encoding="utf-8"
    )
    assert len(pd.read_csv(paths["csv"])) == 2
    figs = transport_figure(frame, tmp_path)
    assert figs["png"].stat().st_size > 0 and len(pd.read_csv(figs["csv"])) == 2


def test_a_run_without_site_folds_has_no_transport_rows_and_keeps_all_predictions():
    pred, _, _ = _predictions()
    internal = pred[pred["validation"] == "internal"]
    assert transport_frame(internal, {}).empty
    assert set(internal_rows(pred)["validation"]) == {"internal"}
    assert set(internal_rows(pred)["harmonise"]) == {"none"}
    old = internal.drop(columns=["validation", "harmonise"])  # a run written before these columns
    assert internal_rows(old) is old and transport_frame(old, {}).empty
