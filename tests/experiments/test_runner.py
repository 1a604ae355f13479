"""The runner's environment for trials: one GPU per parallel trial, cores shared out."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnstudio.core import project
from nnstudio.experiments import space
from nnstudio.experiments.study import SweepSettings
from tests.conftest import EXAMPLES_DIR

optuna = pytest.importorskip("optuna", reason="the sweep extra (optuna) is not installed")


def runner(tmp_path: Path, jobs: int):
    from nnstudio.experiments.runner import SweepRunner

    graph = project.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    axes = space.resolve([space.parse_param("lr=0.01..0.1")], graph)
    study = optuna.create_study(direction="maximize")
    return SweepRunner(study, graph, axes, SweepSettings(trials=4, jobs=jobs), tmp_path, base_dir=tmp_path)


def test_each_parallel_trial_gets_its_own_gpu_when_there_are_several(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    r = runner(tmp_path, jobs=3)
    assert [r._environment(slot)["CUDA_VISIBLE_DEVICES"] for slot in range(3)] == ["2", "5", "2"]


def test_one_gpu_is_shared_and_none_is_fine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert runner(tmp_path, jobs=2)._environment(1)["CUDA_VISIBLE_DEVICES"] == "0"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert runner(tmp_path, jobs=2)._environment(1)["CUDA_VISIBLE_DEVICES"] == ""


def test_trials_share_the_cores(tmp_path, monkeypatch) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert runner(tmp_path, jobs=4)._threads == 4
    assert runner(tmp_path, jobs=32)._threads == 1
    assert runner(tmp_path, jobs=4)._environment(0)["OMP_NUM_THREADS"] == "4"
