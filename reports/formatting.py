"""How the report writes numbers, intervals, p-values, model names and escaped text: one rule each.

Estimates and interval bounds have 3 decimals; an interval is ``low–high``, or ``low to high`` when a
bound is negative (an en dash beside a minus sign reads badly). A p-value is ``<0.001`` below 0.001,
otherwise 3 decimals (the convention of clinical journals), in text and in LaTeX alike. A missing
value is an en dash. LaTeX and Markdown output pass through :func:`latex_escape` / :func:`markdown_escape`.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

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


def model_label(modality_set: str, fusion: str, estimator: str) -> str:
    """Readable model name used in tables and figures, e.g. ``imaging+pro / early / enet``."""
    return f"{modality_set} / {fusion} / {estimator}"


def slug(text: str) -> str:
    """Lower-case file-name and label stem of ``text`` (runs of other characters become ``-``)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


# --- escaping ----------------------------------------------------------------------------------------------
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
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def latex_escape(text: object) -> str:
    """Escape ``text`` for LaTeX text mode; characters pdflatex cannot typeset are transliterated."""
    s = _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], _text(text))
    if not s.isascii():  # keep Latin-1 letters (utf8 inputenc knows them), transliterate the rest
        s = "".join(
            ch
            if ord(ch) < 256
            else unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "?"
            for ch in s
        )
    return s


def markdown_escape(text: object) -> str:
    """``text`` safe inside a Markdown table cell (pipes escaped, one line)."""
    return _text(text).replace("|", r"\|").replace("\n", " ")
