"""The data of one task: labels from an endpoint, the design matrix of modality blocks, the outer folds.

Site folds (``validation = "site"``), the external validation of a model trained at other centres:

- leave-one-site-out by default: one fold per site of patients.csv's ``site`` column, that site's
  patients as the test part and every other site's as the training part;
- ``train_sites`` / ``test_sites``: one fold, trained on the patients of the training sites (default: every
  site not tested) and tested on those of the test sites (default: every site not trained on);
- patients without a site are in no site fold (neither trained on nor tested: which centre they belong to
  is unknown); they stay in the internal cross-validation, and ``TaskData.info`` counts them;
- tuning happens inside the training part only, as for every outer fold (inner grouped CV);
- a cohort without a site column, with fewer than two sites, an unknown site asked for, or a tested site
  (or a training part) holding a single class is a ``ConfigError`` naming the site and the fix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedGroupKFold

from benchmarks.cohort.schema import MODALITIES, modality_set_name
from benchmarks.experiment.code_hash import digest
from benchmarks.experiment.config import ConfigError, TaskDef
from benchmarks.experiment.matrix import Cell, split_seed
from models.blocks import SEPARATOR, block_availability, split_blocks
from models.registry import uses_raw

SEPARATION_REPORTED = 0.9
"""Univariate AUC (either direction) from which a feature is listed in the feature-label checks."""


@dataclass
class TaskData:
    """The design matrix and labels of one task, with the outer folds of every repeat."""

    task: TaskDef
    X: pd.DataFrame  # index patient_id, columns "<modality>:<feature>"
    y: pd.Series  # int labels, same index
    patterns: pd.Series  # availability pattern per patient, e.g. "imaging+pro"
    folds: dict[int, list[tuple[np.ndarray, np.ndarray]]]  # repeat -> [(train_idx, test_idx), ...]
    keys: dict[str, str] = field(default_factory=dict)  # digest of config + labels ("") and of each block
    sites: pd.Series | None = None  # site per patient (same index as y; NaN: none recorded)
    site_folds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # external folds
    site_fold_sites: list[tuple[list[str], list[str]]] = field(default_factory=list)  # (train, test) sites
    raw: Any = None  # features.raw.RawInputs: images, report states, diaries for models on the raw data

    def key(self, cell: Cell) -> str:
        """A finished cell is reused only under the same config, labels and blocks of its modalities (and,
        for a site fold or a harmonised cell, the same sites)."""
        parts = [self.keys[""], *(self.keys[m] for m in cell.modalities)]
        if uses_raw(cell.estimator, cell.fusion):
            parts += [self.keys.get(f"raw:{m}", NO_RAW) for m in cell.modalities]
        if cell.is_external or cell.harmonised:
            parts += [cell.validation, cell.harmonise, self.keys.get("site", "")]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]

    def fold_of(self, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
        """(train_idx, test_idx) of a cell: an outer CV fold of its repeat, or a site fold."""
        if cell.is_external:
            return self.site_folds[cell.fold]
        return self.folds[cell.repeat][cell.fold]

    def columns_of(self, modalities: list[str]) -> list[str]:
        """The design-matrix columns of the given modalities, in matrix order."""
        blocks = split_blocks(self.X.columns)
        keep = set(modalities)
        return [c for m, cols in blocks.items() if m in keep for c in cols]

    def info(self) -> dict[str, object]:
        """The task's definition and class counts, as stored in ``tasks.json``."""
        t = self.task
        return {
            "type": t.type,
            "endpoint": t.endpoint,
            "description": t.description,
            "family": t.family,
            "threshold": t.threshold,
            "class_names": t.class_names,
            "n_patients": int(len(self.y)),
            "class_counts": {str(k): int(v) for k, v in self.y.value_counts().sort_index().items()},
            **self._site_info(),
        }

    def _site_info(self) -> dict[str, object]:
        if not self.site_folds:
            return {}
        folds = []
        for (tr, te), (train_sites, test_sites) in zip(self.site_folds, self.site_fold_sites, strict=True):
            folds.append({"train_sites": train_sites, "test_sites": test_sites, "n_train": int(len(tr)),
                          "n_test": int(len(te)), "test_class_counts": _counts(self.y.iloc[te])})  # fmt: skip
        assert self.sites is not None
        return {"site_folds": folds, "n_without_site": int(self.sites.isna().sum())}


