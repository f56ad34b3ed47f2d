"""Modality Shapley values (HAIM's definition) with patient-bootstrap CIs, from the stored predictions.

The game, for one task, estimator and fusion:

- players: the modalities of the run (:data:`benchmarks.cohort.schema.MODALITIES` that occur in its
  modality sets);
- ``v(S)``: the AUC (binary) or macro one-vs-rest AUC (multiclass) of the model trained on modality set
  ``S``: the estimator's model of that fusion for ``|S| >= 2`` and its ``single`` model for one modality
  (one modality has nothing to fuse). ``v(∅) = 0.5`` (:data:`EMPTY_SET_AUC`): a model without features,
  the prior-only baseline (modality set ``none``), ranks patients at random. Its stored predictions are
  not used: they are the training folds' class frequencies, which anti-correlate with the held-out label
  and would give an AUC below 0.5 that no model could be blamed for;
- patients: those with a (repeat-averaged) prediction from every subset's model, the intersection, so
  that every ``v(S)`` is computed on the same patients (the common patients, ``n`` in the table).

Shapley value of modality ``i``: ``phi_i = sum_{S ⊆ N \\ {i}} |S|! (n - |S| - 1)! / n! (v(S ∪ {i}) - v(S))``;
the values add up to ``v(N) - v(∅)`` (efficiency). Bootstrap CIs: each replicate draws the common patients
once (stratified by class, :func:`reports.bootstrap.resample_weights`) and recomputes every subset's AUC on
that same resample; percentile intervals of the replicated Shapley values. The models stay as they were
fitted in cross-validation: the interval covers the sampling of the test patients, not refitting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import MODALITIES, modality_set_name
from benchmarks.store import BASELINE_ESTIMATOR, BASELINE_SET, REPORT_FIGURES_DIR, SINGLE_FUSION
from reports.bootstrap import resample_weights
from reports.comparisons import ModelPredictions
from reports.formatting import MISSING, fmt_ci, fmt_num, slug
from reports.latex import FigureEntry
from reports.metrics import get_metric
from reports.tables import Table

__all__ = [
    "EMPTY_SET_AUC",
    "SHAPLEY_TABLE",
    "ShapleyResult",
    "modality_shapley",
    "shapley_figure",
    "shapley_frame",
    "shapley_table",
    "shapley_values",
    "shapley_weights",
]

EMPTY_SET_AUC = 0.5
"""v(∅): the AUC of a model without features (chance)."""
SHAPLEY_TABLE = "modality_shapley"
FRAME_COLUMNS = [
    "task",
    "estimator",
    "fusion",
    "modality",
    "shapley",
    "ci_low",
    "ci_high",
    "share",
    "auc_all",
    "auc_empty",
    "n",
    "n_events",
    "metric",
    "n_boot",
    "level",
]


# --- the Shapley value of a game given by its subset values ---------------------------------------------
def shapley_weights(n_players: int) -> np.ndarray:
    """Matrix ``M`` (2**n, n) with ``phi = v @ M`` for value vectors indexed by bit mask (bit j: player j).

    ``M[S, i] = w(|S| - 1)`` when ``i ∈ S`` and ``-w(|S|)`` when not, ``w(s) = s! (n - s - 1)! / n!``.
    """
    if n_players < 1:
        raise ValueError(f"a game needs at least one player, got {n_players}")
    n = n_players
    w = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    M = np.zeros((2**n, n))
    for mask in range(2**n):
        size = mask.bit_count()
        for i in range(n):
            if mask >> i & 1:
                M[mask, i] = w[size - 1]
            else:
                M[mask, i] = -w[size]
    return M


def shapley_values(
    value: Mapping[frozenset[str], float] | Callable[[frozenset[str]], float], players: Sequence[str]
) -> dict[str, float]:
    """Exact Shapley value of each player of a game ``v`` (a mapping or a function of frozensets)."""
    players = list(players)
    if len(set(players)) != len(players):
        raise ValueError(f"players must be distinct, got {players}")
    get = value if callable(value) else value.__getitem__
    v = np.array(
        [
            get(frozenset(p for j, p in enumerate(players) if mask >> j & 1))
            for mask in range(2 ** len(players))
        ],
        dtype=float,
    )
    phi = v @ shapley_weights(len(players))
    return {p: float(x) for p, x in zip(players, phi, strict=True)}


# --- modality Shapley values of one estimator and fusion -----------------------------------------------
@dataclass(frozen=True, repr=False)
class ShapleyResult:
    """Shapley values of the modalities (``players``) with percentile bootstrap CIs."""

    task: str
    estimator: str
    fusion: str
    players: tuple[str, ...]
    values: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    subset_auc: dict[str, float]  # modality set name -> v(S) on the common patients ("none": v(∅))
    n: int
    n_events: int | None  # positives (binary tasks); None for multiclass
    metric: str
    n_boot: int
    level: float
    replicates: np.ndarray = field(compare=False)  # (n_boot, n_players)

    def __repr__(self) -> str:
        vals = ", ".join(f"{p}={v:.3f}" for p, v in zip(self.players, self.values, strict=True))
        return f"ShapleyResult({self.task}/{self.estimator}/{self.fusion}: {vals}; n={self.n})"

    def frame(self) -> pd.DataFrame:
        """One row per modality, the columns of :data:`FRAME_COLUMNS`."""
        auc_all = self.subset_auc[modality_set_name(self.players)]
        total = auc_all - EMPTY_SET_AUC
        return pd.DataFrame(
            {
                "task": self.task,
                "estimator": self.estimator,
                "fusion": self.fusion,
                "modality": list(self.players),
                "shapley": self.values,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "share": self.values / total if total != 0 else np.nan,
                "auc_all": auc_all,
                "auc_empty": EMPTY_SET_AUC,
                "n": self.n,
                "n_events": self.n_events if self.n_events is not None else pd.NA,
                "metric": self.metric,
                "n_boot": self.n_boot,
                "level": self.level,
            },
            columns=FRAME_COLUMNS,
        )


def _subsets(players: Sequence[str]) -> list[tuple[str, ...]]:
    """Non-empty subsets in bit-mask order (mask 1..2**n - 1), each in the players' order."""
    return [tuple(p for j, p in enumerate(players) if mask >> j & 1) for mask in range(1, 2 ** len(players))]


