"""Model performance and default pairwise comparisons from stored out-of-fold predictions.

Pooling rule: repeated cross-validation gives each patient one out-of-fold prediction per repeat. For
AUCs, DeLong tests and curves the probabilities of a patient are averaged over the repeats that
predicted it (one score per patient and model); every statistic below uses these pooled predictions.

Default comparison families (p-values adjusted within each family, per task):

- ``fusion_vs_best_unimodal``: every fused model against the best single-modality model of the same
  estimator (the hybrid network, which has no unimodal counterpart, against the best unimodal model of
  any estimator);
- ``fusion_vs_components``: the best fused model of every fused modality set against the single-modality
  model of each modality it contains (same estimator, else the best of that modality) and against the
  best single-modality model overall when that one is not among them (what the forest plot shows);
- ``vs_best_overall``: the best model of every other modality set against the best model overall;
- ``top_pairs``: all pairs among the top-k models.

Binary tasks use DeLong's paired test and the DeLong CI of the difference. Multiclass tasks compare the
macro one-vs-rest AUC with a paired bootstrap (DeLong has no test for a mean of one-vs-rest AUCs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.store import BASELINE_SET, MODEL_KEYS, PREDICTIONS, SINGLE_FUSION, proba_columns
from reports.delong import delong_ci, delong_ovr, delong_test
from reports.formatting import fmt_ci, model_label, p_clause
from reports.metrics import compute_metrics
from reports.stats import adjust_pvalues, bootstrap_ci, bootstrap_diff_ci
from reports.tables import comparison_table

FAMILIES = ("fusion_vs_best_unimodal", "fusion_vs_components", "vs_best_overall", "top_pairs")
POOLING_NOTE = (
    "Repeated cross-validation: a patient's out-of-fold probabilities are averaged over repeats "
    "(one score per patient and model) before AUCs, tests and curves are computed."
)


# --- pooling ---------------------------------------------------------------------------------------
def pool_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per model and patient: probabilities averaged over repeats, ``n_repeats`` counted.

    ``y_true`` must be the same in every repeat; a patient whose label differs raises ValueError.
    """
    if predictions.empty:
        return predictions.assign(n_repeats=pd.Series(dtype=int))
    keys = [*MODEL_KEYS, "patient_id"]
    pcols = proba_columns(predictions)
    g = predictions.groupby(keys, sort=True, observed=True)
    labels = g["y_true"].agg(["min", "max"])
    bad = labels[labels["min"] != labels["max"]]
    if len(bad):
        key = bad.index[0]
        raise ValueError(
            f"patient {key[-1]!r} has different y_true across repeats in {PREDICTIONS} "
            f"(model {'/'.join(map(str, key[:-1]))})"
        )
    agg: dict[str, tuple[str, str]] = {c: (c, "mean") for c in pcols}
    agg["y_true"] = ("y_true", "first")
    agg["n_repeats"] = ("y_true", "size")
    if "pattern" in predictions.columns:
        agg["pattern"] = ("pattern", "first")
    pooled = g.agg(**agg).reset_index()
    pooled["y_true"] = pooled["y_true"].astype(int)
    return pooled


def task_classes(tasks: Mapping[str, dict], task: str, pooled: pd.DataFrame) -> tuple[str, list[str]]:
    """(type, class names) of a task from tasks.json, falling back to the number of proba columns."""
    spec = tasks.get(task, {}) if tasks else {}
    names = spec.get("class_names") or spec.get("classes")
    sub = pooled[pooled["task"] == task]
    if not names:
        k = int(sub[proba_columns(sub)].notna().any().sum())
        names = [str(i) for i in range(k)]
    ttype = spec.get("type") or ("binary" if len(names) == 2 else "multiclass")
    ttype = "multiclass" if ttype == "ordinal" else ttype
    return ttype, [str(n) for n in names]


@dataclass(frozen=True)
class ModelPredictions:
    """Pooled predictions of one model: sorted patient ids, labels and probabilities (n, K)."""

    key: tuple[str, str, str, str]
    patient_id: np.ndarray
    y: np.ndarray
    proba: np.ndarray
    pattern: np.ndarray | None

    @property
    def label(self) -> str:
        _, mset, est, fusion = self.key
        return model_label(mset, fusion, est)

    @property
    def score(self) -> np.ndarray:
        """The binary score (P(class 1)); only meaningful for binary tasks."""
        return self.proba[:, 1]


