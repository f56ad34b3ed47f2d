"""Assemble the synthetic cohort: tables, reports, questionnaires, images and the hidden ground truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.cohort.schema import (
    DATE_COLUMN,
    ENDPOINT_DATE_COLUMN,
    GROUND_TRUTH_FILE,
    IMAGING_FILE,
    LABEL_COLUMN,
    MODALITIES,
    PATIENTS_FILE,
    PRO_FILE,
    PRO_ITEMS,
    REPORTS_FILE,
    SEVERITY_CLASSES,
    TIMEPOINT_COLUMN,
)
from benchmarks.store import FolderError, atomic_write, claim_folder, is_temporary, write_text
from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.images import ScanSpec
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
from benchmarks.synthetic.report_writer import IMAGING_REPORT_TYPES, write_reports
from benchmarks.synthetic.visits import PatientPlan, Scan, Visit, plan_patient

MARKER_FILE = ".synthetic.json"
"""Written into the cohort folder; lets a rerun replace a folder that the generator made, and only such."""

IMAGE_SEQUENCE = "T1_FS_post_gad"
IMAGE_SEQUENCES = {"MR": IMAGE_SEQUENCE, "CT": "portal_venous"}
IMAGE_FILES = {
    "MR": ("mre_t1_post.nii.gz", "mask_wall.nii.gz"),
    "CT": ("cte_portal_venous.nii.gz", "cte_mask_wall.nii.gz"),
}
"""Image and mask file names of a scan of each modality."""
IMAGING_COLUMNS = [
    "patient_id",
    "scan_id",
    "image",
    "mask",
    "modality",
    "sequence",
    "segment",
    LABEL_COLUMN,
    DATE_COLUMN,
    TIMEPOINT_COLUMN,
]
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

    plans = [plan_patient(t, config) for t in truths]
    patients[ENDPOINT_DATE_COLUMN] = [p.endpoint_date.isoformat() for p in plans]

    img_rows = []
    for t, plan in zip(truths, plans, strict=True):
        if not avail.at[t.patient_id, "imaging"]:
            continue
        for visit in plan.visits:
            for scan in visit.scans:
                img_rows.append(
                    {
                        "patient_id": t.patient_id,
                        "scan_id": scan_id(t.patient_id, scan.spec.modality, visit.timepoint),
                        **dict(
                            zip(("image", "mask"), scan_files(t.patient_id, plan, visit, scan), strict=True)
                        ),
                        "modality": scan.spec.modality,
                        "sequence": IMAGE_SEQUENCES[scan.spec.modality],
                        "segment": visit.truth.image_segment,
                        LABEL_COLUMN: scan.label,
                        DATE_COLUMN: scan.scan_date.isoformat(),
                        TIMEPOINT_COLUMN: visit.timepoint,
                    }
                )
    imaging = pd.DataFrame(img_rows, columns=IMAGING_COLUMNS)

    rep_rows = []
    for t, plan in zip(truths, plans, strict=True):
        if not avail.at[t.patient_id, "text"]:
            continue
        dropped = avail.at[t.patient_id, "drop_report"]
        for visit in plan.visits:
            dates = {IMAGING_REPORT_TYPES[sc.spec.modality]: sc.scan_date for sc in visit.scans}
            dates["colonoscopy"] = plan.endpoint_date
            reports_here = write_reports(visit.truth, config, plan.modalities, colonoscopy=visit.at_endpoint)
            for rtype, text in reports_here:
                # a partial record loses the endpoint visit's imaging report(s) or its colonoscopy report
                if visit.at_endpoint and dropped == ("colonoscopy" if rtype == "colonoscopy" else "mre"):
                    continue
                suffix = "" if visit.at_endpoint else f"_tp{visit.timepoint}"
                rep_rows.append(
                    {
                        "patient_id": t.patient_id,
                        "report_id": f"{t.patient_id}_{rtype}{suffix}",
                        "report_type": rtype,
                        "text": text,
                        DATE_COLUMN: dates[rtype].isoformat(),
                        TIMEPOINT_COLUMN: visit.timepoint,
                    }
                )
    reports = pd.DataFrame(
        rep_rows, columns=["patient_id", "report_id", "report_type", "text", DATE_COLUMN, TIMEPOINT_COLUMN]
    )

    pro_rows = []
    for t, plan in zip(truths, plans, strict=True):
        if not avail.at[t.patient_id, "pro"]:
            continue
        for visit in plan.visits:
            answers = (
                items.loc[t.patient_id].to_dict()
                if visit.at_endpoint
                else sample_pro_items(visit.truth, config)
            )
            pro_rows.append(
                {
                    "patient_id": t.patient_id,
                    DATE_COLUMN: visit.pro_date.isoformat(),
                    TIMEPOINT_COLUMN: visit.timepoint,
                    **answers,
                }
            )
    pro = pd.DataFrame(pro_rows, columns=["patient_id", DATE_COLUMN, TIMEPOINT_COLUMN, *PRO_ITEMS])
    pro = pro.astype({c: items[c].dtype for c in PRO_ITEMS})

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
    gt["image_modalities"] = ["+".join(p.modalities) for p in plans]
    gt["n_timepoints"] = [len(p.visits) for p in plans]
    gt[ENDPOINT_DATE_COLUMN] = patients[ENDPOINT_DATE_COLUMN].tolist()
    # The endpoint visit's rows (scans, imaging reports, questionnaire) are the closest to endpoint_date.
    gt["closest_timepoint"] = [p.endpoint_visit.timepoint for p in plans]
    gt["closest_scan_ids"] = [
        ";".join(scan_id(t.patient_id, m, p.endpoint_visit.timepoint) for m in p.modalities)
        for t, p in zip(truths, plans, strict=True)
    ]
    others = [next((v.truth for v in p.visits if not v.at_endpoint), None) for p in plans]
    gt["other_latent_inflammation"] = [np.nan if o is None else round(o.inflammation, 6) for o in others]
    gt["other_ses_cd_true"] = [np.nan if o is None else o.ses_cd_true for o in others]
    gt["other_maria"] = [np.nan if o is None else round(o.maria, 2) for o in others]
    ground_truth = pd.DataFrame(gt)
    tables = {
        "patients": patients,
        "imaging": imaging,
        "reports": reports,
        "pro": pro,
        "ground_truth": ground_truth,
    }
    return truths, tables


def _render_one(
    truth: PatientTruth, config: SyntheticConfig, spec: ScanSpec, image_path: Path, mask_path: Path
) -> None:
    from benchmarks.synthetic.images import render_scan, write_scan

    scan = render_scan(truth, config, config.active_sites[truth.site], spec)
    write_scan(scan, image_path, mask_path)


def scan_id(patient_id: str, modality: str, timepoint: int) -> str:
    """``P0001_MRE1``: the patient, MRE or CTE, and the visit number (timepoint + 1)."""
    return f"{patient_id}_{'CTE' if modality == 'CT' else 'MRE'}{timepoint + 1}"


def scan_files(patient_id: str, plan: PatientPlan, visit: Visit, scan: Scan) -> tuple[str, str]:
    """Image and mask paths (relative to the cohort folder); a patient with two visits has one folder each."""
    folder = f"images/{patient_id}/" + (f"tp{visit.timepoint}/" if len(plan.visits) > 1 else "")
    names = IMAGE_FILES[scan.spec.modality]
    return folder + names[0], folder + names[1]


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
    plans = [plan_patient(t, config) for t in truths]
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
        with_images = set(tables["imaging"]["patient_id"])
        jobs = [
            (visit.truth, scan.spec, *(cohort / f for f in scan_files(t.patient_id, plan, visit, scan)))
            for t, plan in zip(truths, plans, strict=True)
            if t.patient_id in with_images
            for visit in plan.visits
            for scan in visit.scans
        ]
        if config.n_jobs == 1 or len(jobs) < MIN_SCANS_FOR_WORKERS:
            for t, spec, ip, mp in jobs:
                _render_one(t, config, spec, ip, mp)
        else:
            from joblib import Parallel, delayed

            Parallel(n_jobs=config.n_jobs, batch_size=4)(
                delayed(_render_one)(t, config, spec, ip, mp) for t, spec, ip, mp in jobs
            )
    return cohort
