"""The contract of every registered extractor (``features.registry.EXTRACTORS``), checked for each entry.

Registering an extractor is enough to have it checked here, the way scikit-learn's ``check_estimator``
runs over estimators. Each one, built with its defaults, runs on a tiny valid cohort (six patients, every
image format, a report naming a person): registry attributes, scikit-learn parameters, ``fit`` and
``transform`` (a float frame of the patients with the modality, prefixed columns, deterministic), an input
fingerprint that follows the inputs, a broken input recorded as a failure, and no report text in the
output of a text extractor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from benchmarks.cohort import load_cohort, schema
from features.base import Extractor
from features.engine import extract_features
from features.registry import EXTRACTORS, get_extractor_class, make_extractor

NAMES = sorted(EXTRACTORS)
TEXT_NAMES = [n for n in NAMES if get_extractor_class(n).modality == "text"]
SECRET = "Zebedee Quixotewright"  # a name in a report: no text extractor may let it out
ACCESSORS = {"imaging": "scans", "text": "reports", "pro": "pro"}
"""The ``Cohort`` method through which an extractor of each modality reads a patient's inputs."""


def _broken_image(value: pd.DataFrame, garbage: Path) -> pd.DataFrame:
    return value.assign(image_path=str(garbage))


def _broken_report(value: pd.DataFrame, garbage: Path) -> pd.DataFrame:
    return value.assign(text=np.nan)  # a report that is not text


def _broken_questionnaire(value: pd.Series, garbage: Path) -> pd.Series:
    value = value.astype(object)
    value.iloc[0] = "not a number"
    return value


BREAK = {"imaging": _broken_image, "text": _broken_report, "pro": _broken_questionnaire}
"""How a patient's input of each modality is broken: a file that is no image, a report that is no text,
an item that is no number."""


class EditedCohort:
    """A loaded cohort whose accessor for one modality returns ``edit(value)`` for one patient."""

    def __init__(self, cohort: Any, modality: str, patient_id: str, edit: Any) -> None:
        self._cohort, self._accessor, self._pid, self._edit = cohort, ACCESSORS[modality], patient_id, edit

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._cohort, name)
        if name != self._accessor:
            return attr

        def accessor(pid: str) -> Any:
            value = attr(pid)
            return self._edit(value) if pid == self._pid else value

        return accessor


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, build_valid_cohort, edit_csv):
    root = build_valid_cohort(tmp_path_factory.mktemp("contract") / "cohort")
    note = {"patient_id": "P002", "report_type": "clinic", "text": f"Seen with {SECRET}. Doing well."}
    edit_csv(root / schema.REPORTS_FILE, lambda columns, rows: rows.append(note))
    return load_cohort(root)


@pytest.fixture(scope="module")
def garbage(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("garbage") / "image.nii.gz"
    path.write_bytes(b"this is not an image")
    return path


@pytest.fixture(scope="module")
def features_of(cohort):
    """``features_of(name)``: the extractor's ``transform(cohort)``, computed once per module."""
    done: dict[str, pd.DataFrame] = {}

    def features_of(name: str) -> pd.DataFrame:
        if name not in done:
            done[name] = make_extractor(name).transform(cohort, progress=False)
        return done[name]

    return features_of


def test_every_modality_has_a_way_to_break_its_input() -> None:
    assert set(BREAK) == set(ACCESSORS) == set(schema.MODALITIES)


def test_prefixes_are_unique() -> None:
    prefixes = [get_extractor_class(n).prefix for n in NAMES]
    assert len(set(prefixes)) == len(prefixes), prefixes


@pytest.mark.parametrize("name", NAMES)
def test_registry_attributes_and_parameters(name: str, cohort) -> None:
    ext = make_extractor(name)
    assert isinstance(ext, Extractor) and ext.name == name
    assert ext.modality in schema.MODALITIES
    assert isinstance(ext.prefix, str) and ext.prefix
    assert isinstance(ext.version, str) and ext.version
    params = ext.get_params()
    twin = clone(ext)
    assert type(twin) is type(ext) and twin is not ext and twin.get_params() == params
    assert type(ext)(**params).get_params() == params
    assert ext.set_params(**params) is ext and ext.get_params() == params
    assert ext.fit(cohort) is ext


@pytest.mark.parametrize("name", NAMES)
def test_transform_gives_prefixed_floats_of_the_patients_with_the_modality(name: str, cohort, features_of):
    ext = make_extractor(name)
    frame = features_of(name)
    assert isinstance(frame, pd.DataFrame) and frame.shape[1] > 0
    assert list(frame.index) == cohort.patients_with(ext.modality)
    assert all(str(c).startswith(ext.prefix) for c in frame.columns)
    assert frame.dtypes.eq(np.float64).all()
    pd.testing.assert_frame_equal(make_extractor(name).transform(cohort, progress=False), frame)


@pytest.mark.parametrize("name", NAMES)
def test_input_fingerprint_follows_the_inputs(name: str, cohort) -> None:
    ext = make_extractor(name)
    pid, other = cohort.patients_with(ext.modality)[:2]
    fp = ext.input_fingerprint(ext.inputs(cohort, pid))
    assert isinstance(fp, str) and fp
    assert make_extractor(name).input_fingerprint(ext.inputs(cohort, pid)) == fp
    # the same patient with another patient's inputs
    changed = EditedCohort(
        cohort, ext.modality, pid, lambda _: getattr(cohort, ACCESSORS[ext.modality])(other)
    )
    assert ext.input_fingerprint(ext.inputs(changed, pid)) != fp


@pytest.mark.parametrize("name", NAMES)
def test_a_broken_input_is_a_recorded_failure(name: str, cohort, garbage) -> None:
    ext = make_extractor(name)
    good, bad = cohort.patients_with(ext.modality)[:2]
    broken = EditedCohort(cohort, ext.modality, bad, lambda value: BREAK[ext.modality](value, garbage))
    result = extract_features(ext, broken, patient_ids=[good, bad], progress=False)
    assert list(result.features.index) == [good]
    assert list(result.failures["patient_id"]) == [bad]
    assert list(result.failures["extractor"]) == [name]
    assert result.failures["reason"].str.len().gt(0).all()


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_no_report_text_comes_out(name: str, cohort, features_of, garbage) -> None:
    ext = make_extractor(name)
    texts = list(cohort.reports("P002")["text"])
    assert any(SECRET in text for text in texts)  # the name is in the input
    inputs = ext.inputs(cohort, "P002")
    broken = EditedCohort(cohort, "text", "P002", lambda value: BREAK["text"](value, garbage))
    failed = extract_features(ext, broken, patient_ids=["P002"], progress=False).failures
    blob = " ".join(
        [*map(str, features_of(name).columns), *failed["reason"], ext.input_fingerprint(inputs), repr(inputs)]
    ).lower()
    for word in SECRET.lower().split():
        assert word not in blob
    for text in texts:
        assert text.lower()[:20] not in blob
