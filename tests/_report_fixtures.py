"""A realistic fake run folder for the report tests.

It follows the result schemas of INTERFACES.md ("Results") exactly: predictions.parquet, metrics.parquet,
cells.parquet, cohort_summary.parquet, provenance.json and tasks.json. Scores come from a seeded latent
disease activity with a known modality signal strength (imaging > text > pro, fusions above their best
single modality), so tests can check that the report ranks models the right way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.schema import MODALITIES, SEVERITY_CLASSES

SIGNAL = {"imaging": 1.6, "text": 1.1, "pro": 0.6}
"""Signal-to-noise of each modality's scores; a fusion gets the root sum of squares, shrunk a little."""

# (modality_set, estimator, fusion); the hybrid network ignores the estimator axis
MODELS: tuple[tuple[str, str, str], ...] = (
    *((m, e, "single") for m in MODALITIES for e in ("enet", "rf")),
    *(("imaging+pro", e, "early") for e in ("enet", "rf")),
    *(("imaging+text+pro", e, "early") for e in ("enet", "rf")),
    *(("imaging+text+pro", e, "late_mean") for e in ("enet", "rf")),
    ("imaging+text+pro", "hybrid", "hybrid_concat"),
)
FAILED_MODEL = ("endo_active", "imaging+text", "enet", "early")  # every cell of it fails
PARTLY_FAILED = ("severity4", "imaging+text+pro", "rf", "early", 1, 3)  # one fold of one repeat fails

TASKS = {
    "endo_active": {
        "type": "binary",
        "endpoint": "ses_cd",
        "description": "Endoscopically active disease: SES-CD >= 3",
        "family": "endoscopic",
        "threshold": 3,
        "class_names": ["inactive", "active"],
    },
    "severity4": {
        "type": "multiclass",
        "endpoint": "severity",
        "description": "4-class endoscopic severity from SES-CD: inactive 0-2, mild 3-6, moderate 7-15, severe >= 16",
        "family": "endoscopic",
        "threshold": None,
        "class_names": list(SEVERITY_CLASSES),
    },
}


def _cohort(n: int, rng: np.random.Generator) -> pd.DataFrame:
    ids = [f"P{i:04d}" for i in range(1, n + 1)]
    severity_idx = rng.choice(4, size=n, p=[0.3, 0.3, 0.25, 0.15])
    bands = [(0, 2), (3, 6), (7, 15), (16, 30)]
    ses = np.array([rng.integers(bands[k][0], bands[k][1] + 1) for k in severity_idx])
    latent = (ses - ses.mean()) / ses.std()
    age = np.round(rng.normal(38, 12, n).clip(16, 85), 1)
    crp = np.round(np.exp(rng.normal(1.5 + 0.6 * latent, 0.8)), 1)
    crp[rng.random(n) < 0.1] = np.nan
    calpro = np.round(np.exp(rng.normal(5.2 + 0.7 * latent, 0.6)), 0)
    calpro[rng.random(n) < 0.15] = np.nan
    # imaging is missing more often in inactive patients (scans ordered when disease is suspected):
    # the missingness-vs-label diagnostic must find it
    p_img_missing = np.where(severity_idx == 0, 0.55, 0.08)
    avail = {
        "imaging": rng.random(n) >= p_img_missing,
        "text": rng.random(n) >= 0.12,
        "pro": rng.random(n) >= 0.15,
    }
    none = ~(avail["imaging"] | avail["text"] | avail["pro"])
    avail["pro"][none] = True
    frame = pd.DataFrame(
        {
            "patient_id": ids,
            "site": rng.choice(["Leuven", "Oxford", "Zurich"], size=n),
            "sex": rng.choice(["M", "F"], size=n),
            "age": age,
            "montreal_location": rng.choice(["L1", "L2", "L3"], size=n, p=[0.4, 0.2, 0.4]),
            "montreal_behaviour": rng.choice(["B1", "B2", "B3"], size=n, p=[0.6, 0.3, 0.1]),
            "perianal": (rng.random(n) < 0.2).astype(int),
            "crp": crp,
            "calprotectin": calpro,
            "ses_cd": ses,
            "maria": np.round((40 + 25 * latent + rng.normal(0, 15, n)).clip(0), 1),
            "cdai": np.round((180 + 70 * latent + rng.normal(0, 60, n)).clip(0), 0),
            "hbi": np.round((5 + 2.5 * latent + rng.normal(0, 2, n)).clip(0)).astype(int),
            "severity": [SEVERITY_CLASSES[k] for k in severity_idx],
            "avail_imaging": avail["imaging"],
            "avail_text": avail["text"],
            "avail_pro": avail["pro"],
        }
    )
    frame.loc[rng.random(n) < 0.05, "sex"] = None
    frame["_latent"] = latent
    frame["_severity_idx"] = severity_idx
    return frame


