"""Free-text MR enterography and colonoscopy reports: a reader's noisy reading of the truth.

The reader perceives every finding with error (under- and over-calling, a per-report bias, measurement
noise on wall thickness), then writes it with varied templates, synonyms, abbreviations (TI, MRE, CD, SB),
negations and hedges, using the SAR/SES-CD vocabulary of reference 9.6, plus incidental findings.
Scores (SES-CD, MaRIA) are written only when ``explicit_scores_in_text`` asks for them.

Each report is written in English or French (``french_report_rate``) and as free text or as a structured
form of "Finding: yes/no" lines (``templated_report_rate``), drawn per report from a stream of its own
(:func:`report_style`), so the English free-text reports are the same whatever the two rates. One set of
renderers writes both languages from a :class:`Phrases` bank: :data:`EN` here, ``FR`` in
:mod:`benchmarks.synthetic.reports_fr`; the structured forms are in
:mod:`benchmarks.synthetic.reports_templated`. All of them render the same perceived findings;
:mod:`benchmarks.synthetic.report_writer` picks the language and style of each report and writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.latent import (
    MRI_SEGMENTS,
    MRI_TO_SES,
    SES_SEGMENTS,
    STREAM_REPORT_STYLE,
    PatientTruth,
)


class _Writer:
    """Random phrase choice with a site-specific preferred wording."""

    def __init__(self, rng: np.random.Generator, style: int) -> None:
        self.rng = rng
        self.style = style

    def pick(self, options: Sequence[str]) -> str:
        if self.rng.random() < 0.45:
            return options[self.style % len(options)]
        return options[int(self.rng.integers(0, len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def some(self, options: Sequence[str], k: int) -> list[str]:
        k = min(k, len(options))
        idx = self.rng.choice(len(options), size=k, replace=False)
        return [options[int(i)] for i in sorted(idx)]


Options = tuple[str, ...]


@dataclass(frozen=True)
class Phrases:
    """One language's wording of every report sentence. Callables take the values the sentence needs and
    return the options the reader picks from (they are called, and so draw their numbers, in a fixed order).
    """

    language: str  # ISO 639-1
    # shared
    number: Callable[[float], str]  # a wall thickness: 3.5 -> "3.5" / "3,5", 4.0 -> "4"
    decimal: Callable[[float], str]  # a rounded measure: 3.0 -> "3.0" / "3,0"
    incidentals: Options
    sides: Options
    # MRE
    mri_names: dict[str, Options]
    mre_titles: Options
    locations: dict[str, str]
    history_headers: Options
    history: Callable[[str], Options]
    agents: Options
    volumes: Options
    antispasmodics: Options
    technique: Callable[..., Options]
    comparison: Options
    findings_header: str
    distension: Options
    thickening: Callable[[str, str], Options]
    extent: Callable[[int], Options]
    hedged: Callable[[str], Options]
    oedema: Options
    target_pattern: str
    patterns: Options
    enhancement: Callable[[str], Options]
    no_enhancement: Options
    ulcers: Options
    extras: Options
    extras_sentence: Callable[[list[str]], str]
    no_extras: Options
    normal_small_bowel: Options
    normal_colon: Options
    stricture_default: str
    stricture_where: Callable[[str], str]
    stricture: Callable[[str, str], Options]
    mild_stricture: Callable[[str, str], str]
    no_stricture: Options
    penetrating: Callable[[str], Options]
    no_penetrating: Options
    perianal: Options
    nodes: Options
    organs: Options
    is_stricture_line: Callable[[str], bool]
    is_penetrating_line: Callable[[str], bool]
    impression_header: str
    no_activity: Options
    names_join: Callable[[list[str]], str]
    grade: dict[str, str]
    grade_joiner: Callable[[str], str]
    where_mri: dict[str, str]
    equivocal: Callable[[str], Options]
    active: Callable[[str, str, str], Options]
    stricture_impression: Callable[[bool], Options]
    penetrating_impression: Options
    no_penetrating_impression: Options
    # colonoscopy
    ses_names: dict[str, Options]
    colon_titles: Options
    indication_headers: Options
    indications: Options
    preparation_headers: Options
    preparations: Options
    sedations: Options
    extent_intubated: Options
    extent_not_intubated: Options
    label: Callable[[str], str]  # "Rectum" -> "Rectum: " / "Rectum : "
    segment_normal: Options
    no_ulcer: Options
    aphthous: Options
    large_ulcers: Callable[[str], Options]
    very_large_ulcers: Callable[[str], Options]
    ulcerated_fraction: dict[int, Options]
    ulcerated: Callable[[Callable[[], str]], Options]
    affected: dict[int, Options]
    single_stenosis: Options
    multiple_stenoses: Options
    tight_stenosis: Options
    no_stenosis: Options
    colon_extras: Options
    joiner: str
    perianal_colon: Options
    colon_findings_header: str
    biopsy_headers: Options
    biopsies: Options
    colon_impression_header: str
    remission: Options
    where_colon: dict[str, str]
    mild_colon: Callable[[str], Options]
    active_colon: Callable[[str, str], Options]
    stenosis_impression: Options


def _incidental(w: _Writer, ph: Phrases) -> str:
    text = w.pick(ph.incidentals)
    return text.format(side=w.pick(ph.sides), n=int(w.rng.integers(6, 35)), seg=int(w.rng.integers(2, 9)))


REPORT_TYPES_WRITTEN = ("mre", "colonoscopy")


def report_style(truth: PatientTruth, config: SyntheticConfig) -> dict[str, tuple[str, bool]]:
    """Per report type: (language "en"/"fr", structured form or not), drawn from the style stream."""
    rng = truth.rng(STREAM_REPORT_STYLE)
    out = {}
    for rtype in REPORT_TYPES_WRITTEN:
        french, templated = (
            rng.random() < config.french_report_rate,
            rng.random() < config.templated_report_rate,
        )
        out[rtype] = ("fr" if french else "en", bool(templated))
    return out


def abnormal_segments(per: dict[str, dict[str, float]]) -> list[str]:
    """MRI segments the reader calls abnormal (perceived activity or wall thickness)."""
    return [s for s in MRI_SEGMENTS if per[s]["act"] > 0.16 or per[s]["wall"] >= 3.5]


def mri_grade(top: float) -> str:
    """The reader's severity word for the highest perceived activity: "mild", "moderate" or "severe"."""
    return "mild" if top < 0.35 else ("moderate" if top < 0.7 else "severe")


