"""Exclusive locks on files: one writer per run folder, short critical sections in the shared cache.

A lock is an ``flock`` on a lock file, so the kernel drops it the moment its process dies: a run killed by
SIGKILL, the OOM killer or a power cut never leaves a lock that blocks the next run. The holder writes its
process id, host, start time and command into the lock file and empties it on a clean release, so a lock
file found non-empty by a new holder names a run that ended without releasing it (reported, then taken
over). Holding is reentrant within a process: the command line holds the run folder for the whole run and
``run_matrix`` takes it again when called on its own.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.cohort.problems import UserError

log = logging.getLogger("cdbench.lock")


class LockHeld(UserError):
    """Another process holds the lock; ``holder`` is what it recorded (pid, host, started, command)."""

    exit_code = 2

    def __init__(self, message: str, holder: dict[str, Any]) -> None:
        super().__init__(message)
        self.holder = holder


class LockUnsupported(UserError):
    """The filesystem of the folder does not support ``flock`` (some network filesystems)."""

    exit_code = 2


_held: dict[Path, list[int]] = {}  # resolved lock path -> [fd, depth]
_registry = threading.Lock()


def describe_holder(holder: dict[str, Any]) -> str:
    """``process 123 on host h, started 2026-...Z (command ...)``, or a note that it is not recorded yet."""
    if not holder.get("pid"):
        return "a process that has not recorded itself yet"
    return (
        f"process {holder['pid']} on host {holder.get('host', '?')}, started {holder.get('started', '?')}"
        f" (command: {holder.get('command', '?')})"
    )


def _read_holder(fd: int) -> dict[str, Any]:
    raw = os.pread(fd, 65536, 0)
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"pid": "?", "host": "?", "started": "?", "command": "unreadable lock file"}


def _open_and_lock(path: Path, *, blocking: bool) -> int:
    """An fd of ``path`` (created) holding its exclusive flock; raises BlockingIOError when held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            raise LockUnsupported(
                f"cannot lock {path}: its filesystem does not support file locks ({exc.strerror}); "
                "use a folder on a local or lock-capable filesystem"
            ) from None
        raise
    return fd


@contextmanager
def hold(path: str | Path, what: str) -> Iterator[dict[str, Any] | None]:
    """Hold the exclusive lock ``path`` for the block; raise :class:`LockHeld` at once if another holds it.

    ``what`` names the locked thing in messages (e.g. ``"run folder /x"``). Yields the record of a previous
    holder that ended without releasing (a killed run, taken over and logged), else None.
    """
    key = Path(path).resolve()
    with _registry:
        if key in _held:
            _held[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield None
        finally:
            with _registry:
                _held[key][1] -= 1
        return
    try:
        fd = _open_and_lock(key, blocking=False)
    except BlockingIOError:
        fd = os.open(key, os.O_RDONLY | os.O_CLOEXEC)
        try:
            holder = _read_holder(fd)
        finally:
            os.close(fd)
        raise LockHeld(
            f"{what} is in use by another cdbench run: {describe_holder(holder)}. Two runs on one folder "
            "would corrupt it; wait for that run to finish, or give this one another folder.",
            holder,
        ) from None
    try:
        stale = _read_holder(fd) or None
        if stale:
            log.warning(
                "%s: taking over the lock of a run that ended without releasing it (%s); its finished work "
                "is kept and resumed",
                what,
                describe_holder(stale),
            )
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(sys.argv)[:500],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        os.fsync(fd)
        with _registry:
            _held[key] = [fd, 1]
        try:
            yield stale
        finally:
            with _registry:
                del _held[key]
            os.ftruncate(fd, 0)  # a clean release leaves an empty lock file
    finally:
        os.close(fd)  # closing drops the flock


@contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Wait for and hold the exclusive lock ``path`` (a short critical section, e.g. a cache merge)."""
    fd = _open_and_lock(Path(path), blocking=True)
    try:
        yield
    finally:
        os.close(fd)
