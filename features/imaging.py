"""Radiomics features of one MR/CT scan and its mask, with pyradiomics (``pyradiomics-bhklab``).

``RadiomicsExtractor`` reads the image and mask (NIfTI, NRRD, MHA or a DICOM series folder, through
``benchmarks.cohort.imageio.read_image``), checks that they share one geometry and that the mask holds the
label, and then crops both to the mask's bounding box plus a margin before pyradiomics runs. The
margin (``pad="auto"``) is derived from the enabled filters and the resampling so that the features
are the ones pyradiomics computes on the whole image:

- intensity normalisation (``normalize``) uses whole-image statistics, so it is applied to the full
  image first, exactly as pyradiomics does;
- resampling keeps pyradiomics' grid, which is defined by the *full* mask: the cropped image is
  resampled onto that grid (``imageoperations.resampleImage`` with the full mask), and the crop keeps
  enough voxels around the ROI for the B-spline prefilter and the padding to be unaffected;
- LoG (recursive Gaussian) and wavelet (stationary, periodic) filters see enough context that the
  values inside the mask do not change (to float precision).

A NaN or infinite image voxel that reaches the features fails the case (``ExtractionError``): one inside
the mask always; one elsewhere when the extraction reads it (the whole image with ``normalize`` or
``crop=False``, the cropped neighbourhood with resampling or filters). NIfTI voxels are checked in the
file's bytes (``imageio.non_finite_voxels``), because ITK's reader silently turns them into 0.

Only Original, LoG, Wavelet and Gradient image types are crop-invariant; Square, SquareRoot,
Logarithm, Exponential and LBP depend on whole-image extrema or large neighbourhoods and need
``crop=False``.

Command line: ``python -m features.imaging IMAGE MASK [--params mr|ct|FILE] [--filters log+wavelet]``
prints one case's features as JSON.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import SimpleITK as sitk
import yaml
from radiomics import featureextractor, imageoperations

from benchmarks.cohort.imageio import (
    ImageReadError,
    geometry_differences,
    info_from_image,
    non_finite_in,
    non_finite_voxels,
)
from benchmarks.cohort.imageio import read_image as _read_image
from features.base import ExtractionError, Extractor

# pyradiomics logs per-case warnings (e.g. "GLCM is symmetrical") to stderr at WARNING; failures are
# raised and recorded by the engine, so only errors are worth printing.
logging.getLogger("radiomics").setLevel(logging.ERROR)

PARAMS_DIR = Path(__file__).resolve().parent / "params"
SHIPPED_PARAMS: dict[str, Path] = {"mr": PARAMS_DIR / "mr.yaml", "ct": PARAMS_DIR / "ct.yaml"}
FEATURE_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
FILTER_CHOICES = ("none", "log", "wavelet", "log+wavelet")
DEFAULT_LOG_SIGMA = [1.0, 2.0, 3.0]  # mm; bowel wall is 3-10 mm thick
CROP_INVARIANT_TYPES = {"Original", "LoG", "Wavelet", "Gradient"}

# Margins in voxels, chosen so that cropped and uncropped extraction agree to float32 precision.
LOG_TRUNCATE = 8.0  # sigmas: the recursive (Deriche) Gaussian has exponential, not Gaussian, tails
BSPLINE_MARGIN = 16  # input voxels: the cubic B-spline prefilter pole 0.268 decays to ~1e-9 at 16
ITK_THREADS = 1
INTERPOLATOR_MARGIN = {"sitkNearestNeighbor": 1, "sitkLinear": 2}


def read_image(path: str | os.PathLike[str]) -> sitk.Image:
    """Read an image or mask (NIfTI, NRRD, MHA/MHD, DICOM series folder) through ``benchmarks.cohort.imageio``."""
    return _read_image(path)


def load_params(params: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """pyradiomics parameters as a dict: a shipped name ("mr", "ct"), a YAML file path, or a mapping."""
    if isinstance(params, Mapping):
        cfg = copy.deepcopy(dict(params))
    else:
        path = SHIPPED_PARAMS.get(str(params).lower(), Path(params))
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


def params_bytes(params: str | os.PathLike[str] | Mapping[str, Any]) -> bytes:
    """The bytes that define ``params``: the file's content, or canonical JSON of a mapping."""
    if isinstance(params, Mapping):
        return json.dumps(params, sort_keys=True, default=str).encode()
    path = SHIPPED_PARAMS.get(str(params).lower(), Path(params))
    return path.read_bytes()


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
    extractor = featureextractor.RadiomicsFeatureExtractor(
        {"imageType": cfg["imageType"], "featureClass": cfg["featureClass"], "setting": cfg["setting"]}
    )
    return extractor


