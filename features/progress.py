"""Progress bars that stay readable in CI logs (few updates when stderr is not a terminal)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def progress_bar(total: int, desc: str, unit: str, disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar; on a non-terminal it redraws at most every 10 s instead of on every item."""
    if not sys.stderr.isatty():
        kwargs.setdefault("mininterval", 10.0)
        kwargs.setdefault("ascii", True)
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, **kwargs)