def colon_summary(
    truth: PatientTruth, per: dict[str, dict[str, int]]
) -> tuple[int, bool, list[str], str, str]:
    """(perceived SES total, any ulcer, involved segments, where ("ileitis"/"ileocolitis"/"colitis"),
    grade ("mild"/"moderate"/"severe")) of the examined segments."""
    seen = [s for s in SES_SEGMENTS if s != "ileum" or truth.ileum_intubated]
    total = sum(sum(per[s].values()) for s in seen)
    ulcers = any(per[s]["ulcer_size"] for s in seen)
    involved = [s for s in seen if sum(per[s].values())]
    where = "ileitis" if involved == ["ileum"] else ("ileocolitis" if "ileum" in involved else "colitis")
    grade = "mild" if total < 7 else ("moderate" if total < 16 else "severe")
    return total, ulcers, involved, where, grade


def mre_length_cm(w: _Writer, p: dict[str, float]) -> int:
    """Length of the affected segment the reader writes (cm)."""
    return int(np.clip(round(3 + 12 * max(p["act"], 0) + w.rng.normal(0, 3)), 2, 30))


def stricture_read(truth: PatientTruth, w: _Writer, abnormal: list[str]) -> tuple[bool, str | None]:
    """Whether the reader writes a stricture (B2, read with error) and the segment where it is seen."""
    strict_seg = next((s for s in abnormal if truth.ses[MRI_TO_SES[s]]["narrowing"] > 0), None)
    return truth.behaviour == "B2" and bool(strict_seg or w.chance(0.5)) and w.chance(0.8), strict_seg


# --- MR enterography ------------------------------------------------------------------------------------
def _perceive_mri(truth: PatientTruth, config: SyntheticConfig, w: _Writer) -> dict[str, dict[str, float]]:
    s = config.text_signal
    err = 1.0 / max(s, 0.25)
    bias = w.rng.normal(0.0, 0.08 * err)  # this reader's tendency to over- or under-call
    out = {}
    for seg in MRI_SEGMENTS:
        m = truth.mri[seg]
        act = s * m["activity"] + (1 - min(s, 1.0)) * 0.2 + bias + w.rng.normal(0.0, 0.13 * err)
        wall = max(1.0, 2.5 + s * (m["wall_mm"] - 2.5) + w.rng.normal(0.0, 0.9 * err) + 4.0 * bias)
        ulcer = w.rng.random() < (0.7 if m["ulcer"] else 0.05 * err)
        oedema = w.rng.random() < (0.8 if m["oedema"] else 0.08 * err)
        out[seg] = {"act": act, "wall": wall, "ulcer": float(ulcer and s > 0), "oedema": float(oedema)}
    return out


