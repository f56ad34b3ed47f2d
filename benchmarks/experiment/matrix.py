"""The experiment matrix: cells = task x modality set x estimator x fusion x repeat x outer fold.

Cell ids are stable strings built from the axes; seeds are derived from the global seed and the axes, so
a cell computes the same thing wherever and whenever it runs.

Two more axes, both with a default that leaves the cell id (hence its seed) as it always was:

- ``validation``: "internal" (the outer cross-validation folds of a repeat) or "external" (the site folds
  of ``benchmarks.experiment.taskdata``: leave-one-site-out, or one train-sites -> test-sites split;
  repeat 0 only, since they are not random);
- ``harmonise``: "none", or the modalities of the cell harmonised by site with ComBat (``models.harmonise``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from benchmarks.store import BASELINE_ESTIMATOR, BASELINE_SET, SINGLE_FUSION
from models.registry import FUSIONS, cost_of, uses_raw

LATE_FUSIONS = tuple(name for name, spec in FUSIONS.items() if spec.kind == "late")
HYBRID_FUSIONS = tuple(name for name, spec in FUSIONS.items() if spec.kind == "hybrid")
BASELINE_FUSION = "none"
INTERNAL = "internal"
EXTERNAL = "external"
NO_HARMONISE = "none"


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
    validation: str = INTERNAL
    harmonise: str = NO_HARMONISE

    @property
    def cell_id(self) -> str:
        tag = "" if self.validation == INTERNAL else f"{self.validation}/"
        tag += "" if self.harmonise == NO_HARMONISE else f"combat-{self.harmonise}/"
        return (
            f"{self.task}/{self.modality_set}/{self.estimator}/{self.fusion}/{tag}r{self.repeat}f{self.fold}"
        )

    @property
    def model_id(self) -> str:
        """The cell without its fold: the unit that is scored and compared."""
        return f"{self.task}/{self.modality_set}/{self.estimator}/{self.fusion}"

    @property
    def modalities(self) -> list[str]:
        return [] if self.is_baseline else self.modality_set.split("+")

    @property
    def is_late(self) -> bool:
        return self.fusion in LATE_FUSIONS

    @property
    def is_hybrid(self) -> bool:
        return self.fusion in HYBRID_FUSIONS

    @property
    def is_baseline(self) -> bool:
        return self.modality_set == BASELINE_SET

    @property
    def is_external(self) -> bool:
        return self.validation == EXTERNAL

    @property
    def harmonised(self) -> list[str]:
        """The modalities this cell harmonises (empty for "none")."""
        return [] if self.harmonise == NO_HARMONISE else self.harmonise.split("+")

    @property
    def is_fused(self) -> bool:
        """A model over two or more modalities (early, late or hybrid fusion)."""
        return len(self.modalities) >= 2

    def seed(self, global_seed: int) -> int:
        return derive_seed(global_seed, "cell", self.cell_id)

    def as_dict(self) -> dict[str, object]:
        return {"cell_id": self.cell_id, **asdict(self)}


def split_seed(global_seed: int, task: str, repeat: int) -> int:
    """Outer folds depend only on task and repeat, so every cell of a repeat sees the same folds."""
    return derive_seed(global_seed, "split", task, repeat)


def build_matrix(
    tasks: Sequence[str],
    modality_sets: Sequence[str],
    estimators: Sequence[str],
    fusions: Sequence[str],
    *,
    repeats: int,
    folds: int,
    baseline: bool,
    site_folds: Mapping[str, int] | None = None,
    harmonise: Sequence[str] = (),
) -> list[Cell]:
    """All cells of the matrix, in a stable order.

    Single-modality sets take the fusion "single"; sets of two or more take every other fusion.
    A hybrid fusion is a network of its own, so it appears once per set with its registered estimator
    name ("hybrid", or "deep" for the attention fusion of raw encoders). An estimator on the raw data
    (``EstimatorSpec.raw``) has no early fusion: that pairing is not a cell.
    ``site_folds`` (task -> number of site folds) adds the external cells of each task (repeat 0).
    ``harmonise`` adds, for every external cell reading one of these modalities, the same cell harmonised
    (what the report compares: the external AUC with and without harmonisation).
    """
    cells: set[Cell] = set()
    multi = [f for f in fusions if f != SINGLE_FUSION]
    for task in tasks:
        schemes = [(INTERNAL, r, k) for r in range(repeats) for k in range(folds)]
        schemes += [(EXTERNAL, 0, k) for k in range((site_folds or {}).get(task, 0))]
        for validation, r, k in schemes:
            if baseline:
                cells.add(Cell(task, BASELINE_SET, BASELINE_ESTIMATOR, BASELINE_FUSION, r, k, validation))
            for mset in modality_sets:
                n_mod = mset.count("+") + 1
                for fusion in [SINGLE_FUSION] if n_mod == 1 else multi:
                    ests = [FUSIONS[fusion].estimator] if fusion in HYBRID_FUSIONS else estimators
                    for est in ests:
                        if FUSIONS[fusion].kind == "early" and uses_raw(est, fusion):
                            continue
                        cell = Cell(task, mset, est, fusion, r, k, validation)
                        cells.add(cell)
                        tag = harmonise_tag(cell.modalities, harmonise)
                        if tag != NO_HARMONISE and validation == EXTERNAL:
                            cells.add(replace(cell, harmonise=tag))
    return sorted(cells)


def harmonise_tag(modalities: Sequence[str], harmonise: Sequence[str]) -> str:
    """The ``harmonise`` axis of a cell over ``modalities`` when ``harmonise`` modalities are harmonised."""
    mods = [m for m in modalities if m in set(harmonise)]
    return "+".join(mods) if mods else NO_HARMONISE


def unimodal_sources(cell: Cell) -> list[Cell]:
    """The single-modality cells whose stored predictions a late-fusion cell combines."""
    return [
        Cell(
            cell.task,
            m,
            cell.estimator,
            SINGLE_FUSION,
            cell.repeat,
            cell.fold,
            cell.validation,
            harmonise_tag([m], cell.harmonised),
        )  # fmt: skip
        for m in cell.modalities
    ]


def expected_cost(cell: Cell) -> float:
    """A cell's rough relative fitting time: its estimator's (or hybrid network's) cost per modality."""
    return cost_of(cell.estimator, cell.fusion) * len(cell.modalities)


def largest_first(cells: Sequence[Cell]) -> list[Cell]:
    """Cells by decreasing expected cost (ties in the given order), so cheap cells fill the workers' tails.

    Only the order of submission changes: every cell carries its own seed, so results do not depend on it.
    """
    return sorted(cells, key=expected_cost, reverse=True)


def plan_cells(cells: list[Cell], late_fusion: str) -> tuple[list[Cell], list[Cell]]:
    """(cells to fit, late cells to combine from stored unimodal predictions).

    With ``late_fusion="reuse"`` a late cell is not fitted: it combines the stored predictions of its
    single-modality cells, which are added to the cells to fit when the matrix lacks them.
    """
    if late_fusion == "refit":
        return list(cells), []
    late = [c for c in cells if c.is_late]
    fit = [c for c in cells if not c.is_late]
    needed = {s for c in late for s in unimodal_sources(c)}
    return sorted(set(fit) | needed), late