def split_models(pooled: pd.DataFrame, task: str, n_classes: int) -> dict[tuple, ModelPredictions]:
    """Pooled predictions of every model of ``task``, keyed by (task, modality_set, estimator, fusion)."""
    sub = pooled[pooled["task"] == task]
    pcols = [f"proba_{k}" for k in range(n_classes)]
    out = {}
    for key, g in sub.groupby(list(MODEL_KEYS), sort=True):
        g = g.sort_values("patient_id")
        P = g[pcols].to_numpy(float)
        if not np.isfinite(P).all():
            bad = g["patient_id"].to_numpy()[~np.isfinite(P).all(axis=1)][0]
            raise ValueError(f"{PREDICTIONS}: model {'/'.join(key)} patient {bad!r}: missing probabilities")
        out[key] = ModelPredictions(
            key=key,
            patient_id=g["patient_id"].to_numpy(str),
            y=g["y_true"].to_numpy(int),
            proba=P,
            pattern=g["pattern"].to_numpy(str) if "pattern" in g else None,
        )
    return out


def _common(a: ModelPredictions, b: ModelPredictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, ia, ib = np.intersect1d(a.patient_id, b.patient_id, assume_unique=True, return_indices=True)
    return a.y[ia], ia, ib


# --- single-model performance ----------------------------------------------------------------------
def auc_with_ci(
    y: np.ndarray, proba: np.ndarray, *, level: float = 0.95, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float, str]:
    """(AUC, low, high, method). Binary: DeLong CI. Multiclass: macro one-vs-rest AUC, percentile
    bootstrap CI (patients resampled). NaN when a class is missing."""
    K = proba.shape[1]
    present = np.unique(y)
    if present.size < K:
        return np.nan, np.nan, np.nan, "undefined (a class is absent)"
    if K == 2:
        r = delong_ci(y, proba[:, 1], level=level)
        return r.auc, r.ci_low, r.ci_high, "DeLong"
    auc = compute_metrics(y, proba, "multiclass", ["roc_auc_ovr"])["roc_auc_ovr"]
    if not n_boot:
        return auc, np.nan, np.nan, "none"
    r = bootstrap_ci(y, proba, "roc_auc_ovr", n_boot=n_boot, level=level, method="percentile", seed=seed)
    return auc, float(r.ci_low), float(r.ci_high), f"bootstrap percentile (n={n_boot})"


def performance_frame(
    pooled: pd.DataFrame,
    tasks: Mapping[str, dict],
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model: n, n_repeats (min), auc with CI, balanced accuracy, F1, Brier, and the CI method.

    F1 is the positive-class F1 for binary tasks and macro F1 otherwise; decisions at the most probable
    class (binary threshold 0.5).
    """
    rows = []
    for task in sorted(pooled["task"].unique()) if len(pooled) else []:
        ttype, names = task_classes(tasks, task, pooled)
        f1_name = "f1" if ttype == "binary" else "f1_macro"
        for key, m in split_models(pooled, task, len(names)).items():
            auc, lo, hi, method = auc_with_ci(m.y, m.proba, level=level, n_boot=n_boot, seed=seed)
            with np.errstate(all="ignore"):
                vals = compute_metrics(m.y, m.proba, ttype, ["balanced_accuracy", f1_name, "brier"])
            rows.append(
                {
                    **dict(zip(MODEL_KEYS, key, strict=True)),
                    "model": m.label,
                    "n": int(m.y.size),
                    "auc": auc,
                    "auc_low": lo,
                    "auc_high": hi,
                    "balanced_accuracy": vals["balanced_accuracy"],
                    "f1": vals[f1_name],
                    "brier": vals["brier"],
                    "ci_method": method,
                    "level": level,
                }
            )
    cols = [*MODEL_KEYS, "model", "n", "auc", "auc_low", "auc_high", "balanced_accuracy", "f1", "brier"]
    return pd.DataFrame(rows, columns=[*cols, "ci_method", "level"])


def _is_unimodal(mset: str, fusion: str) -> bool:
    return mset != BASELINE_SET and "+" not in mset and fusion in (SINGLE_FUSION, "none", "early")


def _is_fused(mset: str, fusion: str) -> bool:
    return mset != BASELINE_SET and "+" in mset


def ranked_models(perf: pd.DataFrame, task: str) -> pd.DataFrame:
    """Models of ``task`` (baseline excluded) sorted best first by AUC, ties broken by name."""
    sub = perf[(perf["task"] == task) & (perf["modality_set"] != BASELINE_SET) & perf["auc"].notna()]
    return sub.assign(_neg=-sub["auc"]).sort_values(["_neg", "model"], kind="stable").drop(columns="_neg")


def best_per_modality_set(perf: pd.DataFrame, task: str) -> pd.DataFrame:
    """The best model (by AUC) of every modality set of ``task``, best set first."""
    ranked = ranked_models(perf, task)
    return ranked.drop_duplicates("modality_set", keep="first")


# --- comparisons -----------------------------------------------------------------------------------
@dataclass
class DefaultComparisons:
    """Pairwise comparisons: a tidy ``summary`` frame (one row per pair) plus the settings used."""

    summary: pd.DataFrame
    adjust: str
    level: float
    n_boot: int
    method: str = "DeLong paired test (binary); paired bootstrap of macro OvR AUC (multiclass)"

    def to_latex(self) -> str:
        return "".join(
            comparison_table(self.summary, task=t, level=self.level).to_latex() for t in self.tasks
        )

    @property
    def tasks(self) -> list[str]:
        return list(dict.fromkeys(self.summary["task"])) if len(self.summary) else []

    def family(self, name: str, task: str | None = None) -> pd.DataFrame:
        s = self.summary[self.summary["family"] == name]
        return s if task is None else s[s["task"] == task]

    def __repr__(self) -> str:
        cols = ["task", "family", "model_a", "model_b", "delta_auc", "ci_low", "ci_high", "p_adjusted"]
        return f"DefaultComparisons(adjust={self.adjust})\n{self.summary[cols].to_string()}"


SUMMARY_COLUMNS = [
    "task", "family", "model_a", "model_b", "modality_set_a", "estimator_a", "fusion_a",
    "modality_set_b", "estimator_b", "fusion_b", "reference_rule", "n", "auc_a", "auc_b", "delta_auc",
    "ci_low", "ci_high", "boot_ci_low", "boot_ci_high", "z", "p_value", "p_adjusted", "adjust_method",
    "test", "level",
]  # fmt: skip


def compare_pair(
    a: ModelPredictions,
    b: ModelPredictions,
    *,
    level: float = 0.95,
    n_boot: int = 0,
    seed: int = 0,
) -> dict[str, object]:
    """ΔAUC = AUC(a) - AUC(b) on the patients both predicted, its CI and a two-sided p-value."""
    y, ia, ib = _common(a, b)
    K = a.proba.shape[1]
    out: dict[str, object] = {"n": int(y.size), "boot_ci_low": np.nan, "boot_ci_high": np.nan, "z": np.nan}
    if y.size < 4 or np.unique(y).size < K:
        out.update(auc_a=np.nan, auc_b=np.nan, delta_auc=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan,
                   test="undefined (too few patients or a class absent)")  # fmt: skip
        return out
    if K == 2:
        r = delong_test(y, a.proba[ia, 1], b.proba[ib, 1], level=level)
        out.update(auc_a=r.auc_a, auc_b=r.auc_b, delta_auc=r.diff, ci_low=r.ci_low, ci_high=r.ci_high,
                   p_value=r.p_value, z=r.z, test="DeLong")  # fmt: skip
        if n_boot:
            bd = _boot_diff(y, a.proba[ia], b.proba[ib], "roc_auc", n_boot, level, seed)
            out.update(boot_ci_low=bd.ci_low, boot_ci_high=bd.ci_high)
        return out
    bd = _boot_diff(y, a.proba[ia], b.proba[ib], "roc_auc_ovr", max(n_boot, 200), level, seed)
    out.update(auc_a=bd.estimate_a, auc_b=bd.estimate_b, delta_auc=bd.estimate, ci_low=bd.ci_low,
               ci_high=bd.ci_high, boot_ci_low=bd.ci_low, boot_ci_high=bd.ci_high, p_value=bd.p_value,
               test=f"paired bootstrap, macro OvR AUC (n={max(n_boot, 200)})")  # fmt: skip
    return out


def _boot_diff(y, pa, pb, metric, n_boot, level, seed):
    return bootstrap_diff_ci(y, pa, pb, metric, n_boot=n_boot, level=level, method="percentile", seed=seed)


def default_comparisons(
    pooled: pd.DataFrame,
    tasks: Mapping[str, dict],
    perf: pd.DataFrame | None = None,
    *,
    adjust: str = "holm",
    level: float = 0.95,
    top_k: int = 4,
    n_boot: int = 0,
    seed: int = 0,
) -> DefaultComparisons:
    """The three default comparison families for every task (see the module docstring).

    ``n_boot`` > 0 adds a paired-bootstrap CI of ΔAUC beside the DeLong CI (binary tasks); multiclass
    tasks always use the bootstrap (at least 200 resamples). ``adjust``: "holm" or "fdr_bh".
    """
    if adjust not in ("holm", "fdr_bh"):
        raise ValueError(f"adjust must be 'holm' or 'fdr_bh', got {adjust!r}")
    perf = performance_frame(pooled, tasks, level=level, n_boot=0, seed=seed) if perf is None else perf
    rows: list[dict] = []
    for task in sorted(pooled["task"].unique()) if len(pooled) else []:
        _, names = task_classes(tasks, task, pooled)
        models = split_models(pooled, task, len(names))
        ranked = ranked_models(perf, task)
        keyof = {r.model: tuple(getattr(r, k) for k in MODEL_KEYS) for r in ranked.itertuples()}
        pairs: list[tuple[str, tuple, tuple, str]] = []
        uni = ranked[
            [_is_unimodal(s, f) for s, f in zip(ranked["modality_set"], ranked["fusion"], strict=True)]
        ]
        fused = ranked[
            [_is_fused(s, f) for s, f in zip(ranked["modality_set"], ranked["fusion"], strict=True)]
        ]
        for r in fused.itertuples():
            same = uni[uni["estimator"] == r.estimator]
            rule = "same estimator"
            if same.empty:
                same, rule = uni, "any estimator (no unimodal model of this estimator)"
            if len(same):
                pairs.append(("fusion_vs_best_unimodal", keyof[r.model], keyof[same["model"].iat[0]], rule))
        pairs += [
            ("fusion_vs_components", keyof[a], keyof[b], rule) for a, b, rule in _component_pairs(fused, uni)
        ]
        if len(ranked):
            best = ranked["model"].iat[0]
            for r in best_per_modality_set(perf, task).itertuples():
                if r.model != best:
                    pairs.append(("vs_best_overall", keyof[r.model], keyof[best], "best model of the set"))
            for ma, mb in combinations(ranked["model"].iloc[:top_k].tolist(), 2):
                pairs.append(("top_pairs", keyof[ma], keyof[mb], f"top {top_k} by AUC"))
        for i, (family, ka, kb, rule) in enumerate(pairs):
            a, b = models[ka], models[kb]
            res = compare_pair(a, b, level=level, n_boot=n_boot, seed=seed + i)
            rows.append(
                {
                    "task": task,
                    "family": family,
                    "model_a": a.label,
                    "model_b": b.label,
                    **{f"{k}_a": v for k, v in zip(MODEL_KEYS[1:], ka[1:], strict=True)},
                    **{f"{k}_b": v for k, v in zip(MODEL_KEYS[1:], kb[1:], strict=True)},
                    "reference_rule": rule,
                    **res,
                    "level": level,
                }
            )
    summary = pd.DataFrame(
        rows, columns=[c for c in SUMMARY_COLUMNS if c not in ("p_adjusted", "adjust_method")]
    )
    summary["p_adjusted"] = np.nan
    summary["adjust_method"] = adjust
    for _, idx in summary.groupby(["task", "family"], sort=False).groups.items():
        p = summary.loc[idx, "p_value"].to_numpy(float)
        ok = np.isfinite(p)
        if ok.any():
            adj = np.full(p.shape, np.nan)
            adj[ok] = np.asarray(adjust_pvalues(p[ok], method=adjust), dtype=float)
            summary.loc[idx, "p_adjusted"] = adj
    return DefaultComparisons(summary=summary[SUMMARY_COLUMNS], adjust=adjust, level=level, n_boot=n_boot)


def _component_pairs(fused: pd.DataFrame, uni: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(fused model, reference model, rule) of the ``fusion_vs_components`` family; both frames ranked
    best first (see the module docstring)."""
    out: list[tuple[str, str, str]] = []
    if uni.empty:
        return out
    best_single = uni["model"].iat[0]
    for r in fused.drop_duplicates("modality_set", keep="first").itertuples():
        refs: list[tuple[str, str]] = []
        for m in r.modality_set.split("+"):
            of_m = uni[uni["modality_set"] == m]
            same = of_m[of_m["estimator"] == r.estimator]
            if len(same):
                refs.append((same["model"].iat[0], f"contained modality {m}, same estimator"))
            elif len(of_m):
                refs.append((of_m["model"].iat[0], f"contained modality {m}, best estimator"))
        if best_single not in {b for b, _ in refs}:
            refs.append((best_single, "best single-modality model"))
        out += [(r.model, b, rule) for b, rule in refs]
    return out


def comparison_text(row: pd.Series) -> str:
    """One-line plain-text description of a comparison row."""
    return (
        f"{row['model_a']} vs {row['model_b']}: ΔAUC {fmt_ci(row['delta_auc'], row['ci_low'], row['ci_high'])}, "
        f"{p_clause('p', row['p_value'])}, {p_clause('adjusted p', row['p_adjusted'])} ({row['adjust_method']})"
    )


def per_class_auc_frame(
    models: Mapping[tuple, ModelPredictions],
    keys: list[tuple],
    class_names: list[str],
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """One-vs-rest AUC with DeLong CI of every class, for each model in ``keys`` (multiclass tasks)."""
    rows = []
    for key in keys:
        m = models[key]
        if np.unique(m.y).size < len(class_names):
            continue
        res = delong_ovr(m.y, m.proba, level=level, class_names=class_names)
        for name, r in zip(res.class_names, res.per_class, strict=True):
            rows.append(
                {
                    "task": key[0],
                    "model": m.label,
                    "class": name,
                    "n_pos": r.n_pos,
                    "auc": r.auc,
                    "auc_low": r.ci_low,
                    "auc_high": r.ci_high,
                }
            )
    return pd.DataFrame(rows, columns=["task", "model", "class", "n_pos", "auc", "auc_low", "auc_high"])


# --- performance by availability pattern -----------------------------------------------------------
def _auc_rows(
    m: ModelPredictions, groups: np.ndarray, *, level: float, min_n: int, n_boot: int, seed: int
) -> list[dict[str, Any]]:
    """One row per group label of ``groups`` (aligned with ``m``'s patients; "" is left out): AUC and CI."""
    rows = []
    for group in sorted(set(groups) - {""}):
        sel = groups == group
        y, P = m.y[sel], m.proba[sel]
        note = ""
        auc = lo = hi = np.nan
        if sel.sum() < min_n:
            note = f"fewer than {min_n} patients"
        elif np.unique(y).size < P.shape[1]:
            note = "a class is absent"
        else:
            auc, lo, hi, _ = auc_with_ci(y, P, level=level, n_boot=n_boot, seed=seed)
        rows.append(
            {
                "task": m.key[0],
                "model": m.label,
                "label": m.label,
                "pattern": group,
                "n_pattern": int(sel.sum()),
                "auc": auc,
                "auc_low": lo,
                "auc_high": hi,
                "note": note,
            }
        )
    return rows


REPORT_LANGUAGE_PATTERN = "text reports: {}"
"""Pattern label of the per-language rows of :func:`performance_by_pattern` ("text reports: fr")."""


def performance_by_pattern(
    models: Mapping[tuple, ModelPredictions],
    keys: list[tuple],
    *,
    level: float = 0.95,
    min_n: int = 10,
    n_boot: int = 200,
    seed: int = 0,
    report_language: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """AUC with CI of each model in ``keys`` within each availability pattern (the ``pattern`` column).

    A model is scored only on the patterns holding at least one of its modalities (a single-modality
    model only on the patients who have that modality): elsewhere it predicts the training prior, and
    its AUC there would say nothing. With ``report_language`` (patient id -> language group of the
    patient's reports, e.g. "en", "fr", "en+fr", as in the cohort summary), each model that uses the text
    modality also gets one row per language group, pattern ``text reports: <group>``, of the patients who
    have text. A group with fewer than ``min_n`` patients or without every class gets NaN and a ``note``.
    """
    rows = []
    for key in keys:
        m = models[key]
        opts = {"level": level, "min_n": min_n, "n_boot": n_boot, "seed": seed}
        uses = set(key[1].split("+"))
        if m.pattern is not None:
            own = np.array([bool(uses & set(str(p).split("+"))) for p in m.pattern])
            rows += _auc_rows(m, np.where(own, m.pattern, ""), **opts)
        if report_language is not None and "text" in uses:
            langs = [report_language.get(p, "") for p in m.patient_id]
            has_text = (
                np.array(["text" in str(p).split("+") for p in m.pattern])
                if m.pattern is not None
                else np.ones(len(langs), bool)
            )
            groups = np.array(
                [
                    REPORT_LANGUAGE_PATTERN.format(g) if g not in ("", "none") and t else ""
                    for g, t in zip(langs, has_text, strict=True)
                ],
                dtype=object,
            )
            rows += _auc_rows(m, groups, **opts)
    return pd.DataFrame(
        rows, columns=["task", "model", "label", "pattern", "n_pattern", "auc", "auc_low", "auc_high", "note"]
    )


__all__ = [
    "DefaultComparisons",
    "ModelPredictions",
    "POOLING_NOTE",
    "REPORT_LANGUAGE_PATTERN",
    "auc_with_ci",
    "best_per_modality_set",
    "compare_pair",
    "comparison_text",
    "default_comparisons",
    "performance_by_pattern",
    "per_class_auc_frame",
    "performance_frame",
    "pool_predictions",
    "ranked_models",
    "split_models",
    "task_classes",
]