def _subset_model(
    models: Mapping[tuple, ModelPredictions], task: str, subset: tuple[str, ...], estimator: str, fusion: str
) -> ModelPredictions | None:
    mset = modality_set_name(subset)
    if len(subset) == 1:
        return models.get((task, mset, estimator, SINGLE_FUSION)) or models.get(
            (task, mset, estimator, fusion)
        )
    return models.get((task, mset, estimator, fusion))


def run_players(models: Mapping[tuple, ModelPredictions], task: str) -> tuple[str, ...]:
    """The modalities that occur in the modality sets of ``task``'s models, in canonical order."""
    used = {m for (t, mset, _, _) in models if t == task and mset != BASELINE_SET for m in mset.split("+")}
    return tuple(m for m in MODALITIES if m in used)


def missing_subsets(
    models: Mapping[tuple, ModelPredictions],
    task: str,
    estimator: str,
    fusion: str,
    players: Sequence[str] | None = None,
) -> list[str]:
    """Modality sets whose model the game of (task, estimator, fusion) needs but the run does not have."""
    players = tuple(players) if players is not None else run_players(models, task)
    return [
        modality_set_name(s)
        for s in _subsets(players)
        if _subset_model(models, task, s, estimator, fusion) is None
    ]


def modality_shapley(
    models: Mapping[tuple, ModelPredictions],
    task: str,
    estimator: str,
    fusion: str,
    *,
    players: Sequence[str] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> ShapleyResult:
    """Shapley values of the modalities for (task, estimator, fusion) with percentile bootstrap CIs.

    ``models``: repeat-pooled predictions by (task, modality_set, estimator, fusion), as
    :func:`reports.comparisons.split_models` gives them. ValueError when a subset's model is missing, the
    subset models share no patients, or a class is absent among the common patients.
    """
    players = tuple(players) if players is not None else run_players(models, task)
    if not players:
        raise ValueError(f"task {task!r} has no model with a modality")
    missing = missing_subsets(models, task, estimator, fusion, players)
    if missing:
        raise ValueError(
            f"task {task!r}, {estimator}/{fusion}: no model for modality sets {missing}; "
            "Shapley values need every subset of the modalities"
        )
    subsets = _subsets(players)
    ms = [_subset_model(models, task, s, estimator, fusion) for s in subsets]
    common = ms[0].patient_id
    for m in ms[1:]:
        common = np.intersect1d(common, m.patient_id, assume_unique=True)
    if common.size == 0:
        raise ValueError(f"task {task!r}, {estimator}/{fusion}: the subset models share no patient")
    rows = [np.searchsorted(m.patient_id, common) for m in ms]  # patient ids are sorted in each model
    y = ms[0].y[rows[0]]
    for m, r in zip(ms, rows, strict=True):
        if not np.array_equal(m.y[r], y):
            raise ValueError(f"task {task!r}: the models {ms[0].label} and {m.label} disagree on y_true")
    K = ms[0].proba.shape[1]
    if np.unique(y).size < K:
        raise ValueError(
            f"task {task!r}, {estimator}/{fusion}: a class is absent among the {common.size} common patients"
        )
    metric = get_metric("roc_auc" if K == 2 else "roc_auc_ovr")
    W = np.vstack([np.ones((1, y.size)), resample_weights(y, n_boot=n_boot, seed=seed)])
    V = np.full((W.shape[0], 2 ** len(players)), EMPTY_SET_AUC)  # column = bit mask; column 0 is v(∅)
    for mask, (m, r) in enumerate(zip(ms, rows, strict=True), start=1):
        V[:, mask] = metric.batch_eval(y, m.proba[r], W)
    phi = V @ shapley_weights(len(players))
    reps = phi[1:]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha], axis=0)
    subset_auc = {BASELINE_SET: EMPTY_SET_AUC}
    subset_auc.update({modality_set_name(s): float(V[0, mask]) for mask, s in enumerate(subsets, start=1)})
    return ShapleyResult(
        task=task,
        estimator=estimator,
        fusion=fusion,
        players=players,
        values=phi[0],
        ci_low=lo,
        ci_high=hi,
        subset_auc=subset_auc,
        n=int(y.size),
        n_events=int((y == 1).sum()) if K == 2 else None,
        metric=metric.name,
        n_boot=int(n_boot),
        level=level,
        replicates=reps,
    )


