"""Performance by subgroup (site, sex, age band, Montreal location) with CIs, in fairlearn's MetricFrame
style: the metric per group (``by_group``), on all patients (``overall``), and the largest gap between
groups (``difference``: max - min, ``ratio``: min / max, over the groups large enough to say anything).

- Metric: AUC for binary tasks, macro one-vs-rest AUC for multiclass tasks, of the repeat-averaged
  out-of-fold probabilities; ``n``, events (positives; binary) and the smallest class count per group.
- CIs: percentile bootstrap over the group's patients, stratified by class
  (:func:`reports.bootstrap.bootstrap_ci`), for every group with both classes.
- Too small: a group with fewer than :data:`MIN_CLASS` patients in any class (binary: < 10 events or < 10
  non-events) is flagged ``too_small``; its AUC is kept in the CSV but left out of ``difference``/``ratio``
  and not shown in the table. A group with a single class has no AUC.
- Groups: the cohort summary's ``site``, ``sex``, ``montreal_location`` as written, and the age band
  (:data:`AGE_BANDS`: < 30, 30-50 inclusive, > 50 years). A patient without a value is in the group
  ``missing`` (shown, never dropped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmarks.store import MODEL_KEYS
from reports.bootstrap import bootstrap_ci
from reports.comparisons import ModelPredictions
from reports.formatting import MISSING, fmt_ci, fmt_num, printable_text
from reports.metrics import get_metric
from reports.tables import Table

__all__ = [
    "AGE_BANDS",
    "MIN_CLASS",
    "MISSING_GROUP",
    "SUBGROUPS_TABLE",
    "SUBGROUP_VARIABLES",
    "SubgroupFrame",
    "age_band",
    "model_subgroups",
    "subgroup_columns",
    "subgroup_figure",
    "subgroup_frame",
    "subgroup_table",
]

MIN_CLASS = 10
"""A group needs at least this many patients of every class (binary: events and non-events)."""
MISSING_GROUP = "missing"
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<30", -np.inf, 30.0),
    ("30-50", 30.0, 50.0),
    (">50", 50.0, np.inf),
)
"""(label, low, high): ``<30`` is age < 30, ``30-50`` is 30 <= age <= 50, ``>50`` is age > 50."""
SUBGROUP_VARIABLES = ("site", "sex", "age_band", "montreal_location")
SUBGROUPS_TABLE = "subgroups"
OVERALL = "overall"
GROUP_COLUMNS = [
    "variable",
    "group",
    "n",
    "n_events",
    "min_class",
    "auc",
    "ci_low",
    "ci_high",
    "delta_overall",
    "too_small",
    "note",
]


def age_band(age: Iterable) -> np.ndarray:
    """The :data:`AGE_BANDS` label of each age (``missing`` when NaN)."""
    a = pd.to_numeric(pd.Series(list(age), dtype=object), errors="coerce").to_numpy(float)
    out = np.full(a.size, MISSING_GROUP, dtype=object)
    out[a < 30] = "<30"
    out[(a >= 30) & (a <= 50)] = "30-50"
    out[a > 50] = ">50"
    return out


def subgroup_columns(cohort: pd.DataFrame) -> pd.DataFrame:
    """Per patient (index ``patient_id``, as text) the group of each :data:`SUBGROUP_VARIABLES` the cohort
    summary has; values as written, blanks and NaN become ``missing``."""
    if "patient_id" not in cohort.columns:
        return pd.DataFrame(index=pd.Index([], name="patient_id"))
    out = pd.DataFrame(index=pd.Index(cohort["patient_id"].astype(str), name="patient_id"))
    for var in SUBGROUP_VARIABLES:
        if var == "age_band":
            if "age" in cohort.columns:
                out[var] = age_band(cohort["age"])
            continue
        if var in cohort.columns:
            col = cohort[var].astype(object).where(cohort[var].notna(), "")
            text = col.map(lambda v: str(v).strip()).to_numpy(object)
            text[text == ""] = MISSING_GROUP
            out[var] = text
    return out


@dataclass(frozen=True)
class SubgroupFrame:
    """The metric per group (``by_group``, :data:`GROUP_COLUMNS`) and on all patients (``overall``)."""

    by_group: pd.DataFrame
    overall: pd.Series
    metric: str

    def _adequate(self) -> pd.DataFrame:
        g = self.by_group
        return g[~g["too_small"] & g["auc"].notna()]

    def difference(self) -> pd.Series:
        """Per variable: max - min of the metric over the groups that are not too small (NaN if < 2)."""
        g = self._adequate().groupby("variable")["auc"]
        return (g.max() - g.min()).where(g.size() >= 2)

    def ratio(self) -> pd.Series:
        """Per variable: min / max of the metric over the groups that are not too small (NaN if < 2)."""
        g = self._adequate().groupby("variable")["auc"]
        return (g.min() / g.max()).where(g.size() >= 2)


def _row(y: np.ndarray, P: np.ndarray, metric, *, n_boot, level, seed, min_class) -> dict:
    K = P.shape[1]
    counts = np.bincount(y, minlength=K)
    row = {
        "n": int(y.size),
        "n_events": int(counts[1]) if K == 2 else pd.NA,
        "min_class": int(counts.min()),
        "auc": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "too_small": bool(counts.min() < min_class),
        "note": "",
    }
    if (counts == 0).any():
        row["note"] = "one class only: AUC undefined" if (counts > 0).sum() == 1 else "a class is absent"
        if y.size == 0:
            row["note"] = "no patient"
        return row
    if row["too_small"]:
        what = "events or non-events" if K == 2 else "patients in a class"
        row["note"] = f"too small: fewer than {min_class} {what}"
    row["auc"] = float(metric.batch_eval(y, P, np.ones((1, y.size)))[0])
    if n_boot:
        r = bootstrap_ci(y, P, metric, n_boot=n_boot, level=level, seed=seed)
        row["ci_low"], row["ci_high"] = float(r.ci_low), float(r.ci_high)
    return row


_AGE_ORDER = {label: i for i, (label, _, _) in enumerate(AGE_BANDS)}


def _group_order(label: str) -> tuple[int, str]:
    """Age bands in age order, any other label alphabetically (``missing`` is added last by the caller)."""
    return (_AGE_ORDER.get(label, len(_AGE_ORDER)), label)


def subgroup_frame(
    y: Iterable,
    proba: Iterable,
    groups: Mapping[str, Iterable],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    min_class: int = MIN_CLASS,
) -> SubgroupFrame:
    """AUC (binary) or macro OvR AUC (multiclass) with bootstrap CI per group of each variable in ``groups``
    (variable -> one group label per patient), and overall. Groups sorted by label (age bands by age),
    ``missing`` last."""
    y = np.asarray(y, dtype=int)
    P = np.asarray(proba, dtype=float)
    if P.ndim == 1:
        P = np.column_stack([1 - P, P])
    metric = get_metric("roc_auc" if P.shape[1] == 2 else "roc_auc_ovr")
    opts = {"n_boot": n_boot, "level": level, "seed": seed, "min_class": min_class}
    overall = pd.Series({"variable": OVERALL, "group": OVERALL, **_row(y, P, metric, **opts)})
    rows = []
    for var, labels in groups.items():
        labels = np.asarray(list(labels), dtype=object)
        if labels.shape != y.shape:
            raise ValueError(f"subgroup variable {var!r}: {labels.size} labels for {y.size} patients")
        labels = np.where(pd.isna(labels), MISSING_GROUP, labels).astype(str)
        present = sorted(set(labels) - {MISSING_GROUP}, key=_group_order)
        present += [MISSING_GROUP] if MISSING_GROUP in labels else []
        for group in present:
            sel = labels == group
            rows.append({"variable": var, "group": group, **_row(y[sel], P[sel], metric, **opts)})
    by_group = pd.DataFrame(rows, columns=[c for c in GROUP_COLUMNS if c != "delta_overall"])
    by_group.insert(GROUP_COLUMNS.index("delta_overall"), "delta_overall", by_group["auc"] - overall["auc"])
    by_group["too_small"] = by_group["too_small"].astype(bool)
    return SubgroupFrame(by_group=by_group[GROUP_COLUMNS], overall=overall, metric=metric.name)


def model_subgroups(
    models: Sequence[ModelPredictions],
    cohort: pd.DataFrame,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    min_class: int = MIN_CLASS,
) -> pd.DataFrame:
    """One long frame for ``models``: task, model, modality set, estimator, fusion, then the overall row and
    every group row (:data:`GROUP_COLUMNS`), ``difference`` and ``ratio`` of the variable repeated on its rows.
    A patient absent from the cohort summary is in the ``missing`` group of every variable."""
    cols = subgroup_columns(cohort)
    frames = []
    for m in models:
        sub = cols.reindex(m.patient_id)
        groups = {v: sub[v].fillna(MISSING_GROUP).to_numpy(object) for v in cols.columns}
        sf = subgroup_frame(m.y, m.proba, groups, n_boot=n_boot, level=level, seed=seed, min_class=min_class)
        overall = sf.overall.to_dict() | {"delta_overall": 0.0}
        frame = pd.concat([pd.DataFrame([overall]), sf.by_group], ignore_index=True)[GROUP_COLUMNS]
        frame["difference"] = frame["variable"].map(sf.difference())
        frame["ratio"] = frame["variable"].map(sf.ratio())
        frame.insert(0, "metric", sf.metric)
        for i, (k, v) in enumerate(zip(MODEL_KEYS, m.key, strict=True)):
            frame.insert(i, k, v)
        frame.insert(1, "model", m.label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


VARIABLE_TITLES = {
    OVERALL: "Overall",
    "site": "Site",
    "sex": "Sex",
    "age_band": "Age band (years)",
    "montreal_location": "Montreal location",
}


def subgroup_table(
    frame: pd.DataFrame, *, shown: Sequence[str], level: float = 0.95, min_class: int = MIN_CLASS, notes=()
) -> Table:
    """``subgroups``: AUC (CI) per group of the models in ``shown`` (labels; e.g. the best model of each
    task); the CSV holds the whole ``frame``."""
    pct = int(round(level * 100))
    sub = frame[frame["model"].isin(shown)].reset_index(drop=True) if len(frame) else frame
    rows, prev = [], None
    for r in sub.itertuples():
        var = VARIABLE_TITLES.get(r.variable, r.variable)
        rows.append(
            {
                "Model": f"{r.task}: {r.model}",
                "Variable": "" if (r.task, r.model, var) == prev else var,
                "Group": r.group,
                "n": str(int(r.n)),
                "Events": MISSING if pd.isna(r.n_events) else str(int(r.n_events)),
                f"AUC ({pct}% CI)": "too small" if r.too_small else fmt_ci(r.auc, r.ci_low, r.ci_high),
                "Δ overall": MISSING if r.too_small or r.variable == OVERALL else fmt_num(r.delta_overall),
            }
        )
        prev = (r.task, r.model, var)
    display = pd.DataFrame(
        rows, columns=["Model", "Variable", "Group", "n", "Events", f"AUC ({pct}% CI)", "Δ overall"]
    )
    gaps = []
    if len(sub):
        for (task, _model, var), g in sub[sub["variable"] != OVERALL].groupby(
            ["task", "model", "variable"], sort=False
        ):
            d = g["difference"].iat[0]
            if np.isfinite(d):
                gaps.append(
                    f"{task}, {VARIABLE_TITLES.get(var, var)}: {fmt_num(d)} (ratio {fmt_num(g['ratio'].iat[0])})"
                )
    return Table(
        name=SUBGROUPS_TABLE,
        data=frame.reset_index(drop=True),
        display=display,
        caption="Performance by subgroup: site, sex, age band and Montreal location.",
        label="tab:subgroups",
        notes=[
            f"AUC (macro one-vs-rest AUC for multiclass tasks) with {pct}% percentile bootstrap CI over the "
            f"group's patients (stratified by class). Too small: fewer than {min_class} patients in a class "
            "(binary: events or non-events); not estimated. Δ overall: group AUC minus the AUC on all patients. "
            "Age bands: <30, 30-50 (inclusive), >50 years; missing: no value recorded.",
            "Largest gap between groups that are not too small (max - min AUC, ratio min/max): "
            + ("; ".join(gaps) + "." if gaps else "none (fewer than two adequate groups).")
            + " The CSV has every group of the best model of each modality set.",
            *notes,
        ],
        group_by="Model",
        group_rows=True,
    )


def subgroup_figure(frame: pd.DataFrame, *, model: str, title: str):
    """AUC with CI per group (rows, grouped by variable) of one model; the overall AUC as a vertical line."""
    import matplotlib.pyplot as plt

    sub = frame[(frame["model"] == model)]
    overall = sub[sub["variable"] == OVERALL]
    groups = sub[sub["variable"] != OVERALL].reset_index(drop=True)
    n = len(groups)
    fig, ax = plt.subplots(layout="constrained", figsize=(6.8, 0.3 * max(n, 4) + 1.4))
    yy = np.arange(n)[::-1]
    ok = ~groups["too_small"].to_numpy(bool) & groups["auc"].notna().to_numpy()
    a = groups["auc"].to_numpy(float)
    err = np.vstack([a - groups["ci_low"].to_numpy(float), groups["ci_high"].to_numpy(float) - a])
    err = np.where(np.isfinite(err), np.clip(err, 0, None), 0.0)
    if ok.any():
        ax.errorbar(a[ok], yy[ok], xerr=err[:, ok], fmt="s", color="black", capsize=2, ms=4)
    for y_, lab in zip(yy[~ok], groups.loc[~ok, "note"], strict=True):
        ax.text(0.51, y_, lab or "no AUC", va="center", fontsize=7, color="grey")
    if len(overall) and np.isfinite(overall["auc"].iat[0]):
        ax.axvline(float(overall["auc"].iat[0]), color="tab:blue", lw=1.0, ls="--", label="overall")
        ax.legend(fontsize=7.5, loc="lower right")
    ax.axvline(0.5, color="grey", lw=0.8)
    labels = [  # group names as written, one printable line, "$" kept literal (not mathtext)
        f"{VARIABLE_TITLES.get(v, v)}: {printable_text(g).replace('$', chr(92) + '$')} (n={int(k)})"
        for v, g, k in zip(groups["variable"], groups["group"], groups["n"], strict=True)
    ]
    ax.set_yticks(yy, labels, fontsize=7.5)
    low = np.nanmin(np.r_[groups.loc[ok, "ci_low"].to_numpy(float), 0.4]) if ok.any() else 0.4
    ax.set(xlim=(max(0.0, low - 0.05), 1.0), xlabel="AUC", ylim=(-0.7, max(n, 1) - 0.3))
    ax.set_title(title, fontsize=10)
    return fig
