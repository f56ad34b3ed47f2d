"""Visits, dates and scans of a patient: one or two timepoints, MR and/or CT, the mask labels of each scan.

Every patient has an endpoint visit, whose disease state is the patient's truth (what ``patients.csv``
endpoints describe), and with probability ``two_timepoint_rate`` another visit, earlier (baseline) or
later (follow-up), with an inflammation correlated ``visit_correlation`` with the endpoint one. Dates:
each visit has a date; its scans lie within 14 days (a second modality within 10 more), its
questionnaire within 7 days of it and the endpoint assessment (colonoscopy) within 14 days of the endpoint
visit, while two visits are at least ``visit_interval_days[0]`` (>= 90) days apart, so the rows closest
to the endpoint date are always those of the endpoint visit. Drawn from streams of their own: the
tables of the endpoint visit are what they were before visits existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from benchmarks.cohort.regions import Region, format_regions
from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.images import SEGMENT_REGION_NAMES, ScanSpec
from benchmarks.synthetic.latent import (
    MRI_SEGMENTS,
    STREAM_SCAN_PLAN,
    STREAM_VISITS,
    PatientTruth,
    other_visit_truth,
)

FIRST_DATE = date(2016, 1, 4)
DATE_SPAN_DAYS = 6 * 365
OTHER_LABELS = (2, 7)
"""Lesion label of a single-region mask that does not use 1 (as some tools and readers write them)."""


@dataclass(frozen=True)
class Scan:
    """One scan: what it shows (``spec``), its date and the ``label`` cell of imaging.csv."""

    spec: ScanSpec
    scan_date: date
    label: str


@dataclass(frozen=True)
class Visit:
    """One visit: its ``timepoint`` (0 baseline, 1 follow-up), the disease state then, its scans (one per
    image modality of the patient) and the date of its questionnaire."""

    timepoint: int
    truth: PatientTruth
    at_endpoint: bool
    scans: tuple[Scan, ...]
    pro_date: date


@dataclass(frozen=True)
class PatientPlan:
    """A patient's image modalities, visits (by timepoint) and the date the endpoints were assessed."""

    modalities: tuple[str, ...]
    visits: tuple[Visit, ...]
    endpoint_date: date

    @property
    def endpoint_visit(self) -> Visit:
        return next(v for v in self.visits if v.at_endpoint)


def _modalities(rng: np.random.Generator, truth: PatientTruth, config: SyntheticConfig) -> tuple[str, ...]:
    site = config.active_sites[truth.site]
    p_ct = float(np.clip(config.ct_rate * (1.0 + site.ct_share_shift), 0.0, 1.0))
    p_both = config.mr_and_ct_rate * (p_ct / config.ct_rate) if config.ct_rate > 0 else 0.0
    u = rng.random()
    if u < p_both:
        return ("MR", "CT")
    return ("CT",) if u < p_ct else ("MR",)


def _spec(
    rng: np.random.Generator, truth: PatientTruth, modality: str, config: SyntheticConfig
) -> tuple[ScanSpec, str]:
    """The scan's annotated segments and labels, and its ``label`` cell."""
    multi, other, k, start, which = (
        rng.random(),
        rng.random(),
        rng.integers(2, 4),
        rng.random(),
        rng.random(),
    )
    if multi < config.multi_segment_rate:
        # k consecutive segments around the annotated one (the diseased loop runs through them); the
        # annotated segment keeps label 1, the others 2, 3 in anatomical order.
        main = MRI_SEGMENTS.index(truth.image_segment)
        first = min(max(main - int(start * int(k)), 0), len(MRI_SEGMENTS) - int(k))
        segments = MRI_SEGMENTS[first : first + int(k)]
        rest = iter(range(2, int(k) + 1))
        labels = tuple(1 if s == truth.image_segment else next(rest) for s in segments)
        regions = sorted(
            (Region(SEGMENT_REGION_NAMES[s], v) for s, v in zip(segments, labels, strict=True)),
            key=lambda r: r.key,
        )
        return ScanSpec(modality, segments, labels), format_regions(tuple(regions))
    if other < config.other_label_rate:
        value = OTHER_LABELS[int(which * len(OTHER_LABELS))]
        return ScanSpec(modality, (), (value,)), str(value)
    return ScanSpec(modality), ""


def plan_patient(truth: PatientTruth, config: SyntheticConfig) -> PatientPlan:
    """The patient's visits, scans and dates (deterministic per patient, independent of the cohort size)."""
    rng = truth.rng(STREAM_VISITS)
    two = rng.random() < config.two_timepoint_rate
    at_followup = rng.random() < config.endpoint_at_followup_rate
    rho = config.visit_correlation
    e_z, e_f = rng.normal(), rng.normal()
    first = FIRST_DATE + timedelta(days=int(rng.integers(0, DATE_SPAN_DAYS)))
    lo, hi = config.visit_interval_days
    interval = int(rng.integers(lo, hi + 1))
    offsets = rng.integers(-14, 15, size=5)  # endpoint, scan t0, scan t1, pro t0 / t1 (+-7 below)
    second_modality = rng.integers(-10, 11, size=2)

    plan_rng = truth.rng(STREAM_SCAN_PLAN)
    modalities = _modalities(plan_rng, truth, config)
    if two:
        endpoint_tp = 1 if at_followup else 0
        other = other_visit_truth(
            truth,
            config,
            rho * truth.inflammation + np.sqrt(1.0 - rho**2) * e_z,
            rho * truth.symptom_factor + np.sqrt(1.0 - rho**2) * e_f,
        )
        states = {endpoint_tp: truth, 1 - endpoint_tp: other}
        visit_dates = [first, first + timedelta(days=interval)]
    else:
        endpoint_tp = 0
        states = {0: truth}
        visit_dates = [first]
    visits = []
    for tp in sorted(states):
        scans = []
        for i, modality in enumerate(modalities):
            spec, label = _spec(plan_rng, states[tp], modality, config)
            day = int(offsets[1 + tp]) + (int(second_modality[tp]) if i else 0)
            scans.append(Scan(spec, visit_dates[tp] + timedelta(days=day), label))
        pro_date = visit_dates[tp] + timedelta(days=int(offsets[3 + tp]) // 2)
        visits.append(Visit(tp, states[tp], tp == endpoint_tp, tuple(scans), pro_date))
    endpoint_date = visit_dates[endpoint_tp] + timedelta(days=int(offsets[0]))
    return PatientPlan(modalities, tuple(visits), endpoint_date)
