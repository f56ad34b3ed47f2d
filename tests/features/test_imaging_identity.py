"""Cropped extraction is plain pyradiomics at real sizes and spacings (relative difference <= 1e-9).

The reference is ``radiomics.featureextractor.RadiomicsFeatureExtractor`` run on the whole image and mask
with the same parameter file (its default ``padDistance`` 5 included), once per label. Cases: a CT slab of
512 x 512 in-plane at 0.75 x 0.75 x 1.25 mm resampled to 1.5 mm (``ct.yaml``: an exact 2:1 ratio in x/y,
so nearest-neighbour mask ties) with a thin bowel wall cut into two segments, and an anisotropic MR
(0.9375 x 0.9375 x 5 mm resampled to 1.5 x 1.5 x 3 mm, ``mr.yaml``: whole-image normalisation) with LoG
and wavelet filters.
"""

from __future__ import annotations

import numpy as np
import pytest
from radiomics import featureextractor

import features.imaging as imaging
from benchmarks.perf.bench_radiomics import bowel_volume
from features.imaging import RadiomicsExtractor, apply_filters, load_params

RTOL = 1e-9


def _plain(params, image, mask, label: int = 1, filters: str | None = None) -> dict[str, float]:
    cfg = apply_filters(load_params(params), filters)
    cfg["setting"]["additionalInfo"] = False
    out = featureextractor.RadiomicsFeatureExtractor(cfg).execute(image, mask, label=label)
    return {k: float(v) for k, v in out.items() if not k.startswith("diagnostics_")}


def _max_rel(a: dict[str, float], b: dict[str, float]) -> float:
    assert sorted(a) == sorted(b)
    va, vb = np.array([a[k] for k in sorted(b)]), np.array([b[k] for k in sorted(b)])
    return float(np.max(np.abs(va - vb) / np.maximum(np.abs(vb), 1e-12)))


@pytest.fixture(scope="module")
def ct_case():
    # 512 x 512 in-plane as on a real CTE; 40 slices (50 mm) instead of 300 to keep the test fast
    return bowel_volume("CT", (512, 512, 40), (0.75, 0.75, 1.25), seed=1, length_mm=36.0, n_segments=2)


@pytest.fixture(scope="module")
def mr_case():
    return bowel_volume("MR", (192, 192, 24), (0.9375, 0.9375, 5.0), seed=2, radius_mm=10.0, wall_mm=4.0)


def test_ct_sized_two_segments_identical_to_plain_pyradiomics(ct_case):
    image, mask = ct_case
    ext = RadiomicsExtractor(
        params="ct", aggregate=("weighted_mean", "max", "largest", "n_regions", "total_volume")
    )
    labels = imaging.LabelMask(mask, {"ileum": 1, "colon": 2}, "label")
    feats, volumes = ext._extract_pair([image, labels], ext.config(), "ct", None)
    assert list(feats) == ["ileum", "colon"]
    for name, value in (("ileum", 1), ("colon", 2)):
        plain = _plain("ct", image, mask, label=value)
        assert len(plain) > 100
        assert _max_rel(feats[name], plain) <= RTOL, name
    # the patient's features: the documented aggregation of those two regions
    out = ext.extract_images(image, mask, label="ileum=1;colon=2")
    assert out["n_regions"] == 2 and out["total_volume"] == pytest.approx(sum(volumes.values()), rel=1e-12)
    key = "original_firstorder_Mean"
    w = np.array([volumes["ileum"], volumes["colon"]])
    x = np.array([feats["ileum"][key], feats["colon"][key]])
    assert out[f"wmean__{key}"] == pytest.approx(float(w @ x / w.sum()), rel=1e-12)
    assert out[f"max__{key}"] == max(x)
    assert out[f"largest__{key}"] == x[int(np.argmax(w))]


def test_anisotropic_mr_with_filters_identical_to_plain_pyradiomics(mr_case):
    image, mask = mr_case
    ours = RadiomicsExtractor(params="mr", filters="log+wavelet").extract_images(image, mask)
    plain = _plain("mr", image, mask, filters="log+wavelet")
    assert any(k.startswith("log-sigma-3-0") for k in plain) and any(k.startswith("wavelet-") for k in plain)
    ours = {k[len("wmean__") :]: v for k, v in ours.items() if k.startswith("wmean__")}
    assert _max_rel(ours, plain) <= RTOL


def test_the_parameter_files_pad_distance_sets_the_grid(mr_case):
    """pyradiomics' padDistance decides the resampled extent the filters see: the crop follows it."""
    image, mask = mr_case
    params = load_params("mr")
    params["setting"]["padDistance"] = 9
    ours = RadiomicsExtractor(params=params, filters="log").extract_images(image, mask)
    ours = {k[len("wmean__") :]: v for k, v in ours.items() if k.startswith("wmean__")}
    assert _max_rel(ours, _plain(params, image, mask, filters="log")) <= RTOL
    assert _max_rel(ours, _plain("mr", image, mask, filters="log")) > 1e-6  # padDistance 5: another extent
