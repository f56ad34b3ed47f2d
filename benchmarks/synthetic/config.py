"""Every knob of the synthetic cohort generator, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.cohort.schema import MODALITIES


@dataclass(frozen=True)
class SiteProfile:
    """Acquisition and reading habits of one centre (a realistic domain-shift axis).

    ``intensity_scale`` multiplies the whole MR volume (scanner/protocol gain), ``noise_sigma`` is the
    Rician noise level in the same arbitrary units as the unscaled tissue intensities, ``spacing_mm`` is
    the voxel spacing (x, y, z), ``bias_strength`` the amplitude of the smooth multiplicative bias field,
    ``latent_shift`` moves the site's inflammation mix (tertiary vs secondary centre) and ``reader_style``
    picks the preferred wording of its radiologists and endoscopists.
    """

    name: str
    intensity_scale: float
    noise_sigma: float
    spacing_mm: tuple[float, float, float]
    field_strength: str
    bias_strength: float
    latent_shift: float = 0.0
    reader_style: int = 0


DEFAULT_SITES: tuple[SiteProfile, ...] = (
    SiteProfile("S1", 1.00, 14.0, (1.5, 1.5, 3.0), "1.5T", 0.12, 0.10, 0),
    SiteProfile("S2", 1.45, 26.0, (1.3, 1.3, 2.5), "3T", 0.22, -0.05, 1),
    SiteProfile("S3", 0.72, 11.0, (1.6, 1.6, 3.5), "1.5T", 0.08, -0.10, 2),
    SiteProfile("S4", 1.20, 18.0, (1.4, 1.4, 3.0), "3T", 0.16, 0.05, 3),
    SiteProfile("S5", 0.90, 16.0, (1.7, 1.7, 3.0), "1.5T", 0.10, 0.00, 4),
)


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

    @property
    def active_sites(self) -> tuple[SiteProfile, ...]:
        return self.sites[: self.n_sites]

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict view (for provenance)."""
        return asdict(self)
