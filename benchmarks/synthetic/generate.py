"""Assemble the synthetic cohort: tables, reports, questionnaires, images and the hidden ground truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import (
    GROUND_TRUTH_FILE,
    IMAGING_FILE,
    MODALITIES,
    PATIENTS_FILE,
    PRO_FILE,
    PRO_ITEMS,
    REPORTS_FILE,
    SEVERITY_CLASSES,
)
from benchmarks.store import FolderError, atomic_write, claim_folder, is_temporary, write_text
from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.latent import (
    MRI_SEGMENTS,
    SES_SEGMENTS,
    SES_VARIABLES,
    STREAM_MISSING,
    PatientTruth,
    patient_rng,
    sample_truth,
)
from benchmarks.synthetic.pro import sample_pro_items, symptom_severity
from benchmarks.synthetic.report_writer import write_reports

MARKER_FILE = ".synthetic.json"
"""Written into the cohort folder; lets a rerun replace a folder that the generator made, and only such."""

IMAGE_SEQUENCE = "T1_FS_post_gad"
MIN_SCANS_FOR_WORKERS = 24
"""Below this many scans the images are rendered in-process: starting workers costs more."""


def severity_class(ses_cd: float) -> str:
    """4-class endoscopic severity from the total SES-CD: 0-2 inactive, 3-6 mild, 7-15 moderate, >=16 severe."""
    return SEVERITY_CLASSES[int(np.searchsorted([3, 7, 16], ses_cd, side="right"))]


def _availability(truths: list[PatientTruth], config: SyntheticConfig) -> pd.DataFrame:
    """Per patient and modality: present or not (MCAR rate plus an MNAR logit term on inflammation)."""
    rows = []
    for t in truths:
        rng = patient_rng(t.seed, t.index, STREAM_MISSING)
        row = {}
        for m in MODALITIES:
            rate = config.missing_rate.get(m, 0.0)
            if rate <= 0.0:
                row[m] = True
                rng.random()  # keep the stream aligned whatever the rates
                continue
            logit = np.log(rate / (1.0 - rate)) + config.mnar_strength.get(m, 0.0) * t.inflammation
            row[m] = bool(rng.random() >= 1.0 / (1.0 + np.exp(-logit)))
        keep = int(rng.integers(0, len(MODALITIES)))
        if not any(row.values()):  # every patient keeps at least one modality
            row[MODALITIES[keep]] = True
        partial = rng.random() < config.partial_report_rate
        row["drop_report"] = ("mre", "colonoscopy")[int(rng.integers(0, 2))] if partial else ""
        rows.append(row)
    return pd.DataFrame(rows, index=[t.patient_id for t in truths])


def _prepare_folder(out_dir: Path) -> Path:
    """The emptied ``out_dir/cohort``, or a ``FolderError`` naming what would be overwritten.

    ``generate_cohort`` has claimed ``out_dir`` already; the cohort inside is replaced only when it
    carries the generator's marker.
    """
    cohort = out_dir / "cohort"
    if cohort.exists() and any(not is_temporary(e.name) for e in cohort.iterdir()):
        if not (cohort / MARKER_FILE).exists():
            raise FolderError(
                f"{cohort} exists and was not written by the synthetic generator (no {MARKER_FILE}); "
                "refusing to overwrite it. Give generate another --out folder."
            )
        shutil.rmtree(cohort)
    cohort.mkdir(parents=True, exist_ok=True)
    return cohort


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))


def build_tables(
    n: int, seed: int, config: SyntheticConfig
) -> tuple[list[PatientTruth], dict[str, pd.DataFrame]]:
    """All cohort tables (no files written): patients, imaging, reports, pro and ground_truth."""
    from benchmarks.synthetic.images import rendered_disease
    from features.pro_scores import compute_scores

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    truths = [sample_truth(i, seed, config) for i in range(n)]
    ids = [t.patient_id for t in truths]
    items = pd.DataFrame([sample_pro_items(t, config) for t in truths], index=ids, columns=list(PRO_ITEMS))
    sex = pd.Series([t.sex for t in truths], index=ids)
    scores = compute_scores(items, sex)
    avail = _availability(truths, config)
    sites = config.active_sites

    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "site": [sites[t.site].name for t in truths],
            "sex": [t.sex for t in truths],
            "age": [t.age for t in truths],
            "montreal_location": [t.location for t in truths],
            "montreal_l4": [t.l4 for t in truths],
            "montreal_behaviour": [t.behaviour for t in truths],
            "perianal": [t.perianal for t in truths],
            "crp": [t.crp for t in truths],
            "calprotectin": [t.calprotectin for t in truths],
            "leukocytes": [t.leukocytes for t in truths],
            "ses_cd": [t.ses_cd_observed for t in truths],
            "maria": [round(t.maria, 2) for t in truths],
            "cdai": scores["cdai"].to_numpy(),
            "hbi": scores["hbi"].astype(int).to_numpy(),
            "severity": [severity_class(t.ses_cd_observed) for t in truths],
        }
    )

    img_rows = []
    for t in truths:
        if avail.at[t.patient_id, "imaging"]:
            img_rows.append(
                {
                    "patient_id": t.patient_id,
                    "scan_id": f"{t.patient_id}_MRE1",
                    "image": f"images/{t.patient_id}/mre_t1_post.nii.gz",
                    "mask": f"images/{t.patient_id}/mask_wall.nii.gz",
                    "modality": "MR",
                    "sequence": IMAGE_SEQUENCE,
                    "segment": t.image_segment,
                }
            )
    imaging = pd.DataFrame(
        img_rows, columns=["patient_id", "scan_id", "image", "mask", "modality", "sequence", "segment"]
    )

    rep_rows = []
    for t in truths:
        if not avail.at[t.patient_id, "text"]:
            continue
        for rtype, text in write_reports(t, config):
            if avail.at[t.patient_id, "drop_report"] == rtype:
                continue
            rep_rows.append(
                {
                    "patient_id": t.patient_id,
                    "report_id": f"{t.patient_id}_{rtype}",
                    "report_type": rtype,
                    "text": text,
                }
            )
    reports = pd.DataFrame(rep_rows, columns=["patient_id", "report_id", "report_type", "text"])

    pro = items[avail["pro"].to_numpy()].copy()
    pro.insert(0, "patient_id", pro.index)
    pro = pro.reset_index(drop=True)

    gt: dict[str, list] = {
        "patient_id": ids,
        "site": patients["site"].tolist(),
        "latent_inflammation": [round(t.inflammation, 6) for t in truths],
        "symptom_factor": [round(t.symptom_factor, 6) for t in truths],
        "symptom_severity": [round(symptom_severity(t, config), 6) for t in truths],
        "ses_cd": patients["ses_cd"].tolist(),
        "ses_cd_true": [t.ses_cd_true for t in truths],
        "ileum_intubated": [int(t.ileum_intubated) for t in truths],
        "severity": patients["severity"].tolist(),
        "severity_true": [severity_class(t.ses_cd_true) for t in truths],
    }
    for seg in SES_SEGMENTS:
        gt[f"ses_{seg}"] = [t.ses_segment_totals[seg] for t in truths]
        for var in SES_VARIABLES:
            gt[f"ses_{seg}_{var}"] = [t.ses[seg][var] for t in truths]
    gt["maria"] = patients["maria"].tolist()
    for seg in MRI_SEGMENTS:
        for key in ("maria", "wall_mm", "rce", "oedema", "ulcer"):
            gt[f"{key}_{seg}"] = [t.mri[seg][key] for t in truths]
    rendered = [rendered_disease(t, config) for t in truths]
    gt["image_segment"] = [t.image_segment for t in truths]
    gt["image_wall_mm"] = [round(r[0], 2) for r in rendered]
    gt["image_rce"] = [round(r[1], 1) for r in rendered]
    gt["cdai"] = patients["cdai"].tolist()
    gt["hbi"] = patients["hbi"].tolist()
    for m in MODALITIES:
        gt[f"avail_{m}"] = avail[m].astype(int).tolist()
    gt["dropped_report"] = avail["drop_report"].tolist()
    ground_truth = pd.DataFrame(gt)
    tables = {
        "patients": patients,
        "imaging": imaging,
        "reports": reports,
        "pro": pro,
        "ground_truth": ground_truth,
    }
    return truths, tables


def _render_one(truth: PatientTruth, config: SyntheticConfig, image_path: Path, mask_path: Path) -> None:
    from benchmarks.synthetic.images import render_scan, write_scan

    scan = render_scan(truth, config, config.active_sites[truth.site])
    write_scan(scan, image_path, mask_path)


def generate_cohort(
    out_dir: str | Path, *, n: int = 400, seed: int = 0, config: SyntheticConfig | None = None
) -> Path:
    """Write a synthetic Crohn's disease cohort to ``out_dir/cohort`` and its truth to ``out_dir/ground_truth.csv``.

    Same ``seed`` and ``config`` give byte-identical tables and identical image arrays, whatever
    ``config.n_jobs``; patient ``i`` does not depend on ``n``. Returns the cohort folder.
    """
    config = config or SyntheticConfig()
    # Policy: out_dir must be new, empty or one the generator made (its marker, kind "synthetic"), so
    # ground_truth.csv only ever replaces a file the generator wrote. Checked before any work is done.
    out = claim_folder(out_dir, "synthetic")
    truths, tables = build_tables(n, seed, config)
    cohort = _prepare_folder(out)
    write_text(
        json.dumps({"generator": "benchmarks.synthetic", "n": n, "seed": seed}, sort_keys=True) + "\n",
        cohort / MARKER_FILE,
    )
    _write_csv(tables["patients"], cohort / PATIENTS_FILE)
    _write_csv(tables["imaging"], cohort / IMAGING_FILE)
    _write_csv(tables["reports"], cohort / REPORTS_FILE)
    _write_csv(tables["pro"], cohort / PRO_FILE)
    _write_csv(tables["ground_truth"], out / GROUND_TRUTH_FILE)
    if config.write_images and len(tables["imaging"]):
        by_id = {t.patient_id: t for t in truths}
        jobs = [
            (by_id[r.patient_id], cohort / r.image, cohort / r.mask)
            for r in tables["imaging"].itertuples(index=False)
        ]
        if config.n_jobs == 1 or len(jobs) < MIN_SCANS_FOR_WORKERS:
            for t, ip, mp in jobs:
                _render_one(t, config, ip, mp)
        else:
            from joblib import Parallel, delayed

            Parallel(n_jobs=config.n_jobs, batch_size=4)(
                delayed(_render_one)(t, config, ip, mp) for t, ip, mp in jobs
            )
    return cohort
