"""Training from the panel as a user does: start, watch, pause, resume, stop, fail, continue."""

from __future__ import annotations

import itertools

import numpy as np
from PySide6.QtCore import Qt

from nnstudio.api import Graph
from nnstudio.gui.document import Document
from nnstudio.training.events import Failed, Finished

from .conftest import RUN_TIMEOUT_MS, wait_for_run


def test_a_run_started_from_the_panel_fills_the_plots_moves_the_progress_bar_and_locks_the_model(
    train_window, qtbot
):
    window = train_window("digits_cnn", epochs=2)
    training = window.training
    panel = training.panel
    shown: list[str] = []  # the status line after each update (a short run may end between two looks)
    training.worker.updated.connect(lambda _update: shown.append(panel.status.text()))
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert window.editing_locked and not window.act_delete.isEnabled()
    assert not panel.start_button.isEnabled() and panel.stop_button.isEnabled()
    plots = training.plots_host.widget
    qtbot.waitUntil(
        lambda: plots.current is not None and len(plots.current.steps) > 0, timeout=RUN_TIMEOUT_MS
    )
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=RUN_TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: any("epoch" in text and "samples/s" in text for text in shown), timeout=RUN_TIMEOUT_MS
    )

    outcome = wait_for_run(qtbot, training)
    assert isinstance(outcome.final, Finished) and not outcome.final.stopped
    run = plots.current
    total = len(outcome.final.history.points)
    assert len(run.steps) == total and np.array_equal(run.steps.values, np.arange(1, total + 1))
    assert [r.epoch for r in run.epochs] == [1, 2]
    assert run.items["smoothed"].getOriginalDataset()[0].size == total  # the curve itself holds every step
    assert panel.progress.value() == panel.progress.maximum()
    assert "Finished after 2 epochs" in panel.message.text()
    assert not window.editing_locked and window.act_delete.isEnabled()
    # The run is in the project, labelled with its settings, as an undoable edit.
    (record,) = window.document.graph.runs
    assert record["number"] == 1 and record["outcome"] == "finished" and len(record["epochs"]) == 2
    assert window.document.modified
    assert training.worker.updates_sent < total  # batched: never an update per step


def test_pause_holds_the_run_resume_continues_and_stop_saves_a_checkpoint(train_window, qtbot):
    # Epochs enough not to finish before the pause and stop (circles trains ~10 ms an epoch).
    window = train_window("mlp_circles", epochs=100_000)
    training, panel = window.training, window.training.panel
    training.start()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=RUN_TIMEOUT_MS)
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "paused", timeout=10_000)
    assert panel.pause_button.text() == "Resume"
    held = panel.status.text()
    qtbot.wait(400)
    assert panel.status.text() == held  # nothing moves while paused
    step = training.plots_host.widget.current.steps.values[-1]

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training.state == "running", timeout=10_000)
    qtbot.waitUntil(lambda: training.plots_host.widget.current.steps.values[-1] > step, timeout=10_000)

    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    outcome = wait_for_run(qtbot, training, timeout=10_000)
    assert isinstance(outcome.final, Finished) and outcome.final.stopped
    assert outcome.final.checkpoint is not None and outcome.final.checkpoint.exists()
    assert "Checkpoint" in panel.message.text()
    # Unchanged network, run cut short: it can be resumed exactly where it stopped.
    assert panel.continue_button.isEnabled() and panel.continue_button.text() == "Resume"
    assert window.document.graph.runs[-1]["outcome"] == "stopped"


