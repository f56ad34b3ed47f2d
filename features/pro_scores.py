"""Pure scoring of Crohn's disease patient-reported outcomes: CDAI, HBI, PRO2/PRO3, IBDQ-32, SIBDQ.

Formulas, constants and cut-offs follow ``/work/shared/reference/crohns_clinical_reference.md``
(sections 1-3 and 6); evidence tags in comments: [P] primary paper, [S] secondary source, [U] unverified.
Every edge-case convention is a field of :class:`ScoringRules` so that a user can follow their protocol.

Missing-item policy (a score is NaN with the reason in ``<score>_reason`` when its rule is not met):

- CDAI: every non-diary item is required. The diary needs all 7 days of each of stools, pain and
  well-being (``diary_min_days=7``, the original definition). Setting ``diary_min_days`` to 4-6 pro-rates
  the 7-day sum as (mean of answered days) x 7, a common trial-protocol convention [U].
- PRO2/PRO3: means of the answered diary days, with the same ``diary_min_days`` rule.
- HBI: all items required (no published imputation rule).
- IBDQ-32: per domain, up to ``ibdq_max_missing_per_domain`` (default 1) unanswered items are replaced
  by the mean of the answered items of that domain; more missing -> that domain and the total are NaN.
  This is the usual person-mean imputation for multi-item scales; the licensed McMaster manual's own
  rule could not be checked [U].
- SIBDQ: same person-mean imputation over its 10 items with ``sibdq_max_missing`` (default 1) [U].

Out-of-range or non-numeric items raise ``ValueError`` naming the patient and the item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import (
    CDAI_COMPLICATIONS,
    DIARY_PAIN,
    DIARY_STOOLS,
    DIARY_WELLBEING,
    HBI_COMPLICATIONS,
    IBDQ_ITEMS,
    PRO_ITEMS,
    SIBDQ_ITEMS,
)

__all__ = [
    "BAND_CODES",
    "CDAI_COMPONENTS",
    "IBDQ_DOMAINS",
    "PRO2_REMISSION_RULES",
    "RULE_FIELDS",
    "SCORE_COLUMNS",
    "ScoringRules",
    "cdai_band",
    "cdai_from_components",
    "compute_scores",
    "hbi_band",
    "ibdq_remission",
    "pro2_remission",
    "pro2_score",
    "pro3_score",
    "round_half_away",
    "standard_weight",
]

# Comparisons of means such as 19.6/7 against a cut-off of 2.8 must not depend on float noise.
_EPS = 1e-9

PRO2_REMISSION_RULES: tuple[str, ...] = ("khanna_lt8", "sf1.5_ap1", "sf3_ap1", "sf2.8_ap1")
"""Remission rules for PRO2 (reference section 3):

- ``khanna_lt8``: PRO2 < 8 (Khanna 2015 [P]).
- ``sf1.5_ap1``: mean stool frequency <= 1.5 and mean pain <= 1 (Khanna item cut-points [P]).
- ``sf3_ap1``: SF <= 3 and AP <= 1 (VIVID-1, Lewis 2025 [S]).
- ``sf2.8_ap1``: SF <= 2.8 and AP <= 1.0 (AbbVie phase 3 programmes [U]).

