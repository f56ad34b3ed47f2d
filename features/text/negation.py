"""NegEx/ConText-style context of every mention, in English and French: negspacy's component with a bounded
scope and clinical termsets.

negspacy lets a trigger reach every entity up to the next termination term. Clinical sentences are long
lists ("no fistula, abscess or stricture; the terminal ileum is thickened"), so, as in the original NegEx,
the scope of a trigger is bounded: ``max_scope`` counts the words between trigger and entity, ignoring
punctuation, coordinating conjunctions, articles and the words of other entities (so a list of findings
after "no" stays in scope). The same class runs once per ConText dimension, each with its own termsets:

- ``Span._.negex``: negated ("no", "pas de", "absence de", "Fistula: none", "Fistule : non");
- ``Span._.uncertain``: hedged or hypothetical ("possible", "?", "suspicion de", "à confronter");
- ``Span._.historical``: about the past ("history of", "previous", "antécédent de", "en 2016", "cicatrisée");
- ``Span._.family``: about another person than the patient ("mother", "sa sœur", "antécédents familiaux").

The French termsets follow the published adaptations of NegEx and ConText to French clinical text (French
NegEx cue lists of Deléger & Grouin 2012; the FastContext-style French trigger lists of the French ConText
work, e.g. "pas de", "absence de", "sans", "aucun", "ni", "non", "ne ... pas", "éliminé", "suspicion de",
"évoquant", "à confronter", "antécédent de"), extended with radiology and endoscopy phrasing. Every French
term is also matched without accents, with the elided article ("pas d'", "l'") and with the typographic
apostrophe (d’), so "PAS D'ABCES" and "pas d’abcès" read alike.
"""

from __future__ import annotations

from negspacy.negation import Negex
from negspacy.termsets import termset
from spacy.language import Language
from spacy.tokens import Doc, Span

from benchmarks.cohort.language import strip_accents

SKIP_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("and", "or", "nor", "/", "&", "the", "a", "an", "any"),
    "fr": (
        "et",
        "ou",
        "ni",
        "/",
        "&",
        "le",
        "la",
        "les",
        "l'",
        "l’",
        "un",
        "une",
        "des",
        "du",
        "de",
        "d'",
        "d’",
    ),
}

_CLINICAL = termset("en_clinical").get_patterns()

# "rule out"/"r/o"/"evaluate for" ask a question: ConText calls them hypothetical, so they are hedges here.
_NOT_NEGATIONS = {"rule out", "rules out", "r/o", "ro", "evaluate for", "versus", "doubt"}

NEGATION_TERMS: dict[str, list[str]] = {
    "pseudo_negations": sorted(
        set(_CLINICAL["pseudo_negations"])
        | {
            "cannot exclude",
            "can not exclude",
            "cannot be excluded",
            "can not be excluded",
            "could not be excluded",
            "not be excluded",
            "not excluded",
            "not been excluded",
            "cannot rule out",
            "cannot be ruled out",
            "not been ruled out",
            "no change",
            "no interval change",
            "no significant interval change",
            "not significantly changed",
            "no decrease",
            "no increase",
            "not only",
            "not necessarily",
            "whether or not",
            "no further",
            "not certain",
        }
    ),
    "preceding_negations": sorted(
        (set(_CLINICAL["preceding_negations"]) - _NOT_NEGATIONS)
        | {
            "no evidence of",
            "no evidence for",
            "no definite",
            "no convincing",
            "no obvious",
            "no significant",
            "no appreciable",
            "no residual",
            "no new",
            "no signs of",
            "without evidence of",
            "without any",
            "nor",
            "neither",
            "negative for",
            "free of",
            "absence of",
            "resolution of",
            "not seen",
            "not identified",
            "not demonstrated",
            "not visualised",
            "not visualized",
            "ruled out for",
            "no longer",
            "non",
            "not clearly seen",
            "not clearly identified",
        }
    ),
    "following_negations": sorted(
        set(_CLINICAL["following_negations"])
        | {
            "excluded",
            "is excluded",
            "was excluded",
            "has been excluded",
            "ruled out",
            "is ruled out",
            "has been ruled out",
            "not seen",
            "not identified",
            "not demonstrated",
            "not present",
            "not visualised",
            "not visualized",
            "absent",
            "has resolved",
            "have resolved",
            "resolved",
            "negative",
            # templated reporting: "Stricture: no", "Fistula / abscess: none", "Ulcers: not clearly seen"
            ": no",
            ": no.",  # the tokenizer keeps "no." (number) as one token
            ": none",
            ": nil",
            ": absent",
            ": negative",
            ": not seen",
            ": not identified",
            ": not present",
            "not clearly seen",
            "not clearly identified",
            "not clearly demonstrated",
            "not clearly visualised",
            "not clearly visualized",
            "not convincingly seen",
        }
    ),
    "termination": sorted(
        set(_CLINICAL["termination"])
        | {
            "whereas",
            "while",
            "other than",
            "with the exception of",
            "except for",
            "there is",
            "there are",
            "consistent with",
            "presents",
            "presented",
            ";",
        }
    ),
}

