"""Patient-level latent structure (reference section 9): inflammation drives endoscopy, MRI, biomarkers.

One standard-normal latent inflammation per patient is mapped through the endoscopic class mix onto a
total SES-CD, which is spread over the involved segments (Montreal location) and the four SES-CD
variables. MRI findings per segment follow the segment's endoscopic activity with MRI-specific noise and
a lower colonic sensitivity (reference 9.3); biomarkers are log-normal around class-dependent centres
(reference 9.2). Symptoms load weakly on inflammation plus an independent symptom factor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import erf, sqrt

import numpy as np

from benchmarks.synthetic.config import SyntheticConfig

SES_SEGMENTS: tuple[str, ...] = ("ileum", "right_colon", "transverse", "left_colon", "rectum")
SES_VARIABLES: tuple[str, ...] = ("ulcer_size", "ulcerated_surface", "affected_surface", "narrowing")
MRI_SEGMENTS: tuple[str, ...] = ("ileum", "ascending", "transverse", "descending", "sigmoid", "rectum")
MRI_TO_SES: dict[str, str] = {
    "ileum": "ileum",
    "ascending": "right_colon",
    "transverse": "transverse",
    "descending": "left_colon",
    "sigmoid": "left_colon",
    "rectum": "rectum",
}
LOCATIONS = ("L1", "L2", "L3", "L4")
BEHAVIOURS = ("B1", "B2", "B3")

# Random-number streams per patient: each part of the cohort draws from its own stream so that, e.g.,
# writing images or not never changes the tables, and any patient can be generated alone.
STREAM_LATENT, STREAM_PRO, STREAM_REPORT, STREAM_IMAGE, STREAM_MISSING, STREAM_REPORT_STYLE = range(6)
# Added later, after the others so that they keep their numbers: the visits and dates, the scan plan
# (modalities, mask labels) and the CT volumes (an MR keeps drawing from STREAM_IMAGE).
STREAM_VISITS, STREAM_SCAN_PLAN, STREAM_IMAGE_CT = 6, 7, 8
VISIT_STREAM_STRIDE = 16
"""A second visit of a patient draws from streams ``stream + VISIT_STREAM_STRIDE`` (``PatientTruth.rng``)."""


def patient_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """Generator of one patient's stream; independent of the cohort size and of the other streams."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index), int(stream))))


