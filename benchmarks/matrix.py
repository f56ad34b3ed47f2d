"""The experiment matrix: cells = task x modality set x estimator x fusion x repeat x outer fold.

Cell ids are stable strings built from the axes; seeds are derived from the global seed and the axes, so
a cell computes the same thing wherever and whenever it runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from benchmarks.config import RunConfig

BASELINE_SET = "none"
BASELINE_ESTIMATOR = "prior"
HYBRID_ESTIMATOR = "hybrid"
LATE_FUSIONS = ("late_mean", "late_weighted", "late_stacked")


def derive_seed(seed: int, *axes: object) -> int:
    """A 31-bit seed from the global seed and any axes (stable across processes and machines)."""
    key = "|".join([str(seed), *map(str, axes)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True, order=True)
class Cell:
    task: str
    modality_set: str
    estimator: str
    fusion: str
    repeat: int
    fold: int

    @property
    def cell_id(self) -> str:
        return f"{self.task}/{self.modality_set}/{self.estimator}/{self.fusion}/r{self.repeat}f{self.fold}"

    @property
    def model_id(self) -> str:
        """The cell without its fold: the unit that is scored and compared."""
        return f"{self.task}/{self.modality_set}/{self.estimator}/{self.fusion}"

    @property
    def modalities(self) -> list[str]:
        return [] if self.modality_set == BASELINE_SET else self.modality_set.split("+")

    @property
    def is_late(self) -> bool:
        return self.fusion in LATE_FUSIONS

    def seed(self, global_seed: int) -> int:
        return derive_seed(global_seed, "cell", self.cell_id)

    def as_dict(self) -> dict[str, object]:
        return {"cell_id": self.cell_id, **asdict(self)}


def split_seed(global_seed: int, task: str, repeat: int) -> int:
    """Outer folds depend only on task and repeat, so every cell of a repeat sees the same folds."""
    return derive_seed(global_seed, "split", task, repeat)


def build_matrix(config: RunConfig) -> list[Cell]:
    """All cells of the configured matrix, in a stable order.

    Single-modality sets take the fusion "single"; sets of two or more take every configured fusion.
    Hybrid fusion is a network of its own, so it appears once per set with estimator "hybrid".
    """
    cells: set[Cell] = set()
    multi = [f for f in config.fusions if f != "single"]
    for task in config.tasks:
        for r in range(config.repeats):
            for k in range(config.folds):
                if config.baseline:
                    cells.add(Cell(task, BASELINE_SET, BASELINE_ESTIMATOR, "none", r, k))
                for mset in config.modality_set_names():
                    n_mod = mset.count("+") + 1
                    for fusion in ["single"] if n_mod == 1 else multi:
                        if fusion.startswith("hybrid"):
                            cells.add(Cell(task, mset, HYBRID_ESTIMATOR, fusion, r, k))
                            continue
                        for est in config.estimators:
                            cells.add(Cell(task, mset, est, fusion, r, k))
    return sorted(cells)


def unimodal_sources(cell: Cell) -> list[Cell]:
    """The single-modality cells whose stored predictions a late-fusion cell combines."""
    return [
        Cell(cell.task, m, cell.estimator, "single", cell.repeat, cell.fold) for m in cell.modalities
    ]
