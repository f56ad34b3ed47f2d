"""Decision curves against the dcurves package (golden values in tests/reports/data, produced by
``make_dcurves_golden.py`` with dcurves 1.1.7), treat all / treat none, common patients and the table.

Tolerance 1e-12: dcurves computes ``TP/n`` as ``(TP / n_pos) * prevalence``, which differs from ours in the
last bits only (about 1e-16).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.comparisons import ModelPredictions
from reports.decision_curve import (
    DEFAULT_THRESHOLDS,
    TREAT_ALL,
    TREAT_NONE,
    decision_curve_frame,
    decision_curve_table,
    net_benefit,
    treat_all_net_benefit,
)

DATA = Path(__file__).parent / "data"
MODELS = ["good", "weak", "coarse"]


@pytest.fixture(scope="module")
def golden():
    return pd.read_csv(DATA / "dcurves_inputs.csv"), pd.read_csv(DATA / "dcurves_golden.csv")


def test_default_thresholds():
    assert DEFAULT_THRESHOLDS[0] == 0.01 and DEFAULT_THRESHOLDS[-1] == 0.99 and DEFAULT_THRESHOLDS.size == 99
    assert np.allclose(np.diff(DEFAULT_THRESHOLDS), 0.01)


@pytest.mark.parametrize("model", MODELS)
def test_net_benefit_equals_dcurves(golden, model):
    inputs, ref = golden
    ref = ref[ref["model"] == model]
    got = net_benefit(inputs["y"], inputs[model], ref["threshold"])
    assert np.max(np.abs(got - ref["net_benefit"].to_numpy())) < 1e-12


def test_treat_all_and_none_equal_dcurves(golden):
    inputs, ref = golden
    ref_all = ref[ref["model"] == "all"]
    got = treat_all_net_benefit(inputs["y"], ref_all["threshold"])
    assert np.max(np.abs(got - ref_all["net_benefit"].to_numpy())) < 1e-12
    assert np.all(ref[ref["model"] == "none"]["net_benefit"].to_numpy() == 0.0)


def _pred(name, ids, y, p, task="endo_active"):
    key = (task, name, "enet", "single")
    return ModelPredictions(key, np.asarray(ids), np.asarray(y), np.column_stack([1 - p, p]), None)


def test_frame_on_common_patients_matches_dcurves(golden):
    inputs, ref = golden
    ids = np.array([f"P{i:03d}" for i in range(len(inputs))])
    y = inputs["y"].to_numpy()
    a = _pred("imaging", ids, y, inputs["good"].to_numpy())
    keep = np.arange(len(ids)) >= 10  # the second model lacks the first 10 patients
    b = _pred("text", ids[keep], y[keep], inputs["weak"].to_numpy()[keep])
    frame = decision_curve_frame([a, b])
    assert set(frame["model"]) == {a.label, b.label, TREAT_ALL, TREAT_NONE}
    assert (frame["n"] == keep.sum()).all() and (frame["n_events"] == y[keep].sum()).all()
    got = frame[frame["model"] == a.label]["net_benefit"].to_numpy()
    expected = net_benefit(y[keep], inputs["good"].to_numpy()[keep])
    assert np.array_equal(got, expected)
    # on all patients the frame is dcurves' curve
    full = decision_curve_frame([a])
    golden_good = ref[ref["model"] == "good"]["net_benefit"].to_numpy()
    assert np.max(np.abs(full[full["model"] == a.label]["net_benefit"].to_numpy() - golden_good)) < 1e-12
    g = full[full["model"] == a.label]
    assert np.allclose(
        g["net_benefit"], g["tp"] / g["n"] - g["fp"] / g["n"] * g["threshold"] / (1 - g["threshold"])
    )
    assert (full[full["model"] == TREAT_NONE]["net_benefit"] == 0).all()


def test_table_shows_selected_thresholds_and_where_a_model_helps(golden):
    inputs, _ = golden
    ids = np.array([f"P{i:03d}" for i in range(len(inputs))])
    y = inputs["y"].to_numpy()
    useless = _pred("pro", ids, y, np.full(len(ids), 0.36))  # a constant score: never better than both
    frame = decision_curve_frame([_pred("imaging", ids, y, inputs["good"].to_numpy()), useless])
    table = decision_curve_table(frame)
    assert table.name == "decision_curve" and len(table.data) == len(frame)
    d = table.display.set_index("Model")
    assert list(d.columns[1:-1]) == ["0.05", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8"]
    nb = frame[(frame["model"] == useless.label) & np.isclose(frame["threshold"], 0.2)]["net_benefit"].iat[0]
    assert d.loc[useless.label, "0.2"] == f"{nb:.3f}"
    assert d.loc[useless.label, "Beats both"] == "never"
    assert "–" in d.loc["imaging / single / enet", "Beats both"]
    assert d.loc[TREAT_NONE, "0.5"] == "0.000"


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        net_benefit([0, 1], [0.2, 0.8], [0.0, 0.5])
    with pytest.raises(ValueError, match="binary"):
        net_benefit([0, 2], [0.2, 0.8])
    with pytest.raises(ValueError, match="finite"):
        net_benefit([0, 1], [0.2, np.nan])
