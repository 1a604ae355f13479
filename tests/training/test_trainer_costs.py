"""What the trainer costs beyond the steps themselves stays fixed: no read-back per step, no
checkpoint per short epoch, and a checkpoint whose size does not grow with every point saved."""

from __future__ import annotations

import sys

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from nnstudio.training import checkpoint
from nnstudio.training.events import CheckpointWritten, EpochEnded, Finished
from nnstudio.training.loop import Trainer

READ_BACKS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")


def _read_backs_during(run, monkeypatch) -> int:
    """How many times nnstudio's code copied tensor values to the host (a sync on a GPU)
    during ``run()`` (torch's own, such as Adam's step count on the CPU, are not counted)."""
    count = 0

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            nonlocal count
            count += sys._getframe(1).f_globals.get("__name__", "").startswith("nnstudio.")
            return original(self, *args, **kwargs)

        return wrapper

    for name in READ_BACKS:
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    run()
    monkeypatch.undo()
    return count


def test_values_are_read_back_per_report_not_per_step(circles_graph, quick, monkeypatch) -> None:
    counts = {}
    for batch_size in (64, 8):  # 13 and 100 steps in the epoch
        config = quick(circles_graph, epochs=1, batch_size=batch_size, report_every=60)
        trainer = Trainer.for_graph(circles_graph, config)
        counts[batch_size] = _read_backs_during(trainer.run, monkeypatch)
        assert trainer.step == (13 if batch_size == 64 else 100)
    assert counts[8] == counts[64]  # the same reports, however many steps


def test_short_epochs_are_not_each_checkpointed_but_the_last_is(circles_graph, quick, tmp_path) -> None:
    config = quick(circles_graph, epochs=6, report_every=0.0)
    events = []
    trainer = Trainer.for_graph(circles_graph, config, checkpoint_dir=tmp_path)
    assert 0 < trainer.checkpoint_seconds <= 10  # a crash loses seconds of training at most
    trainer.checkpoint_seconds = 600  # epochs far shorter than that, however loaded the machine
    result = trainer.run(events.append)
    assert isinstance(result, Finished) and not result.stopped
    assert len([e for e in events if isinstance(e, EpochEnded)]) == 6
    written = [e for e in events if isinstance(e, CheckpointWritten)]
    # One checkpoint, the last epoch's, instead of six.
    assert [(e.epoch, e.reason) for e in written] == [(6, "epoch")]
    assert checkpoint.load(tmp_path / "checkpoint.pt")["epoch"] == 6


def test_asked_for_a_checkpoint_after_every_epoch_it_writes_one(circles_graph, quick, tmp_path) -> None:
    config = quick(circles_graph, epochs=3, report_every=0.0)
    events = []
    trainer = Trainer.for_graph(circles_graph, config, checkpoint_dir=tmp_path)
    trainer.checkpoint_seconds = 0
    trainer.run(events.append)
    assert [e.epoch for e in events if isinstance(e, CheckpointWritten)] == [1, 2, 3]


def test_epoch_checkpoints_follow_the_interval(circles_graph, quick, tmp_path, monkeypatch) -> None:
    """A clock that moves 1 s per epoch and a 2.5 s interval: every third epoch, and the last."""
    import nnstudio.training.loop as loop

    now = [0.0]

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            return now[0]

    events = []

    def listener(event) -> None:
        events.append(event)
        if isinstance(event, EpochEnded):
            now[0] += 1.0

    monkeypatch.setattr(loop, "time", Clock)
    config = quick(circles_graph, epochs=7, report_every=60)
    trainer = Trainer.for_graph(circles_graph, config, checkpoint_dir=tmp_path)
    trainer.checkpoint_seconds = 2.5
    trainer.run(listener)
    # Due from 2.5 s: epoch 3 ends at 3 s and writes; then due from 5.5 s: epoch 6 at 6 s.
    assert [e.epoch for e in events if isinstance(e, CheckpointWritten)] == [3, 6, 7]


