"""Usable cores: CPU affinity and cgroup quotas (v1 and v2) cap the default number of workers."""

from __future__ import annotations

import os

import pytest

from benchmarks.experiment import resources
from benchmarks.experiment.config import load_config


def test_cgroup_v2_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert resources.cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert resources.cgroup_cpu_limit(tmp_path) is None


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert resources.cgroup_cpu_limit(tmp_path) == 3.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert resources.cgroup_cpu_limit(tmp_path) is None


def test_no_cgroup_files_and_garbage_mean_no_limit(tmp_path):
    assert resources.cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu.max").write_text("garbage")
    assert resources.cgroup_cpu_limit(tmp_path) is None


@pytest.mark.parametrize(
    ("affinity", "quota", "expected"),
    [
        ({0, 1, 2, 3}, None, 4),
        ({0, 1, 2, 3}, "150000 100000", 1),
        ({0, 5}, "800000 100000", 2),
        ({3}, None, 1),
    ],
)
def test_usable_cores_is_affinity_capped_by_quota(tmp_path, monkeypatch, affinity, quota, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: affinity)
    if quota is not None:
        (tmp_path / "cpu.max").write_text(quota)
    assert resources.usable_cores(tmp_path) == expected


def test_default_n_jobs_is_every_usable_core(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(resources, "CGROUP_ROOT", resources.CGROUP_ROOT / "does-not-exist")
    assert load_config("smoke").n_jobs == 3
    assert load_config("smoke", n_jobs=1).n_jobs == 1