UNCERTAINTY_TERMS: dict[str, list[str]] = {
    "pseudo_negations": sorted(
        {
            "no suspicious",
            "not suspicious",
            "no possible",
            "not likely",
            "no question",
            "without question",
        }
    ),
    "preceding_negations": sorted(
        {
            "possible",
            "possibly",
            "probable",
            "probably",
            "likely",
            "most likely",
            "may represent",
            "may reflect",
            "may be",
            "might be",
            "could be",
            "could represent",
            "suspicious for",
            "suspicious of",
            "suspicion of",
            "suspected",
            "suspect",
            "concerning for",
            "concern for",
            "cannot exclude",
            "can not exclude",
            "cannot rule out",
            "cannot be excluded",
            "rule out",
            "rules out",
            "r/o",
            "to exclude",
            "evaluate for",
            "query",
            "queried",
            "questionable",
            "question of",
            "equivocal",
            "indeterminate",
            "presumed",
            "presumably",
            "suggestive of",
            "suggest",
            "suggests",
            "suggested",
            "suggesting",
            "differential includes",
            "differential diagnosis includes",
            "versus",
            "vs",
            "?",
        }
    ),
    "following_negations": sorted(
        {
            "cannot be excluded",
            "can not be excluded",
            "could not be excluded",
            "not excluded",
            "is not excluded",
            "not entirely excluded",
            "cannot be ruled out",
            "not ruled out",
            "not been ruled out",
            "is possible",
            "is suspected",
            "suspected",
            "is likely",
            "is queried",
            "queried",
            "is questioned",
            "is equivocal",
            "to be excluded",
            "?",  # "Stricture?" in a clinical history is a question, not a finding
            ": ?",
            ": equivocal",
            ": possible",
            ": indeterminate",
        }
    ),
    "termination": NEGATION_TERMS["termination"],
}

_YEARS = [str(y) for y in range(1970, 2036)]
_IN_YEAR = {f"in {y}" for y in _YEARS}  # "ileocaecal resection in 2015"
_IN_YEAR_FR = {f"en {y}" for y in _YEARS} | {f"de {y}" for y in _YEARS}  # "opérée en 2014", "IRM de 2021"

HISTORY_TERMS: dict[str, list[str]] = {
    "pseudo_negations": sorted(
        {
            "family history",
            "family history of",
            "year old",
            "years old",
            "year-old",
            "history of present illness",
            "history of presenting complaint",
            "clinical history",
        }
    ),
    "preceding_negations": sorted(
        {
            "history of",
            "hx of",
            "h/o",
            "past history of",
            "past medical history of",
            "known history of",
            "previous",
            "previously",
            "prior",
            "remote",
            "status post",
            "s/p",
            "underwent",
            "had undergone",
            "was treated for",
            "formerly",
            "old",
        }
        | _IN_YEAR
    ),
    "following_negations": sorted(
        {
            "now healed",
            "healed",
            "has healed",
            "in the past",
            "years ago",
            "previously",
            "resected",
            "was resected",
            "was drained",
        }
        | _IN_YEAR
    ),
    "termination": sorted(set(NEGATION_TERMS["termination"]) | {"now", "currently", "at present", "today"}),
}