def _mre_segment_sentence(w: _Writer, seg: str, p: dict[str, float], ph: Phrases) -> str:
    name = w.pick(ph.mri_names[seg])
    wall = ph.number(round(p["wall"] * 2) / 2)
    length = mre_length_cm(w, p)
    hedge = p["act"] < 0.28
    parts = []
    thick = w.pick(ph.thickening(name, wall))
    extent = w.pick(ph.extent(length))
    first = f"{thick} {extent}"
    if hedge:
        first = w.pick(ph.hedged(first))
    parts.append(first[0].upper() + first[1:] + ".")
    if p["oedema"]:
        parts.append(w.pick(ph.oedema))
    enh_active = p["act"] > 0.25
    if enh_active:
        pattern = ph.target_pattern if p["oedema"] else w.pick(ph.patterns)
        parts.append(w.pick(ph.enhancement(pattern)))
    elif w.chance(0.5):
        parts.append(w.pick(ph.no_enhancement))
    if p["ulcer"]:
        parts.append(w.pick(ph.ulcers))
    if p["act"] > 0.45:
        extras = w.some(ph.extras, int(w.rng.integers(1, 3)))
        parts.append(ph.extras_sentence(extras))
    elif w.chance(0.4):
        parts.append(w.pick(ph.no_extras))
    return " ".join(parts)


def mre_header(truth: PatientTruth, config: SyntheticConfig, w: _Writer, ph: Phrases) -> list[str]:
    """Title, clinical history and technique lines of an MRE report."""
    site = config.active_sites[truth.site]
    lines = [w.pick(ph.mre_titles)]
    lines.append(w.pick(ph.history_headers) + " " + w.pick(ph.history(ph.locations[truth.location])))
    agent = w.pick(ph.agents)
    vol = w.pick(ph.volumes)
    anti = w.pick(ph.antispasmodics)
    lines.append(w.pick(ph.technique(site.field_strength, vol, agent, anti)))
    return lines


def mre_report(
    truth: PatientTruth, config: SyntheticConfig, w: _Writer, per: dict[str, dict[str, float]], ph: Phrases
) -> str:
    """A free-text MRE report of the perceived findings ``per``, worded with ``ph``."""
    abnormal = abnormal_segments(per)
    lines = mre_header(truth, config, w, ph)
    lines.append(w.pick(ph.comparison))
    findings: list[str] = [w.pick(ph.distension)]
    colon = [s for s in abnormal if s != "ileum"]
    if "ileum" in abnormal:
        findings.append(_mre_segment_sentence(w, "ileum", per["ileum"], ph))
    else:
        findings.append(w.pick(ph.normal_small_bowel))
    for seg in colon:
        findings.append(_mre_segment_sentence(w, seg, per[seg], ph))
    if not colon:
        findings.append(w.pick(ph.normal_colon))
    # Stricturing and penetrating findings (behaviour), read with error.
    stricture, strict_seg = stricture_read(truth, w, abnormal)
    if stricture:
        d = round(w.rng.uniform(2.4, 4.5), 1)
        where = (
            ph.stricture_default
            if "ileum" in abnormal or strict_seg is None
            else ph.stricture_where(w.pick(ph.mri_names[strict_seg]))
        )
        if d >= 3.0:
            findings.append(w.pick(ph.stricture(where, ph.decimal(d))))
        else:
            findings.append(ph.mild_stricture(where, ph.decimal(d)))
    elif w.chance(0.6):
        findings.append(w.pick(ph.no_stricture))
    if truth.behaviour == "B3" and w.chance(0.8):
        findings.append(w.pick(ph.penetrating(ph.decimal(round(w.rng.uniform(1.2, 4.5), 1)))))
    else:
        findings.append(w.pick(ph.no_penetrating))
    if truth.perianal and w.chance(0.7):
        findings.append(w.pick(ph.perianal))
    if w.chance(0.55):
        findings.append(w.pick(ph.nodes))
    n_inc = int(w.rng.choice([0, 0, 1, 1, 2]))
    for _ in range(n_inc):
        findings.append(_incidental(w, ph))
    if w.chance(0.5):
        findings.append(w.pick(ph.organs))
    lines.append(ph.findings_header + "\n" + "\n".join(findings))
    if config.explicit_scores_in_text:
        lines.append(f"SCORES: global MaRIA {truth.maria:.1f}.")
    stricture = any(ph.is_stricture_line(f) for f in findings)
    penetrating = any(ph.is_penetrating_line(f) for f in findings)
    imp = mre_impression(truth, w, per, abnormal, stricture, penetrating, ph)
    lines.append(ph.impression_header + "\n" + "\n".join(f"{i + 1}. {t}" for i, t in enumerate(imp)))
    return "\n".join(lines)


