"""How the report writes numbers, intervals, p-values, model names and escaped text: one rule each.

Estimates and interval bounds have 3 decimals; an interval is ``low–high``, or ``low to high`` when a
bound is negative (an en dash beside a minus sign reads badly). A p-value is ``<0.001`` below 0.001,
otherwise 3 decimals (the convention of clinical journals), in text and in LaTeX alike. A missing
value is an en dash. LaTeX and Markdown output pass through :func:`latex_escape` / :func:`markdown_escape`
(any user string compiles and is shown literally; see the policies below them).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
from anyascii import anyascii

MISSING = "–"
P_FLOOR = 0.001
"""p-values below this are written ``<0.001``."""


def _finite(x: object) -> bool:
    return x is not None and bool(np.isfinite(x))


def fmt_num(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals; an en dash when missing."""
    return f"{x:.{digits}f}" if _finite(x) else MISSING


def fmt_interval(low: float, high: float, digits: int = 3) -> str:
    """``low–high`` (``low to high`` when a bound is negative); an en dash when a bound is missing."""
    if not (_finite(low) and _finite(high)):
        return MISSING
    sep = " to " if low < 0 or high < 0 else "–"
    return f"{low:.{digits}f}{sep}{high:.{digits}f}"


def fmt_ci(est: float, low: float, high: float, digits: int = 3) -> str:
    """``est (low–high)``; the estimate alone when the interval is missing."""
    if not _finite(est):
        return MISSING
    if not (_finite(low) and _finite(high)):
        return fmt_num(est, digits)
    return f"{fmt_num(est, digits)} ({fmt_interval(low, high, digits)})"


def fmt_p(p: float) -> str:
    """``<0.001`` or the p-value with 3 decimals; an en dash when missing."""
    if not _finite(p):
        return MISSING
    return f"<{P_FLOOR:g}" if p < P_FLOOR else f"{p:.3f}"


def p_clause(name: str, p: float) -> str:
    """``name`` and its p-value for a sentence: ``p < 0.001`` or ``p = 0.042`` (never ``p = <0.001``)."""
    text = fmt_p(p)
    return f"{name} {text[0]} {text[1:]}" if text.startswith("<") else f"{name} = {text}"


def model_label(modality_set: str, fusion: str, estimator: str) -> str:
    """Readable model name used in tables and figures, e.g. ``imaging+pro / early / enet``."""
    return f"{modality_set} / {fusion} / {estimator}"


