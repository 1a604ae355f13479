"""The CUDA paths that had never run on a GPU: torch.compile, running out of GPU
memory mid-run, and the memory estimate against the device. Skipped without CUDA;
``benchmarks/gpu_check.sh`` runs them on a GPU machine."""

from __future__ import annotations

import pytest
import torch

from nnstudio.api import Graph
from nnstudio.training import faults
from nnstudio.training.config import TrainConfig
from nnstudio.training.events import Failed, Finished
from nnstudio.training.loop import Trainer
from tests.conftest import EXAMPLES_DIR

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _trainer(name: str, **changes) -> Trainer:
    graph = Graph.load(EXAMPLES_DIR / f"{name}.nnstudio")
    config = TrainConfig.from_settings(graph.training).with_overrides(device="cuda", **changes)
    return Trainer.for_graph(graph, config)


def test_torch_compile_trains_on_cuda() -> None:
    result = _trainer("digits_cnn", compile=True, epochs=2).run()
    assert isinstance(result, Finished), getattr(result, "message", "")
    assert result.history.epochs[-1].val_acc > 0.8


def test_running_out_of_gpu_memory_mid_run_is_a_sentence() -> None:
    trainer = _trainer("digits_cnn", epochs=1, batch_size=4096)
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(max(0, free - (64 << 20)), dtype=torch.uint8, device="cuda")  # leave 64 MiB
    try:
        result = trainer.run()
    finally:
        del hog
        torch.cuda.empty_cache()
    assert isinstance(result, Failed) and result.kind == "out_of_memory", result
    assert "ran out of memory" in result.message and "batch size" in result.message


def test_the_memory_estimate_uses_the_gpu_s_memory() -> None:
    total = faults.device_memory(torch.device("cuda"))
    assert total == torch.cuda.get_device_properties(0).total_memory