_RELATIVES_EN = (
    "mother",
    "father",
    "brother",
    "sister",
    "sibling",
    "siblings",
    "son",
    "daughter",
    "aunt",
    "uncle",
    "cousin",
    "grandmother",
    "grandfather",
    "grandparent",
    "parent",
    "parents",
    "relative",
    "relatives",
    "twin",
    "maternal",
    "paternal",
)
FAMILY_TERMS: dict[str, list[str]] = {
    "pseudo_negations": [],
    "preceding_negations": sorted(
        {"family history", "family history of", "fh", "fhx", "first-degree relative", *_RELATIVES_EN}
    ),
    "following_negations": sorted({"in the family", *_RELATIVES_EN}),
    "termination": NEGATION_TERMS["termination"],
}


def french_variants(terms: set[str] | list[str]) -> list[str]:
    """Each French term, without accents, with elided articles ("de " -> "d'") and the typographic apostrophe."""
    out: set[str] = set()
    for term in terms:
        forms = {term}
        if term.endswith(" de"):
            forms.add(term[:-3] + " d'")
        if term.endswith((" le", " la")):
            forms.add(term[:-3] + " l'")
        if term.startswith("ne ") and term[3:4] in "aeéèêiouy":
            forms.add("n'" + term[3:])
        for f in list(forms):
            forms.add(strip_accents(f))
        for f in list(forms):
            if "'" in f:
                forms.add(f.replace("'", "\u2019"))
        out |= forms
    return sorted(out)


def _fr(terms: set[str]) -> list[str]:
    return french_variants(terms)


_EXCLU_FR = {
    "éliminé",
    "éliminée",
    "éliminés",
    "éliminées",
    "exclu",
    "exclue",
    "exclus",
    "exclues",
    "écarté",
    "écartée",
}
_CANNOT_EXCLUDE_FR = {
    f"{head} {verb}"
    for head in (
        "ne peut être",
        "ne peut pas être",
        "ne peuvent être",
        "ne peuvent pas être",
        "non",
        "pas",
        "n'est pas",
    )
    for verb in _EXCLU_FR
}
_TERMINATION_FR = {
    "mais",
    "cependant",
    "toutefois",
    "néanmoins",
    "pourtant",
    "en revanche",
    "par contre",
    "alors que",
    "tandis que",
    "hormis",
    "sauf",
    "excepté",
    "à l'exception de",
    "il existe",
    "on note",
    "on retrouve",
    "on observe",
    "présence de",
    "persistance de",
    ";",
}

NEGATION_TERMS_FR: dict[str, list[str]] = {
    "pseudo_negations": _fr(
        {
            "pas de modification",
            "sans modification",
            "pas de changement",
            "sans changement",
            "pas d'évolution",
            "pas d'amélioration",
            "pas d'aggravation",
            "non modifié",
            "non modifiée",
            "pas seulement",
            "non seulement",
            "sans doute",
            "pas de doute",
            "sans certitude",
            "pas certain",
            "pas certaine",
            "non franchissable",
            "non franchie",
            *_CANNOT_EXCLUDE_FR,
        }
    ),
    "preceding_negations": _fr(
        {
            "pas de",
            "pas",
            "pas d'argument pour",
            "pas d'argument en faveur de",
            "pas de signe de",
            "pas de signes de",
            "pas d'image de",
            "pas de nette",
            "pas de net",
            "pas de récidive de",
            "plus de",
            "sans",
            "sans signe de",
            "sans argument pour",
            "absence de",
            "aucun",
            "aucune",
            "ni",
            "non",
            "disparition de",
            "régression complète de",
            "résolution de",
            "négatif pour",
            "négative pour",
            "indemne de",
            "exempt de",
        }
    ),
    "following_negations": _fr(
        {
            *(f": {w}" for w in ("non", "négatif", "négative", "absent", "absente", "absents", "absentes")),
            *(f": {w}" for w in ("aucun", "aucune", "non vu", "non vue", "non visible", "non visualisé")),
            *(
                f"non {w}"
                for w in (
                    "retrouvé",
                    "retrouvée",
                    "retrouvés",
                    "retrouvées",
                    "visualisé",
                    "visualisée",
                    "visualisés",
                    "visualisées",
                    "vu",
                    "vue",
                    "vus",
                    "vues",
                    "visible",
                    "visibles",
                    "identifié",
                    "identifiée",
                    "décelable",
                    "décelé",
                    "décelée",
                    "intubé",
                    "intubée",
                )
            ),
            *(
                f"n'est pas {w}"
                for w in (
                    "retrouvé",
                    "retrouvée",
                    "visible",
                    "visualisé",
                    "visualisée",
                    "identifié",
                    "identifiée",
                )
            ),
            "n'est pas mis en évidence",
            "n'est pas mise en évidence",
            "n'a pas pu être intubé",
            "n'a pas été intubé",
            "n'est plus visible",
            "absent",
            "absente",
            "absents",
            "absentes",
            *_EXCLU_FR,
            "a disparu",
            "ont disparu",
            "disparu",
            "disparue",
            "résolu",
            "résolue",
            "négatif",
            "négative",
        }
    ),
    "termination": _fr(_TERMINATION_FR),
}

