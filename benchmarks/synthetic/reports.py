"""Free-text MR enterography and colonoscopy reports: a reader's noisy reading of the truth.

The reader perceives every finding with error (under- and over-calling, a per-report bias, measurement
noise on wall thickness), then writes it with varied templates, synonyms, abbreviations (TI, MRE, CD, SB),
negations and hedges, using the SAR/SES-CD vocabulary of reference 9.6, plus incidental findings.
Scores (SES-CD, MaRIA) are written only when ``explicit_scores_in_text`` asks for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.latent import (
    MRI_SEGMENTS,
    MRI_TO_SES,
    SES_SEGMENTS,
    STREAM_REPORT,
    PatientTruth,
    patient_rng,
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


_MRI_NAMES = {
    "ileum": ("terminal ileum", "TI", "distal ileum", "terminal ileal loop", "distal ileal loop"),
    "ascending": ("caecum and ascending colon", "ascending colon", "right colon", "caecum"),
    "transverse": ("transverse colon", "mid transverse colon", "transverse colon"),
    "descending": ("descending colon", "left colon", "descending colon"),
    "sigmoid": ("sigmoid colon", "sigmoid", "rectosigmoid junction"),
    "rectum": ("rectum", "rectal wall", "rectum"),
}
_SES_NAMES = {
    "ileum": ("Terminal ileum", "TI", "Ileum", "Terminal ileum (TI)"),
    "right_colon": ("Right colon", "Caecum/ascending colon", "Ascending colon and caecum"),
    "transverse": ("Transverse colon", "Transverse", "Transverse colon"),
    "left_colon": ("Left colon", "Descending and sigmoid colon", "Sigmoid/descending colon"),
    "rectum": ("Rectum", "Rectum", "Rectum"),
}
_INCIDENTALS = (
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
)


def _incidental(w: _Writer) -> str:
    text = w.pick(_INCIDENTALS)
    return text.format(
        side=w.pick(("left", "right")), n=int(w.rng.integers(6, 35)), seg=int(w.rng.integers(2, 9))
    )


def write_reports(truth: PatientTruth, config: SyntheticConfig) -> list[tuple[str, str]]:
    """The patient's reports as (report_type, text): an MRE report and a colonoscopy report."""
    rng = patient_rng(truth.seed, truth.index, STREAM_REPORT)
    style = config.active_sites[truth.site].reader_style
    w = _Writer(rng, style)
    return [("mre", _mre_report(truth, config, w)), ("colonoscopy", _colonoscopy_report(truth, config, w))]


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


def _mre_segment_sentence(w: _Writer, seg: str, p: dict[str, float], truth: PatientTruth) -> str:
    name = w.pick(_MRI_NAMES[seg])
    wall = round(p["wall"] * 2) / 2
    length = int(np.clip(round(3 + 12 * max(p["act"], 0) + w.rng.normal(0, 3)), 2, 30))
    hedge = p["act"] < 0.28
    parts = []
    thick = w.pick(
        (
            f"mural thickening of the {name} measuring up to {wall:g} mm",
            f"wall thickening of the {name} to {wall:g} mm",
            f"the {name} is thick-walled ({wall:g} mm)",
            f"bowel wall thickening ({wall:g} mm) involving the {name}",
        )
    )
    extent = w.pick((f"over a {length} cm segment", f"over approximately {length} cm", f"along {length} cm"))
    first = f"{thick} {extent}"
    if hedge:
        first = w.pick(
            (
                f"possible mild {first}, which may partly reflect under-distension",
                f"equivocal {first}; cannot exclude mild active inflammation",
                f"subtle {first}, likely mild",
            )
        )
    parts.append(first[0].upper() + first[1:] + ".")
    if p["oedema"]:
        parts.append(
            w.pick(
                (
                    "There is intramural T2 hyperintensity in keeping with mural oedema.",
                    "Mural oedema is present on the fat-saturated T2 images.",
                    "Increased T2 signal within the wall suggests oedema.",
                    "Associated restricted diffusion and intramural oedema.",
                )
            )
        )
    enh_active = p["act"] > 0.25
    if enh_active:
        pattern = (
            "stratified (target)"
            if p["oedema"]
            else w.pick(("homogeneous", "asymmetric, mesenteric-border predominant", "mucosal"))
        )
        parts.append(
            w.pick(
                (
                    f"Segmental mural hyperenhancement with a {pattern} pattern.",
                    f"Avid {pattern} mural hyperenhancement on the enteric-phase images.",
                    f"The affected segment shows {pattern} hyperenhancement.",
                )
            )
        )
    elif w.chance(0.5):
        parts.append(
            w.pick(("No convincing mural hyperenhancement.", "Enhancement is within normal limits."))
        )
    if p["ulcer"]:
        parts.append(
            w.pick(
                (
                    "Ulcerations are seen along the mucosal surface.",
                    "Deep ulcers are demonstrated.",
                    "Mucosal irregularity suggesting ulceration.",
                    "Probable ulcers within the thickened segment.",
                )
            )
        )
    if p["act"] > 0.45:
        extras = w.some(
            (
                "perienteric fat stranding",
                "engorged vasa recta (comb sign)",
                "reactive mesenteric lymph nodes",
                "perienteric oedema",
                "fibrofatty proliferation (creeping fat)",
                "pseudosacculation of the antimesenteric border",
            ),
            int(w.rng.integers(1, 3)),
        )
        parts.append(f"There is {' and '.join(extras)}.")
    elif w.chance(0.4):
        parts.append(w.pick(("No perienteric inflammatory change.", "No comb sign.", "No fat stranding.")))
    return " ".join(parts)


