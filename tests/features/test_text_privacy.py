"""No option of a text extractor lets report words out: caches, result tables and logs of small runs.

A made-up name is planted in the reports of a small valid cohort. For every documented parameter of
``ReportConceptExtractor`` and ``ReportEmbeddingExtractor`` (each value that changes what is written),
the features stage of the command line runs into a fresh run folder; then a whole small run (features
and matrix) with every word counted. Every file written (parquet column names, schema metadata and text
cells; JSON, journals, locks), everything printed and every log record is searched for the name and for
the start of each report.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmarks import run as cli
from benchmarks.cohort import load_cohort, schema
from benchmarks.store import FeatureCache
from features.registry import get_extractor_class
from features.text.extractors import default_model_path
from features.text.kb import DEFAULT_KB_PATH

SECRET = ("zebedee", "quixotewright")  # a person named in the reports, lower case as words are counted
NOTES = [
    {"patient_id": "P002", "report_type": "clinic", "text": "Seen with Zebedee Quixotewright. Doing well."},
    {
        "patient_id": "007",
        "report_type": "mre",
        "text": "Dr Quixotewright: active ileal disease, no fistula.",
    },
]
CONCEPTS, EMBEDDINGS = "report_concepts", "report_embeddings"
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    (CONCEPTS, {}),  # words="lexicon", the default
    (CONCEPTS, {"words": "hashed"}),
    (CONCEPTS, {"words": "hashed", "max_words": 2}),
    (CONCEPTS, {"words": "none"}),
    (CONCEPTS, {"fuzzy": False, "max_scope": None, "by_section": False}),
    (CONCEPTS, {"link_threshold": 0.5, "kb_path": str(DEFAULT_KB_PATH)}),
    (CONCEPTS, {"linker": "scispacy_umls"}),  # without the UMLS files every case fails: reasons checked
    (EMBEDDINGS, {}),
    (EMBEDDINGS, {"max_words": 3, "batch_size": 1, "normalize": False, "torch_threads": None}),
    (EMBEDDINGS, {"model_path": str(default_model_path())}),
    (EMBEDDINGS, {"encoder": "use-multilingual"}),
]


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory, build_valid_cohort, edit_csv) -> Path:
    root = build_valid_cohort(tmp_path_factory.mktemp("privacy") / "cohort")
    edit_csv(root / schema.REPORTS_FILE, lambda columns, rows: rows.extend(NOTES))
    return root


@pytest.fixture(scope="module")
def cohort(cohort_dir):
    return load_cohort(cohort_dir)


def _strings_of(path: Path) -> list[str]:
    """Every string a file holds: a parquet file's columns, schema metadata and text cells; else its text."""
    if path.suffix != ".parquet":
        return [path.read_bytes().decode("utf-8", "replace")]
    table = pq.read_table(path)
    out = [*table.schema.names, *(k.decode() + v.decode() for k, v in (table.schema.metadata or {}).items())]
    frame = table.to_pandas()
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            out += [str(v) for v in frame[col].dropna()]
    return out


def _assert_no_report_text(run_dir: Path, texts: list[str], *printed: str) -> list[str]:
    """Search every file of ``run_dir`` and the ``printed`` output; the names of the files searched."""
    files = sorted(p for p in run_dir.rglob("*") if p.is_file())
    assert files
    needles = [*SECRET, *(t.lower()[:20] for t in texts)]
    for path in files:
        blob = "\n".join(_strings_of(path)).lower()
        for needle in needles:
            assert needle not in blob, (path, needle)
    blob = "\n".join(printed).lower()
    for needle in needles:
        assert needle not in blob, needle
    return [p.name for p in files]


def test_every_documented_parameter_is_exercised():
    for name in (CONCEPTS, EMBEDDINGS):
        varied = {k for n, params in VARIANTS if n == name for k in params}
        assert varied == set(get_extractor_class(name)().get_params()), name
    words = {p.get("words", "lexicon") for n, p in VARIANTS if n == CONCEPTS}
    assert words == {"lexicon", "hashed", "none"}