_UNCERTAIN_FR = {
    "possible",
    "possibles",
    "probable",
    "probables",
    "douteux",
    "douteuse",
    "douteuses",
    "éventuel",
    "éventuelle",
    "suspect",
    "suspecte",
    "suspecté",
    "suspectée",
    "à éliminer",
    "à discuter",
    "à confirmer",
    "à confronter",
    "à contrôler",
    "à préciser",
    "à prévoir",
    "à programmer",
    "à rechercher",
    "envisagé",
    "envisagée",
    "?",
}
UNCERTAINTY_TERMS_FR: dict[str, list[str]] = {
    "pseudo_negations": _fr({"sans doute possible", "pas de doute", "non suspect", "non suspecte"}),
    "preceding_negations": _fr(
        _UNCERTAIN_FR
        | {
            "possiblement",
            "probablement",
            "peut-être",
            "éventuellement",
            "suspicion de",
            "suspect de",
            "suspecte de",
            "faisant suspecter",
            "évoquant",
            "évoque",
            "évocateur de",
            "évocatrice de",
            "évocateurs de",
            "évocatrices de",
            "pouvant correspondre à",
            "pouvant évoquer",
            "pouvant être",
            "pouvant traduire",
            "pourrait correspondre à",
            "doute sur",
            "doute",
            "aspect douteux",
            "en faveur de",
            "compatible avec",
            "recherche de",
            "à la recherche de",
            "pour recherche de",
            "hypothèse de",
            "discussion de",
            "discussion d'un",
            "discussion d'une",
            "suggérant",
            "suggestif de",
            "indéfini pour",
            "indéfinie pour",
            "ne peut être éliminé",
            "ne peut être exclu",
        }
    ),
    "following_negations": _fr(
        {f": {w}" for w in ("douteux", "douteuse", "douteuses", "possible", "?")}
        | _UNCERTAIN_FR
        | _CANNOT_EXCLUDE_FR
    ),
    "termination": NEGATION_TERMS_FR["termination"],
}