def _mre_report(truth: PatientTruth, config: SyntheticConfig, w: _Writer) -> str:
    site = config.active_sites[truth.site]
    per = _perceive_mri(truth, config, w)
    abnormal = [s for s in MRI_SEGMENTS if per[s]["act"] > 0.16 or per[s]["wall"] >= 3.5]
    lines: list[str] = []
    lines.append(
        w.pick(
            (
                "MR ENTEROGRAPHY",
                "MRI SMALL BOWEL (MR ENTEROGRAPHY)",
                "MRE ABDOMEN AND PELVIS",
                "MR ENTEROGRAPHY WITH CONTRAST",
            )
        )
    )
    loc = {"L1": "ileal", "L2": "colonic", "L3": "ileocolonic", "L4": "upper GI / small bowel"}[
        truth.location
    ]
    lines.append(
        w.pick(("CLINICAL HISTORY:", "INDICATION:", "HISTORY:"))
        + " "
        + w.pick(
            (
                f"Known {loc} CD. Assess disease activity.",
                f"Crohn's disease ({loc}). ?active disease, ?complications.",
                f"Known CD, {loc} distribution. Reassessment on current therapy.",
                f"{loc.capitalize()} Crohn's disease. Evaluate for inflammation or stricture.",
            )
        )
    )
    agent = w.pick(("mannitol 2.5%", "PEG solution", "sorbitol-based oral contrast", "mannitol solution"))
    vol = w.pick(("1 L", "1.5 L", "1000 mL", "1200 mL"))
    anti = w.pick(("hyoscine butylbromide (Buscopan) 20 mg IV", "glucagon 1 mg IV", "IV Buscopan"))
    lines.append(
        "TECHNIQUE: "
        + w.pick(
            (
                f"MRE at {site.field_strength} after oral distension with {vol} of {agent} and {anti}. "
                "Coronal and axial T2 HASTE, fat-saturated T2, balanced SSFP, DWI (b 50/800) and 3D T1 "
                "fat-suppressed gradient echo before and after IV gadolinium (enteric and portal venous phases).",
                f"{site.field_strength} MR enterography. Oral contrast: {agent} ({vol}). Spasmolytic: {anti}. "
                "Sequences: SSFSE, TrueFISP, DWI, dynamic post-gadolinium VIBE.",
                f"Standard MRE protocol on a {site.field_strength} scanner with {agent}, {anti}, multiplanar T2, "
                "diffusion and post-contrast T1 imaging.",
            )
        )
    )
    lines.append(
        "COMPARISON: "
        + w.pick(
            (
                "None available.",
                "Prior MRE, not available for direct comparison.",
                "None.",
                "Previous MRE from an outside institution (report only).",
            )
        )
    )
    findings: list[str] = []
    distension = w.pick(
        (
            "Adequate small bowel distension.",
            "Distension is adequate.",
            "Suboptimal distension of the distal SB loops.",
        )
    )
    findings.append(distension)
    sb = [s for s in abnormal if s == "ileum"]
    colon = [s for s in abnormal if s != "ileum"]
    if sb:
        findings.append(_mre_segment_sentence(w, "ileum", per["ileum"], truth))
    else:
        findings.append(
            w.pick(
                (
                    "The terminal ileum is normal in calibre and wall thickness without abnormal enhancement.",
                    "No small bowel wall thickening or hyperenhancement. The TI appears normal.",
                    "Small bowel: no active inflammation identified.",
                    "Normal appearance of the TI and remaining small bowel.",
                )
            )
        )
    for seg in colon:
        findings.append(_mre_segment_sentence(w, seg, per[seg], truth))
    if not colon:
        findings.append(
            w.pick(
                (
                    "The colon is unremarkable.",
                    "No colonic wall thickening or hyperenhancement.",
                    "Colon: no convincing abnormality, although assessment is limited without colonic distension.",
                )
            )
        )
    # Stricturing and penetrating findings (behaviour), read with error.
    strict_seg = next((s for s in abnormal if truth.ses[MRI_TO_SES[s]]["narrowing"] > 0), None)
    if truth.behaviour == "B2" and (strict_seg or w.chance(0.5)) and w.chance(0.8):
        d = round(w.rng.uniform(2.4, 4.5), 1)
        where = (
            "the TI" if "ileum" in abnormal or strict_seg is None else f"the {w.pick(_MRI_NAMES[strict_seg])}"
        )
        if d >= 3.0:
            findings.append(
                w.pick(
                    (
                        f"Luminal narrowing of {where} with upstream dilatation to {d} cm, consistent with a stricture.",
                        f"Stricture at {where} with prestenotic dilatation measuring {d} cm.",
                    )
                )
            )
        else:
            findings.append(
                f"Luminal narrowing at {where} with mild upstream dilatation ({d} cm): probable stricture."
            )
    elif w.chance(0.6):
        findings.append(
            w.pick(
                ("No stricture or upstream dilatation.", "No luminal narrowing.", "No evidence of stricture.")
            )
        )
    if truth.behaviour == "B3" and w.chance(0.8):
        findings.append(
            w.pick(
                (
                    "A sinus tract extends from the TI into the adjacent mesentery.",
                    "Entero-enteric fistula between the distal ileum and an adjacent ileal loop.",
                    f"Inflammatory phlegmon adjacent to the diseased loop; a {round(w.rng.uniform(1.2, 4.5), 1)} cm rim-enhancing collection in keeping with an abscess.",
                    "Complex entero-enteric fistulation with tethering of small bowel loops (stellate configuration).",
                    "Entero-vesical fistula is suspected, with focal bladder wall thickening.",
                )
            )
        )
    else:
        findings.append(
            w.pick(
                (
                    "No fistula or abscess.",
                    "No penetrating complication.",
                    "No sinus tract, fistula or collection.",
                    "No intra-abdominal collection.",
                )
            )
        )
    if truth.perianal and w.chance(0.7):
        findings.append(
            w.pick(
                (
                    "Partially imaged perianal fistula (likely trans-sphincteric, Parks type 2).",
                    "Inter-sphincteric perianal fistula tract is noted.",
                    "Perianal fistula with a small associated collection.",
                )
            )
        )
    if w.chance(0.55):
        findings.append(
            w.pick(
                (
                    "Small reactive mesenteric lymph nodes.",
                    "No significant lymphadenopathy.",
                    "Mesenteric lymph nodes measure up to 8 mm in short axis, likely reactive.",
                )
            )
        )
    n_inc = int(w.rng.choice([0, 0, 1, 1, 2]))
    for _ in range(n_inc):
        findings.append(_incidental(w))
    if w.chance(0.5):
        findings.append(
            w.pick(
                (
                    "Solid organs otherwise unremarkable.",
                    "The liver, spleen, pancreas and kidneys are otherwise normal.",
                    "Visualised bones are unremarkable.",
                )
            )
        )
    lines.append("FINDINGS:" + "\n" + "\n".join(findings))
    if config.explicit_scores_in_text:
        lines.append(f"SCORES: global MaRIA {truth.maria:.1f}.")

    imp: list[str] = []
    top = max((per[s]["act"] for s in abnormal), default=0.0)
    names = ", ".join(w.pick(_MRI_NAMES[s]) for s in abnormal)
    if not abnormal:
        imp.append(
            w.pick(
                (
                    "No findings of active CD.",
                    "No MR evidence of active Crohn's disease.",
                    "No active small or large bowel inflammation.",
                    "Quiescent disease on MRE.",
                )
            )
        )
    else:
        grade = (
            "" if w.chance(0.35) else ("mild " if top < 0.35 else ("moderate " if top < 0.7 else "severe "))
        )
        where = (
            "small-bowel"
            if abnormal == ["ileum"]
            else ("colonic" if "ileum" not in abnormal else "ileocolonic")
        )
        if top < 0.25:
            imp.append(
                w.pick(
                    (
                        f"Equivocal findings in the {names}; mild active CD cannot be excluded.",
                        f"Possible mild inflammation of the {names}, likely minimal activity.",
                        f"Subtle changes of the {names}, may be chronic/quiescent disease.",
                    )
                )
            )
        else:
            imp.append(
                w.pick(
                    (
                        f"Findings of {grade}active inflammatory {where} CD involving the {names}.",
                        f"{grade.capitalize()}active Crohn's disease of the {names}."
                        if grade
                        else f"Active Crohn's disease of the {names}.",
                        f"Features consistent with {grade}active {where} Crohn's disease ({names}).",
                    )
                )
            )
    if truth.behaviour == "B2" and any("stricture" in f for f in findings):
        imp.append(
            w.pick(
                (
                    "Stricture with coexisting active inflammation."
                    if abnormal
                    else "Stricture without active inflammation.",
                    "Stricturing disease as above.",
                )
            )
        )
    if any(k in f for f in findings for k in ("fistula", "abscess", "sinus tract", "phlegmon")):
        imp.append(w.pick(("Penetrating disease as described.", "Penetrating complication, see above.")))
    else:
        imp.append(w.pick(("No fistula or abscess.", "No penetrating complication.", "No complications.")))
    lines.append("IMPRESSION:\n" + "\n".join(f"{i + 1}. {t}" for i, t in enumerate(imp)))
    return "\n".join(lines)


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


