"""Run an extractor over a cohort: parallel over patients, cached by recipe, failures recorded.

The cache holds one parquet table per recipe (extractor name and version, parameters, library versions).
Each row carries the fingerprint of the patient's inputs (content hashes of files, hashes of texts), so a
changed input is recomputed and an unchanged one is read back. Failed cases are rows with their reason and
category; a failure read back from the cache is reused as a failure, never counted as cached.
Report text never reaches the cache: fingerprints are hashes and rows hold derived numbers only.

An extractor may be made of parts (``parts()``, e.g. one radiomics extractor per scan modality): each part
is extracted and cached on its own recipe, and the parts' frames are joined into the modality's block. A
part whose ``inputs`` is None for a patient does not apply to them (no row, no failure); a patient who has
the modality but gets features from no part is named in :attr:`FeatureSet.lost`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
CATEGORY = "_category"  # cache rows written before categories existed lack it (derived from the reason)
FAILURE_COLUMNS = ["patient_id", "extractor", "part", "modality", "category", "reason"]
"""Columns of a failures table (``extraction_failures.parquet``): one row per failed patient and part."""
DEFAULT_CATEGORY = "extraction error"  # ``features.base.ExtractionError``'s default category
NO_APPLICABLE_PART = "no applicable part"
"""Category of a patient who has the modality but to whom no part of any of its extractors applies."""
FIXES: dict[str, str] = {
    "unreadable file": "check the path in imaging.csv and that the file is a readable image or mask",
    "geometry mismatch": "resample the mask onto its image's grid (size, spacing, origin and direction), "
    "e.g. SimpleITK Resample with nearest-neighbour interpolation",
    "label absent": "set the label column of imaging.csv to the mask's lesion label(s) or structure name",
    "mask mismatch": "give the mask drawn on this image series, or name its regions in the label column",
    "empty mask": "check the mask and the label column of imaging.csv: the region has no voxel",
    "non-finite voxels": "replace the NaN or infinite voxels; `validate --deep` lists every such image",
    "pyradiomics error": "check the parameter file of this scan modality",
    "no parameter file": "give a parameter file for this scan modality (the radiomics extractor's params)",
    "invalid label": "fix the label cell in imaging.csv (e.g. 2, 1;2;3, ileum=1;colon=2 or a structure name)",
    "several scans": "give the scans a date or timepoint column and a selection rule, or keep one scan",
    "unsupported image": "give a 3D scalar image and a scalar label mask",
    NO_APPLICABLE_PART: "configure the extractor for this kind of input (for radiomics: a parameter file "
    "for the scan's modality)",
}
"""The fix printed beside each failure category on the console (the reasons also state theirs)."""
DEFAULT_LIBRARIES = ("numpy", "pandas", "scikit-learn")
COUNT_PREFIX = "cnt__"  # features named cnt__* are sparse counts: a key a case lacks counts as 0
FLUSH_EVERY = 64  # rows computed between atomic cache writes, so an interrupted run keeps its work


@dataclass
class ExtractionResult:
    """Features of one extractor part: ``features`` (index patient_id, prefixed columns) and ``failures``
    (:data:`FAILURE_COLUMNS`).

    ``n_cached`` counts successful rows read back from the cache, ``n_computed`` the patients extracted in
    this run (successes and failures); ``patient_ids`` are the patients considered and ``not_applicable``
    those of them the part does not apply to (``inputs`` gave None).
    """

    extractor: str
    features: pd.DataFrame
    failures: pd.DataFrame
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0
    recipe: dict[str, Any] = field(default_factory=dict)
    part: str = ""
    modality: str = ""
    patient_ids: list[str] = field(default_factory=list, repr=False)
    not_applicable: list[str] = field(default_factory=list, repr=False)

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    @property
    def n_not_applicable(self) -> int:
        return len(self.not_applicable)


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
    recipe = {
        "name": extractor.name,
        "version": extractor.version,
        "params": _jsonable(extractor.get_params(deep=False)),
        "libraries": library_versions(libs),
        "python": platform.python_version(),
    }
    if part_of(extractor):  # a whole extractor keeps the recipe (and cache) it always had
        recipe["part"] = part_of(extractor)
    return recipe


def part_of(extractor: Extractor) -> str:
    """The extractor's part name ("" for an extractor that is not a part of another)."""
    return str(getattr(extractor, "part", "") or "")


