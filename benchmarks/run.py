"""The cdbench command line: ``python -m benchmarks.run {all,generate,validate,features,matrix,report}``.

``all`` runs every stage into one run folder. Each stage is also a subcommand. Runs resume by default
(finished cells and cached features are reused); ``--force`` recomputes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.config import PROFILES, RunConfig, load_config

DEFAULT_OUT = "runs/latest"


def _log(msg: str) -> None:
    print(f"[cdbench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- stages ---------------------------------------------------------------------------------------------
def stage_generate(out: Path, n: int, seed: int, quiet: bool = False) -> Path:
    """Generate the synthetic cohort into ``out`` unless the same one is already there."""
    from benchmarks.synthetic import generate_cohort

    marker = out / "generated.json"
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
    marker.write_text(json.dumps(want), encoding="utf-8")
    if not quiet:
        _log(f"generated synthetic cohort of {n} patients in {time.perf_counter() - t0:.1f} s: {cohort_dir}")
    return Path(cohort_dir)


def stage_validate(cohort_dir: Path) -> Any:
    from benchmarks.cohort import validate_cohort

    report = validate_cohort(cohort_dir)
    print(report.format(), flush=True)
    return report


def stage_features(cohort: Any, config: RunConfig, run_dir: Path, cache_dir: Path | None, force: bool) -> Any:
    from benchmarks.results import FAILURES, FEATURE_SUMMARY, write_table
    from features.engine import extract_modalities

    fs = extract_modalities(
        cohort,
        config.features,
        config.extractor_params,
        n_jobs=config.n_jobs,
        cache_dir=cache_dir or run_dir / "cache",
        force=force,
        progress=True,
    )
    summary = fs.summary()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_table(summary, run_dir / FEATURE_SUMMARY)
    write_table(fs.failures, run_dir / FAILURES)
    print(summary.to_string(index=False), flush=True)
    if len(fs.failures):
        _log(f"{len(fs.failures)} case(s) failed extraction and count as missing; see {run_dir / FAILURES}")
        for (ext, reason), g in fs.failures.groupby(["extractor", "reason"]):
            _log(f"  {ext}: {len(g)} x {reason}")
    return fs


def _load_cohort(cohort_dir: Path) -> Any:
    from benchmarks.cohort import CohortError, load_cohort

    try:
        return load_cohort(cohort_dir)
    except CohortError as exc:
        print(exc.report.format(), file=sys.stderr)
        _log("validation found fatal problems; fix them and rerun")
        raise SystemExit(1) from None


def stage_matrix(
    config: RunConfig, cohort: Any, fs: Any, out: Path, force: bool, timings: dict[str, float]
) -> Any:
    """Run the matrix and write the cohort summary and provenance beside the results."""
    from benchmarks.results import (
        COHORT_SUMMARY,
        PROVENANCE,
        cohort_summary,
        provenance,
        write_json,
        write_table,
    )
    from benchmarks.runner import run_matrix

    write_table(cohort_summary(cohort, fs.blocks), out / COHORT_SUMMARY)
    t = time.perf_counter()
    _log(f"running the model matrix ({config.profile} profile)")
    outcome = run_matrix(config, cohort.endpoints, fs.blocks, out, force=force)
    timings["matrix"] = time.perf_counter() - t
    _log(
        f"matrix: {outcome.n_cells} cells, {outcome.n_skipped} reused, {outcome.n_run} run, "
        f"{outcome.n_failed} failed, {outcome.seconds:.0f} s"
    )
    extra = {
        "cohort": str(Path(cohort.root).resolve()),
        "extraction": fs.summary().to_dict(orient="records"),
        "cells": {"total": outcome.n_cells, "failed": outcome.n_failed},
    }
    write_json(provenance(config, timings, extra), out / PROVENANCE)
    return outcome


def run_all(args: argparse.Namespace, config: RunConfig) -> int:
    from benchmarks.results import PROVENANCE, write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    cohort_dir = (
        Path(args.cohort) if args.cohort else stage_generate(out / "synthetic", config.n, config.seed)
    )
    timings["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    _log(f"validating {cohort_dir}")
    cohort = _load_cohort(cohort_dir)
    print(cohort.report.format(), flush=True)
    timings["validate"] = time.perf_counter() - t

    t = time.perf_counter()
    _log("extracting features")
    fs = stage_features(cohort, config, out, Path(args.cache) if args.cache else None, args.force)
    timings["features"] = time.perf_counter() - t

    outcome = stage_matrix(config, cohort, fs, out, args.force, timings)

    t = time.perf_counter()
    _log("building tables, figures and report")
    paths = _report(out, config)
    timings["report"] = time.perf_counter() - t
    prov = json.loads((out / PROVENANCE).read_text(encoding="utf-8"))
    prov["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    write_json(prov, out / PROVENANCE)
    _final_summary(out, paths)
    return 1 if outcome.n_failed else 0


def _report(run_dir: Path, config: RunConfig | None = None) -> Any:
    from reports.build import build_report

    kwargs = {"n_boot": config.n_boot, "seed": config.seed} if config is not None else {}
    return build_report(run_dir, **kwargs)


def _final_summary(run_dir: Path, paths: Any) -> None:
    """Name the output folder and repeat the report's headline (best model and fusion gain per task)."""
    print("", flush=True)
    _log(f"done. Output folder: {run_dir.resolve()}")
    summary = getattr(paths, "summary_md", None)
    if summary and Path(summary).exists():
        lines = Path(summary).read_text(encoding="utf-8").splitlines()
        start = next((i for i, ln in enumerate(lines) if ln.strip() == "## Headline"), None)
        if start is not None:
            for ln in lines[start + 1 :]:
                if ln.startswith("## ") or ln.startswith("_"):
                    break
                if ln.strip():
                    print("  " + ln.strip().replace("**", ""), flush=True)
        _log(f"summary: {summary}")
    pdf = getattr(paths, "report_pdf", None)
    if pdf:
        _log(f"report: {pdf}")


