"""What the run writes stays safe and readable whatever names the user's tables hold (issue 12, items 7, 8).

- 7: report.pdf builds with any Unicode or control character in a name; when pdflatex is installed but
  fails, the run says so and exits 1, unless ``--no-pdf``.
- 8: CSV cells that a spreadsheet would run as a formula are neutralised (numbers stay numbers);
  Markdown shows user strings literally (no HTML, no ``javascript:`` link).

The hostile names go into a small synthetic cohort (``site`` of ``patients.csv``, run end to end) and
into a fake run folder (cohort summary and cell errors, for what the cohort validator would clean).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from benchmarks import store
from benchmarks.cohort import schema
from benchmarks.run import main
from benchmarks.store import claim_folder, write_csv
from benchmarks.synthetic import generate_cohort
from reports.build import build_report
from reports.summary import PDF_NOT_BUILT

needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")

UNICODE_SITE = "Ðakovo «Nord»"
FORMULA_SITE = '=HYPERLINK("http://evil.example","click")'
HTML_SITE = "<script>alert(1)</script>"
LINK_SITE = "[click](javascript:alert(1))"
SITES = [UNICODE_SITE, FORMULA_SITE, HTML_SITE, LINK_SITE, "Москва 北京", "@SUM(A1) Łódź"]
CONTROL_SITE = "Bel\x00gr\x07ade\x1b[31m\u202e\x0c"
HTML_ERROR = "ValueError: <img src=x onerror=alert(1)> [x](javascript:alert(1)) \x00\x08"
RUN_TOML = """
tasks = ["endo_active"]
modality_sets = ["pro"]
estimators = ["enet"]
fusions = ["single"]
repeats = 1
folds = 2
n_trials = 1
inner_splits = 2
n_boot = 50
n_jobs = 1
[features]
pro = ["pro_indices"]
"""
"""The smallest ``all`` run (a few seconds): the report's Table 1 lists every site."""
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FEW_MODELS = (("imaging", "enet", "single"), ("pro", "enet", "single"))
"""Fake runs with two models besides the prior (and the failed one): a report in a few seconds."""
REPORT_PDF = Path(store.REPORT_TEX).with_suffix(".pdf").name


@pytest.fixture(scope="module")
def hostile_cohort(tmp_path_factory, edit_csv) -> Path:
    root = generate_cohort(tmp_path_factory.mktemp("hostile") / "synthetic", n=24, seed=3)

    def rename_sites(columns, rows):
        for i, row in enumerate(rows):
            row["site"] = SITES[i % len(SITES)]

    edit_csv(root / schema.PATIENTS_FILE, rename_sites)
    return root


class HostileRun(NamedTuple):
    run_dir: Path
    argv: list[str]
    code: int
    pdf: bytes | None  # the first bytes of report.pdf right after the run


@pytest.fixture(scope="module")
def hostile_run(hostile_cohort, tmp_path_factory) -> HostileRun:
    """``all`` on the cohort with hostile site names."""
    root = tmp_path_factory.mktemp("hostile-run")
    (root / "outputs.toml").write_text(RUN_TOML, encoding="utf-8")
    argv = ["all", "--cohort", str(hostile_cohort), "--out", str(root / "run"), "--profile", "smoke"]
    argv += ["--config", str(root / "outputs.toml")]
    code = main(argv)
    pdf = root / "run" / store.REPORT_DIR / REPORT_PDF
    return HostileRun(root / "run", argv, code, pdf.read_bytes()[:5] if pdf.exists() else None)


@pytest.fixture
def failing_pdflatex(tmp_path, monkeypatch) -> Path:
    """A ``pdflatex`` first on PATH that fails as TeX does; returns the file it touches when it runs."""
    bin_dir, called = tmp_path / "bin", tmp_path / "pdflatex-was-called"
    bin_dir.mkdir()
    exe = bin_dir / "pdflatex"
    exe.write_text(
        f"#!/bin/sh\ntouch '{called}'\necho \"! LaTeX Error: File \\`cdbench-missing.sty' not found.\"\nexit 1\n",
        encoding="utf-8",
    )
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("pdflatex") == str(exe)
    return called