def shapley_games(models: Mapping[tuple, ModelPredictions], task: str) -> list[tuple[str, str]]:
    """(estimator, fusion) pairs of ``task`` with a model of two or more modalities, sorted."""
    return sorted(
        {(e, f) for (t, mset, e, f) in models if t == task and "+" in mset and e != BASELINE_ESTIMATOR}
    )


def shapley_frame(
    models: Mapping[tuple, ModelPredictions],
    task: str,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Shapley values of every (estimator, fusion) of ``task`` whose game is complete, and a note for each
    one that is not (which modality sets are missing, or why it could not be computed)."""
    players = run_players(models, task)
    frames, notes = [], []
    if len(players) < 2:
        return pd.DataFrame(columns=FRAME_COLUMNS), [
            f"task {task}: fewer than two modalities, no Shapley values"
        ]
    for estimator, fusion in shapley_games(models, task):
        missing = missing_subsets(models, task, estimator, fusion, players)
        if missing:
            notes.append(f"{task}, {estimator}/{fusion}: not computed, no model for {', '.join(missing)}.")
            continue
        try:
            res = modality_shapley(
                models, task, estimator, fusion, players=players, n_boot=n_boot, level=level, seed=seed
            )
        except ValueError as exc:
            notes.append(f"{task}, {estimator}/{fusion}: not computed, {exc}.")
            continue
        frames.append(res.frame())
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FRAME_COLUMNS)
    return frame, notes


# --- table and figure ----------------------------------------------------------------------------------
def shapley_table(frame: pd.DataFrame, *, level: float = 0.95, notes: Sequence[str] = ()) -> Table:
    """``modality_shapley``: one row per (task, estimator, fusion), a Shapley value (CI) column per modality.

    The CSV holds ``frame`` (long: one row per modality, :data:`FRAME_COLUMNS`)."""
    pct = int(round(level * 100))
    players = [m for m in MODALITIES if m in set(frame["modality"])] if len(frame) else []
    rows = []
    for (task, est, fus), g in frame.groupby(["task", "estimator", "fusion"], sort=True):
        by = g.set_index("modality")
        row = {
            "Task": task,
            "Model": f"{est} / {fus}",
            "n": str(int(g["n"].iat[0])),
            "AUC (all)": fmt_num(g["auc_all"].iat[0]),
        }
        for p in players:
            row[p] = fmt_ci(*by.loc[p, ["shapley", "ci_low", "ci_high"]]) if p in by.index else MISSING
        rows.append(row)
    display = pd.DataFrame(rows, columns=["Task", "Model", "n", "AUC (all)", *players])
    return Table(
        name=SHAPLEY_TABLE,
        data=frame.reset_index(drop=True),
        display=display,
        caption="Modality contributions: Shapley values of each modality (AUC points).",
        label="tab:modality-shapley",
        notes=[
            "Shapley value of a modality: its average marginal gain in AUC (macro one-vs-rest AUC for "
            "multiclass tasks) over all subsets of the other modalities (HAIM's definition); the values "
            f"add up to AUC (all) - {EMPTY_SET_AUC:g}, the AUC of the prior-only baseline. The AUC of a subset is that of "
            "the model of the same estimator and fusion trained on it (a single modality: its single model), "
            "on the n patients every subset's model predicted.",
            f"{pct}% CI: percentile bootstrap over patients (stratified by class), each resample scoring "
            "every subset on the same patients.",
            *notes,
        ],
        group_by="Task",
    )


def shapley_figure(frame: pd.DataFrame, *, title: str):
    """Horizontal bars of the Shapley value of each modality (rows) per model (colours), with CIs."""
    import matplotlib.pyplot as plt

    players = [m for m in MODALITIES if m in set(frame["modality"])]
    games = list(dict.fromkeys(zip(frame["estimator"], frame["fusion"], strict=True)))
    fig, ax = plt.subplots(
        layout="constrained", figsize=(6.8, 1.0 + 0.35 * max(len(players) * len(games), 3))
    )
    colors = plt.get_cmap("tab10")
    height = 0.8 / max(len(games), 1)
    for i, (est, fus) in enumerate(games):
        g = frame[(frame["estimator"] == est) & (frame["fusion"] == fus)].set_index("modality")
        g = g.reindex(players)
        y = np.arange(len(players))[::-1] - 0.4 + height * (i + 0.5)
        v = g["shapley"].to_numpy(float)
        err = np.vstack([v - g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float) - v])
        ax.barh(y, v, height=height * 0.9, color=colors(i % 10), alpha=0.85, label=f"{est} / {fus}")
        ax.errorbar(v, y, xerr=np.clip(err, 0, None), fmt="none", ecolor="black", capsize=2, lw=0.9)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(np.arange(len(players))[::-1], players)
    ax.set_xlabel("Shapley value (AUC points)")
    ax.set_title(title, fontsize=11)
    if games:
        ax.legend(fontsize=7.5, loc="best")
    else:
        ax.text(0.5, 0.5, "no complete modality game", transform=ax.transAxes, ha="center")
    return fig


def shapley_report(
    models_by_task: Mapping[str, Mapping[tuple, ModelPredictions]],
    fig_dir: Path,
    *,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[Table, dict[str, dict[str, Path]], list[FigureEntry]]:
    """The ``modality_shapley`` table of every task (to save) and one figure per task with values (saved)."""
    from reports.figures import save_figure

    frames, notes, figs, entries = [], [], {}, []
    pct = int(round(level * 100))
    for task, models in models_by_task.items():
        frame, task_notes = shapley_frame(models, task, n_boot=n_boot, level=level, seed=seed)
        notes += task_notes
        if frame.empty:
            continue
        frames.append(frame)
        name = f"shapley_{slug(task)}"
        figs[name] = save_figure(
            shapley_figure(frame, title=f"{task}: modality Shapley values"), frame, fig_dir, name
        )
        entries.append(
            FigureEntry(
                f"{REPORT_FIGURES_DIR}/{name}.pdf",
                f"{task}: Shapley value of each modality (AUC points) for each estimator and fusion, with "
                f"{pct}% percentile bootstrap CIs ({n_boot} resamples of the common patients).",
                f"fig:shapley-{slug(task)}",
            )
        )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FRAME_COLUMNS)
    return shapley_table(frame, level=level, notes=notes), figs, entries