def extractor_parts(extractor: Extractor) -> list[Extractor]:
    """The parts of ``extractor`` (its ``parts()``), or the extractor itself when it has none.

    Parts must have distinct part names and the extractor's modality; an empty ``parts()`` is an error.
    """
    parts_of = getattr(extractor, "parts", None)
    if parts_of is None:
        return [extractor]
    parts = list(parts_of())
    if not parts:
        raise ValueError(f"extractor {extractor.name!r} has no parts: configure at least one")
    names = [part_of(p) for p in parts]
    if len(set(names)) != len(names) or "" in names:
        raise ValueError(
            f"extractor {extractor.name!r}: its parts need distinct, non-empty names, got {names}"
        )
    for p in parts:
        if p.modality != extractor.modality:
            raise ValueError(
                f"extractor {extractor.name!r}: part {part_of(p)!r} is for {p.modality!r}, "
                f"not {extractor.modality!r}"
            )
    return parts


def recipe_hash(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


MAX_REASON_CHARS = 1000
"""Longest failure reason kept: room for two absolute paths and the fix, not for a stray long message."""


def _safe_reason(exc: BaseException) -> str:
    # Extractors must not put report text in messages; the cut keeps a stray long message out of tables.
    return f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]


def failure_category(exc: BaseException) -> str:
    """``exc.category`` (``features.base.ExtractionError``) when it has one, else its type's name."""
    category = getattr(exc, "category", None)
    return str(category) if isinstance(category, str) and category else type(exc).__name__


def _category_of_reason(reason: str) -> str:
    """The category of a cache row written without one: the exception type that starts its reason."""
    kind = str(reason).split(":", 1)[0].strip()
    return DEFAULT_CATEGORY if kind in ("ExtractionError", "") else kind


def failure_fix(category: str) -> str:
    """The fix to print beside a failure category (:data:`FIXES`; else where to read the reasons)."""
    return FIXES.get(category, "see the reasons in extraction_failures.parquet (they name the file)")


def _failure(exc: BaseException) -> dict[str, Any]:
    return {ERROR: _safe_reason(exc), CATEGORY: failure_category(exc)}


def _run_one(extractor: Extractor, pid: str, inputs: Any) -> tuple[str, dict[str, Any]]:
    try:
        values = extractor.extract(inputs)
        return pid, {ERROR: None, CATEGORY: None, **{k: float(v) for k, v in values.items()}}
    except Exception as exc:  # one bad case is a recorded missing value, never a crashed run
        return pid, _failure(exc)


def _is_failure(row: dict[str, Any]) -> bool:
    return isinstance(row.get(ERROR), str)


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


RunChunk = Callable[[list[tuple[str, Any]]], Iterable[tuple[str, dict[str, Any]]]]