NO_RAW = "no raw inputs"


def raw_key(raw: Any, modality: str) -> str:
    """A digest of the raw inputs of ``modality``: its recipe and each patient's record (content-addressed
    paths), so a cell on the raw data is reused only for the same raw data."""
    if raw is None:
        return NO_RAW
    items = [
        modality,
        sorted(raw.paths.get(modality, {}).items()),
        sorted(map(str, raw.info.get(modality, {}).items())),
    ]
    return digest("raw", np.zeros(0), items)


def _counts(y: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in y.value_counts().sort_index().items()}


def encode_labels(endpoints: pd.DataFrame, task: TaskDef) -> pd.Series:
    """Integer labels of ``task`` for patients whose endpoint is known (others are left out)."""
    if task.endpoint not in endpoints:
        raise ValueError(f"task {task.name!r} needs endpoint column {task.endpoint!r}, not in patients.csv")
    values = endpoints[task.endpoint].dropna()
    if task.type == "binary":
        return (pd.to_numeric(values) >= task.threshold).astype(int)
    codes = {c: i for i, c in enumerate(task.classes)}
    bad = sorted(set(values) - set(codes))
    if bad:
        raise ValueError(f"task {task.name!r}: {task.endpoint} has values {bad} outside {list(task.classes)}")
    return values.map(codes).astype(int)


def design_matrix(blocks: dict[str, pd.DataFrame], index: pd.Index) -> pd.DataFrame:
    """Concatenate modality blocks as ``"<modality>:<feature>"`` columns; absent modality -> NaN block."""
    parts = []
    for modality in MODALITIES:
        if modality in blocks:
            block = blocks[modality].reindex(index)
            block.columns = [f"{modality}{SEPARATOR}{c}" for c in block.columns]
            parts.append(block)
    X = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=index)
    X.index.name = "patient_id"
    return X.astype(float)


def availability_patterns(X: pd.DataFrame) -> pd.Series:
    """Each patient's available modalities as a canonical name (a block with any value counts)."""
    has = block_availability(X)
    names = [m for m in MODALITIES if m in has.columns]
    return pd.Series(
        [modality_set_name([m for m in names if row[m]]) for _, row in has.iterrows()],
        index=X.index,
        dtype=object,
    )