def _small_fake_run(root: Path, make_fake_run) -> Path:
    return make_fake_run(claim_folder(root, "run"), n_patients=60, n_repeats=1, n_folds=3, models=FEW_MODELS)


@pytest.fixture(scope="module")
def hostile_fake_report(tmp_path_factory, make_fake_run):
    """The report of a fake run whose cohort summary has a site with control characters and whose failed
    cells say ``HTML_ERROR``: sites and errors reach Table 1, the failed-cells table and the diagnostics."""
    run_dir = _small_fake_run(tmp_path_factory.mktemp("fake") / "run", make_fake_run)
    cohort = pd.read_parquet(run_dir / store.COHORT_SUMMARY)
    cohort.loc[cohort.index[::3], "site"] = CONTROL_SITE
    cohort.to_parquet(run_dir / store.COHORT_SUMMARY, index=False)
    cells = pd.read_parquet(run_dir / store.CELLS)
    cells.loc[cells["status"] != "ok", "error"] = HTML_ERROR
    cells.to_parquet(run_dir / store.CELLS, index=False)
    return build_report(run_dir, n_boot=50)


def _csv_cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- 7: report.pdf -------------------------------------------------------------------------------------
@needs_tex
def test_report_pdf_builds_with_any_unicode_in_names(hostile_run):
    report = hostile_run.run_dir / store.REPORT_DIR
    assert hostile_run.code == 0 and hostile_run.pdf == b"%PDF-"
    tex = (report / store.REPORT_TABLES_DIR / "table1_cohort.tex").read_text(encoding="utf-8")
    assert tex.isascii() and r"\DH{}akovo \guillemotleft{}Nord\guillemotright{}" in tex
    assert "Moskva BeiJing" in tex and r"\L{}\'{o}d\'{z}" in tex  # transliterated / accented in the PDF
    # the original names are kept beside it
    table = pd.read_csv(report / store.REPORT_TABLES_DIR / "table1_cohort.csv", dtype=str)
    assert {UNICODE_SITE, "Москва 北京"} <= set(table["level"].dropna())
    assert UNICODE_SITE in (report / store.REPORT_TABLES_DIR / "table1_cohort.md").read_text(encoding="utf-8")


@needs_tex
def test_control_characters_never_break_the_pdf(hostile_fake_report):
    paths = hostile_fake_report
    assert paths.pdf_error is None and paths.report_pdf.read_bytes()[:5] == b"%PDF-"
    for path in (paths.tables["table1_cohort"]["tex"], paths.tables["table_failed_cells"]["tex"]):
        tex = path.read_text(encoding="utf-8")
        assert tex.isascii() and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", tex), path
    assert "Belgr" in paths.tables["table1_cohort"]["tex"].read_text(encoding="utf-8")


def test_a_pdf_that_cannot_be_built_fails_the_report_unless_no_pdf(
    tmp_path, make_fake_run, failing_pdflatex, capsys
):
    run_dir = _small_fake_run(tmp_path / "run", make_fake_run)
    stale = run_dir / store.REPORT_DIR / REPORT_PDF
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"%PDF- an old build")
    assert main(["report", "--run", str(run_dir), "--n-boot", "50"]) == 1
    out = capsys.readouterr().out
    assert "report.pdf was NOT built" in out and "cdbench-missing.sty" in out and "--no-pdf" in out
    assert "Traceback" not in out and failing_pdflatex.exists()
    assert not stale.exists()  # no outdated PDF is left looking current
    summary = (run_dir / store.REPORT_DIR / store.SUMMARY_MD).read_text(encoding="utf-8")
    assert PDF_NOT_BUILT in summary and "cdbench-missing.sty" in summary

    failing_pdflatex.unlink()
    assert main(["report", "--run", str(run_dir), "--n-boot", "50", "--no-pdf"]) == 0
    assert not failing_pdflatex.exists()  # pdflatex was not run
    assert "NOT built" not in capsys.readouterr().out
    assert PDF_NOT_BUILT not in (run_dir / store.REPORT_DIR / store.SUMMARY_MD).read_text(encoding="utf-8")


