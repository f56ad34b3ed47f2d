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
from benchmarks.cohort.selection import DEFAULT_SELECTION, SelectionError, selection_rules
from benchmarks.experiment.resources import usable_cores
from features.engine import DEFAULT_FEATURES


class ConfigError(UserError, ValueError):
    """A configuration (profile, TOML file, flag or task definition) that cannot be run; says how to fix it."""


PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
PROFILES = ("smoke", "quick", "default", "deep")
VALIDATIONS = ("cv", "site")


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
    # modalities the endpoint is computed from (CDAI and HBI from the PRO diary items): models reading
    # them are not an independent prediction; the report flags it (LABEL_DERIVED_FROM_FEATURE)
    derived_from: tuple[str, ...] = ()

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
        derived = spec.get("derived_from", ())
        if isinstance(derived, str) or not all(m in MODALITIES for m in derived):
            raise ConfigError(
                f"task {name!r}: derived_from must be a list of modalities among {list(MODALITIES)}, "
                f"got {derived!r}"
            )
        spec["derived_from"] = tuple(derived)
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
    # which scan / reports / questionnaire a patient's features come from when there are several: a rule
    # name for every modality or a table modality -> rule (benchmarks.cohort.selection); stored complete
    selection: dict[str, str] | str = field(default_factory=lambda: dict(DEFAULT_SELECTION))
    # validation: "cv" (outer cross-validation only) | "site" (also leave-one-site-out outer folds, or one
    # split train_sites -> test_sites; giving either list implies "site"); benchmarks.experiment.taskdata
    validation: str = "cv"
    train_sites: list[str] = field(default_factory=list)
    test_sites: list[str] = field(default_factory=list)
    # modality blocks harmonised by site with ComBat inside every fit (models.harmonise); each external
    # (site-fold) model that reads one also runs harmonised, beside the unharmonised one
    harmonise: list[str] = field(default_factory=list)
    # AUC with modalities withheld from a share of the test patients, computed in each fused cell
    robustness: bool = False
    # models on the raw data (estimator "deep", fusion "attention"): fixed parameters of their networks
    # (e.g. max_epochs) and of the raw inputs they read, per modality (features.raw.build_raw_inputs)
    deep_params: dict[str, Any] = field(default_factory=dict)
    raw_params: dict[str, dict[str, Any]] = field(default_factory=dict)
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
        if self.train_sites or self.test_sites:
            self.validation = "site"
        if self.validation not in VALIDATIONS:
            raise ConfigError(f"validation must be one of {VALIDATIONS}, got {self.validation!r}")
        self.train_sites = [str(s) for s in self.train_sites]
        self.test_sites = [str(s) for s in self.test_sites]
        both = sorted(set(self.train_sites) & set(self.test_sites))
        if both:
            raise ConfigError(f"sites {both} are in both train_sites and test_sites; give each site once")
        if self.harmonise and self.validation != "site":
            raise ConfigError("harmonise compares site folds with and without ComBat: set validation 'site'")
        unknown = sorted(set(self.harmonise) - set(MODALITIES))
        if unknown:
            raise ConfigError(f"harmonise: unknown modalities {unknown}; choose from {list(MODALITIES)}")
        unknown = sorted(set(self.raw_params) - set(MODALITIES))
        if unknown:
            raise ConfigError(f"raw_params: unknown modalities {unknown}; choose from {list(MODALITIES)}")
        try:
            self.selection = selection_rules(self.selection)
        except SelectionError as exc:
            raise ConfigError(f"{exc} (in the run configuration)") from None

    def modality_set_names(self) -> list[str]:
        """The modality sets of the matrix in canonical names; ``"all"`` means every non-empty subset."""
        if self.modality_sets == "all":
            return [modality_set_name(c) for k in (1, 2, 3) for c in combinations(MODALITIES, k)]
        return [modality_set_name(s.split("+")) for s in self.modality_sets]

    def network_params(self) -> dict[str, Any]:
        """``deep_params`` as pipeline parameters of the deep networks (``clf__<name>``). Cells run in
        parallel (``n_jobs`` > 1 or a scheduler) train without epoch bars unless ``deep_params`` asks for
        them: several workers' bars would interleave with the cells bar on one console."""
        params = dict(self.deep_params)
        if self.n_jobs > 1 or self.scheduler:
            params.setdefault("progress", False)
        return {f"clf__{k}": v for k, v in params.items()}

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
    """Profile, then the user's TOML file, then explicit overrides (``None`` values are ignored; a
    ``selection`` table given both ways is merged, the override winning per modality)."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose from {PROFILES}")
    values: dict[str, Any] = tomllib.loads((PROFILES_DIR / f"{profile}.toml").read_text(encoding="utf-8"))
    if config_file is not None:
        values.update(read_config_file(config_file))
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "selection" and isinstance(value, dict) and isinstance(values.get(key), dict):
            value = {**values[key], **value}  # a flag's rules complete the file's table
        values[key] = value
    values["profile"] = profile
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        where = f" in {config_file}" if config_file is not None else ""
        raise ConfigError(
            f"unknown configuration keys {unknown}{where}; rename or remove them (known: {sorted(known)})"
        )
    return RunConfig(**values)