def outer_folds(y: pd.Series, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds grouped by patient (the index)."""
    groups = y.index.to_numpy()
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y.to_numpy(), groups)]


def site_folds(
    y: pd.Series,
    sites: pd.Series,
    *,
    task: str,
    train_sites: list[str] | tuple[str, ...] = (),
    test_sites: list[str] | tuple[str, ...] = (),
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[list[str], list[str]]]]:
    """The external folds (row positions in ``y``) and their (training, test) sites; see the module doc."""
    site = sites.reindex(y.index)
    known = sorted(site.dropna().astype(str).unique())
    if not known:
        raise ConfigError(
            f"task {task!r}: validation 'site' needs the 'site' column of patients.csv, and no patient with "
            "this endpoint has one; fill it in or run with validation 'cv'"
        )
    asked = [*train_sites, *test_sites]
    unknown = [s for s in asked if s not in known]
    if unknown:
        raise ConfigError(
            f"task {task!r}: site(s) {unknown} given in train_sites/test_sites are not in patients.csv's "
            f"'site' column among patients with this endpoint (sites: {known}); check their spelling"
        )
    if len(known) < 2:
        raise ConfigError(
            f"task {task!r}: validation 'site' needs patients from at least 2 sites, but every patient with "
            f"a site is from {known[0]!r}; run with validation 'cv'"
        )
    if train_sites or test_sites:
        test = list(test_sites) or [s for s in known if s not in set(train_sites)]
        train = list(train_sites) or [s for s in known if s not in set(test)]
        splits = [(sorted(train), sorted(test))]
    else:
        splits = [([s for s in known if s != held], [held]) for held in known]
    values = site.to_numpy(dtype=object)
    out, names = [], []
    for train, test in splits:
        tr = np.flatnonzero(np.isin(values, train))
        te = np.flatnonzero(np.isin(values, test))
        for part, idx, where in (("test", te, test), ("training", tr, train)):
            counts = _counts(y.iloc[idx])
            if len(idx) == 0 or len(counts) < 2:
                raise ConfigError(
                    f"task {task!r}: the {part} part of the site fold testing {test} (site(s) {where}) has "
                    f"class counts {counts}: an AUC needs both classes. Leave the site out with "
                    "--train-sites/--test-sites, or run with validation 'cv'"
                )
        out.append((tr, te))
        names.append((train, test))
    return out, names


def prepare_task_data(
    task: TaskDef,
    endpoints: pd.DataFrame,
    blocks: dict[str, pd.DataFrame],
    *,
    seed: int,
    folds: int,
    repeats: int,
    identity: str,
    permute_labels: bool = False,
    sites: pd.Series | None = None,
    validation: str = "cv",
    train_sites: list[str] | tuple[str, ...] = (),
    test_sites: list[str] | tuple[str, ...] = (),
    raw: Any = None,
) -> TaskData:
    """Labels, design matrix and outer folds of ``task``; ``identity`` (config and code hash) keys the cells.

    ``permute_labels`` shuffles the labels with a seed of their own: a sanity run in which any signal
    found is leakage. ``sites`` (patient id -> site) gives the site folds of ``validation="site"`` and the
    batches of harmonisation. ``raw`` (``features.raw.RawInputs``) feeds the models on the raw data; its
    per-modality digests join the keys of their cells.
    """
    y = encode_labels(endpoints, task).sort_index()
    if permute_labels:
        rng = np.random.default_rng(split_seed(seed, task.name, -1))
        y = pd.Series(rng.permutation(y.to_numpy()), index=y.index)
    X = design_matrix(blocks, y.index)
    outer = {r: outer_folds(y, folds, split_seed(seed, task.name, r)) for r in range(repeats)}
    keys = {"": digest(identity, y.to_numpy(np.int64), list(y.index))}
    for m in MODALITIES:
        block = X[[c for c in X.columns if c.startswith(f"{m}{SEPARATOR}")]]
        keys[m] = digest(m, block.to_numpy(np.float64), list(block.columns))
        if raw is not None:
            keys[f"raw:{m}"] = raw_key(raw, m)
    site = None
    if sites is not None:
        recorded = sites.reindex(y.index)
        site = pd.Series(
            [None if pd.isna(v) or not str(v).strip() else str(v) for v in recorded],
            index=y.index,
            dtype=object,
        )
        keys["site"] = digest("site", [str(v) for v in site], list(site.index))
    data = TaskData(
        task=task, X=X, y=y, patterns=availability_patterns(X), folds=outer, keys=keys, sites=site, raw=raw
    )
    if validation == "site":
        if site is None:
            raise ConfigError(f"task {task.name!r}: validation 'site' needs patients.csv's 'site' column")
        data.site_folds, data.site_fold_sites = site_folds(
            y, site, task=task.name, train_sites=train_sites, test_sites=test_sites
        )
    return data


def feature_label_checks(datas: dict[str, TaskData]) -> pd.DataFrame:
    """Univariate ROC-AUC of every feature against each binary task's label, on the patients who have it.

    A feature that alone separates the label (AUC near 1 in either direction) usually means the endpoint
    is computed from that feature (e.g. a CDAI endpoint and the CDAI score among the PRO features); the
    report flags it. Rows are kept from ``SEPARATION_REPORTED`` up, plus the strongest five per task.
    """
    rows = []
    for task, data in datas.items():
        if data.task.type != "binary":
            continue
        y = data.y.to_numpy()
        values = data.X.to_numpy(float)
        found = []
        for j, col in enumerate(data.X.columns):
            ok = ~np.isnan(values[:, j])
            yy = y[ok]
            n_pos = int(yy.sum())
            n_neg = int(yy.size - n_pos)
            if n_pos < 5 or n_neg < 5:
                continue
            ranks = rankdata(values[ok, j])
            auc = (ranks[yy == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
            found.append({"task": task, "feature": col, "n": int(ok.sum()), "auc": float(auc),
                          "separation": float(max(auc, 1 - auc))})  # fmt: skip
        frame = pd.DataFrame(found)
        if len(frame):
            frame = frame.sort_values(["separation", "feature"], ascending=[False, True])
            rows.append(frame[(frame["separation"] >= SEPARATION_REPORTED) | (np.arange(len(frame)) < 5)])
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["task", "feature", "n", "auc", "separation"])
    )
