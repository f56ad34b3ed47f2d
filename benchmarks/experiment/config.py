"""Run configuration: a profile (smoke/default) overlaid by a user TOML file and then by CLI flags.

Keys in TOML files mirror the command-line flags (``--n-jobs`` is ``n_jobs``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from itertools import combinations
from pathlib import Path
from typing import Any

from benchmarks.cohort.problems import UserError
from benchmarks.cohort.schema import MODALITIES, modality_set_name
from benchmarks.experiment.resources import usable_cores
from features.engine import DEFAULT_FEATURES


class ConfigError(UserError, ValueError):
    """A configuration (profile, TOML file, flag or task definition) that cannot be run; says how to fix it."""


PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
PROFILES = ("smoke", "default")


@dataclass(frozen=True)
class TaskDef:
    """One prediction target defined from an endpoint column of patients.csv."""

    name: str
    type: str  # "binary" | "multiclass"
    endpoint: str
    description: str = ""
    family: str = ""
    threshold: float | None = None
    classes: tuple[str, ...] = ()

    @property
    def n_classes(self) -> int:
        return 2 if self.type == "binary" else len(self.classes)

    @property
    def class_names(self) -> list[str]:
        if self.type == "binary":
            return [f"{self.endpoint} < {self.threshold:g}", f"{self.endpoint} >= {self.threshold:g}"]
        return list(self.classes)


def load_tasks(path: str | Path | None = None) -> dict[str, TaskDef]:
    """Task definitions from a TOML file (default: the shipped ``profiles/tasks.toml``)."""
    raw = tomllib.loads(Path(path or PROFILES_DIR / "tasks.toml").read_text(encoding="utf-8"))
    tasks = {}
    for name, spec in raw.items():
        spec = dict(spec)
        if spec.get("type") not in ("binary", "multiclass"):
            raise ConfigError(
                f"task {name!r}: type must be 'binary' or 'multiclass', got {spec.get('type')!r}"
            )
        if spec["type"] == "binary" and "threshold" not in spec:
            raise ConfigError(f"task {name!r}: a binary task needs a 'threshold'")
        if spec["type"] == "multiclass" and len(spec.get("classes", ())) < 3:
            raise ConfigError(f"task {name!r}: a multiclass task needs at least 3 'classes'")
        spec["classes"] = tuple(spec.get("classes", ()))
        tasks[name] = TaskDef(name=name, **spec)
    return tasks


@dataclass
class RunConfig:
    """Everything that determines a run. Its hash identifies the run's results."""

    profile: str = "default"
    seed: int = 20261127
    n: int | None = 400  # synthetic cohort size; None when the run reads a user's cohort
    tasks: list[str] = field(default_factory=lambda: ["endo_active"])
    modality_sets: list[str] | str = "all"
    estimators: list[str] = field(default_factory=lambda: ["enet"])
    fusions: list[str] = field(default_factory=lambda: ["single", "early"])
    baseline: bool = True
    repeats: int = 1
    folds: int = 5
    n_trials: int = 5
    inner_splits: int = 3
    late_fusion: str = "reuse"  # "reuse" stored unimodal predictions | "refit" per-modality models
    n_boot: int = 1000
    permute_labels: bool = False
    features: dict[str, list[str]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_FEATURES))
    extractor_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks_file: str | None = None
    # execution only: not part of the identity of the results
    n_jobs: int = field(default_factory=usable_cores)  # every usable core (affinity, cgroup quota)
    scheduler: str | None = None
    storage: str | None = None
    # the matrix's fast path (same results): work shared across a cell's trials, largest cells first;
    # False for both is the plain path that benchmarks.perf.bench_matrix times as its baseline
    share_fold_work: bool = True
    largest_first: bool = True

    EXECUTION_KEYS = ("n_jobs", "scheduler", "storage", "share_fold_work", "largest_first")

    def __post_init__(self) -> None:
        if self.late_fusion not in ("reuse", "refit"):
            raise ConfigError(f"late_fusion must be 'reuse' or 'refit', got {self.late_fusion!r}")
        if self.folds < 2 or self.repeats < 1:
            raise ConfigError("folds must be >= 2 and repeats >= 1")

    def modality_set_names(self) -> list[str]:
        """The modality sets of the matrix in canonical names; ``"all"`` means every non-empty subset."""
        if self.modality_sets == "all":
            return [modality_set_name(c) for k in (1, 2, 3) for c in combinations(MODALITIES, k)]
        return [modality_set_name(s.split("+")) for s in self.modality_sets]

    def task_defs(self) -> dict[str, TaskDef]:
        known = load_tasks(self.tasks_file)
        missing = [t for t in self.tasks if t not in known]
        if missing:
            raise ConfigError(f"unknown tasks {missing}; defined: {sorted(known)}")
        return {t: known[t] for t in self.tasks}

    def identity(self) -> dict[str, Any]:
        d = asdict(self)
        for k in self.EXECUTION_KEYS:
            d.pop(k, None)
        return d

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:12]


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The keys of a user's TOML configuration file; a missing or malformed file is a ConfigError."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found; check the --config path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"configuration file {path} cannot be read ({exc}); save it as UTF-8 text"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None


def load_config(
    profile: str = "default", config_file: str | Path | None = None, **overrides: Any
) -> RunConfig:
    """Profile, then the user's TOML file, then explicit overrides (``None`` values are ignored)."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {PROFILES}")
    values: dict[str, Any] = tomllib.loads((PROFILES_DIR / f"{profile}.toml").read_text(encoding="utf-8"))
    if config_file is not None:
        values.update(read_config_file(config_file))
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["profile"] = profile
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        where = f" in {config_file}" if config_file is not None else ""
        raise ConfigError(
            f"unknown configuration keys {unknown}{where}; rename or remove them (known: {sorted(known)})"
        )
    return RunConfig(**values)
