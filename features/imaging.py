"""Radiomics features of a patient's MR and CT scans, per mask region, with pyradiomics (``pyradiomics-bhklab``).

Policy
------
**Parameter file per modality.** ``RadiomicsExtractor(params={"MR": "mr", "CT": "ct"})`` (the default) gives
every scan the parameter file of its modality: a shipped name (``features/params/mr.yaml``, ``ct.yaml``), a
YAML path, or a pyradiomics mapping. A single value (``params="ct"``, a path, a pyradiomics mapping) is used
for every modality. ``parts()`` splits the extractor into one single-modality extractor per configured
modality (attribute ``part`` = "MR"/"CT", prefix ``rad__mr__``/``rad__ct__``, its own cache recipe); the
engine runs the parts separately, so a patient with both scans gets both blocks and a failed CT costs only
the CT columns. A part's ``inputs`` is None when the patient has no scan of its modality (not applicable,
no failure). Scans of a modality without a parameter file are not extracted (a deliberate restriction of
``params``; ``skipped_modalities(cohort)`` lists them). The extractor as a whole is also an extractor (prefix
``rad__``, keys ``mr__...``, ``ct__...``: the same column names as its parts).

**Regions.** The mask is read with ``benchmarks.cohort.imageio.read_mask`` (label image, RTSTRUCT or
DICOM-SEG, as an integer label image on the image grid), with the regions of the scan's ``label`` cell
(``benchmarks.cohort.regions``: empty = label 1; ``2``; ``1;2;3``; ``ileum=1;colon=2``). pyradiomics runs
once per region (its ``label`` setting = the region's label; the parameter file's own ``label`` setting must
stay 1 or be absent). With one configured region, an absent region fails the case (``label absent``, naming
the labels found and the column to set). With several, an absent region is an uninvolved segment: counted
out, not an error, unless every region is absent.

**Aggregation to the patient** (``aggregate``; default ``("weighted_mean", "n_regions", "total_volume")``),
over the regions present; the columns are the same whatever the number of regions:

- ``weighted_mean`` -> ``wmean__<feature>``: mean over regions weighted by region volume (one region: its
  value, exactly);
- ``mean`` -> ``mean__<feature>``; ``max`` -> ``max__<feature>`` (e.g. the worst segment); ``min`` ->
  ``min__<feature>``; ``largest`` -> ``largest__<feature>``: the features of the largest region (first in the
  label cell on ties);
- ``n_regions``: number of configured regions present in the mask (involved segments);
- ``total_volume``: their total volume in mm^3 (mask voxels on the image grid times the voxel volume).

Columns: ``rad__mr__wmean__original_firstorder_Mean``, ``rad__ct__max__original_glcm_Contrast``,
``rad__mr__n_regions``, ``rad__ct__total_volume``.

**Identical to pyradiomics.** For each region, the features are those of plain pyradiomics
(``featureextractor.RadiomicsFeatureExtractor(params).execute(image, mask, label=region)`` on the whole
image with the same parameter file, its ``padDistance`` included) to a relative difference <= 1e-9: the crop
only decides which voxels are read, never the grid or the extent pyradiomics computes on.

- Intensity normalisation (``normalize``) uses whole-image statistics: it runs on the full image first.
- With resampling, the grid is pyradiomics' own: ``imageoperations.resampleImage`` runs on the cropped image
  with the *full* mask and the parameter file's ``padDistance`` (default 5), so the origin, size and
  nearest-neighbour mask (ties at exact 2:1 spacing ratios included) are bit-identical; the image crop covers
  that grid plus the interpolator's support plus 24 voxels, after which the cubic B-spline prefilter (pole
  0.268) has forgotten the crop's edge (0.268**24 ~ 2e-14). Every image type (filters included) then
  sees exactly the extent plain pyradiomics gives it.
- Without resampling, plain pyradiomics filters the whole image; the crop keeps a margin (``pad``) for the
  filters: exact for Original features, to float32 precision (~1e-6) for LoG (recursive Gaussian) and to
  ~1e-12 for wavelets. Only Original, LoG, Wavelet and Gradient are allowed then (Square, SquareRoot,
  Logarithm, Exponential and LBP depend on whole-image extrema or large neighbourhoods: use ``crop=False``).
- ``crop=False`` is plain pyradiomics on the whole image (after cdbench's reading and checks).

A NaN or infinite image voxel that reaches the features fails the case (``non-finite voxels``): one inside a
region always; one elsewhere when the extraction reads it (the whole image with ``normalize`` or
``crop=False``, the cropped neighbourhood with resampling or filters). NIfTI voxels are checked in the file's
bytes (``imageio.non_finite_voxels``), because ITK's reader silently turns them into 0.

Failures are ``ExtractionError`` with a ``category`` ("unreadable file", "invalid label", "several scans",
"geometry mismatch", "mask mismatch" (an RTSTRUCT/SEG of another series or with regions to name), "empty mask",
"label absent", "non-finite voxels", "unsupported image", "pyradiomics error") and a message naming the patient, the file and the fix.

Command line: ``python -m features.imaging IMAGE MASK [--params mr|ct|FILE] [--label CELL]
[--filters log+wavelet] [--aggregate weighted_mean max ...]`` prints one case's features as JSON.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import SimpleITK as sitk
import yaml
from radiomics import featureextractor, imageoperations

from benchmarks.cohort.imageio import (
    GEOMETRY_FIX,
    ImageReadError,
    LabelMask,
    geometry_differences,
    info_from_image,
    non_finite_in,
    non_finite_voxels,
    read_mask,
)
from benchmarks.cohort.imageio import read_image as _read_image
from benchmarks.cohort.regions import Region, RegionSpecError, format_regions, parse_regions
from benchmarks.cohort.schema import IMAGE_MODALITIES, LABEL_COLUMN
from features.base import ExtractionError, Extractor

# pyradiomics logs per-case warnings (e.g. "GLCM is symmetrical") to stderr at WARNING; failures are
# raised and recorded by the engine, so only errors are worth printing.
logging.getLogger("radiomics").setLevel(logging.ERROR)

PARAMS_DIR = Path(__file__).resolve().parent / "params"
SHIPPED_PARAMS: dict[str, Path] = {"mr": PARAMS_DIR / "mr.yaml", "ct": PARAMS_DIR / "ct.yaml"}
DEFAULT_PARAMS: dict[str, str] = {"MR": "mr", "CT": "ct"}
"""The default parameter file of each scan modality (never modified: ``params`` is stored as given)."""
PYRADIOMICS_KEYS = frozenset({"imageType", "featureClass", "setting", "voxelSetting"})
FEATURE_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
FILTER_CHOICES = ("none", "log", "wavelet", "log+wavelet")
DEFAULT_LOG_SIGMA = [1.0, 2.0, 3.0]  # mm; bowel wall is 3-10 mm thick
CROP_INVARIANT_TYPES = {"Original", "LoG", "Wavelet", "Gradient"}
PYRADIOMICS_PAD_DISTANCE = 5  # pyradiomics' default padDistance

FEATURE_AGGREGATES: dict[str, str] = {
    "weighted_mean": "wmean",
    "mean": "mean",
    "max": "max",
    "min": "min",
    "largest": "largest",
}
"""Per-feature aggregation rules and the column tag they write (``<tag>__<feature>``)."""
COUNT_AGGREGATES = ("n_regions", "total_volume")
"""Whole-mask aggregates: one column each."""
AGGREGATES = (*FEATURE_AGGREGATES, *COUNT_AGGREGATES)
DEFAULT_AGGREGATE: tuple[str, ...] = ("weighted_mean", "n_regions", "total_volume")

# Crop margins in input voxels.
LOG_TRUNCATE = 8.0  # sigmas: the recursive (Deriche) Gaussian has exponential, not Gaussian, tails
PREFILTER_MARGIN = 24  # B-spline prefilter pole 0.268: 0.268**24 ~ 2e-14 of the intensity range
INTERPOLATOR_MARGIN = {"sitkNearestNeighbor": 1, "sitkLinear": 2}  # others: support (<= 6) + prefilter
OTHER_INTERPOLATOR_MARGIN = 6 + PREFILTER_MARGIN
ITK_THREADS = 1

LABEL_FIX = (
    f"set the '{LABEL_COLUMN}' column of imaging.csv for this scan (e.g. '2', or '1;2;3' for several regions)"
)


def read_image(path: str | os.PathLike[str]) -> sitk.Image:
    """Read an image or mask (NIfTI, NRRD, MHA/MHD, DICOM series folder) through ``benchmarks.cohort.imageio``."""
    return _read_image(path)


ParamSpec = str | os.PathLike[str] | Mapping[str, Any]


def _spec_path(params: str | os.PathLike[str]) -> Path:
    return SHIPPED_PARAMS.get(str(params).lower(), Path(params))


def load_params(params: ParamSpec) -> dict[str, Any]:
    """pyradiomics parameters as a dict: a shipped name ("mr", "ct"), a YAML file path, or a mapping."""
    if isinstance(params, Mapping):
        cfg = copy.deepcopy(dict(params))
    else:
        path = _spec_path(params)
        if not path.is_file():
            raise FileNotFoundError(
                f"radiomics parameter file {str(params)!r} not found (shipped: {sorted(SHIPPED_PARAMS)})"
            )
        with open(path, encoding="utf-8") as fh:
            cfg = yaml.safe_load(fh) or {}
        if not isinstance(cfg, dict):
            raise ValueError(f"radiomics parameter file {path}: expected a mapping at the top level")
    cfg.setdefault("imageType", {"Original": {}})
    cfg["imageType"] = {k: dict(v or {}) for k, v in (cfg.get("imageType") or {"Original": {}}).items()}
    if not cfg.get("featureClass"):
        cfg["featureClass"] = {name: [] for name in FEATURE_CLASSES}
    cfg["setting"] = dict(cfg.get("setting") or {})
    return cfg


def params_bytes(params: ParamSpec) -> bytes:
    """The bytes that define ``params``: the file's content, or canonical JSON of a mapping."""
    if isinstance(params, Mapping):
        return json.dumps(params, sort_keys=True, default=str).encode()
    return _spec_path(params).read_bytes()


