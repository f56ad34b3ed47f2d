"""Text extraction speed: ms per report for concepts (spaCy pipeline) and embeddings (MiniLM), on CPU.

Reports are generated here (synthetic MRE/colonoscopy wording, 150-300 words, English or French). The
baseline measured in the same run is a bare ``spacy.blank("en")`` tokenizer pass over the same reports, so
the printed ratios are comparable across machines.
Usage: python -m benchmarks.perf.bench_text [--n 200] [--seed 0] [--language en|fr]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

_SENTENCES = [
    "There is wall thickening of the terminal ileum measuring {mm} mm over {cm} cm.",
    "Mural oedema and hyperenhancement are seen in the neoterminal ileum.",
    "No fistula or abscess.",
    "Possible stricture with prestenotic dilatation of {mm} mm.",
    "Enlarged mesenteric lymph nodes are present.",
    "The colon and rectum are unremarkable.",
    "Deep ulcers in the sigmoid colon with cobblestoning.",
    "Aphthous ulcers in the caecum; the ileocaecal valve is ulcerated.",
    "An abscess cannot be excluded in the right iliac fossa.",
    "No perianal fistula is identified.",
    "Fistula is excluded.",
    "Skip lesions in the ascending and transverse colon.",
    "The patient remains on adalimumab and azathioprine; budesonide was stopped.",
    "Biopsies from the TI show chronic active ileitis with non-caseating granulomas.",
    "Comb sign and creeping fat along the mesenteric border.",
    "The small bowel loops proximal to the stricture are dilated.",
]
_HEADERS = ["CLINICAL HISTORY: Crohn's disease, ?stricture.", "TECHNIQUE: MR enterography.", "FINDINGS:"]
_SENTENCES_FR = [
    "Épaississement pariétal de l'iléon terminal mesuré à {mm} mm sur {cm} cm.",
    "Hypersignal T2 pariétal et rehaussement en cible de l'iléon néo-terminal.",
    "Pas de fistule ni d'abcès.",
    "Sténose possible avec dilatation d'amont de {mm} mm.",
    "Adénopathies mésentériques augmentées de taille.",
    "Le côlon et le rectum sont sans particularité.",
    "Ulcérations profondes du sigmoïde avec aspect pavimenteux.",
    "Ulcérations aphtoïdes du caecum ; la valvule iléo-caecale est ulcérée.",
    "Un abcès de la fosse iliaque droite ne peut être exclu.",
    "Pas de fistule périanale.",
    "Fistule éliminée.",
    "Lésions discontinues du côlon ascendant et transverse.",
    "Le patient est sous adalimumab et azathioprine ; le budésonide a été arrêté.",
    "Les biopsies de l'iléon montrent une iléite chronique active avec granulomes.",
    "Signe du peigne et sclérolipomatose le long du bord mésentérique.",
    "Les anses grêles en amont de la sténose sont dilatées.",
]
_HEADERS_FR = [
    "RENSEIGNEMENTS CLINIQUES : maladie de Crohn, sténose ?",
    "TECHNIQUE : entéro-IRM.",
    "RÉSULTATS :",
]


def make_reports(n: int, seed: int = 0, language: str = "en") -> list[str]:
    """n synthetic reports of about 150-300 words (sections, findings, negations, hedges)."""
    rng = np.random.default_rng(seed)
    sentences, headers = (_SENTENCES_FR, _HEADERS_FR) if language == "fr" else (_SENTENCES, _HEADERS)
    last = (
        "CONCLUSION : Iléite terminale active. Pas d'abcès."
        if language == "fr"
        else ("IMPRESSION: Active terminal ileitis. No abscess.")
    )
    out = []
    for _ in range(n):
        target = rng.integers(150, 301)
        parts = list(headers)
        words = sum(len(p.split()) for p in parts)
        while words < target:
            s = sentences[rng.integers(len(sentences))].format(mm=rng.integers(3, 12), cm=rng.integers(2, 30))
            parts.append(s)
            words += len(s.split())
        parts.append(last)
        out.append("\n".join(parts))
    return out


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    import spacy

    from features.text.extractors import ReportConceptExtractor, ReportEmbeddingExtractor, ReportInputs
    from features.text.pipeline import get_nlp

    parser = argparse.ArgumentParser(description="text extraction speed")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--language", default="en", choices=("en", "fr"))
    args = parser.parse_args(argv)
    reports = make_reports(args.n, args.seed, args.language)
    n_words = np.mean([len(r.split()) for r in reports])
    patients = [
        ReportInputs(f"P{i}", ("mre", "colonoscopy"), tuple(reports[i : i + 2])) for i in range(0, args.n, 2)
    ]

    blank = spacy.blank("en")
    base = _time(lambda: [blank(r) for r in reports])
    build = _time(lambda: get_nlp(language=args.language))
    concepts = ReportConceptExtractor()
    t_conc = _time(lambda: [concepts.extract(p) for p in patients])
    emb = ReportEmbeddingExtractor()
    load = _time(emb.model)
    t_emb = _time(lambda: [emb.extract(p) for p in patients])

    per = 1000.0 / args.n
    print(
        f"{args.n} {args.language} reports (mean {n_words:.0f} words), {len(patients)} patients x 2 reports"
    )
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end of the run")
    print(f"baseline spacy.blank tokenizer : {base * per:7.2f} ms/report")
    print(
        f"concepts (full pipeline)       : {t_conc * per:7.2f} ms/report  ratio {t_conc / base:6.1f}x  "
        f"(pipeline build {build:.1f} s once per process)"
    )
    print(
        f"embeddings (MiniLM, CPU)       : {t_emb * per:7.2f} ms/report  ratio {t_emb / base:6.1f}x  "
        f"(model load {load:.1f} s once per process)"
    )
    print(
        f"projected 400 patients x 2 reports, 1 core: concepts {t_conc * per * 0.8:.0f} s, "
        f"embeddings {t_emb * per * 0.8:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
