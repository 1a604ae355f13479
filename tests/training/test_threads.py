"""A small network trains on one torch thread, in the app and with ``nnstudio train`` alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nnstudio import resources
from nnstudio.api import Graph
from nnstudio.cli import main
from nnstudio.training.threads import threads_for


def _example(name: str) -> Graph:
    return Graph.load(resources.examples_dir() / f"{name}.nnstudio")


def test_a_network_too_small_to_share_a_step_gets_one_thread():
    assert threads_for(_example("mlp_circles")) == 1
    assert threads_for(_example("lenet5")) is None  # convolutions share a step well
    assert threads_for(_example("mlp_circles"), batch_size=1_000_000) is None  # a batch that big does


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _train(tmp_path: Path) -> None:
    project = resources.examples_dir() / "mlp_circles.nnstudio"
    args = [
        "train",
        str(project),
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(args) == 0


def test_nnstudio_train_gives_a_small_network_one_thread(tmp_path, monkeypatch, torch_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    _train(tmp_path)
    assert torch.get_num_threads() == 1


def test_omp_num_threads_set_by_the_user_is_kept(tmp_path, monkeypatch, torch_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    _train(tmp_path)
    assert torch.get_num_threads() == 2
