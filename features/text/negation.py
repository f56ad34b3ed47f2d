"""NegEx/ConText-style negation and uncertainty: negspacy's component with a bounded scope and clinical termsets.

negspacy lets a trigger reach every entity up to the next termination term. Clinical sentences are long
lists ("no fistula, abscess or stricture; the terminal ileum is thickened"), so, as in the original NegEx,
the scope of a trigger is bounded: ``max_scope`` counts the words between trigger and entity, ignoring
punctuation, coordinating conjunctions and the words of other entities (so a list of findings after
"no" stays in scope). The same class runs twice: once with negation triggers (``Span._.negex``) and once
with hedge triggers (``Span._.uncertain``).
"""

from __future__ import annotations

from negspacy.negation import Negex
from negspacy.termsets import termset
from spacy.language import Language
from spacy.tokens import Doc, Span

_SKIP_WORDS = frozenset({"and", "or", "nor", "/", "&", "the", "a", "an", "any"})

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
            "suggests",
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
        }
    ),
    "termination": NEGATION_TERMS["termination"],
}


@Language.factory(
    "cd_context",
    default_config={
        "neg_termset": NEGATION_TERMS,
        "extension_name": "negex",
        "max_scope": 6,
        "ent_types": None,
    },
)
class ScopedNegex(Negex):
    """negspacy ``Negex`` whose triggers reach at most ``max_scope`` counted words (None: unbounded)."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        neg_termset: dict[str, list[str]],
        extension_name: str = "negex",
        max_scope: int | None = 6,
        ent_types: list[str] | None = None,
    ) -> None:
        super().__init__(nlp, name, neg_termset, ent_types=ent_types, extension_name=extension_name)
        self.max_scope = max_scope
        self._in_ent: set[int] = set()

    def _gap(self, doc: Doc, start: int, end: int) -> int:
        n = 0
        for tok in doc[start:end]:
            if tok.is_punct or tok.is_space or tok.lower_ in _SKIP_WORDS or tok.i in self._in_ent:
                continue
            n += 1
        return n

    def _apply_negation(self, span: Span, sub_preceding: list, sub_following: list) -> None:
        if self.ent_types and span.label_ not in self.ent_types:
            return
        doc = span.doc
        limit = self.max_scope
        for _, _start, end in sub_preceding:
            if end <= span.start and (limit is None or self._gap(doc, end, span.start) <= limit):
                span._.set(self.extension_name, True)
                return
        for _, start, _end in sub_following:
            if start >= span.end and (limit is None or self._gap(doc, span.end, start) <= limit):
                span._.set(self.extension_name, True)
                return

    def __call__(self, doc: Doc) -> Doc:
        self._in_ent = {i for ent in doc.ents for i in range(ent.start, ent.end)}
        return self.negex(doc)


def add_context(nlp: Language, *, max_scope: int | None = 6, uncertainty: bool = True) -> None:
    """Append the negation (``Span._.negex``) and, optionally, uncertainty (``Span._.uncertain``) components."""
    nlp.add_pipe(
        "cd_context",
        name="negex",
        config={"neg_termset": NEGATION_TERMS, "extension_name": "negex", "max_scope": max_scope},
    )
    if uncertainty:
        nlp.add_pipe(
            "cd_context",
            name="hedge",
            config={"neg_termset": UNCERTAINTY_TERMS, "extension_name": "uncertain", "max_scope": max_scope},
        )


def status_of(span: Span) -> str:
    """'negated', 'uncertain' or 'affirmed' (negation wins: "no definite fistula" is negated)."""
    if span._.negex:
        return "negated"
    if Span.has_extension("uncertain") and span._.uncertain:
        return "uncertain"
    return "affirmed"
