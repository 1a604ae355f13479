"""Pressing Train makes the run's curves at once, so the run's first update only fills them in.

Creating the curves and their legend entries costs pyqtgraph ~35 ms; done on the first update
it added to the longest stall of the window while circles trained (issue 13's 100 ms limit)."""

from __future__ import annotations

from nnstudio.gui.training.plots import MetricsPlots

from .conftest import wait_for_run


def test_the_curves_are_there_before_the_run_begins_and_kept_when_it_does(train_window, qtbot):
    window = train_window("mlp_circles", epochs=2)
    training = window.training
    training.start()
    plots = training.plots_host.widget
    assert isinstance(plots, MetricsPlots)
    assert training.run_started is None  # the thread is still building the trainer
    made = dict(plots.current.items)
    assert {"loss", "smoothed", "val_loss", "accuracy"} <= made.keys()
    assert plots.legend.labels()[0] == "Run 1"
    # The rate is known from the settings: its axis reads it from the start.
    assert plots.lr_view.viewRange()[1][1] > 0 and plots.loss_plot.getAxis("right").style["showValues"]
    outcome = wait_for_run(qtbot, training)
    assert outcome.final.history.epochs
    run = plots.current
    assert all(run.items[name] is item for name, item in made.items())  # filled in, not made again
    assert run.steps_per_epoch == training.run_started.steps_per_epoch
    assert run.total_steps == training.run_started.total_steps
    assert len(run.steps) == training.run_started.total_steps
    assert plots.run_list.item(0).text() == run.label


def test_a_run_that_cannot_start_leaves_no_empty_curves(train_window, qtbot, tmp_path):
    window = train_window("mlp_circles", dataset=str(tmp_path / "missing.csv"))
    training = window.training
    training.start()
    plots = training.plots_host.widget
    assert plots.current is not None and plots.run_list.count() == 1
    wait_for_run(qtbot, training)
    assert "missing.csv" in training.panel.message.text()
    assert plots.current is None and not plots.runs and plots.run_list.count() == 0
