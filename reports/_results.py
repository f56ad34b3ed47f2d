"""Common base of the statistics result objects: a tidy ``summary`` frame and LaTeX output."""

from __future__ import annotations

import pandas as pd


class StatResult:
    """Base class: subclasses (dataclasses with a ``method`` field) build :attr:`summary`."""

    @property
    def summary(self) -> pd.DataFrame:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def to_latex(
        self, *, float_format: str = "{:.3f}", caption: str | None = None, label: str | None = None
    ) -> str:
        """The summary table as a LaTeX ``tabular`` (booktabs rules); p-values use 3 significant digits."""
        frame = self.summary.copy()
        formatters = {}
        for col in frame.columns:
            if col in ("p_value", "p_adjusted"):
                formatters[col] = _format_p
            elif pd.api.types.is_float_dtype(frame[col]):
                formatters[col] = float_format.format
        styler = frame.style.format(formatters, na_rep="--").format_index(_escape, axis=1)
        styler = styler.format_index(_escape, axis=0)
        return styler.to_latex(
            hrules=True, caption=caption, label=label, position_float="centering" if caption else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method})\n{self.summary.to_string()}"


def _format_p(p: float) -> str:
    if pd.isna(p):
        return "--"
    if p < 1e-4:
        return "$<$0.0001"
    return f"{p:.3g}"


def _escape(text: object) -> str:
    s = str(text)
    for char, repl in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        s = s.replace(char, repl)
    return s