def mre_impression(
    truth: PatientTruth,
    w: _Writer,
    per: dict[str, dict[str, float]],
    abnormal: list[str],
    stricture: bool,
    penetrating: bool,
    ph: Phrases,
) -> list[str]:
    """The numbered impression of an MRE report (free text or structured)."""
    imp: list[str] = []
    top = max((per[s]["act"] for s in abnormal), default=0.0)
    names = ph.names_join([w.pick(ph.mri_names[s]) for s in abnormal])
    if not abnormal:
        imp.append(w.pick(ph.no_activity))
    else:
        grade = "" if w.chance(0.35) else ph.grade_joiner(ph.grade[mri_grade(top)])
        where = ph.where_mri[
            "small" if abnormal == ["ileum"] else ("colonic" if "ileum" not in abnormal else "ileocolonic")
        ]
        if top < 0.25:
            imp.append(w.pick(ph.equivocal(names)))
        else:
            imp.append(w.pick(ph.active(grade, where, names)))
    if truth.behaviour == "B2" and stricture:
        imp.append(w.pick(ph.stricture_impression(bool(abnormal))))
    if penetrating:
        imp.append(w.pick(ph.penetrating_impression))
    else:
        imp.append(w.pick(ph.no_penetrating_impression))
    return imp


# --- colonoscopy ----------------------------------------------------------------------------------------
def _perceive_ses(truth: PatientTruth, config: SyntheticConfig, w: _Writer) -> dict[str, dict[str, int]]:
    """The endoscopist's reading: a per-report calibration bias, small per-variable errors, missed mild
    segments and occasional false-positive minor findings in normal segments."""
    s = config.text_signal
    err = 1.0 / max(s, 0.25)
    bias = w.rng.normal(0.0, 0.75 * err)
    out = {}
    for seg in SES_SEGMENTS:
        v = truth.ses[seg]
        t = sum(v.values())
        p = {}
        if s == 0 or (t == 0 and w.rng.random() >= 0.05 + 0.12 * max(bias, 0.0)):
            real = t > 0 and s > 0
            p = {k: 0 for k in v}
            if s == 0 and w.rng.random() < 0.35:  # a reader who does not see the truth still writes findings
                p = {k: int(w.rng.integers(0, 3)) for k in v}
            if not real:
                out[seg] = _coherent(p)
                continue
        if t == 0:  # false-positive minor finding
            p = {"ulcer_size": 0, "ulcerated_surface": 0, "affected_surface": 1, "narrowing": 0}
        elif t <= 3 and w.rng.random() < 0.15 + 0.2 * max(-bias, 0.0):  # mild segment missed
            p = {k: 0 for k in v}
        else:
            for k, x in v.items():
                jitter = w.rng.normal(0.0, 0.35 * err)
                p[k] = int(np.clip(np.rint(s * x + bias + jitter), 0, 3))
        out[seg] = _coherent(p)
    return out


def _coherent(p: dict[str, int]) -> dict[str, int]:
    if p["ulcer_size"] == 0 or p["ulcerated_surface"] == 0:
        p["ulcer_size"] = p["ulcerated_surface"] = 0
    if p["ulcer_size"] > 0 and p["affected_surface"] == 0:
        p["affected_surface"] = 1
    return p


def _colon_segment_sentence(w: _Writer, seg: str, p: dict[str, int], ph: Phrases) -> str:
    name = w.pick(ph.ses_names[seg])
    if sum(p.values()) == 0:
        return ph.label(name) + w.pick(ph.segment_normal)
    bits: list[str] = []
    size, ulc, aff, nar = p["ulcer_size"], p["ulcerated_surface"], p["affected_surface"], p["narrowing"]
    if size == 0:
        bits.append(w.pick(ph.no_ulcer))
    elif size == 1:
        bits.append(w.pick(ph.aphthous))
    elif size == 2:
        bits.append(w.pick(ph.large_ulcers(ph.decimal(round(w.rng.uniform(0.6, 1.9), 1)))))
    else:
        bits.append(w.pick(ph.very_large_ulcers(ph.decimal(round(w.rng.uniform(2.1, 4.0), 1)))))
    if ulc:
        frac = ph.ulcerated_fraction[ulc]
        bits.append(w.pick(ph.ulcerated(lambda: w.pick(frac))))
    if aff:
        bits.append(w.pick(ph.affected[aff]))
    if nar == 1:
        bits.append(w.pick(ph.single_stenosis))
    elif nar == 2:
        bits.append(w.pick(ph.multiple_stenoses))
    elif nar == 3:
        bits.append(w.pick(ph.tight_stenosis))
    elif w.chance(0.3):
        bits.append(w.pick(ph.no_stenosis))
    if size and w.chance(0.2):
        bits.append(w.pick(ph.colon_extras))
    return ph.label(name) + ph.joiner.join(bits) + "."


