"""The language of a report, detected offline and deterministically (cdbench's text features support en, fr).

Policy (:func:`detect_language`):

1. ``lingua-language-detector`` (its n-gram models ship inside the wheel; low-accuracy mode: trigram
   models only, about 30 MB in memory) scores the text against seven languages of European hospital
   reports (en, fr, de, es, it, nl, pt) and proposes the most likely one.
2. A rule on function words corrects lingua on short, jargon-heavy text, where n-gram statistics are
   weak ("TI: normal." looks Italian to them): every word of :data:`FUNCTION_WORDS` that belongs to one
   language only is a vote for it (French: "pas", "les", "sans", "d'"...; English: "the", "of",
   "with", "no"...). The rule decides when one of en/fr has at least :data:`MIN_VOTES` votes and more
   than twice the other's, unless the text is long (at least :data:`LONG_TEXT_WORDS` words) and lingua
   is sure (confidence >= :data:`LINGUA_SURE`) of another language.
3. In a short text (fewer than :data:`SHORT_TEXT_WORDS` words) a single vote decides between en and fr
   ("No active inflammation." is English). Otherwise lingua's answer stands, except that a short text is
   never called an unsupported language on n-grams alone: it is ``"und"`` (undetermined), as is text
   without letters.
   The text features read ``"und"`` as English, and validation does not warn about it.

Both steps are pure functions of the text, so the same report always gets the same language.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "fr")
"""Languages whose reports the text features read (section headers, context cues, KB surface forms)."""
DEFAULT_LANGUAGE = "en"
REPORT_LANGUAGE_COLUMN = "report_language"
"""Cohort-summary column: the language group of a patient's reports ("en", "fr", "en+fr", "other", "none")."""
UNDETERMINED = "und"
CANDIDATE_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "nl", "pt")
MIN_VOTES = 2
LINGUA_SURE = 0.9
LONG_TEXT_WORDS = 20
SHORT_TEXT_WORDS = 8

FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the of and with without no not is are was were there this that which from into at for to "
        "or seen noted shows within has have been any evidence".split()
    ),
    "fr": frozenset(
        "le la les des du de d' l' un une et est sont pas ni sans avec au aux sur dans pour chez qui "
        "aucun aucune absence il elle n' qu' ou en ce cette".split()
    ),
}
_LIGATURES_1TO1 = str.maketrans({"\u0153": "o", "\u0152": "O", "\u00e6": "a", "\u00c6": "A"})
_WORD_RE = re.compile(r"[^\W\d_]+'?", re.UNICODE)


def fold_accents(text: str) -> str:
    """``text`` without diacritics, one character for one, so offsets hold ("Épaissi" -> "Epaissi", "œ" -> "o")."""
    folded = "".join(unicodedata.normalize("NFD", ch)[0] for ch in text)
    return folded.translate(_LIGATURES_1TO1)


def strip_accents(text: str) -> str:
    """``text`` without diacritics, ligatures spelled out ("Œdème" -> "Oedeme", "cæcum" -> "caecum")."""
    text = (
        text.replace("\u0153", "oe").replace("\u0152", "OE").replace("\u00e6", "ae").replace("\u00c6", "AE")
    )
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def function_word_votes(text: str) -> dict[str, int]:
    """Votes per supported language: words of the text that are function words of that language only."""
    words = [w.lower().replace("\u2019", "'") for w in _WORD_RE.findall(text.replace("\u2019", "'"))]
    en, fr = FUNCTION_WORDS["en"], FUNCTION_WORDS["fr"]
    return {
        "en": sum(1 for w in words if w in en and w not in fr),
        "fr": sum(1 for w in words if w in fr and w not in en),
    }


@lru_cache(maxsize=1)
def _detector():
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, c.upper()) for c in CANDIDATE_LANGUAGES]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_low_accuracy_mode().build()


def _lingua(text: str) -> tuple[str | None, float]:
    values = _detector().compute_language_confidence_values(text)
    if not values or values[0].value <= 0:
        return None, 0.0
    return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the report's language (``"und"`` without letters); see the module docstring."""
    if not any(ch.isalpha() for ch in text):
        return UNDETERMINED
    guess, confidence = _lingua(text)
    n_words = len(_WORD_RE.findall(text))
    votes = function_word_votes(text)
    best, other = sorted(votes, key=lambda k: (-votes[k], k))
    rule = best if votes[best] >= MIN_VOTES and votes[best] > 2 * votes[other] else None
    if rule is not None and not (
        guess not in (None, rule) and n_words >= LONG_TEXT_WORDS and confidence >= LINGUA_SURE
    ):
        return rule
    if n_words < SHORT_TEXT_WORDS and votes[best] > votes[other]:
        return best  # a short text: even one function word outweighs n-gram statistics
    if guess is None or (guess not in SUPPORTED_LANGUAGES and n_words < SHORT_TEXT_WORDS):
        return UNDETERMINED
    return guess


def normalise_language(value: str) -> str | None:
    """An override from reports.csv as a lower-case ISO 639-1 code (or "und"), or None when it is not one."""
    code = value.strip().lower()
    return code if re.fullmatch(r"[a-z]{2}", code) or code == UNDETERMINED else None