# --- argument parsing -------------------------------------------------------------------------------------
def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=PROFILES, default="default", help="matrix profile (default: default)")
    p.add_argument("--config", help="TOML file whose keys mirror these flags; overrides the profile")
    p.add_argument("--n-jobs", type=int, default=None, help="parallel worker processes (local)")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port) to run cells on a cluster")
    p.add_argument("--storage", help="Optuna storage: journal file path or RDB URL (default: journal in run)")
    p.add_argument("--seed", type=int, default=None, help="global seed (default: the profile's)")
    p.add_argument("--force", action="store_true", help="recompute cached features and finished cells")
    p.add_argument("--cache", help="feature cache folder (default: <out>/cache)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("all", help="generate or load a cohort, extract, run the matrix, report")
    p.add_argument("--cohort", help="cohort folder (default: generate the synthetic cohort)")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"run folder (default: {DEFAULT_OUT})")
    p.add_argument("--n", type=int, default=None, help="synthetic cohort size (default: the profile's)")
    _add_run_options(p)

    p = sub.add_parser("generate", help="write the synthetic cohort (DIR/cohort) and its ground truth")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("validate", help="check a cohort folder and list every problem")
    p.add_argument("--cohort", required=True)

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
    return parser


def _config_from(args: argparse.Namespace) -> RunConfig:
    return load_config(
        args.profile,
        args.config,
        n_jobs=args.n_jobs,
        scheduler=args.scheduler,
        storage=args.storage,
        seed=args.seed,
        n=getattr(args, "n", None),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        stage_generate(Path(args.out), args.n, args.seed)
        return 0
    if args.command == "validate":
        return 1 if stage_validate(Path(args.cohort)).fatal else 0
    if args.command == "report":
        from reports.build import build_report

        run_dir = Path(args.run)
        prov_file = run_dir / "provenance.json"
        stored = (
            json.loads(prov_file.read_text(encoding="utf-8")).get("config", {}) if prov_file.exists() else {}
        )
        kwargs = {k: stored[k] for k in ("n_boot", "seed") if k in stored}  # same statistics as the run's
        if args.n_boot:
            kwargs["n_boot"] = args.n_boot
        t0 = time.perf_counter()
        paths = build_report(run_dir, **kwargs)
        _log(f"report rebuilt from stored results in {time.perf_counter() - t0:.1f} s")
        _final_summary(Path(args.run), paths)
        return 0
    config = _config_from(args)
    if args.command == "all":
        return run_all(args, config)
    out = Path(args.out)
    cohort = _load_cohort(Path(args.cohort))
    fs = stage_features(cohort, config, out, Path(args.cache) if args.cache else None, args.force)
    if args.command == "matrix":
        outcome = stage_matrix(config, cohort, fs, out, args.force, {})
        return 1 if outcome.n_failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
