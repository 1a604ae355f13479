"""Small graphs and quick configs for the training tests: every run here takes well under a second."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nnstudio.api import Graph
from nnstudio.training.config import TrainConfig


def mlp(
    hidden: int = 16, inputs: tuple[int, ...] = (2,), outputs: int = 2, activation: str = "ReLU"
) -> Graph:
    """Input -> Linear -> activation -> Linear -> Output, the circles network."""
    graph = Graph(name="Tiny MLP")
    x = graph.add("Input", name="point", shape=list(inputs))
    if len(inputs) > 1:
        flat = graph.add("Flatten", name="flatten")
        graph.connect(x, flat)
        x = flat
    fc1 = graph.add("Linear", name="fc1", out_features=hidden)
    act = graph.add(activation, name="act")
    fc2 = graph.add("Linear", name="fc2", out_features=outputs)
    out = graph.add("Output", name="scores")
    for a, b in ((x, fc1), (fc1, act), (act, fc2), (fc2, out)):
        graph.connect(a, b)
    graph.training = {"dataset": "circles", "optimizer": "adam", "lr": 0.05, "batch_size": 64, "epochs": 3}
    return graph


@pytest.fixture
def circles_graph() -> Graph:
    return mlp()


@pytest.fixture
def quick() -> Callable[..., TrainConfig]:
    """A config for a fast, deterministic CPU run, with overrides."""

    def make(graph: Graph | None = None, **changes) -> TrainConfig:
        base = TrainConfig.from_settings(graph.training) if graph is not None else TrainConfig()
        return base.with_overrides(device="cpu", **changes)

    return make
