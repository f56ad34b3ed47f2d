"""Patient-reported items (7-day diary, CDAI non-diary inputs, HBI, IBDQ-32, SIBDQ) from the latents.

Symptoms load weakly on inflammation and strongly on an independent symptom factor (reference 9:
CDAI vs SES-CD rho ~0.38, PROs vs endoscopy |rho| < 0.3), so questionnaires predict endoscopic activity
poorly but clinical (CDAI/HBI) endpoints well. The indices themselves are never computed here: the
generator scores its items with :func:`features.pro_scores.compute_scores`.
"""

from __future__ import annotations

import numpy as np

from benchmarks.cohort.schema import (
    CDAI_COMPLICATIONS,
    DIARY_PAIN,
    DIARY_STOOLS,
    DIARY_WELLBEING,
    IBDQ_ITEMS,
    PRO_ITEMS,
    SIBDQ_ITEMS,
)
from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.latent import STREAM_PRO, PatientTruth

# Which IBDQ item each SIBDQ item shadows (SIBDQ is a short form: 3 bowel, 2 systemic, 3 emotional,
# 2 social items; the licensed item wording is not used).
_SIBDQ_FROM_IBDQ = (1, 9, 20, 2, 10, 3, 11, 19, 4, 8)
_IBDQ_DOMAIN_OF = {
    **{i: "bowel" for i in (1, 5, 9, 13, 17, 20, 22, 24, 26, 29)},
    **{i: "systemic" for i in (2, 6, 10, 14, 18)},
    **{i: "emotional" for i in (3, 7, 11, 15, 19, 21, 23, 25, 27, 30, 31, 32)},
    **{i: "social" for i in (4, 8, 12, 16, 28)},
}
# Bowel and systemic items follow the symptoms most closely, emotional items least.
_DOMAIN_LOADING = {"bowel": 1.0, "systemic": 0.9, "emotional": 0.65, "social": 0.85}


def symptom_severity(truth: PatientTruth, config: SyntheticConfig) -> float:
    """Latent symptom burden: weak inflammation loading plus the independent symptom factor."""
    fibrostenotic = 0.25 if truth.behaviour == "B2" else 0.0
    return float(
        config.pro_signal * config.symptom_inflammation_loading * truth.inflammation
        + config.symptom_factor_loading * truth.symptom_factor
        + fibrostenotic
        + config.symptom_offset
    )


def sample_pro_items(truth: PatientTruth, config: SyntheticConfig) -> dict[str, float]:
    """Every item of ``benchmarks.cohort.schema.PRO_ITEMS`` for one patient (integers where the schema says so)."""
    rng = truth.rng(STREAM_PRO)
    s = symptom_severity(truth, config)
    z = truth.inflammation
    colonic = 0.25 if truth.location in ("L2", "L3") else 0.0
    items: dict[str, float] = {}
    for d in range(7):
        day = rng.normal(0.0, 0.15)
        lam = np.exp(0.15 + 0.55 * s + colonic + day)
        items[DIARY_STOOLS[d]] = int(min(rng.poisson(lam), 50))
        items[DIARY_PAIN[d]] = int(np.clip(np.rint(0.55 + 0.65 * s + day + rng.normal(0, 0.35)), 0, 3))
        items[DIARY_WELLBEING[d]] = int(np.clip(np.rint(0.75 + 0.7 * s + day + rng.normal(0, 0.35)), 0, 4))

    active = max(z, 0.0)
    p = {
        "cdai_arthritis": 0.10 + 0.08 * active,
        "cdai_iritis": 0.02,
        "cdai_skin_mouth": 0.03 + 0.05 * active,
        "cdai_anal": 0.75 if truth.perianal else 0.03,
        "cdai_other_fistula": 0.45 if truth.behaviour == "B3" else 0.01,
        "cdai_fever": float(1.0 / (1.0 + np.exp(3.8 - 1.1 * z))),
    }
    for c in CDAI_COMPLICATIONS:
        items[c] = int(rng.random() < p[c])
    items["cdai_antidiarrhoeal"] = int(rng.random() < 1.0 / (1.0 + np.exp(1.8 - 0.9 * s)))
    mass_score = -3.6 + 0.9 * z + (1.6 if truth.behaviour == "B3" else 0.0) + rng.normal(0, 0.8)
    items["cdai_abdominal_mass"] = 5 if mass_score > 0.6 else (2 if mass_score > -0.6 else 0)

    base_hct = 44.0 if truth.sex == "M" else 39.5
    items["haematocrit"] = round(float(np.clip(base_hct - 1.3 * z + rng.normal(0, 2.8), 22.0, 58.0)), 1)
    height = rng.normal(1.77, 0.07) if truth.sex == "M" else rng.normal(1.64, 0.065)
    height = float(np.clip(height, 1.45, 2.05))
    bmi = float(np.clip(rng.normal(23.8, 3.6) - 0.7 * active - 0.4 * max(s, 0.0), 15.5, 42.0))
    items["height_m"] = round(height, 2)
    items["weight_kg"] = round(bmi * items["height_m"] ** 2, 1)

    # HBI refers to the previous day, i.e. the last diary day, remembered with small discrepancies.
    def recall(v: int, hi: int) -> int:
        return int(np.clip(v + (rng.choice([-1, 1]) if rng.random() < 0.06 else 0), 0, hi))

    items["hbi_wellbeing"] = recall(int(items[DIARY_WELLBEING[6]]), 4)
    items["hbi_pain"] = recall(int(items[DIARY_PAIN[6]]), 3)
    items["hbi_liquid_stools"] = recall(int(items[DIARY_STOOLS[6]]), 50)
    mass = int(items["cdai_abdominal_mass"])
    items["hbi_abdominal_mass"] = {0: 0, 2: 1}.get(mass, 3 if rng.random() < 0.4 else 2)
    items["hbi_arthralgia"] = int(items["cdai_arthritis"])
    items["hbi_uveitis"] = int(items["cdai_iritis"])
    skin = int(items["cdai_skin_mouth"])
    which = int(rng.integers(0, 3))
    items["hbi_erythema_nodosum"] = int(skin and which == 0)
    items["hbi_aphthous_ulcers"] = int(skin and which == 1)
    items["hbi_pyoderma_gangrenosum"] = int(skin and which == 2)
    anal = int(items["cdai_anal"])
    items["hbi_anal_fissure"] = int(anal and rng.random() < 0.5)
    items["hbi_new_fistula"] = int((anal and rng.random() < 0.3) or items["cdai_other_fistula"])
    items["hbi_abscess"] = int(anal and rng.random() < 0.2)

    qol = -0.85 * s - 0.1 * z + 0.55 * rng.normal()
    for i, col in enumerate(IBDQ_ITEMS, start=1):
        load = _DOMAIN_LOADING[_IBDQ_DOMAIN_OF[i]]
        items[col] = int(np.clip(np.rint(4.9 + 1.15 * load * qol + rng.normal(0, 0.75)), 1, 7))
    for col, src in zip(SIBDQ_ITEMS, _SIBDQ_FROM_IBDQ, strict=True):
        v = int(items[f"ibdq_{src:02d}"])
        items[col] = int(np.clip(v + (rng.choice([-1, 1]) if rng.random() < 0.25 else 0), 1, 7))

    return {c: items[c] for c in PRO_ITEMS}