The "no worse than baseline" clause of the last two needs a baseline visit; cdbench scores one visit.
"""

# IBDQ-32 item -> domain map (Guyatt 1989; Irvine 1994). Domain sizes 10/5/12/5 are [S] (reference 6,
# medicalalgorithms.com); the item assignment is the commonly published scoring key, not checked against
# the licensed McMaster manual [U]. Only the index is shipped, never the licensed item wording.
IBDQ_DOMAINS: dict[str, tuple[int, ...]] = {
    "bowel": (1, 5, 9, 13, 17, 20, 22, 24, 26, 29),
    "systemic": (2, 6, 10, 14, 18),
    "emotional": (3, 7, 11, 15, 19, 21, 23, 25, 27, 30, 31, 32),
    "social": (4, 8, 12, 16, 28),
}
IBDQ_DOMAIN_COLUMNS: dict[str, tuple[str, ...]] = {
    d: tuple(f"ibdq_{i:02d}" for i in items) for d, items in IBDQ_DOMAINS.items()
}
assert [len(v) for v in IBDQ_DOMAINS.values()] == [10, 5, 12, 5]
assert sorted(i for v in IBDQ_DOMAINS.values() for i in v) == list(range(1, 33))
assert set(c for v in IBDQ_DOMAIN_COLUMNS.values() for c in v) == set(IBDQ_ITEMS)

CDAI_COMPONENTS: tuple[str, ...] = (
    "stools",
    "pain",
    "wellbeing",
    "complications",
    "antidiarrhoeal",
    "mass",
    "hct",
    "weight",
)
BAND_CODES: dict[str, int] = {"remission": 0, "mild": 1, "moderate": 2, "severe": 3}
"""Numeric codes of the clinical severity bands (used as features)."""

SCORE_COLUMNS: tuple[str, ...] = (
    "cdai",
    "hbi",
    "pro2",
    "pro3",
    "ibdq_total",
    "ibdq_bowel",
    "ibdq_systemic",
    "ibdq_emotional",
    "ibdq_social",
    "sibdq_total",
)
"""Score columns of :func:`compute_scores`; each has a ``<score>_reason`` string column ("" when valid)."""


@dataclass(frozen=True)
class ScoringRules:
    """Edge-case conventions of the indices, with the reference's recommended defaults.

    CDAI (reference 1.2-1.3): ``clamp_hct_at_zero`` False follows the original formula [S];
    ``weight_floor`` -10 is the common CRF/calculator floor on the weight term [U], None disables it;
    standard weight is the Keys-type ``coef * height_m**2`` (men 22.1, women 20.8, igibdscores [S]);
    haematocrit standard 47 (men) / 42 (women) [S]; bands remission < ``cdai_remission_edge`` (150),
    mild up to ``cdai_mild_moderate_edge`` (220, configurable [S]), moderate up to
    ``cdai_moderate_severe_edge`` (450), severe above.
    ``diary_min_days``: answered days needed per diary item (7 = original; fewer pro-rates [U]).
    PRO2: ``pro2_remission_rule`` one of :data:`PRO2_REMISSION_RULES` (default Khanna < 8 [P]).
    IBDQ: remission ``ibdq_total >= ibdq_remission_threshold`` (170 conventional [U]; 168 Hlavaty [P]).
    SIBDQ: remission ``sibdq_total >= sibdq_remission_threshold`` (50 [U]).
    """

    clamp_hct_at_zero: bool = False
    weight_floor: float | None = -10.0
    diary_min_days: int = 7
    hct_standard_male: float = 47.0
    hct_standard_female: float = 42.0
    std_weight_coef_male: float = 22.1
    std_weight_coef_female: float = 20.8
    cdai_remission_edge: float = 150.0
    cdai_mild_moderate_edge: float = 220.0
    cdai_moderate_severe_edge: float = 450.0
    pro2_remission_rule: str = "khanna_lt8"
    ibdq_remission_threshold: float = 170.0
    ibdq_max_missing_per_domain: int = 1
    sibdq_remission_threshold: float = 50.0
    sibdq_max_missing: int = 1

    def __post_init__(self) -> None:
        if not 1 <= int(self.diary_min_days) <= 7:
            raise ValueError(f"diary_min_days must be in 1..7, got {self.diary_min_days!r}")
        if self.pro2_remission_rule not in PRO2_REMISSION_RULES:
            raise ValueError(
                f"unknown pro2_remission_rule {self.pro2_remission_rule!r}; known: {list(PRO2_REMISSION_RULES)}"
            )
        if not (self.cdai_remission_edge <= self.cdai_mild_moderate_edge <= self.cdai_moderate_severe_edge):
            raise ValueError("CDAI band edges must be ordered remission <= mild/moderate <= moderate/severe")
        if self.ibdq_max_missing_per_domain < 0 or self.sibdq_max_missing < 0:
            raise ValueError("max-missing counts must be >= 0")

    def as_dict(self) -> dict[str, Any]:
        """The rule values as a plain dict (for fingerprints and extractor params)."""
        return asdict(self)


RULE_FIELDS: tuple[str, ...] = tuple(ScoringRules().as_dict())


# --- bands ----------------------------------------------------------------------------------------
def _isnan(x: Any) -> bool:
    return x is None or bool(pd.isna(x))


def cdai_band(
    x: float,
    mild_moderate_edge: float = 220.0,
    *,
    remission_edge: float = 150.0,
    moderate_severe_edge: float = 450.0,
) -> str | None:
    """CDAI band: remission < 150 <= mild <= 220 < moderate <= 450 < severe (reference 1.3); None if NaN."""
    if _isnan(x):
        return None
    if x < remission_edge:
        return "remission"
    if x <= mild_moderate_edge:
        return "mild"
    if x <= moderate_severe_edge:
        return "moderate"
    return "severe"


def hbi_band(x: float) -> str | None:
    """HBI band: < 5 remission, 5-7 mild, 8-16 moderate, > 16 severe (reference 2 [S]); None if NaN."""
    if _isnan(x):
        return None
    if x < 5:
        return "remission"
    if x <= 7:
        return "mild"
    if x <= 16:
        return "moderate"
    return "severe"


def pro2_remission(
    sf_mean: float, ap_mean: float, rule: str = "khanna_lt8", *, pro2: float | None = None
) -> float:
    """1.0 if the PRO2 remission ``rule`` holds, 0.0 if not, NaN when an input is missing."""
    if rule not in PRO2_REMISSION_RULES:
        raise ValueError(f"unknown PRO2 remission rule {rule!r}; known: {list(PRO2_REMISSION_RULES)}")
    if _isnan(sf_mean) or _isnan(ap_mean):
        return float("nan")
    if rule == "khanna_lt8":
        value = pro2_score(sf_mean, ap_mean) if pro2 is None else pro2
        return float(value < 8 - _EPS)
    sf_cut = {"sf1.5_ap1": 1.5, "sf3_ap1": 3.0, "sf2.8_ap1": 2.8}[rule]
    return float(sf_mean <= sf_cut + _EPS and ap_mean <= 1.0 + _EPS)


def pro2_score(sf_mean: float, ap_mean: float) -> float:
    """PRO2 = 2 x mean daily liquid/soft stools + 5 x mean daily abdominal pain (Khanna 2015 [P])."""
    return 2.0 * sf_mean + 5.0 * ap_mean


def pro3_score(sf_mean: float, ap_mean: float, wb_mean: float) -> float:
    """PRO3 = PRO2 + 7 x mean daily general well-being (Khanna 2015 [P])."""
    return 2.0 * sf_mean + 5.0 * ap_mean + 7.0 * wb_mean


def ibdq_remission(total: float, threshold: float = 170.0) -> float:
    """1.0 if IBDQ total >= threshold (170 conventional [U]; 168 Hlavaty 2006 [P]), NaN if missing."""
    return float("nan") if _isnan(total) else float(total >= threshold)


# --- CDAI arithmetic --------------------------------------------------------------------------------
def standard_weight(height_m: Any, sex: Any, rules: ScoringRules | None = None) -> Any:
    """Keys-type standard weight in kg: men 22.1 x h^2, women 20.8 x h^2 (igibdscores [S])."""
    rules = rules or ScoringRules()
    h = np.asarray(height_m, dtype=float)
    s = np.asarray(sex, dtype=object)
    coef = np.where(
        s == "M", rules.std_weight_coef_male, np.where(s == "F", rules.std_weight_coef_female, np.nan)
    )
    out = coef * h**2
    return float(out) if out.ndim == 0 else out


def round_half_away(x: Any) -> Any:
    """Round to the nearest integer, halves away from zero (not Python's banker's rounding)."""
    a = np.asarray(x, dtype=float)
    out = np.sign(a) * np.floor(np.abs(a) + 0.5)
    out = out + 0.0  # turn -0.0 into 0.0
    return float(out) if out.ndim == 0 else out


def cdai_from_components(
    stools: Any,
    pain: Any,
    wellbeing: Any,
    n_complications: Any,
    antidiarrhoeal: Any,
    mass: Any,
    hct: Any,
    weight_kg: Any,
    sex: Any,
    *,
    height_m: Any = None,
    standard_weight_kg: Any = None,
    diary_inputs: Literal["weekly_sum", "per_day_average"] = "weekly_sum",
    rules: ScoringRules | None = None,
) -> pd.DataFrame:
    """CDAI (Best 1976) from its eight inputs; arrays or scalars, one row per patient.

    ``stools``/``pain``/``wellbeing`` are 7-day sums (``diary_inputs="weekly_sum"``) or per-day averages
    (``"per_day_average"``: multiplied by 7 first, matching Merck's point tables [S]). ``mass`` is coded
    0/2/5. Give either ``height_m`` (standard weight from the Keys-type formula) or
    ``standard_weight_kg``. Returns the unrounded components ``cdai_component_<name>``,
    ``cdai_unrounded`` and the integer-valued ``cdai`` (halves away from zero).
    """
    rules = rules or ScoringRules()
    if diary_inputs not in ("weekly_sum", "per_day_average"):
        raise ValueError(f"diary_inputs must be 'weekly_sum' or 'per_day_average', got {diary_inputs!r}")
    if (height_m is None) == (standard_weight_kg is None):
        raise ValueError("give exactly one of height_m and standard_weight_kg")
    f = 7.0 if diary_inputs == "per_day_average" else 1.0
    s = np.atleast_1d(np.asarray(sex, dtype=object))
    hct_std = np.where(
        s == "M", rules.hct_standard_male, np.where(s == "F", rules.hct_standard_female, np.nan)
    )
    std_wt = (
        np.atleast_1d(standard_weight(height_m, s, rules))
        if standard_weight_kg is None
        else np.atleast_1d(np.asarray(standard_weight_kg, dtype=float))
    )

    def arr(v: Any) -> np.ndarray:
        return np.atleast_1d(np.asarray(v, dtype=float))

    hct_term = 6.0 * (hct_std - arr(hct))
    if rules.clamp_hct_at_zero:
        hct_term = np.maximum(hct_term, 0.0)
    weight_term = 100.0 * (1.0 - arr(weight_kg) / std_wt)
    if rules.weight_floor is not None:
        weight_term = np.maximum(weight_term, rules.weight_floor)
    comps = {
        "stools": 2.0 * f * arr(stools),
        "pain": 5.0 * f * arr(pain),
        "wellbeing": 7.0 * f * arr(wellbeing),
        "complications": 20.0 * arr(n_complications),
        "antidiarrhoeal": 30.0 * arr(antidiarrhoeal),
        "mass": 10.0 * arr(mass),
        "hct": hct_term,
        "weight": weight_term,
    }
    n = max(len(v) for v in comps.values())
    out = pd.DataFrame(
        {f"cdai_component_{k}": np.broadcast_to(v, (n,)).astype(float) for k, v in comps.items()}
    )
    total = out.sum(axis=1, skipna=False).to_numpy()
    out["cdai_unrounded"] = total
    # Snap float noise first so that a decimal half such as 42.4999999999 (from 100 * (1 - 69.65/70))
    # rounds as the 42.5 it stands for.
    out["cdai"] = round_half_away(np.round(total, 9))
    return out


# --- validation ------------------------------------------------------------------------------------
def _numeric_items(items: pd.DataFrame) -> pd.DataFrame:
    """Validated float copy of the known item columns; raises ValueError naming patient and item."""
    out: dict[str, pd.Series] = {}
    for col in items.columns:
        spec = PRO_ITEMS.get(col)
        if spec is None:
            continue
        raw = items[col]
        if raw.dtype == bool:
            raw = raw.astype(int)
        num = pd.to_numeric(raw, errors="coerce")
        missing = raw.isna()
        bad = (num.isna() & ~missing).to_numpy().copy()
        x = num.to_numpy(dtype=float, copy=True)
        ok = ~np.isnan(x)
        if spec.integer:
            bad |= ok & (np.floor(x) != x)
        if spec.allowed is not None:
            bad |= ok & ~np.isin(x, np.asarray(spec.allowed, dtype=float))
        bad |= ok & ((x < spec.low) | (x > spec.high))
        if bad.any():
            values = raw.to_numpy()
            for i in np.flatnonzero(bad):
                problem = spec.problem(values[i])
                if problem is not None:
                    raise ValueError(f"patient {items.index[i]!s}, item {col}: {problem}")
                # Valid for the schema but missed by to_numeric (e.g. a Python bool in an object column).
                x[i] = float(int(values[i]) if isinstance(values[i], bool | np.bool_) else values[i])
        out[col] = pd.Series(x, index=items.index)
    frame = pd.DataFrame(out, index=items.index)
    absent = [c for c in PRO_ITEMS if c not in frame.columns]
    if absent:
        frame = pd.concat([frame, pd.DataFrame(np.nan, index=items.index, columns=absent)], axis=1)
    return frame


def _clean_sex(sex: pd.Series | None, index: pd.Index) -> np.ndarray:
    if sex is None:
        return np.full(len(index), None, dtype=object)
    s = pd.Series(sex)
    if s.index.has_duplicates:
        raise ValueError("sex has duplicate patient ids")
    s = s.reindex(index)
    out = np.full(len(index), None, dtype=object)
    for i, (pid, v) in enumerate(zip(index, s.to_numpy(), strict=True)):
        if _isnan(v):
            continue
        if v not in ("M", "F"):
            raise ValueError(f"patient {pid!s}, field sex: {v!r} not in ['M', 'F']")
        out[i] = v
    return out


def _missing_reason(frame: pd.DataFrame, cols: Iterable[str], label: str) -> np.ndarray:
    """Per row: 'missing <label>: a, b' naming the missing columns, or ''."""
    cols = list(cols)
    miss = frame[cols].isna().to_numpy()
    reasons = np.full(len(frame), "", dtype=object)
    for i in np.flatnonzero(miss.any(axis=1)):
        names = [c for c, m in zip(cols, miss[i], strict=True) if m]
        shown = ", ".join(names[:6]) + (f" (+{len(names) - 6} more)" if len(names) > 6 else "")
        reasons[i] = f"missing {label}: {shown}"
    return reasons


def _join(*parts: np.ndarray) -> np.ndarray:
    return np.array(["; ".join(p for p in row if p) for row in zip(*parts, strict=True)], dtype=object)


def _diary(
    frame: pd.DataFrame, cols: tuple[str, ...], label: str, min_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily mean and 7-day sum (pro-rated when days are missing), NaN below ``min_days``, and reasons."""
    block = frame[list(cols)].to_numpy(dtype=float)
    n = (~np.isnan(block)).sum(axis=1)
    total = np.nansum(block, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        weekly = np.where(n == 7, total, total * 7.0 / n)
    short = n < min_days
    mean = np.where(short, np.nan, mean)
    weekly = np.where(short, np.nan, weekly)
    reasons = np.array(
        [
            f"{label} diary has {k} of 7 days (needs {min_days})" if s else ""
            for k, s in zip(n, short, strict=True)
        ],
        dtype=object,
    )
    return mean, weekly, reasons


def _domain(
    frame: pd.DataFrame, cols: tuple[str, ...], label: str, max_missing: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Domain sum with person-mean imputation of up to ``max_missing`` items; returns sum, n_imputed, reason."""
    block = frame[list(cols)].to_numpy(dtype=float)
    n_miss = np.isnan(block).sum(axis=1)
    k = len(cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(block, axis=1) / (k - n_miss)
    total = mean * k
    too_many = n_miss > max_missing
    total = np.where(too_many, np.nan, total)
    reasons = np.array(
        [
            f"{label}: {m} of {k} items missing (at most {max_missing} imputed)" if t else ""
            for m, t in zip(n_miss, too_many, strict=True)
        ],
        dtype=object,
    )
    return total, np.where(too_many, np.nan, n_miss).astype(float), reasons


# --- the whole table --------------------------------------------------------------------------------
def compute_scores(
    items: pd.DataFrame, sex: pd.Series | None, *, rules: ScoringRules | None = None
) -> pd.DataFrame:
    """Score every patient (row of ``items``, index = patient_id) on every index.

    ``items`` holds the item columns of ``benchmarks.cohort.schema.PRO_ITEMS`` (absent columns count as missing,
    other columns are ignored); ``sex`` maps patient_id -> "M"/"F" (needed by CDAI only). Returns, with
    the same index: the :data:`SCORE_COLUMNS` and their ``<score>_reason`` ("" when the score exists),
    the CDAI components ``cdai_component_*`` and ``cdai_unrounded``, the diary means ``sf_mean``,
    ``ap_mean``, ``wb_mean``, the band labels ``cdai_band``/``hbi_band`` (None when NaN), the remission
    flags ``pro2_remission``/``ibdq_remission``/``sibdq_remission`` (1/0/NaN), ``standard_weight_kg`` and
    the imputation counts ``ibdq_n_imputed``/``sibdq_n_imputed``.
    """
    rules = rules or ScoringRules()
    if not isinstance(items, pd.DataFrame):
        raise TypeError(f"items must be a pandas DataFrame, got {type(items).__name__}")
    if items.index.has_duplicates:
        dup = items.index[items.index.duplicated()].unique().tolist()[:5]
        raise ValueError(f"duplicate patient ids in PRO items: {dup}")
    f = _numeric_items(items)
    sx = _clean_sex(sex, items.index)
    out = pd.DataFrame(index=items.index)

    # Diary means (shared by CDAI and PRO2/PRO3).
    sf, sf_w, sf_r = _diary(f, DIARY_STOOLS, "stools", rules.diary_min_days)
    ap, ap_w, ap_r = _diary(f, DIARY_PAIN, "pain", rules.diary_min_days)
    wb, wb_w, wb_r = _diary(f, DIARY_WELLBEING, "well-being", rules.diary_min_days)
    out["sf_mean"], out["ap_mean"], out["wb_mean"] = sf, ap, wb

    # CDAI from the 7-day sums (pro-rated as mean x 7 only when diary_min_days < 7 allows gaps).
    other = [
        *CDAI_COMPLICATIONS,
        "cdai_antidiarrhoeal",
        "cdai_abdominal_mass",
        "haematocrit",
        "weight_kg",
        "height_m",
    ]
    sex_r = np.where(pd.isna(pd.Series(sx, dtype=object)).to_numpy(), "missing sex", "").astype(object)
    cd = cdai_from_components(
        sf_w,
        ap_w,
        wb_w,
        f[list(CDAI_COMPLICATIONS)].sum(axis=1, skipna=False).to_numpy(),
        f["cdai_antidiarrhoeal"].to_numpy(),
        f["cdai_abdominal_mass"].to_numpy(),
        f["haematocrit"].to_numpy(),
        f["weight_kg"].to_numpy(),
        sx,
        height_m=f["height_m"].to_numpy(),
        rules=rules,
    )
    cd.index = items.index
    out["standard_weight_kg"] = standard_weight(f["height_m"].to_numpy(), sx, rules)
    for c in cd.columns:
        out[c] = cd[c]
    out["cdai_reason"] = _join(sf_r, ap_r, wb_r, _missing_reason(f, other, "CDAI items"), sex_r)
    # Force NaN wherever a reason exists (defensive: every reason is also a NaN input).
    has_r = out["cdai_reason"].to_numpy() != ""
    out.loc[has_r, [*cd.columns]] = np.nan
    out["cdai_band"] = [
        cdai_band(
            v,
            rules.cdai_mild_moderate_edge,
            remission_edge=rules.cdai_remission_edge,
            moderate_severe_edge=rules.cdai_moderate_severe_edge,
        )
        for v in out["cdai"]
    ]

    # HBI: plain sum of the five items (Harvey-Bradshaw 1980).
    hbi_cols = ["hbi_wellbeing", "hbi_pain", "hbi_liquid_stools", "hbi_abdominal_mass", *HBI_COMPLICATIONS]
    out["hbi"] = f[hbi_cols].sum(axis=1, skipna=False)
    out["hbi_reason"] = _missing_reason(f, hbi_cols, "HBI items")
    out["hbi_band"] = [hbi_band(v) for v in out["hbi"]]

    # PRO2 / PRO3 from daily means (Khanna 2015).
    out["pro2"] = pro2_score(sf, ap)
    out["pro2_reason"] = _join(sf_r, ap_r)
    out["pro3"] = pro3_score(sf, ap, wb)
    out["pro3_reason"] = _join(sf_r, ap_r, wb_r)
    out["pro2_remission"] = [
        pro2_remission(s, a, rules.pro2_remission_rule, pro2=p)
        for s, a, p in zip(sf, ap, out["pro2"].to_numpy(), strict=True)
    ]

    # IBDQ-32 domains and total.
    dom_reasons = []
    n_imp = np.zeros(len(items))
    for d, cols in IBDQ_DOMAIN_COLUMNS.items():
        total, imp, reason = _domain(f, cols, f"IBDQ {d}", rules.ibdq_max_missing_per_domain)
        out[f"ibdq_{d}"] = total
        out[f"ibdq_{d}_reason"] = reason
        dom_reasons.append(reason)
        n_imp = n_imp + imp
    out["ibdq_total"] = out[[f"ibdq_{d}" for d in IBDQ_DOMAINS]].sum(axis=1, skipna=False)
    out["ibdq_total_reason"] = _join(*dom_reasons)
    out["ibdq_n_imputed"] = n_imp
    out["ibdq_remission"] = [ibdq_remission(v, rules.ibdq_remission_threshold) for v in out["ibdq_total"]]

    # SIBDQ total (Irvine 1996).
    total, imp, reason = _domain(f, SIBDQ_ITEMS, "SIBDQ", rules.sibdq_max_missing)
    out["sibdq_total"] = total
    out["sibdq_total_reason"] = reason
    out["sibdq_n_imputed"] = imp
    out["sibdq_remission"] = [ibdq_remission(v, rules.sibdq_remission_threshold) for v in total]

    for c in [c for c in out.columns if c.endswith("_reason")]:
        out[c] = out[c].astype(object)
    return out
