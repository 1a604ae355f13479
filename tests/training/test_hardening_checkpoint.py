"""--resume validates a checkpoint like a project file: a well-formed file holding a
wrong-typed or truncated field is one sentence (exit 2), never a ValueError,
TypeError or IndexError from deep in the trainer, nor a bogus NaN message."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nnstudio.cli import main
from nnstudio.training import checkpoint
from nnstudio.training.loop import Trainer
from tests.training.conftest import mlp


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("run")
    graph = mlp()
    graph.save(folder / "circles.nnstudio")
    from nnstudio.training.config import TrainConfig

    config = TrainConfig.from_settings(graph.training).with_overrides(
        device="cpu", epochs=1, report_every=0.0
    )
    result = Trainer.for_graph(graph, config, checkpoint_dir=folder).run()
    return folder, torch.load(result.checkpoint, weights_only=True)


def _damaged(state: dict, change) -> dict:
    state = {**state, "history": {**state["history"], "points": dict(state["history"]["points"])}}
    change(state)
    return state


CHANGES = {
    "epoch as text": lambda s: s.update(epoch="1"),
    "negative step": lambda s: s.update(step=-3),
    "float step": lambda s: s.update(step=2.5),
    "history as a list": lambda s: s.update(history=[1, 2]),
    "epoch record missing a field": lambda s: s["history"].update(epochs=[{"epoch": 1}]),
    "truncated points": lambda s: s["history"]["points"].update(loss=s["history"]["points"]["loss"][:1]),
    "model holding text": lambda s: s.update(model={"fc1.weight": "weights"}),
    "model holding a meta tensor": lambda s: s.update(model={"fc1.weight": torch.empty(2, 2, device="meta")}),
    "optimizer as a number": lambda s: s.update(optimizer=7),
    "truncated random state": lambda s: s.update(rng={"torch": s["rng"]["torch"][:100]}),
    "smoother of one value": lambda s: s.update(smoother=[0.5]),
    "unknown field": lambda s: s.update(surprise=1),
}


@pytest.mark.parametrize("name", CHANGES)
def test_a_damaged_checkpoint_is_one_sentence(saved, tmp_path: Path, name: str) -> None:
    _folder, state = saved
    path = tmp_path / "checkpoint.pt"
    torch.save(_damaged(state, CHANGES[name]), path)
    with pytest.raises(checkpoint.CheckpointError, match=r"is not a usable checkpoint: at '.*'"):
        checkpoint.load(path)


def test_resume_from_a_damaged_checkpoint_exits_2_without_a_traceback(saved, tmp_path: Path, capsys) -> None:
    folder, state = saved
    path = tmp_path / "checkpoint.pt"
    torch.save(_damaged(state, CHANGES["truncated points"]), path)
    assert main(["train", str(folder / "circles.nnstudio"), "--resume", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path} is not a usable checkpoint") and len(err.splitlines()) == 1


def test_an_intact_checkpoint_still_loads(saved) -> None:
    folder, _state = saved
    assert checkpoint.load(folder / "checkpoint.pt")["epoch"] == 1
