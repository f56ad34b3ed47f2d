"""Text-modality AUCs per report language in the per-pattern results, and report counts per language."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.comparisons import REPORT_LANGUAGE_PATTERN, ModelPredictions, performance_by_pattern
from reports.tables import availability_table


def _model(mset: str, n: int = 80, seed: int = 0) -> ModelPredictions:
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    score = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0.01, 0.99)
    pids = np.array([f"P{i:03d}" for i in range(n)])
    return ModelPredictions(
        ("endo_active", mset, "enet", "single"),
        pids,
        y,
        np.column_stack([1 - score, score]),
        np.full(n, mset),
    )


def test_text_models_get_one_row_per_report_language():
    text, pro = _model("text"), _model("pro", seed=1)
    langs = {p: ("fr" if i % 3 == 0 else "en") for i, p in enumerate(text.patient_id)}
    langs["P001"] = "en+fr"
    models = {m.key: m for m in (text, pro)}
    frame = performance_by_pattern(models, list(models), report_language=langs, n_boot=50)
    text_rows = frame[frame["model"] == text.label].set_index("pattern")
    assert set(text_rows.index) == {
        "text",
        *(REPORT_LANGUAGE_PATTERN.format(g) for g in ("en", "fr", "en+fr")),
    }
    fr = text_rows.loc["text reports: fr"]
    assert fr["n_pattern"] == 27 and 0.5 < fr["auc"] <= 1.0 and fr["auc_low"] < fr["auc"] < fr["auc_high"]
    assert text_rows.loc["text reports: en+fr", "note"] == "fewer than 10 patients"
    # a model without text gets none; without languages nothing is added
    assert set(frame[frame["model"] == pro.label]["pattern"]) == {"pro"}
    assert set(performance_by_pattern(models, list(models), n_boot=50)["pattern"]) == {"text", "pro"}
    # the per-language AUC is the AUC of those patients only
    sel = np.array([langs[p] == "fr" for p in text.patient_id])
    from sklearn.metrics import roc_auc_score

    assert np.isclose(fr["auc"], roc_auc_score(text.y[sel], text.proba[sel, 1]))


def test_availability_table_notes_reports_per_language():
    cohort = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c"],
            "avail_imaging": [True, True, False],
            "avail_text": [True, True, True],
            "avail_pro": [False, True, True],
            "severity": ["mild", "severe", "mild"],
            "n_reports_en": [2, 0, 1],
            "n_reports_fr": [0, 2, 1],
            "n_reports_other_language": [0, 0, 1],
        }
    )
    notes = availability_table(cohort).notes
    assert "Reports by language: en: 3, fr: 3, other: 1." in notes
