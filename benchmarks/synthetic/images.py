"""MR-enterography-like volumes (T1 fat-suppressed, post-gadolinium) with a bowel-wall mask.

Each volume is a scaled-down abdomen (body ellipse, subcutaneous fat, muscle wall, spine, psoas, aorta,
IVC, visceral fat), several normal bowel loops and one tubular loop carrying the annotated segment.
Disease is rendered through wall thickness, wall enhancement (relative contrast enhancement, RCE),
mural stratification (oedema, "target" sign), ulcer-like defects, wall heterogeneity and perienteric fat
stranding, each scaled by ``SyntheticConfig.imaging_signal``. Acquisition effects: point-spread blur,
a smooth multiplicative bias field, the site's intensity scale and Rician noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from benchmarks.store import atomic_write
from benchmarks.synthetic.config import SiteProfile, SyntheticConfig
from benchmarks.synthetic.latent import MRI_TO_SES, STREAM_IMAGE, PatientTruth, patient_rng

# Unscaled tissue intensities (arbitrary units) of a T1 fat-suppressed enteric-phase acquisition.
_AIR, _SUBCUT_FAT, _VISCERAL_FAT, _MUSCLE, _BONE, _CORTEX = 0.0, 95.0, 110.0, 270.0, 210.0, 70.0
_LUMEN, _WALL_PRE, _AORTA, _IVC = 70.0, 300.0, 1150.0, 700.0
_NORMAL_WALL_MM, _NORMAL_RCE = 2.5, 60.0


@dataclass(frozen=True)
class RenderedScan:
    """A rendered volume and mask (numpy order z, y, x) with their geometry and rendered disease values."""

    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    wall_mm: float
    rce: float
    n_ulcers: int


def _curve(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, wiggle: float, step: float
) -> np.ndarray:
    """Dense points (every ~``step`` mm) on a smooth random curve from ``start`` to ``end`` (x, y, z mm)."""
    chord = end - start
    length = float(np.linalg.norm(chord))
    n = max(int(length * 1.6 / step), 8)
    t = np.linspace(0.0, 1.0, n)[:, None]
    d = chord / max(length, 1e-6)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    pts = start + t * chord
    for basis in (u, v):
        for k in (1, 2):
            amp = rng.normal(0.0, wiggle / k)
            phase = rng.uniform(0, 2 * np.pi)
            pts = pts + amp * np.sin(np.pi * k * t + phase) * np.sin(np.pi * t) * basis
    return pts


def _arc_param(pts: np.ndarray) -> np.ndarray:
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    return s / max(s[-1], 1e-9)


def rendered_disease(truth: PatientTruth, config: SyntheticConfig) -> tuple[float, float]:
    """Wall thickness (mm) and RCE drawn into the annotated segment: the truth scaled by imaging_signal."""
    mri = truth.mri[truth.image_segment]
    s = config.imaging_signal
    wall = max(1.2, _NORMAL_WALL_MM + s * (float(mri["wall_mm"]) - _NORMAL_WALL_MM))
    rce = max(5.0, _NORMAL_RCE + s * (float(mri["rce"]) - _NORMAL_RCE))
    return wall, rce


def render_scan(truth: PatientTruth, config: SyntheticConfig, site: SiteProfile) -> RenderedScan:
    """Render one patient's volume and the wall mask of the annotated segment (deterministic per patient)."""
    rng = patient_rng(truth.seed, truth.index, STREAM_IMAGE)
    nx, ny, nz = config.image_shape
    sx, sy, sz = site.spacing_mm
    s_sig = config.imaging_signal
    xs = (np.arange(nx) - (nx - 1) / 2.0) * sx
    ys = (np.arange(ny) - (ny - 1) / 2.0) * sy
    zs = (np.arange(nz) - (nz - 1) / 2.0) * sz
    X = xs[None, None, :]
    Y = ys[None, :, None]
    Z = zs[:, None, None]
    shape = (nz, ny, nx)

    # --- body ---------------------------------------------------------------------------------------
    a = 0.47 * nx * sx * rng.uniform(0.9, 1.0)
    b = 0.41 * ny * sy * rng.uniform(0.88, 1.0)
    taper = 1.0 + 0.04 * np.sin(Z / (nz * sz) * np.pi + rng.uniform(0, np.pi))
    rho = np.sqrt((X / (a * taper)) ** 2 + (Y / (b * taper)) ** 2)
    depth = (1.0 - rho) * min(a, b)  # approximate distance inside the skin, mm
    k = min(1.0, min(a, b) / 55.0)  # body-wall layers shrink with a small field of view
    fat_t = rng.uniform(5.0, 11.0) * k
    mus_t = rng.uniform(3.0, 5.0) * k
    vol = np.zeros(shape, dtype=np.float32)
    vol[:] = _AIR
    body = depth > 0
    vol[body] = _SUBCUT_FAT
    vol[depth > fat_t] = _MUSCLE
    cavity = depth > fat_t + mus_t
    vol[cavity] = _VISCERAL_FAT
    # posterior structures (y negative is posterior here)
    r_sp = 0.17 * min(a, b)
    cy_sp = -b + fat_t + mus_t + r_sp * 1.1
    d_sp = np.sqrt(X**2 + (Y - cy_sp) ** 2)
    vol = np.where(d_sp < r_sp, _BONE, vol)
    vol = np.where((d_sp >= r_sp * 0.82) & (d_sp < r_sp), _CORTEX, vol)
    for side in (-1.0, 1.0):
        px, py = side * (r_sp * 1.9), cy_sp + 0.2 * r_sp
        ps = ((X - px) / (0.9 * r_sp)) ** 2 + ((Y - py) / (0.75 * r_sp)) ** 2
        vol = np.where(ps < 1.0, _MUSCLE, vol)
    r_ao = rng.uniform(0.30, 0.38) * r_sp
    vol = np.where(np.sqrt((X - 0.45 * r_sp) ** 2 + (Y - cy_sp - 1.45 * r_sp) ** 2) < r_ao, _AORTA, vol)
    vol = np.where(np.sqrt((X + 0.75 * r_sp) ** 2 + (Y - cy_sp - 1.35 * r_sp) ** 2) < r_ao * 1.1, _IVC, vol)
    visceral = cavity & (Y > cy_sp + 2.0 * r_sp)
    visceral = np.broadcast_to(visceral, shape)

    # --- bowel loops: rasterise centerlines, coarse distance by EDT, exact distance near the lesion -----
    y_lo = cy_sp + 2.6 * r_sp
    y_hi = max(b - fat_t - mus_t - 6.0 * k, y_lo + 1.0)
    x_half = max(a - fat_t - mus_t - 6.0 * k, 1.0)
    z_half = (nz - 1) / 2.0 * sz

    def rand_point(z_side: float | None = None) -> np.ndarray:
        zc = rng.uniform(-z_half, z_half) if z_side is None else z_side * z_half * rng.uniform(0.8, 1.05)
        return np.array([rng.uniform(-x_half, x_half), rng.uniform(y_lo, y_hi), zc])

    lesion_pts = _curve(rng, rand_point(-1.0), rand_point(1.0), wiggle=10.0, step=0.3)
    loops = [lesion_pts]
    radii = [rng.uniform(6.5, 9.5)]
    walls = [_NORMAL_WALL_MM]
    for _ in range(int(rng.integers(3, 6))):
        for _try in range(6):
            p = _curve(rng, rand_point(), rand_point(), wiggle=12.0, step=1.0)
            r = rng.uniform(4.5, 8.5)
            dmin, _ = cKDTree(lesion_pts).query(p[::3], k=1)
            if dmin.min() > radii[0] + r + 9.0:
                loops.append(p)
                radii.append(r)
                walls.append(rng.uniform(1.6, 2.6))
                break

    lab = np.zeros(shape, dtype=np.int32)
    spacing_zyx = np.array([sz, sy, sx])
    origin_zyx = np.array([zs[0], ys[0], xs[0]])
    for k in range(len(loops) - 1, -1, -1):  # the lesion loop (k=0) is painted last and wins
        idx = np.rint((loops[k][:, ::-1] - origin_zyx) / spacing_zyx).astype(int)
        ok = np.all((idx >= 0) & (idx < np.array(shape)), axis=1)
        idx = idx[ok]
        lab[idx[:, 0], idx[:, 1], idx[:, 2]] = k + 1
    dist, near = ndimage.distance_transform_edt(lab == 0, sampling=spacing_zyx, return_indices=True)
    near_lab = lab[near[0], near[1], near[2]]
    del near

    radius_of = np.array([0.0, *radii])
    wall_of = np.array([0.0, *walls])
    outer = radius_of[near_lab] + wall_of[near_lab]
    others = (near_lab > 1) & visceral
    vol = np.where(others & (dist < outer), _WALL_PRE * (1.0 + rng.normal(_NORMAL_RCE, 8.0) / 100.0), vol)
    vol = np.where(others & (dist < radius_of[near_lab]), _LUMEN, vol)

    # --- the lesion loop ------------------------------------------------------------------------------
    mri = truth.mri[truth.image_segment]
    activity = float(np.clip(mri["activity"], 0.0, 1.2))
    w_dis, rce_dis = rendered_disease(truth, config)
    narrowing = truth.ses[MRI_TO_SES[truth.image_segment]]["narrowing"]
    tparam = _arc_param(lesion_pts)
    t0 = rng.uniform(0.12, 0.3)
    t1 = rng.uniform(0.7, 0.88)
    r0 = radii[0]
    w_max = max(w_dis, _NORMAL_WALL_MM) + 1.0
    near_lesion = (near_lab == 1) & (dist < r0 + w_max + 3.0)
    if (near_lesion & visceral).any():
        near_lesion &= visceral
    if not near_lesion.any():  # centerline outside a tiny field of view: use the loop's nearest voxels
        near_lesion = dist <= np.partition(dist.ravel(), 200)[200]
    pts_zyx = np.argwhere(near_lesion)
    phys = pts_zyx * spacing_zyx + origin_zyx  # z, y, x
    exact, j = cKDTree(lesion_pts[:, ::-1]).query(phys, k=1)
    t = tparam[j]
    ramp = 0.06
    prof = np.clip((t - t0) / ramp, 0, 1) * np.clip((t1 - t) / ramp, 0, 1)
    prof = prof * prof * (3 - 2 * prof)
    w_t = _NORMAL_WALL_MM + (w_dis - _NORMAL_WALL_MM) * prof
    r_t = np.maximum(r0 - 0.5 * (w_t - _NORMAL_WALL_MM) - 1.5 * narrowing * prof, 2.0)
    in_lumen = exact < r_t
    in_wall = (exact >= r_t) & (exact < r_t + w_t)
    rel = np.clip((exact - r_t) / np.maximum(w_t, 1e-6), 0.0, 1.0)  # 0 inner surface - 1 serosa
    rce_t = _NORMAL_RCE + (rce_dis - _NORMAL_RCE) * prof
    wall_int = _WALL_PRE * (1.0 + rce_t / 100.0)
    if mri["oedema"]:
        amp = min(1.0, s_sig) * prof
        strat = np.where(rel < 0.33, 1.0 + 0.18 * amp, np.where(rel < 0.7, 1.0 - 0.28 * amp, 1.0))
        wall_int = wall_int * strat
    # heterogeneity: smooth random texture inside the diseased wall
    lo = np.maximum(pts_zyx.min(axis=0) - 3, 0)
    box = rng.standard_normal(size=tuple(pts_zyx.max(axis=0) + 4 - lo), dtype=np.float32)
    box = ndimage.gaussian_filter(box, sigma=(0.6, 1.0, 1.0))
    box /= max(float(box.std()), 1e-6)
    tex = box[tuple((pts_zyx - lo).T)]
    het = (0.04 + 0.14 * activity * s_sig) * prof
    wall_int = wall_int * (1.0 + het * tex)
    # perienteric fat stranding around an active segment
    fat_zone = (exact >= r_t + w_t) & (exact < r_t + w_t + 6.0) & (vol[near_lesion] == _VISCERAL_FAT)
    stranding = _VISCERAL_FAT + 140.0 * min(activity * s_sig, 1.2) * prof * (0.6 + 0.4 * np.abs(tex))
    vals = vol[near_lesion]
    vals = np.where(fat_zone, stranding, vals)
    vals = np.where(in_wall, wall_int, vals)
    vals = np.where(in_lumen, _LUMEN, vals)
    # ulcer-like defects: fluid-filled craters from the inner surface with a hyperenhancing rim
    n_ulcers = 0
    if mri["ulcer"] and s_sig > 0:
        n_ulcers = int(rng.integers(2, 7))
        mask_dis = np.flatnonzero(prof > 0.8)
        lumen_surface = mask_dis[np.abs(exact[mask_dis] - r_t[mask_dis]) < 1.0]
        if lumen_surface.size:
            for c in rng.choice(lumen_surface, size=min(n_ulcers, lumen_surface.size), replace=False):
                rad = rng.uniform(1.5, 3.0) * min(s_sig, 1.5)
                dd = np.linalg.norm((phys - phys[c]), axis=1)
                crater = (dd < rad) & in_wall
                rim = (dd >= rad) & (dd < rad + 1.2) & in_wall
                vals = np.where(crater, 0.5 * (_LUMEN + wall_int), vals)
                vals = np.where(rim, wall_int * 1.2, vals)
    vol[near_lesion] = vals
    mask = np.zeros(shape, dtype=np.uint8)
    mask[tuple(pts_zyx[in_wall & (prof > 0.5)].T)] = 1
    if not mask.any():  # never hand back an empty mask: fall back to the whole lesion-loop wall
        mask[tuple(pts_zyx[in_wall].T)] = 1

    # --- acquisition --------------------------------------------------------------------------------
    vol = ndimage.gaussian_filter(vol, sigma=(0.35, 0.6, 0.6))
    gx, gy, gz = X / (0.5 * nx * sx), Y / (0.5 * ny * sy), Z / (0.5 * nz * sz)
    c = rng.normal(0.0, 1.0, size=6) / np.sqrt(2.0)
    bias = np.exp(
        site.bias_strength
        * (c[0] * gx + c[1] * gy + c[2] * gz + c[3] * gx * gy + c[4] * gx**2 + c[5] * gy**2)
    )
    vol = vol * bias * site.intensity_scale
    sigma_n = site.noise_sigma * site.intensity_scale
    n1 = rng.standard_normal(size=shape, dtype=np.float32)
    n2 = rng.standard_normal(size=shape, dtype=np.float32)
    vol = np.sqrt((vol + sigma_n * n1) ** 2 + (sigma_n * n2) ** 2)
    image = np.clip(np.rint(vol), 0, 32767).astype(np.int16)
    return RenderedScan(
        image=image,
        mask=mask,
        spacing=(float(sx), float(sy), float(sz)),
        origin=(float(xs[0]), float(ys[0]), float(zs[0])),
        wall_mm=round(w_dis, 2),
        rce=round(rce_dis, 1),
        n_ulcers=n_ulcers,
    )


def write_scan(scan: RenderedScan, image_path: Path, mask_path: Path) -> None:
    """Write the volume (int16) and mask (uint8) as compressed NIfTI with identical geometry."""
    import SimpleITK as sitk

    for arr, path in ((scan.image, image_path), (scan.mask, mask_path)):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(scan.spacing)
        img.SetOrigin(scan.origin)
        img.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
        atomic_write(path, lambda tmp, img=img: sitk.WriteImage(img, str(tmp), True))
