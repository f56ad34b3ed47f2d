"""Run an extractor over a cohort: parallel over patients, cached by recipe, failures recorded.

The cache holds one parquet table per recipe (extractor name and version, parameters, library versions).
Each row carries the fingerprint of the patient's inputs (content hashes of files, hashes of texts), so a
changed input is recomputed and an unchanged one is read back. Failed cases are rows with their reason.
Report text never reaches the cache: fingerprints are hashes and rows hold derived numbers only.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from joblib import Parallel, delayed

from features.progress import progress_bar


class Extractor(Protocol):
    """What the engine needs of an extractor (``features.base.Extractor`` is the contract that has it)."""

    name: str
    version: str
    modality: str
    prefix: str

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def inputs(self, cohort: Any, patient_id: str) -> Any: ...

    def input_fingerprint(self, inputs: Any) -> str: ...

    def extract(self, inputs: Any) -> dict[str, float]: ...


FINGERPRINT = "_fingerprint"
ERROR = "_error"
DEFAULT_LIBRARIES = ("numpy", "pandas", "scikit-learn")
COUNT_PREFIX = "cnt__"  # features named cnt__* are sparse counts: a key a case lacks counts as 0
FLUSH_EVERY = 64  # rows computed between atomic cache writes, so an interrupted run keeps its work


@dataclass
class ExtractionResult:
    """Features of one extractor: ``features`` (index patient_id, prefixed columns) and ``failures``."""

    extractor: str
    features: pd.DataFrame
    failures: pd.DataFrame
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0
    recipe: dict[str, Any] = field(default_factory=dict)


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the named distributions ('absent' when not installed)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def recipe_of(extractor: Extractor) -> dict[str, Any]:
    """The cache recipe: everything that determines the extractor's output except the inputs."""
    libs = getattr(extractor, "libraries", DEFAULT_LIBRARIES)
    return {
        "name": extractor.name,
        "version": extractor.version,
        "params": _jsonable(extractor.get_params(deep=False)),
        "libraries": library_versions(libs),
        "python": platform.python_version(),
    }


def recipe_hash(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


MAX_REASON_CHARS = 1000
"""Longest failure reason kept: room for two absolute paths and the fix, not for a stray long message."""


def _safe_reason(exc: BaseException) -> str:
    # Extractors must not put report text in messages; the cut keeps a stray long message out of tables.
    return f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]


def _run_one(extractor: Extractor, pid: str, inputs: Any) -> tuple[str, dict[str, float] | None, str | None]:
    try:
        values = extractor.extract(inputs)
        return pid, {k: float(v) for k, v in values.items()}, None
    except Exception as exc:  # one bad case is a recorded missing value, never a crashed run
        return pid, None, _safe_reason(exc)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class FeatureCache(Protocol):
    """Where extracted rows are kept between runs: one table per extractor name and recipe hash.

    The engine only reads and writes through this interface; ``benchmarks.store.FeatureCache`` is the
    implementation over a folder (atomic writes).
    """

    def exists(self, name: str, key: str) -> bool: ...

    def read(self, name: str, key: str) -> pd.DataFrame: ...

    def write(self, name: str, key: str, frame: pd.DataFrame) -> None: ...

    def describe(self, name: str, key: str, recipe: dict[str, Any]) -> None: ...


