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
from benchmarks.synthetic.latent import MRI_TO_SES, STREAM_IMAGE, STREAM_IMAGE_CT, PatientTruth

# Unscaled tissue intensities (arbitrary units) of a T1 fat-suppressed enteric-phase acquisition.
_AIR, _SUBCUT_FAT, _VISCERAL_FAT, _MUSCLE, _BONE, _CORTEX = 0.0, 95.0, 110.0, 270.0, 210.0, 70.0
_LUMEN, _WALL_PRE, _AORTA, _IVC = 70.0, 300.0, 1150.0, 700.0
_NORMAL_WALL_MM, _NORMAL_RCE = 2.5, 60.0


@dataclass(frozen=True)
class _Tissues:
    """Grey values of one modality: MR in arbitrary units, CT in Hounsfield units (portal-venous phase,
    neutral oral contrast). ``wall_base + wall_gain * rce`` is the wall of enhancement ``rce`` (MR: the
    relative enhancement of a wall of ``wall_base``; CT: about 65 HU normal, 120-150 HU hyperenhancing)."""

    air: float
    subcut_fat: float
    visceral_fat: float
    muscle: float
    bone: float
    cortex: float
    lumen: float
    aorta: float
    ivc: float
    stranding_gain: float  # rise of perienteric fat next to an active segment
    oedema_value: float | None  # CT: submucosal oedema pulls the middle layer towards water (HU)
    blur_sigma: tuple[float, float, float]  # point-spread function, voxels (z, y, x)

    def wall(self, rce: np.ndarray | float) -> np.ndarray | float:
        if self.oedema_value is None:  # MR, written as before so that MR volumes are unchanged
            return _WALL_PRE * (1.0 + rce / 100.0)
        return 45.0 + 0.35 * rce


MR_TISSUES = _Tissues(
    _AIR,
    _SUBCUT_FAT,
    _VISCERAL_FAT,
    _MUSCLE,
    _BONE,
    _CORTEX,
    _LUMEN,
    _AORTA,
    _IVC,
    140.0,
    None,
    (0.35, 0.6, 0.6),
)
CT_TISSUES = _Tissues(
    -1000.0, -105.0, -95.0, 50.0, 250.0, 700.0, 10.0, 170.0, 140.0, 75.0, 15.0, (0.5, 0.7, 0.7)
)
"""CT enterography in HU: fat about -100, muscle 50, neutral-contrast lumen 0-20, air -1000, aorta and IVC
in the portal-venous phase, normal wall about 65 HU, active disease 100-150 HU."""
CT_RANGE_HU = (-1024, 3071)
MIN_LABEL_VOXELS = 30
"""Fewest voxels of each label of a mask (small fields of view cut the diseased loop short)."""
SEGMENT_REGION_NAMES: dict[str, str] = {
    "ileum": "terminal_ileum",
    "ascending": "ascending_colon",
    "transverse": "transverse_colon",
    "descending": "descending_colon",
    "sigmoid": "sigmoid_colon",
    "rectum": "rectum",
}
"""Region name (``label`` cell of imaging.csv) of each MRI segment of a multi-segment mask."""


@dataclass(frozen=True)
class ScanSpec:
    """What one scan shows: its ``modality`` ("MR" or "CT"), the annotated ``segments`` in anatomical
    order along the diseased loop (empty: ``truth.image_segment`` alone) and the mask ``labels`` of each."""

    modality: str = "MR"
    segments: tuple[str, ...] = ()
    labels: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        if self.modality not in ("MR", "CT"):
            raise ValueError(f"modality must be 'MR' or 'CT', got {self.modality!r}")
        if len(self.labels) != max(1, len(self.segments)) or min(self.labels) < 1:
            raise ValueError(f"one positive label per segment, got {self.labels} for {self.segments}")


@dataclass(frozen=True)
class RenderedScan:
    """A rendered volume and mask (numpy order z, y, x) with their geometry and rendered disease values
    (of the first annotated segment)."""

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


