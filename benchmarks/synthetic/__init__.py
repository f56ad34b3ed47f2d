"""Realistic synthetic Crohn's disease cohort: MRE volumes + masks, reports, questionnaires, labs.

``generate_cohort(out_dir, n=400, seed=0)`` writes ``out_dir/cohort`` (the cohort contract of
``benchmarks.schema``) and ``out_dir/ground_truth.csv`` (latents and per-segment truth, never read by
the loader). Every knob lives in :class:`SyntheticConfig`.
"""

from benchmarks.synthetic.config import DEFAULT_SITES, SiteProfile, SyntheticConfig
from benchmarks.synthetic.generate import build_tables, generate_cohort, severity_class

__all__ = [
    "DEFAULT_SITES",
    "SiteProfile",
    "SyntheticConfig",
    "build_tables",
    "generate_cohort",
    "severity_class",
]
