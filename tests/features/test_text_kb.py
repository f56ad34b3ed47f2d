"""The shipped knowledge base: format, unique ids, every surface form of both languages maps to one concept,
the radiology findings, linking in English and French."""

from __future__ import annotations

import re

import pytest

from features.text.kb import DEFAULT_KB_PATH, KnowledgeBaseError, read_kb, to_scispacy_kb
from features.text.pipeline import get_nlp, surface_forms

RADIOLOGY_FINDINGS = {  # issue 11: the findings MaRIA and MRE scoring are built on, with a form per language
    "bowel wall thickening": "épaississement pariétal",
    "mural hyperenhancement": "rehaussement pariétal",
    "restricted diffusion": "restriction de diffusion",
    "t2 hyperintensity": "hypersignal t2",
    "mural oedema": "œdème pariétal",
    "comb sign": "signe du peigne",
    "creeping fat": "sclérolipomatose",
    "fibrofatty proliferation": "prolifération fibro-graisseuse",
    "skip lesions": "lésions discontinues",
    "cobblestoning": "aspect pavimenteux",
    "prestenotic dilatation": "dilatation d'amont",
}


def test_kb_integrity():
    concepts = read_kb(DEFAULT_KB_PATH)
    cuis = [c.cui for c in concepts]
    assert len(cuis) == len(set(cuis)) >= 70
    assert all(re.fullmatch(r"C\d{7}|CDB\d{4}", c) for c in cuis)
    for c in concepts:
        assert c.synonyms and c.synonyms_fr, c.cui
        # a local identifier, and only one, says so in checked_by
        assert c.checked_by.startswith("local:" if c.is_local else ("code-search:", "memory")), c.cui
    kb = to_scispacy_kb(tuple(concepts))
    for c in concepts:
        for f in c.synonyms + c.synonyms_fr + c.abbreviations + c.abbreviations_fr:
            assert kb.alias_to_cuis[f] == {c.cui}
    groups = {c.group for c in concepts}
    assert {"finding", "anatomy", "treatment", "disease"} <= groups


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_surface_form_maps_to_one_concept(language):
    # the forms the ruler really matches: synonyms, plurals, forms without accents, abbreviations
    owner: dict[str, str] = {}
    clashes = []
    for c in read_kb(DEFAULT_KB_PATH):
        forms = surface_forms(c, language) | {a.lower() for a in c.abbreviations + c.abbreviations_fr}
        for f in forms:
            if owner.setdefault(f, c.cui) != c.cui:
                clashes.append((f, owner[f], c.cui))
    assert clashes == []
    assert len(owner) > (2000 if language == "fr" else 600)


def test_radiology_findings_are_concepts():
    nlp_en, nlp_fr = get_nlp(), get_nlp(language="fr")
    cuis = set()
    for en, fr in RADIOLOGY_FINDINGS.items():
        (e,) = nlp_en(f"There is {en}.").ents
        (f,) = nlp_fr(f"Présence d'un {fr}.").ents
        assert e.text.lower() == en and f.text.lower() == fr
        assert e._.cui == f._.cui, (en, fr)
        cuis.add(e._.cui)
    assert len(cuis) == 9  # T2 hyperintensity = mural oedema, creeping fat = fibrofatty proliferation
    by_cui = {c.cui: c for c in read_kb(DEFAULT_KB_PATH)}
    assert all(by_cui[c].is_local for c in cuis)  # no CUI could be verified for these: local ids