def colonoscopy_header(truth: PatientTruth, w: _Writer, ph: Phrases) -> list[str]:
    """Title, indication, preparation and extent lines of a colonoscopy report."""
    lines = [w.pick(ph.colon_titles)]
    lines.append(w.pick(ph.indication_headers) + " " + w.pick(ph.indications))
    lines.append(w.pick(ph.preparation_headers) + " " + w.pick(ph.preparations) + " " + w.pick(ph.sedations))
    lines.append(w.pick(ph.extent_intubated if truth.ileum_intubated else ph.extent_not_intubated))
    return lines


def colonoscopy_report(
    truth: PatientTruth, config: SyntheticConfig, w: _Writer, per: dict[str, dict[str, int]], ph: Phrases
) -> str:
    """A free-text ileocolonoscopy report of the perceived SES-CD variables ``per``, worded with ``ph``."""
    lines = colonoscopy_header(truth, w, ph)
    found = []
    for seg in SES_SEGMENTS:
        if seg == "ileum" and not truth.ileum_intubated:
            continue
        found.append(_colon_segment_sentence(w, seg, per[seg], ph))
    if truth.perianal and w.chance(0.5):
        found.append(w.pick(ph.perianal_colon))
    lines.append(ph.colon_findings_header + "\n" + "\n".join(found))
    lines.append(w.pick(ph.biopsy_headers) + " " + w.pick(ph.biopsies))
    if config.explicit_scores_in_text:
        lines.append(f"SES-CD: {truth.ses_cd_observed}.")
    lines.append(ph.colon_impression_header + " " + colonoscopy_impression(truth, w, per, ph))
    return "\n".join(lines)


def colonoscopy_impression(
    truth: PatientTruth, w: _Writer, per: dict[str, dict[str, int]], ph: Phrases
) -> str:
    """The impression of a colonoscopy report (free text or structured)."""
    total, ulcers, involved, where, severity = colon_summary(truth, per)
    where = ph.where_colon[where]
    if total == 0:
        imp = w.pick(ph.remission)
    elif not ulcers:
        imp = w.pick(ph.mild_colon(where))
    else:
        grade = "" if w.chance(0.4) else ph.grade[severity]
        imp = w.pick(ph.active_colon(grade, where))
    if truth.behaviour == "B2" and any(per[s]["narrowing"] for s in involved):
        imp += " " + w.pick(ph.stenosis_impression)
    return imp


_LOCATIONS_EN = {"L1": "ileal", "L2": "colonic", "L3": "ileocolonic", "L4": "upper GI / small bowel"}

