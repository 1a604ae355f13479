"""The worker thread: compact updates at most ten a second, prompt stop, setup failures as sentences."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from nnstudio.gui.training.worker import UPDATE_INTERVAL_MS, RunRequest, TrainingWorker
from nnstudio.training.events import Failed, Finished
from nnstudio.training.payloads import ViewWants

from .conftest import RUN_TIMEOUT_MS, example


def _request(graph, tmp_path, **changes) -> RunRequest:
    return RunRequest(graph.to_dict(), dict(graph.training, **changes), tmp_path / "run")


def _collect(worker: TrainingWorker) -> list[tuple[float, object]]:
    got: list[tuple[float, object]] = []
    worker.updated.connect(lambda update: got.append((time.perf_counter(), update)))
    return got


def test_updates_come_at_most_ten_times_a_second_and_carry_every_step(qtbot, tmp_path, worker):
    got = _collect(worker)
    graph = example("mlp_circles", epochs=30)  # hundreds of tiny steps: a flood if sent one by one
    with qtbot.waitSignal(worker.finished, timeout=RUN_TIMEOUT_MS) as finished:
        # On one thread, the fastest pace (a run on every core sends four a second: test_run_process.py)
        worker.start(dataclasses.replace(_request(graph, tmp_path), threads=1))
    outcome = finished.args[0]
    assert isinstance(outcome.final, Finished)
    steps = np.concatenate([u.points.steps for _, u in got if len(u.points)])
    total = len(outcome.final.history.points)
    assert np.array_equal(steps, np.arange(1, total + 1))  # nothing lost, nothing twice
    times = np.array([t for t, _ in got])
    gaps = np.diff(times[:-1])  # the last update is the drain when the thread ends
    assert gaps.min() >= 0.8 * UPDATE_INTERVAL_MS / 1000
    per_second = max(np.sum((times >= t) & (times < t + 1.0)) for t in times)
    assert per_second <= 1000 / UPDATE_INTERVAL_MS + 1
    assert len(got) < total / 10
    assert sum(len(u.epochs) for _, u in got) == 30
    # hidden and classifier, and the Input's fitted statistics (kept for a Continue)
    assert outcome.weights is not None and len(outcome.weights) == 3


def test_views_asked_for_before_the_run_is_built_arrive_with_the_first_reports(qtbot, tmp_path, worker):
    got = _collect(worker)
    graph = example("digits_cnn", epochs=1)
    conv1 = graph.node_by_name("conv1").id
    worker.set_wants(ViewWants(filters=True, feature_maps=True, feature_node=conv1))
    with qtbot.waitSignal(worker.finished, timeout=RUN_TIMEOUT_MS):
        worker.start(_request(graph, tmp_path))
    views = {name for _, u in got for name in u.views}
    assert {"filters", "feature_maps"} <= views
    assert any(u.stats is not None and conv1 in u.stats.stats for _, u in got)


def test_a_stop_given_while_the_run_is_being_built_still_ends_it_with_a_checkpoint(qtbot, tmp_path, worker):
    graph = example("mlp_circles", epochs=10_000)
    with qtbot.waitSignal(worker.finished, timeout=RUN_TIMEOUT_MS) as finished:
        worker.start(_request(graph, tmp_path))
        worker.stop()
    final = finished.args[0].final
    assert isinstance(final, Finished) and final.stopped
    assert final.checkpoint is not None and final.checkpoint.exists()
    assert not worker.running


def test_a_data_set_that_cannot_be_read_ends_the_run_with_a_sentence(qtbot, tmp_path, worker):
    graph = example("mlp_circles", dataset=str(tmp_path / "missing.csv"))
    with qtbot.waitSignal(worker.finished, timeout=RUN_TIMEOUT_MS) as finished:
        worker.start(_request(graph, tmp_path))
    outcome = finished.args[0]
    assert isinstance(outcome.final, Failed) and outcome.final.kind == "setup"
    assert "no file or folder at" in outcome.final.message and "missing.csv" in outcome.final.message
    assert outcome.weights is None


def test_after_a_run_a_refresh_brings_the_views_and_the_worker_then_rests(qtbot, tmp_path, worker):
    # The run's process keeps the trained model for views asked later; the window's timer runs
    # only while an answer is due, so an idle window does not wake ten times a second.
    got = _collect(worker)
    graph = example("mlp_circles", epochs=2)
    with qtbot.waitSignal(worker.finished, timeout=RUN_TIMEOUT_MS):
        worker.start(_request(graph, tmp_path))
    qtbot.waitUntil(lambda: not worker._timer.isActive(), timeout=5000)
    got.clear()
    worker.set_wants(ViewWants(boundary=True))
    qtbot.waitUntil(lambda: any("boundary" in u.views for _, u in got), timeout=10_000)
    qtbot.waitUntil(lambda: not worker._timer.isActive(), timeout=5000)