@contextmanager
def _patient_runner(extractor: Extractor, n_jobs: int, scheduler: str | None) -> Iterator[RunChunk]:
    """``run(chunk)``: the ``(pid, row)`` of each ``(pid, inputs)`` of the chunk, in the chunk's order, on
    ``n_jobs`` local loky processes or, given a Dask scheduler address, on that cluster's workers (the
    extractor is sent to each worker once; inputs are paths and texts, so the workers must see the cohort
    folder at the same path)."""
    if scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            remote = client.scatter(extractor, broadcast=True)

            def on_cluster(chunk: list[tuple[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
                futures = [client.submit(_run_one, remote, p, inp, pure=False) for p, inp in chunk]
                return client.gather(futures)

            yield on_cluster
        return
    with Parallel(n_jobs=n_jobs, backend="loky", return_as="generator") as parallel:
        yield lambda chunk: parallel(delayed(_run_one)(extractor, p, inp) for p, inp in chunk)


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
    scheduler: str | None = None,
) -> ExtractionResult:
    """Extract features for ``patient_ids`` (default: every patient with the extractor's modality).

    Rows found in ``cache`` under the extractor's recipe with the same input fingerprint are reused
    (never with ``force``): a success counts as cached, a recorded failure stays a failure. Computed rows
    are written back every ``FLUSH_EVERY`` patients. A patient whose ``inputs`` is None is not applicable:
    no row, no failure. An exception in ``inputs`` or ``input_fingerprint`` is a failure of that patient.
    With ``scheduler`` (a Dask address) the patients are extracted on that cluster's workers instead of
    ``n_jobs`` local processes; the rows and the cache are the same, written by this process only.
    """
    start = time.perf_counter()
    if patient_ids is None:
        avail = cohort.availability[extractor.modality]
        patient_ids = [str(p) for p in avail.index[avail.to_numpy(bool)]]
    part = part_of(extractor)
    label = f"{extractor.name} {part}".strip()
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
    not_applicable: list[str] = []
    n_cached = 0
    for pid in patient_ids:
        try:
            inputs = extractor.inputs(cohort, pid)
            if inputs is None:
                not_applicable.append(pid)
                continue
            fp = extractor.input_fingerprint(inputs)
        except Exception as exc:
            rows[pid] = {FINGERPRINT: "", **_failure(exc)}
            continue
        fingerprints[pid] = fp
        if pid in cached.index and cached.at[pid, FINGERPRINT] == fp:
            rows[pid] = row = cached.loc[pid].to_dict()
            n_cached += not _is_failure(row)
        else:
            todo.append((pid, inputs))

    def store() -> None:
        if cache is None:
            return
        keep = cached.drop(index=[p for p in rows if p in cached.index])
        frame = pd.concat([keep, pd.DataFrame.from_dict(rows, orient="index")])
        frame.index.name = "patient_id"
        cache.write(extractor.name, key, frame.sort_index())

    if todo:
        bar = progress_bar(len(todo), f"extract {label}", "patient", disable=not progress)
        with _patient_runner(extractor, n_jobs, scheduler) as run_chunk:
            since_flush = 0
            for chunk in _chunks(todo, FLUSH_EVERY):
                for pid, row in run_chunk(chunk):
                    rows[pid] = {FINGERPRINT: fingerprints[pid], **row}
                    bar.update(1)
                    since_flush += 1
                if since_flush:
                    store()
                    since_flush = 0
        bar.close()
    elif cache is not None and not cache.exists(extractor.name, key):
        store()

    # No patient (an absent or empty modality table) gives no row and no column: zero features, no failure.
    applicable = [p for p in patient_ids if p in rows]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(index=applicable)
    table = table.reindex(columns=list(dict.fromkeys([FINGERPRINT, ERROR, CATEGORY, *table.columns])))
    table.index.name = "patient_id"
    failed = table[ERROR].map(lambda v: isinstance(v, str)).astype(bool)
    reasons = table.loc[failed, ERROR].astype(str)
    categories = [
        c if isinstance(c, str) and c else _category_of_reason(r)
        for c, r in zip(table.loc[failed, CATEGORY], reasons, strict=True)
    ]
    failures = pd.DataFrame(
        {
            "patient_id": pd.Series(table.index[failed], dtype=object),
            "extractor": extractor.name,
            "part": part,
            "modality": extractor.modality,
            "category": pd.Series(categories, dtype=object),
            "reason": reasons.to_numpy(dtype=object),
        },
        columns=FAILURE_COLUMNS,
    )
    feats = table.loc[~failed].drop(columns=[FINGERPRINT, ERROR, CATEGORY], errors="ignore")
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
        part=part,
        modality=extractor.modality,
        patient_ids=list(patient_ids),
        not_applicable=not_applicable,
    )


DEFAULT_FEATURES: dict[str, list[str]] = {
    "imaging": ["radiomics"],
    "text": ["report_concepts", "report_embeddings"],
    "pro": ["pro_indices"],
}


@dataclass
class FeatureSet:
    """Per-modality feature frames of a cohort plus every failed case, ready for the design matrix.

    ``failures`` has :data:`FAILURE_COLUMNS`; ``lost`` maps each modality to the patients who have it
    but got features from none of its extractors' parts (every part failed or none applied).
    """

    blocks: dict[str, pd.DataFrame]
    failures: pd.DataFrame
    results: list[ExtractionResult]
    lost: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """One row per extractor part: patients with features, features, failed, not applicable, cached
        (successes read back), computed (extracted in this run) and seconds."""
        return pd.DataFrame(
            [
                {
                    "extractor": r.extractor,
                    "part": r.part,
                    "modality": r.modality,
                    "patients": len(r.features),
                    "features": r.features.shape[1],
                    "failed": r.n_failed,
                    "not_applicable": r.n_not_applicable,
                    "cached": r.n_cached,
                    "computed": r.n_computed,
                    "seconds": round(r.seconds, 2),
                }
                for r in self.results
            ],
            columns=SUMMARY_COLUMNS,
        )

    def failure_counts(self) -> pd.DataFrame:
        """Failures counted by modality, part and category (:func:`failure_counts`)."""
        return failure_counts(self.failures)

    def provenance(self) -> dict[str, Any]:
        """The run summary's ``extraction`` section: the per-part summary, the failures counted by
        modality, part and category (with an example reason) and the ids of the patients in ``lost``."""
        counts = self.failure_counts().drop(columns="fix")
        return {
            "parts": self.summary().to_dict(orient="records"),
            "n_failed": int(len(self.failures)),
            "failures": counts.to_dict(orient="records"),
            "lost_patients": {m: list(ids) for m, ids in sorted(self.lost.items())},
        }


SUMMARY_COLUMNS = [
    "extractor",
    "part",
    "modality",
    "patients",
    "features",
    "failed",
    "not_applicable",
    "cached",
    "computed",
    "seconds",
]
"""Columns of :meth:`FeatureSet.summary` (``features.parquet`` in the run folder)."""


def failure_counts(failures: pd.DataFrame) -> pd.DataFrame:
    """Failed patients per modality, part and category, with the first reason (by patient id) as example
    and the category's fix; sorted by modality, part, then the most frequent category first."""
    columns = ["modality", "part", "category", "n", "example", "fix"]
    if failures.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (modality, part, category), g in failures.groupby(["modality", "part", "category"], sort=True):
        first = g.sort_values("patient_id").iloc[0]
        rows.append(
            {
                "modality": modality,
                "part": part,
                "category": category,
                "n": int(g["patient_id"].nunique()),
                "example": str(first["reason"]),
                "fix": failure_fix(str(category)),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    out["_neg"] = -out["n"]
    return (
        out.sort_values(["modality", "part", "_neg", "category"]).drop(columns="_neg").reset_index(drop=True)
    )


def _join_parts(frames: list[tuple[str, pd.DataFrame]], modality: str) -> pd.DataFrame:
    """Outer join of the parts' frames; two parts giving the same column is a configuration error."""
    seen: dict[str, str] = {}
    for label, frame in frames:
        clash = sorted(c for c in frame.columns if c in seen)
        if clash:
            raise ValueError(
                f"{modality}: extractors {seen[clash[0]]!r} and {label!r} both give column(s) "
                f"{clash[:3]}; give each its own prefix"
            )
        seen.update(dict.fromkeys(frame.columns, label))
    return pd.concat([f for _, f in frames], axis=1, join="outer").sort_index()


def _unapplied_failures(modality: str, names: list[str], patient_ids: list[str]) -> pd.DataFrame:
    """Failure rows of patients who have ``modality`` but to whom no part of its extractors applies."""
    which = ", ".join(names)
    return pd.DataFrame(
        {
            "patient_id": patient_ids,
            "extractor": "+".join(names),
            "part": "",
            "modality": modality,
            "category": NO_APPLICABLE_PART,
            "reason": [
                f"patient {p} has {modality} data but no configured part of {which} applies to it; "
                f"{FIXES[NO_APPLICABLE_PART]}"
                for p in patient_ids
            ],
        },
        columns=FAILURE_COLUMNS,
    )


def extract_modalities(
    cohort: Any,
    features: dict[str, list[str]] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    **engine_kwargs: Any,
) -> FeatureSet:
    """Run every configured extractor, each part on its own (:func:`extractor_parts`), and join each
    modality's parts into one block (outer join).

    A patient has the modality's block when at least one part succeeded. One who has the modality but got
    features from no part is listed in ``lost``; when no part applied to them either, a failure row of
    category :data:`NO_APPLICABLE_PART` says so (nothing is dropped silently).
    """
    from features.registry import make_extractor

    features = DEFAULT_FEATURES if features is None else features
    params = params or {}
    blocks: dict[str, pd.DataFrame] = {}
    results: list[ExtractionResult] = []
    extra: list[pd.DataFrame] = []
    lost: dict[str, list[str]] = {}
    for modality, names in features.items():
        frames: list[tuple[str, pd.DataFrame]] = []
        mine: list[ExtractionResult] = []
        for name in names:
            extractor = make_extractor(name, **params.get(name, {}))
            if extractor.modality != modality:
                raise ValueError(
                    f"extractor {name!r} is for {extractor.modality!r}, configured under {modality!r}"
                )
            for part in extractor_parts(extractor):
                res = extract_features(part, cohort, **engine_kwargs)
                mine.append(res)
                frames.append((f"{name} {res.part}".strip(), res.features))
        results += mine
        if not frames:
            continue
        blocks[modality] = _join_parts(frames, modality)
        considered = dict.fromkeys(p for r in mine for p in r.patient_ids)
        failed = {p for r in mine for p in r.failures["patient_id"]}
        missing = [p for p in considered if p not in blocks[modality].index]
        unapplied = [p for p in missing if p not in failed]
        if unapplied:
            extra.append(_unapplied_failures(modality, list(names), unapplied))
        if missing:
            lost[modality] = sorted(missing)
    tables = [r.failures for r in results] + extra
    nonempty = [t for t in tables if len(t)]
    failures = pd.concat(nonempty, ignore_index=True) if nonempty else pd.DataFrame(columns=FAILURE_COLUMNS)
    return FeatureSet(blocks=blocks, failures=failures.astype(object), results=results, lost=lost)