def modality_params(params: ParamSpec | Mapping[str, ParamSpec]) -> dict[str, ParamSpec]:
    """``{modality: parameter spec}`` in ``IMAGE_MODALITIES`` order: a mapping keyed by scan modalities
    ("MR", "CT", any case) as given, a single spec (name, path, pyradiomics mapping) for every modality."""
    if isinstance(params, Mapping) and params and all(isinstance(k, str) for k in params):
        keys = {k.upper(): k for k in params}
        if set(keys) <= set(IMAGE_MODALITIES):
            if len(keys) != len(params):
                raise ValueError(f"radiomics params: modality given twice in {sorted(params)}")
            return {m: params[keys[m]] for m in IMAGE_MODALITIES if m in keys}
        if not set(params) <= PYRADIOMICS_KEYS:
            raise ValueError(
                f"radiomics params: keys {sorted(map(str, params))} are neither scan modalities "
                f"{list(IMAGE_MODALITIES)} (a parameter file per modality) nor pyradiomics sections "
                f"{sorted(PYRADIOMICS_KEYS)} (one pyradiomics parameter mapping)"
            )
    return dict.fromkeys(IMAGE_MODALITIES, params)


def apply_filters(cfg: dict[str, Any], filters: str | None) -> dict[str, Any]:
    """Set the image types from ``filters`` ("none", "log", "wavelet", "log+wavelet"; None keeps the YAML's)."""
    if filters is None:
        return cfg
    key = str(filters).lower().replace(" ", "")
    if key not in FILTER_CHOICES and key != "wavelet+log":
        raise ValueError(f"filters must be one of {FILTER_CHOICES} or None, got {filters!r}")
    types: dict[str, dict[str, Any]] = {"Original": cfg["imageType"].get("Original", {})}
    if "log" in key:
        types["LoG"] = cfg["imageType"].get("LoG") or {"sigma": list(DEFAULT_LOG_SIGMA)}
    if "wavelet" in key:
        types["Wavelet"] = cfg["imageType"].get("Wavelet") or {}
    cfg["imageType"] = types
    return cfg


