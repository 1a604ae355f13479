"""Fast mode (the training step as one CUDA graph) and the other CUDA paths.

The plumbing is tested everywhere with a stand-in for the graph; the real
capture, bf16 and device placement need a CUDA GPU and skip without one.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

from nnstudio.api import Graph
from nnstudio.training import loop, session
from nnstudio.training.events import Finished, Notice
from nnstudio.training.loop import Trainer
from tests.conftest import EXAMPLES_DIR
from tests.training.test_loop import Recorder

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class _StandIn:
    """Behaves like CudaGraphStep (without a GPU): runs the step it was given, or fails."""

    instances: ClassVar[list[_StandIn]] = []

    def __init__(self, step_fn, source_x=None, source_y=None, reconstruct=False, fail: bool = False) -> None:
        self.step_fn, self.x, self.y, self.fail = step_fn, source_x, source_y, fail
        self.captures, self.invalidated, self.batch_sizes = 1, 0, []
        _StandIn.instances.append(self)

    def invalidate(self) -> None:
        self.invalidated += 1

    def by_index(self, index):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.batch_sizes.append(len(index))
        return self.step_fn(self.x.index_select(0, index), self.y.index_select(0, index))


def _fast_trainer(graph: Graph, monkeypatch, fail: bool = False, **changes) -> Trainer:
    _StandIn.instances.clear()
    monkeypatch.setattr(session, "CudaGraphStep", lambda *a, **k: _StandIn(*a, **k, fail=fail))
    config = loop.TrainConfig.from_settings(graph.training).with_overrides(device="cpu", fast=True, **changes)
    trainer = Trainer.for_graph(graph, config)
    trainer._fast_wanted = True  # as on a CUDA device
    return trainer


def test_fast_mode_uses_full_batches_only_and_recaptures_when_the_rate_changes(
    circles_graph, monkeypatch
) -> None:
    trainer = _fast_trainer(circles_graph, monkeypatch, epochs=4, schedule="step")
    recorder = Recorder()
    result = trainer.run(recorder)
    assert isinstance(result, Finished) and recorder.of(Notice) == []
    (step,) = _StandIn.instances
    assert set(step.batch_sizes) == {64}  # 800 samples: 12 full batches, the rest dropped
    assert trainer.step == 4 * (800 // 64)
    # The step schedule over 4 epochs gives 1x, 1x, 0.1x, 0.01x: the rate is set before the
    # first epoch and changes before the third and the fourth.
    assert step.invalidated == 3
    assert trainer.graph_captures == 1


def test_a_failed_capture_falls_back_to_ordinary_steps_and_says_why(circles_graph, monkeypatch) -> None:
    trainer = _fast_trainer(circles_graph, monkeypatch, fail=True, epochs=1)
    recorder = Recorder()
    result = trainer.run(recorder)
    assert isinstance(result, Finished) and trainer.graph_captures == 0
    (notice,) = recorder.of(Notice)
    assert notice.message == (
        "Fast mode could not capture the training step (RuntimeError: operation not permitted when "
        "stream is capturing); training continues with ordinary steps."
    )
    assert result.history.epochs[0].train_loss < 0.7


def test_fast_mode_needs_a_full_batch(circles_graph, monkeypatch) -> None:
    trainer = _fast_trainer(circles_graph, monkeypatch, epochs=1, batch_size=1000)
    recorder = Recorder()
    trainer.run(recorder)
    assert "fewer than the batch size 1000" in recorder.of(Notice)[0].message
    assert _StandIn.instances == []


# --- on a real GPU ------------------------------------------------------------------------------------


def _example(name: str, **changes) -> Trainer:
    graph = Graph.load(EXAMPLES_DIR / f"{name}.nnstudio")
    config = loop.TrainConfig.from_settings(graph.training).with_overrides(device="cuda", **changes)
    return Trainer.for_graph(graph, config)


@cuda
def test_fast_mode_captures_once_and_learns_like_eager() -> None:
    fast = _example("digits_cnn", fast=True, epochs=4)
    recorder = Recorder()
    result = fast.run(recorder)
    assert isinstance(result, Finished) and recorder.of(Notice) == []
    assert fast.graph_captures == 1
    eager = _example("digits_cnn", epochs=4).run()
    assert result.history.epochs[-1].val_acc > 0.9
    assert abs(result.history.epochs[-1].val_acc - eager.history.epochs[-1].val_acc) < 0.05


@cuda
def test_fast_mode_recaptures_for_a_schedule_and_trains_an_lstm() -> None:
    trainer = _example("lstm_sequence", fast=True, epochs=3, schedule="cosine")
    result = trainer.run()
    assert isinstance(result, Finished) and trainer.graph_captures == 3
    assert np.isfinite(result.history.points.loss).all()


@cuda
def test_bf16_mixed_precision_trains() -> None:
    result = _example("digits_cnn", precision="bf16", epochs=2).run()
    assert isinstance(result, Finished) and result.history.epochs[-1].val_acc > 0.8


@cuda
def test_data_lives_on_the_gpu_and_checkpoints_load_on_the_cpu(tmp_path) -> None:
    graph = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    config = loop.TrainConfig.from_settings(graph.training).with_overrides(device="cuda", epochs=1)
    trainer = Trainer.for_graph(graph, config, checkpoint_dir=tmp_path)
    trainer.run()
    assert next(trainer.model.parameters()).is_cuda
    cpu = Trainer.for_graph(
        graph, config.with_overrides(device="cpu", epochs=2), resume_from=tmp_path / "checkpoint.pt"
    )
    assert isinstance(cpu.run(), Finished)