def rendered_disease(
    truth: PatientTruth, config: SyntheticConfig, segment: str | None = None
) -> tuple[float, float]:
    """Wall thickness (mm) and RCE drawn into ``segment`` (default: the annotated one): the truth scaled by
    imaging_signal, the enhancement also by the site's ``enhancement_gain``."""
    mri = truth.mri[segment or truth.image_segment]
    s = config.imaging_signal
    gain = config.active_sites[truth.site].enhancement_gain
    wall = max(1.2, _NORMAL_WALL_MM + s * (float(mri["wall_mm"]) - _NORMAL_WALL_MM))
    rce = max(5.0, _NORMAL_RCE + s * gain * (float(mri["rce"]) - _NORMAL_RCE))
    return wall, rce


def _along(t: np.ndarray, values: list[float], bounds: np.ndarray, ramp: float) -> np.ndarray | float:
    """A per-segment value along the loop, blended smoothly over ``ramp`` at each boundary."""
    if len(values) == 1:
        return values[0]
    out = np.full(t.shape, values[0], dtype=np.float64)
    for b, lo, hi in zip(bounds, values[:-1], values[1:], strict=True):
        x = np.clip((t - b) / ramp + 0.5, 0.0, 1.0)
        out += (hi - lo) * x * x * (3 - 2 * x)
    return out


