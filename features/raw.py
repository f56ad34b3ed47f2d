"""Per-patient raw arrays for the deep models: the region around the mask, the reports' frozen MiniLM
hidden states and the 7-day diary, cached content-addressed, behind a picklable handle.

Policy
------
**Same inputs as the fixed features.** Each modality reads a patient's inputs through the fixed extractor
that builds its block (``extractor_params`` keyed by registry name, as in ``features.engine``), so the
selection rules and the configuration are honoured: imaging through ``RadiomicsExtractor.inputs`` (the
selected scan per modality, its mask and ``label`` regions), text through the report extractors' inputs
(``features.text.extractors.report_inputs``), pro through ``ProExtractor.inputs``; their
``input_fingerprint`` keys the cache.

**Imaging** (:class:`RawImaging`): one scan per patient, ``prefer`` ("MR" or "CT") when the patient has
both, the other otherwise (a failed preferred scan is a failure, never silently replaced). The mask is
read with ``benchmarks.cohort.imageio.read_mask`` (label image, RTSTRUCT, DICOM-SEG) and the union of the
regions of the scan's ``label`` cell that are present is the ROI. Its bounding box in physical space
(the physical extent of the voxel box, on the patient axes x, y, z) plus ``margin_mm`` on every side,
made a cube around its centre when ``cube`` (isotropic voxels, shapes undistorted), is resampled with
SimpleITK onto a ``grid``^3 grid with identity direction (image: linear; mask: nearest neighbour), so
every patient's ROI has the same orientation whatever the scan's direction cosines. Arrays are in
SimpleITK's (z, y, x) order. Channel 0 is the intensity, normalised per scan modality: CT clipped to
``ct_window`` HU and scaled linearly to [-1, 1]; MR clipped to the ``mr_percentiles`` of the box and
z-scored over the box. Grid points outside the image get the lowest normalised value. Channel 1 is the
mask (0/1). ``spacing`` (mm per ROI voxel, x, y, z) is kept beside it.

**Text** (:class:`RawText`): up to ``max_reports`` reports, most recent first (ordered by ``date`` when
every report has one, else by ``timepoint`` when every one has one, else file order read as chronological,
as ``benchmarks.cohort.selection`` does), each tokenised with the model's own tokenizer and cut to
``max_tokens`` word pieces including [CLS] and [SEP]: ``truncation="head"`` keeps the first ones (as
``tokenizer(..., truncation=True)``), ``"head_tail"`` the first ``head_tokens`` and the last ones (the
impression/conclusion ends a report). The patient's reports run as one batch through the model's first
``frozen_layers`` layers (``hidden_states[frozen_layers]`` of the full model; ``hidden_states[0]`` is the
embedding output), with torch.no_grad on one thread, and are stored in float16 with the attention mask.
Nothing is downloaded: the model is read from its folder with ``local_files_only``.
Defaults (measured on the synthetic cohorts, 120 and 400 patients): patients have 1-3 reports (2 for
70%; 2 of 345 have 5), so ``max_reports=3``; reports have a median of 257-273 word pieces (96% over 128),
but 128 keeps the fine-tuned top layer inside the deep profile's budget, and on mean-pooled frozen states
(endo_active, logistic regression, 5-fold CV, 345 patients) "head" 128 gave AUC 0.867, "head_tail"
(32 + 94) 0.811, the last 126 only 0.837 and "head" 256 0.879, so ``truncation="head"``.

**PRO** (:class:`RawPro`): the 7-day diary of the selected questionnaire, ``diary`` (7 days, 3 items:
stools, pain, well-being), NaN where a day is unanswered.

**Failures** are rows of a failures table (``features.engine.FAILURE_COLUMNS``, extractor
``raw_<modality>``, part = the scan modality for imaging), with the categories of the fixed extractors
(``features.engine.FIXES``) and a reason naming the patient, the file and the fix; a patient who has the
modality but to whom the configured extractor does not apply is a ``no applicable part`` row. Nothing
crashes the build and nothing is dropped silently.

**Cache**: ``cache_root/raw/<modality>-<recipe hash>/<key>.npz``, one file per patient, where the recipe
covers the parameters, the code version and the library versions (SimpleITK for imaging; torch,
transformers, tokenizers and the model files' hash for text) and the key hashes the patient id and the
input fingerprint. Files are written atomically (temporary file, fsync, ``os.replace``) by the process that
computed them, so an interrupted build keeps its work and a rerun reads it back. A failure is cached too
and read back as a failure. A file that fails its check (unreadable, another patient's, wrong shapes) is
moved to ``cache_root/quarantine/`` with a ``.reason.txt`` and recomputed. Patients run in parallel with
joblib (``n_jobs``); each is computed on its own with one thread, so results do not depend on ``n_jobs``.

:class:`RawInputs` holds only paths and recipes; arrays are read lazily and memoised per process (a module
dict keyed by path, least recently used dropped past ``MEMO_BYTES``), so pickles and clones are small.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import (
    DATE_COLUMN,
    DIARY_PAIN,
    DIARY_STOOLS,
    DIARY_WELLBEING,
    IMAGE_MODALITIES,
    TIMEPOINT_COLUMN,
)
from features.base import ExtractionError, Params
from features.engine import (
    FAILURE_COLUMNS,
    FIXES,
    MAX_REASON_CHARS,
    NO_APPLICABLE_PART,
    failure_category,
    recipe_hash,
    recipe_of,
)
from features.progress import progress_bar

RAW_MODALITIES: tuple[str, ...] = ("imaging", "text", "pro")
SOURCES: dict[str, str] = {"imaging": "radiomics", "text": "report_embeddings", "pro": "pro_indices"}
"""The fixed extractor (registry name) whose ``inputs`` and ``input_fingerprint`` each modality uses."""
RAW_DIR = "raw"
QUARANTINE_DIR = "quarantine"
MEMO_BYTES = 3 << 30
"""Most bytes of records one process keeps in memory (least recently used dropped first)."""
ERROR_KEY = "_error"
CATEGORY_KEY = "_category"
PATIENT_KEY = "_patient"
FINGERPRINT_KEY = "_fingerprint"
ITK_THREADS = 1
TORCH_THREADS = 1


class CorruptRecord(Exception):
    """A cached record that fails its check (internal: it is set aside and recomputed)."""


# --- imaging -------------------------------------------------------------------------------------------
class RawImaging(Params):
    """The region around the mask of one scan per patient, on a fixed grid (see the module docstring).

    Parameters: ``grid`` (voxels per side), ``margin_mm`` (added on every side of the mask's bounding
    box), ``cube`` (make the box a cube: isotropic voxels), ``prefer`` ("MR" or "CT": the scan kept for
    a patient with both), ``ct_window`` (HU clipped and scaled to [-1, 1]), ``mr_percentiles`` (of the
    box, clipped before the z-score).
    """

    name: ClassVar[str] = "raw_imaging"
    modality: ClassVar[str] = "imaging"
    version: ClassVar[str] = "1"
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "SimpleITK")
    keys: ClassVar[tuple[str, ...]] = ("roi", "ct", "spacing")

    def __init__(
        self,
        grid: int = 32,
        margin_mm: float = 10.0,
        cube: bool = True,
        prefer: str = "MR",
        ct_window: tuple[float, float] = (-200.0, 300.0),
        mr_percentiles: tuple[float, float] = (1.0, 99.0),
    ) -> None:
        self.grid = grid
        self.margin_mm = margin_mm
        self.cube = cube
        self.prefer = prefer
        self.ct_window = ct_window
        self.mr_percentiles = mr_percentiles

    def check(self) -> None:
        """``ValueError`` naming a parameter out of its range."""
        if not (isinstance(self.grid, int) and 4 <= self.grid <= 256):
            raise ValueError(f"raw imaging: grid must be an int in [4, 256], got {self.grid!r}")
        if not float(self.margin_mm) >= 0:
            raise ValueError(f"raw imaging: margin_mm must be >= 0, got {self.margin_mm!r}")
        if str(self.prefer).upper() not in IMAGE_MODALITIES:
            raise ValueError(
                f"raw imaging: prefer must be one of {list(IMAGE_MODALITIES)}, got {self.prefer!r}"
            )
        lo, hi = self.ct_window
        if not lo < hi:
            raise ValueError(
                f"raw imaging: ct_window must be (low, high) with low < high, got {self.ct_window}"
            )
        p_lo, p_hi = self.mr_percentiles
        if not 0 <= p_lo < p_hi <= 100:
            raise ValueError(
                f"raw imaging: mr_percentiles must be 0 <= low < high <= 100, got {self.mr_percentiles}"
            )

    def info(self) -> dict[str, Any]:
        return {**self.get_params(), "prefer": str(self.prefer).upper(), "shape": [2, *[self.grid] * 3]}

    def recipe_extra(self) -> dict[str, Any]:
        return {}

    def inputs(self, source: Any, cohort: Any, patient_id: str) -> dict[str, Any] | None:
        """The scan kept for the patient: the radiomics extractor's inputs of its ``prefer`` part, else of
        the other part, plus ``part`` and ``ct``. Only the kept part is asked, so a problem with the
        other scan (e.g. several CTs) does not fail a patient whose preferred scan is fine."""
        prefer = str(self.prefer).upper()
        parts = {p.part: p for p in _parts(source)}
        for part in [prefer, *(m for m in IMAGE_MODALITIES if m != prefer)]:
            if part in parts and (found := parts[part].inputs(cohort, patient_id)) is not None:
                return {**found, "part": part, "ct": part == "CT"}
        return None

    def fingerprint(self, source: Any, inputs: Mapping[str, Any]) -> str:
        part = next(p for p in _parts(source) if p.part == inputs["part"])
        scan = {k: v for k, v in inputs.items() if k not in ("part", "ct")}
        return f"{inputs['part']}:{part.input_fingerprint(scan)}"

    def compute(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Read the scan and its mask (the fixed extractor's readers) and cut the ROI."""
        import SimpleITK as sitk

        from benchmarks.cohort.imageio import ImageReadError, non_finite_voxels, read_image, read_mask
        from benchmarks.cohort.regions import RegionSpecError, parse_regions

        pid, image_path, mask_path = inputs["patient_id"], inputs["image"], inputs["mask"]
        who = f"patient {pid}"
        try:
            regions = parse_regions(inputs.get("label"))
        except RegionSpecError as exc:
            raise _error(
                f"{who}: imaging.csv, mask {mask_path}, field 'label': {exc}", "invalid label"
            ) from exc
        threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(ITK_THREADS)
        try:
            try:
                image = read_image(image_path)
                non_finite = non_finite_voxels(image_path, image=image)
            except (ImageReadError, OSError, RuntimeError) as exc:
                raise _error(f"{who}: image file {image_path}: {exc}", "unreadable file", fix=True) from exc
            try:
                mask = read_mask(mask_path, image_path, regions)
            except (ImageReadError, OSError, RuntimeError) as exc:
                category = getattr(exc, "category", "unreadable file")
                raise _error(
                    f"{who}: mask file {mask_path}: {exc}", category, fix=category == "unreadable file"
                ) from exc
            where = f"{who}: image {image_path}, mask {mask_path}"
            roi, spacing = self.roi(
                image, mask.image, mask.labels, ct=bool(inputs["ct"]), where=where, non_finite=non_finite
            )
        finally:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
        return {
            "roi": roi,
            "ct": np.float32(1.0 if inputs["ct"] else 0.0),
            "spacing": spacing.astype(np.float32),
        }

    def roi(
        self,
        image: Any,
        mask: Any,
        labels: Mapping[str, int] | Sequence[int] = (1,),
        *,
        ct: bool,
        where: str = "case",
        non_finite: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(roi, spacing)`` of an image and its label mask in memory: ``roi`` float32 (2, G, G, G) in
        (z, y, x) order, ``spacing`` the ROI voxel size in mm (x, y, z). ``labels``: the regions' label
        values (a mapping name -> value, or values); the present ones form the ROI. ``non_finite``: where
        the image stores NaN/inf (``imageio.non_finite_voxels``; computed from the image when None)."""
        import SimpleITK as sitk

        from benchmarks.cohort.imageio import (
            GEOMETRY_FIX,
            geometry_differences,
            info_from_image,
            non_finite_in,
        )
        from features.imaging import LABEL_FIX

        self.check()
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise _error(
                f"{where}: image must be a 3D scalar volume, got {image.GetDimension()}D with "
                f"{image.GetNumberOfComponentsPerPixel()} component(s)",
                "unsupported image",
            )
        if mask.GetNumberOfComponentsPerPixel() != 1:
            raise _error(f"{where}: mask must be a scalar label image", "unsupported image")
        diffs = geometry_differences(info_from_image(image), info_from_image(mask))
        if diffs:
            raise _error(
                f"{where}: mask geometry mismatch: {'; '.join(diffs)}; {GEOMETRY_FIX}", "geometry mismatch"
            )
        wanted = [int(v) for v in (labels.values() if isinstance(labels, Mapping) else labels)]
        arr = sitk.GetArrayViewFromImage(mask)
        union = np.isin(arr, wanted)
        if not union.any():
            present = sorted(int(v) for v in np.unique(arr) if v != 0)
            if not present:
                raise _error(f"{where}: empty mask (no voxel is labelled)", "empty mask", fix=True)
            what = f"label {wanted[0]}" if len(wanted) == 1 else f"labels {sorted(wanted)}"
            raise _error(
                f"{where}: {what} absent from the mask (labels found: {present}); {LABEL_FIX}", "label absent"
            )
        zyx = np.nonzero(union)
        lo = np.array([zyx[2].min(), zyx[1].min(), zyx[0].min()], dtype=float)
        hi = np.array([zyx[2].max(), zyx[1].max(), zyx[0].max()], dtype=float)
        corners = np.array(
            [
                image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
                for corner in itertools.product(*zip(lo - 0.5, hi + 0.5, strict=True))
            ]
        )
        p_min, p_max = corners.min(axis=0), corners.max(axis=0)
        centre = (p_min + p_max) / 2
        side = p_max - p_min + 2 * float(self.margin_mm)
        if self.cube:
            side = np.full(3, side.max())
        g = int(self.grid)
        spacing = side / g
        origin = centre - side / 2 + spacing / 2

        window = self._read_window(image, origin, spacing, g)
        if non_finite is None:
            non_finite = non_finite_in(image)
        if non_finite is not None:
            (x0, y0, z0), (x1, y1, z1) = window
            bad = int(non_finite[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1].sum())
            if bad:
                raise _error(
                    f"{where}: {bad} image voxels around the mask are NaN or infinite; replace them with "
                    "valid intensities in the image file",
                    "non-finite voxels",
                )

        def resample(img: Any, interpolator: int, default: float, pixel: int) -> np.ndarray:
            out = sitk.Resample(
                img,
                [g, g, g],
                sitk.Transform(),
                interpolator,
                [float(v) for v in origin],
                [float(v) for v in spacing],
                [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                default,
                pixel,
            )
            return sitk.GetArrayFromImage(out)

        values = resample(sitk.Cast(image, sitk.sitkFloat32), sitk.sitkLinear, float("nan"), sitk.sitkFloat32)
        union_img = sitk.GetImageFromArray(union.astype(np.uint8))
        union_img.CopyInformation(mask)
        channel_mask = resample(union_img, sitk.sitkNearestNeighbor, 0.0, sitk.sitkUInt8)
        intensity = self.normalise(values, ct=ct)
        roi = np.stack([intensity, channel_mask.astype(np.float32)]).astype(np.float32)
        return roi, spacing

    @staticmethod
    def _read_window(
        image: Any, origin: np.ndarray, spacing: np.ndarray, g: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Input voxels (x, y, z; first, last, clipped to the image) that linear resampling onto the ROI
        grid (``g`` points per side from ``origin``) can read."""
        ends = (origin - spacing / 2, origin + spacing * (g - 0.5))
        idx = np.array(
            [
                image.TransformPhysicalPointToContinuousIndex([float(c) for c in corner])
                for corner in itertools.product(*zip(*ends, strict=True))
            ]
        )
        first = np.floor(idx.min(axis=0)).astype(int) - 1
        last = np.ceil(idx.max(axis=0)).astype(int) + 1
        size = np.asarray(image.GetSize())
        return np.maximum(first, 0), np.minimum(last, size - 1)

    def normalise(self, values: np.ndarray, *, ct: bool) -> np.ndarray:
        """Channel 0 from resampled intensities (NaN outside the image): CT window to [-1, 1]; MR clipped
        to the box's percentiles, then z-scored over the box. Outside the image: the lowest value."""
        inside = np.isfinite(values)
        if ct:
            lo, hi = (float(v) for v in self.ct_window)
            out = 2.0 * (np.clip(values, lo, hi) - lo) / (hi - lo) - 1.0
            return np.where(inside, out, -1.0).astype(np.float32)
        known = values[inside].astype(np.float64)
        if known.size == 0:
            return np.zeros(values.shape, dtype=np.float32)
        p_lo, p_hi = np.percentile(known, [float(v) for v in self.mr_percentiles])
        clipped = np.clip(known, p_lo, p_hi)
        mean, std = clipped.mean(), clipped.std()
        std = std if std > 1e-8 * max(1.0, abs(mean)) else 1.0
        out = (np.clip(values, p_lo, p_hi) - mean) / std
        return np.where(inside, out, (p_lo - mean) / std).astype(np.float32)

    def empty(self, n: int) -> dict[str, np.ndarray]:
        g = int(self.grid)
        return {
            "roi": np.zeros((n, 2, g, g, g), dtype=np.float32),
            "ct": np.zeros(n, dtype=np.float32),
            "spacing": np.zeros((n, 3), dtype=np.float32),
        }

    def fill(self, out: dict[str, np.ndarray], i: int, record: Mapping[str, np.ndarray]) -> None:
        for key in self.keys:
            out[key][i] = record[key]

    def valid(self, record: Mapping[str, np.ndarray]) -> str | None:
        g = int(self.grid)
        if record["roi"].shape != (2, g, g, g) or record["roi"].dtype != np.float32:
            return f"roi of shape {record['roi'].shape} {record['roi'].dtype}, expected (2, {g}, {g}, {g}) float32"
        return None


def _parts(source: Any) -> list[Any]:
    return source.parts() if hasattr(source, "parts") else [source]


# --- text ----------------------------------------------------------------------------------------------
TRUNCATIONS = ("head", "head_tail")


@dataclass(frozen=True)
class TextInputs:
    """A patient's reports (the report extractors' inputs) and the order they are kept in (most recent
    first, at most ``max_reports``). Never logged: the repr shows counts only."""

    reports: Any  # features.text.extractors.ReportInputs
    order: tuple[int, ...]
    by: str  # what ordered them: date | timepoint | file order

    @property
    def patient_id(self) -> str:
        return str(self.reports.patient_id)

    def __repr__(self) -> str:
        return f"TextInputs(patient_id={self.patient_id!r}, n_reports={len(self.reports.texts)}, kept={len(self.order)})"


def recent_first(frame: pd.DataFrame | None, n: int) -> tuple[list[int], str]:
    """Row positions of ``frame`` most recent first and what ordered them: ``date`` when every row has one,
    else ``timepoint`` when every row has one, else the file order read as chronological (later rows
    first); ties keep the later row first."""
    count = 0 if frame is None else len(frame)
    rows = list(range(count))
    for col in (DATE_COLUMN, TIMEPOINT_COLUMN):
        if frame is not None and col in frame.columns and count and frame[col].notna().all():
            values = list(frame[col])
            return sorted(rows, key=lambda i: (values[i], i), reverse=True)[:n], col
    return rows[::-1][:n], "file order"


class RawText(Params):
    """Frozen MiniLM hidden states of a patient's reports (see the module docstring).

    Parameters: ``max_reports`` (report slots R; most recent kept), ``max_tokens`` (L, word pieces per
    report with [CLS] and [SEP]), ``frozen_layers`` (k: the output of the first k transformer layers),
    ``truncation`` ("head" or "head_tail"), ``head_tokens`` (word pieces kept from the start with
    "head_tail"), ``model_path`` (a local BERT-type model folder; None: the shipped all-MiniLM-L6-v2).
    """

    name: ClassVar[str] = "raw_text"
    modality: ClassVar[str] = "text"
    version: ClassVar[str] = "1"
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "torch", "transformers", "tokenizers")
    keys: ClassVar[tuple[str, ...]] = ("hidden", "attention", "reports")

    def __init__(
        self,
        max_reports: int = 3,
        max_tokens: int = 128,
        frozen_layers: int = 5,
        truncation: str = "head",
        head_tokens: int = 32,
        model_path: str | None = None,
    ) -> None:
        self.max_reports = max_reports
        self.max_tokens = max_tokens
        self.frozen_layers = frozen_layers
        self.truncation = truncation
        self.head_tokens = head_tokens
        self.model_path = model_path

    def model_dir(self) -> str:
        from features.text.extractors import default_model_path

        return str(Path(self.model_path) if self.model_path else default_model_path())

    def config(self) -> dict[str, Any]:
        """The model's config.json (hidden size, number of layers)."""
        path = Path(self.model_dir(), "config.json")
        if not path.is_file():
            raise FileNotFoundError(
                f"raw text: no model in {self.model_dir()} (config.json missing); give model_path a local "
                "BERT-type model folder"
            )
        return json.loads(path.read_text(encoding="utf-8"))

    def check(self) -> None:
        for name in ("max_reports", "max_tokens", "frozen_layers", "head_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name in ("frozen_layers", "head_tokens") else 1):
                raise ValueError(f"raw text: {name} must be a positive int, got {value!r}")
        if self.truncation not in TRUNCATIONS:
            raise ValueError(
                f"raw text: truncation must be one of {list(TRUNCATIONS)}, got {self.truncation!r}"
            )
        cfg = self.config()
        layers = int(cfg.get("num_hidden_layers", 0))
        if not 0 <= self.frozen_layers <= layers:
            raise ValueError(
                f"raw text: frozen_layers must be in [0, {layers}] for this model, got {self.frozen_layers}"
            )
        limit = int(cfg.get("max_position_embeddings", 512))
        if not 3 <= self.max_tokens <= limit:
            raise ValueError(
                f"raw text: max_tokens must be in [3, {limit}] for this model, got {self.max_tokens}"
            )
        if self.truncation == "head_tail" and self.head_tokens > self.max_tokens - 2:
            raise ValueError(
                f"raw text: head_tokens ({self.head_tokens}) must leave room in max_tokens - 2 = {self.max_tokens - 2}"
            )

    def hidden_size(self) -> int:
        return int(self.config()["hidden_size"])

    def info(self) -> dict[str, Any]:
        return {**self.get_params(), "model": self.model_dir(), "hidden_size": self.hidden_size()}

    def recipe_extra(self) -> dict[str, Any]:
        return {"model_files": _folder_hash(self.model_dir())}

    def inputs(self, source: Any, cohort: Any, patient_id: str) -> TextInputs | None:
        reports = source.inputs(cohort, patient_id)
        if reports is None:
            return None
        frame = cohort.reports(patient_id)
        order, by = recent_first(frame, int(self.max_reports))
        return TextInputs(reports, tuple(order), by)

    def fingerprint(self, source: Any, inputs: TextInputs) -> str:
        return f"{source.input_fingerprint(inputs.reports)}:{','.join(map(str, inputs.order))}"

    def token_ids(self, text: str) -> list[int]:
        """The word pieces of one report as the model reads them: [CLS] + kept pieces + [SEP]."""
        tok = _tokenizer(self.model_dir())
        ids = tok(text, add_special_tokens=False)["input_ids"]
        room = int(self.max_tokens) - 2
        if len(ids) > room:
            if self.truncation == "head":
                ids = ids[:room]
            else:
                head = int(self.head_tokens)
                ids = ids[:head] + ids[len(ids) - (room - head) :]
        return [tok.cls_token_id, *ids, tok.sep_token_id]

    def compute(self, inputs: TextInputs) -> dict[str, np.ndarray]:
        import torch

        texts = [inputs.reports.texts[i] for i in inputs.order]
        if not any(t.strip() for t in texts):
            raise _error(
                f"patient {inputs.patient_id}: reports.csv: every kept report's text is empty; give the report "
                "text or remove the rows",
                "empty reports",
            )
        ids = [self.token_ids(t) for t in texts]
        width = max(len(i) for i in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        attention = np.zeros((len(ids), width), dtype=bool)
        for r, row in enumerate(ids):
            input_ids[r, : len(row)] = row
            attention[r, : len(row)] = True
        model = _frozen_model(self.model_dir(), int(self.frozen_layers))
        previous = torch.get_num_threads()
        torch.set_num_threads(TORCH_THREADS)
        try:
            with torch.no_grad():
                out = model(
                    input_ids=torch.from_numpy(input_ids),
                    attention_mask=torch.from_numpy(attention.astype(np.int64)),
                    token_type_ids=torch.zeros_like(torch.from_numpy(input_ids)),
                    output_hidden_states=True,
                )
                hidden = out.hidden_states[int(self.frozen_layers)].numpy()
        finally:
            torch.set_num_threads(previous)
        hidden = np.where(attention[..., None], hidden, 0.0).astype(np.float16)
        return {"hidden": hidden, "attention": attention, "reports": np.ones(len(ids), dtype=bool)}

    def empty(self, n: int) -> dict[str, np.ndarray]:
        r, length = int(self.max_reports), int(self.max_tokens)
        return {
            "hidden": np.zeros((n, r, length, self.hidden_size()), dtype=np.float16),
            "attention": np.zeros((n, r, length), dtype=bool),
            "reports": np.zeros((n, r), dtype=bool),
        }

    def fill(self, out: dict[str, np.ndarray], i: int, record: Mapping[str, np.ndarray]) -> None:
        r, length = record["attention"].shape
        out["hidden"][i, :r, :length] = record["hidden"]
        out["attention"][i, :r, :length] = record["attention"]
        out["reports"][i, :r] = record["reports"]

    def valid(self, record: Mapping[str, np.ndarray]) -> str | None:
        r, length = record["attention"].shape
        h = record["hidden"].shape
        if r > self.max_reports or length > self.max_tokens or h != (r, length, self.hidden_size()):
            return (
                f"hidden {h} and attention {(r, length)} do not fit R={self.max_reports}, L={self.max_tokens}"
            )
        if record["hidden"].dtype != np.float16:
            return f"hidden is {record['hidden'].dtype}, expected float16"
        return None


@lru_cache(maxsize=2)
def _folder_hash(path: str) -> str:
    """sha256 of every file of a model folder (sorted relative names and bytes), README excluded."""
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower() != "readme.md"):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@lru_cache(maxsize=2)
def _tokenizer(path: str) -> Any:
    _offline()
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "sequence longer than the model's maximum": it is cut here
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


@lru_cache(maxsize=2)
def _frozen_model(path: str, layers: int) -> Any:
    """The model's embeddings and first ``layers`` transformer layers (the rest dropped: the output is
    the full model's ``hidden_states[layers]``), in eval mode."""
    _offline()
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(path, local_files_only=True)
    model.encoder.layer = model.encoder.layer[:layers]
    return model.eval()


# --- pro -----------------------------------------------------------------------------------------------
DIARY_ITEMS: tuple[tuple[str, ...], ...] = (DIARY_STOOLS, DIARY_PAIN, DIARY_WELLBEING)


class RawPro(Params):
    """The 7-day diary of the selected questionnaire: ``diary`` (7 days x stools, pain, well-being)."""

    name: ClassVar[str] = "raw_pro"
    modality: ClassVar[str] = "pro"
    version: ClassVar[str] = "1"
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "pandas")
    keys: ClassVar[tuple[str, ...]] = ("diary",)

    def check(self) -> None:
        return None

    def info(self) -> dict[str, Any]:
        return {
            "items": ["stools", "pain", "wellbeing"],
            "days": len(DIARY_STOOLS),
            "columns": [list(c) for c in DIARY_ITEMS],
        }

    def recipe_extra(self) -> dict[str, Any]:
        return {}

    def inputs(self, source: Any, cohort: Any, patient_id: str) -> Any:
        return source.inputs(cohort, patient_id)

    def fingerprint(self, source: Any, inputs: Any) -> str:
        return str(source.input_fingerprint(inputs))

    def compute(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        items: pd.Series = inputs["items"]
        diary = np.full((len(DIARY_STOOLS), len(DIARY_ITEMS)), np.nan, dtype=np.float32)
        for j, columns in enumerate(DIARY_ITEMS):
            for d, col in enumerate(columns):
                value = items.get(col, np.nan)
                try:
                    diary[d, j] = np.nan if value is None or pd.isna(value) else float(value)
                except (TypeError, ValueError):
                    raise _error(
                        f"patient {inputs['patient_id']}: pro.csv field {col!r}: {value!r} is not a number; "
                        "write the day's answer as a number or leave the cell empty",
                        "invalid item",
                    ) from None
        return {"diary": diary}

    def empty(self, n: int) -> dict[str, np.ndarray]:
        return {"diary": np.zeros((n, len(DIARY_STOOLS), len(DIARY_ITEMS)), dtype=np.float32)}

    def fill(self, out: dict[str, np.ndarray], i: int, record: Mapping[str, np.ndarray]) -> None:
        out["diary"][i] = record["diary"]

    def valid(self, record: Mapping[str, np.ndarray]) -> str | None:
        shape = (len(DIARY_STOOLS), len(DIARY_ITEMS))
        if record["diary"].shape != shape:
            return f"diary of shape {record['diary'].shape}, expected {shape}"
        return None


BUILDERS: dict[str, type] = {"imaging": RawImaging, "text": RawText, "pro": RawPro}
"""The raw recipe of each modality; ``params[modality]`` are its ``__init__`` parameters."""


def make_builder(modality: str, params: Mapping[str, Any] | None = None) -> Any:
    """The raw builder of ``modality`` with ``params`` (a ``ValueError`` names an unknown one)."""
    if modality not in BUILDERS:
        raise ValueError(f"raw inputs: unknown modality {modality!r}; choose from {list(RAW_MODALITIES)}")
    cls = BUILDERS[modality]
    valid = cls._get_param_names()
    unknown = sorted(set(params or {}) - set(valid))
    if unknown:
        raise ValueError(f"raw inputs: unknown parameter(s) {unknown} for {modality}; valid: {valid}")
    builder = cls(**dict(params or {}))
    builder.check()
    return builder


# --- records and the cache -----------------------------------------------------------------------------
def _error(message: str, category: str, *, fix: bool = False) -> ExtractionError:
    """An ``ExtractionError`` of ``category``; ``fix`` appends the category's fix (``features.engine.FIXES``)
    to a message that does not say how to fix it."""
    return ExtractionError(f"{message}; {FIXES[category]}" if fix else message, category=category)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]  # as features.engine writes reasons


