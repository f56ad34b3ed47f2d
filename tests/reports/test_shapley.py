"""Modality Shapley values: a hand-computed game, efficiency, the AUC game on stored predictions (common
patients, one resample for all subsets) and a coverage simulation of the bootstrap CIs.

Coverage simulation: independent modality features ``x_m ~ N(mu_m y, 1)`` and, for each subset ``S``,
the score ``sum_{m in S} mu_m x_m`` (the optimal linear score of ``S``). Its two classes are normal with
mean difference ``D = sum mu_m^2`` and variance ``D`` each, so the population AUC is
``v(S) = Phi(sqrt(D / 2))`` and ``v(∅) = 0.5``: the true Shapley values follow exactly. R = 200 data sets
of 100 + 100 patients, 200 bootstrap resamples each (about 2 s). The binomial SE of a coverage of 0.95 at
R = 200 is sqrt(0.95 * 0.05 / 200) = 0.015; percentile intervals run a point or two under nominal at this
size (see test_stats_coverage.py), so each modality's coverage must lie in [0.88, 0.99] (3 SE below plus 2
points for that bias, 2.6 SE above) and the mean over the three in [0.90, 0.98]. Seeds are fixed.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from benchmarks.cohort.schema import modality_set_name
from reports.comparisons import ModelPredictions
from reports.shapley import (
    EMPTY_SET_AUC,
    modality_shapley,
    shapley_frame,
    shapley_table,
    shapley_values,
    shapley_weights,
)

PLAYERS = ("imaging", "text", "pro")


def test_hand_computed_three_player_game():
    """v(∅)=0.50, v(A)=0.70, v(B)=0.60, v(C)=0.55, v(AB)=0.75, v(AC)=0.72, v(BC)=0.62, v(ABC)=0.78.

    Weights for n = 3: |S| = 0 -> 1/3, |S| = 1 -> 1/6, |S| = 2 -> 1/3.
    phi_A = 1/3 (0.70-0.50) + 1/6 (0.75-0.60) + 1/6 (0.72-0.55) + 1/3 (0.78-0.62)
          = (0.40 + 0.15 + 0.17 + 0.32) / 6 = 1.04 / 6 = 0.173333...
    phi_B = 1/3 (0.60-0.50) + 1/6 (0.75-0.70) + 1/6 (0.62-0.55) + 1/3 (0.78-0.72)
          = (0.20 + 0.05 + 0.07 + 0.12) / 6 = 0.44 / 6 = 0.073333...
    phi_C = 1/3 (0.55-0.50) + 1/6 (0.72-0.70) + 1/6 (0.62-0.60) + 1/3 (0.78-0.75)
          = (0.10 + 0.02 + 0.02 + 0.06) / 6 = 0.20 / 6 = 0.033333...
    Sum 0.28 = v(ABC) - v(∅).
    """
    f = frozenset
    v = {
        f(): 0.50,
        f("A"): 0.70,
        f("B"): 0.60,
        f("C"): 0.55,
        f("AB"): 0.75,
        f("AC"): 0.72,
        f("BC"): 0.62,
        f("ABC"): 0.78,
    }
    phi = shapley_values(v, ["A", "B", "C"])
    assert phi == pytest.approx({"A": 1.04 / 6, "B": 0.44 / 6, "C": 0.20 / 6}, abs=1e-12)
    assert sum(phi.values()) == pytest.approx(0.78 - 0.50, abs=1e-12)


def _permutation_shapley(v, players):
    """Reference: the average over all orderings of each player's marginal contribution."""
    out = dict.fromkeys(players, 0.0)
    orders = list(permutations(players))
    for order in orders:
        before: frozenset = frozenset()
        for p in order:
            out[p] += v(before | {p}) - v(before)
            before = before | {p}
    return {p: x / len(orders) for p, x in out.items()}


@pytest.mark.parametrize("n_players", [1, 2, 4, 5])
def test_random_games_match_the_permutation_definition_and_are_efficient(n_players):
    rng = np.random.default_rng(n_players)
    players = [f"m{i}" for i in range(n_players)]
    table = {}

    def v(s):
        return table.setdefault(frozenset(s), 0.0 if not s else float(rng.random()))

    ref = _permutation_shapley(v, players)
    got = shapley_values(v, players)
    assert got == pytest.approx(ref, abs=1e-12)
    assert sum(got.values()) == pytest.approx(v(frozenset(players)) - v(frozenset()), abs=1e-12)
    assert shapley_weights(n_players).shape == (2**n_players, n_players)


def test_null_player_gets_zero_and_symmetric_players_share():
    f = frozenset
    v = {
        f(): 0.5,
        f("A"): 0.7,
        f("B"): 0.7,
        f("N"): 0.5,
        f("AB"): 0.8,
        f("AN"): 0.7,
        f("BN"): 0.7,
        f("ABN"): 0.8,
    }
    phi = shapley_values(v, ["A", "B", "N"])
    assert phi["N"] == pytest.approx(0.0, abs=1e-12)
    assert phi["A"] == pytest.approx(phi["B"]) == pytest.approx(0.15)


# --- the AUC game on stored (pooled) predictions ----------------------------------------------------------
MU = {"imaging": 1.0, "text": 0.6, "pro": 0.3}


