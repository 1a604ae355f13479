"""The metrics plots read well (issue 13, point 2): the legend beside the plots, never on the
curves, and in the PNG; both themes; the learning-rate axis right from the first update; run
labels in full; the markers explained."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from nnstudio.gui import theme
from nnstudio.gui.training.plots import MetricsPlots
from nnstudio.training.events import EpochRecord, StepPoints
from nnstudio.training.runs import RunRecord


def _points(first: int, n: int) -> StepPoints:
    steps = np.arange(first, first + n, dtype=np.int64)
    loss = (2.0 / np.sqrt(steps)).astype(np.float32)
    return StepPoints(steps, loss, loss, np.full(n, 0.75, np.float32))


def _record(number: int) -> RunRecord:
    steps = np.arange(1, 401, dtype=np.float64)
    return RunRecord(
        number,
        {"optimizer": "adam", "lr": 0.002, "batch_size": 64, "epochs": 4},
        steps_per_epoch=100,
        epochs=[EpochRecord(i, 1 / i, 0.7, 1.2 / i, 0.8, 0.002, 1.0) for i in range(1, 5)],
        curve_steps=steps,
        curve_loss=(1 / np.sqrt(steps)).astype(np.float32),
    )


@pytest.fixture
def plots(qtbot) -> MetricsPlots:
    widget = MetricsPlots()
    widget.resize(1000, 420)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def two_runs(plots, qtbot) -> MetricsPlots:
    """A past run and a live one, two epochs in: the case where the old legend covered the loss."""
    plots.add_record(_record(1))
    plots.begin_run(2, "Run 2: adan, lr 0.002, batch 64, 15 epochs", 100, total_steps=1500, lr=0.002)
    plots.add_points(_points(1, 250))
    plots.add_epochs([EpochRecord(i, 1.1 / i, 0.7, 1.3 / i, 0.75, 0.002, 1.0) for i in (1, 2)])
    plots.refresh()
    qtbot.wait(20)
    return plots


@pytest.fixture
def restore_theme():
    mode = theme.manager().mode
    yield theme.manager()
    theme.manager().set_mode(mode)


def test_the_legend_sits_beside_the_plots_names_each_run_and_explains_the_markers(two_runs):
    plots = two_runs
    legend = plots.legend.sceneBoundingRect()
    for plot in (plots.loss_plot, plots.acc_plot):
        assert not legend.intersects(plot.vb.sceneBoundingRect())  # never over a curve
    assert legend.left() >= plots.loss_plot.sceneBoundingRect().right() - 1
    labels = plots.legend.labels()
    assert labels[:2] == ["Run 1", "Run 2"]
    # The square and circle markers, the faint line and the dotted one are all explained.
    assert {
        "validation, per epoch",
        "training, per epoch",
        "loss of each step",
        "learning rate (right)",
    } <= set(labels)
    square = plots._keys["validation, per epoch"].opts["symbol"]
    circle = plots._keys["training, per epoch"].opts["symbol"]
    assert (
        (square, circle)
        == (plots.current.items["val_loss"].opts["symbol"], plots.current.items["train_loss"].opts["symbol"])
        == ("s", "o")
    )


def test_the_legend_can_be_hidden_and_the_plots_take_its_room(two_runs, qtbot):
    plots = two_runs
    width = plots.loss_plot.vb.sceneBoundingRect().width()
    plots.legend_button.click()
    qtbot.waitUntil(lambda: plots.loss_plot.vb.sceneBoundingRect().width() > width + 40, timeout=2000)
    assert plots.legend.scene() is None
    plots.legend_button.click()
    qtbot.waitUntil(lambda: plots.loss_plot.vb.sceneBoundingRect().width() < width + 5, timeout=2000)
    assert plots.legend.scene() is plots.graphics.scene()


def test_a_hidden_run_leaves_the_legend(two_runs):
    plots = two_runs
    plots.run_list.item(0).setCheckState(plots.run_list.item(0).checkState().Unchecked)
    assert "Run 1" not in plots.legend.labels() and "Run 2" in plots.legend.labels()


def test_save_png_includes_the_legend(two_runs, tmp_path):
    plots = two_runs
    image = QImage(str(plots.export_png(tmp_path / "plots.png")))
    scale = image.width() / plots.graphics.width()
    rect = plots.legend.sceneBoundingRect()
    assert (rect.right() + 1) * scale <= image.width() and (rect.bottom() + 1) * scale <= image.height()
    # Run 2's colour in its legend sample: the legend is drawn into the file, not cut off.
    red = QColor(plots.runs[2].colour)
    found = 0
    for y in range(int(rect.top() * scale), int(rect.bottom() * scale)):
        for x in range(int(rect.left() * scale), int(rect.right() * scale)):
            c = image.pixelColor(x, y)
            found += abs(c.red() - red.red()) + abs(c.green() - red.green()) + abs(c.blue() - red.blue()) < 40
    assert found > 5


@pytest.mark.parametrize("mode", ["dark", "light"])
def test_plots_follow_the_theme_and_switch_with_it(plots, qtbot, restore_theme, mode, tmp_path):
    restore_theme.set_mode("light" if mode == "dark" else "dark")
    restore_theme.set_mode(mode)
    colours = theme.DARK if mode == "dark" else theme.LIGHT
    assert plots.graphics.backgroundBrush().color() == QColor(colours.plot_background)
    axis = plots.loss_plot.getAxis("left")
    assert axis.textPen().color() == QColor(colours.plot_text)
    assert plots.legend.opts["labelTextColor"] == QColor(colours.plot_text)
    plots.add_record(_record(1))
    image = QImage(str(plots.export_png(tmp_path / "plots.png")))
    corner = image.pixelColor(2, 2)
    assert corner == QColor(colours.plot_background)  # the file has the theme's background too
    # The text is readable on it: strong contrast between text and background.
    assert abs(QColor(colours.plot_text).lightness() - QColor(colours.plot_background).lightness()) > 120


def test_the_learning_rate_axis_reads_the_run_rate_from_the_first_update(plots):
    plots.begin_run(1, "Run 1: adam, lr 0.002", steps_per_epoch=100, total_steps=1500, lr=0.002)
    plots.add_points(_points(1, 5))  # five steps in: no epoch has ended
    plots.refresh()
    low, high = plots.lr_view.viewRange()[1]
    assert (low, high) == (0.0, pytest.approx(0.0025))  # 0.002 reads 0.002, not on a 0..1 scale
    right = plots.loss_plot.getAxis("right")
    assert right.style["showValues"]
    ticks = [v for level in right.tickValues(low, high, 300) for v in level[1]]
    assert any(math.isclose(v, 0.002) for v in ticks)
    xs, ys = plots.lr_curve.getData()
    assert xs[-1] == 5 and np.allclose(ys, 0.002)


def test_without_a_live_run_the_learning_rate_axis_shows_no_made_up_scale(plots):
    plots.add_record(_record(1))
    right = plots.loss_plot.getAxis("right")
    assert not right.style["showValues"] and "learning rate (right)" not in plots.legend.labels()


def test_the_run_list_shows_each_label_in_full(plots, qtbot):
    label = "Run 12: adan, lr 0.002, batch 64, 15 epochs, weight decay 0.0001"
    plots.begin_run(12, label, 100, lr=0.002)
    plots.run_list.setFixedWidth(190)
    qtbot.wait(20)
    item = plots.run_list.item(0)
    rect = plots.run_list.visualItemRect(item)
    assert item.text() == label
    metrics = plots.run_list.fontMetrics()
    lines = math.ceil(metrics.horizontalAdvance(label) / max(1, rect.width() - 30))
    assert lines >= 2 and rect.height() >= lines * metrics.lineSpacing() - 2  # wrapped, not cut


def test_in_a_narrow_dock_the_legend_moves_below_the_plots_and_keeps_their_axes_in_view(two_runs, qtbot):
    plots = two_runs
    plots.resize(560, 420)
    qtbot.waitUntil(lambda: plots.legend_place == "below", timeout=2000)
    qtbot.wait(20)
    legend = plots.legend.sceneBoundingRect()
    assert legend.top() >= plots.acc_plot.sceneBoundingRect().bottom() - 1
    assert not legend.intersects(plots.loss_plot.vb.sceneBoundingRect())
    right_axis = plots.loss_plot.getAxis("right").sceneBoundingRect()
    assert right_axis.right() <= plots.graphics.width() + 1  # not pushed out of view by the legend
    plots.resize(1200, 420)
    qtbot.waitUntil(lambda: plots.legend_place == "beside", timeout=2000)