def _model_scores(
    cohort: pd.DataFrame, modality_set: str, estimator: str, rng: np.random.Generator, n_repeats: int
) -> np.ndarray:
    """One noisy score per patient and repeat (patients x repeats); the baseline scores nothing."""
    if modality_set == "none":
        return np.zeros((len(cohort), n_repeats))
    mods = modality_set.split("+")
    have = np.stack([cohort[f"avail_{m}"].to_numpy(bool) for m in mods], axis=1)
    # a patient lacking a modality gets no signal from it (the model sees NaN features there)
    strength = np.sqrt((have * np.array([SIGNAL[m] ** 2 for m in mods])).sum(axis=1)) * 0.95
    strength *= {"enet": 1.0, "rf": 0.9, "hybrid": 1.02}[estimator]
    latent = cohort["_latent"].to_numpy()
    shared = rng.normal(0, 1, len(cohort))  # model-specific error shared by the repeats
    per_repeat = rng.normal(0, 0.35, (len(cohort), n_repeats))
    return strength[:, None] * latent[:, None] + shared[:, None] + per_repeat


def _proba(score: np.ndarray, task: str, prior: np.ndarray) -> np.ndarray:
    if not np.any(score):
        return np.tile(prior, (len(score), 1))
    if len(prior) == 2:
        p1 = 1.0 / (1.0 + np.exp(-(0.9 * score + 0.6)))
        return np.stack([1 - p1, p1], axis=1)
    centres = np.array([-2.0, -0.4, 1.0, 2.4])
    logits = -0.5 * (score[:, None] - centres[None, :]) ** 2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cell(task: str, mset: str, est: str, fusion: str, r: int, f: int) -> dict:
    return {
        "cell_id": f"{task}/{mset}/{est}/{fusion}/r{r}f{f}",
        "model_id": f"{task}/{mset}/{est}/{fusion}",
        "task": task,
        "modality_set": mset,
        "estimator": est,
        "fusion": fusion,
        "repeat": r,
        "fold": f,
    }


