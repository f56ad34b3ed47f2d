"""Metric registry: every metric the harness reports, with its direction and the task types it applies to.

Conventions (shared by every metric here):

- ``y_true``: integer class labels ``0..K-1`` (binary: 1 = positive class).
- ``proba``: 2-D array ``(n, K)`` of class probabilities; a 1-D binary score ``s`` is read as ``[1 - s, s]``.
- Binary decisions use ``proba[:, 1] >= threshold`` (default 0.5); multiclass decisions use ``argmax``
  (first maximum on ties, as scikit-learn's ``predict``).
- Every built-in metric is implemented once as a *weighted batch* function ``batch(y, P, W) -> (B,)``,
  where each row of ``W`` (shape ``(B, n)``) is a vector of non-negative sample weights. A bootstrap
  resample is the row of its draw counts, so 2000 resamples are one call; the plain metric is the batch
  function with a single row of ones.

Definitions that differ between libraries:

- ``pr_auc`` is the average precision (step-wise area, scikit-learn's ``average_precision_score``).
- ``brier``: binary ``mean((p1 - y)^2)``; multiclass ``mean_i sum_k (p_ik - [y_i = k])^2`` (Brier's
  original score, range [0, 2]; scikit-learn's ``brier_score_loss`` for multiclass).
- ``calibration_slope``: ``b`` in the logistic regression ``logit P(y=1) = a + b * logit(p)``.
- ``calibration_intercept`` (calibration-in-the-large): ``a`` in ``logit P(y=1) = a + offset(logit(p))``.
  ``p`` is clipped to ``[1e-12, 1 - 1e-12]`` before the logit; a fit that does not converge (separation,
  constant ``p``, a single class) gives NaN.
- ``roc_auc_ovr``: unweighted mean over classes of the one-vs-rest AUC of ``proba[:, k]``; NaN when a class
  is absent. ``f1_macro`` and multiclass ``balanced_accuracy`` average over the classes that occur (in
  ``y_true``, or, for F1, in ``y_true`` or the predictions) like scikit-learn.
- ``qwk``: Cohen's kappa with quadratic weights ``(i - j)^2 / (K - 1)^2`` over the K ordered classes of
  ``proba`` (the class order is the column order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

TASK_TYPES: tuple[str, ...] = ("binary", "multiclass")
CALIBRATION_EPS = 1e-12
_CHUNK_ELEMENTS = 2_000_000  # rows of W processed at once are capped so that chunk * n stays below this

BatchFunc = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------------------------- inputs
def check_inputs(
    y_true: Iterable, proba: Iterable, n_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to ``(y: int64 (n,), P: float64 (n, K))``; a 1-D score becomes ``[1-s, s]``."""
    P = np.asarray(proba, dtype=float)
    if P.ndim == 1:
        P = np.column_stack([1.0 - P, P])
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"proba must be a 1-D binary score or a 2-D (n, K>=2) array, got shape {P.shape}")
    if n_classes is not None and P.shape[1] != n_classes:
        raise ValueError(f"proba has {P.shape[1]} columns but the task has {n_classes} classes")
    y_raw = np.asarray(y_true)
    if y_raw.dtype.kind == "O":  # e.g. a pandas nullable-integer column
        try:
            y_raw = y_raw.astype(float)
        except (TypeError, ValueError):
            raise ValueError(
                "y_true must hold integer class labels 0..K-1 (found non-numeric values)"
            ) from None
    if y_raw.ndim != 1 or y_raw.shape[0] != P.shape[0]:
        raise ValueError(
            f"y_true must be 1-D with {P.shape[0]} entries (one per proba row), got {y_raw.shape}"
        )
    if y_raw.dtype.kind == "f":
        if not np.all(np.isfinite(y_raw)) or np.any(y_raw != np.round(y_raw)):
            raise ValueError("y_true must hold integer class labels (found NaN or non-integer values)")
    elif y_raw.dtype.kind not in "biu":
        raise ValueError(f"y_true must hold integer class labels 0..K-1, got dtype {y_raw.dtype}")
    y = y_raw.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= P.shape[1]):
        bad = int(np.flatnonzero((y < 0) | (y >= P.shape[1]))[0])
        raise ValueError(f"y_true[{bad}] = {y[bad]} is not a class index in 0..{P.shape[1] - 1}")
    if not np.all(np.isfinite(P)):
        bad = int(np.flatnonzero(~np.isfinite(P).all(axis=1))[0])
        raise ValueError(f"proba row {bad} contains NaN or infinite values")
    return y, P


