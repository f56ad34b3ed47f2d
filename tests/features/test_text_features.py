"""Report extractors (concept counts, embeddings): contract, no text leakage, determinism; TfidfSVD in-fold."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from features.base import ExtractionError
from features.registry import make_extractor
from features.text import ReportConceptExtractor, ReportEmbeddingExtractor
from features.text.extractors import chunk_report, word_bucket
from features.text_vectorize import TfidfSVD

SECRET = "Zebedee Quixotewright"  # stands for a name in a report: must never come out


@pytest.fixture(scope="module")
def cohort(report_cohort, mre_active, colonoscopy_quiet):
    return report_cohort(
        {
            "P1": [("mre", mre_active + f" Patient {SECRET} seen."), ("colonoscopy", colonoscopy_quiet)],
            "P2": [("colonoscopy", colonoscopy_quiet)],
            "P3": [],
        }
    )


@pytest.fixture(scope="module")
def embedder():
    return ReportEmbeddingExtractor()


def test_concept_features(cohort):
    ext = make_extractor("report_concepts")
    assert isinstance(ext, ReportConceptExtractor) and ext.prefix == "txt__" and ext.modality == "text"
    f1 = ext.extract(ext.inputs(cohort, "P1"))
    assert f1["n_reports"] == 2 and f1["n_reports_mre"] == 1 and f1["n_reports_colonoscopy"] == 1
    assert f1["cnt__C0016169_negated"] == 2  # "No fistula or abscess" + "Fistula is excluded"
    assert f1["cnt__C0000833_negated"] == 1
    assert f1["cnt__C1261287_uncertain"] == 1 and f1["cnt__C1261287_history_uncertain"] == 1
    assert f1["cnt__C0020877_impression_affirmed"] == 1
    assert f1["cnt__C0041582_negated"] == 1  # "No ulcers in the colon"
    assert f1["cnt__w_thickening"] == 1 and f1["n_sentences"] >= 8
    assert f1["n_mentions"] == f1["n_affirmed"] + f1["n_negated"] + f1["n_uncertain"]
    assert all(isinstance(v, float) for v in f1.values())
    assert ext.inputs(cohort, "P3") is None
    with pytest.raises(ExtractionError):
        ext.extract(None)


def test_no_text_leaks(cohort, embedder):
    ext = ReportConceptExtractor()
    inputs = ext.inputs(cohort, "P1")
    blob = " ".join(ext.extract(inputs)) + ext.input_fingerprint(inputs) + repr(inputs)
    blob += embedder.input_fingerprint(inputs) + " ".join(embedder.extract(inputs))
    for word in SECRET.lower().split() + ["wall thickening", "terminal ileum over"]:
        assert word not in blob.lower()
    # words="hashed" counts every word, the name too, but in a bucket column that names no word
    hashed = ReportConceptExtractor(words="hashed").extract(inputs)
    bucket = f"cnt__w_{word_bucket('zebedee')}"
    assert hashed[bucket] >= 1 and not any("zebedee" in c for c in hashed)
    assert all(re.fullmatch(r"h\d{4}", c[len("cnt__w_") :]) for c in hashed if c.startswith("cnt__w_"))
    assert "cnt__w_thickening" in ext.extract(inputs) and bucket not in ext.extract(inputs)


def test_fingerprint_and_bad_input(cohort, report_cohort, mre_active, colonoscopy_quiet):
    ext = ReportConceptExtractor()
    a = ext.input_fingerprint(ext.inputs(cohort, "P1"))
    assert a == ext.input_fingerprint(ext.inputs(cohort, "P1")) and len(a) == 64
    other = report_cohort(
        {"P1": [("mre", mre_active + " Patient x seen."), ("colonoscopy", colonoscopy_quiet)]}
    )
    assert ext.input_fingerprint(ext.inputs(other, "P1")) != a
    retyped = report_cohort(
        {"P1": [("cte", mre_active + f" Patient {SECRET} seen."), ("colonoscopy", colonoscopy_quiet)]}
    )
    assert ext.input_fingerprint(ext.inputs(retyped, "P1")) != a
    bad = report_cohort({"P9": [("mre", None)]})
    with pytest.raises(ExtractionError, match="patient P9.*'text'") as err:
        ext.inputs(bad, "P9")
    assert mre_active[:20] not in str(err.value)
    pickle.loads(pickle.dumps(ext))  # picklable for joblib/loky workers


def test_embeddings(cohort, embedder, mre_active, colonoscopy_quiet):
    assert make_extractor("report_embeddings").prefix == "emb__"
    e1 = embedder.extract(embedder.inputs(cohort, "P1"))
    assert list(e1)[:2] == ["000", "001"] and len(e1) == 384 and list(e1)[-1] == "383"
    v = np.array(list(e1.values()))
    assert np.isfinite(v).all() and abs(np.linalg.norm(v) - 1) < 1e-6
    assert embedder.extract(embedder.inputs(cohort, "P1")) == e1  # deterministic
    reps = embedder.embed_reports(
        [
            "Fistula and abscess in the terminal ileum.",
            "Penetrating Crohn's disease with an ileal fistula and an abscess.",
            "The weather was sunny and the train left on time.",
        ]
    )
    reps /= np.linalg.norm(reps, axis=1, keepdims=True)
    model = embedder.model()
    long_report = " ".join([mre_active, colonoscopy_quiet] * 4)
    assert all(
        len(model.tokenizer(c)["input_ids"]) <= model.max_seq_length
        for c in chunk_report(long_report, embedder.max_words)
    )  # no chunk is truncated by the model
    assert reps[0] @ reps[1] > reps[0] @ reps[2] + 0.2


def test_chunking():
    text = " ".join(["One two three four five."] * 10)
    chunks = chunk_report(text, 12)
    assert all(len(c.split()) <= 12 for c in chunks) and " ".join(chunks).split() == text.split()
    assert chunk_report("word " * 30, 10) == ["word " * 9 + "word"] * 3
    assert chunk_report("", 10) == []


def _counts(seed: int, n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = [f"text:txt__cnt__w_{i}" for i in range(8)] + ["text:txt__cnt__C0016169_negated"]
    X = pd.DataFrame(rng.poisson(0.8, (n, len(cols))).astype(float), columns=cols)
    X["text:txt__n_reports"] = rng.integers(1, 3, n).astype(float)
    return X


def test_tfidf_fitted_on_train_rows_only():
    X = _counts(0)
    train, test = X.iloc[:14], X.iloc[14:]
    t = TfidfSVD().fit(train)
    ref = TfidfTransformer().fit(train.iloc[:, :9].to_numpy())
    np.testing.assert_allclose(t.idf_, ref.idf_)
    np.testing.assert_allclose(t.transform(test)[:, :9], ref.transform(test.iloc[:, :9].to_numpy()).toarray())
    np.testing.assert_array_equal(t.transform(test)[:, 9], test["text:txt__n_reports"])  # passthrough
    # inside a pipeline fitted on the training rows, the test rows never reach the fitted state
    pipe = make_pipeline(TfidfSVD(), LogisticRegression()).fit(train, np.arange(14) % 2)
    idf = pipe[0].idf_.copy()
    test2 = test.copy()
    test2.iloc[:, :9] = 50.0
    pipe.predict_proba(test2)
    np.testing.assert_array_equal(pipe[0].idf_, idf)
    assert not np.allclose(TfidfSVD().fit(pd.concat([train, test2])).idf_, idf)  # what leakage would change
    s1 = TfidfSVD(n_components=3, random_state=0).fit(train)
    s2 = TfidfSVD(n_components=3, random_state=0).fit(train)
    np.testing.assert_allclose(s1.transform(test2), s2.transform(test2))
    assert s1.transform(test).shape == (6, 4)


def test_tfidf_min_df_and_missing_rows():
    X = _counts(1)
    X.iloc[:, 0] = 0.0
    X.iloc[0, 0] = 3.0  # document frequency 1
    t = TfidfSVD(min_df=2).fit(X)
    assert "text:txt__cnt__w_0" not in t.vocabulary_
    half = TfidfSVD(min_df=0.5).fit(X)
    df = (X.iloc[:, :9] > 0).sum()
    assert half.vocabulary_ == [c for c in X.columns[:9] if df[c] >= 10]
    X.iloc[3, :9] = np.nan  # a patient without reports
    t = TfidfSVD(n_components=2, random_state=0).fit(X)
    out = t.transform(X)
    assert np.isnan(out[3, :2]).all() and not np.isnan(np.delete(out, 3, axis=0)).any()
    with pytest.raises(ValueError, match="min_df"):
        TfidfSVD(min_df=0).fit(X)


def test_concepts_in_loky_workers(cohort):
    from joblib import Parallel, delayed

    ext = ReportConceptExtractor()
    inputs = [ext.inputs(cohort, pid) for pid in ("P1", "P2")]
    local = [ext.extract(i) for i in inputs]
    remote = Parallel(n_jobs=2, backend="loky")(delayed(ext.extract)(i) for i in inputs)
    assert remote == local