def render_scan(
    truth: PatientTruth, config: SyntheticConfig, site: SiteProfile, spec: ScanSpec | None = None
) -> RenderedScan:
    """Render one scan of the patient and the wall mask of its annotated segment(s) (deterministic per
    patient and modality). With several segments, one diseased loop runs through them in anatomical
    order, each part with its own wall thickness, enhancement, oedema, ulcers and mask label."""
    spec = spec or ScanSpec()
    ct = spec.modality == "CT"
    tis = CT_TISSUES if ct else MR_TISSUES
    segments = spec.segments or (truth.image_segment,)
    # An MR draws from the patient's image stream as it always did; a CT of the same patient from another.
    rng = truth.rng(STREAM_IMAGE_CT if ct else STREAM_IMAGE)
    nx, ny, nz = config.ct_shape if ct else config.image_shape
    sx, sy, sz = site.ct_spacing_mm if ct else site.spacing_mm
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
    vol[:] = tis.air
    body = depth > 0
    vol[body] = tis.subcut_fat
    vol[depth > fat_t] = tis.muscle
    cavity = depth > fat_t + mus_t
    vol[cavity] = tis.visceral_fat
    # posterior structures (y negative is posterior here)
    r_sp = 0.17 * min(a, b)
    cy_sp = -b + fat_t + mus_t + r_sp * 1.1
    d_sp = np.sqrt(X**2 + (Y - cy_sp) ** 2)
    vol = np.where(d_sp < r_sp, tis.bone, vol)
    vol = np.where((d_sp >= r_sp * 0.82) & (d_sp < r_sp), tis.cortex, vol)
    for side in (-1.0, 1.0):
        px, py = side * (r_sp * 1.9), cy_sp + 0.2 * r_sp
        ps = ((X - px) / (0.9 * r_sp)) ** 2 + ((Y - py) / (0.75 * r_sp)) ** 2
        vol = np.where(ps < 1.0, tis.muscle, vol)
    r_ao = rng.uniform(0.30, 0.38) * r_sp
    vol = np.where(np.sqrt((X - 0.45 * r_sp) ** 2 + (Y - cy_sp - 1.45 * r_sp) ** 2) < r_ao, tis.aorta, vol)
    vol = np.where(
        np.sqrt((X + 0.75 * r_sp) ** 2 + (Y - cy_sp - 1.35 * r_sp) ** 2) < r_ao * 1.1, tis.ivc, vol
    )
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
    vol = np.where(others & (dist < outer), tis.wall(rng.normal(_NORMAL_RCE, 8.0)), vol)
    vol = np.where(others & (dist < radius_of[near_lab]), tis.lumen, vol)

    # --- the lesion loop: its diseased extent [t0, t1] is split into the annotated segments -------------
    mris = [truth.mri[seg] for seg in segments]
    activities = [float(np.clip(m["activity"], 0.0, 1.2)) for m in mris]
    disease = [rendered_disease(truth, config, seg) for seg in segments]
    narrowings = [truth.ses[MRI_TO_SES[seg]]["narrowing"] for seg in segments]
    tparam = _arc_param(lesion_pts)
    t0 = rng.uniform(0.12, 0.3)
    t1 = rng.uniform(0.7, 0.88)
    bounds = t0 + (t1 - t0) * np.arange(1, len(segments)) / len(segments)
    r0 = radii[0]
    w_max = max(max(w for w, _ in disease), _NORMAL_WALL_MM) + 1.0
    near_lesion = (near_lab == 1) & (dist < r0 + w_max + 3.0)
    if (near_lesion & visceral).any():
        near_lesion &= visceral
    if not near_lesion.any():  # centerline outside a tiny field of view: use the loop's nearest voxels
        near_lesion = dist <= np.partition(dist.ravel(), 200)[200]
    pts_zyx = np.argwhere(near_lesion)
    phys = pts_zyx * spacing_zyx + origin_zyx  # z, y, x
    exact, j = cKDTree(lesion_pts[:, ::-1]).query(phys, k=1)
    t = tparam[j]
    part = np.searchsorted(bounds, t)  # which annotated segment each voxel belongs to
    ramp = 0.06
    prof = np.clip((t - t0) / ramp, 0, 1) * np.clip((t1 - t) / ramp, 0, 1)
    prof = prof * prof * (3 - 2 * prof)
    w_dis = _along(t, [w for w, _ in disease], bounds, ramp)
    rce_dis = _along(t, [r for _, r in disease], bounds, ramp)
    narrowing = _along(t, [float(n) for n in narrowings], bounds, ramp)
    activity = _along(t, activities, bounds, ramp)
    w_t = _NORMAL_WALL_MM + (w_dis - _NORMAL_WALL_MM) * prof
    r_t = np.maximum(r0 - 0.5 * (w_t - _NORMAL_WALL_MM) - 1.5 * narrowing * prof, 2.0)
    in_lumen = exact < r_t
    in_wall = (exact >= r_t) & (exact < r_t + w_t)
    rel = np.clip((exact - r_t) / np.maximum(w_t, 1e-6), 0.0, 1.0)  # 0 inner surface - 1 serosa
    rce_t = _NORMAL_RCE + (rce_dis - _NORMAL_RCE) * prof
    wall_int = tis.wall(rce_t)
    oedema = np.array([bool(m["oedema"]) for m in mris])[part]
    if oedema.any():
        amp = min(1.0, s_sig) * prof
        if tis.oedema_value is None:  # MR: bright mucosa, dark oedematous submucosa
            strat = np.where(rel < 0.33, 1.0 + 0.18 * amp, np.where(rel < 0.7, 1.0 - 0.28 * amp, 1.0))
            wall_int = np.where(oedema, wall_int * strat, wall_int)
        else:  # CT: hyperenhancing mucosa, submucosa of near-water attenuation (the "target" sign)
            layered = np.where(
                rel < 0.33,
                wall_int * (1.0 + 0.18 * amp),
                np.where(rel < 0.7, wall_int + (tis.oedema_value - wall_int) * 0.55 * amp, wall_int),
            )
            wall_int = np.where(oedema, layered, wall_int)
    # heterogeneity: smooth random texture inside the diseased wall
    lo = np.maximum(pts_zyx.min(axis=0) - 3, 0)
    box = rng.standard_normal(size=tuple(pts_zyx.max(axis=0) + 4 - lo), dtype=np.float32)
    box = ndimage.gaussian_filter(box, sigma=(0.6, 1.0, 1.0))
    box /= max(float(box.std()), 1e-6)
    tex = box[tuple((pts_zyx - lo).T)]
    het = (0.04 + 0.14 * activity * s_sig) * prof
    wall_int = wall_int * (1.0 + het * tex)
    # perienteric fat stranding around an active segment
    fat_zone = (exact >= r_t + w_t) & (exact < r_t + w_t + 6.0) & (vol[near_lesion] == tis.visceral_fat)
    stranding = tis.visceral_fat + tis.stranding_gain * np.minimum(activity * s_sig, 1.2) * prof * (
        0.6 + 0.4 * np.abs(tex)
    )
    vals = vol[near_lesion]
    vals = np.where(fat_zone, stranding, vals)
    vals = np.where(in_wall, wall_int, vals)
    vals = np.where(in_lumen, tis.lumen, vals)
    # ulcer-like defects: fluid-filled craters from the inner surface with a hyperenhancing rim
    n_ulcers = 0
    for i, mri in enumerate(mris):
        if not (mri["ulcer"] and s_sig > 0):
            continue
        n_here = int(rng.integers(2, 7))
        n_ulcers += n_here if i == 0 else 0
        mask_dis = np.flatnonzero((prof > 0.8) & (part == i))
        lumen_surface = mask_dis[np.abs(exact[mask_dis] - r_t[mask_dis]) < 1.0]
        if lumen_surface.size:
            for c in rng.choice(lumen_surface, size=min(n_here, lumen_surface.size), replace=False):
                rad = rng.uniform(1.5, 3.0) * min(s_sig, 1.5)
                dd = np.linalg.norm((phys - phys[c]), axis=1)
                crater = (dd < rad) & in_wall
                rim = (dd >= rad) & (dd < rad + 1.2) & in_wall
                vals = np.where(crater, 0.5 * (tis.lumen + wall_int), vals)
                vals = np.where(rim, wall_int * 1.2, vals)
    vol[near_lesion] = vals
    mask = _label_mask(shape, pts_zyx, in_wall, prof, part, t, bounds, t0, t1, spec.labels)

    # --- acquisition --------------------------------------------------------------------------------
    vol = ndimage.gaussian_filter(vol, sigma=tis.blur_sigma)
    if ct:
        # Gaussian quantum noise with the fine grain of a soft-tissue kernel, a per-site HU offset
        noise = ndimage.gaussian_filter(rng.standard_normal(size=shape, dtype=np.float32), sigma=0.5)
        noise *= site.ct_noise_hu / max(float(noise.std()), 1e-6)
        vol = vol + site.ct_hu_offset + noise
        image = np.clip(np.rint(vol), *CT_RANGE_HU).astype(np.int16)
    else:
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
        wall_mm=round(disease[0][0], 2),
        rce=round(disease[0][1], 1),
        n_ulcers=n_ulcers,
    )