def make_fake_run(
    run_dir: str | Path,
    *,
    n_patients: int = 120,
    n_repeats: int = 2,
    n_folds: int = 5,
    seed: int = 0,
    models: tuple[tuple[str, str, str], ...] = MODELS,
    with_search_space: bool = True,
    with_baseline: bool = True,
    with_failures: bool = True,
) -> Path:
    """Write a complete fake run folder into ``run_dir`` and return its path."""
    from reports.metrics import compute_metrics

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cohort = _cohort(n_patients, rng)
    y_by_task = {
        "endo_active": (cohort["ses_cd"].to_numpy() >= 3).astype(int),
        "severity4": cohort["_severity_idx"].to_numpy().astype(int),
    }
    patterns = cohort.apply(lambda r: "+".join(m for m in MODALITIES if r[f"avail_{m}"]), axis=1).to_numpy()
    folds = np.stack([rng.permutation(n_patients) % n_folds for _ in range(n_repeats)], axis=1)
    all_models = ((("none", "prior", "none"),) if with_baseline else ()) + tuple(models)

    pred_rows: list[pd.DataFrame] = []
    metric_rows: list[dict] = []
    cell_rows: list[dict] = []
    for task, spec in TASKS.items():
        k = len(spec["class_names"])
        y = y_by_task[task]
        for modality_set, estimator, fusion in all_models:
            score = _model_scores(cohort, modality_set, estimator, rng, n_repeats)
            for r in range(n_repeats):
                for f in range(n_folds):
                    axes = _cell(task, modality_set, estimator, fusion, r, f)
                    test = folds[:, r] == f
                    prior = np.bincount(y[~test], minlength=k) / (~test).sum()
                    proba = _proba(score[test, r], task, prior)
                    failed = with_failures and (task, modality_set, estimator, fusion, r, f) == PARTLY_FAILED
                    params = {"C": float(np.round(10 ** rng.uniform(-2, 2), 4)), "l1_ratio": 0.5}
                    if estimator == "enet" and modality_set == "pro":
                        params["C"] = 100.0  # at the upper edge of the search space
                    cell_rows.append(
                        {
                            **axes,
                            "seed": int(rng.integers(0, 2**31 - 1)),
                            "status": "failed" if failed else "ok",
                            "error": "ValueError: Input contains NaN\nTraceback ..." if failed else None,
                            "best_params": json.dumps(params, sort_keys=True)
                            if estimator != "prior"
                            else "{}",
                            "search_space": json.dumps({"C": [0.01, 100.0], "l1_ratio": [0.0, 1.0]})
                            if estimator == "enet"
                            else None,
                            "n_trials": 20,
                            "fit_seconds": float(rng.uniform(0.5, 4.0)),
                            "predict_seconds": float(rng.uniform(0.01, 0.1)),
                            "peak_memory_mb": float(rng.uniform(200, 900)),
                            "n_train": int((~test).sum()),
                            "n_test": int(test.sum()),
                        }
                    )
                    if failed:
                        continue
                    part = pd.DataFrame(
                        {
                            **{a: [v] * int(test.sum()) for a, v in axes.items()},
                            "endpoint": spec["endpoint"],
                            "patient_id": cohort["patient_id"].to_numpy()[test],
                            "y_true": y[test],
                            "pattern": patterns[test],
                        }
                    )
                    for c in range(k):
                        part[f"proba_{c}"] = proba[:, c]
                    part["y_score"] = proba[:, 1] if k == 2 else np.nan
                    pred_rows.append(part)
        if with_failures and FAILED_MODEL[0] == task:
            for r in range(n_repeats):
                for f in range(n_folds):
                    cell_rows.append(
                        {
                            **_cell(*FAILED_MODEL, r, f),
                            "seed": 0,
                            "status": "failed",
                            "error": "MemoryError: unable to allocate 3.2 GiB",
                            "best_params": "{}",
                            "search_space": None,
                            "n_trials": 0,
                            "fit_seconds": 0.0,
                            "predict_seconds": 0.0,
                            "peak_memory_mb": 0.0,
                            "n_train": 0,
                            "n_test": 0,
                        }
                    )

    predictions = pd.concat(pred_rows, ignore_index=True)
    proba_cols = [c for c in predictions.columns if c.startswith("proba_")]
    predictions = predictions[
        [c for c in predictions.columns if c not in (*proba_cols, "y_score")] + proba_cols + ["y_score"]
    ]
    # per-fold metrics and the pooled out-of-fold metrics per repeat (fold "all"), as the runner writes
    for (model_id, repeat), g in predictions.groupby(["model_id", "repeat"], sort=True):
        task_type = TASKS[g["task"].iat[0]]["type"]
        for fold, gg in [*((str(f), gg) for f, gg in g.groupby("fold")), ("all", g)]:
            proba = gg[proba_cols].dropna(axis=1, how="all").to_numpy()
            with np.errstate(all="ignore"):
                values = compute_metrics(gg["y_true"].to_numpy(), proba, task_type)
            for metric, value in values.items():
                metric_rows.append(
                    {
                        "model_id": model_id,
                        **{a: gg[a].iat[0] for a in ("task", "modality_set", "estimator", "fusion")},
                        "repeat": int(repeat),
                        "fold": fold,
                        "metric": metric,
                        "value": float(value),
                    }
                )
    predictions.sort_values(["cell_id", "patient_id"]).reset_index(drop=True).to_parquet(
        run_dir / "predictions.parquet", index=False
    )
    pd.DataFrame(metric_rows).to_parquet(run_dir / "metrics.parquet", index=False)
    cells = pd.DataFrame(cell_rows).sort_values("cell_id").reset_index(drop=True)
    if not with_search_space:
        cells = cells.drop(columns="search_space")
    cells.to_parquet(run_dir / "cells.parquet", index=False)
    summary = cohort.drop(columns=["_latent", "_severity_idx"])
    for m in MODALITIES:
        summary[f"features_{m}"] = summary[f"avail_{m}"]
    summary.to_parquet(run_dir / "cohort_summary.parquet", index=False)
    tasks = {
        t: {
            **spec,
            "n_patients": n_patients,
            "class_counts": {str(c): int(v) for c, v in enumerate(np.bincount(y_by_task[t]))},
        }
        for t, spec in TASKS.items()
    }
    (run_dir / "tasks.json").write_text(json.dumps(tasks, indent=2, sort_keys=True), encoding="utf-8")
    provenance = {
        "created_utc": "2026-11-27T20:00:00Z",
        "config_hash": "cafe1234",
        "seed": seed,
        "versions": {"cdbench": "0.1.0", "scikit-learn": "1.9.1"},
        "python": "3.11.7",
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "timings_seconds": {"total": 1234.5},
        "config": {"n_repeats": n_repeats, "n_folds": n_folds},
    }
    (run_dir / "provenance.json").write_text(json.dumps(provenance, indent=2, sort_keys=True), encoding="utf-8")
    return run_dir
