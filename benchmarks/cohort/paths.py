"""Resolving the file paths a cohort names: relative, inside the cohort folder, plain files, or refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
"""File types that are neither regular files nor folders; opening one for reading can block forever."""


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


def special_file(path: Path) -> str | None:
    """What ``path`` is when it is a special file (FIFO, device, socket), or for a folder what its first
    special entry is; None for a regular file, a folder of regular files, or a path that does not exist.

    Decided from the file status alone: a special file is never opened.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if not stat.S_ISDIR(mode):
        kind = _special_kind(mode)
        return None if kind is None else f"it is {kind}"
    with os.scandir(path) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                kind = _special_kind(entry.stat().st_mode)
            except OSError:
                continue
            if kind is not None:
                return f"{entry.name} in the folder is {kind}"
    return None


def _special_kind(mode: int) -> str | None:
    return next((name for test, name in SPECIAL_KINDS if test(mode)), None)
