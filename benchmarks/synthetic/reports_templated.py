"""Structured ("templated") MRE and colonoscopy reports, in English and French: one "Finding: value" line
per item, as in structured-reporting templates ("Stricture: no", "Fistula / abscess: none",
"Ulcérations : présentes"), written from the same perceived findings as the free-text reports. Title,
indication and impression come from the free-text renderers and their phrase bank.
"""

from __future__ import annotations

from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.latent import SES_SEGMENTS, PatientTruth
from benchmarks.synthetic.reports import (
    Phrases,
    _Writer,
    abnormal_segments,
    colonoscopy_header,
    colonoscopy_impression,
    mre_header,
    mre_impression,
    mre_length_cm,
    stricture_read,
)
from benchmarks.synthetic.reports_fr import bare_name

# The form's item names and values per language; French values agree with their noun.
_FORM = {
    "en": {
        "title": ("MR ENTEROGRAPHY - STRUCTURED REPORT", "MRE STRUCTURED REPORT (CROHN'S DISEASE TEMPLATE)"),
        "sep": ": ",
        "yes": "yes",
        "no": "no",
        "equivocal": "equivocal",
        "not_seen": "not clearly seen",
        "none": "none",
        "distension": "Distension: adequate",
        "segment": "Segment",
        "thickening": "Wall thickening",
        "length": "Length of involvement",
        "oedema": "T2 hyperintensity (mural oedema)",
        "enhancement": "Mural hyperenhancement",
        "diffusion": "Restricted diffusion",
        "other_bowel": "Remaining small bowel and colon: normal",
        "stricture": "Stricture",
        "dilatation": "yes, with prestenotic dilatation to {d} cm",
        "penetrating": "Fistula / abscess",
        "fistula": ("entero-enteric fistula", "sinus tract into the mesentery", "abscess of {x} cm"),
        # item: (name, value when present, value when absent)
        "items": {
            "ulcers": ("Ulcers", "present", "absent"),
            "comb": ("Comb sign", "present", "absent"),
            "fat": ("Creeping fat", "present", "absent"),
            "perianal": ("Perianal fistula", "present", "absent"),
            "nodes": ("Lymph nodes", "reactive, up to 8 mm", "absent"),
        },
        "colon": {
            "ulcer_size": (
                "Ulcers",
                ("none", "aphthous (<0.5 cm)", "large (0.5-2 cm)", "very large (>2 cm)"),
            ),
            "ulcerated_surface": ("Ulcerated surface", ("none", "<10%", "10-30%", ">30%")),
            "affected_surface": ("Affected surface", ("none", "<50%", "50-75%", ">75%")),
            "narrowing": ("Stenosis", ("none", "single, passable", "multiple, passable", "not passable")),
        },
    },
    "fr": {
        "title": (
            "ENTÉRO-IRM - COMPTE RENDU STRUCTURÉ",
            "ENTÉRO-IRM : COMPTE RENDU STANDARDISÉ (MALADIE DE CROHN)",
        ),
        "sep": " : ",
        "yes": "oui",
        "no": "non",
        "equivocal": "douteux",
        "not_seen": "non vues",
        "none": "aucun",
        "distension": "Distension : satisfaisante",
        "segment": "Segment",
        "thickening": "Épaississement pariétal",
        "length": "Longueur atteinte",
        "oedema": "Hypersignal T2 (œdème pariétal)",
        "enhancement": "Rehaussement pariétal",
        "diffusion": "Restriction de diffusion",
        "other_bowel": "Reste du grêle et côlon : normal",
        "stricture": "Sténose",
        "dilatation": "oui, avec dilatation d'amont à {d} cm",
        "penetrating": "Fistule / abcès",
        "fistula": ("fistule entéro-entérique", "trajet borgne vers le mésentère", "abcès de {x} cm"),
        "items": {
            "ulcers": ("Ulcérations", "présentes", "absentes"),
            "comb": ("Signe du peigne", "présent", "absent"),
            "fat": ("Sclérolipomatose", "présente", "absente"),
            "perianal": ("Fistule périanale", "présente", "absente"),
            "nodes": ("Adénopathies", "réactionnelles, jusqu'à 8 mm", "absentes"),
        },
        "colon": {
            "ulcer_size": (
                "ulcérations",
                ("aucune", "aphtoïdes (<0,5 cm)", "larges (0,5-2 cm)", "très larges (>2 cm)"),
            ),
            "ulcerated_surface": ("surface ulcérée", ("aucune", "<10 %", "10-30 %", ">30 %")),
            "affected_surface": ("surface atteinte", ("aucune", "<50 %", "50-75 %", ">75 %")),
            "narrowing": (
                "sténose",
                ("aucune", "unique, franchie", "multiples, franchies", "non franchissable"),
            ),
        },
    },
}