def test_all_exits_one_on_a_failed_pdf_and_zero_with_no_pdf(hostile_run, failing_pdflatex, capsys):
    argv = hostile_run.argv  # resumed: every cell and feature is reused
    assert main(argv) == 1
    assert "report.pdf was NOT built" in capsys.readouterr().out and failing_pdflatex.exists()
    failing_pdflatex.unlink()
    assert main([*argv, "--no-pdf"]) == 0
    assert not failing_pdflatex.exists()


# --- 8: CSV and Markdown ---------------------------------------------------------------------------------
def test_csv_writer_neutralises_formulas_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "site": [FORMULA_SITE, "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "ok", None],
            "text_number": ["-1", "-0.5", "+2e-3", "0", "3", "-.5", "x-1", "-"],
            "value": [-1.5, -0.0001, 2.0, -3e-9, 0.0, 1.0, -2.0, 4.0],
            "count": [-1, 2, 3, 4, 5, 6, 7, 8],
            "level": pd.Categorical(["=a", "b", "=a", "b", "b", "b", "b", "b"]),
        }
    ).rename(columns={"level": "=level"})
    path = write_csv(frame, tmp_path / "t.csv")
    back = pd.read_csv(path, dtype={"site": str, "text_number": str})
    assert list(back.columns) == ["site", "text_number", "value", "count", "'=level"]
    assert list(back["site"].iloc[:7]) == [
        "'" + FORMULA_SITE, "'+1+2", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "ok",
    ]  # fmt: skip
    assert list(back["text_number"]) == ["-1", "-0.5", "+2e-3", "0", "3", "-.5", "x-1", "'-"]
    pd.testing.assert_series_equal(back["value"], frame["value"])  # numbers stay numbers
    pd.testing.assert_series_equal(back["count"], frame["count"])
    assert list(back["'=level"]) == ["'=a", "b", "'=a", "b", "b", "b", "b", "b"]
    assert frame.loc[0, "site"] == FORMULA_SITE  # the caller's frame is not modified


def test_no_report_csv_holds_a_formula(hostile_run):
    run_dir = hostile_run.run_dir
    csvs = sorted((run_dir / store.REPORT_DIR).rglob("*.csv"))
    assert len(csvs) > 3
    for path in csvs:
        for cell in _csv_cells(path):
            assert not cell.startswith(FORMULA_START) or _is_number(cell), (path.name, cell)
    cells = _csv_cells(run_dir / store.REPORT_DIR / store.REPORT_TABLES_DIR / "table1_cohort.csv")
    assert "'" + FORMULA_SITE in cells and "'@SUM(A1) Łódź" in cells
    # and the results themselves are data, unchanged
    assert FORMULA_SITE in set(pd.read_parquet(run_dir / store.COHORT_SUMMARY)["site"])


def test_markdown_shows_user_strings_literally(hostile_run, hostile_fake_report):
    run_dir, fake = hostile_run.run_dir, hostile_fake_report
    md_files = [*(run_dir / store.REPORT_DIR).rglob("*.md"), *fake.out_dir.rglob("*.md")]
    assert len(md_files) > 4
    for path in md_files:
        text = path.read_text(encoding="utf-8")
        for raw in ("<script", "<img", "\x00", "\x08", "\x1b"):
            assert raw not in text, (path.name, raw)
        assert not re.search(r"(?<!\\)\]\(javascript:", text), path.name  # no link, only escaped brackets
    table1 = (run_dir / store.REPORT_DIR / store.REPORT_TABLES_DIR / "table1_cohort.md").read_text(
        encoding="utf-8"
    )
    assert "&lt;script>alert(1)&lt;/script>" in table1 and r"\[click\](javascript:alert(1))" in table1
    summary = fake.summary_md.read_text(encoding="utf-8")  # the error reaches failed cells and diagnostics
    assert summary.count("&lt;img src=x onerror=alert(1)>") >= 2
