"""The cdbench command line: ``python -m benchmarks.run {all,generate,validate,features,matrix,report}``.

``all`` runs every stage into one run folder. Each stage is also a subcommand. Runs resume by default
(finished cells and cached features are reused); ``--force`` recomputes. Nothing but the command line
lives here: each stage calls the module that owns it (``benchmarks.cohort``, ``benchmarks.synthetic``,
``features.engine``, ``benchmarks.experiment``, ``benchmarks.store``, ``reports.build``), imported when
the stage runs so that ``--help`` and ``validate`` start without loading torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import store
from benchmarks.cohort.problems import UserError
from benchmarks.experiment.config import PROFILES, RunConfig, load_config

DEFAULT_OUT = "runs/latest"


def _log(msg: str) -> None:
    print(f"[cdbench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- stages ---------------------------------------------------------------------------------------------
def stage_generate(out: Path, n: int, seed: int, quiet: bool = False) -> Path:
    """Generate the synthetic cohort into ``out`` unless the same one is already there."""
    from benchmarks.synthetic import generate_cohort

    marker = out / store.GENERATED_MARKER
    want = {"n": n, "seed": seed}
    if (
        marker.exists()
        and json.loads(marker.read_text(encoding="utf-8")) == want
        and (out / "cohort" / "patients.csv").exists()
    ):
        if not quiet:
            _log(f"synthetic cohort already at {out / 'cohort'} (n={n}, seed={seed}); reusing it")
        return out / "cohort"
    t0 = time.perf_counter()
    cohort_dir = generate_cohort(out, n=n, seed=seed)
    store.write_text(json.dumps(want), marker)
    if not quiet:
        _log(f"generated synthetic cohort of {n} patients in {time.perf_counter() - t0:.1f} s: {cohort_dir}")
    return Path(cohort_dir)


def _check_images(deep: bool) -> str:
    """Validation's image checks: ``--deep`` reads every voxel of every image (``check_images="full"``)."""
    return "full" if deep else "header"


def stage_validate(cohort_dir: Path, deep: bool = False, selection: Any = None) -> Any:
    """Validate the cohort (listing what the ``selection`` rules keep) and warn about the tasks of the task
    file with a single class."""
    from benchmarks.preflight import validate_with_tasks

    report = validate_with_tasks(cohort_dir, check_images=_check_images(deep), selection=selection)
    print(report.format(), flush=True)
    return report


def stage_features(
    cohort: Any,
    features: dict[str, list[str]],
    extractor_params: dict[str, dict[str, Any]],
    *,
    n_jobs: int,
    run_dir: Path,
    cache: store.FeatureCache,
    force: bool,
    scheduler: str | None = None,
) -> Any:
    """Extract every configured modality (through the feature cache) and write the extraction summary;
    with ``scheduler`` (a Dask address) the patients are extracted on that cluster's workers."""
    from features.engine import extract_modalities

    fs = extract_modalities(
        cohort,
        features,
        extractor_params,
        n_jobs=n_jobs,
        cache=cache,
        force=force,
        progress=True,
        scheduler=scheduler,
    )
    summary = fs.summary()
    run_dir.mkdir(parents=True, exist_ok=True)
    store.write_table(summary, run_dir / store.FEATURE_SUMMARY)
    store.write_table(fs.failures, run_dir / store.FAILURES)
    print(summary.to_string(index=False), flush=True)
    _log_failures(fs, run_dir / store.FAILURES)
    return fs


EXAMPLE_CHARS = 160  # an example reason on the console; the table has them whole


def _short_reason(reason: str, root: str | None = None) -> str:
    """A failure reason for one console line: without the exception's class name, paths shown by file
    name, the middle cut when still longer than ``EXAMPLE_CHARS`` (the start names the patient, the end
    says what is wrong and the fix)."""
    text = re.sub(r"^[A-Za-z]+Error: ", "", reason)
    text = re.sub(r"(?:/[^\s,:;'\"()]+)+/([^/\s,:;'\"()]+)", r"\1", text)  # /a/b/P1/mask.nrrd -> mask.nrrd
    if len(text) > EXAMPLE_CHARS:
        keep = EXAMPLE_CHARS // 2 - 3
        text = f"{text[:keep]} ... {text[-keep:]}"
    return text


