"""Issue 13, points 5 and 8: no stale state after a run (another project's runs in Metrics, a speed
of "0 samples/s" while training), and closing the window during a run asks first and records it."""

from __future__ import annotations

import pytest
import shiboken6

from nnstudio import resources
from nnstudio.gui import dialogs
from nnstudio.gui.training import closing
from nnstudio.gui.training.panel import TrainingPanel
from nnstudio.training.events import Progress, StepPoints

from .conftest import RUN_TIMEOUT_MS, wait_for_run


def _progress(step: int, rate: float) -> Progress:
    return Progress(
        epoch=1,
        epochs=3,
        step=step,
        total_steps=300,
        points=StepPoints.empty(),
        lr=0.01,
        samples_per_second=rate,
        elapsed=1.0,
        eta=2.0,
    )


# --- samples/s -----------------------------------------------------------------------------------


def test_a_report_without_new_steps_keeps_the_last_rate_and_a_paused_run_says_paused(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.set_state("starting")
    panel.set_state("running")
    panel.show_progress(_progress(10, 0.0))  # the very first report has measured nothing yet
    assert "0 samples/s" not in panel.status.text() and "measuring" in panel.status.text()
    panel.show_progress(_progress(50, 2345.6))
    assert "2,346 samples/s" in panel.status.text()
    panel.show_progress(_progress(100, 0.0))  # an epoch's end: a report with no new steps
    assert "2,346 samples/s" in panel.status.text()
    panel.set_state("paused")
    assert "paused" in panel.status.text() and "samples/s" not in panel.status.text()
    panel.set_state("running")
    assert "2,346 samples/s" in panel.status.text()
    panel.set_state("stopping")
    panel.show_progress(_progress(101, 0.0))
    assert "stopping" in panel.status.text() and "0 samples/s" not in panel.status.text()
    panel.set_state("starting")  # a new run measures afresh
    panel.set_state("running")
    panel.show_progress(_progress(1, 0.0))
    assert "2,346" not in panel.status.text()


def test_the_speed_never_reads_zero_while_a_real_run_goes_on(train_window, qtbot):
    # Many epoch boundaries a second, and too many epochs to finish before the pause: on one
    # thread circles trains ~10 ms an epoch, so 40 epochs could end before "paused".
    window = train_window("mlp_circles", epochs=100_000)
    training = window.training
    seen: list[tuple[str, str]] = []
    training.worker.updated.connect(lambda _u: seen.append((training.state, training.panel.status.text())))
    training.start()
    qtbot.waitUntil(
        lambda: sum(s == "running" and "samples/s" in t for s, t in seen) >= 5, timeout=RUN_TIMEOUT_MS
    )
    training.pause()
    qtbot.waitUntil(lambda: training.state == "paused", timeout=10_000)
    assert "paused" in training.panel.status.text()
    training.resume()
    qtbot.waitUntil(lambda: training.state == "running", timeout=10_000)
    training.stop()
    wait_for_run(qtbot, training)
    shown = [text for state, text in seen if state in ("running", "paused", "stopping") and "epoch" in text]
    assert len(shown) >= 5
    assert not [t for t in shown if " 0 samples/s" in t or "· 0 samples" in t], shown


# --- project switch --------------------------------------------------------------------------------


def test_opening_another_project_after_a_run_shows_only_that_projects_runs(train_window, qtbot):
    window = train_window("mlp_circles", epochs=2)
    training = window.training
    training.start()
    wait_for_run(qtbot, training)
    plots = training.plots_host.widget
    assert list(plots.runs) == [1] and plots.current is not None
    window.document.undo_stack.setClean()  # no save question
    window.open_example(resources.examples_dir() / "digits_cnn.nnstudio")
    assert plots.runs == {} and plots.current is None and plots.run_list.count() == 0
    assert plots.legend.labels() == [] and not plots.lr_curve.getData()[0]
    assert training.last_outcome is None and not training.panel.continue_button.isEnabled()


# --- closing during a run -----------------------------------------------------------------------


def _closed(window) -> bool:
    return not shiboken6.isValid(window) or not window.isVisible()  # closed windows delete themselves


@pytest.fixture
def running_window(train_window, qtbot, monkeypatch):
    """A window training circles for far longer than a test waits, and the answers the user gives."""
    answers: dict[str, object] = {"run": closing.CANCEL, "asked": 0, "saved_runs": None}

    def ask(parent, state):
        answers["asked"] += 1
        return answers["run"]

    window = train_window("mlp_circles", epochs=100_000)

    def save_question(parent, name):
        answers["saved_runs"] = list(window.document.graph.runs)
        return "discard"

    monkeypatch.setattr(closing, "ask_about_run", ask)
    monkeypatch.setattr(dialogs, "ask_save_changes", save_question)
    window.training.start()
    qtbot.waitUntil(
        lambda: window.training.panel.progress.value() > 0 or window.training.state == "running",
        timeout=RUN_TIMEOUT_MS,
    )
    return window, answers


def test_cancel_keeps_the_window_and_the_run(running_window, qtbot):
    window, answers = running_window
    assert window.close() is False
    assert answers["asked"] == 1 and window.isVisible() and window.training.state == "running"
    window.training.stop()
    wait_for_run(qtbot, window.training)


def test_stop_and_close_records_the_run_as_stopped_then_closes(running_window, qtbot):
    window, answers = running_window
    answers["run"] = closing.STOP
    assert window.close() is False  # not at once: the step finishes and the checkpoint is written
    qtbot.waitUntil(lambda: _closed(window), timeout=RUN_TIMEOUT_MS)
    (run,) = answers["saved_runs"]  # recorded before the save question
    assert run["outcome"] == "stopped" and run["checkpoint"]
    assert answers["asked"] == 1


def test_keep_training_lets_the_run_go_on_and_closes_the_window_when_it_ends(running_window, qtbot):
    window, answers = running_window
    answers["run"] = closing.KEEP
    training = window.training
    assert window.close() is False
    qtbot.wait(300)
    assert window.isVisible() and training.state == "running"  # still training
    assert window.close() is False and answers["asked"] == 1  # asked once: it waits for the run
    training.stop()  # the run ends (here, early)
    qtbot.waitUntil(lambda: _closed(window), timeout=RUN_TIMEOUT_MS)
    (run,) = answers["saved_runs"]
    assert run["outcome"] == "stopped" and answers["asked"] == 1