def record_key(patient_id: str, fingerprint: str) -> str:
    """The file name (without .npz) of a patient's record: a hash of the id and the inputs' fingerprint."""
    return hashlib.sha256(f"{patient_id}\0{fingerprint}".encode()).hexdigest()[:32]


def _atomic_savez(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` through a temporary file of the same folder (fsync, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_record(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of a record (``CorruptRecord`` when it cannot be read whole)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CorruptRecord(f"not a readable record ({type(exc).__name__}: {exc})") from None


def _set_aside(path: Path, cache_root: Path, reason: str) -> None:
    """Move a record that failed its check under ``cache_root/quarantine/`` with a ``.reason.txt``."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
    dest = cache_root / QUARANTINE_DIR / path.relative_to(cache_root).parent / f"{path.name}.{stamp}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, dest)
    except FileNotFoundError:
        return
    dest.with_name(dest.name + ".reason.txt").write_text(f"{path}: {reason}\n", encoding="utf-8")


def _check_record(builder: Any, record: Mapping[str, np.ndarray], pid: str, fingerprint: str) -> str | None:
    """Why a read record cannot be reused for this patient and inputs (None when it can)."""
    if str(record.get(PATIENT_KEY, "")) != pid or str(record.get(FINGERPRINT_KEY, "")) != fingerprint:
        return "written for other inputs (patient or fingerprint differ)"
    if ERROR_KEY in record:
        return None
    missing = [k for k in builder.keys if k not in record]
    if missing:
        return f"keys {missing} missing"
    return builder.valid(record)


def _compute_one(
    builder: Any, pid: str, fingerprint: str, inputs: Any, path: str
) -> tuple[str, str | None, str | None]:
    """Compute one patient's record and write it (a failure too); ``(pid, reason, category)``."""
    meta = {PATIENT_KEY: np.array(pid), FINGERPRINT_KEY: np.array(fingerprint)}
    try:
        arrays = builder.compute(inputs)
        reason = category = None
    except Exception as exc:  # one bad case is a recorded failure, never a crashed build
        reason, category = _reason(exc), failure_category(exc)
        arrays = {ERROR_KEY: np.array(reason), CATEGORY_KEY: np.array(category)}
    _atomic_savez(Path(path), {**arrays, **meta})
    return pid, reason, category


# --- the handle ----------------------------------------------------------------------------------------
_MEMO: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
_MEMO_SIZE = [0]
_MEMO_LOCK = threading.Lock()


def _load(path: str) -> dict[str, np.ndarray]:
    """A record's arrays, memoised in this process (module dict keyed by path, LRU past ``MEMO_BYTES``)."""
    with _MEMO_LOCK:
        if path in _MEMO:
            _MEMO.move_to_end(path)
            return _MEMO[path]
    try:
        record = read_record(path)
    except (FileNotFoundError, CorruptRecord) as exc:
        raise FileNotFoundError(
            f"raw record {path} is missing or damaged ({exc}); rerun the build (build_raw_inputs) with the "
            "same cache to recompute it"
        ) from None
    nbytes = sum(a.nbytes for a in record.values())
    with _MEMO_LOCK:
        _MEMO[path] = record
        _MEMO_SIZE[0] += nbytes
        while _MEMO_SIZE[0] > MEMO_BYTES and len(_MEMO) > 1:
            _, old = _MEMO.popitem(last=False)
            _MEMO_SIZE[0] -= sum(a.nbytes for a in old.values())
    return record


def clear_memo() -> None:
    """Forget every record memoised in this process."""
    with _MEMO_LOCK:
        _MEMO.clear()
        _MEMO_SIZE[0] = 0


def memo_size() -> int:
    """Records memoised in this process."""
    return len(_MEMO)


@dataclass(frozen=True)
class RawInputs:
    """Per-patient raw arrays of each modality. Picklable: holds paths only; arrays are loaded lazily
    and memoised per process (module-level dict keyed by path), so copies/clones/pickles are cheap.

    ``paths``: modality -> patient_id -> .npz path; ``info``: modality -> recipe (the builder's
    parameters and shapes, e.g. ``grid``, ``margin_mm``; for text ``frozen_layers``, ``max_tokens``,
    ``max_reports``, ``model``, ``hidden_size``); ``stats``: modality -> counts of the build that made
    the handle (computed, cached, failed, not applicable, seconds), not part of equality.
    """

    paths: Mapping[str, Mapping[str, str]]
    info: Mapping[str, Mapping[str, Any]]
    stats: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)

    def modalities(self) -> list[str]:
        """The modalities built (in ``RAW_MODALITIES`` order), with or without records."""
        return [m for m in RAW_MODALITIES if m in self.paths]

    def _require(self, modality: str) -> None:
        if modality not in self.paths:
            raise KeyError(f"raw inputs: modality {modality!r} was not built (built: {self.modalities()})")

    def has(self, modality: str, patient_ids: Sequence[str]) -> np.ndarray:
        """Whether each patient has a record of ``modality`` (bool, in the order given)."""
        self._require(modality)
        have = self.paths[modality]
        return np.array([str(p) in have for p in patient_ids], dtype=bool)

    def batch(self, modality: str, patient_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The patients' arrays stacked in the order given (first axis n), plus ``present`` (bool (n,));
        a patient without a record gets zeros and ``present`` False.

        imaging: ``roi`` float32 (n, 2, G, G, G), ``ct`` float32 (n,), ``spacing`` float32 (n, 3);
        text: ``hidden`` float16 (n, R, L, H), ``attention`` bool (n, R, L), ``reports`` bool (n, R);
        pro: ``diary`` float32 (n, 7, 3) (NaN where a day is unanswered).
        """
        self._require(modality)
        builder = make_builder(modality, _builder_params(modality, self.info[modality]))
        ids = [str(p) for p in patient_ids]
        out = builder.empty(len(ids))
        present = np.zeros(len(ids), dtype=bool)
        have = self.paths[modality]
        for i, pid in enumerate(ids):
            path = have.get(pid)
            if path is None:
                continue
            builder.fill(out, i, _load(path))
            present[i] = True
        out["present"] = present
        return out


def _builder_params(modality: str, info: Mapping[str, Any]) -> dict[str, Any]:
    names = BUILDERS[modality]._get_param_names()
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in info.items() if k in names}


# --- building ------------------------------------------------------------------------------------------
def _failure_row(pid: str, builder: Any, part: str, category: str, reason: str) -> dict[str, Any]:
    return {
        "patient_id": pid,
        "extractor": builder.name,
        "part": part,
        "modality": builder.modality,
        "category": category,
        "reason": reason,
    }


def _has_modality(cohort: Any, modality: str, pid: str) -> bool:
    avail = getattr(cohort, "availability", None)
    if avail is None or modality not in avail or pid not in avail.index:
        return False
    return bool(avail.at[pid, modality])


def _unapplied(pid: str, builder: Any, source: str) -> dict[str, Any]:
    """The failure row of a patient who has the modality but to whom the fixed extractor does not apply."""
    reason = (
        f"patient {pid} has {builder.modality} data but the {source} extractor's configuration does not "
        f"apply to it; {FIXES[NO_APPLICABLE_PART]}"
    )
    return _failure_row(pid, builder, "", NO_APPLICABLE_PART, reason)


def _run(
    builder: Any, todo: list[tuple[str, str, Any, str]], n_jobs: int
) -> Iterator[tuple[str, str | None, str | None]]:
    """``(pid, reason, category)`` of each patient of ``todo``, in order, computed on ``n_jobs`` processes
    (each writes its own record, so nothing but the outcome comes back)."""
    if n_jobs == 1 or len(todo) == 1:
        for pid, fingerprint, inputs, path in todo:
            yield _compute_one(builder, pid, fingerprint, inputs, path)
        return
    from joblib import Parallel, delayed

    with Parallel(n_jobs=n_jobs, backend="loky", return_as="generator") as parallel:
        yield from parallel(delayed(_compute_one)(builder, *item) for item in todo)


def build_raw_inputs(
    cohort: Any,
    modalities: Sequence[str],
    extractor_params: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    cache_root: str | os.PathLike[str],
    n_jobs: int = 1,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    patient_ids: Sequence[str] | None = None,
    force: bool = False,
) -> tuple[RawInputs, pd.DataFrame]:
    """Raw arrays of every patient who has each modality; returns the handle and a failures table
    (features.engine.FAILURE_COLUMNS; extractor 'raw_<modality>'). Cached content-addressed under
    cache_root/raw/<modality>-<recipe hash>/<input fingerprint hash>.npz (atomic write), so a rerun
    reads back and an interrupted one resumes.

    ``extractor_params``: the fixed extractors' parameters by registry name (``SOURCES`` says which one
    each modality reads its inputs through); ``params``: the raw builders' parameters by modality
    (:class:`RawImaging`, :class:`RawText`, :class:`RawPro`). ``patient_ids``: restrict to these (default:
    every patient with the modality). ``force``: recompute even what is cached. A patient whose cached
    record is a failure is a failure again (reason and category read back), never counted as cached.
    """
    from features.registry import make_extractor

    extractor_params = dict(extractor_params or {})
    params = dict(params or {})
    unknown = sorted(set(modalities) - set(RAW_MODALITIES)) + sorted(set(params) - set(RAW_MODALITIES))
    if unknown:
        raise ValueError(f"raw inputs: unknown modality {unknown}; choose from {list(RAW_MODALITIES)}")
    root = Path(cache_root)
    paths: dict[str, dict[str, str]] = {}
    info: dict[str, dict[str, Any]] = {}
    stats: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    for modality in [m for m in RAW_MODALITIES if m in modalities]:
        start = time.perf_counter()
        builder = make_builder(modality, params.get(modality))
        source = make_extractor(SOURCES[modality], **dict(extractor_params.get(SOURCES[modality], {})))
        recipe = {**recipe_of(builder), **builder.recipe_extra()}
        folder = root / RAW_DIR / f"{modality}-{recipe_hash(recipe)}"
        folder.mkdir(parents=True, exist_ok=True)
        recipe_file = folder / "recipe.json"
        if not recipe_file.exists():
            tmp = folder / f".recipe.{os.getpid()}.{threading.get_ident()}.tmp.json"
            tmp.write_text(json.dumps(recipe, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, recipe_file)
        pids = cohort.patients_with(modality) if patient_ids is None else [str(p) for p in patient_ids]
        have: dict[str, str] = {}
        todo: list[tuple[str, str, Any, str]] = []
        parts: dict[str, str] = {}
        n_cached = n_na = 0
        for pid in pids:
            try:
                inputs = builder.inputs(source, cohort, pid)
                if inputs is None:
                    if _has_modality(cohort, modality, pid):
                        failures.append(_unapplied(pid, builder, SOURCES[modality]))
                    n_na += 1
                    continue
                fingerprint = builder.fingerprint(source, inputs)
            except Exception as exc:
                failures.append(_failure_row(pid, builder, "", failure_category(exc), _reason(exc)))
                continue
            part = str(inputs.get("part", "")) if isinstance(inputs, dict) else ""
            parts[pid] = part
            path = folder / f"{record_key(pid, fingerprint)}.npz"
            if path.exists() and not force:
                try:
                    record = read_record(path)
                    why = _check_record(builder, record, pid, fingerprint)
                except CorruptRecord as exc:
                    why = str(exc)
                if why is None:
                    if ERROR_KEY in record:
                        failures.append(
                            _failure_row(
                                pid, builder, part, str(record[CATEGORY_KEY]), str(record[ERROR_KEY])
                            )
                        )
                    else:
                        have[pid] = str(path)
                        n_cached += 1
                    continue
                _set_aside(path, root, why)
            todo.append((pid, fingerprint, inputs, str(path)))
        if todo:
            bar = progress_bar(len(todo), f"raw {modality}", "patient", disable=not progress)
            written = {pid: path for pid, _, _, path in todo}
            for pid, reason, category in _run(builder, todo, n_jobs):
                bar.update(1)
                if reason is None:
                    have[pid] = written[pid]
                else:
                    failures.append(_failure_row(pid, builder, parts.get(pid, ""), str(category), reason))
            bar.close()
        paths[modality] = {p: have[p] for p in sorted(have)}
        info[modality] = builder.info()
        stats[modality] = {
            "patients": len(have),
            "computed": len(todo),
            "cached": n_cached,
            "failed": sum(1 for f in failures if f["extractor"] == builder.name),
            "not_applicable": n_na,
            "seconds": round(time.perf_counter() - start, 3),
            "folder": str(folder),
        }
    table = pd.DataFrame(failures, columns=FAILURE_COLUMNS).astype(object)
    return RawInputs(paths=paths, info=info, stats=stats), table