def test_a_checkpoint_keeps_the_per_step_points_as_tensors_and_resumes_the_curve(
    circles_graph, quick, tmp_path
) -> None:
    config = quick(circles_graph, epochs=2, report_every=0.0)
    first = Trainer.for_graph(circles_graph, config, checkpoint_dir=tmp_path).run()
    state = torch.load(first.checkpoint, weights_only=True)
    points = state["history"]["points"]
    assert all(isinstance(points[k], torch.Tensor) for k in ("steps", "loss", "smoothed", "accuracy"))
    assert points["steps"].tolist() == list(range(1, 27))  # 13 steps an epoch

    longer = quick(circles_graph, epochs=3, report_every=0.0)
    resumed = Trainer.for_graph(circles_graph, longer, resume_from=first.checkpoint).run()
    assert resumed.history.points.steps.tolist() == list(range(1, 40))
    assert resumed.history.points.loss[:26].tolist() == first.history.points.loss.tolist()


def test_a_checkpoint_with_the_points_as_lists_still_resumes(circles_graph, quick, tmp_path) -> None:
    config = quick(circles_graph, epochs=1, report_every=0.0)
    first = Trainer.for_graph(circles_graph, config, checkpoint_dir=tmp_path).run()
    state = torch.load(first.checkpoint, weights_only=True)
    state["history"]["points"] = {k: v.tolist() for k, v in state["history"]["points"].items()}
    old = tmp_path / "old.pt"
    torch.save(state, old)
    resumed = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=2), resume_from=old).run()
    assert isinstance(resumed, Finished) and resumed.history.points.steps.tolist() == list(range(1, 27))


@pytest.mark.parametrize(
    "points",
    [
        {"steps": torch.tensor([1.0, 2.0])},
        {"steps": torch.tensor([-1, 2])},
        {"loss": torch.zeros(2, 1)},
        {"loss": torch.zeros(2, dtype=torch.bfloat16)},
        {"accuracy": torch.zeros(3)},
    ],
)
def test_points_of_the_wrong_kind_are_one_sentence(points, tmp_path) -> None:
    good = {
        "steps": torch.tensor([1, 2]),
        "loss": torch.zeros(2),
        "smoothed": torch.zeros(2),
        "accuracy": torch.zeros(2),
    }
    state = {
        "format": checkpoint.FORMAT,
        "version": checkpoint.VERSION,
        "model": {},
        "optimizer": {"state": {}, "param_groups": []},
        "settings": {},
        "epoch": 1,
        "step": 2,
        "epoch_step": 0,
        "history": {"epochs": [], "points": {**good, **points}},
        "smoother": [0.0, 2],
    }
    path = tmp_path / "checkpoint.pt"
    torch.save(state, path)
    with pytest.raises(checkpoint.CheckpointError, match=r"is not a usable checkpoint: at 'history\.points"):
        checkpoint.load(path)


class _CountOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def test_a_step_costs_few_operations_beyond_a_bare_loops(circles_graph, quick) -> None:
    """Beyond forward, loss, backward and the optimizer: the loss detached and the correct
    count (argmax, compare, sum); no copies into buffers, no detached output."""
    ops, steps = {}, {}
    for batch_size in (64, 8):
        trainer = Trainer.for_graph(
            circles_graph, quick(circles_graph, epochs=1, batch_size=batch_size, report_every=60)
        )
        with _CountOps() as counter:
            trainer.run()
        ops[batch_size], steps[batch_size] = counter.count, trainer.step
    trainer_per_step = (ops[8] - ops[64]) / (steps[8] - steps[64])

    model = trainer.model
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.randn(800, 2), torch.randint(0, 2, (800,))
    order = torch.randperm(800)

    def bare_step(i: int) -> None:
        index = order[i * 8 : (i + 1) * 8]
        xb, yb = x.index_select(0, index), y.index_select(0, index)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()

    bare_step(0)  # the optimizer's state is made on its first step
    with _CountOps() as counter:
        bare_step(1)
    assert trainer_per_step <= counter.count + 5, (trainer_per_step, counter.count)