_AGO_FR = {
    f"il y a {n} {unit}"
    for n in (
        "un",
        "une",
        "deux",
        "trois",
        "quatre",
        "cinq",
        "six",
        "sept",
        "huit",
        "neuf",
        "dix",
        "quelques",
        "plusieurs",
        *(str(i) for i in range(1, 31)),
    )
    for unit in ("an", "ans", "mois", "année", "années", "semaines")
}
HISTORY_TERMS_FR: dict[str, list[str]] = {
    "pseudo_negations": _fr(
        {
            "antécédents familiaux",
            "antécédent familial",
            "atcd familiaux",
            "atcd familial",
            "antécédents familiaux de",
            "face antérieure",
            "paroi antérieure",
            "partie antérieure",
            "par rapport à l'examen précédent",
        }
    ),
    "preceding_negations": _fr(
        {
            "antécédent de",
            "antécédents de",
            "antécédent",
            "antécédents",
            "atcd de",
            "atcd",
            "ancien",
            "ancienne",
            "anciens",
            "anciennes",
            "séquelle de",
            "séquelles de",
            "status post",
            "opéré de",
            "opérée de",
            "opéré pour",
            "opérée pour",
            "a bénéficié de",
            "a bénéficié d'une",
            "a bénéficié d'un",
            "a reçu",
            "ayant reçu",
            "précédemment",
            "auparavant",
            "dans le passé",
        }
        | _IN_YEAR_FR
    ),
    "following_negations": _fr(
        {
            "opéré",
            "opérée",
            "opérés",
            "opérées",
            "cicatrisé",
            "cicatrisée",
            "cicatrisés",
            "cicatrisées",
            "ancien",
            "ancienne",
            "anciens",
            "anciennes",
            "séquellaire",
            "séquellaires",
            "réséqué",
            "réséquée",
            "arrêté",
            "arrêtée",
            "dans l'enfance",
            "dans le passé",
            "auparavant",
            "précédemment",
            "antérieur",
            "antérieure",
            "sur la coloscopie précédente",
            "sur l'examen précédent",
            "lors de l'examen précédent",
            *_AGO_FR,
        }
        | _IN_YEAR_FR
    ),
    "termination": _fr(_TERMINATION_FR | {"actuellement", "ce jour", "aujourd'hui", "à ce jour"}),
}

_RELATIVES_FR = {
    "mère",
    "père",
    "frère",
    "frères",
    "sœur",
    "soeur",
    "sœurs",
    "soeurs",
    "fils",
    "fille",
    "filles",
    "oncle",
    "tante",
    "cousin",
    "cousine",
    "cousins",
    "cousines",
    "grand-mère",
    "grand-père",
    "grands-parents",
    "parents",
    "jumeau",
    "jumelle",
    "apparenté",
    "apparentés",
}
FAMILY_TERMS_FR: dict[str, list[str]] = {
    "pseudo_negations": _fr({"jeune fille", "jeune femme"}),
    "preceding_negations": _fr(
        _RELATIVES_FR
        | {
            "antécédents familiaux",
            "antécédent familial",
            "atcd familiaux",
            "atcd familial",
            "histoire familiale",
            "contexte familial",
        }
    ),
    "following_negations": _fr(
        _RELATIVES_FR | {"dans la famille", "familial", "familiale", "familiaux", "familiales"}
    ),
    "termination": NEGATION_TERMS_FR["termination"],
}

CONTEXT_DIMENSIONS: tuple[str, ...] = ("negex", "uncertain", "historical", "family")
"""The ``Span`` extensions set by :func:`add_context`, one per ConText dimension."""

CONTEXT_TERMS: dict[str, dict[str, dict[str, list[str]]]] = {
    "en": {
        "negex": NEGATION_TERMS,
        "uncertain": UNCERTAINTY_TERMS,
        "historical": HISTORY_TERMS,
        "family": FAMILY_TERMS,
    },
    "fr": {
        "negex": NEGATION_TERMS_FR,
        "uncertain": UNCERTAINTY_TERMS_FR,
        "historical": HISTORY_TERMS_FR,
        "family": FAMILY_TERMS_FR,
    },
}
"""Termsets per language and dimension (negspacy's four lists: pseudo, preceding, following, termination)."""
COMPONENT_NAMES = {"negex": "negex", "uncertain": "hedge", "historical": "history", "family": "family"}


def _query_prefix(doc: Doc, i: int) -> bool:
    """A '?' written before its finding ("?stricture", UK style) rather than after it ("Stricture?")."""
    return not doc[i].whitespace_ and i + 1 < len(doc) and doc[i + 1].is_alpha


