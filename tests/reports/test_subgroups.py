"""Subgroups (fairlearn MetricFrame style): a constructed cohort where one site is much worse is found,
too-small groups are flagged, overall equals the pooled metric, age bands and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from reports.comparisons import ModelPredictions
from reports.subgroups import (
    MISSING_GROUP,
    age_band,
    model_subgroups,
    subgroup_columns,
    subgroup_figure,
    subgroup_frame,
    subgroup_table,
)


def _cohort(rng, n=600):
    ids = np.array([f"P{i:04d}" for i in range(n)])
    site = rng.choice(["Leuven", "Oxford", "Zurich"], size=n)
    site[:25] = "Tiny"  # 25 patients: fewer than 10 events or non-events
    y = (rng.random(n) < 0.4).astype(int)
    y[:25] = np.r_[np.ones(5, int), np.zeros(20, int)]
    score = 1.5 * y + rng.normal(0, 1, n)
    worse = site == "Zurich"
    score[worse] = rng.normal(0, 1, worse.sum()) + 0.1 * y[worse]  # Zurich: nearly useless scores
    cohort = pd.DataFrame(
        {
            "patient_id": ids,
            "site": site,
            "sex": rng.choice(["F", "M"], size=n).astype(object),
            "age": rng.uniform(18, 80, n).round(1),
            "montreal_location": rng.choice(["L1", "L2", "L3"], size=n),
        }
    )
    cohort.loc[30:39, "sex"] = None
    p = 1 / (1 + np.exp(-score))
    model = ModelPredictions(
        ("endo_active", "imaging", "enet", "single"), ids, y, np.column_stack([1 - p, p]), None
    )
    return cohort, model


def test_the_worse_site_is_found_and_the_tiny_site_flagged():
    cohort, m = _cohort(np.random.default_rng(0))
    groups = subgroup_columns(cohort).loc[m.patient_id]
    sf = subgroup_frame(m.y, m.proba, {c: groups[c] for c in groups.columns}, n_boot=300, seed=0)
    g = sf.by_group.set_index(["variable", "group"])
    overall = sf.overall
    assert overall["auc"] == pytest.approx(roc_auc_score(m.y, m.score), abs=1e-12)
    assert overall["n"] == len(m.y) and overall["n_events"] == m.y.sum()
    site = g.loc["site"]
    adequate = site[~site["too_small"]]
    assert adequate["auc"].idxmin() == "Zurich"
    assert site.at["Zurich", "ci_high"] < overall["ci_low"]  # clearly worse, with CIs
    assert site.at["Tiny", "too_small"] and "too small" in site.at["Tiny", "note"]
    assert not adequate.loc[["Leuven", "Oxford"], "too_small"].any()
    for name in ("Leuven", "Oxford", "Zurich"):
        sel = cohort["site"].to_numpy() == name
        assert site.at[name, "auc"] == pytest.approx(roc_auc_score(m.y[sel], m.score[sel]), abs=1e-12)
        assert site.at[name, "n"] == sel.sum() and site.at[name, "n_events"] == m.y[sel].sum()
    # difference and ratio over the adequate sites only (Tiny is left out)
    assert sf.difference()["site"] == pytest.approx(adequate["auc"].max() - adequate["auc"].min())
    assert sf.ratio()["site"] == pytest.approx(adequate["auc"].min() / adequate["auc"].max())
    assert g.loc[("sex", MISSING_GROUP), "n"] == 10  # missing values are a group, not dropped
    assert g.loc["sex"]["n"].sum() == len(m.y) and g.loc["age_band"]["n"].sum() == len(m.y)


def test_single_class_group_has_no_auc():
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    p = np.linspace(0.1, 0.9, 60)
    labels = np.r_[np.full(30, "A"), np.full(30, "B")]  # A only negatives, B only positives
    sf = subgroup_frame(y, p, {"site": labels}, n_boot=50)
    assert sf.by_group["auc"].isna().all() and sf.by_group["too_small"].all()
    assert (sf.by_group["note"] == "one class only: AUC undefined").all()
    assert pd.isna(sf.difference().get("site", np.nan))  # no adequate group: no gap
    assert sf.overall["auc"] == 1.0


def test_age_bands_and_missing():
    bands = age_band([18, 29.9, 30, 50, 50.1, None, np.nan, "71"])
    assert list(bands) == ["<30", "<30", "30-50", "30-50", ">50", MISSING_GROUP, MISSING_GROUP, ">50"]
    cols = subgroup_columns(pd.DataFrame({"patient_id": [1, 2], "site": ["A", " "], "age": [40, None]}))
    assert list(cols.index) == ["1", "2"] and list(cols["site"]) == ["A", MISSING_GROUP]
    assert list(cols["age_band"]) == ["30-50", MISSING_GROUP] and "sex" not in cols


def test_model_frame_and_table():
    cohort, m = _cohort(np.random.default_rng(1))
    frame = model_subgroups([m], cohort, n_boot=100)
    assert frame["variable"].iat[0] == "overall" and frame["model"].iat[0] == m.label
    assert set(frame["variable"]) == {"overall", "site", "sex", "age_band", "montreal_location"}
    assert list(frame.loc[frame["variable"] == "age_band", "group"]) == ["<30", "30-50", ">50"]  # age order
    assert list(frame.loc[frame["variable"] == "sex", "group"]) == ["F", "M", MISSING_GROUP]  # missing last
    table = subgroup_table(frame, shown=[m.label])
    assert table.name == "subgroups" and len(table.display) == len(frame)
    d = table.display.set_index("Group")
    assert d.at["Tiny", "AUC (95% CI)"] == "too small" and "(" in d.at["Leuven", "AUC (95% CI)"]
    assert any("Site:" in n for n in table.notes)
    # a patient missing from the cohort summary is in the missing group of every variable
    frame2 = model_subgroups([m], cohort.iloc[5:], n_boot=20)
    miss = frame2[frame2["group"] == MISSING_GROUP].set_index("variable")["n"]
    assert miss["site"] == 5 and miss["age_band"] == 5 and miss["sex"] == 15


def test_figure_draws_any_group_name(tmp_path):
    cohort, m = _cohort(np.random.default_rng(2), n=200)
    cohort.loc[cohort["site"] == "Leuven", "site"] = (
        "$\\frac{1 Bel\x00grade\x1b[31m"  # broken mathtext, controls
    )
    frame = model_subgroups([m], cohort, n_boot=20)
    fig = subgroup_figure(frame, model=m.label, title="t")
    fig.savefig(tmp_path / "f.png")  # drawing is where bad mathtext would raise
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any("Belgrade" in t and "\x00" not in t for t in labels)
