"""A run trains in a process of its own: the window's Python cannot slow it, a crash cannot end the window."""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest

from nnstudio.gui.training.worker import UPDATE_INTERVAL_MS, RunRequest, TrainingWorker
from nnstudio.training.events import Failed
from nnstudio.training.payloads import ViewWants
from nnstudio.training.run_process import TRAINING_NICE, RunProcess
from nnstudio.training.threads import usable_cores

from .conftest import RUN_TIMEOUT_MS, example, wait_for_run

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _steps(worker: TrainingWorker) -> list[int]:
    seen = [0]
    worker.updated.connect(lambda u: seen.append(int(u.points.steps[-1])) if len(u.points) else None)
    return seen


def _nice(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return int(handle.read().rpartition(")")[2].split()[16])


@pytest.mark.skipif(usable_cores() < 2, reason="one core: the window and the run share it whatever they are")
def test_the_windows_python_does_not_slow_a_small_network_down(qtbot, tmp_path, worker):
    # A tiny network's step is mostly Python. On a thread of the window's process it trained at
    # half speed whenever the GUI thread ran Python (the two took turns holding the GIL).
    seen = _steps(worker)
    graph = example("mlp_circles", epochs=100_000)
    worker.start(RunRequest(graph.to_dict(), dict(graph.training), tmp_path / "run", threads=1))
    qtbot.waitUntil(lambda: seen[-1] > 2000, timeout=RUN_TIMEOUT_MS)

    def steps_in(seconds: float, busy: bool) -> int:
        before = seen[-1]
        end = time.perf_counter() + seconds
        if busy:
            while time.perf_counter() < end:  # pure Python on the GUI thread: it holds the GIL
                sum(range(100))
        else:
            qtbot.wait(int(seconds * 1000))
        qtbot.wait(250)  # the relay's next update brings the steps made meanwhile
        return seen[-1] - before

    idle = [steps_in(0.6, busy=False) for _ in range(2)]
    busy = [steps_in(0.6, busy=True) for _ in range(2)]
    # Each count spans 0.6 s plus the wait for the update; the same in both, so they compare.
    assert max(busy) >= 0.7 * max(idle), (idle, busy)


def test_a_run_whose_process_dies_fails_with_a_sentence_and_the_window_trains_again(train_window, qtbot):
    window = train_window("mlp_circles", epochs=100_000)
    training = window.training
    assert training.start()
    qtbot.waitUntil(lambda: training.state == "running", timeout=RUN_TIMEOUT_MS)
    pid = training.worker.process_id
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # as the system does when memory runs out
    outcome = wait_for_run(qtbot, training)
    assert isinstance(outcome.final, Failed)
    assert "training process ended unexpectedly" in outcome.final.message
    assert "smaller batch size" in outcome.final.message
    assert training.state == "idle"
    assert "ended unexpectedly" in training.panel.message.text()
    assert window.document.graph.nodes  # the user's network is untouched
    training.document.graph.training = {**training.document.graph.training, "epochs": 1}
    assert training.start()
    assert not isinstance(wait_for_run(qtbot, training).final, Failed)


@linux_only
@pytest.mark.skipif(usable_cores() < 2, reason="one core: every run trains on every core")
def test_only_a_run_on_every_core_yields_its_priority_to_the_window(qtbot, tmp_path):
    # On a core of its own a run needs not yield; yielding there cost mlp_circles 6% of its speed.
    graph = example("mlp_circles", epochs=100_000)
    for threads, expected in ((1, 0), (usable_cores(), TRAINING_NICE)):
        worker = TrainingWorker()
        steps = _steps(worker)
        worker.start(
            RunRequest(graph.to_dict(), dict(graph.training), tmp_path / f"run{threads}", threads=threads)
        )
        qtbot.waitUntil(lambda steps=steps: steps[-1] > 0, timeout=RUN_TIMEOUT_MS)
        assert _nice(worker.process_id) - _nice(os.getpid()) == expected
        worker.close()
        assert worker.wait(30)


def test_a_fast_run_sends_its_reports_merged_about_ten_times_a_second(qtbot, tmp_path):
    # mlp_circles ends an epoch every few ms; one message per event cost it 2.4% of its speed.
    graph = example("mlp_circles", epochs=150)
    process = RunProcess(RunRequest(graph.to_dict(), dict(graph.training), tmp_path / "run", threads=1))
    process.send(("wants", ViewWants(boundary=True)))
    began, messages, updates = time.perf_counter(), 0, []
    while (message := process.receive()) is not None:
        messages += 1
        if message[0] == "update":
            updates.append(message[1])
        elif message[0] == "outcome":
            seconds = time.perf_counter() - began
            process.close()
    assert process.join(30)
    assert sum(len(u.epochs) for u in updates) == 150  # nothing lost on the way
    assert any("boundary" in u.views for u in updates)
    assert messages <= 1000 / UPDATE_INTERVAL_MS * seconds + 10, (messages, seconds)


@pytest.mark.skipif(usable_cores() < 2, reason="one core: every run is on every core")
def test_a_run_on_every_core_wakes_the_window_four_times_a_second_and_one_on_a_core_ten(qtbot, tmp_path):
    # Each update wakes the window and the X server; a run on every core pays for each wake-up
    # with its own speed, and four a second keep a progress bar live. A run that leaves the window
    # a core keeps ten (the decision boundary of a 2-D network moves several times a second).
    graph = example("mlp_circles", epochs=100_000)
    for threads, per_second in ((usable_cores(), 4), (1, 10)):
        worker = TrainingWorker()
        times: list[float] = []
        worker.updated.connect(lambda _update, times=times: times.append(time.perf_counter()))
        worker.start(
            RunRequest(graph.to_dict(), dict(graph.training), tmp_path / f"run{threads}", threads=threads)
        )
        qtbot.waitUntil(lambda times=times: len(times) >= 14, timeout=RUN_TIMEOUT_MS)
        worker.close()
        assert worker.wait(30)
        gaps = np.diff(times[3:14])  # the first few come at once: start, the first epochs
        assert 0.8 / per_second <= np.median(gaps) <= 1.6 / per_second, (threads, gaps)