def _log_failures(fs: Any, path: Path) -> None:
    """The extraction failures counted by modality, part and category, each with an example reason and
    the fix, then the patients who lost a modality entirely (every part failed or none applied)."""
    counts = fs.failure_counts()
    if counts.empty:
        return
    _log(f"{len(fs.failures)} case(s) failed extraction and count as missing; every reason is in {path}")
    head = {"modality": "modality", "part": "part", "category": "category", "n": "n"}
    rows = [head, *counts.astype(str).to_dict(orient="records")]
    width = {k: max(len(r[k]) for r in rows) for k in head}
    for i, r in enumerate(rows):
        cells = "  ".join(r[k].rjust(width[k]) if k == "n" else r[k].ljust(width[k]) for k in head)
        if i == 0:
            print(f"  {cells}  example", flush=True)
            continue
        example = _short_reason(r["example"])
        print(f"  {cells}  {example}", flush=True)
        print(f"  {'':{len(cells)}}  fix: {r['fix']}", flush=True)
    for modality, ids in sorted(fs.lost.items()):
        _log(
            f"{len(ids)} patient(s) have {modality} data but lost it (every extractor part failed or none "
            f"applied): {', '.join(ids)}"
        )


def _load_cohort(
    cohort_dir: Path, deep: bool = False, selection: Any = None, run_dir: Path | None = None
) -> Any:
    """The validated cohort, its validation report printed (every problem, so nothing is dropped
    silently); exit 1 on a fatal problem."""
    from benchmarks.cohort import CohortError, load_cohort

    try:
        cohort = load_cohort(cohort_dir, check_images=_check_images(deep), selection=selection)
    except CohortError as exc:
        print(exc.report.format(), file=sys.stderr)
        _log("validation found fatal problems; fix them and rerun")
        raise SystemExit(1) from None
    print(cohort.report.format(), flush=True)
    if run_dir is not None:  # which row each patient's data came from and why; what validation left out
        store.write_table(cohort.selection.table, run_dir / store.SELECTION)
        store.write_table(cohort.excluded.astype({"row": "Int64"}), run_dir / store.EXCLUDED)
    return cohort


def stage_raw(config: RunConfig, cohort: Any, run_dir: Path, cache_root: Path, force: bool = False) -> Any:
    """The raw inputs of the models on the raw data (``features.raw``), built under ``cache_root`` (the
    feature cache's folder) when the matrix has such a model (else None). Their failures join the failures table and
    the console summary: a patient without raw data counts as missing that modality for those models."""
    from models.registry import uses_raw

    if not any(uses_raw(e, f) for e in config.estimators for f in config.fusions):
        return None
    from features.raw import build_raw_inputs

    modalities = sorted({m for s in config.modality_set_names() for m in s.split("+")})
    raw, failures = build_raw_inputs(
        cohort,
        modalities,
        config.extractor_params,
        cache_root=cache_root,
        n_jobs=config.n_jobs,
        params=config.raw_params,
        progress=True,
        force=force,
    )
    for m in modalities:
        st = raw.stats.get(m, {})
        _log(f"raw {m}: {len(raw.paths.get(m, {}))} patients ({st.get('computed', 0)} computed, "
             f"{st.get('cached', 0)} cached, {st.get('failed', 0)} failed)")  # fmt: skip
    if len(failures):
        import pandas as pd

        path = run_dir / store.FAILURES
        known = pd.read_parquet(path) if path.exists() else failures.iloc[:0]
        store.write_table(pd.concat([known, failures], ignore_index=True), path)
        _log(f"{len(failures)} case(s) failed raw-input extraction and count as missing for the deep models; "
             f"every reason is in {path}")  # fmt: skip
        for (m, cat), group in failures.groupby(["modality", "category"]):
            _log(f"  raw {m}, {cat}: {len(group)}, e.g. {_short_reason(group['reason'].iloc[0])}")
    return raw


