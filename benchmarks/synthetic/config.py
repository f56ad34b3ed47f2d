"""Every knob of the synthetic cohort generator, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from benchmarks.cohort.schema import MODALITIES


@dataclass(frozen=True)
class SiteProfile:
    """Acquisition and reading habits of one centre (a realistic domain-shift axis).

    MR: ``intensity_scale`` multiplies the whole volume (scanner/protocol gain), ``noise_sigma`` is the
    Rician noise level in the same arbitrary units as the unscaled tissue intensities, ``spacing_mm`` is
    the voxel spacing (x, y, z), ``bias_strength`` the amplitude of the smooth multiplicative bias field.
    CT: ``ct_spacing_mm`` (finer in-plane, thin slices), ``ct_hu_offset`` a calibration offset in HU and
    ``ct_noise_hu`` the Gaussian noise SD in HU (dose, reconstruction kernel). Case mix and protocol:
    ``latent_shift`` moves the site's inflammation mix (tertiary vs secondary centre), ``ct_share_shift``
    changes the cohort's ``ct_rate`` relatively (CT share ``ct_rate * (1 + ct_share_shift)``: a CT-first
    vs an MR-first centre) and ``reader_style`` picks the
    preferred wording of its radiologists and endoscopists. ``enhancement_gain`` scales how much of the
    disease's wall enhancement the protocol shows (contrast dose and timing, enteric vs late portal
    phase): 1 as calibrated, below 1 flatter, above 1 more conspicuous.
    """

    name: str
    intensity_scale: float
    noise_sigma: float
    spacing_mm: tuple[float, float, float]
    field_strength: str
    bias_strength: float
    latent_shift: float = 0.0
    reader_style: int = 0
    ct_spacing_mm: tuple[float, float, float] = (0.78, 0.78, 1.5)
    ct_hu_offset: float = 0.0
    ct_noise_hu: float = 12.0
    ct_share_shift: float = 0.0
    enhancement_gain: float = 1.0


# MR: name, gain, Rician noise, spacing, field, bias, case mix (latent shift), reader style; then CT
# spacing, HU offset, noise (HU), relative CT share and the enhancement the protocol shows.
_SITE_TABLE = (
    ("S1", 1.00, 14.0, (1.5, 1.5, 3.0), "1.5T", 0.12, 0.10, 0, (0.78, 0.78, 1.5), 0.0, 12.0, 0.0, 1.0),
    ("S2", 1.45, 26.0, (1.3, 1.3, 2.5), "3T", 0.22, -0.05, 1, (0.70, 0.70, 1.25), 8.0, 20.0, -0.5, 0.7),
    ("S3", 0.72, 11.0, (1.6, 1.6, 3.5), "1.5T", 0.08, -0.10, 2, (0.86, 0.86, 2.0), -6.0, 9.0, 0.5, 1.3),
    ("S4", 1.20, 18.0, (1.4, 1.4, 3.0), "3T", 0.16, 0.05, 3, (0.74, 0.74, 1.0), 4.0, 15.0, -0.25, 0.85),
    ("S5", 0.90, 16.0, (1.7, 1.7, 3.0), "1.5T", 0.10, 0.00, 4, (0.82, 0.82, 2.5), -3.0, 11.0, 0.25, 1.15),
)
DEFAULT_SITES: tuple[SiteProfile, ...] = tuple(SiteProfile(*row) for row in _SITE_TABLE)

REFERENCE_SITE = SiteProfile("reference", 1.0, 16.0, (1.5, 1.5, 3.0), "1.5T", 0.12, 0.0, 0)
"""What every site looks like with ``site_shift = 0`` (no difference between sites)."""

_SHIFTED_FLOOR = {
    "intensity_scale": 0.2,
    "noise_sigma": 1.0,
    "bias_strength": 0.0,
    "ct_noise_hu": 1.0,
}


def shifted_site(site: SiteProfile, shift: float, reference: SiteProfile = REFERENCE_SITE) -> SiteProfile:
    """``site`` moved towards ``reference``: every number becomes ``shift * site + (1 - shift) * reference``.

    ``shift = 1`` gives ``site`` exactly, ``0`` the reference (the sites no longer differ, only their name
    stays), above 1 exaggerates the differences (numbers kept in a physical range: spacing >= 0.3 mm,
    scale >= 0.2, noise >= 1). Text settings (field strength, reader style) are the site's when
    ``shift > 0`` and the reference's at 0.
    """
    if shift == 1.0:
        return site

    def mix(a: float, b: float) -> float:
        return shift * a + (1.0 - shift) * b

    values: dict[str, Any] = {}
    for f in fields(SiteProfile):
        a, b = getattr(site, f.name), getattr(reference, f.name)
        if f.name == "name":
            values[f.name] = a
        elif isinstance(a, str) or f.name == "reader_style":
            values[f.name] = a if shift > 0 else b
        elif isinstance(a, tuple):
            values[f.name] = tuple(max(0.3, mix(x, y)) for x, y in zip(a, b, strict=True))
        else:
            values[f.name] = max(_SHIFTED_FLOOR.get(f.name, -np.inf), mix(a, b))
    return SiteProfile(**values)


def _default_missing() -> dict[str, float]:
    return {"imaging": 0.15, "text": 0.14, "pro": 0.18}


def _default_mnar() -> dict[str, float]:
    # Sicker patients get their MRE read and stored more often (negative: less missing) and fill in
    # questionnaires less often (positive: more missing).
    return {"imaging": -0.35, "text": 0.0, "pro": 0.45}


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of :func:`benchmarks.synthetic.generate_cohort`; defaults give the documented cohort.

    Signal strengths are multipliers in [0, ~2]: 1 is the calibrated default, 0 removes the link between
    the modality and the latent inflammation (imaging: disease effect rendered in the volume; text:
    how much the reader's perception follows the truth; pro: loading of symptoms on inflammation).
    ``missing_rate`` is the MCAR probability per modality; ``mnar_strength`` adds a logit term
    proportional to the (standardised) latent inflammation. ``image_shape`` is (nx, ny, nz).
    ``french_report_rate`` / ``templated_report_rate``: probability that a report is written in French /
    as a structured "Finding: yes/no" form (independently, per report).

    Real-hospital imaging: ``ct_rate`` is the share of imaging patients with a CT enterography (site
    ``ct_share_shift`` moves it per site), ``mr_and_ct_rate`` the share of them with both an MR and a CT
    (within ``ct_rate``); ``ct_image_shape`` defaults to about the voxel count of ``image_shape`` with a
    finer in-plane grid. ``two_timepoint_rate``: share of patients with a baseline and a follow-up visit
    (scan, MRE/CTE report and questionnaire each), ``visit_correlation`` the correlation of the
    inflammation between the two visits, ``visit_interval_days`` the range of days between them and
    ``endpoint_at_followup_rate`` the share of those whose endpoints are assessed at the follow-up (else
    at baseline). ``multi_segment_rate``: share of scans whose mask has one label per annotated bowel
    segment; ``other_label_rate``: share of single-region masks whose lesion label is not 1.
    ``site_shift`` scales how much the sites differ (0: identical sites, 1: the profiles as given,
    up to 3: exaggerated), see :func:`shifted_site`.
    """

    n_sites: int = 3
    sites: tuple[SiteProfile, ...] = DEFAULT_SITES
    imaging_signal: float = 1.0
    text_signal: float = 1.0
    pro_signal: float = 1.0
    missing_rate: dict[str, float] = field(default_factory=_default_missing)
    mnar_strength: dict[str, float] = field(default_factory=_default_mnar)
    partial_report_rate: float = 0.08
    image_shape: tuple[int, int, int] = (96, 96, 40)
    write_images: bool = True
    n_jobs: int = -1
    explicit_scores_in_text: bool = False
    # Report language and form, drawn per report: French vs English, structured form vs free text.
    french_report_rate: float = 0.30
    templated_report_rate: float = 0.20
    # Cohort mix (reference 9.4 defaults for a tertiary MRE/endoscopy cohort).
    endoscopic_class_probs: tuple[float, float, float, float] = (0.35, 0.25, 0.25, 0.15)
    location_probs: tuple[float, float, float, float] = (0.35, 0.20, 0.40, 0.05)
    behaviour_probs: tuple[float, float, float] = (0.55, 0.25, 0.20)
    l4_modifier_rate: float = 0.08
    perianal_rate: float = 0.20
    female_rate: float = 0.52
    ileum_not_intubated_rate: float = 0.08
    # Symptom model: loading of symptoms on inflammation vs the independent symptom factor.
    symptom_inflammation_loading: float = 0.30
    symptom_factor_loading: float = 0.90
    symptom_offset: float = 0.65
    # Biomarker noise multipliers (1 = calibrated to reference 9.1/9.2).
    calprotectin_noise: float = 1.0
    crp_noise: float = 1.0
    # Real-hospital imaging: CT and MR, two visits, multi-segment masks, sites that differ.
    ct_rate: float = 0.30
    mr_and_ct_rate: float = 0.05
    ct_image_shape: tuple[int, int, int] | None = None
    two_timepoint_rate: float = 0.20
    visit_correlation: float = 0.35
    visit_interval_days: tuple[int, int] = (120, 540)
    endpoint_at_followup_rate: float = 0.75
    multi_segment_rate: float = 0.25
    other_label_rate: float = 0.05
    site_shift: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.n_sites <= len(self.sites):
            raise ValueError(f"n_sites must be in 1..{len(self.sites)} (profiles given), got {self.n_sites}")
        for name, probs in (
            ("endoscopic_class_probs", self.endoscopic_class_probs),
            ("location_probs", self.location_probs),
            ("behaviour_probs", self.behaviour_probs),
        ):
            if any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
                raise ValueError(f"{name} must be non-negative and sum to 1, got {probs}")
        for d in (self.missing_rate, self.mnar_strength):
            unknown = set(d) - set(MODALITIES)
            if unknown:
                raise ValueError(f"unknown modalities {sorted(unknown)}; known: {list(MODALITIES)}")
        for m, r in self.missing_rate.items():
            if not 0.0 <= r < 1.0:
                raise ValueError(f"missing_rate[{m!r}] must be in [0, 1), got {r}")
        if len(self.image_shape) != 3 or min(self.image_shape) < 16:
            raise ValueError(f"image_shape must be 3 sizes >= 16 (nx, ny, nz), got {self.image_shape}")
        for name in ("french_report_rate", "templated_report_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("imaging_signal", "text_signal", "pro_signal"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in (
            "ct_rate",
            "two_timepoint_rate",
            "endpoint_at_followup_rate",
            "multi_segment_rate",
            "other_label_rate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.mr_and_ct_rate <= self.ct_rate:
            raise ValueError(
                f"mr_and_ct_rate must be in [0, ct_rate={self.ct_rate}] (it is a part of the CT patients), "
                f"got {self.mr_and_ct_rate}"
            )
        if not -1.0 <= self.visit_correlation <= 1.0:
            raise ValueError(f"visit_correlation must be in [-1, 1], got {self.visit_correlation}")
        lo, hi = self.visit_interval_days
        if not 90 <= lo <= hi:  # >= 90 keeps the endpoint visit's rows the closest to the endpoint date
            raise ValueError(
                f"visit_interval_days must be (low, high) with 90 <= low <= high, got {self.visit_interval_days}"
            )
        if self.ct_image_shape is not None and (
            len(self.ct_image_shape) != 3 or min(self.ct_image_shape) < 16
        ):
            raise ValueError(f"ct_image_shape must be 3 sizes >= 16 (nx, ny, nz), got {self.ct_image_shape}")
        if not 0.0 <= self.site_shift <= 3.0:
            raise ValueError(
                f"site_shift must be in [0, 3] (0: identical sites, 1: as profiled), got {self.site_shift}"
            )

    @property
    def active_sites(self) -> tuple[SiteProfile, ...]:
        """The first ``n_sites`` profiles, moved by ``site_shift`` (:func:`shifted_site`)."""
        return tuple(shifted_site(s, self.site_shift) for s in self.sites[: self.n_sites])

    @property
    def ct_shape(self) -> tuple[int, int, int]:
        """(nx, ny, nz) of a CT volume: ``ct_image_shape``, else about the voxels of ``image_shape`` with
        7/6 the in-plane matrix (finer pixels) and 3/4 of the slices."""
        if self.ct_image_shape is not None:
            return self.ct_image_shape
        nx, ny, nz = self.image_shape
        return (round(nx * 7 / 6), round(ny * 7 / 6), max(16, round(nz * 3 / 4)))

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict view (for provenance)."""
        return asdict(self)