def _crop_window(
    spacing: tuple[float, ...], lo: np.ndarray, hi: np.ndarray, pad: int, settings: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The voxels (x, y, z; first, last, unclipped) cropping keeps around the ROI's box ``lo``-``hi``: the
    pad, and with resampling the pad on the new grid plus the interpolator's margin."""
    if not _resamples(settings):
        return lo - pad, hi + pad
    old = np.asarray(spacing, dtype=float)
    new = working_spacing(settings, tuple(old))
    interp = settings.get("interpolator")
    margin = INTERPOLATOR_MARGIN.get(interp if isinstance(interp, str) else "", BSPLINE_MARGIN)
    margin_vox = np.ceil((pad + 1) * new / old).astype(int) + margin
    return lo - margin_vox, hi + margin_vox


def _crop(image: sitk.Image, lo: np.ndarray, hi: np.ndarray) -> sitk.Image:
    size = np.asarray(image.GetSize())
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, size - 1)
    return sitk.RegionOfInterest(image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])


class RadiomicsExtractor(Extractor):
    """pyradiomics features of the patient's first scan of ``scan_modality`` within its mask.

    Parameters
    ----------
    params : "mr" (default), "ct", a path to a pyradiomics YAML file, or a pyradiomics parameter mapping.
    filters : None keeps the YAML's image types; "none", "log", "wavelet" or "log+wavelet" sets them
        (LoG sigma defaults to 1, 2, 3 mm, wavelet to coif1 level 1, unless the YAML sets them).
    crop : crop image and mask to the mask's bounding box plus ``pad`` before pyradiomics runs.
    pad : "auto" or a number of voxels on the working grid. "auto" takes what the enabled filters need
        (LoG: 8 sigma, wavelet: filter length per level) and at least the YAML's ``padDistance``; it is
        passed to pyradiomics as ``padDistance`` (also with ``crop=False``). With resampling the crop
        adds a margin for the interpolator (B-spline: 16 input voxels).
    scan_modality : the scans used ("MR" or "CT"); None means "CT" for params "ct", else "MR".

    Rule for several scans: the first row of imaging.csv (file order) whose modality matches.
    """

    name: ClassVar[str] = "radiomics"
    version: ClassVar[str] = "1"
    modality: ClassVar[str] = "imaging"
    prefix: ClassVar[str] = "rad__"
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "SimpleITK", "pyradiomics-bhklab", "PyWavelets")

    def __init__(
        self,
        params: str | os.PathLike[str] | Mapping[str, Any] = "mr",
        filters: str | None = None,
        crop: bool = True,
        pad: str | int = "auto",
        scan_modality: str | None = None,
    ) -> None:
        self.params = params
        self.filters = filters
        self.crop = crop
        self.pad = pad
        self.scan_modality = scan_modality

    # --- configuration ------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The pyradiomics parameters in force (params file plus ``filters``), validated."""
        cfg = apply_filters(load_params(self.params), self.filters)
        if self.crop:
            bad = sorted(set(cfg["imageType"]) - CROP_INVARIANT_TYPES)
            if bad:
                raise ValueError(f"image types {bad} are not crop-invariant: use crop=False")
        if not (self.pad == "auto" or (isinstance(self.pad, int) and self.pad >= 0)):
            raise ValueError(f"pad must be 'auto' or a non-negative int, got {self.pad!r}")
        return cfg

    def pad_voxels(self, spacing: tuple[float, ...], cfg: dict[str, Any] | None = None) -> int:
        """The padDistance (working-grid voxels) used for an image of ``spacing``."""
        cfg = cfg if cfg is not None else self.config()
        if self.pad != "auto":
            return int(self.pad)
        settings = cfg["setting"]
        pad = filter_pad(cfg["imageType"], settings, working_spacing(settings, spacing))
        # a padDistance written in the YAML is honoured as a minimum
        return max(int(pad.max(initial=0)), int(settings.get("padDistance", 0)), 1)

    def _scan_modality(self) -> str:
        if self.scan_modality is not None:
            return str(self.scan_modality).upper()
        return "CT" if str(self.params).lower() == "ct" else "MR"

    # --- Extractor contract -------------------------------------------------------------------------
    def inputs(self, cohort: Any, patient_id: str) -> dict[str, str] | None:
        """The first scan (imaging.csv order) of the wanted modality: ids and absolute paths, or None."""
        scans = cohort.scans(patient_id)
        if scans is None or len(scans) == 0:
            return None
        wanted = self._scan_modality()
        rows = scans[scans["modality"].astype(str).str.upper() == wanted]
        if len(rows) == 0:
            return None
        row = rows.iloc[0]
        return {
            "patient_id": str(patient_id),
            "image": str(row["image_path"]),
            "mask": str(row["mask_path"]),
            "modality": wanted,
        }

    def input_fingerprint(self, inputs: Mapping[str, str]) -> str:
        """sha256 of the image and mask contents (a DICOM folder: every file, sorted) and the params."""
        h = hashlib.sha256()
        for key in ("image", "mask"):
            h.update(key.encode())
            _hash_path(h, inputs[key])
        h.update(b"params")
        h.update(params_bytes(self.params))
        return h.hexdigest()

    def extract(self, inputs: Mapping[str, str]) -> dict[str, float]:
        return self.extract_case(inputs["image"], inputs["mask"], patient_id=inputs.get("patient_id"))

    # --- extraction ---------------------------------------------------------------------------------
    def extract_case(
        self,
        image_path: str | os.PathLike[str],
        mask_path: str | os.PathLike[str],
        patient_id: str | None = None,
    ) -> dict[str, float]:
        """Features of one image/mask pair given by paths."""
        who = f"patient {patient_id}: " if patient_id is not None else ""
        images = []
        for field, path in (("image", image_path), ("mask", mask_path)):
            try:
                images.append(read_image(path))
            except (ImageReadError, OSError, RuntimeError) as exc:
                raise ExtractionError(f"{who}{field} file {path}: {exc}") from exc
        try:
            non_finite = non_finite_voxels(image_path, image=images[0])
        except ImageReadError as exc:
            raise ExtractionError(f"{who}image file {image_path}: {exc}") from exc
        # the list is handed over so that the full volumes are freed as soon as they are cropped
        return self._extract_pair(images, f"{who}image {image_path}, mask {mask_path}", non_finite)

    def extract_images(self, image: sitk.Image, mask: sitk.Image, where: str = "") -> dict[str, float]:
        """Features of one image/mask pair in memory (the pair is not modified)."""
        return self._extract_pair([image, mask], where, non_finite_in(image))

    def _extract_pair(
        self, pair: list[sitk.Image], where: str, non_finite: np.ndarray | None
    ) -> dict[str, float]:
        # Parallelism is across cases (one volume per worker); ITK's own threads on a cropped ROI cost
        # more than they gain and oversubscribe the cores when workers run side by side.
        threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(ITK_THREADS)
        try:
            return self._extract_images(pair, where, non_finite)
        finally:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)

    def _extract_images(
        self, pair: list[sitk.Image], where: str, non_finite: np.ndarray | None
    ) -> dict[str, float]:
        image, mask = pair
        pair.clear()
        where = where or "case"
        cfg = self.config()
        settings = dict(cfg["setting"])
        settings["additionalInfo"] = False  # diagnostics_* are provenance strings, not features
        label = int(settings.get("label", 1))

        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise ExtractionError(
                f"{where}: image must be a 3D scalar volume, got {image.GetDimension()}D "
                f"with {image.GetNumberOfComponentsPerPixel()} component(s)"
            )
        if mask.GetNumberOfComponentsPerPixel() != 1:
            raise ExtractionError(f"{where}: mask must be a scalar label image")
        diffs = geometry_differences(info_from_image(image), info_from_image(mask))
        if diffs:
            raise ExtractionError(f"{where}: mask geometry mismatch: {'; '.join(diffs)}")
        mask = sitk.Cast(mask, sitk.sitkUInt32)
        arr = sitk.GetArrayViewFromImage(mask)  # (z, y, x)
        roi = arr == label
        if not roi.any():
            present = np.unique(arr[arr != 0])
            detail = (
                "empty mask" if present.size == 0 else f"label {label} absent (labels {present.tolist()})"
            )
            raise ExtractionError(f"{where}: {detail}")
        idx = [np.flatnonzero(roi.any(axis=ax)) for ax in ((0, 1), (0, 2), (1, 2))]  # x, y, z
        lo = np.array([i[0] for i in idx])
        hi = np.array([i[-1] for i in idx])
        pad = self.pad_voxels(image.GetSpacing(), cfg)
        if non_finite is not None:
            self._check_finite(
                non_finite, roi, label, self._read_box(cfg, settings, image, lo, hi, pad), where
            )
        del arr, roi, idx, non_finite

        settings["padDistance"] = pad
        try:
            if self.crop:
                image, mask = self._prepare_cropped(image, mask, lo, hi, pad, settings)
                settings.update(normalize=False, resampledPixelSpacing=None, preCrop=False)
            extractor = _pyradiomics_extractor(
                json.dumps(
                    {"imageType": cfg["imageType"], "featureClass": cfg["featureClass"], "setting": settings},
                    sort_keys=True,
                )
            )
            result = extractor.execute(image, mask)
        except ExtractionError:
            raise
        except Exception as exc:  # pyradiomics raises ValueError/AssertionError/RuntimeError on bad ROIs
            raise ExtractionError(f"{where}: pyradiomics failed: {type(exc).__name__}: {exc}") from exc
        finally:
            del image, mask
        out: dict[str, float] = {}
        for key, value in result.items():
            if key.startswith("diagnostics_"):
                continue
            out[key] = float(np.asarray(value))
        if not out:
            raise ExtractionError(f"{where}: no features computed (check featureClass/imageType)")
        return out

    def _prepare_cropped(
        self, image: sitk.Image, mask: sitk.Image, lo: np.ndarray, hi: np.ndarray, pad: int, settings: dict
    ) -> tuple[sitk.Image, sitk.Image]:
        """Normalise on the full image, crop with margin, resample onto pyradiomics' full-mask grid."""
        if settings.get("normalize", False):
            image = imageoperations.normalizeImage(image, **settings)
        first, last = _crop_window(image.GetSpacing(), lo, hi, pad, settings)
        if not _resamples(settings):
            return _crop(image, first, last), _crop(mask, first, last)
        cropped = _crop(image, first, last)
        # The grid comes from the full mask (as in plain pyradiomics); only the sampled image is cropped.
        return imageoperations.resampleImage(cropped, mask, **settings)

    def _read_box(
        self, cfg: dict[str, Any], settings: dict, image: sitk.Image, lo: np.ndarray, hi: np.ndarray, pad: int
    ) -> tuple[np.ndarray, np.ndarray, str] | None:
        """The voxels (x, y, z; first, last) beyond the ROI whose values reach the features, and why;
        None when only the ROI's do (original image, no resampling, no normalisation)."""
        size = np.asarray(image.GetSize()) - 1
        if settings.get("normalize", False):
            return np.zeros(3, int), size, "intensity normalisation uses the whole image"
        filters = sorted(set(cfg["imageType"]) - {"Original"})
        if not filters and not _resamples(settings):
            return None
        why = (
            f"the {' and '.join(filters)} filter(s) read" if filters else "resampling reads"
        ) + " the voxels"
        if not self.crop:
            return np.zeros(3, int), size, why
        first, last = _crop_window(image.GetSpacing(), lo, hi, pad, settings)
        return np.maximum(first, 0), np.minimum(last, size), why

    @staticmethod
    def _check_finite(
        non_finite: np.ndarray,
        roi: np.ndarray,
        label: int,
        box: tuple[np.ndarray, np.ndarray, str] | None,
        where: str,
    ) -> None:
        """Fail the case when a NaN or infinite voxel (``non_finite``, z-y-x) reaches the features."""
        fix = "replace them with valid intensities in the image file"
        inside = int(non_finite[roi].sum())
        if inside:
            raise ExtractionError(
                f"{where}: {inside} image voxels inside the mask (label {label}) are NaN or infinite; {fix}"
            )
        if box is None:
            return
        (x0, y0, z0), (x1, y1, z1), why = box
        near = int(non_finite[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1].sum())
        if near:
            raise ExtractionError(
                f"{where}: {near} image voxels outside the mask are NaN or infinite and {why}; {fix}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features.imaging", description=__doc__.splitlines()[0])
    parser.add_argument("image", help="image file (NIfTI/NRRD/MHA) or DICOM series folder")
    parser.add_argument("mask", help="mask file or DICOM series folder")
    parser.add_argument("--params", default="mr", help="'mr' (default), 'ct' or a pyradiomics YAML file")
    parser.add_argument(
        "--filters", default=None, choices=FILTER_CHOICES, help="override the YAML's image types"
    )
    parser.add_argument("--no-crop", action="store_true", help="run pyradiomics on the whole image")
    args = parser.parse_args(argv)
    ext = RadiomicsExtractor(params=args.params, filters=args.filters, crop=not args.no_crop)
    try:
        feats = ext.extract_case(args.image, args.mask)
    except ExtractionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    json.dump(feats, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