def _resamples(settings: Mapping[str, Any]) -> bool:
    # the condition of pyradiomics' featureextractor.loadImage
    return settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None


def working_spacing(settings: Mapping[str, Any], spacing: tuple[float, ...]) -> np.ndarray:
    """Voxel spacing (x, y, z) on which filters and features run: the resampled one when resampling."""
    sp = np.asarray(spacing, dtype=float)
    if not _resamples(settings):
        return sp
    new = np.asarray(settings["resampledPixelSpacing"], dtype=float)
    return np.where(new == 0, sp, new)


def filter_pad(
    image_types: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any], spacing: np.ndarray
) -> np.ndarray:
    """Voxels (x, y, z) of context the enabled filters need around the ROI on the working grid."""
    pad = np.zeros(len(spacing), dtype=int)
    for name, opts in image_types.items():
        opts = {**settings, **(opts or {})}
        if name == "LoG":
            sigmas = [float(s) for s in opts.get("sigma", [])]
            if sigmas:
                pad = np.maximum(pad, np.ceil(LOG_TRUNCATE * max(sigmas) / spacing).astype(int) + 1)
        elif name == "Wavelet":
            import pywt

            wavelet = opts.get("wavelet", "coif1")
            dec_len = pywt.Wavelet(wavelet).dec_len if isinstance(wavelet, str) else wavelet.dec_len
            levels = int(opts.get("start_level", 0)) + int(opts.get("level", 1))
            pad = np.maximum(pad, levels * dec_len + 2)
        elif name == "Gradient":
            pad = np.maximum(pad, 2)
    return pad


