"""The standalone ``report.tex`` that inputs every table and includes every figure, and its pdflatex build.

The source is pure ASCII (every text goes through :func:`reports.formatting.latex_escape`) in the T1 font
encoding, so accented and special Latin letters are typeset as they are; Latin Modern (Debian ``lmodern``)
gives vector fonts, and without it TeX falls back to the EC fonts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.store import REPORT_TEX, write_text
from reports.formatting import latex_escape

PREAMBLE = r"""\documentclass[10pt,a4paper]{article}
\usepackage[T1]{fontenc}
\IfFileExists{lmodern.sty}{\usepackage{lmodern}}{}
\usepackage[margin=2cm]{geometry}
\usepackage{booktabs}
\usepackage{graphicx}
\usepackage{float}
\usepackage{longtable}
\floatplacement{table}{H}
\floatplacement{figure}{H}
\setlength{\parindent}{0pt}
\setlength{\parskip}{4pt}
"""


@dataclass(frozen=True)
class FigureEntry:
    """A figure of the report: its PDF path (relative to the report folder), caption and label."""

    path: str
    caption: str
    label: str
    width: str = r"0.72\linewidth"


@dataclass(frozen=True)
class Section:
    """A report section: a title, optional paragraphs, tables (``.tex`` paths relative to the report)
    and figures. ``appendix``: the section is an appendix (lettered; appendices come last)."""

    title: str
    paragraphs: Sequence[str] = ()
    tables: Sequence[str] = ()
    figures: Sequence[FigureEntry] = ()
    appendix: bool = False


def render_report(title: str, sections: Sequence[Section], *, preface: Sequence[str] = ()) -> str:
    """The LaTeX source of the report. ``paragraphs`` and captions are plain text (escaped here)."""
    lines = [PREAMBLE, r"\title{" + latex_escape(title) + "}", r"\date{}", r"\begin{document}", r"\maketitle"]
    lines += [latex_escape(p) + "\n" for p in preface]
    in_appendix = False
    for sec in sections:
        if sec.appendix and not in_appendix:
            lines.append(r"\appendix")
            in_appendix = True
        lines.append(r"\section{" + latex_escape(sec.title) + "}")
        lines += [latex_escape(p) + "\n" for p in sec.paragraphs]
        for tex in sec.tables:
            lines.append(r"\input{" + Path(tex).as_posix() + "}")
        for fig in sec.figures:
            lines += [
                r"\begin{figure}",
                r"\centering",
                r"\includegraphics[width=" + fig.width + "]{" + Path(fig.path).as_posix() + "}",
                r"\caption{" + latex_escape(fig.caption) + "}",
                r"\label{" + fig.label + "}",
                r"\end{figure}",
            ]
        lines.append(r"\clearpage")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


def write_report_tex(
    out_dir: str | Path, title: str, sections: Sequence[Section], *, preface: Sequence[str] = ()
) -> Path:
    """Write the report's LaTeX source into ``out_dir`` (paths inside are relative to it); its path."""
    out_dir = Path(out_dir)
    for sec in sections:
        missing = [p for p in [*sec.tables, *(f.path for f in sec.figures)] if not (out_dir / p).exists()]
        if missing:
            raise FileNotFoundError(f"{REPORT_TEX} would reference missing files: {missing}")
    return write_text(render_report(title, sections, preface=preface), out_dir / REPORT_TEX)


class LatexError(RuntimeError):
    """pdflatex failed; the message holds the first error lines of the log."""


def compile_pdf(tex_path: str | Path, *, runs: int = 1, timeout: float = 120.0) -> Path | None:
    """Build the PDF with pdflatex (``runs`` > 1 if cross-references are added). None when pdflatex is absent.

    A previous PDF is removed first, so a failed build (:class:`LatexError`, also after ``timeout``
    seconds) never leaves an outdated one behind.
    """
    exe = shutil.which("pdflatex")
    if exe is None:
        return None
    tex_path = Path(tex_path).resolve()
    tex_path.with_suffix(".pdf").unlink(missing_ok=True)
    env = {**os.environ, "TEXMFOUTPUT": str(tex_path.parent)}
    for _ in range(runs):
        try:
            proc = subprocess.run(
                [exe, "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", tex_path.name],
                cwd=tex_path.parent,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise LatexError(f"pdflatex did not finish {tex_path} within {timeout:g} s") from None
        if proc.returncode != 0:
            errors = [
                ln
                for ln in proc.stdout.splitlines()
                if ln.startswith("!") or ":" in ln and "error" in ln.lower()
            ]
            raise LatexError(
                f"pdflatex failed on {tex_path}: " + " | ".join(errors[:8] or proc.stdout.splitlines()[-8:])
            )
    return tex_path.with_suffix(".pdf")
