"""The profiles' contracts: default is the paper-grade protocol, quick a first look, and every profile loads."""

from __future__ import annotations

import pytest

from benchmarks.experiment.config import PROFILES, load_config, load_tasks
from benchmarks.experiment.runner import matrix_of
from models.estimators import space_xgb
from models.registry import ESTIMATORS, FUSIONS, uses_raw
from models.tuning import probe_space

CLASSICAL = sorted(n for n, spec in ESTIMATORS.items() if not spec.raw and n != "prior")
FIXED_FEATURE_FUSIONS = sorted(n for n in FUSIONS if not uses_raw("enet", n))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_loads_and_plans_a_matrix(profile):
    config = load_config(profile)
    assert config.profile == profile
    assert set(config.tasks) <= set(load_tasks())
    assert matrix_of(config)


def test_the_default_profile_is_the_paper_grade_protocol():
    config = load_config("default")
    assert config.tasks == list(load_tasks())  # every task of tasks.toml, in its order
    assert sorted(config.estimators) == CLASSICAL
    assert sorted(config.fusions) == FIXED_FEATURE_FUSIONS
    assert config.modality_sets == "all"
    assert config.n_trials >= 20 and config.inner_splits >= 3
    assert config.folds == 5 and config.repeats >= 2
    assert config.robustness and config.baseline


def test_quick_keeps_the_first_look_size_and_is_much_smaller_than_default():
    quick, default = load_config("quick"), load_config("default")
    assert quick.estimators == ["enet", "xgb"] and quick.n_trials == 4
    assert len(matrix_of(quick)) * 4 < len(matrix_of(default))


def test_no_search_range_is_narrowed_for_time():
    ranges = probe_space(space_xgb).ranges
    assert ranges["clf__n_estimators"][1] >= 1000
    assert ranges["clf__learning_rate"][0] <= 0.01
