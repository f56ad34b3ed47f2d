"""Common base of the statistics result objects: a tidy ``summary`` frame, LaTeX output, the CI pair."""

from __future__ import annotations

import pandas as pd

from reports.formatting import fmt_p, latex_escape


class StatResult:
    """Base class: subclasses (dataclasses with a ``method`` field) build :attr:`summary`."""

    @property
    def summary(self) -> pd.DataFrame:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _one_row(self, columns: str, label: str, index_name: str, **values: object) -> pd.DataFrame:
        """A one-row summary frame indexed by ``label``; ``columns`` are space-separated names, each
        holding ``values[name]`` when given, else the attribute of that name."""
        row = {c: values[c] if c in values else getattr(self, c) for c in columns.split()}
        return pd.DataFrame([row], index=pd.Index([label], name=index_name))

    def to_latex(
        self, *, float_format: str = "{:.3f}", caption: str | None = None, label: str | None = None
    ) -> str:
        """The summary table as a LaTeX ``tabular`` (booktabs rules); p-values as in the report's tables."""
        frame = self.summary.copy()
        formatters = {}
        for col in frame.columns:
            if col in ("p_value", "p_adjusted"):
                formatters[col] = _latex_p
            elif pd.api.types.is_float_dtype(frame[col]):
                formatters[col] = float_format.format
        styler = frame.style.format(formatters, na_rep="--").format_index(latex_escape, axis=1)
        styler = styler.format_index(latex_escape, axis=0)
        return styler.to_latex(
            hrules=True, caption=caption, label=label, position_float="centering" if caption else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method})\n{self.summary.to_string()}"


class IntervalResult(StatResult):
    """A result with ``ci_low`` and ``ci_high`` fields."""

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def _latex_p(p: float) -> str:
    return latex_escape(fmt_p(p))