def pyradiomics_grid_window(
    spacing: Sequence[float], size: Sequence[int], lo: np.ndarray, hi: np.ndarray, settings: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The input voxels (x, y, z; first, last, unclipped) that pyradiomics' resampling grid of an ROI with
    bounding box ``lo``-``hi`` reads: the grid of ``imageoperations.resampleImage`` (ROI plus
    ``padDistance`` new voxels, clipped to the image) plus the interpolator's support and prefilter."""
    old = np.asarray(spacing, dtype=float)
    pad_distance = settings.get("padDistance", PYRADIOMICS_PAD_DISTANCE)
    new = np.asarray(settings["resampledPixelSpacing"], dtype=float)
    new = np.where(new == 0, old, new)
    new = np.where(hi - lo + 1 != 1, new, old)  # pyradiomics keeps the spacing along a one-slice ROI
    if np.allclose(old, new):  # pyradiomics only crops: ROI plus padDistance input voxels
        return lo - pad_distance - 1, hi + pad_distance + 1
    ratio = old / new
    first_new = np.maximum(np.floor((lo - 0.5) * ratio - pad_distance), 0)
    last_new = np.minimum(np.ceil((hi + 0.5) * ratio + pad_distance), np.ceil(np.asarray(size) * ratio) - 1)
    origin = 0.5 * (new - old) / old  # centre of the first new voxel, in input voxels
    first = origin + first_new / ratio
    last = origin + last_new / ratio
    interp = settings.get("interpolator")
    margin = INTERPOLATOR_MARGIN.get(interp if isinstance(interp, str) else "", OTHER_INTERPOLATOR_MARGIN)
    return np.floor(first).astype(int) - margin, np.ceil(last).astype(int) + margin


def _hash_path(h: Any, path: str | os.PathLike[str]) -> None:
    """Feed a file's bytes, or every file of a folder (sorted, with relative names), into ``h``."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        h.update(f.relative_to(p).as_posix().encode() if p.is_dir() else b"file")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)


@lru_cache(maxsize=8)
def _pyradiomics_extractor(cfg_json: str) -> featureextractor.RadiomicsFeatureExtractor:
    """A configured pyradiomics extractor; cached because building one parses its schema (~0.2 s)."""
    cfg = json.loads(cfg_json)
    return featureextractor.RadiomicsFeatureExtractor(
        {"imageType": cfg["imageType"], "featureClass": cfg["featureClass"], "setting": cfg["setting"]}
    )


def _crop(image: sitk.Image, lo: np.ndarray, hi: np.ndarray) -> sitk.Image:
    size = np.asarray(image.GetSize())
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, size - 1)
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])


def _regions_of(label: str | Sequence[Region] | None) -> tuple[Region, ...]:
    if label is None or isinstance(label, str):
        return parse_regions(label)
    return tuple(label)


class _Prefix:
    """``prefix``: ``rad__`` on the class (the registry's namespace), ``rad__mr__`` on a single-modality
    extractor (``rad__`` when it covers several: its keys then start with ``mr__``/``ct__``)."""

    def __get__(self, obj: Any, owner: type) -> str:
        if obj is None:
            return owner.base_prefix
        part = obj.part
        return f"{owner.base_prefix}{part.lower()}__" if part else owner.base_prefix


class RadiomicsExtractor(Extractor):
    """pyradiomics features of a patient's scans, one parameter file per modality, per mask region,
    aggregated to the patient (see the module docstring for the policy).

    Parameters
    ----------
    params : ``{modality: spec}`` (default ``{"MR": "mr", "CT": "ct"}``), or one spec for every modality;
        a spec is "mr", "ct", a path to a pyradiomics YAML file, or a pyradiomics parameter mapping.
    filters : None keeps the YAML's image types; "none", "log", "wavelet" or "log+wavelet" sets them
        (LoG sigma defaults to 1, 2, 3 mm, wavelet to coif1 level 1, unless the YAML sets them).
    crop : crop image and mask around each region before pyradiomics runs (False: plain pyradiomics).
    pad : the crop margin kept for the filters when the image is not resampled: "auto" (LoG: 8 sigma,
        wavelet: filter length per level) or a number of voxels. Never passed to pyradiomics: its
        ``padDistance`` is the parameter file's (default 5); with resampling the crop follows that grid.
    aggregate : the rules folding regions into patient features (``AGGREGATES``).

    Several scans of one modality for a patient: an error ("several scans"); the cohort's selection rule
    (``Cohort.scans``) is expected to have picked one.
    """

    name: ClassVar[str] = "radiomics"
    version: ClassVar[str] = "2"
    modality: ClassVar[str] = "imaging"
    base_prefix: ClassVar[str] = "rad__"
    prefix = _Prefix()
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "SimpleITK", "pyradiomics-bhklab", "PyWavelets")

    def __init__(
        self,
        params: ParamSpec | Mapping[str, ParamSpec] = DEFAULT_PARAMS,
        filters: str | None = None,
        crop: bool = True,
        pad: str | int = "auto",
        aggregate: Sequence[str] = DEFAULT_AGGREGATE,
    ) -> None:
        self.params = params
        self.filters = filters
        self.crop = crop
        self.pad = pad
        self.aggregate = aggregate

    # --- modalities and parts -----------------------------------------------------------------------
    def modality_params(self) -> dict[str, ParamSpec]:
        """``{modality: parameter spec}`` of the configured scan modalities."""
        return modality_params(self.params)

    @property
    def part(self) -> str:
        """The scan modality of a single-modality extractor ("MR", "CT"); "" when it covers several."""
        specs = self.modality_params()
        return next(iter(specs)) if len(specs) == 1 else ""

    def parts(self) -> list[RadiomicsExtractor]:
        """One single-modality extractor per configured modality (``[self]`` when there is one)."""
        specs = self.modality_params()
        if len(specs) == 1:
            return [self]
        others = {k: v for k, v in self.get_params(deep=False).items() if k != "params"}
        return [type(self)(params={m: spec}, **others) for m, spec in specs.items()]

    def skipped_modalities(
        self, cohort: Any, patient_ids: Sequence[str] | None = None
    ) -> dict[str, list[str]]:
        """``{modality: patient ids}`` of scans whose modality has no parameter file (not extracted)."""
        configured = set(self.modality_params())
        out: dict[str, list[str]] = {}
        pids = cohort.patients_with(self.modality) if patient_ids is None else patient_ids
        for pid in pids:
            scans = cohort.scans(pid)
            for m in sorted({str(v).upper() for v in scans["modality"]} - configured) if len(scans) else []:
                out.setdefault(m, []).append(str(pid))
        return out

    # --- configuration ------------------------------------------------------------------------------
    def _spec(self, modality: str | None = None) -> ParamSpec:
        specs = self.modality_params()
        if modality is not None:
            key = str(modality).upper()
            if key not in specs:
                raise ExtractionError(
                    f"no radiomics parameter file for {key} scans (configured: {sorted(specs)}); "
                    f"add one, e.g. params={{'{key}': '{key.lower()}'}} or a YAML path",
                    category="no parameter file",
                )
            return specs[key]
        distinct = {params_bytes(s) for s in specs.values()}
        if len(distinct) > 1:
            raise ValueError(
                f"this extractor has a parameter file per modality ({sorted(specs)}): pass modality=, "
                "or use one of parts()"
            )
        return next(iter(specs.values()))

    def config(self, modality: str | None = None) -> dict[str, Any]:
        """The pyradiomics parameters in force for ``modality`` (params file plus ``filters``), validated."""
        cfg = apply_filters(load_params(self._spec(modality)), self.filters)
        settings = cfg["setting"]
        if int(settings.get("label", 1)) != 1:
            raise ValueError(
                f"the parameter file sets label {settings['label']}: the label is set per scan by the "
                f"'{LABEL_COLUMN}' column of imaging.csv; remove 'label' from the parameter file"
            )
        if self.crop and not _resamples(settings) and not settings.get("preCrop", False):
            bad = sorted(set(cfg["imageType"]) - CROP_INVARIANT_TYPES)
            if bad:
                raise ValueError(
                    f"image types {bad} depend on the whole image when it is not resampled: use crop=False"
                )
        if not (self.pad == "auto" or (isinstance(self.pad, int) and self.pad >= 0)):
            raise ValueError(f"pad must be 'auto' or a non-negative int, got {self.pad!r}")
        rules = list(self.aggregate) if not isinstance(self.aggregate, str) else [self.aggregate]
        unknown = sorted(set(rules) - set(AGGREGATES))
        if not rules or unknown or len(set(rules)) != len(rules):
            raise ValueError(
                f"aggregate must be distinct rules among {list(AGGREGATES)}, got {self.aggregate!r}"
            )
        return cfg

    def _filter_margin(self, cfg: dict[str, Any], spacing: tuple[float, ...]) -> np.ndarray:
        """The crop margin (x, y, z input voxels) without resampling: the filters' need, or ``pad``."""
        settings = cfg["setting"]
        if self.pad != "auto":
            pad = np.full(3, int(self.pad))
        else:
            pad = filter_pad(cfg["imageType"], settings, np.asarray(spacing, dtype=float))
        if settings.get("preCrop", False):
            pad = np.maximum(pad, int(settings.get("padDistance", PYRADIOMICS_PAD_DISTANCE)) + 1)
        return pad

    def _window(
        self, cfg: dict[str, Any], image: sitk.Image, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The input voxels (x, y, z; first, last, clipped to the image) the cropped extraction reads."""
        settings = cfg["setting"]
        if _resamples(settings):
            first, last = pyradiomics_grid_window(image.GetSpacing(), image.GetSize(), lo, hi, settings)
        else:
            margin = self._filter_margin(cfg, image.GetSpacing())
            first, last = lo - margin, hi + margin
        return np.maximum(first, 0), np.minimum(last, np.asarray(image.GetSize()) - 1)

    # --- Extractor contract -------------------------------------------------------------------------
    def inputs(self, cohort: Any, patient_id: str) -> dict[str, Any] | None:
        """A single-modality extractor: the patient's scan of that modality (ids, absolute paths, the
        canonical label cell), None without one. Several modalities: ``{"patient_id", "parts": {...}}``
        with the modalities the patient has, None with none."""
        part = self.part
        if not part:
            found = {p.part: i for p in self.parts() if (i := p.inputs(cohort, patient_id)) is not None}
            return {"patient_id": str(patient_id), "parts": found} if found else None
        scans = cohort.scans(patient_id)
        if scans is None or len(scans) == 0:
            return None
        rows = scans[scans["modality"].astype(str).str.upper() == part]
        if len(rows) == 0:
            return None
        if len(rows) > 1:
            files = ", ".join(str(v) for v in rows["image"]) if "image" in rows else f"{len(rows)} rows"
            raise ExtractionError(
                f"patient {patient_id}: {len(rows)} {part} scans in imaging.csv ({files}); radiomics uses one "
                "scan per modality: give the scans a date or timepoint column and a selection rule, or keep one",
                category="several scans",
            )
        row = rows.iloc[0]
        cell = row.get(LABEL_COLUMN)
        cell = None if cell is None or (isinstance(cell, float) and math.isnan(cell)) else str(cell)
        try:
            label = format_regions(parse_regions(cell))
        except RegionSpecError as exc:
            raise ExtractionError(
                f"patient {patient_id}: imaging.csv, mask {row['mask_path']}, field '{LABEL_COLUMN}': {exc}",
                category="invalid label",
            ) from exc
        return {
            "patient_id": str(patient_id),
            "image": str(row["image_path"]),
            "mask": str(row["mask_path"]),
            "modality": part,
            "label": label,
        }

    def input_fingerprint(self, inputs: Mapping[str, Any]) -> str:
        """sha256 of the image and mask contents (a DICOM folder: every file, sorted), the label cell and
        the modality's parameters; several modalities: of each part's fingerprint."""
        h = hashlib.sha256()
        if "parts" in inputs:
            for p in self.parts():
                if p.part in inputs["parts"]:
                    h.update(f"{p.part}:{p.input_fingerprint(inputs['parts'][p.part])};".encode())
            return h.hexdigest()
        for key in ("image", "mask"):
            h.update(key.encode())
            _hash_path(h, inputs[key])
        h.update(b"label" + str(inputs.get("label") or "").encode())
        h.update(b"params")
        h.update(params_bytes(self._spec(inputs.get("modality"))))
        return h.hexdigest()

    def extract(self, inputs: Mapping[str, Any]) -> dict[str, float]:
        """Aggregated features of the inputs (several modalities: keys ``mr__...``, ``ct__...``)."""
        if "parts" in inputs:
            out: dict[str, float] = {}
            for p in self.parts():
                if p.part in inputs["parts"]:
                    out.update(
                        {f"{p.part.lower()}__{k}": v for k, v in p.extract(inputs["parts"][p.part]).items()}
                    )
            return out
        return self.extract_case(
            inputs["image"],
            inputs["mask"],
            patient_id=inputs.get("patient_id"),
            label=inputs.get("label"),
            modality=inputs.get("modality"),
        )

    # --- extraction ---------------------------------------------------------------------------------
    def extract_case(
        self,
        image_path: str | os.PathLike[str],
        mask_path: str | os.PathLike[str],
        patient_id: str | None = None,
        label: str | Sequence[Region] | None = None,
        modality: str | None = None,
    ) -> dict[str, float]:
        """Aggregated features of one image/mask pair given by paths; ``label``: a label cell or regions."""
        return self._aggregate(*self.region_features(image_path, mask_path, patient_id, label, modality))

    def region_features(
        self,
        image_path: str | os.PathLike[str],
        mask_path: str | os.PathLike[str],
        patient_id: str | None = None,
        label: str | Sequence[Region] | None = None,
        modality: str | None = None,
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """pyradiomics features of each region present (``{region name: features}``) and its volume (mm^3)."""
        who = f"patient {patient_id}: " if patient_id is not None else ""
        regions = _regions_of(label)
        cfg = self.config(modality)
        try:
            image = read_image(image_path)
        except (ImageReadError, OSError, RuntimeError) as exc:
            raise ExtractionError(f"{who}image file {image_path}: {exc}", category="unreadable file") from exc
        try:
            mask = read_mask(mask_path, image_path, regions)
        except (ImageReadError, OSError, RuntimeError) as exc:
            category = getattr(exc, "category", "unreadable file")
            raise ExtractionError(f"{who}mask file {mask_path}: {exc}", category=category) from exc
        try:
            non_finite = non_finite_voxels(image_path, image=image)
        except ImageReadError as exc:
            raise ExtractionError(f"{who}image file {image_path}: {exc}", category="unreadable file") from exc
        # the list is handed over so that the full volumes are freed as soon as they are cropped
        where = f"{who}image {image_path}, mask {mask_path}"
        return self._extract_pair([image, mask], cfg, where, non_finite)

    def extract_images(
        self,
        image: sitk.Image,
        mask: sitk.Image,
        where: str = "",
        label: str | Sequence[Region] | None = None,
        modality: str | None = None,
    ) -> dict[str, float]:
        """Aggregated features of one image/mask pair in memory (the pair is not modified)."""
        regions = _regions_of(label)
        labels = LabelMask(mask, {r.name: int(r.key) for r in regions}, "label")
        cfg = self.config(modality)
        return self._aggregate(*self._extract_pair([image, labels], cfg, where, non_finite_in(image)))

    def _aggregate(self, feats: dict[str, dict[str, float]], volumes: dict[str, float]) -> dict[str, float]:
        """Fold the regions' features into patient features by the ``aggregate`` rules."""
        rules = [self.aggregate] if isinstance(self.aggregate, str) else list(self.aggregate)
        names = list(feats)
        keys = list(feats[names[0]])
        values = np.array([[feats[n][k] for k in keys] for n in names])  # regions x features
        w = np.array([volumes[n] for n in names])
        out: dict[str, float] = {}
        for rule in rules:
            if rule == "n_regions":
                out["n_regions"] = float(len(names))
            elif rule == "total_volume":
                out["total_volume"] = float(w.sum())
            else:
                if rule == "weighted_mean":
                    agg = values[0] if len(names) == 1 else (w @ values) / w.sum()
                elif rule == "mean":
                    agg = values[0] if len(names) == 1 else values.mean(axis=0)
                elif rule == "max":
                    agg = values.max(axis=0)
                elif rule == "min":
                    agg = values.min(axis=0)
                else:  # largest
                    agg = values[int(np.argmax(w))]
                tag = FEATURE_AGGREGATES[rule]
                out.update({f"{tag}__{k}": float(v) for k, v in zip(keys, agg, strict=True)})
        return out

    def _extract_pair(
        self, pair: list[Any], cfg: dict[str, Any], where: str, non_finite: np.ndarray | None
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        # Parallelism is across cases (one volume per worker); ITK's own threads on a cropped ROI cost
        # more than they gain and oversubscribe the cores when workers run side by side.
        threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(ITK_THREADS)
        try:
            return self._extract_images(pair, cfg, where or "case", non_finite)
        finally:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)

    def _extract_images(
        self, pair: list[Any], cfg: dict[str, Any], where: str, non_finite: np.ndarray | None
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        image, labels = pair
        pair.clear()
        mask = labels.image
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise ExtractionError(
                f"{where}: image must be a 3D scalar volume, got {image.GetDimension()}D "
                f"with {image.GetNumberOfComponentsPerPixel()} component(s)",
                category="unsupported image",
            )
        if mask.GetNumberOfComponentsPerPixel() != 1:
            raise ExtractionError(f"{where}: mask must be a scalar label image", category="unsupported image")
        diffs = geometry_differences(info_from_image(image), info_from_image(mask))
        if diffs:
            raise ExtractionError(
                f"{where}: mask geometry mismatch: {'; '.join(diffs)}; {GEOMETRY_FIX}",
                category="geometry mismatch",
            )
        if mask.GetPixelID() not in (sitk.sitkUInt8, sitk.sitkUInt16, sitk.sitkUInt32):
            mask = sitk.Cast(mask, sitk.sitkUInt32)  # as pyradiomics' getMask does
        stats = sitk.LabelShapeStatisticsImageFilter()
        stats.Execute(mask)
        present = [int(v) for v in stats.GetLabels()]
        wanted = dict(labels.labels)
        found = {n: v for n, v in wanted.items() if v in present}
        if not found:
            if not present:
                raise ExtractionError(f"{where}: empty mask (no voxel is labelled)", category="empty mask")
            what = (
                f"label {next(iter(wanted.values()))}"
                if len(wanted) == 1
                else f"labels {sorted(wanted.values())}"
            )
            cell = ";".join(map(str, present))
            here = f"; here, '{cell}' reads the labels found" if labels.kind != "rtstruct" else ""
            raise ExtractionError(
                f"{where}: {what} absent from the mask (labels found: {present}); {LABEL_FIX}{here}",
                category="label absent",
            )
        voxel_mm3 = float(np.prod(mask.GetSpacing()))
        boxes = {}
        for name, value in found.items():
            bb = np.asarray(stats.GetBoundingBox(value))  # x, y, z start, then sizes
            boxes[name] = (bb[:3], bb[:3] + bb[3:] - 1)
        volumes = {n: stats.GetNumberOfPixels(v) * voxel_mm3 for n, v in found.items()}
        del stats

        settings = dict(cfg["setting"])
        settings["additionalInfo"] = False  # diagnostics_* are provenance strings, not features
        if non_finite is not None:
            self._check_finite(non_finite, mask, found, boxes, cfg, image, where)
        del non_finite
        if settings.get("normalize", False):
            # whole-image statistics, exactly as pyradiomics' loadImage does before anything else
            image = imageoperations.normalizeImage(image, **settings)
            settings["normalize"] = False

        feats: dict[str, dict[str, float]] = {}
        for name, value in found.items():
            feats[name] = self._extract_region(image, mask, value, boxes[name], cfg, settings, where, name)
        return feats, volumes

    def _extract_region(
        self,
        image: sitk.Image,
        mask: sitk.Image,
        value: int,
        box: tuple[np.ndarray, np.ndarray],
        cfg: dict[str, Any],
        settings: dict[str, Any],
        where: str,
        name: str,
    ) -> dict[str, float]:
        """pyradiomics on one region (label ``value``), cropped so that the result is plain pyradiomics'."""
        run = {**settings, "label": value}
        what = f"{where}, region {name!r} (label {value})"
        try:
            if self.crop and _resamples(run):
                first, last = self._window(cfg, image, *box)
                # pyradiomics' own resampling, on the cropped image but with the *full* mask: its grid
                # (origin, size) and the nearest-neighbour mask are those of plain pyradiomics
                image, mask = imageoperations.resampleImage(_crop(image, first, last), mask, **run)
                run.update(resampledPixelSpacing=None, preCrop=False)
            elif self.crop:
                first, last = self._window(cfg, image, *box)
                image, mask = _crop(image, first, last), _crop(mask, first, last)
            extractor = _pyradiomics_extractor(
                json.dumps(
                    {"imageType": cfg["imageType"], "featureClass": cfg["featureClass"], "setting": run},
                    sort_keys=True,
                )
            )
            result = extractor.execute(image, mask, label=value)
        except Exception as exc:  # pyradiomics raises ValueError/AssertionError/RuntimeError on bad ROIs
            raise ExtractionError(
                f"{what}: pyradiomics failed: {type(exc).__name__}: {exc}", category="pyradiomics error"
            ) from exc
        out = {k: float(np.asarray(v)) for k, v in result.items() if not k.startswith("diagnostics_")}
        if not out:
            raise ExtractionError(
                f"{what}: no features computed (check featureClass/imageType)", category="pyradiomics error"
            )
        return out

    def _check_finite(
        self,
        non_finite: np.ndarray,
        mask: sitk.Image,
        found: dict[str, int],
        boxes: dict[str, tuple[np.ndarray, np.ndarray]],
        cfg: dict[str, Any],
        image: sitk.Image,
        where: str,
    ) -> None:
        """Fail the case when a NaN or infinite voxel (``non_finite``, z-y-x) reaches the features."""
        fix = "replace them with valid intensities in the image file"
        arr = sitk.GetArrayViewFromImage(mask)
        for value in found.values():
            inside = int(non_finite[arr == value].sum())
            if inside:
                raise ExtractionError(
                    f"{where}: {inside} image voxels inside the mask (label {value}) are NaN or infinite; {fix}",
                    category="non-finite voxels",
                )
        settings = cfg["setting"]
        size = np.asarray(image.GetSize()) - 1
        filters = sorted(set(cfg["imageType"]) - {"Original"})
        if settings.get("normalize", False):
            reads = [(np.zeros(3, int), size)]
            why = "intensity normalisation uses the whole image"
        elif not filters and not _resamples(settings):
            return
        else:
            why = (
                f"the {' and '.join(filters)} filter(s) read" if filters else "resampling reads"
            ) + " the voxels"
            reads = (
                [(np.zeros(3, int), size)]
                if not self.crop
                else [self._window(cfg, image, *b) for b in boxes.values()]
            )
        for (x0, y0, z0), (x1, y1, z1) in reads:
            near = int(non_finite[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1].sum())
            if near:
                raise ExtractionError(
                    f"{where}: {near} image voxels outside the mask are NaN or infinite and {why}; {fix}",
                    category="non-finite voxels",
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features.imaging", description=__doc__.splitlines()[0])
    parser.add_argument("image", help="image file (NIfTI/NRRD/MHA) or DICOM series folder")
    parser.add_argument("mask", help="mask file, DICOM series folder, RTSTRUCT or DICOM-SEG")
    parser.add_argument("--params", default="mr", help="'mr' (default), 'ct' or a pyradiomics YAML file")
    parser.add_argument(
        "--label",
        default=None,
        help="the regions, as in imaging.csv's label column: '2', '1;2;3', 'ileum=1;colon=2'",
    )
    parser.add_argument(
        "--filters", default=None, choices=FILTER_CHOICES, help="override the YAML's image types"
    )
    parser.add_argument(
        "--aggregate",
        nargs="+",
        default=list(DEFAULT_AGGREGATE),
        choices=AGGREGATES,
        help="aggregation rules",
    )
    parser.add_argument("--no-crop", action="store_true", help="run pyradiomics on the whole image")
    args = parser.parse_args(argv)
    ext = RadiomicsExtractor(
        params=args.params, filters=args.filters, crop=not args.no_crop, aggregate=tuple(args.aggregate)
    )
    try:
        feats = ext.extract_case(args.image, args.mask, label=args.label)
    except (ExtractionError, RegionSpecError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    json.dump(feats, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
