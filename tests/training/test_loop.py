"""The trainer: learns, reports compactly, stops, pauses, resumes, and fails with a sentence."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nnstudio.training import checkpoint
from nnstudio.training.data import load_for_graph
from nnstudio.training.events import (
    CheckpointWritten,
    EpochEnded,
    Failed,
    Finished,
    History,
    LayerStatsReady,
    Notice,
    PauseChanged,
    Progress,
    RunStarted,
    TrainListener,
)
from nnstudio.training.loop import Trainer
from tests.training.conftest import mlp


class Recorder(TrainListener):
    """Keeps every event; optionally acts on progress."""

    def __init__(self, on_progress=None) -> None:
        self.events: list = []
        self._on_progress = on_progress

    def __call__(self, event) -> None:
        self.events.append(event)
        super().__call__(event)

    def on_progress(self, event: Progress) -> None:
        if self._on_progress:
            self._on_progress(event)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def _holds_tensor(value, depth: int = 0) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if depth > 4:
        return False
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(_holds_tensor(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    if isinstance(value, History):
        return _holds_tensor(value.points, depth + 1) or any(
            _holds_tensor(r, depth + 1) for r in value.epochs
        )
    if isinstance(value, dict):
        return any(_holds_tensor(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_tensor(v, depth + 1) for v in value)
    return False


def test_a_short_run_learns_and_reports_each_step_once(circles_graph, quick) -> None:
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=3))
    recorder = Recorder()
    result = trainer.run(recorder)

    assert isinstance(result, Finished) and not result.stopped
    kinds = [type(e) for e in recorder.events]
    assert kinds[0] is RunStarted and kinds[-1] is Finished and kinds.count(EpochEnded) == 3
    epochs = result.history.epochs
    assert [r.epoch for r in epochs] == [1, 2, 3]
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].val_acc > 0.9  # a hidden layer separates the circles
    started = recorder.of(RunStarted)[0]
    steps = np.concatenate([p.points.steps for p in recorder.of(Progress)])
    np.testing.assert_array_equal(steps, np.arange(1, started.total_steps + 1))
    assert not any(_holds_tensor(e) for e in recorder.events)


def test_progress_is_batched_and_rate_limited(circles_graph, quick) -> None:
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=2, report_every=60.0))
    recorder = Recorder()
    trainer.run(recorder)
    progress = recorder.of(Progress)
    per_epoch = recorder.of(RunStarted)[0].steps_per_epoch
    assert [len(p.points) for p in progress] == [per_epoch, per_epoch]  # one report per epoch end
    last = progress[-1]
    assert last.step == last.total_steps and last.samples_per_second > 0
    assert last.points.loss.dtype == np.float32 and np.isfinite(last.points.smoothed).all()


def test_seeded_cpu_runs_are_reproducible(circles_graph, quick) -> None:
    def train(seed: int):
        trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=2, seed=seed))
        return trainer.run(), trainer.model.state_dict()

    (a, weights_a), (b, weights_b), (c, _) = train(3), train(3), train(4)
    np.testing.assert_array_equal(a.history.points.loss, b.history.points.loss)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert not np.array_equal(a.history.points.loss, c.history.points.loss)


def _stop_at(trainer: Trainer, step: int) -> Recorder:
    def maybe_stop(event: Progress) -> None:
        if event.step >= step:
            trainer.stop()

    return Recorder(maybe_stop)


def test_stop_takes_effect_after_the_current_step_and_writes_a_checkpoint(
    circles_graph, quick, tmp_path
) -> None:
    trainer = Trainer.for_graph(
        circles_graph, quick(circles_graph, report_every=0.0), checkpoint_dir=tmp_path
    )
    recorder = _stop_at(trainer, 5)
    result = trainer.run(recorder)
    assert isinstance(result, Finished) and result.stopped
    assert trainer.step == 5
    written = recorder.of(CheckpointWritten)
    assert written[-1].reason == "stop" and written[-1].step == 5
    assert checkpoint.load(result.checkpoint)["step"] == 5


def test_resuming_mid_epoch_continues_the_same_curve_exactly(circles_graph, quick, tmp_path) -> None:
    config = quick(circles_graph, epochs=3, report_every=0.0)
    whole = Trainer.for_graph(circles_graph, config).run()

    first = Trainer.for_graph(circles_graph, config, checkpoint_dir=tmp_path)
    first.run(_stop_at(first, 20))  # 13 steps per epoch: stops inside the second epoch
    second = Trainer.for_graph(
        circles_graph, config, checkpoint_dir=tmp_path, resume_from=tmp_path / "checkpoint.pt"
    )
    recorder = Recorder()
    resumed = second.run(recorder)

    started = recorder.of(RunStarted)[0]
    assert (started.start_epoch, started.start_step, len(started.history.points)) == (1, 20, 20)
    assert [r.epoch for r in resumed.history.epochs] == [1, 2, 3]
    for mine, reference in zip(resumed.history.epochs, whole.history.epochs, strict=True):
        assert (mine.train_loss, mine.val_loss, mine.val_acc) == pytest.approx(
            (reference.train_loss, reference.val_loss, reference.val_acc), rel=1e-6
        )
    np.testing.assert_allclose(resumed.history.points.loss, whole.history.points.loss, rtol=1e-6)


def test_pause_holds_between_steps_and_still_serves_requests(circles_graph, quick) -> None:
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=1))
    paused = threading.Event()
    recorder = Recorder()

    def listen(event) -> None:
        recorder(event)
        if isinstance(event, PauseChanged) and event.paused:
            paused.set()

    trainer.pause()
    thread = threading.Thread(target=trainer.run, args=(listen,))
    thread.start()
    try:
        assert paused.wait(10)
        step = trainer.step
        time.sleep(0.2)
        assert trainer.step == step  # nothing trains while paused
        future = trainer.submit(
            lambda model: (threading.get_ident(), sum(p.numel() for p in model.parameters()))
        )
        ident, count = future.result(timeout=10)
        assert ident == thread.ident and count == 16 * 2 + 16 + 2 * 16 + 2
    finally:
        trainer.resume()
        thread.join(30)
    assert isinstance(recorder.events[-1], Finished)
    assert [e.paused for e in recorder.of(PauseChanged)] == [True, False]


def test_submit_outside_a_run_answers_at_once(circles_graph, quick) -> None:
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph))
    assert trainer.submit(lambda model: model.training).result(timeout=1) is True


class _BreaksAt(nn.Module):
    """Wraps a model; on the n-th forward pass in training, does ``what``."""

    def __init__(self, inner: nn.Module, call: int, what) -> None:
        super().__init__()
        self.inner, self.call, self.what, self.calls = inner, call, what, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls == self.call:
                out = self.what(out)
        return out


def _trainer_around(graph, config, call: int, what, tmp_path: Path) -> Trainer:
    from nnstudio.compiler.codegen import compile_graph

    data = load_for_graph(graph, config)
    model = _BreaksAt(compile_graph(graph), call, what)
    return Trainer(
        model,
        data,
        config,
        output_shape=(2,),
        loss="cross_entropy",
        checkpoint_dir=tmp_path,
        checkpoint_seconds=0,  # a checkpoint after every epoch, however short
    )


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_checkpoint(
    circles_graph, quick, tmp_path
) -> None:
    config = quick(circles_graph, epochs=3)
    trainer = _trainer_around(circles_graph, config, 20, lambda out: out * float("nan"), tmp_path)
    result = trainer.run(Recorder())
    assert isinstance(result, Failed) and result.kind == "nan"
    assert result.message.startswith("The loss became NaN at step 20 (epoch 2)")
    assert "learning rate 0.05 is probably too high; try 0.005" in result.message
    saved = checkpoint.load(result.checkpoint)
    assert saved["epoch"] == 1 and all(torch.isfinite(t).all() for t in saved["model"].values())


def test_out_of_memory_stops_with_advice_and_the_process_goes_on(circles_graph, quick, tmp_path) -> None:
    def out_of_memory(out):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    config = quick(circles_graph, epochs=2)
    result = _trainer_around(circles_graph, config, 3, out_of_memory, tmp_path).run()
    assert isinstance(result, Failed) and result.kind == "out_of_memory" and result.step == 3
    assert "ran out of memory at step 3 with batch size 64. Try a batch size of 32 or less" in result.message


def test_a_layer_that_fails_at_run_time_is_named(circles_graph, quick) -> None:
    from nnstudio.compiler.codegen import compile_graph

    model = compile_graph(circles_graph)
    model.fc1 = nn.Linear(2, 7)  # fc2 now receives 7 features instead of 16
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph), model=model)
    result = trainer.run()
    assert isinstance(result, Failed) and result.kind == "forward"
    assert result.message.startswith(
        "Linear 'fc2' failed at step 1: mat1 and mat2 shapes cannot be multiplied"
    )


def test_fast_mode_without_cuda_says_so_and_trains_normally(circles_graph, quick) -> None:
    recorder = Recorder()
    result = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=1, fast=True)).run(recorder)
    assert isinstance(result, Finished)
    assert [n.message for n in recorder.of(Notice)] == [
        "Fast mode needs a CUDA GPU; training on the CPU with ordinary steps."
    ]


def test_a_torch_compile_failure_falls_back_to_eager(circles_graph, quick, monkeypatch) -> None:
    class Unbuildable(nn.Module):
        def forward(self, x):
            raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Unbuildable())
    recorder = Recorder()
    result = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=1, compile=True)).run(recorder)
    assert isinstance(result, Finished)
    assert any(
        "torch.compile failed (RuntimeError: no C++ compiler found)" in n.message for n in recorder.of(Notice)
    )


def test_layer_statistics_arrive_every_n_steps_only_when_asked(circles_graph, quick) -> None:
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=1))
    recorder = Recorder()
    trainer.run(recorder)
    assert recorder.of(LayerStatsReady) == []

    trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=1))
    trainer.request_layer_stats(5)
    recorder = Recorder()
    trainer.run(recorder)
    ready = recorder.of(LayerStatsReady)
    assert [e.step for e in ready] == [5, 10]
    names = {node.name: node_id for node_id, node in circles_graph.nodes.items()}
    stats = ready[-1].stats
    assert stats[names["fc1"]].grad_norm > 0
    assert 0.0 <= stats[names["act"]].dead_fraction <= 1.0
    assert np.isnan(stats[names["fc1"]].dead_fraction)  # not a ReLU


def test_a_checkpoint_of_another_network_or_a_broken_file_is_refused(circles_graph, quick, tmp_path) -> None:
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=1), checkpoint_dir=tmp_path)
    trainer.run()
    wider = mlp(hidden=32)
    with pytest.raises(checkpoint.CheckpointError, match="holds the weights of a different network"):
        Trainer.for_graph(wider, quick(wider), resume_from=tmp_path / "checkpoint.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match=r"broken\.pt is not a readable checkpoint"):
        Trainer.for_graph(circles_graph, quick(circles_graph), resume_from=broken)


def test_training_from_an_image_folder_goes_through_a_data_loader(tmp_path, quick) -> None:
    from tests.training.test_data import _image_folder

    graph = mlp(inputs=(1, 8, 8))
    graph.training["dataset"] = str(_image_folder(tmp_path / "images", per_class=20))
    trainer = Trainer.for_graph(graph, quick(graph, epochs=2, batch_size=8))
    result = trainer.run()
    assert isinstance(result, Finished) and not trainer.data.in_memory
    assert result.history.epochs[-1].val_acc == 1.0  # dark and light are easy to tell apart


def test_a_stop_asked_for_before_the_run_starts_is_honoured(circles_graph, quick, tmp_path) -> None:
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph), checkpoint_dir=tmp_path)
    trainer.stop()
    result = trainer.run()
    assert isinstance(result, Finished) and result.stopped and trainer.step == 0
    again = trainer.run()  # the request was used up: the next run trains
    assert isinstance(again, Finished) and not again.stopped and len(again.history.epochs) == 3


@pytest.mark.parametrize("workers", [0, 1])
def test_an_image_that_breaks_during_training_stops_the_run_naming_it(tmp_path, quick, workers) -> None:
    from tests.training.test_data import _image_folder

    root = _image_folder(tmp_path / "images", per_class=20)
    graph = mlp(inputs=(1, 8, 8))
    graph.training["dataset"] = str(root)
    trainer = Trainer.for_graph(graph, quick(graph, epochs=2, batch_size=8, workers=workers))
    (root / "light" / "3.png").write_bytes(b"no longer an image")  # after the up-front check
    result = trainer.run()
    assert isinstance(result, Failed) and result.kind == "data"
    assert result.message.startswith("The image ") and "3.png cannot be read" in result.message
    assert "Traceback" not in result.message


def test_an_unfinished_graph_is_refused_before_any_data_is_read(quick) -> None:
    from nnstudio.core.errors import GraphError

    graph = mlp()
    graph.remove(graph.node_by_name("fc2").id)  # the Output is left unconnected
    with pytest.raises(GraphError, match="cannot be compiled yet"):
        Trainer.for_graph(graph, quick(graph))