def stage_matrix(
    config: RunConfig,
    cohort: Any,
    fs: Any,
    out: Path,
    force: bool,
    timings: dict[str, float],
    raw: Any = None,
) -> Any:
    """Run the matrix and write the cohort summary and provenance beside the results (``raw``: the raw
    inputs of the deep models, from ``stage_raw``)."""
    from benchmarks.experiment.provenance import cohort_identity, cohort_summary, provenance
    from benchmarks.experiment.runner import run_matrix
    from benchmarks.preflight import drop_empty_modalities

    config, notes = drop_empty_modalities(config, fs.blocks)
    for note in notes:
        _log(note)
    store.write_table(cohort_summary(cohort, fs.blocks), out / store.COHORT_SUMMARY)
    t = time.perf_counter()
    _log(f"running the model matrix ({config.profile} profile)")
    outcome = run_matrix(config, cohort.endpoints, fs.blocks, out, force=force, sites=_sites(cohort), raw=raw)
    timings["matrix"] = time.perf_counter() - t
    _log(
        f"matrix: {outcome.n_cells} cells, {outcome.n_skipped} reused, {outcome.n_run} run, "
        f"{outcome.n_failed} failed, {outcome.seconds:.0f} s"
    )
    extra = {
        "cohort": cohort_identity(cohort),
        "extraction": fs.provenance(),
        "cells": {"total": outcome.n_cells, "failed": outcome.n_failed},
    }
    if raw is not None:
        extra["raw_inputs"] = {
            m: {"n_patients": len(raw.paths.get(m, {})), **dict(raw.info.get(m, {})),
                **dict(raw.stats.get(m, {}))} for m in raw.paths
        }  # fmt: skip
    store.write_json(provenance(config, timings, extra), out / store.PROVENANCE)
    return outcome