def _phi(x: float) -> float:
    return 0.5 * (1.0 + erf(x / sqrt(2.0)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


# Faecal calprotectin by Schoepfer SES-CD band (0-3, 4-10, 11-19, >=20): mean +- SD (reference 9.2),
# turned into log-normal (mu, sigma) anchored at the band centres.
_FC_MEAN_SD = ((104.0, 138.0), (231.0, 244.0), (395.0, 256.0), (718.0, 320.0))
_FC_ANCHORS = np.array([1.5, 7.0, 15.0, 25.0])
_FC_SIGMA = np.array([sqrt(np.log1p((s / m) ** 2)) for m, s in _FC_MEAN_SD])
_FC_MU = np.array([np.log(m) - 0.5 * sg**2 for (m, _), sg in zip(_FC_MEAN_SD, _FC_SIGMA, strict=True)])


@dataclass
class PatientTruth:
    """Everything true about one patient (before missingness), used by every modality writer."""

    index: int
    seed: int
    patient_id: str
    site: int
    sex: str
    age: float
    location: str
    l4: int
    behaviour: str
    perianal: int
    inflammation: float
    symptom_factor: float
    ses: dict[str, dict[str, int]] = field(default_factory=dict)
    ileum_intubated: bool = True
    mri: dict[str, dict[str, float]] = field(default_factory=dict)
    image_segment: str = "ileum"
    crp: float = 0.0
    calprotectin: float = 0.0
    leukocytes: float = 0.0
    visit_key: int = 0  # 0: the visit at which the endpoints are assessed; 1: the patient's other visit

    def rng(self, stream: int) -> np.random.Generator:
        """The generator of one of this patient's streams at this visit."""
        return patient_rng(self.seed, self.index, stream + VISIT_STREAM_STRIDE * self.visit_key)

    @property
    def ses_segment_totals(self) -> dict[str, int]:
        return {s: int(sum(v.values())) for s, v in self.ses.items()}

    @property
    def ses_cd_true(self) -> int:
        return int(sum(self.ses_segment_totals.values()))

    @property
    def ses_cd_observed(self) -> int:
        """Total over the explored segments (what the endoscopist reports)."""
        tot = self.ses_segment_totals
        return int(sum(v for s, v in tot.items() if s != "ileum" or self.ileum_intubated))

    @property
    def maria(self) -> float:
        return float(sum(v["maria"] for v in self.mri.values()))


def _ses_total_from_u(u: float, probs: tuple[float, ...]) -> int:
    """Map a uniform quantile onto a total SES-CD so the 4 classes follow ``probs``."""
    edges = np.cumsum(probs)
    k = int(np.searchsorted(edges, u, side="right"))
    k = min(k, 3)
    lo = 0.0 if k == 0 else edges[k - 1]
    pos = (u - lo) / max(edges[k] - lo, 1e-12)
    pos = min(max(pos, 0.0), 1.0 - 1e-12)
    if k == 0:
        return 0 if pos < 0.5 else (1 if pos < 0.78 else 2)
    if k == 1:
        return 3 + int(pos * 4)
    if k == 2:
        return 7 + int(pos * 9)
    return min(16 + int(-np.log1p(-pos) * 7.0), 48)


def _involved_segments(rng: np.random.Generator, location: str) -> list[str]:
    colon = list(SES_SEGMENTS[1:])
    if location in ("L1", "L4"):
        segs = ["ileum"]
        if rng.random() < 0.3:
            segs.append("right_colon")
        return segs
    if location == "L2":
        p = (0.65, 0.55, 0.7, 0.45)
        segs = [s for s, q in zip(colon, p, strict=True) if rng.random() < q]
        return segs or [colon[int(rng.integers(0, 4))]]
    p = (0.7, 0.35, 0.45, 0.25)  # L3: ileum plus some colon, right colon most often
    segs = [s for s, q in zip(colon, p, strict=True) if rng.random() < q]
    return ["ileum", *(segs or ["right_colon"])]


def _spread_ses(rng: np.random.Generator, total: int, involved: list[str], behaviour: str) -> dict[str, int]:
    """Distribute ``total`` SES-CD points over segments (max 12 each), spilling to uninvolved ones."""
    seg_tot = dict.fromkeys(SES_SEGMENTS, 0)
    w_inv = rng.dirichlet(np.full(len(involved), 2.0))
    if "ileum" in involved and len(involved) > 1:
        w_inv[involved.index("ileum")] += 0.3
    w = {s: float(x) for s, x in zip(involved, w_inv, strict=True)}
    others = [s for s in SES_SEGMENTS if s not in involved]
    for _ in range(total):
        free = [s for s in involved if seg_tot[s] < 12]
        if not free:
            free = [s for s in others if seg_tot[s] < 12]
            if not free:
                break
            weights = np.ones(len(free))
        else:
            weights = np.array([w[s] for s in free])
        s = free[int(rng.choice(len(free), p=weights / weights.sum()))]
        seg_tot[s] += 1
    return seg_tot


def _segment_variables(rng: np.random.Generator, t: int, behaviour: str) -> dict[str, int]:
    """Split a segment total (0-12) into the four SES-CD variables, keeping them clinically coherent."""
    if t == 0:
        return dict.fromkeys(SES_VARIABLES, 0)
    narrowing = 0
    if behaviour == "B2" and t >= 4:
        narrowing = int(rng.choice([1, 1, 2, 3])) if rng.random() < 0.7 else 0
    elif t >= 7 and rng.random() < 0.12:
        narrowing = 1
    r = t - narrowing
    affected = min(3, max(1, int(np.ceil(r / 3.0)) + int(rng.integers(-1, 1))))
    rest = r - affected
    if rest == 1 and affected < 3:
        affected, rest = affected + 1, 0
    size = min(3, (rest + int(rng.integers(0, 2))) // 2)
    ulcerated = min(3, rest - size)
    leftover = rest - size - ulcerated
    for _ in range(leftover):  # caps hit: put the points where there is room
        if size < 3:
            size += 1
        elif affected < 3:
            affected += 1
        elif narrowing < 3:
            narrowing += 1
    # Ulcer size and ulcerated surface are both zero or both positive; the adjustment below gives a
    # removed point back to the affected surface.
    if size > 0 and ulcerated == 0:
        size, ulcerated = (size - 1, 1) if size > 1 else (0, 0)
    elif ulcerated > 0 and size == 0:
        size, ulcerated = (1, ulcerated - 1) if ulcerated > 1 else (0, 0)
    out = {
        "ulcer_size": size,
        "ulcerated_surface": ulcerated,
        "affected_surface": affected,
        "narrowing": narrowing,
    }
    # Keep the segment total exact (small adjustments above may have moved it by one).
    diff = t - sum(out.values())
    order = ["affected_surface", "ulcer_size", "ulcerated_surface", "narrowing"]
    while diff != 0:
        for k in order:
            if diff > 0 and out[k] < 3:
                out[k] += 1
                diff -= 1
            elif diff < 0 and out[k] > (1 if k == "affected_surface" else 0):
                out[k] -= 1
                diff += 1
            if diff == 0:
                break
        else:
            break
    return out


def _mri_segment(
    rng: np.random.Generator, seg: str, ses_vars: dict[str, int], behaviour: str
) -> dict[str, float]:
    """MRI truth for one segment from its endoscopic activity (reference 9.3 table)."""
    t = sum(ses_vars.values())
    a = t / 12.0
    colonic = seg != "ileum"
    sens = 0.72 if colonic else 1.0  # MRI is less sensitive in the colon (Valek 2025)
    m = max(0.0, a * sens + rng.normal(0.0, 0.13))
    wall = 2.5 + rng.normal(0.0, 0.45) + 9.0 * m
    if behaviour == "B2" and ses_vars["narrowing"] > 0:
        wall += rng.uniform(0.5, 2.0)  # fibrotic thickening
    wall = float(np.clip(wall, 1.2, 16.0))
    rce = float(np.clip(60.0 + rng.normal(0.0, 13.0) + 150.0 * m, 10.0, 320.0))
    oedema = int(rng.random() < _sigmoid((m - 0.18) * 14.0))
    size = ses_vars["ulcer_size"]
    if size >= 2:
        p_ulcer = 0.6 if colonic else 0.85
    elif size == 1:
        p_ulcer = 0.15 if colonic else 0.3
    else:
        p_ulcer = 0.02
    ulcer = int(rng.random() < p_ulcer)
    maria = 1.5 * wall + 0.02 * rce + 5.0 * oedema + 10.0 * ulcer
    return {
        "wall_mm": round(wall, 2),
        "rce": round(rce, 1),
        "oedema": oedema,
        "ulcer": ulcer,
        "maria": round(maria, 2),
        "activity": m,
    }


def sample_truth(index: int, seed: int, config: SyntheticConfig) -> PatientTruth:
    """Draw one patient's latent state and every derived true measurement."""
    rng = patient_rng(seed, index, STREAM_LATENT)
    sites = config.active_sites
    site = int(rng.integers(0, len(sites)))
    sex = "F" if rng.random() < config.female_rate else "M"
    age = float(np.clip(17.0 + rng.gamma(2.2, 9.5), 17.0, 88.0))
    location = LOCATIONS[int(rng.choice(4, p=np.asarray(config.location_probs)))]
    l4 = 1 if location == "L4" or rng.random() < config.l4_modifier_rate else 0
    behaviour = BEHAVIOURS[int(rng.choice(3, p=np.asarray(config.behaviour_probs)))]
    perianal = int(rng.random() < config.perianal_rate)
    z = float(rng.normal()) + sites[site].latent_shift
    f_sym = float(rng.normal())
    truth = PatientTruth(
        index=index,
        seed=int(seed),
        patient_id=f"P{index + 1:04d}",
        site=site,
        sex=sex,
        age=round(age, 1),
        location=location,
        l4=l4,
        behaviour=behaviour,
        perianal=perianal,
        inflammation=z,
        symptom_factor=f_sym,
    )
    _fill_disease(truth, rng, config)
    return truth


def other_visit_truth(
    truth: PatientTruth, config: SyntheticConfig, inflammation: float, symptom_factor: float
) -> PatientTruth:
    """The same patient (phenotype, site, sex, age) at another visit with another disease state: the
    endoscopic and MRI truth and biomarkers follow ``inflammation``; every stream of that visit differs
    from the endpoint visit's (``visit_key`` 1)."""
    other = PatientTruth(
        index=truth.index,
        seed=truth.seed,
        patient_id=truth.patient_id,
        site=truth.site,
        sex=truth.sex,
        age=truth.age,
        location=truth.location,
        l4=truth.l4,
        behaviour=truth.behaviour,
        perianal=truth.perianal,
        inflammation=float(inflammation),
        symptom_factor=float(symptom_factor),
        visit_key=1,
    )
    _fill_disease(other, other.rng(STREAM_LATENT), config)
    return other


def _fill_disease(truth: PatientTruth, rng: np.random.Generator, config: SyntheticConfig) -> None:
    """Endoscopic, MRI and biomarker truth from ``truth.inflammation`` and the patient's phenotype."""
    z, location, behaviour = truth.inflammation, truth.location, truth.behaviour
    total = _ses_total_from_u(_phi(z), config.endoscopic_class_probs)
    seg_tot = _spread_ses(rng, total, _involved_segments(rng, location), behaviour)
    truth.ses = {s: _segment_variables(rng, seg_tot[s], behaviour) for s in SES_SEGMENTS}
    truth.ileum_intubated = not (rng.random() < config.ileum_not_intubated_rate)
    for seg in MRI_SEGMENTS:
        ses_vars = dict(truth.ses[MRI_TO_SES[seg]])
        if seg in ("descending", "sigmoid"):  # left colon is pooled in SES-CD, split on MRI
            share = rng.uniform(0.55, 1.1)
            ses_vars = {k: int(np.clip(round(v * share), 0, 3)) for k, v in ses_vars.items()}
        truth.mri[seg] = _mri_segment(rng, seg, ses_vars, behaviour)
    truth.image_segment = _pick_image_segment(rng, truth)

    ses = truth.ses_cd_true
    cal_mu = float(np.interp(ses, _FC_ANCHORS, _FC_MU))
    cal_sd = 0.72 * float(np.interp(ses, _FC_ANCHORS, _FC_SIGMA)) * config.calprotectin_noise
    truth.calprotectin = round(float(np.clip(np.exp(cal_mu + cal_sd * rng.normal()), 5.0, 9000.0)), 1)
    crp_log = 0.8 + 0.1 * min(ses, 30) + 1.1 * config.crp_noise * rng.normal()
    truth.crp = round(float(np.clip(np.exp(crp_log), 0.2, 350.0)), 1)
    leuk = 7.3 + 0.11 * min(ses, 30) + rng.normal(0.0, 1.8)
    truth.leukocytes = round(float(np.clip(leuk, 2.2, 30.0)), 1)


def _pick_image_segment(rng: np.random.Generator, truth: PatientTruth) -> str:
    """The segment an MRE reader would annotate: the most active one, else the usual site of disease."""
    best = max(MRI_SEGMENTS, key=lambda s: truth.mri[s]["maria"])
    if truth.mri[best]["maria"] >= 9.0:
        return best
    if truth.location in ("L1", "L3", "L4"):
        return "ileum"
    involved = [s for s in MRI_SEGMENTS[1:] if truth.ses[MRI_TO_SES[s]]["affected_surface"] > 0]
    return involved[0] if involved else MRI_SEGMENTS[1 + int(rng.integers(0, 5))]