def _colon_segment_sentence(w: _Writer, seg: str, p: dict[str, int]) -> str:
    name = w.pick(_SES_NAMES[seg])
    if sum(p.values()) == 0:
        return f"{name}: " + w.pick(
            (
                "normal mucosa.",
                "unremarkable, normal vascular pattern.",
                "no ulcers or erythema.",
                "normal.",
                "no inflammation seen.",
            )
        )
    bits: list[str] = []
    size, ulc, aff, nar = p["ulcer_size"], p["ulcerated_surface"], p["affected_surface"], p["narrowing"]
    if size == 0:
        bits.append(
            w.pick(
                (
                    "patchy erythema and mucosal oedema without ulceration",
                    "loss of vascular pattern and mild erythema, no ulcers",
                    "granular, friable mucosa with no discrete ulcers",
                )
            )
        )
    elif size == 1:
        bits.append(
            w.pick(
                (
                    "scattered aphthous ulcers (<5 mm)",
                    "several aphthous ulcers",
                    "aphthae and small superficial erosions",
                    "aphthous ulceration",
                )
            )
        )
    elif size == 2:
        bits.append(
            w.pick(
                (
                    f"large ulcers measuring up to {round(w.rng.uniform(0.6, 1.9), 1)} cm",
                    "linear ulcers 1-2 cm in length",
                    "deep serpiginous ulcers (0.5-2 cm)",
                    "multiple large ulcers",
                )
            )
        )
    else:
        bits.append(
            w.pick(
                (
                    f"very large deep ulcers, the largest about {round(w.rng.uniform(2.1, 4.0), 1)} cm",
                    "confluent deep ulceration with cobblestoning",
                    "giant ulcers (>2 cm) with a cobblestone appearance",
                )
            )
        )
    if ulc:
        frac = {
            1: ("<10%", "less than 10%", "a small fraction"),
            2: ("10-30%", "about 20%", "up to a third"),
            3: (">30%", "most", "more than a third"),
        }[ulc]
        bits.append(
            w.pick(
                (
                    f"ulcerated surface estimated at {w.pick(frac)}",
                    f"ulcers cover {w.pick(frac)} of the surface",
                    f"{w.pick(frac)} of the mucosa ulcerated",
                )
            )
        )
    aff_txt = {
        1: ("patchy involvement (<50%)", "segmental, skip lesions", "focal involvement"),
        2: ("involving 50-75% of the segment", "extensive involvement", "most of the segment affected"),
        3: (
            "circumferential, involving >75% of the segment",
            "diffuse involvement",
            "continuous disease throughout",
        ),
    }
    if aff:
        bits.append(w.pick(aff_txt[aff]))
    if nar == 1:
        bits.append(
            w.pick(
                (
                    "a single stenosis, traversed by the scope",
                    "single narrowing that could be passed",
                    "short stenosis, passable",
                )
            )
        )
    elif nar == 2:
        bits.append(
            w.pick(("multiple stenoses, passable with some resistance", "several narrowed areas, traversed"))
        )
    elif nar == 3:
        bits.append(
            w.pick(
                (
                    "a tight stenosis that could not be traversed",
                    "ulcerated stricture not passable with the adult colonoscope",
                )
            )
        )
    elif w.chance(0.3):
        bits.append(w.pick(("no stenosis", "without stricture")))
    if size and w.chance(0.2):
        bits.append(w.pick(("pseudopolyps", "cobblestoning", "contact bleeding")))
    return f"{name}: " + "; ".join(bits) + "."