def _label_mask(
    shape: tuple[int, int, int],
    pts_zyx: np.ndarray,
    in_wall: np.ndarray,
    prof: np.ndarray,
    part: np.ndarray,
    t: np.ndarray,
    bounds: np.ndarray,
    t0: float,
    t1: float,
    labels: tuple[int, ...],
) -> np.ndarray:
    """The wall mask of the diseased extent, each annotated segment with its label; never a label absent
    (a part that fell outside the field of view gets the wall voxels nearest to its middle, up to
    ``MIN_LABEL_VOXELS``)."""
    mask = np.zeros(shape, dtype=np.uint8)
    assigned = np.zeros(len(t), dtype=bool)
    empty = []
    for i, value in enumerate(labels):
        sel = in_wall & (prof > 0.5) & (part == i)
        if not sel.any():
            sel = in_wall & (part == i)
        mask[tuple(pts_zyx[sel].T)] = value
        assigned |= sel
        if sel.sum() < MIN_LABEL_VOXELS:
            empty.append((i, int(sel.sum())))
    edges = np.concatenate([[t0], bounds, [t1]])
    for i, have in empty:  # top up a part cut off by a small field of view
        free = np.flatnonzero(in_wall & ~assigned)
        if free.size < MIN_LABEL_VOXELS:
            free = np.flatnonzero(~assigned)
        mid = 0.5 * (edges[i] + edges[i + 1])
        pick = free[np.argsort(np.abs(t[free] - mid), kind="stable")[: MIN_LABEL_VOXELS - have]]
        mask[tuple(pts_zyx[pick].T)] = labels[i]
        assigned[pick] = True
    return mask


def write_scan(scan: RenderedScan, image_path: Path, mask_path: Path) -> None:
    """Write the volume (int16) and mask (uint8) as compressed NIfTI with identical geometry."""
    import SimpleITK as sitk

    for arr, path in ((scan.image, image_path), (scan.mask, mask_path)):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(scan.spacing)
        img.SetOrigin(scan.origin)
        img.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
        atomic_write(path, lambda tmp, img=img: sitk.WriteImage(img, str(tmp), True))