def _cache(run_dir, cohort):
    return FeatureCache(run_dir / "cache", cohort=cohort.root)


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=[f"{n}-{p}" for n, p in VARIANTS])
def test_no_option_writes_report_words(name, params, cohort, cohort_dir, tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    texts = list(pd.read_csv(cohort_dir / schema.REPORTS_FILE)["text"])
    assert any(SECRET[1] in t.lower() for t in texts)  # the name is in the input
    run_dir = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fs = cli.stage_features(
            cohort,
            {"text": [name]},
            {name: params},
            n_jobs=1,
            run_dir=run_dir,
            cache=_cache(run_dir, cohort),
            force=False,  # fmt: skip
        )
    out, err = capfd.readouterr()
    files = _assert_no_report_text(
        run_dir,
        texts,
        out,
        err,
        caplog.text,
        *(str(w.message) for w in caught),
        *map(str, fs.failures["reason"]),
    )
    assert "features.parquet" in files and list((run_dir / "cache" / name).glob("*.parquet"))
    block = fs.blocks["text"]
    if params.get("linker") == "scispacy_umls" and block.empty:
        assert len(fs.failures) == len(cohort.patients_with("text"))  # each failure recorded, reason checked
        return
    assert len(block) == len(cohort.patients_with("text"))
    word_columns = [c for c in block.columns if "cnt__w_" in c]
    if params.get("words") == "hashed":
        assert word_columns and all(re.fullmatch(r"txt__cnt__w_h\d{4}", c) for c in word_columns)
        assert ((block[word_columns] > 0).sum(axis=1) <= params.get("max_words", 300)).all()
    elif params.get("words") == "none" or name == EMBEDDINGS:
        assert not word_columns
    else:
        assert word_columns  # lexicon words, named


def test_words_all_is_refused_with_the_alternative(cohort, cohort_dir, tmp_path, capfd):
    texts = list(pd.read_csv(cohort_dir / schema.REPORTS_FILE)["text"])
    fs = cli.stage_features(
        cohort, {"text": [CONCEPTS]}, {CONCEPTS: {"words": "all"}}, n_jobs=1, run_dir=tmp_path / "run",
        cache=_cache(tmp_path / "run", cohort), force=False,
    )  # fmt: skip
    out, err = capfd.readouterr()
    assert fs.blocks["text"].empty and len(fs.failures) == len(cohort.patients_with("text"))
    assert fs.failures["reason"].str.contains('"hashed" counts every word').all()
    assert "hashed" in out
    _assert_no_report_text(tmp_path / "run", texts, out, err)


def test_a_whole_small_run_keeps_report_words_out(cohort_dir, tmp_path, capfd, caplog):
    """features and matrix with every word counted (hashed): caches, results, journals and logs."""
    caplog.set_level(logging.DEBUG)
    texts = list(pd.read_csv(cohort_dir / schema.REPORTS_FILE)["text"])
    config = tmp_path / "privacy.toml"
    config.write_text(
        'tasks = ["endo_active"]\nmodality_sets = ["text"]\nestimators = ["enet"]\nfusions = ["single"]\n'
        "folds = 2\nrepeats = 1\nn_trials = 1\ninner_splits = 2\n"
        '[features]\ntext = ["report_concepts", "report_embeddings"]\n'
        '[extractor_params.report_concepts]\nwords = "hashed"\n',
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    argv = ["matrix", "--cohort", str(cohort_dir), "--out", str(run_dir), "--profile", "smoke"]
    cli.main([*argv, "--config", str(config), "--n-jobs", "1"])  # the cells may fail on six patients
    out, err = capfd.readouterr()
    files = _assert_no_report_text(run_dir, texts, out, err, caplog.text)
    for name in ("features.parquet", "cells.parquet", "predictions.parquet", "feature_label_checks.parquet"):
        assert name in files
    cached = list((run_dir / "cache" / CONCEPTS).glob("*.parquet"))
    assert cached and any(c.startswith("cnt__w_h") for c in pq.read_schema(cached[0]).names)