def _colonoscopy_report(truth: PatientTruth, config: SyntheticConfig, w: _Writer) -> str:
    per = _perceive_ses(truth, config, w)
    lines = [
        w.pick(
            (
                "ILEOCOLONOSCOPY REPORT",
                "COLONOSCOPY",
                "PROCEDURE: Ileocolonoscopy",
                "ENDOSCOPY REPORT - COLONOSCOPY",
            )
        )
    ]
    lines.append(
        w.pick(("INDICATION:", "Indication:", "REASON FOR PROCEDURE:"))
        + " "
        + w.pick(
            (
                "Crohn's disease, assessment of mucosal activity.",
                "Known CD. Restaging.",
                "CD on biologic therapy; assess mucosal healing.",
                "Ileocolonic CD, ?activity.",
            )
        )
    )
    lines.append(
        w.pick(("PREPARATION:", "Bowel prep:"))
        + " "
        + w.pick(("Good (Boston 8).", "Adequate.", "Fair, some residual fluid.", "Excellent.", "Good."))
        + " "
        + w.pick(("Propofol sedation.", "Conscious sedation with midazolam and fentanyl.", "No sedation."))
    )
    if truth.ileum_intubated:
        lines.append(
            w.pick(
                (
                    "EXTENT: TI intubated.",
                    "The terminal ileum was intubated and examined over 10 cm.",
                    "Extent: terminal ileum.",
                    "Caecum reached, TI intubated.",
                )
            )
        )
    else:
        lines.append(
            w.pick(
                (
                    "EXTENT: Caecum. The TI could not be intubated.",
                    "Caecum reached; ileal intubation unsuccessful.",
                    "Extent: caecum (ileocaecal valve not passable).",
                )
            )
        )
    found = []
    for seg in SES_SEGMENTS:
        if seg == "ileum" and not truth.ileum_intubated:
            continue
        found.append(_colon_segment_sentence(w, seg, per[seg]))
    if truth.perianal and w.chance(0.5):
        found.append(
            w.pick(
                (
                    "Perianal: external fistula opening noted.",
                    "Perianal inspection: skin tags and a fistula opening.",
                )
            )
        )
    lines.append("FINDINGS:\n" + "\n".join(found))
    lines.append(
        w.pick(("Biopsies:", "HISTOLOGY:", "Samples:"))
        + " "
        + w.pick(
            (
                "taken from each segment for histology.",
                "Segmental biopsies sent.",
                "Random biopsies from ileum and colon.",
                "Biopsies taken for histology and dysplasia surveillance.",
            )
        )
    )
    if config.explicit_scores_in_text:
        lines.append(f"SES-CD: {truth.ses_cd_observed}.")
    total = sum(sum(v.values()) for s, v in per.items() if s != "ileum" or truth.ileum_intubated)
    ulcers = any(per[s]["ulcer_size"] for s in SES_SEGMENTS if s != "ileum" or truth.ileum_intubated)
    involved = [s for s in SES_SEGMENTS if sum(per[s].values()) and (s != "ileum" or truth.ileum_intubated)]
    where = "ileitis" if involved == ["ileum"] else ("ileocolitis" if "ileum" in involved else "colitis")
    if total == 0:
        imp = w.pick(
            (
                "Endoscopic remission.",
                "No endoscopic evidence of active CD.",
                "Mucosal healing.",
                "Normal ileocolonoscopy.",
            )
        )
    elif not ulcers:
        imp = w.pick(
            (
                f"Mild non-ulcerated Crohn's {where}.",
                f"Minimal inflammatory change, no ulcers ({where}).",
                f"Mild {where}; likely near remission.",
            )
        )
    else:
        grade = "" if w.chance(0.4) else ("mild" if total < 7 else ("moderate" if total < 16 else "severe"))
        imp = w.pick(
            (
                f"Active Crohn's {where}{', ' + grade if grade else ''}.",
                f"{(grade + ' active').strip().capitalize()} Crohn's {where}.",
                f"Ulcerating Crohn's {where}.",
            )
        )
    if truth.behaviour == "B2" and any(per[s]["narrowing"] for s in involved):
        imp += " " + w.pick(("Stenosis as described.", "Stricturing disease."))
    lines.append("IMPRESSION: " + imp)
    return "\n".join(lines)