def extract_features(
    extractor: Extractor,
    cohort: Any,
    patient_ids: list[str] | None = None,
    *,
    n_jobs: int = 1,
    cache: FeatureCache | None = None,
    force: bool = False,
    progress: bool = True,
) -> ExtractionResult:
    """Extract features for ``patient_ids`` (default: every patient with the extractor's modality).

    Rows found in ``cache`` under the extractor's recipe with the same input fingerprint are reused
    (never with ``force``); computed rows are written back every ``FLUSH_EVERY`` patients.
    """
    start = time.perf_counter()
    if patient_ids is None:
        avail = cohort.availability[extractor.modality]
        patient_ids = [str(p) for p in avail.index[avail.to_numpy(bool)]]
    recipe = recipe_of(extractor)
    key = recipe_hash(recipe)
    cached = pd.DataFrame()
    if cache is not None:
        if cache.exists(extractor.name, key) and not force:
            cached = cache.read(extractor.name, key)
        cache.describe(extractor.name, key, recipe)

    todo: list[tuple[str, Any]] = []
    rows: dict[str, dict[str, Any]] = {}
    fingerprints: dict[str, str] = {}
    for pid in patient_ids:
        try:
            inputs = extractor.inputs(cohort, pid)
            fp = extractor.input_fingerprint(inputs)
        except Exception as exc:
            rows[pid] = {FINGERPRINT: "", ERROR: _safe_reason(exc)}
            continue
        fingerprints[pid] = fp
        if pid in cached.index and cached.at[pid, FINGERPRINT] == fp:
            rows[pid] = cached.loc[pid].to_dict()
        else:
            todo.append((pid, inputs))
    n_cached = len(rows)

    def store() -> None:
        if cache is None:
            return
        keep = cached.drop(index=[p for p in rows if p in cached.index])
        frame = pd.concat([keep, pd.DataFrame.from_dict(rows, orient="index")])
        frame.index.name = "patient_id"
        cache.write(extractor.name, key, frame.sort_index())

    if todo:
        bar = progress_bar(len(todo), f"extract {extractor.name}", "patient", disable=not progress)
        with Parallel(n_jobs=n_jobs, backend="loky", return_as="generator") as parallel:
            since_flush = 0
            for chunk in _chunks(todo, FLUSH_EVERY):
                for pid, values, reason in parallel(delayed(_run_one)(extractor, p, inp) for p, inp in chunk):
                    row: dict[str, Any] = {FINGERPRINT: fingerprints[pid], ERROR: reason}
                    row.update(values or {})
                    rows[pid] = row
                    bar.update(1)
                    since_flush += 1
                if since_flush:
                    store()
                    since_flush = 0
        bar.close()
    elif cache is not None and not cache.exists(extractor.name, key):
        store()

    # No patient (an absent or empty modality table) gives no row and no column: zero features, no failure.
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(index=patient_ids)
    table = table.reindex(columns=list(dict.fromkeys([FINGERPRINT, ERROR, *table.columns])))
    table.index.name = "patient_id"
    failed = table[ERROR].notna()
    failures = pd.DataFrame(
        {"patient_id": table.index[failed], "extractor": extractor.name, "reason": table.loc[failed, ERROR]}
    ).reset_index(drop=True)
    feats = table.loc[~failed].drop(columns=[FINGERPRINT, ERROR], errors="ignore")
    feats = feats.dropna(axis=1, how="all").astype(float)
    counts = [c for c in feats.columns if str(c).startswith(COUNT_PREFIX)]
    feats[counts] = feats[counts].fillna(0.0)  # sparse counts: an absent key means zero mentions
    feats = feats[sorted(feats.columns)]
    feats.columns = [f"{extractor.prefix}{c}" for c in feats.columns]
    return ExtractionResult(
        extractor=extractor.name,
        features=feats,
        failures=failures,
        n_cached=n_cached,
        n_computed=len(todo),
        seconds=time.perf_counter() - start,
        recipe=recipe,
    )


DEFAULT_FEATURES: dict[str, list[str]] = {
    "imaging": ["radiomics"],
    "text": ["report_concepts", "report_embeddings"],
    "pro": ["pro_indices"],
}


@dataclass
class FeatureSet:
    """Per-modality feature frames of a cohort plus every failed case, ready for the design matrix."""

    blocks: dict[str, pd.DataFrame]
    failures: pd.DataFrame
    results: list[ExtractionResult]

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "extractor": r.extractor,
                    "patients": len(r.features),
                    "features": r.features.shape[1],
                    "failed": len(r.failures),
                    "cached": r.n_cached,
                    "computed": r.n_computed,
                    "seconds": round(r.seconds, 2),
                }
                for r in self.results
            ]
        )


def extract_modalities(
    cohort: Any,
    features: dict[str, list[str]] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    **engine_kwargs: Any,
) -> FeatureSet:
    """Run every configured extractor; join each modality's extractors into one block per modality."""
    from features.registry import make_extractor

    features = DEFAULT_FEATURES if features is None else features
    params = params or {}
    blocks, results = {}, []
    for modality, names in features.items():
        frames = []
        for name in names:
            extractor = make_extractor(name, **params.get(name, {}))
            if extractor.modality != modality:
                raise ValueError(
                    f"extractor {name!r} is for {extractor.modality!r}, configured under {modality!r}"
                )
            res = extract_features(extractor, cohort, **engine_kwargs)
            results.append(res)
            frames.append(res.features)
        if frames:
            # a patient counts as having the modality when at least one of its extractors succeeded
            blocks[modality] = pd.concat(frames, axis=1, join="outer").sort_index()
    failures = pd.concat([r.failures for r in results], ignore_index=True) if results else pd.DataFrame()
    return FeatureSet(blocks=blocks, failures=failures, results=results)
