"""Helpers for the live-training GUI tests: example projects with quick settings, waiting for runs."""

from __future__ import annotations

import pytest

from nnstudio import resources
from nnstudio.api import Graph
from nnstudio.gui.document import Document
from nnstudio.gui.training import closing
from nnstudio.gui.training.worker import TrainingWorker

RUN_TIMEOUT_MS = 60_000  # the first run in a process also imports torch


def example(name: str, **training) -> Graph:
    graph = Graph.load(resources.examples_dir() / f"{name}.nnstudio")
    graph.training = {**graph.training, "device": "cpu", **training}
    return graph


@pytest.fixture(autouse=True)
def _close_during_a_run_stops_it(monkeypatch):
    """A window closed by a test's clean-up while it still trains gets "Stop and Close", never a
    modal question that would hang an offscreen test; tests about the question replace this."""
    monkeypatch.setattr(closing, "ask_about_run", lambda parent, state: closing.STOP)


@pytest.fixture
def train_window(make_window):
    """A shown window with an example open: ``train_window("digits_cnn", epochs=2)``."""

    def make(name: str, **training):
        return make_window(Document(example(name, **training)))

    return make


@pytest.fixture
def worker():
    """A TrainingWorker that lets its run's process go at the end of the test."""
    made = TrainingWorker()
    yield made
    made.close()
    assert made.wait(30)


def wait_for_run(qtbot, controller, timeout: int = RUN_TIMEOUT_MS):
    """Block until the controller's run has ended; returns its Outcome."""
    if not controller.running and controller.state == "idle":
        return controller.last_outcome
    with qtbot.waitSignal(controller.run_finished, timeout=timeout) as blocker:
        pass
    return blocker.args[0]