def test_a_run_whose_loss_becomes_nan_says_why_and_leaves_the_editor_usable(make_window, qtbot, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 2))
    data = tmp_path / "regression.csv"
    np.savetxt(data, np.column_stack([x, 1000 * x[:, 0]]), delimiter=",", header="a,b,target", comments="")
    graph = Graph(name="diverges")
    ids = [
        graph.add("Input", shape=(2,)),
        graph.add("Linear", out_features=16),
        graph.add("ReLU"),
        graph.add("Linear", out_features=1),
        graph.add("Output"),
    ]
    for a, b in itertools.pairwise(ids):
        graph.connect(a, b)
    graph.training = {
        "dataset": str(data),
        "optimizer": "sgd",
        "lr": 1.0,
        "batch_size": 32,
        "epochs": 3,
        "device": "cpu",
    }
    window = make_window(Document(graph))
    window.training.start()
    outcome = wait_for_run(qtbot, window.training)
    assert isinstance(outcome.final, Failed) and outcome.final.kind == "nan"
    text = window.training.panel.message.text()
    assert "The loss became" in text and "learning rate 1 is probably too high; try 0.1" in text
    assert "color" in window.training.panel.message.styleSheet()  # shown as an error
    assert not window.editing_locked
    assert window.document.set_param(ids[1], "out_features", 8)  # the editor takes edits again
    assert window.training.panel.start_button.isEnabled()


def test_a_graph_with_problems_is_not_trained_and_the_panel_says_which(make_window, qtbot):
    graph = Graph(name="broken")
    graph.add("Input", shape=(2,))
    window = make_window(Document(graph))
    assert not window.training.start()
    assert "problem" in window.training.panel.message.text()
    assert not window.editing_locked and not window.training.running


def test_after_an_edit_continue_keeps_the_unchanged_layers_and_says_which(train_window, qtbot):
    window = train_window("mlp_circles", epochs=2)
    training = window.training
    training.start()
    wait_for_run(qtbot, training)
    graph = window.document.graph
    hidden, classifier = graph.node_by_name("hidden").id, graph.node_by_name("classifier").id
    assert window.document.set_param(classifier, "bias", False)
    assert training.panel.continue_button.text() == "Continue"
    qtbot.mouseClick(training.panel.continue_button, Qt.MouseButton.LeftButton)
    second = wait_for_run(qtbot, training)
    text = training.panel.message.text()
    assert "Kept the trained weights of 1 layer: hidden." in text
    assert "Starting fresh: classifier (bias changed)." in text
    assert [r["number"] for r in graph.runs] == [1, 2]
    assert graph.runs[1]["carried"].startswith("Kept")
    assert set(training.plots_host.widget.runs) == {1, 2}
    assert hidden in second.weights.weights


def test_settings_change_through_undo_and_go_into_the_project_file(train_window, qtbot, tmp_path):
    window = train_window("digits_cnn")
    form = window.training.panel.form
    form.lr.setValue(0.01)
    form.epochs.setValue(7)
    graph = window.document.graph
    assert graph.training["lr"] == 0.01 and graph.training["epochs"] == 7
    assert window.document.undo_stack.undoText() == "Change epochs"
    window.document.undo_stack.undo()
    assert graph.training["epochs"] == 15 and form.epochs.value() == 15
    path = tmp_path / "saved.nnstudio"
    assert window._write(path)
    assert Graph.load(path).training["lr"] == 0.01


def test_clicking_a_layer_on_the_canvas_shows_its_feature_maps(train_window, qtbot):
    window = train_window("digits_cnn", epochs=1)
    training = window.training
    training.start()
    wait_for_run(qtbot, training)
    training.tabs.setCurrentWidget(training.tabs.feature_maps)
    conv2 = window.document.graph.node_by_name("conv2").id
    window.scene.select_nodes([conv2])
    qtbot.waitUntil(
        lambda: (
            training.tabs.feature_maps.payload is not None
            and training.tabs.feature_maps.payload.node_id == conv2
        ),
        timeout=5000,
    )
    assert len(training.tabs.feature_maps.grid.images) == 32
    training.tabs.feature_maps.sample_spin.setValue(3)
    qtbot.waitUntil(lambda: training.tabs.feature_maps.payload.sample_index == 3, timeout=5000)
    # Layer statistics reached the canvas: a tag under every layer with weights.
    assert {graph_id for graph_id in training.overlay.tags} >= {conv2}