def _item(t: dict, item: str, present: bool) -> str:
    name, yes, no = t["items"][item]
    return f"{name}{t['sep']}{yes if present else no}"


def mre_form(
    truth: PatientTruth, config: SyntheticConfig, w: _Writer, per: dict[str, dict[str, float]], ph: Phrases
) -> str:
    """A structured MRE report in ``ph``'s language."""
    t = _FORM[ph.language]
    sep = t["sep"]
    abnormal = abnormal_segments(per)
    header = mre_header(truth, config, w, ph)
    lines = [w.pick(t["title"]), *header[1:]]
    items = [t["distension"]]
    for seg in abnormal:
        p = per[seg]
        name = w.pick(ph.mri_names[seg])
        wall = ph.number(round(p["wall"] * 2) / 2)
        items.append(f"{t['segment']}{sep}{bare_name(name) if ph.language == 'fr' else name}")
        items.append(f"{t['thickening']}{sep}{t['equivocal'] if p['act'] < 0.28 else t['yes']} ({wall} mm)")
        items.append(f"{t['length']}{sep}{mre_length_cm(w, p)} cm")
        items.append(f"{t['oedema']}{sep}{t['yes'] if p['oedema'] else t['no']}")
        items.append(f"{t['enhancement']}{sep}{t['yes'] if p['act'] > 0.25 else t['no']}")
        items.append(f"{t['diffusion']}{sep}{t['yes'] if p['oedema'] or p['act'] > 0.5 else t['no']}")
        if p["ulcer"] or not w.chance(0.5):
            items.append(_item(t, "ulcers", bool(p["ulcer"])))
        else:
            items.append(f"{t['items']['ulcers'][0]}{sep}{t['not_seen']}")
        items.append(_item(t, "comb", p["act"] > 0.45 and w.chance(0.6)))
        items.append(_item(t, "fat", p["act"] > 0.6 and w.chance(0.5)))
    if len(abnormal) < len(per):
        items.append(t["other_bowel"])
    stricture, _ = stricture_read(truth, w, abnormal)
    if stricture:
        d = ph.decimal(round(w.rng.uniform(2.4, 4.5), 1))
        items.append(f"{t['stricture']}{sep}{t['dilatation'].format(d=d)}")
    else:
        items.append(f"{t['stricture']}{sep}{t['no']}")
    penetrating = truth.behaviour == "B3" and w.chance(0.8)
    if penetrating:
        x = ph.decimal(round(w.rng.uniform(1.2, 4.5), 1))
        items.append(f"{t['penetrating']}{sep}{w.pick(t['fistula']).format(x=x)}")
    else:
        items.append(f"{t['penetrating']}{sep}{t['none']}")
    items.append(_item(t, "perianal", truth.perianal and w.chance(0.7)))
    items.append(_item(t, "nodes", w.chance(0.5)))
    lines.append(ph.findings_header + "\n" + "\n".join(items))
    imp = mre_impression(truth, w, per, abnormal, stricture, penetrating, ph)
    lines.append(ph.impression_header + "\n" + "\n".join(f"{i + 1}. {x}" for i, x in enumerate(imp)))
    return "\n".join(lines)


def colonoscopy_form(
    truth: PatientTruth, config: SyntheticConfig, w: _Writer, per: dict[str, dict[str, int]], ph: Phrases
) -> str:
    """A structured colonoscopy report in ``ph``'s language (one line of SES-CD items per segment, no score)."""
    t = _FORM[ph.language]
    lines = colonoscopy_header(truth, w, ph)
    rows = []
    for seg in SES_SEGMENTS:
        if seg == "ileum" and not truth.ileum_intubated:
            continue
        cells = [f"{name}{t['sep']}{values[per[seg][var]]}" for var, (name, values) in t["colon"].items()]
        rows.append(f"{w.pick(ph.ses_names[seg])} - " + ph.joiner.join(cells) + ".")
    lines.append(ph.colon_findings_header + "\n" + "\n".join(rows))
    lines.append(ph.colon_impression_header + " " + colonoscopy_impression(truth, w, per, ph))
    return "\n".join(lines)
