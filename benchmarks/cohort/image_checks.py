"""What validation learns from opening the image and mask files, each file opened once per pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmarks.cohort import imageio

CHECK_IMAGES = ("none", "header", "full")
"""Image checks: ``none`` (paths only, no file opened), ``header`` (geometry from headers, a cheap
truncation test, mask voxels for emptiness; the default) or ``full`` (every voxel of every image)."""


@dataclass(frozen=True)
class ImageCheck:
    """An image's geometry, or why it cannot be read."""

    info: imageio.ImageInfo | None
    error: str | None


@dataclass(frozen=True)
class MaskCheck:
    """A mask's geometry or read error, what is wrong with its voxels, and its labels when none is 1."""

    info: imageio.ImageInfo | None
    error: str | None
    content: str | None = None
    labels_without_one: list[int] | None = None


class ImageChecker:
    """Checks image and mask files at one level of ``CHECK_IMAGES``, remembering each file's result."""

    def __init__(self, mode: str):
        if mode not in CHECK_IMAGES:
            raise ValueError(f"check_images must be one of {CHECK_IMAGES}, got {mode!r}")
        self.mode = mode
        self._images: dict[Path, ImageCheck] = {}
        self._masks: dict[Path, MaskCheck] = {}

    def image(self, path: Path) -> ImageCheck:
        """Geometry or read error of an image.

        In ``header`` mode a NIfTI file is checked from its header plus the cheap truncation test;
        other formats have no such test, so they are read whole (once) and the geometry is taken from
        the image read, which also gives DICOM series exactly the geometry the extractors will see.
        """
        if path not in self._images:
            try:
                self._images[path] = ImageCheck(self._image_info(path), None)
            except imageio.ImageReadError as exc:
                self._images[path] = ImageCheck(None, str(exc))
        return self._images[path]

    def _image_info(self, path: Path) -> imageio.ImageInfo:
        if self.mode == "header" and imageio.image_format(path) == "nifti":
            info = imageio.read_image_info(path)
            imageio.check_integrity(path)
            return info
        img = imageio.read_image(path)
        info = imageio.info_from_image(img, imageio.image_format(path))
        if self.mode == "full" and img.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
            n_bad = int((~np.isfinite(sitk.GetArrayViewFromImage(img))).sum())
            if n_bad:
                raise imageio.ImageReadError(f"{n_bad} voxels are NaN or infinite")
        return info

    def mask(self, path: Path) -> MaskCheck:
        """Geometry, read error and content problem of a mask; its voxels are read (masks are small)."""
        if path not in self._masks:
            self._masks[path] = _check_mask(path)
        return self._masks[path]


def _check_mask(path: Path) -> MaskCheck:
    try:
        img = imageio.read_image(path)
    except imageio.ImageReadError as exc:
        return MaskCheck(None, str(exc))
    info = imageio.info_from_image(img, imageio.image_format(path))
    arr = sitk.GetArrayViewFromImage(img)
    if info.n_components != 1:
        return MaskCheck(
            info, None, f"mask has {info.n_components} components per voxel; expected a label image"
        )
    if not (arr > 0).any():
        return MaskCheck(info, None, "mask is empty (no voxel > 0)")
    if not (arr == 1).any():
        return MaskCheck(info, None, labels_without_one=[int(v) for v in np.unique(arr[arr > 0])[:5]])
    return MaskCheck(info, None)
