"""CT enterography wording: the MRE phrase banks with the lines that name the modality replaced.

A CTE report is written by the free-text MRE renderer from the same perceived findings, with a CT title,
technique (neutral oral contrast, portal-venous phase), comparison line, oedema sentences (submucosal
low attenuation instead of T2 signal) and "no activity" impressions. CTE reports are always free text (the
structured forms are MRE templates).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from benchmarks.synthetic.reports import EN, Phrases
from benchmarks.synthetic.reports_fr import FR

_EN_CT = {
    "mre_titles": (
        "CT ENTEROGRAPHY",
        "CT ABDOMEN AND PELVIS (CT ENTEROGRAPHY PROTOCOL)",
        "CTE ABDOMEN AND PELVIS",
        "CT ENTEROGRAPHY WITH IV CONTRAST",
    ),
    "agents": ("water", "2.5% mannitol", "low-density barium (VoLumen)", "PEG solution"),
    "technique": lambda field, vol, agent, anti: (
        f"TECHNIQUE: CTE after oral distension with {vol} of {agent}. Helical acquisition of the abdomen "
        "and pelvis in the portal venous (enteric) phase after IV iodinated contrast, 0.625-1.25 mm "
        "reconstructions with coronal and sagittal reformats.",
        f"TECHNIQUE: CT enterography. Neutral oral contrast: {agent} ({vol}). IV contrast, enteric phase. "
        "Multiplanar reformats.",
        f"TECHNIQUE: Standard CTE protocol with {agent} and IV contrast; axial and coronal thin-section images.",
    ),
    "comparison": (
        "COMPARISON: None available.",
        "COMPARISON: Prior CT, not available for direct comparison.",
        "COMPARISON: None.",
        "COMPARISON: Previous imaging from an outside institution (report only).",
    ),
    "oedema": (
        "Submucosal low attenuation in keeping with mural oedema (target appearance).",
        "Mural stratification with low-attenuation submucosal oedema.",
        "Low-density submucosal layer suggests oedema.",
        "Layered wall with submucosal oedema.",
    ),
    "no_activity": (
        "No findings of active CD.",
        "No CT evidence of active Crohn's disease.",
        "No active small or large bowel inflammation.",
        "Quiescent disease on CTE.",
    ),
}

_FR_CT = {
    "mre_titles": (
        "ENTÉRO-SCANNER",
        "SCANNER ABDOMINO-PELVIEN (PROTOCOLE ENTÉRO-SCANNER)",
        "ENTÉRO-TDM",
        "ENTERO-SCANNER",
    ),
    "agents": ("eau", "mannitol à 2,5 %", "PEG", "solution de mannitol"),
    "technique": lambda field, vol, agent, anti: (
        f"TECHNIQUE : Entéro-scanner après distension orale par {vol} de {agent}. Acquisition abdomino-"
        "pelvienne au temps portal après injection de produit de contraste iodé, reconstructions fines et "
        "reformations coronales et sagittales.",
        f"TECHNIQUE : Entéro-TDM. Contraste oral neutre : {agent} ({vol}). Injection iodée, temps entérique.",
        f"TECHNIQUE : Protocole d'entéro-scanner standard, {agent}, injection de produit de contraste iodé.",
    ),
    "comparison": (
        "COMPARAISON : Aucune.",
        "COMPARAISON : Scanner antérieur non disponible.",
        "COMPARAISON : Aucune.",
        "COMPARAISON : Examen antérieur réalisé dans un autre centre (compte rendu seul).",
    ),
    "oedema": (
        "Hypodensité sous-muqueuse en faveur d'un œdème pariétal (aspect en cible).",
        "Stratification pariétale avec œdème sous-muqueux hypodense.",
        "Couche sous-muqueuse hypodense évoquant un œdème.",
        "Paroi stratifiée avec œdème sous-muqueux.",
    ),
    "no_activity": (
        "Pas de signe de MC active.",
        "Pas d'argument scanographique pour une maladie de Crohn active.",
        "Pas d'inflammation active du grêle ni du côlon.",
        "Maladie quiescente en entéro-scanner.",
    ),
}


@cache
def ct_phrases(language: str) -> Phrases:
    """The CTE phrase bank of ``language`` ("en" or "fr"; anything else is English)."""
    return replace(FR, **_FR_CT) if language == "fr" else replace(EN, **_EN_CT)
