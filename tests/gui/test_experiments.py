"""The Experiments panel and the inspector's sweep marks, driven as a user would."""

from __future__ import annotations

import pytest

from nnstudio import resources
from nnstudio.experiments import space
from nnstudio.gui.experiments.marks import SweepDialog, SweepMark


@pytest.fixture
def circles_window(window):
    assert window.open_path(resources.examples_dir() / "mlp_circles.nnstudio")
    return window


def test_marking_a_parameter_sweep_in_the_inspector_is_undoable(circles_window, qtbot) -> None:
    window = circles_window
    graph = window.document.graph
    window.inspector.show_nodes(["n2"])
    mark = window.inspector.findChild(SweepMark, "sweep_out_features")
    assert mark is not None and not mark.isChecked()
    assert window.inspector.findChild(SweepMark, "sweep_bias") is not None

    dialog = SweepDialog(graph, mark.target, None)
    qtbot.addWidget(dialog)
    dialog.edit.setText("64..8")
    dialog.accept()  # refused with the sentence, the dialog stays open
    assert dialog.result() == 0 and "write hidden.out_features=8..64" in dialog.message.text()
    dialog.edit.setText("8..64:log")
    dialog.accept()
    assert dialog.result_dimension == space.Dimension("hidden.out_features", 8, 64, log=True)

    assert mark.set_dimension(dialog.result_dimension)
    assert graph.sweep == {"params": [{"target": "hidden.out_features", "low": 8, "high": 64, "log": True}]}
    assert mark.isChecked() and "8..64:log" in mark.toolTip()
    assert window.document.modified
    window.document.undo_stack.undo()
    assert graph.sweep is None and not mark.isChecked()
    window.document.set_locked(True)  # a training run locks the model: no marking either
    assert not mark.isEnabled()
    window.document.set_locked(False)
    window.inspector.show_nodes(["n4"])  # the marks of the last node go; locking must not reach them
    qtbot.wait(10)
    window.document.set_locked(True)
    window.document.set_locked(False)


def test_the_panel_edits_the_saved_search_space(circles_window) -> None:
    window = circles_window
    panel = window.experiments.show_panel()
    graph = window.document.graph
    panel.space_edit.setText("hidden.width=8..64")
    panel.add_dimension()
    assert graph.sweep is None and "has no parameter 'width'" in panel.status.text()
    for text in ("hidden.out_features=8..64", "lr=0.001..0.1:log"):
        panel.space_edit.setText(text)
        panel.add_dimension()
    assert [panel.space_list.item(i).text() for i in range(panel.space_list.count())] == [
        "hidden.out_features=8..64",
        "lr=0.001..0.1:log",
    ]
    panel.space_list.setCurrentRow(0)
    panel.remove_dimension()
    assert space.from_section(graph.sweep) == [space.parse_param("lr=0.001..0.1:log")]
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert graph.sweep is None and panel.space_list.item(0).text().startswith("Nothing yet")


@pytest.mark.slow
def test_a_sweep_runs_beside_the_editor_and_its_best_trial_is_applied_then_undone(
    circles_window, qtbot
) -> None:
    window = circles_window
    graph = window.document.graph
    panel = window.experiments.show_panel()
    for text in ("hidden.out_features=4..32", "lr=0.01..0.1"):
        panel.space_edit.setText(text)
        panel.add_dimension()
    panel.trials.setValue(3)
    panel.jobs.setValue(2)
    panel.epochs.setValue(1)
    panel.pruner.setCurrentText("none")
    assert panel.start()
    assert panel.process.running and not panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: panel.model.rowCount() >= 1, timeout=120_000)  # trials arrive while it runs
    qtbot.waitUntil(lambda: not panel.process.running, timeout=300_000)
    assert "Sweep finished" in panel.status.text(), panel.status.text() + "\n".join(panel.process.output)
    trials = panel.snapshot.trials
    assert len(trials) == 3 and all(t.state == "COMPLETE" for t in trials)
    assert len(panel.parallel.lines) == 3 and len(panel.curves.lines) == 3

    best = panel.snapshot.best()
    assert panel.selected_number() == best.number  # the best trial is selected when the sweep ends
    panel.state_filter.setCurrentIndex(panel.state_filter.findText("Fail"))
    assert panel.proxy.rowCount() == 0
    panel.state_filter.setCurrentIndex(0)
    panel.select_trial(best.number)

    steps = window.document.undo_stack.count()
    assert panel.apply_selected()
    assert window.document.undo_stack.count() == steps + 1  # one undo step
    assert graph.node_by_name("hidden").params["out_features"] == best.values["hidden.out_features"]
    assert graph.training["lr"] == pytest.approx(best.values["lr"])
    window.document.undo_stack.undo()
    assert graph.node_by_name("hidden").params["out_features"] == 16 and graph.training["lr"] == 0.05

    assert panel.show_curves_in_metrics()
    plots = window.training.plots_host.ensure()
    assert any(r.label.startswith(f"Trial {best.number}:") for r in plots.runs.values())

    other = panel.open_selected()
    assert other is not None and other is not window
    assert (
        other.document.graph.node_by_name("hidden").params["out_features"]
        == best.values["hidden.out_features"]
    )
    other.document.undo_stack.setClean()
    other.close()


@pytest.mark.slow
def test_stop_ends_the_sweep_and_keeps_the_study_readable(circles_window, qtbot) -> None:
    window = circles_window
    panel = window.experiments.show_panel()
    panel.space_edit.setText("lr=0.01..0.1")
    panel.add_dimension()
    panel.trials.setValue(3)
    panel.jobs.setValue(1)
    panel.epochs.setValue(500)  # far longer than the test waits
    assert panel.start()
    qtbot.waitUntil(lambda: panel.model.rowCount() >= 1, timeout=120_000)
    panel.stop()
    qtbot.waitUntil(lambda: not panel.process.running, timeout=60_000)
    assert "stopped" in panel.status.text(), panel.status.text() + "\n".join(panel.process.output)
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    (trial,) = panel.snapshot.trials
    assert trial.state == "FAIL" and "Stopped by the user" in trial.reason