def slug(text: str) -> str:
    """Lower-case file-name and label stem of ``text`` (runs of other characters become ``-``)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


# --- escaping ----------------------------------------------------------------------------------------------
# The report's LaTeX is pure ASCII (T1 font encoding): every character of a user string (a site, a category,
# an error message) is a printable ASCII character, a LaTeX command or a transliteration, so no name can
# make pdflatex fail. Latin letters keep their accents (``\'{e}``, ``\v{c}``, ``\k{a}``) and their special
# forms (``\DH{}``, ``\l{}``, ``\ss{}``); other scripts are transliterated (anyascii: Москва -> Moskva);
# control and format characters are dropped (tab and line breaks become spaces). The .md and .csv beside
# each table keep the original text.
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "+": r"{+}",
    "–": "--",
    "—": "---",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "±": r"$\pm$",
    "×": r"$\times$",
    "Δ": r"$\Delta$",
    "µ": r"$\mu$",
    "μ": r"$\mu$",
    "·": r"$\cdot$",
    "−": "-",
    "✓": "yes",
    # letters and punctuation of the T1 encoding that do not decompose into a letter and accents
    "ß": r"\ss{}",
    "æ": r"\ae{}",
    "Æ": r"\AE{}",
    "œ": r"\oe{}",
    "Œ": r"\OE{}",
    "ø": r"\o{}",
    "Ø": r"\O{}",
    "ł": r"\l{}",
    "Ł": r"\L{}",
    "đ": r"\dj{}",
    "Đ": r"\DJ{}",
    "ð": r"\dh{}",
    "Ð": r"\DH{}",
    "þ": r"\th{}",
    "Þ": r"\TH{}",
    "ŋ": r"\ng{}",
    "Ŋ": r"\NG{}",
    "ı": r"\i{}",
    "ȷ": r"\j{}",
    "«": r"\guillemotleft{}",
    "»": r"\guillemotright{}",
    "‹": r"\guilsinglleft{}",
    "›": r"\guilsinglright{}",
    "„": r"\quotedblbase{}",
    "‚": r"\quotesinglbase{}",
    "“": r"\textquotedblleft{}",
    "”": r"\textquotedblright{}",
    "‘": r"\textquoteleft{}",
    "’": r"\textquoteright{}",
    "¡": r"\textexclamdown{}",
    "¿": r"\textquestiondown{}",
    "§": r"\S{}",
    "£": r"\pounds{}",
    "°": r"\textdegree{}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL if len(k) == 1 and k.isascii()))
_LATEX_ACCENTS = {  # combining mark -> T1 accent command
    "\u0300": "`",
    "\u0301": "'",
    "\u0302": "^",
    "\u0303": "~",
    "\u0304": "=",
    "\u0306": "u",
    "\u0307": ".",
    "\u0308": '"',
    "\u030a": "r",
    "\u030b": "H",
    "\u030c": "v",
    "\u0323": "d",
    "\u0327": "c",
    "\u0328": "k",
    "\u0331": "b",
}
_DOTLESS = {"i": r"\i{}", "j": r"\j{}"}  # an accent over i or j replaces its dot


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def printable_text(value: object) -> str:
    """``value`` as one line of printable text: tab and line breaks become spaces, other control and
    format characters (NUL, BEL, zero-width and bidi marks, unassigned code points) are dropped."""
    s = _text(value)
    if s.isascii() and s.isprintable():
        return s
    out = []
    for ch in unicodedata.normalize("NFC", s):
        cat = unicodedata.category(ch)
        if ch in "\t\n\r\v\f" or cat in ("Zl", "Zp", "Zs"):
            out.append(" ")
        elif not cat.startswith("C"):
            out.append(ch)
    return "".join(out)


def _latex_ascii(s: str) -> str:
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], s)


def _latex_cluster(cluster: str) -> str:
    """One base character with its combining marks, in ASCII LaTeX."""
    if cluster in _LATEX_SPECIAL:
        return _LATEX_SPECIAL[cluster]
    base, *marks = unicodedata.normalize("NFD", cluster)
    if marks and all(m in _LATEX_ACCENTS for m in marks):
        if base.isascii() and base.isalpha() or base in _LATEX_SPECIAL and base.isalpha():
            tex = _DOTLESS.get(base) or _LATEX_SPECIAL.get(base, base)
            for m in marks:
                tex = "\\" + _LATEX_ACCENTS[m] + "{" + tex + "}"
            return tex
    ascii_text = "".join(ch for ch in anyascii(cluster) if ch.isprintable())
    return _latex_ascii(ascii_text) if ascii_text else "?"


def latex_escape(text: object) -> str:
    """``text`` as ASCII LaTeX for text mode (T1): specials escaped, accents as commands, other scripts
    transliterated, control characters dropped; any string compiles."""
    s = printable_text(text)
    if s.isascii():
        return _latex_ascii(s)
    clusters: list[str] = []
    for ch in s:  # a combining mark stays with the character before it
        if clusters and unicodedata.category(ch).startswith("M"):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return "".join(_latex_ascii(c) if c.isascii() else _latex_cluster(c) for c in clusters)


# Markdown: a character is escaped where it could open markup, so a user string is shown as written and
# never becomes a link (``[x](javascript:...)``), raw HTML or an autolink (``<script>``, ``<javascript:..>``),
# code or emphasis: backslash, pipe, backtick, ``*``, ``[``, ``]`` and ``~`` always; ``_`` at a word edge
# (inside a word it cannot start emphasis); ``<`` before a letter, ``/``, ``!`` or ``?`` (a tag, a comment,
# an autolink) and ``&`` before an entity name, as HTML entities. ``p <0.001`` and ``late_mean`` stay as
# they are.
_MARKDOWN_SPECIAL = {
    "\\": "\\\\",
    "|": r"\|",
    "`": r"\`",
    "*": r"\*",
    "_": r"\_",
    "[": r"\[",
    "]": r"\]",
    "~": r"\~",
    "<": "&lt;",
    "&": "&amp;",
}
_MARKDOWN_RE = re.compile(r"[\\|`*\[\]~]|<(?=[A-Za-z/!?])|&(?=#?\w+;)|(?<!\w)_++|_++(?![^\W_])")


def markdown_escape(text: object) -> str:
    """``text`` safe inside Markdown (a table cell or running text): one line, shown literally."""
    return _MARKDOWN_RE.sub(lambda m: "".join(_MARKDOWN_SPECIAL[c] for c in m.group(0)), printable_text(text))