def test_kb_rejects_bad_rows(tmp_path):
    good = DEFAULT_KB_PATH.read_text(encoding="utf-8")
    bad = tmp_path / "kb.tsv"
    bad.write_text(good.replace("C0016169\t", "C001616\t"), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="not a CUI"):
        read_kb(bad)
    bad.write_text(good.replace("fistula|fistulae", "abscess|fistulae", 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="also belongs"):
        read_kb(bad)
    bad.write_text(good.replace("fistule|fistuleux", "abcès|fistuleux", 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="also belongs"):  # across languages too
        read_kb(bad)
    bad.write_text(good.replace("CDB0005\t", "CDB005\t"), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="not a CUI"):
        read_kb(bad)
    bad.write_text(
        good.replace("\tlocal: cdbench identifier", "\tmemory: cdbench identifier", 1), encoding="utf-8"
    )
    with pytest.raises(KnowledgeBaseError, match="local"):
        read_kb(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thickening of the TI.", {"Thickening": "CDB0001", "TI": "C0020885"}),
        ("Terminal ileal ulcers.", {"Terminal ileal": "C0020885", "ulcers": "C0041582"}),
        (
            "Known CD on adalimumab and azathioprine.",
            {"CD": "C0010346", "adalimumab": "C1122087", "azathioprine": "C0004482"},
        ),
        (
            "A stenosis in the SB with fistulae.",
            {"stenosis": "C1261287", "SB": "C0021852", "fistulae": "C0016169"},
        ),
        ("Perianal abcess.", {"Perianal": "C1275631", "abcess": "C0000833"}),  # one-edit misspelling
        (
            "Caecal pole and ileocaecal valve are normal.",
            {"Caecal pole": "C0007531", "ileocaecal valve": "C0020880"},
        ),
    ],
)
def test_linking_synonyms_and_abbreviations(text, expected):
    doc = get_nlp()(text)
    assert {e.text: e._.cui for e in doc.ents} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pas de fistule ni d'abcès.", {"fistule": "C0016169", "abcès": "C0000833"}),
        ("L'iléon terminal est épaissi.", {"iléon terminal": "C0020885", "épaissi": "CDB0001"}),
        ("EPAISSISSEMENT PARIETAL DE L'ILEON.", {"EPAISSISSEMENT PARIETAL": "CDB0001", "ILEON": "C0020885"}),
        ("Valvule iléo-cæcale sténosée.", {"Valvule iléo-cæcale": "C0020880", "sténosée": "C1261287"}),
        ("Oedème pariétal, ulcérations.", {"Oedème pariétal": "CDB0004", "ulcérations": "C0041582"}),
        (
            "MC iléale, VIC ulcérée, RCH exclue.",
            {
                "MC": "C0010346",
                "iléale": "C0020885",
                "VIC": "C0020880",
                "ulcérée": "C0041582",
                "RCH": "C0009324",
            },
        ),
        ("Fistules entéro-entériques multiples.", {"Fistules entéro-entériques": "C0021833"}),
        ("Aspect de creeping fat.", {"creeping fat": "CDB0006"}),  # English terms in French reports
    ],
)
def test_french_forms_link_to_the_same_cuis(text, expected):
    doc = get_nlp(language="fr")(text)
    assert {e.text: e._.cui for e in doc.ents} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A fistual tract.", {"fistual": "C0016169"}),  # adjacent letters swapped
        ("Perianal fistulation.", {"Perianal": "C1275631", "fistulation": "C0016169"}),
        ("Fistulising disease.", {"Fistulising": "C0016169"}),
        ("Stenosing ileitis.", {"Stenosing": "C1261287", "ileitis": "C0020877"}),
    ],
)
def test_misspellings_and_inflections(text, expected):
    doc = get_nlp()(text)
    assert {e.text: e._.cui for e in doc.ents} == expected


def test_french_inflections():
    doc = get_nlp(language="fr")("Forme sténosante et fistulisante.")
    assert {e.text: e._.cui for e in doc.ents} == {"sténosante": "C1261287", "fistulisante": "C0016169"}
    doc = get_nlp(language="fr")("Iléite sténosantes, fistulisations.")  # inflections not listed in the KB
    assert {e.text: e._.cui for e in doc.ents} == {
        "Iléite": "C0020877",
        "sténosantes": "C1261287",
        "fistulisations": "C0016169",
    }


def test_fuzzy_and_inflections_add_no_false_matches_on_negex_sentences():
    # every one-edit or inflected mention the matcher proposes on the 1,076 NegEx sentences, reviewed
    from features.text.negex_eval import default_negex_path, read_negex

    nlp = get_nlp()
    sentences = sorted({s for s, _, _ in read_negex(default_negex_path())})
    known = nlp.get_pipe("cd_fuzzy").exact | {a for c in read_kb(DEFAULT_KB_PATH) for a in c.abbreviations}
    proposed = set()
    for doc in nlp.pipe(sentences):
        for e in doc.ents:
            if len(e) == 1 and e.text.lower() not in known and e.text not in known and e._.cui:
                proposed.add((e.text.lower(), e._.cui))
    assert proposed == {("colonoscopic", "C0009378")}  # a true inflection; no false match


def test_abbreviation_defined_in_report():
    nlp = get_nlp()
    doc = nlp("Inflammatory bowel disease (IBD) was suspected. Findings support IBD.")
    assert [e._.cui for e in doc.ents if e.text == "IBD"] == ["C0021390", "C0021390"]
    # a KB abbreviation that the report defines as something else is not linked
    doc = nlp("Cluster of differentiation (CD) markers were stained. CD positive cells.")
    assert [e.text for e in doc.ents if e.text == "CD"] == []


def test_umls_linker_needs_local_data(monkeypatch, tmp_path):
    from scispacy import file_cache

    from features.text import pipeline

    monkeypatch.setattr(file_cache, "DATASET_CACHE", str(tmp_path))  # an empty cache: never download
    with pytest.raises(RuntimeError, match="nothing is downloaded"):
        pipeline.build_nlp(linker="scispacy_umls")
    with pytest.raises(ValueError, match="linker must be"):
        pipeline.build_nlp(linker="other")