@Language.factory(
    "cd_context",
    default_config={
        "neg_termset": NEGATION_TERMS,
        "extension_name": "negex",
        "max_scope": 6,
        "ent_types": None,
        "skip_words": list(SKIP_WORDS["en"]),
    },
)
class ScopedNegex(Negex):
    """negspacy ``Negex`` whose triggers reach at most ``max_scope`` counted words (None: unbounded).

    ``skip_words`` are not counted (conjunctions and articles of the report's language).
    """

    def __init__(
        self,
        nlp: Language,
        name: str,
        neg_termset: dict[str, list[str]],
        extension_name: str = "negex",
        max_scope: int | None = 6,
        ent_types: list[str] | None = None,
        skip_words: list[str] | None = None,
    ) -> None:
        super().__init__(nlp, name, neg_termset, ent_types=ent_types, extension_name=extension_name)
        self.max_scope = max_scope
        self.skip_words = frozenset(SKIP_WORDS["en"] if skip_words is None else skip_words)
        self._in_ent: set[int] = set()

    def _gap(self, doc: Doc, start: int, end: int) -> int:
        n = 0
        for tok in doc[start:end]:
            if tok.is_punct or tok.is_space or tok.lower_ in self.skip_words or tok.i in self._in_ent:
                continue
            n += 1
        return n

    def _apply_negation(self, span: Span, sub_preceding: list, sub_following: list) -> None:
        if self.ent_types and span.label_ not in self.ent_types:
            return
        doc = span.doc
        limit = self.max_scope
        for _, start, end in sub_preceding:
            if end <= span.start and (limit is None or self._gap(doc, end, span.start) <= limit):
                if doc[start].text == "?" and not _query_prefix(doc, start):
                    continue
                span._.set(self.extension_name, True)
                return
        for _, start, _end in sub_following:
            if start >= span.end and (limit is None or self._gap(doc, span.end, start) <= limit):
                if doc[start].text == "?" and (
                    _query_prefix(doc, start) or any(t.text in ",;" for t in doc[span.end : start])
                ):
                    continue  # a "?" after a finding questions its own clause only
                span._.set(self.extension_name, True)
                return

    def negex(self, doc: Doc) -> Doc:
        """negspacy's ``negex`` with each entity found once per termination boundary (negspacy rebuilds
        ``doc.ents`` for every boundary, which is most of the pipeline's time on long reports)."""
        preceding, following, terminating = self.process_negations(doc)
        ents = sorted(doc.ents, key=lambda e: e.start)
        j = 0
        for start, end in self.termination_boundaries(doc, terminating):
            while j < len(ents) and ents[j].start < start:
                j += 1
            k = j
            sub_preceding = [m for m in preceding if start <= m[1] < end]
            sub_following = [m for m in following if start <= m[1] < end]
            while k < len(ents) and ents[k].start < end:
                if ents[k].end <= end:  # an entity crossing the boundary is left alone, as in negspacy
                    self._apply_negation(ents[k], sub_preceding, sub_following)
                k += 1
        return doc

    def __call__(self, doc: Doc) -> Doc:
        self._in_ent = {i for ent in doc.ents for i in range(ent.start, ent.end)}
        return self.negex(doc)


def add_context(
    nlp: Language,
    *,
    language: str = "en",
    max_scope: int | None = 6,
    dimensions: tuple[str, ...] = CONTEXT_DIMENSIONS,
) -> None:
    """Append one scoped ConText component per dimension (``Span._.negex``, ``.uncertain``, ``.historical``,
    ``.family``), with the termsets of ``language``."""
    if language not in CONTEXT_TERMS:
        raise ValueError(f"no ConText termsets for language {language!r}; known: {sorted(CONTEXT_TERMS)}")
    for dim in dimensions:
        nlp.add_pipe(
            "cd_context",
            name=COMPONENT_NAMES[dim],
            config={
                "neg_termset": CONTEXT_TERMS[language][dim],
                "extension_name": dim,
                "max_scope": max_scope,
                "skip_words": list(SKIP_WORDS[language]),
            },
        )


def _flag(span: Span, dim: str) -> bool:
    return Span.has_extension(dim) and bool(span._.get(dim))


def status_of(span: Span) -> str:
    """'negated', 'uncertain' or 'affirmed' (negation wins: "no definite fistula" is negated)."""
    if span._.negex:
        return "negated"
    if _flag(span, "uncertain"):
        return "uncertain"
    return "affirmed"


def temporality_of(span: Span) -> str:
    """'historical' (a past episode: "history of", "antécédent de", "now healed") or 'current'."""
    return "historical" if _flag(span, "historical") else "current"


def experiencer_of(span: Span) -> str:
    """'other' (a relative: "mother has CD", "MC chez le frère") or 'patient'."""
    return "other" if _flag(span, "family") else "patient"
