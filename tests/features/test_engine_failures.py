"""Nothing lost silently (issue 10): a cohort whose scans fail extraction, from the engine to the console, the
run folder, provenance, summary.md and report.tex. The failing scans are built on the fly from the valid
cohort: a mask whose origin differs from its image's, and a mask labelled 2 where label 1 is configured."""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk

from benchmarks import store
from benchmarks.cohort import load_cohort
from benchmarks.experiment.provenance import cohort_summary
from benchmarks.run import stage_features
from features.engine import FAILURE_COLUMNS
from reports.build import build_report

LOST = ["007", "P002"]  # every scan of theirs fails: they lose imaging entirely


@pytest.fixture(scope="module")
def broken_cohort(tmp_path_factory, build_valid_cohort) -> Path:
    root = build_valid_cohort(tmp_path_factory.mktemp("failures") / "cohort")
    mask = sitk.ReadImage(str(root / "images/007_mask.nii.gz"))
    mask.SetOrigin(tuple(o + 5.0 for o in mask.GetOrigin()))
    sitk.WriteImage(mask, str(root / "images/007_mask.nii.gz"))
    mask = sitk.ReadImage(str(root / "images/P002_mask.nrrd"))
    sitk.WriteImage(mask * 2, str(root / "images/P002_mask.nrrd"))
    return root


@pytest.fixture(scope="module")
def extracted(broken_cohort, tmp_path_factory):
    """``stage_features`` on the broken cohort twice (the second run reads the cache); the console of each."""
    # without validation both scans reach the extractor (validation would exclude the misplaced mask)
    cohort = load_cohort(broken_cohort, validate=False)
    run_dir = tmp_path_factory.mktemp("run") / "run"
    outs = []
    for _ in range(2):
        buf = io.StringIO()
        with redirect_stdout(buf):
            fs = stage_features(
                cohort,
                {"imaging": ["radiomics"]},
                {},
                n_jobs=1,
                run_dir=run_dir,
                cache=store.FeatureCache(run_dir / "cache", cohort=cohort.root),
                force=False,
            )
        outs.append(buf.getvalue())
    return cohort, fs, run_dir, outs


def test_failures_are_counted_by_category_and_never_as_cached(extracted) -> None:
    _, fs, run_dir, _ = extracted
    failures = pd.read_parquet(run_dir / store.FAILURES)
    assert list(failures.columns) == FAILURE_COLUMNS
    got = failures.set_index("patient_id")[["extractor", "part", "modality", "category"]]
    assert got.to_dict("index") == {
        "007": {
            "extractor": "radiomics",
            "part": "MR",
            "modality": "imaging",
            "category": "geometry mismatch",
        },
        "P002": {"extractor": "radiomics", "part": "MR", "modality": "imaging", "category": "label absent"},
    }
    assert "resample the mask" in failures.set_index("patient_id").at["007", "reason"]
    assert "label" in failures.set_index("patient_id").at["P002", "reason"]
    summary = pd.read_parquet(run_dir / store.FEATURE_SUMMARY).set_index("part")
    # second run: the 3 good scans are read back, the 2 recorded failures stay failures
    assert summary.loc["MR", ["patients", "failed", "cached", "computed"]].tolist() == [3, 2, 3, 0]
    assert summary.loc["CT", ["patients", "failed", "not_applicable"]].tolist() == [0, 0, 5]  # no CT scan
    assert fs.lost == {"imaging": LOST}


def test_console_counts_failures_with_an_example_and_the_fix(extracted) -> None:
    _, _, run_dir, outs = extracted
    for out in outs:
        assert "2 case(s) failed extraction" in out and str(run_dir / store.FAILURES) in out
        lines = out.splitlines()
        row = next(ln for ln in lines if "geometry mismatch" in ln and "imaging" in ln)
        assert row.split()[:5] == ["imaging", "MR", "geometry", "mismatch", "1"]
        fix = lines[lines.index(row) + 1].strip()
        assert fix.startswith("fix: resample the mask onto its image's grid")
        assert any(ln.split()[:5] == ["imaging", "MR", "label", "absent", "1"] for ln in lines)
        assert "2 patient(s) have imaging data but lost it" in out and "007, P002" in out


def test_summary_md_and_report_name_the_patients_who_lost_imaging(extracted, make_fake_run, tmp_path) -> None:
    cohort, fs, run_dir, _ = extracted
    run = make_fake_run(
        tmp_path / "run",
        n_patients=40,
        n_repeats=1,
        n_folds=3,
        models=(("imaging", "enet", "single"),),
        with_search_space=False,
    )
    for name in (store.FAILURES, store.FEATURE_SUMMARY):
        shutil.copy(run_dir / name, run / name)
    store.write_table(cohort_summary(cohort, fs.blocks), run / store.COHORT_SUMMARY)
    built = build_report(run, n_boot=20, pdf=shutil.which("pdflatex") is not None)
    text = built.summary_md.read_text(encoding="utf-8")
    section = text.split("## Extraction failures\n", 1)[1].split("\n## ", 1)[0]
    assert "2 of 5 patient(s) with imaging data lost it" in section and "007, P002" in section
    assert "geometry mismatch" in section and "label absent" in section
    assert "`MODALITY_LOST_IN_EXTRACTION`" in text
    tex = built.report_tex.read_text(encoding="utf-8")
    assert r"\section{Extraction failures}" in tex and "007, P002" in tex
    assert r"\input{tables/table_extraction_failures.tex}" in tex
    table = pd.read_csv(built.tables["table_extraction_failures"]["csv"], dtype={"part": str})
    assert table[["modality", "part", "category", "n"]].values.tolist() == [
        ["imaging", "MR", "geometry mismatch", 1],
        ["imaging", "MR", "label absent", 1],
    ]
    assert built.pdf_error is None
