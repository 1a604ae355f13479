"""The metrics plots: live curves that stay light with 100,000+ points, hover read-out, export,
and past runs of the project overlaid and labelled with their settings."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from PySide6.QtGui import QImage

from nnstudio.gui.training.plots import MetricsPlots
from nnstudio.training.events import EpochRecord, StepPoints
from nnstudio.training.runs import RunRecord, read_runs, settings_label, thin_curve


def _points(first: int, n: int) -> StepPoints:
    steps = np.arange(first, first + n, dtype=np.int64)
    loss = (1.0 / np.sqrt(steps)).astype(np.float32)
    return StepPoints(steps, loss, loss, np.full(n, 0.75, np.float32))


def _epoch(i: int, val_acc: float = 0.8) -> EpochRecord:
    return EpochRecord(i, 1.0 / i, 0.7, 1.2 / i, val_acc, 0.01, 1.0)


@pytest.fixture
def plots(qtbot) -> MetricsPlots:
    widget = MetricsPlots()
    widget.resize(900, 500)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_a_long_run_keeps_every_point_but_draws_a_screenful(plots, qtbot):
    plots.begin_run(1, "Run 1: adam", steps_per_epoch=1000)
    for first in range(1, 150_001, 5000):  # 30 updates of 5,000 steps
        plots.add_points(_points(first, 5000))
        plots.refresh()
    plots.add_epochs([_epoch(i) for i in range(1, 151)])
    plots.refresh()
    qtbot.wait(50)
    plots.graphics.grab()  # a real paint
    item = plots.current.items["loss"]
    assert item.getOriginalDataset()[0].size == 150_000
    drawn = item.getData()[0].size
    assert drawn < 10_000, drawn  # downsampled (peak) to about the plot's width
    assert plots.current.items["val_loss"].getData()[0].tolist()[:2] == [1000.0, 2000.0]
    # The learning rate has its own axis: a step line across every epoch.
    assert plots.lr_curve.getData()[1].max() == pytest.approx(0.01)


def test_hovering_reads_the_values_at_a_step(plots):
    plots.begin_run(3, "Run 3: sgd, lr 0.1", steps_per_epoch=10)
    plots.add_points(_points(1, 40))
    plots.add_epochs([_epoch(1), _epoch(2, val_acc=0.9)])
    plots.refresh()
    text = plots.show_values_at(17.2)
    assert "step 17" in text and f"loss {1 / math.sqrt(17):.4f}" in text
    assert "epoch 2: val loss 0.6000, val accuracy 90.0%" in text
    assert plots.cursor[plots.loss_plot].value() == 17


def test_export_writes_a_png_and_a_csv_with_steps_and_epochs(plots, tmp_path):
    plots.begin_run(1, "Run 1", steps_per_epoch=5)
    plots.add_points(_points(1, 10))
    plots.add_epochs([_epoch(1), _epoch(2)])
    plots.refresh()
    png = plots.export_png(tmp_path / "plot.png")
    image = QImage(str(png))
    assert not image.isNull() and image.width() >= 800
    text = plots.export_csv(tmp_path / "metrics.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    steps = [r for r in rows if not r["epoch"]]
    epochs = [r for r in rows if r["epoch"]]
    assert [int(r["step"]) for r in steps] == list(range(1, 11))
    assert float(steps[3]["loss"]) == pytest.approx(0.5)
    assert [(int(r["epoch"]), int(r["step"])) for r in epochs] == [(1, 5), (2, 10)]
    assert float(epochs[1]["val_acc"]) == pytest.approx(0.8)


def _record(number: int, lr: float) -> RunRecord:
    steps, loss = thin_curve(_points(1, 2000))
    return RunRecord(
        number,
        {
            "dataset": "digits",
            "optimizer": "adam",
            "lr": lr,
            "batch_size": 64,
            "epochs": 2,
            "schedule": "cosine",
        },
        steps_per_epoch=1000,
        epochs=[_epoch(1), _epoch(2, float("nan"))],
        curve_steps=steps,
        curve_loss=loss,
    )


def test_past_runs_are_overlaid_labelled_with_their_settings_and_can_be_hidden(plots, qtbot):
    plots.add_record(_record(1, 0.01))
    plots.add_record(_record(2, 0.001))
    plots.begin_run(3, "Run 3: adam, lr 0.1", steps_per_epoch=10)
    labels = [plots.run_list.item(i).text() for i in range(plots.run_list.count())]
    assert labels == [
        "Run 1: adam, lr 0.01, batch 64, 2 epochs, schedule cosine",
        "Run 2: adam, lr 0.001, batch 64, 2 epochs, schedule cosine",
        "Run 3: adam, lr 0.1",
    ]
    assert plots.runs[1].items["smoothed"].getOriginalDataset()[0].size == 400  # thinned when recorded
    assert plots.runs[1].colour != plots.runs[2].colour
    item = plots.run_list.item(0)
    item.setCheckState(item.checkState().Unchecked)
    assert not plots.runs[1].items["smoothed"].isVisible()
    assert plots.runs[2].items["smoothed"].isVisible()


def test_a_run_record_survives_the_project_file_and_bad_records_are_skipped():
    record = _record(4, 0.5)
    data = record.to_dict()
    assert data["epochs"][1]["val_acc"] is None  # NaN is stored as null: valid JSON
    import json

    again = RunRecord.from_dict(json.loads(json.dumps(data, allow_nan=False)))
    assert again.label == record.label and math.isnan(again.epochs[1].val_acc)
    assert np.array_equal(again.curve_steps, record.curve_steps)
    assert [r.number for r in read_runs([data, {"number": "x"}, "junk", None])] == [4]


def test_labels_show_the_settings_that_differ_from_the_defaults():
    assert (
        settings_label({"optimizer": "sgd", "lr": 0.1, "batch_size": 32, "epochs": 1})
        == "sgd, lr 0.1, batch 32, 1 epoch"
    )
    assert (
        settings_label({"lr": 0.1, "weight_decay": 0.01, "device": "cpu"})
        == "adam, lr 0.1, batch 64, 10 epochs, weight decay 0.01"
    )
