"""Realistic synthetic Crohn's disease cohort: MRE volumes + wall masks, reports, questionnaires, labs.

``generate_cohort(out_dir, n=400, seed=0, config=None)`` writes ``out_dir/cohort`` (the cohort contract
of ``benchmarks.cohort.schema``: patients.csv, imaging.csv, reports.csv, pro.csv, images/<pid>/*.nii.gz) and
``out_dir/ground_truth.csv`` (never read by the loader): latent inflammation and symptom factor,
observed and true SES-CD with the 5 x 4 per-segment variables, ileal intubation, segmental MaRIA with
wall thickness / RCE / oedema / ulcers for 6 segments, the annotated segment and the wall thickness and
RCE drawn into its volume, availability per modality and dropped reports.

Structure (reference section 9): one latent inflammation per patient drives endoscopy, MRI and
biomarkers; symptoms and questionnaires load weakly on it plus an independent symptom factor; CDAI and
HBI are scored from the generated items by ``features.pro_scores.compute_scores``. Every knob lives in
:class:`SyntheticConfig`; ``build_tables`` gives the tables in memory without writing anything.
Modules: ``config`` (knobs, site profiles), ``latent`` (truth), ``pro`` (items), ``reports`` (text),
``images`` (volumes), ``generate`` (assembly and writing).
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
