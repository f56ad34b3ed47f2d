"""Execution backends: run many cells and hand each result back as it arrives.

Every backend runs the same job, ``job(cell, data) -> (meta, predictions)``, and calls
``on_result(cell, meta, predictions)`` in the submitting process, so results are written by one process
only. Results do not depend on the backend (cells carry their own seeds). A new backend (Ray, Slurm,
...) is one subclass of :class:`Executor` and one line in :func:`make_executor`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from benchmarks.experiment.matrix import Cell
from benchmarks.experiment.taskdata import TaskData

CellJob = Callable[[Cell, TaskData], tuple[dict[str, Any], pd.DataFrame]]
OnResult = Callable[[Cell, dict[str, Any], pd.DataFrame], None]


class Executor(ABC):
    """Runs ``job`` over ``(cell, data)`` pairs; the order of results is not guaranteed."""

    @abstractmethod
    def run(self, job: CellJob, work: Sequence[tuple[Cell, TaskData]], on_result: OnResult) -> None: ...


class SerialExecutor(Executor):
    """In this process, one cell after another."""

    def run(self, job: CellJob, work: Sequence[tuple[Cell, TaskData]], on_result: OnResult) -> None:
        for cell, data in work:
            on_result(cell, *job(cell, data))


def _tagged(job: CellJob, cell: Cell, data: TaskData) -> tuple[Cell, dict[str, Any], pd.DataFrame]:
    return (cell, *job(cell, data))


class LokyExecutor(Executor):
    """``n_jobs`` local worker processes (joblib's loky backend)."""

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs

    def run(self, job: CellJob, work: Sequence[tuple[Cell, TaskData]], on_result: OnResult) -> None:
        from joblib import Parallel, delayed

        with Parallel(n_jobs=self.n_jobs, backend="loky", return_as="generator_unordered") as parallel:
            for cell, meta, frame in parallel(delayed(_tagged)(job, c, d) for c, d in work):
                on_result(cell, meta, frame)


class DaskExecutor(Executor):
    """The workers of a Dask cluster (``tcp://host:port``); each task's data is broadcast once."""

    def __init__(self, address: str) -> None:
        self.address = address

    def run(self, job: CellJob, work: Sequence[tuple[Cell, TaskData]], on_result: OnResult) -> None:
        from distributed import Client, as_completed

        with Client(self.address) as client:
            scattered: dict[int, Any] = {}
            for _, data in work:
                if id(data) not in scattered:
                    scattered[id(data)] = client.scatter(data, broadcast=True)
            futures = {client.submit(job, c, scattered[id(d)], pure=False): c for c, d in work}
            for fut in as_completed(futures):
                meta, frame = fut.result()
                on_result(futures[fut], meta, frame)


def make_executor(n_jobs: int, scheduler: str | None = None) -> Executor:
    """Dask when a scheduler address is given, else loky with ``n_jobs`` > 1, else serial."""
    if scheduler:
        return DaskExecutor(scheduler)
    if n_jobs != 1:
        return LokyExecutor(n_jobs)
    return SerialExecutor()
