"""Small MR-like test volumes with a tubular (bowel-loop) mask, for the imaging tests and benchmark."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def make_case(
    seed: int = 0,
    shape: tuple[int, int, int] = (96, 96, 40),
    spacing: tuple[float, float, float] = (0.8, 0.8, 4.0),
    radius_mm: float = 9.0,
    wall_mm: float = 4.0,
) -> tuple[sitk.Image, sitk.Image]:
    """An int16 MR-like volume (x, y, z sizes ``shape``) and a UInt8 mask of a curved bowel-wall tube.

    Background soft tissue, a bright fluid-filled lumen, an enhancing wall whose intensity and texture
    vary with ``seed``, Rician-like noise and a smooth bias field. The tube runs along z with a sinusoidal
    course, so its bounding box is well inside the volume.
    """
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    z, y, x = np.meshgrid(
        np.arange(nz) * spacing[2], np.arange(ny) * spacing[1], np.arange(nx) * spacing[0], indexing="ij"
    )
    cx = nx * spacing[0] / 2 + 8.0 * np.sin(z / 25.0 + seed)
    cy = ny * spacing[1] / 2 + 6.0 * np.cos(z / 30.0)
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    z0, z1 = 0.2 * nz * spacing[2], 0.8 * nz * spacing[2]
    inside_z = (z >= z0) & (z <= z1)
    wall = inside_z & (r >= radius_mm - wall_mm) & (r <= radius_mm)
    lumen = inside_z & (r < radius_mm - wall_mm)
    img = 300.0 + 40.0 * rng.standard_normal(r.shape)
    img[lumen] += 500.0
    texture = rng.standard_normal(r.shape)
    img[wall] += 250.0 + 80.0 * seed % 5 + (60.0 + 10.0 * (seed % 3)) * texture[wall]
    bias = 1.0 + 0.15 * np.sin(x / 40.0) * np.cos(y / 50.0)
    img = np.abs(img * bias + 20.0 * rng.standard_normal(r.shape) * 1j)
    image = sitk.GetImageFromArray(np.clip(img, 0, 32000).astype(np.int16))
    mask = sitk.GetImageFromArray(wall.astype(np.uint8))
    for im in (image, mask):
        im.SetSpacing(spacing)
        im.SetOrigin((-10.0, 20.0, -55.0))
    return image, mask
