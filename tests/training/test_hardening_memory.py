"""A valid project too big for the machine is refused in words before anything is
allocated (the README's out-of-memory sentence, exit 1), on CPU as on CUDA."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from nnstudio.api import Graph
from nnstudio.cli import main
from nnstudio.training import faults
from nnstudio.training.config import TrainConfig
from nnstudio.training.loop import Trainer


def _huge() -> Graph:
    """Circles' two inputs, then a million units into a million: 10**12 weights, 4 TB as float32."""
    graph = Graph(name="huge")
    chain = [
        graph.add("Input", shape=[2]),
        graph.add("Linear", name="wide", out_features=1_000_000),
        graph.add("Linear", name="huge", out_features=1_000_000),
        graph.add("Linear", name="head", out_features=2),
        graph.add("Output"),
    ]
    for a, b in itertools.pairwise(chain):
        graph.connect(a, b)
    graph.training = {"dataset": "circles"}
    return graph


def test_the_estimate_counts_weights_gradients_and_optimizer_state() -> None:
    graph = _huge()
    params = graph.num_parameters()
    adam = faults.estimated_training_bytes(graph, TrainConfig(optimizer="adam", batch_size=1))
    sgd = faults.estimated_training_bytes(graph, TrainConfig(optimizer="sgd", batch_size=1))
    assert adam - sgd == 4 * params and sgd >= 12 * params


def test_a_4_tb_network_is_refused_before_allocating_on_the_cpu() -> None:
    config = TrainConfig(dataset="circles", device="cpu")
    with pytest.raises(
        faults.TooBigToTrain, match=r"needs at least .* TiB of memory .* more than this computer"
    ):
        Trainer.for_graph(_huge(), config)


def test_train_says_so_and_exits_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "huge.nnstudio"
    _huge().save(path)
    assert main(["train", str(path), "--device", "cpu", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "more than this computer has" in err and "DefaultCPUAllocator" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_4_tb_network_is_refused_before_allocating_on_cuda() -> None:
    config = TrainConfig(dataset="circles", device="cuda")
    with pytest.raises(faults.TooBigToTrain, match="more than the CUDA device has"):
        Trainer.for_graph(_huge(), config)


def test_an_ordinary_network_is_not_refused(circles_graph) -> None:
    config = TrainConfig.from_settings(circles_graph.training).with_overrides(device="cpu", batch_size=65536)
    faults.check_memory(circles_graph, config, torch.device("cpu"))


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 10000000000000 bytes. Error code 12 (Cannot allocate memory)"
        ),
        MemoryError(),
    ],
)
def test_running_out_of_cpu_memory_mid_run_is_the_same_sentence_as_on_cuda(exc) -> None:
    kind, message = faults.describe(
        exc, torch.nn.Linear(2, 2), step=7, batch_size=64, device=torch.device("cpu")
    )
    assert kind == "out_of_memory"
    assert message == (
        "The computer ran out of memory at step 7 with batch size 64. Try a batch size of 32 or "
        "less, or a smaller network."
    )
