"""Resolving the file paths a cohort table names: relative, inside the cohort folder, or refused."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath


def resolve_inside(real_root: Path, rel: str) -> tuple[Path | None, str | None]:
    """The real path of ``rel`` inside the cohort folder ``real_root`` (already resolved), or None and why
    it is refused.

    Decided from the path text and the symbolic links along it only: a refused path is never opened.
    """
    windows = PureWindowsPath(rel)
    if PurePosixPath(rel).is_absolute() or windows.is_absolute() or windows.drive or rel.startswith("\\"):
        return None, "absolute path refused: paths must be relative to the cohort folder"
    if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
        return None, "path refused: it leaves the cohort folder ('..')"
    try:
        real = Path(os.path.realpath(real_root / rel))
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte
        return None, f"invalid path: {exc}"
    if not real.is_relative_to(real_root):
        return None, "path refused: it resolves (through a symbolic link) outside the cohort folder"
    if real.is_dir():
        for entry in os.scandir(real):
            if entry.is_symlink() and not Path(os.path.realpath(entry.path)).is_relative_to(real_root):
                return None, f"path refused: {entry.name} in the folder links outside the cohort folder"
    return real, None