EN = Phrases(
    language="en",
    number=lambda x: f"{x:g}",
    decimal=str,
    incidentals=(
        "Simple cyst in the {side} kidney measuring {n} mm, of no clinical significance.",
        "Cholelithiasis without gallbladder wall thickening.",
        "Small gallstones are noted; no cholecystitis.",
        "Small hepatic haemangioma in segment {seg}.",
        "Incidental {side} adrenal nodule measuring {n} mm, likely an adenoma.",
        "Small hiatus hernia.",
        "Mild hepatic steatosis.",
        "Bilateral simple renal cysts, the largest {n} mm.",
        "Small umbilical hernia containing fat.",
        "Trace free fluid in the pelvis, likely physiological.",
        "Sacroiliac joints appear normal.",
        "Focal fatty sparing adjacent to the gallbladder fossa.",
    ),
    sides=("left", "right"),
    mri_names={
        "ileum": ("terminal ileum", "TI", "distal ileum", "terminal ileal loop", "distal ileal loop"),
        "ascending": ("caecum and ascending colon", "ascending colon", "right colon", "caecum"),
        "transverse": ("transverse colon", "mid transverse colon", "transverse colon"),
        "descending": ("descending colon", "left colon", "descending colon"),
        "sigmoid": ("sigmoid colon", "sigmoid", "rectosigmoid junction"),
        "rectum": ("rectum", "rectal wall", "rectum"),
    },
    mre_titles=(
        "MR ENTEROGRAPHY",
        "MRI SMALL BOWEL (MR ENTEROGRAPHY)",
        "MRE ABDOMEN AND PELVIS",
        "MR ENTEROGRAPHY WITH CONTRAST",
    ),
    locations=_LOCATIONS_EN,
    history_headers=("CLINICAL HISTORY:", "INDICATION:", "HISTORY:"),
    history=lambda loc: (
        f"Known {loc} CD. Assess disease activity.",
        f"Crohn's disease ({loc}). ?active disease, ?complications.",
        f"Known CD, {loc} distribution. Reassessment on current therapy.",
        f"{loc.capitalize()} Crohn's disease. Evaluate for inflammation or stricture.",
    ),
    agents=("mannitol 2.5%", "PEG solution", "sorbitol-based oral contrast", "mannitol solution"),
    volumes=("1 L", "1.5 L", "1000 mL", "1200 mL"),
    antispasmodics=("hyoscine butylbromide (Buscopan) 20 mg IV", "glucagon 1 mg IV", "IV Buscopan"),
    technique=lambda field, vol, agent, anti: (
        f"TECHNIQUE: MRE at {field} after oral distension with {vol} of {agent} and {anti}. "
        "Coronal and axial T2 HASTE, fat-saturated T2, balanced SSFP, DWI (b 50/800) and 3D T1 "
        "fat-suppressed gradient echo before and after IV gadolinium (enteric and portal venous phases).",
        f"TECHNIQUE: {field} MR enterography. Oral contrast: {agent} ({vol}). Spasmolytic: {anti}. "
        "Sequences: SSFSE, TrueFISP, DWI, dynamic post-gadolinium VIBE.",
        f"TECHNIQUE: Standard MRE protocol on a {field} scanner with {agent}, {anti}, multiplanar T2, "
        "diffusion and post-contrast T1 imaging.",
    ),
    comparison=(
        "COMPARISON: None available.",
        "COMPARISON: Prior MRE, not available for direct comparison.",
        "COMPARISON: None.",
        "COMPARISON: Previous MRE from an outside institution (report only).",
    ),
    findings_header="FINDINGS:",
    distension=(
        "Adequate small bowel distension.",
        "Distension is adequate.",
        "Suboptimal distension of the distal SB loops.",
    ),
    thickening=lambda name, wall: (
        f"mural thickening of the {name} measuring up to {wall} mm",
        f"wall thickening of the {name} to {wall} mm",
        f"the {name} is thick-walled ({wall} mm)",
        f"bowel wall thickening ({wall} mm) involving the {name}",
    ),
    extent=lambda length: (
        f"over a {length} cm segment",
        f"over approximately {length} cm",
        f"along {length} cm",
    ),
    hedged=lambda first: (
        f"possible mild {first}, which may partly reflect under-distension",
        f"equivocal {first}; cannot exclude mild active inflammation",
        f"subtle {first}, likely mild",
    ),
    oedema=(
        "There is intramural T2 hyperintensity in keeping with mural oedema.",
        "Mural oedema is present on the fat-saturated T2 images.",
        "Increased T2 signal within the wall suggests oedema.",
        "Associated restricted diffusion and intramural oedema.",
    ),
    target_pattern="stratified (target)",
    patterns=("homogeneous", "asymmetric, mesenteric-border predominant", "mucosal"),
    enhancement=lambda pattern: (
        f"Segmental mural hyperenhancement with a {pattern} pattern.",
        f"Avid {pattern} mural hyperenhancement on the enteric-phase images.",
        f"The affected segment shows {pattern} hyperenhancement.",
    ),
    no_enhancement=("No convincing mural hyperenhancement.", "Enhancement is within normal limits."),
    ulcers=(
        "Ulcerations are seen along the mucosal surface.",
        "Deep ulcers are demonstrated.",
        "Mucosal irregularity suggesting ulceration.",
        "Probable ulcers within the thickened segment.",
    ),
    extras=(
        "perienteric fat stranding",
        "engorged vasa recta (comb sign)",
        "reactive mesenteric lymph nodes",
        "perienteric oedema",
        "fibrofatty proliferation (creeping fat)",
        "pseudosacculation of the antimesenteric border",
    ),
    extras_sentence=lambda extras: f"There is {' and '.join(extras)}.",
    no_extras=("No perienteric inflammatory change.", "No comb sign.", "No fat stranding."),
    normal_small_bowel=(
        "The terminal ileum is normal in calibre and wall thickness without abnormal enhancement.",
        "No small bowel wall thickening or hyperenhancement. The TI appears normal.",
        "Small bowel: no active inflammation identified.",
        "Normal appearance of the TI and remaining small bowel.",
    ),
    normal_colon=(
        "The colon is unremarkable.",
        "No colonic wall thickening or hyperenhancement.",
        "Colon: no convincing abnormality, although assessment is limited without colonic distension.",
    ),
    stricture_default="the TI",
    stricture_where=lambda name: f"the {name}",
    stricture=lambda where, d: (
        f"Luminal narrowing of {where} with upstream dilatation to {d} cm, consistent with a stricture.",
        f"Stricture at {where} with prestenotic dilatation measuring {d} cm.",
    ),
    mild_stricture=lambda where, d: (
        f"Luminal narrowing at {where} with mild upstream dilatation ({d} cm): probable stricture."
    ),
    no_stricture=(
        "No stricture or upstream dilatation.",
        "No luminal narrowing.",
        "No evidence of stricture.",
    ),
    penetrating=lambda size: (
        "A sinus tract extends from the TI into the adjacent mesentery.",
        "Entero-enteric fistula between the distal ileum and an adjacent ileal loop.",
        f"Inflammatory phlegmon adjacent to the diseased loop; a {size} cm rim-enhancing collection in keeping with an abscess.",
        "Complex entero-enteric fistulation with tethering of small bowel loops (stellate configuration).",
        "Entero-vesical fistula is suspected, with focal bladder wall thickening.",
    ),
    no_penetrating=(
        "No fistula or abscess.",
        "No penetrating complication.",
        "No sinus tract, fistula or collection.",
        "No intra-abdominal collection.",
    ),
    perianal=(
        "Partially imaged perianal fistula (likely trans-sphincteric, Parks type 2).",
        "Inter-sphincteric perianal fistula tract is noted.",
        "Perianal fistula with a small associated collection.",
    ),
    nodes=(
        "Small reactive mesenteric lymph nodes.",
        "No significant lymphadenopathy.",
        "Mesenteric lymph nodes measure up to 8 mm in short axis, likely reactive.",
    ),
    organs=(
        "Solid organs otherwise unremarkable.",
        "The liver, spleen, pancreas and kidneys are otherwise normal.",
        "Visualised bones are unremarkable.",
    ),
    is_stricture_line=lambda line: "stricture" in line,
    is_penetrating_line=lambda line: any(
        k in line for k in ("fistula", "abscess", "sinus tract", "phlegmon")
    ),
    impression_header="IMPRESSION:",
    no_activity=(
        "No findings of active CD.",
        "No MR evidence of active Crohn's disease.",
        "No active small or large bowel inflammation.",
        "Quiescent disease on MRE.",
    ),
    names_join=", ".join,
    grade={"mild": "mild", "moderate": "moderate", "severe": "severe"},
    grade_joiner=lambda g: g + " ",
    where_mri={"small": "small-bowel", "colonic": "colonic", "ileocolonic": "ileocolonic"},
    equivocal=lambda names: (
        f"Equivocal findings in the {names}; mild active CD cannot be excluded.",
        f"Possible mild inflammation of the {names}, likely minimal activity.",
        f"Subtle changes of the {names}, may be chronic/quiescent disease.",
    ),
    active=lambda grade, where, names: (
        f"Findings of {grade}active inflammatory {where} CD involving the {names}.",
        f"{grade.capitalize()}active Crohn's disease of the {names}."
        if grade
        else f"Active Crohn's disease of the {names}.",
        f"Features consistent with {grade}active {where} Crohn's disease ({names}).",
    ),
    stricture_impression=lambda active: (
        "Stricture with coexisting active inflammation."
        if active
        else "Stricture without active inflammation.",
        "Stricturing disease as above.",
    ),
    penetrating_impression=("Penetrating disease as described.", "Penetrating complication, see above."),
    no_penetrating_impression=("No fistula or abscess.", "No penetrating complication.", "No complications."),
    ses_names={
        "ileum": ("Terminal ileum", "TI", "Ileum", "Terminal ileum (TI)"),
        "right_colon": ("Right colon", "Caecum/ascending colon", "Ascending colon and caecum"),
        "transverse": ("Transverse colon", "Transverse", "Transverse colon"),
        "left_colon": ("Left colon", "Descending and sigmoid colon", "Sigmoid/descending colon"),
        "rectum": ("Rectum", "Rectum", "Rectum"),
    },
    colon_titles=(
        "ILEOCOLONOSCOPY REPORT",
        "COLONOSCOPY",
        "PROCEDURE: Ileocolonoscopy",
        "ENDOSCOPY REPORT - COLONOSCOPY",
    ),
    indication_headers=("INDICATION:", "Indication:", "REASON FOR PROCEDURE:"),
    indications=(
        "Crohn's disease, assessment of mucosal activity.",
        "Known CD. Restaging.",
        "CD on biologic therapy; assess mucosal healing.",
        "Ileocolonic CD, ?activity.",
    ),
    preparation_headers=("PREPARATION:", "Bowel prep:"),
    preparations=("Good (Boston 8).", "Adequate.", "Fair, some residual fluid.", "Excellent.", "Good."),
    sedations=("Propofol sedation.", "Conscious sedation with midazolam and fentanyl.", "No sedation."),
    extent_intubated=(
        "EXTENT: TI intubated.",
        "The terminal ileum was intubated and examined over 10 cm.",
        "Extent: terminal ileum.",
        "Caecum reached, TI intubated.",
    ),
    extent_not_intubated=(
        "EXTENT: Caecum. The TI could not be intubated.",
        "Caecum reached; ileal intubation unsuccessful.",
        "Extent: caecum (ileocaecal valve not passable).",
    ),
    label=lambda name: f"{name}: ",
    segment_normal=(
        "normal mucosa.",
        "unremarkable, normal vascular pattern.",
        "no ulcers or erythema.",
        "normal.",
        "no inflammation seen.",
    ),
    no_ulcer=(
        "patchy erythema and mucosal oedema without ulceration",
        "loss of vascular pattern and mild erythema, no ulcers",
        "granular, friable mucosa with no discrete ulcers",
    ),
    aphthous=(
        "scattered aphthous ulcers (<5 mm)",
        "several aphthous ulcers",
        "aphthae and small superficial erosions",
        "aphthous ulceration",
    ),
    large_ulcers=lambda x: (
        f"large ulcers measuring up to {x} cm",
        "linear ulcers 1-2 cm in length",
        "deep serpiginous ulcers (0.5-2 cm)",
        "multiple large ulcers",
    ),
    very_large_ulcers=lambda x: (
        f"very large deep ulcers, the largest about {x} cm",
        "confluent deep ulceration with cobblestoning",
        "giant ulcers (>2 cm) with a cobblestone appearance",
    ),
    ulcerated_fraction={
        1: ("<10%", "less than 10%", "a small fraction"),
        2: ("10-30%", "about 20%", "up to a third"),
        3: (">30%", "most", "more than a third"),
    },
    ulcerated=lambda frac: (
        f"ulcerated surface estimated at {frac()}",
        f"ulcers cover {frac()} of the surface",
        f"{frac()} of the mucosa ulcerated",
    ),
    affected={
        1: ("patchy involvement (<50%)", "segmental, skip lesions", "focal involvement"),
        2: ("involving 50-75% of the segment", "extensive involvement", "most of the segment affected"),
        3: (
            "circumferential, involving >75% of the segment",
            "diffuse involvement",
            "continuous disease throughout",
        ),
    },
    single_stenosis=(
        "a single stenosis, traversed by the scope",
        "single narrowing that could be passed",
        "short stenosis, passable",
    ),
    multiple_stenoses=(
        "multiple stenoses, passable with some resistance",
        "several narrowed areas, traversed",
    ),
    tight_stenosis=(
        "a tight stenosis that could not be traversed",
        "ulcerated stricture not passable with the adult colonoscope",
    ),
    no_stenosis=("no stenosis", "without stricture"),
    colon_extras=("pseudopolyps", "cobblestoning", "contact bleeding"),
    joiner="; ",
    perianal_colon=(
        "Perianal: external fistula opening noted.",
        "Perianal inspection: skin tags and a fistula opening.",
    ),
    colon_findings_header="FINDINGS:",
    biopsy_headers=("Biopsies:", "HISTOLOGY:", "Samples:"),
    biopsies=(
        "taken from each segment for histology.",
        "Segmental biopsies sent.",
        "Random biopsies from ileum and colon.",
        "Biopsies taken for histology and dysplasia surveillance.",
    ),
    colon_impression_header="IMPRESSION:",
    remission=(
        "Endoscopic remission.",
        "No endoscopic evidence of active CD.",
        "Mucosal healing.",
        "Normal ileocolonoscopy.",
    ),
    where_colon={"ileitis": "ileitis", "ileocolitis": "ileocolitis", "colitis": "colitis"},
    mild_colon=lambda where: (
        f"Mild non-ulcerated Crohn's {where}.",
        f"Minimal inflammatory change, no ulcers ({where}).",
        f"Mild {where}; likely near remission.",
    ),
    active_colon=lambda grade, where: (
        f"Active Crohn's {where}{', ' + grade if grade else ''}.",
        f"{(grade + ' active').strip().capitalize()} Crohn's {where}.",
        f"Ulcerating Crohn's {where}.",
    ),
    stenosis_impression=("Stenosis as described.", "Stricturing disease."),
)