def _models(rng, *, n_pos=100, n_neg=100, drop=None, fusion="early", estimator="enet"):
    """Pooled predictions of every subset's model; ``drop``: modality set -> patient indices it lacks."""
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    x = {m: rng.standard_normal(y.size) + mu * y for m, mu in MU.items()}
    ids = np.array([f"P{i:04d}" for i in range(y.size)])
    out = {}
    for mask in range(1, 8):
        subset = [p for j, p in enumerate(PLAYERS) if mask >> j & 1]
        mset = modality_set_name(subset)
        p = 1 / (1 + np.exp(-sum(MU[m] * x[m] for m in subset)))
        keep = np.ones(y.size, bool)
        if drop and mset in drop:
            keep[drop[mset]] = False
        key = ("t", mset, estimator, "single" if len(subset) == 1 else fusion)
        out[key] = ModelPredictions(key, ids[keep], y[keep], np.column_stack([1 - p, p])[keep], None)
    return out


def test_auc_game_uses_the_common_patients_and_one_resample_for_all_subsets():
    rng = np.random.default_rng(3)
    models = _models(rng, drop={"imaging": np.arange(0, 30), "text+pro": np.arange(190, 200)})
    res = modality_shapley(models, "t", "enet", "early", n_boot=200, seed=1)
    assert res.n == 160 and res.n_events == 70  # patients 30..189: 70 positives (30..99), 90 negatives
    common = np.array([f"P{i:04d}" for i in range(30, 190)])
    for (_, mset, _, _), m in models.items():
        sel = np.isin(m.patient_id, common)
        assert res.subset_auc[mset] == pytest.approx(roc_auc_score(m.y[sel], m.score[sel]), abs=1e-12)
    assert res.subset_auc["none"] == EMPTY_SET_AUC
    ref = shapley_values(lambda s: res.subset_auc[modality_set_name(s)], PLAYERS)
    assert res.values == pytest.approx([ref[p] for p in PLAYERS], abs=1e-12)
    assert res.values.sum() == pytest.approx(res.subset_auc["imaging+text+pro"] - EMPTY_SET_AUC, abs=1e-12)
    # efficiency holds in every replicate only when every subset is scored on the same resample
    full = res.subset_auc["imaging+text+pro"]
    assert np.all((res.ci_low <= res.values) & (res.values <= res.ci_high))
    assert res.replicates.shape == (200, 3)
    assert np.std(res.replicates.sum(axis=1)) > 0  # v(N) varies across resamples ...
    # ... and the summed replicates equal v(N)* - 0.5 of the same resample: the full model's own bootstrap
    from reports.bootstrap import resample_weights
    from reports.metrics import weighted_auc

    m = models[("t", "imaging+text+pro", "enet", "early")]
    sel = np.isin(m.patient_id, common)
    W = resample_weights(m.y[sel], n_boot=200, seed=1)
    assert res.replicates.sum(axis=1) == pytest.approx(weighted_auc(m.y[sel] == 1, m.score[sel], W) - 0.5)
    assert full > 0.7


def test_missing_subset_is_reported_not_guessed():
    models = _models(np.random.default_rng(0))
    del models[("t", "text+pro", "enet", "early")]
    with pytest.raises(ValueError, match=r"text\+pro"):
        modality_shapley(models, "t", "enet", "early", n_boot=20)
    frame, notes = shapley_frame(models, "t", n_boot=20)
    assert frame.empty and any("text+pro" in n for n in notes)


def test_frame_and_table():
    models = _models(np.random.default_rng(5))
    models.update(_models(np.random.default_rng(6), fusion="late_mean"))  # second fusion, own singles
    frame, notes = shapley_frame(models, "t", n_boot=50)
    assert not notes
    assert set(frame["fusion"]) == {"early", "late_mean"} and len(frame) == 6
    for _, g in frame.groupby("fusion"):
        assert g["shapley"].sum() == pytest.approx(g["auc_all"].iat[0] - 0.5, abs=1e-12)
        assert g["share"].sum() == pytest.approx(1.0)
    table = shapley_table(frame)
    assert list(table.display.columns) == ["Task", "Model", "n", "AUC (all)", *PLAYERS]
    assert len(table.display) == 2 and "(" in table.display["imaging"].iat[0]
    assert table.name == "modality_shapley" and isinstance(table.data, pd.DataFrame)


def test_bootstrap_ci_covers_the_true_shapley_values():
    def true_v(s):
        return EMPTY_SET_AUC if not s else float(norm.cdf(np.sqrt(sum(MU[m] ** 2 for m in s) / 2)))

    truth = shapley_values(true_v, PLAYERS)
    truth = np.array([truth[p] for p in PLAYERS])
    rng = np.random.default_rng(11)
    reps = 200
    covered = np.zeros(3)
    for r in range(reps):
        res = modality_shapley(_models(rng), "t", "enet", "early", n_boot=200, seed=r)
        covered += (res.ci_low <= truth) & (truth <= res.ci_high)
    coverage = covered / reps
    assert np.all((coverage >= 0.88) & (coverage <= 0.99)), coverage
    assert 0.90 <= coverage.mean() <= 0.98, coverage
