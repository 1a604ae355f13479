"""A fast run (mlp_circles: ~90 epochs a second) must not redraw the per-epoch curves per epoch:
the redraws are counted here, not timed, so the tests hold on a loaded machine."""

from __future__ import annotations

import numpy as np

from nnstudio.gui.training.plots import MAX_EPOCH_MARKERS, MetricsPlots
from nnstudio.training.events import EpochRecord, StepPoints
from nnstudio.training.relay import Update

STEPS_PER_EPOCH = 4


def _epoch(i: int) -> EpochRecord:
    return EpochRecord(i, 1.0 / i, 0.7, 1.2 / i, 0.8, 0.01, 0.01)


def _points(epoch: int) -> StepPoints:
    steps = np.arange((epoch - 1) * STEPS_PER_EPOCH + 1, epoch * STEPS_PER_EPOCH + 1, dtype=np.int64)
    loss = (1.0 / np.sqrt(steps)).astype(np.float32)
    return StepPoints(steps, loss, loss, np.full(len(steps), 0.75, np.float32))


def _count_epoch_redraws(monkeypatch, plots: MetricsPlots) -> list[int]:
    drawn: list[int] = []
    original = plots._draw_epochs

    def counting(run):
        drawn.append(len(run.epochs))
        original(run)

    monkeypatch.setattr(plots, "_draw_epochs", counting)
    return drawn


def test_200_epochs_within_a_second_redraw_the_epoch_curves_a_few_times(window, monkeypatch):
    controller = window.training
    plots = controller.plots_host.ensure()
    plots.begin_run(1, "Run 1", STEPS_PER_EPOCH, total_steps=200 * STEPS_PER_EPOCH, lr=0.01)
    drawn = _count_epoch_redraws(monkeypatch, plots)
    for i in range(1, 201):  # one update per epoch: the worker's pace for a tiny model
        controller._on_update(Update(points=_points(i), epochs=[_epoch(i)], events=1))
    assert len(drawn) <= 4, f"{len(drawn)} redraws of the per-epoch curves for 200 epochs"
    # Pausing (or the end) shows everything at once: the curves never lag behind the panel.
    controller._on_update(Update(paused=True, events=1))
    assert drawn and drawn[-1] == 200
    assert len(plots.current.epochs) == 200


def test_many_epochs_draw_few_markers_but_every_validation_point(qtbot):
    plots = MetricsPlots()
    qtbot.addWidget(plots)
    plots.begin_run(1, "Run 1", STEPS_PER_EPOCH, total_steps=400 * STEPS_PER_EPOCH, lr=0.01)
    for i in range(1, 11):
        plots.add_points(_points(i))
    plots.add_epochs(_epoch(i) for i in range(1, 11))
    plots.refresh()
    items = plots.current.items
    assert items["val_loss"].opts["symbol"] == "s"  # a short run: a marker on every epoch
    assert len(items["train_loss"].getData()[0]) == 10

    for i in range(11, 401):
        plots.add_points(_points(i))
    plots.add_epochs(_epoch(i) for i in range(11, 401))
    plots.refresh()
    val_x, val_y = items["val_loss"].getData()
    assert len(val_x) == 400 and val_y[-1] == 1.2 / 400  # the line still goes through every epoch
    assert items["val_loss"].opts["symbol"] is None
    train_x, _ = items["train_loss"].getData()
    assert len(train_x) <= MAX_EPOCH_MARKERS + 1
    assert train_x[-1] == 400 * STEPS_PER_EPOCH  # the newest epoch always has its marker