def run_all(args: argparse.Namespace, config: RunConfig) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cohort_dir = (
        Path(args.cohort) if args.cohort else stage_generate(out / store.SYNTHETIC_DIR, config.n, config.seed)
    )
    timings["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    _log(f"validating {cohort_dir}")
    cohort = _load_cohort(cohort_dir, args.deep, config.selection, out)
    _check_tasks(config, cohort)
    timings["validate"] = time.perf_counter() - t

    t = time.perf_counter()
    _log("extracting features")
    cache = _cache(args, cohort, out)
    fs = _features(args, config, cohort, out, cache)
    timings["features"] = time.perf_counter() - t
    t = time.perf_counter()
    raw = _raw(args, config, cohort, out, cache)
    if raw is not None:
        timings["raw_inputs"] = time.perf_counter() - t

    outcome = stage_matrix(config, cohort, fs, out, args.force, timings, raw)

    t = time.perf_counter()
    _log("building tables, figures and report")
    paths = stage_report(out, n_boot=config.n_boot, seed=config.seed, pdf=not args.no_pdf)
    timings["report"] = time.perf_counter() - t
    prov = store.read_json(out / store.PROVENANCE)
    prov["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    store.write_json(prov, out / store.PROVENANCE)
    _final_summary(out, paths)
    return 1 if outcome.n_failed or paths.pdf_error else 0


def _check_tasks(config: RunConfig, cohort: Any) -> None:
    """Refuse, before anything is extracted, configured tasks with a single class (``TaskError``)."""
    from benchmarks.preflight import check_tasks

    check_tasks(config, cohort.endpoints)
    if config.validation == "site" or config.harmonise:  # the site folds and ComBat batches, checked early
        from benchmarks.experiment.runner import task_datas

        task_datas(config, cohort.endpoints, {}, _sites(cohort))


def _sites(cohort: Any) -> Any:
    """The site of each patient (patients.csv's optional ``site`` column), or None without one."""
    return cohort.patients["site"] if "site" in cohort.patients.columns else None


def _cache(args: argparse.Namespace, cohort: Any, out: Path) -> store.FeatureCache:
    """The feature cache of this run (``--cache``, else ``<out>/cache``); the raw inputs live in it too."""
    return store.FeatureCache(Path(args.cache) if args.cache else out / store.CACHE_DIR, cohort=cohort.root)


def _features(
    args: argparse.Namespace, config: RunConfig, cohort: Any, out: Path, cache: store.FeatureCache
) -> Any:
    return stage_features(
        cohort,
        config.features,
        config.extractor_params,
        n_jobs=config.n_jobs,
        run_dir=out,
        cache=cache,
        force=args.force,
        scheduler=config.scheduler,
    )


def _raw(
    args: argparse.Namespace, config: RunConfig, cohort: Any, out: Path, cache: store.FeatureCache
) -> Any:
    return stage_raw(config, cohort, out, cache.root, args.force)


def stage_report(run_dir: Path, **statistics: Any) -> Any:
    """Rebuild every table, figure and the report from the stored results (``n_boot``, ``seed``, ``pdf``)."""
    from reports.build import build_report

    return build_report(run_dir, **statistics)


def _final_summary(run_dir: Path, paths: Any) -> None:
    """Name the output folder and repeat the report's headline (best model and fusion gain per task)."""
    print("", flush=True)
    _log(f"done. Output folder: {run_dir.resolve()}")
    for line in paths.headline:
        print("  " + line, flush=True)
    _log(f"summary: {paths.summary_md}")
    if paths.report_pdf:
        _log(f"report: {paths.report_pdf}")
    if paths.pdf_error:
        _log(f"report.pdf was NOT built: {paths.pdf_error}")
        _log(f"the LaTeX sources are in {paths.report_tex}; rerun with --no-pdf to skip the PDF")


# --- argument parsing -------------------------------------------------------------------------------------
def _patients(text: str) -> int:
    """``--n``: a whole number of patients, at least 1 (argparse reports anything else as a usage error)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of patients, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1 patient, got {n}")
    return n


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="matrix profile: default (the paper-grade protocol: hours on 2 cores), quick (a first look, "
        "about 22 min on 2 cores), smoke (what CI runs), deep (networks on the raw data) (default: default)",
    )
    p.add_argument("--config", help="TOML file whose keys mirror these flags; overrides the profile")
    p.add_argument(
        "--n-jobs", type=int, default=None, help="parallel worker processes (default: every usable core)"
    )
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port) to run cells on a cluster")
    p.add_argument("--storage", help="Optuna storage: journal file path or RDB URL (default: journal in run)")
    p.add_argument("--seed", type=int, default=None, help="global seed (default: the profile's)")
    p.add_argument("--force", action="store_true", help="recompute cached features and finished cells")
    p.add_argument("--cache", help="feature cache folder (default: <out>/cache)")
    _add_deep(p)
    _add_selection(p)
    _add_validation(p)


def _names(text: str) -> list[str]:
    """A comma-separated list of names (sites, modalities); blanks are dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_validation(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--validation",
        choices=("cv", "site"),
        default=None,
        help="cv: outer cross-validation; site: also leave-one-site-out folds (external validation by the "
        "site column of patients.csv) compared with the cross-validated AUC (default: the profile's)",
    )
    p.add_argument("--train-sites", type=_names, default=None, help="train on sites A,B; implies site")
    p.add_argument("--test-sites", type=_names, default=None, help="test on these sites (C); implies site")
    p.add_argument(
        "--harmonise",
        type=_names,
        default=None,
        help="modalities harmonised by site with ComBat inside each fit, e.g. imaging (run beside unharmonised)",
    )


def _selection(text: str) -> str | dict[str, str]:
    """``--selection``: one rule for every modality, or ``modality=rule`` pairs separated by commas."""
    if "=" not in text:
        return text.strip()
    rules: dict[str, str] = {}
    for part in text.split(","):
        modality, sep, rule = (x.strip() for x in part.partition("="))
        if not (sep and modality and rule):
            raise argparse.ArgumentTypeError(
                f"expected RULE or MODALITY=RULE[,MODALITY=RULE...] (e.g. imaging=baseline,text=all), got {text!r}"
            )
        rules[modality] = rule
    return rules


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--selection",
        type=_selection,
        default=None,
        help="which scan / reports / questionnaire to use when a patient has several: closest (to "
        "endpoint_date), baseline or latest (text also: all), for every modality or per modality, e.g. "
        "imaging=baseline,pro=latest (default: imaging closest, text all, pro closest)",
    )


def _add_deep(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--deep",
        action="store_true",
        help="validation reads every voxel of every image: a NaN or infinite voxel anywhere is an error "
        "(default: inside the mask only)",
    )


def _add_no_pdf(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-pdf",
        action="store_true",
        help="do not build report.pdf (report.tex is still written); without it a pdflatex failure exits 1",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("all", help="generate or load a cohort, extract, run the matrix, report")
    p.add_argument("--cohort", help="cohort folder (default: generate the synthetic cohort)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"run folder (default: {DEFAULT_OUT})")
    p.add_argument("--n", type=_patients, default=None, help="synthetic cohort size (default: the profile's)")
    _add_run_options(p)
    _add_no_pdf(p)

    p = sub.add_parser("generate", help="write the synthetic cohort (DIR/cohort) and its ground truth")
    p.add_argument("--out", required=True)
    default = load_config("default")  # so that `generate` and `all` build the same default cohort
    p.add_argument("--n", type=_patients, default=default.n, help=f"patients (default: {default.n})")
    p.add_argument("--seed", type=int, default=default.seed, help=f"seed (default: {default.seed})")

    p = sub.add_parser("validate", help="check a cohort folder and list every problem")
    p.add_argument("--cohort", required=True)
    p.add_argument("--config", help="run configuration (TOML) whose `selection` rules the report applies")
    _add_deep(p)
    _add_selection(p)

    p = sub.add_parser("features", help="extract (or read cached) features of a cohort")
    p.add_argument("--cohort", required=True)
    p.add_argument("--out", default=DEFAULT_OUT)
    _add_run_options(p)

    p = sub.add_parser("matrix", help="run the model matrix on a cohort (extracts features first)")
    p.add_argument("--cohort", required=True)
    p.add_argument("--out", default=DEFAULT_OUT)
    _add_run_options(p)

    p = sub.add_parser("report", help="rebuild every table and figure from a run folder's stored results")
    p.add_argument("--run", required=True)
    p.add_argument("--n-boot", type=int, default=None)
    _add_no_pdf(p)
    return parser


def _config_from(args: argparse.Namespace) -> RunConfig:
    """The run's configuration; with a user's cohort the synthetic size ``n`` does not apply (None)."""
    config = load_config(
        args.profile,
        args.config,
        n_jobs=args.n_jobs,
        scheduler=args.scheduler,
        storage=args.storage,
        seed=args.seed,
        n=getattr(args, "n", None),
        selection=getattr(args, "selection", None),
        validation=getattr(args, "validation", None),
        train_sites=getattr(args, "train_sites", None),
        test_sites=getattr(args, "test_sites", None),
        harmonise=getattr(args, "harmonise", None),
    )
    return dataclasses.replace(config, n=None) if getattr(args, "cohort", None) else config


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user error (a folder, a lock, a full disk, ...) is printed without a traceback:
    exit 2 for usage and folder errors, 1 for a run that failed."""
    args = build_parser().parse_args(argv)
    try:
        return _run_command(args)
    except UserError as exc:
        print(f"cdbench: error: {exc}", file=sys.stderr, flush=True)
        return int(getattr(exc, "exit_code", 2))


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "generate":
        stage_generate(Path(args.out), args.n, args.seed)
        return 0
    if args.command == "validate":
        selection = load_config("default", args.config, selection=args.selection).selection
        return 1 if stage_validate(Path(args.cohort), args.deep, selection).fatal else 0
    if args.command == "report":
        run_dir = store.require_run_folder(args.run)  # before anything is created
        with store.open_run(run_dir):
            return _report(args, run_dir)
    config = _config_from(args)
    with store.open_run(Path(args.out), cohort=getattr(args, "cohort", None)):  # one writer per run
        return _run_stages(args, config)


def _report(args: argparse.Namespace, run_dir: Path) -> int:
    """Rebuild the report of a held run folder with the statistics settings the run used."""
    stored = store.read_json(run_dir / store.PROVENANCE).get("config", {})
    kwargs = {k: stored[k] for k in ("n_boot", "seed") if k in stored}  # same statistics as the run's
    if args.n_boot:
        kwargs["n_boot"] = args.n_boot
    t0 = time.perf_counter()
    paths = stage_report(run_dir, pdf=not args.no_pdf, **kwargs)
    _log(f"report rebuilt from stored results in {time.perf_counter() - t0:.1f} s")
    _final_summary(Path(args.run), paths)
    return 1 if paths.pdf_error else 0


def _run_stages(args: argparse.Namespace, config: RunConfig) -> int:
    if args.command == "all":
        return run_all(args, config)
    out = Path(args.out)
    cohort = _load_cohort(Path(args.cohort), args.deep, config.selection, out)
    if args.command == "matrix":
        _check_tasks(config, cohort)
    cache = _cache(args, cohort, out)
    fs = _features(args, config, cohort, out, cache)
    if args.command == "matrix":
        outcome = stage_matrix(
            config, cohort, fs, out, args.force, {}, _raw(args, config, cohort, out, cache)
        )
        return 1 if outcome.n_failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