def _check_probabilities(P: np.ndarray, metric: str) -> None:
    if P.min() < 0.0 or P.max() > 1.0:
        raise ValueError(
            f"{metric} needs probabilities in [0, 1]; got values in [{P.min():.4g}, {P.max():.4g}]"
        )


def _chunks(B: int, n: int) -> Iterable[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, B, step):
        yield slice(start, min(B, start + step))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


# ------------------------------------------------------------------------------------ weighted primitives
def weighted_auc(pos: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ROC-AUC (ties count 1/2) for every weight row of ``W`` (B, n): O(n log n) sort once, O(B n) after.

    For each positive i, the weight of negatives scored below it plus half the tied ones is read from the
    cumulative sum of the negatives' weights sorted by score (two ``searchsorted`` positions per positive).
    """
    pos = np.asarray(pos, dtype=bool)
    W = np.atleast_2d(W)
    s_pos, s_neg = score[pos], score[~pos]
    neg_order = np.argsort(s_neg, kind="mergesort")
    s_neg_sorted = s_neg[neg_order]
    lo = np.searchsorted(s_neg_sorted, s_pos, side="left")
    hi = np.searchsorted(s_neg_sorted, s_pos, side="right")
    pos_idx, neg_idx = np.flatnonzero(pos), np.flatnonzero(~pos)[neg_order]
    out = np.empty(W.shape[0])
    for sl in _chunks(W.shape[0], W.shape[1]):
        Wn = W[sl][:, neg_idx]
        Wp = W[sl][:, pos_idx]
        C = np.zeros((Wn.shape[0], Wn.shape[1] + 1))
        np.cumsum(Wn, axis=1, out=C[:, 1:])
        below_plus_half_tie = 0.5 * (C[:, lo] + C[:, hi])
        num = np.einsum("bi,bi->b", Wp, below_plus_half_tie)
        out[sl] = _safe_div(num, Wp.sum(axis=1) * C[:, -1])
    return out


def weighted_average_precision(pos: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision ``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds, per weight row."""
    pos = np.asarray(pos, dtype=bool)
    W = np.atleast_2d(W)
    s_pos, s_neg = score[pos], score[~pos]
    pos_order, neg_order = np.argsort(s_pos, kind="mergesort"), np.argsort(s_neg, kind="mergesort")
    s_pos_sorted, s_neg_sorted = s_pos[pos_order], s_neg[neg_order]
    # for positive i: TP(>= s_i) and FP(>= s_i) from the ascending cumulative sums
    lo_p = np.searchsorted(s_pos_sorted, s_pos, side="left")
    lo_n = np.searchsorted(s_neg_sorted, s_pos, side="left")
    pos_idx = np.flatnonzero(pos)
    pos_sorted_idx, neg_sorted_idx = pos_idx[pos_order], np.flatnonzero(~pos)[neg_order]
    out = np.empty(W.shape[0])
    for sl in _chunks(W.shape[0], W.shape[1]):
        Wb = W[sl]
        Cp = np.zeros((Wb.shape[0], pos_sorted_idx.size + 1))
        np.cumsum(Wb[:, pos_sorted_idx], axis=1, out=Cp[:, 1:])
        Cn = np.zeros((Wb.shape[0], neg_sorted_idx.size + 1))
        np.cumsum(Wb[:, neg_sorted_idx], axis=1, out=Cn[:, 1:])
        tp = Cp[:, -1:] - Cp[:, lo_p]
        fp = Cn[:, -1:] - Cn[:, lo_n]
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
        out[sl] = _safe_div(np.einsum("bi,bi->b", Wb[:, pos_idx], precision), Cp[:, -1])
    return out


def weighted_confusion(y: np.ndarray, pred: np.ndarray, K: int, W: np.ndarray) -> np.ndarray:
    """Weighted confusion matrices ``(B, K, K)``: ``[b, true, predicted]``."""
    W = np.atleast_2d(W)
    onehot = np.zeros((y.size, K * K))
    onehot[np.arange(y.size), y * K + pred] = 1.0
    return (W @ onehot).reshape(W.shape[0], K, K)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, CALIBRATION_EPS, 1.0 - CALIBRATION_EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def weighted_logistic_recalibration(
    y: np.ndarray, x: np.ndarray, W: np.ndarray, *, fit_slope: bool, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Batched Newton-Raphson for ``logit P(y=1) = a + b x`` (or ``a + offset(x)``), one fit per weight row.

    Returns ``(B, 2)`` rows ``[a, b]`` (``b`` = 1 for the offset model); NaN where the fit did not converge.
    """
    W = np.atleast_2d(W)
    B = W.shape[0]
    yf = y.astype(float)
    theta = np.zeros((B, 2))
    theta[:, 1] = 1.0
    done = np.zeros(B, dtype=bool)
    for _ in range(max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        Wa, ta = W[act], theta[act]
        mu = _sigmoid(ta[:, :1] + ta[:, 1:] * x[None, :])
        r = Wa * (yf[None, :] - mu)
        v = Wa * mu * (1.0 - mu)
        g0, h00 = r.sum(axis=1), v.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            if fit_slope:
                g1, h01, h11 = r @ x, v @ x, v @ (x * x)
                det = h00 * h11 - h01 * h01
                step = np.column_stack([(h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det])
            else:
                step = np.column_stack([g0 / h00, np.zeros(act.size)])
        bad = ~np.all(np.isfinite(step), axis=1)
        step[bad] = 0.0
        theta[act] = ta + step
        theta[act[bad]] = np.nan
        conv = bad | (np.max(np.abs(step), axis=1) <= tol * (1.0 + np.max(np.abs(ta), axis=1)))
        done[act[conv]] = True
    theta[~done] = np.nan
    return theta


# ----------------------------------------------------------------------------------- batch metric bodies
def _binary_pred(P: np.ndarray, threshold: float) -> np.ndarray:
    return (P[:, 1] >= threshold).astype(np.int64)


def _require_binary(P: np.ndarray, name: str) -> None:
    if P.shape[1] != 2:
        raise ValueError(f"metric {name!r} is binary-only; proba has {P.shape[1]} classes")


def _pred(P: np.ndarray, threshold: float) -> np.ndarray:
    return _binary_pred(P, threshold) if P.shape[1] == 2 else np.argmax(P, axis=1)


def _b_roc_auc(y, P, W):
    _require_binary(P, "roc_auc")
    return weighted_auc(y == 1, P[:, 1], W)


def _b_roc_auc_ovr(y, P, W):
    return np.mean([weighted_auc(y == k, P[:, k], W) for k in range(P.shape[1])], axis=0)


def _b_pr_auc(y, P, W):
    _require_binary(P, "pr_auc")
    return weighted_average_precision(y == 1, P[:, 1], W)


def _b_accuracy(threshold):
    def f(y, P, W):
        C = weighted_confusion(y, _pred(P, threshold), P.shape[1], W)
        return _safe_div(np.trace(C, axis1=1, axis2=2), C.sum(axis=(1, 2)))

    return f


def _b_balanced_accuracy(threshold):
    def f(y, P, W):
        C = weighted_confusion(y, _pred(P, threshold), P.shape[1], W)
        support = C.sum(axis=2)
        recall = _safe_div(np.diagonal(C, axis1=1, axis2=2), support)
        with np.errstate(invalid="ignore"):
            out = np.nansum(recall, axis=1) / np.sum(support > 0, axis=1)
        return out

    return f


def _b_class_recall(threshold, k: int, name: str):
    """Recall of class ``k`` of a binary task (1: sensitivity, 0: specificity)."""

    def f(y, P, W):
        _require_binary(P, name)
        C = weighted_confusion(y, _binary_pred(P, threshold), 2, W)
        return _safe_div(C[:, k, k], C[:, k].sum(axis=1))

    return f


def _b_sensitivity(threshold):
    return _b_class_recall(threshold, 1, "sensitivity")


def _b_specificity(threshold):
    return _b_class_recall(threshold, 0, "specificity")


def _b_f1(threshold):
    def f(y, P, W):
        _require_binary(P, "f1")
        C = weighted_confusion(y, _binary_pred(P, threshold), 2, W)
        tp, fp, fn = C[:, 1, 1], C[:, 0, 1], C[:, 1, 0]
        return _safe_div(2 * tp, 2 * tp + fp + fn)

    return f


def _b_f1_macro(y, P, W):
    C = weighted_confusion(y, np.argmax(P, axis=1), P.shape[1], W)
    tp = np.diagonal(C, axis1=1, axis2=2)
    den = 2 * tp + (C.sum(axis=1) - tp) + (C.sum(axis=2) - tp)
    f1 = _safe_div(2 * tp, den)
    with np.errstate(invalid="ignore"):
        return np.nansum(f1, axis=1) / np.sum(den > 0, axis=1)


def _b_brier(y, P, W):
    _check_probabilities(P, "brier")
    if P.shape[1] == 2:
        loss = (P[:, 1] - (y == 1)) ** 2
    else:
        onehot = np.eye(P.shape[1])[y]
        loss = ((P - onehot) ** 2).sum(axis=1)
    W = np.atleast_2d(W)
    return _safe_div(W @ loss, W.sum(axis=1))


def _b_calibration(fit_slope: bool):
    name = "calibration_slope" if fit_slope else "calibration_intercept"

    def f(y, P, W):
        _require_binary(P, name)
        _check_probabilities(P, name)
        theta = weighted_logistic_recalibration(y, _logit(P[:, 1]), W, fit_slope=fit_slope)
        return theta[:, 1] if fit_slope else theta[:, 0]

    return f


def _b_qwk(y, P, W):
    K = P.shape[1]
    C = weighted_confusion(y, np.argmax(P, axis=1), K, W)
    idx = np.arange(K)
    wq = (idx[:, None] - idx[None, :]) ** 2 / max(K - 1, 1) ** 2
    total = C.sum(axis=(1, 2))
    expected = _safe_div(C.sum(axis=2)[:, :, None] * C.sum(axis=1)[:, None, :], total[:, None, None])
    return 1.0 - _safe_div((wq * C).sum(axis=(1, 2)), (wq * expected).sum(axis=(1, 2)))


# --------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Metric:
    """One registered metric.

    ``greater_is_better`` is None for metrics whose best value is ``ideal`` (calibration intercept 0,
    slope 1); :meth:`badness` ranks any metric. ``func(y_true, proba) -> float`` is the plain metric; ``batch(y, P, W) -> (B,)`` (optional) evaluates it
    under B weight vectors at once. Without ``batch``, :meth:`batch_eval` loops over resamples (integer
    weights only).
    """

    name: str
    func: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool | None
    tasks: frozenset[str]
    label: str
    batch: BatchFunc | None = field(default=None, repr=False, compare=False)
    ideal: float | None = None

    def badness(self, value: float) -> float:
        """Lower is better for every metric: ``-v``, ``v``, or ``|v - ideal|`` for calibration metrics."""
        if self.ideal is not None:
            return abs(value - self.ideal)
        return -value if self.greater_is_better else value

    def __call__(self, y_true, proba) -> float:
        return float(self.func(y_true, proba))

    def batch_eval(self, y_true, proba, W: np.ndarray) -> np.ndarray:
        """The metric under each row of the weight matrix ``W`` (B, n) (e.g. bootstrap draw counts)."""
        y, P = check_inputs(y_true, proba)
        W = np.atleast_2d(np.asarray(W, dtype=float))
        if W.shape[1] != y.size:
            raise ValueError(f"weight matrix has {W.shape[1]} columns for {y.size} samples")
        if self.batch is not None:
            return np.asarray(self.batch(y, P, W), dtype=float)
        if not np.all(W == np.round(W)) or W.min() < 0:
            raise ValueError(f"metric {self.name!r} has no weighted form; weights must be counts")
        counts = W.astype(np.int64)
        out = np.empty(W.shape[0])
        for b in range(W.shape[0]):
            idx = np.repeat(np.arange(y.size), counts[b])
            out[b] = self.func(y[idx], P[idx])
        return out


def _from_batch(batch: BatchFunc) -> Callable[[np.ndarray, np.ndarray], float]:
    def func(y_true, proba) -> float:
        y, P = check_inputs(y_true, proba)
        return float(batch(y, P, np.ones((1, y.size)))[0])

    return func


def make_metric(
    name: str,
    batch: BatchFunc,
    *,
    greater_is_better: bool | None,
    tasks: Iterable[str],
    label: str,
    ideal: float | None = None,
) -> Metric:
    """Build a Metric whose plain function is its batch function under unit weights."""
    tasks = frozenset(tasks)
    unknown = tasks - set(TASK_TYPES)
    if unknown:
        raise ValueError(f"unknown task types {sorted(unknown)}; expected a subset of {TASK_TYPES}")
    if (greater_is_better is None) == (ideal is None):
        raise ValueError("give either greater_is_better or an ideal value, not both")
    return Metric(name, _from_batch(batch), greater_is_better, tasks, label, batch, ideal)


BIN, MULTI, BOTH = ("binary",), ("multiclass",), ("binary", "multiclass")


def _calibration_metric(fit_slope: bool) -> Metric:
    """``calibration_slope`` (ideal 1) or ``calibration_intercept`` (calibration-in-the-large, ideal 0)."""
    kind = "slope" if fit_slope else "intercept"
    name, label, batch = f"calibration_{kind}", f"Calibration {kind}", _b_calibration(fit_slope)
    ideal = 1.0 if fit_slope else 0.0
    return make_metric(name, batch, greater_is_better=None, tasks=BIN, label=label, ideal=ideal)


_THRESHOLD_FACTORIES: dict[str, tuple[Callable[[float], BatchFunc], tuple[str, ...], str]] = {
    "accuracy": (_b_accuracy, BOTH, "Accuracy"),
    "balanced_accuracy": (_b_balanced_accuracy, BOTH, "Balanced accuracy"),
    "sensitivity": (_b_sensitivity, BIN, "Sensitivity"),
    "specificity": (_b_specificity, BIN, "Specificity"),
    "f1": (_b_f1, BIN, "F1"),
}
"""Metrics that depend on the binary decision threshold; ``"<name>@<threshold>"`` builds one on demand."""


def threshold_metric(base: str, threshold: float = 0.5) -> Metric:
    """``sensitivity`` etc. at a stated threshold (binary rule ``proba[:, 1] >= threshold``)."""
    if base not in _THRESHOLD_FACTORIES:
        raise KeyError(f"{base!r} is not a threshold metric; choose from {sorted(_THRESHOLD_FACTORIES)}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    factory, tasks, label = _THRESHOLD_FACTORIES[base]
    name = base if threshold == 0.5 else f"{base}@{threshold:g}"
    suffix = "" if threshold == 0.5 else f" (threshold {threshold:g})"
    return make_metric(name, factory(threshold), greater_is_better=True, tasks=tasks, label=label + suffix)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        make_metric("roc_auc", _b_roc_auc, greater_is_better=True, tasks=BIN, label="ROC-AUC"),
        make_metric(
            "pr_auc", _b_pr_auc, greater_is_better=True, tasks=BIN, label="PR-AUC (average precision)"
        ),
        *(threshold_metric(base) for base in _THRESHOLD_FACTORIES),
        make_metric("f1_macro", _b_f1_macro, greater_is_better=True, tasks=MULTI, label="Macro F1"),
        make_metric("brier", _b_brier, greater_is_better=False, tasks=BOTH, label="Brier score"),
        _calibration_metric(fit_slope=False),
        _calibration_metric(fit_slope=True),
        make_metric(
            "roc_auc_ovr", _b_roc_auc_ovr, greater_is_better=True, tasks=MULTI, label="Macro OvR ROC-AUC"
        ),
        make_metric("qwk", _b_qwk, greater_is_better=True, tasks=MULTI, label="Quadratic-weighted kappa"),
    )
}


def get_metric(name: str | Metric) -> Metric:
    """Look up a metric by name; ``"sensitivity@0.3"`` builds a threshold metric at 0.3."""
    if isinstance(name, Metric):
        return name
    if name in METRICS:
        return METRICS[name]
    if "@" in name:
        base, _, thr = name.partition("@")
        try:
            threshold = float(thr)
        except ValueError:
            raise KeyError(f"bad threshold in metric name {name!r}") from None
        return threshold_metric(base, threshold)
    raise KeyError(f"unknown metric {name!r}; registered: {sorted(METRICS)}")


def normalise_task(task_type: str) -> str:
    task = "multiclass" if task_type == "ordinal" else task_type
    if task not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}; expected one of {TASK_TYPES} (or 'ordinal')")
    return task


def metrics_for_task(task_type: str) -> list[str]:
    """Names of the registered metrics that apply to a task type, in registry order."""
    task = normalise_task(task_type)
    return [name for name, m in METRICS.items() if task in m.tasks]


def compute_metrics(
    y_true: Iterable, proba: Iterable, task_type: str, names: Iterable[str] | None = None
) -> dict[str, float]:
    """Every requested metric (default: all registered for the task) on one set of predictions."""
    task = normalise_task(task_type)
    y, P = check_inputs(y_true, proba)
    if (task == "binary") != (P.shape[1] == 2):
        raise ValueError(f"task type {task!r} does not match proba with {P.shape[1]} columns")
    selected = metrics_for_task(task) if names is None else list(names)
    out: dict[str, float] = {}
    W = np.ones((1, y.size))
    for name in selected:
        metric = get_metric(name)
        if task not in metric.tasks:
            raise ValueError(f"metric {metric.name!r} does not apply to {task} tasks")
        out[metric.name] = float(metric.batch_eval(y, P, W)[0]) if metric.batch else metric(y, P)
    return out
