"""The study's plots: parallel coordinates, the metric against one parameter, and each
trial's metric per epoch. Built from plain trial records; pyqtgraph is imported here only,
so the panel loads it when first shown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from nnstudio.experiments.results import TrialRecord
from nnstudio.gui import theme

SHOWN_STATES = ("COMPLETE", "PRUNED")
_TOP = 1.34  # parallel coordinates: the axes span 0..1, their names hang from here
_COLORMAP = "viridis"


def styled(plot: pg.PlotWidget) -> pg.PlotWidget:
    """The theme's plot colours, as the training plots use them."""
    colours = theme.current()
    plot.setBackground(colours.plot_background)
    for side in ("left", "bottom"):
        axis = plot.getPlotItem().getAxis(side)
        axis.setPen(pg.mkPen(colours.plot_axis))
        axis.setTextPen(pg.mkPen(colours.plot_text))
    return plot


def metric_label(metric: str) -> str:
    return "validation accuracy" if metric == "val_acc" else "validation loss"


class _Scale:
    """Maps one parameter's values onto 0..1: linear, log (when all values are positive and
    span a decade or more) or, for text and booleans, evenly spaced categories."""

    def __init__(self, values: Sequence[Any]) -> None:
        numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        self.categories: list[Any] = []
        self.log = False
        if len(numeric) != len(values):
            self.categories = sorted({_text(v) for v in values})
            self.low, self.high = 0.0, max(1.0, len(self.categories) - 1.0)
            return
        low, high = (min(numeric), max(numeric)) if numeric else (0.0, 1.0)
        self.log = low > 0 and high / low >= 10
        self.low, self.high = (math.log10(low), math.log10(high)) if self.log else (float(low), float(high))

    def position(self, value: Any) -> float:
        if self.categories:
            index = self.categories.index(_text(value))
            return index / max(1, len(self.categories) - 1) if len(self.categories) > 1 else 0.5
        x = math.log10(value) if self.log else float(value)
        return 0.5 if self.high == self.low else (x - self.low) / (self.high - self.low)

    def ends(self, percent: bool = False) -> tuple[str, str]:
        if self.categories:
            return str(self.categories[0]), str(self.categories[-1])
        low, high = (10**self.low, 10**self.high) if self.log else (self.low, self.high)
        if percent:
            return f"{100 * low:.1f}%", f"{100 * high:.1f}%"
        return f"{low:.3g}", f"{high:.3g}"


class ParallelCoordinates(pg.PlotWidget):
    """One vertical axis per parameter and one for the metric; one line per trial, coloured
    by its metric (yellow: best). The selected trial is drawn thick and on top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        styled(self)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.getPlotItem().hideAxis("left")
        self.getPlotItem().hideAxis("bottom")  # the axes' names and ranges are drawn on the plot
        self.lines: dict[int, pg.PlotDataItem] = {}
        self._selected: int | None = None

    def set_trials(
        self, trials: Sequence[TrialRecord], names: Sequence[str], metric: str, maximize: bool
    ) -> None:
        self.clear()
        self.lines = {}
        shown = [t for t in trials if t.state in SHOWN_STATES and t.value is not None]
        axes = [*names, metric]
        columns = {n: [t.values[n] for t in shown if n in t.values] for n in names}
        columns[metric] = [t.value for t in shown]
        scales = {n: _Scale(columns[n]) for n in axes}
        colours = theme.current()
        percent = metric == "val_acc"
        for i, name in enumerate(axes):
            self.addItem(pg.InfiniteLine(i, angle=90, pen=pg.mkPen(colours.plot_axis, width=1)))
            low, high = scales[name].ends(percent=percent and name == metric)
            title = pg.TextItem(_axis_name(name, metric), anchor=(0.5, 0), color=colours.plot_text)
            bold = title.textItem.font()
            bold.setBold(True)
            title.setFont(bold)
            title.setPos(i, _TOP)
            self.addItem(title)
            for text, y, anchor in ((high, 1.03, (0.5, 1)), (low, -0.03, (0.5, 0))):
                label = pg.TextItem(text, anchor=anchor, color=colours.plot_text)
                label.setPos(i, y)
                self.addItem(label)
        values = np.array([t.value for t in shown], float)
        if len(values):
            span = np.ptp(values) or 1.0
            goodness = (values - values.min()) / span if maximize else (values.max() - values) / span
            cmap = pg.colormap.get(_COLORMAP)
            for t, good in zip(shown, goodness, strict=True):
                ys = [scales[n].position(t.values[n]) if n in t.values else np.nan for n in names]
                ys.append(scales[metric].position(t.value))
                colour = cmap.map(0.15 + 0.85 * float(good), mode="qcolor")
                style = Qt.PenStyle.SolidLine if t.state == "COMPLETE" else Qt.PenStyle.DashLine
                line = self.plot(list(range(len(axes))), ys, pen=pg.mkPen(colour, width=2, style=style))
                self.lines[t.number] = line
        self.setXRange(-0.5, len(axes) - 0.5, padding=0)
        self.setYRange(-0.1, _TOP, padding=0)
        self.select(self._selected)

    def select(self, number: int | None) -> None:
        self._selected = number
        for n, line in self.lines.items():
            pen = line.opts["pen"]
            pen = pg.mkPen(pen.color(), width=5 if n == number else 2, style=pen.style())
            line.setPen(pen)
            line.setZValue(10 if n == number else 0)


class MetricScatter(QWidget):
    """The metric against a parameter chosen above the plot; a click selects the trial."""

    trial_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choice = QComboBox()
        self.choice.setObjectName("scatter_parameter")
        self.plot = styled(pg.PlotWidget())
        self.plot.setMenuEnabled(False)
        self.points = pg.ScatterPlotItem(size=10, hoverable=True)
        self.points.sigClicked.connect(self._on_clicked)
        self.plot.addItem(self.points)
        top = QHBoxLayout()
        top.addWidget(QLabel("Parameter"))
        top.addWidget(self.choice, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        self._trials: list[TrialRecord] = []
        self._metric = "val_acc"
        self._selected: int | None = None
        self.choice.currentTextChanged.connect(lambda _: self._draw())

    def set_trials(self, trials: Sequence[TrialRecord], names: Sequence[str], metric: str) -> None:
        self._trials = [t for t in trials if t.state in SHOWN_STATES and t.value is not None]
        self._metric = metric
        current = self.choice.currentText()
        if [self.choice.itemText(i) for i in range(self.choice.count())] != list(names):
            self.choice.blockSignals(True)
            self.choice.clear()
            self.choice.addItems(list(names))
            if current in names:
                self.choice.setCurrentText(current)
            self.choice.blockSignals(False)
        self._draw()

    def select(self, number: int | None) -> None:
        self._selected = number
        self._draw()

    def _draw(self) -> None:
        name = self.choice.currentText()
        trials = [t for t in self._trials if name in t.values]
        scale = _Scale([t.values[name] for t in trials]) if trials else None
        spots = []
        for t in trials:
            value = t.values[name]
            if scale is not None and scale.categories:
                x = float(scale.categories.index(_text(value)))
            else:
                x = math.log10(value) if scale is not None and scale.log else float(value)
            selected = t.number == self._selected
            brush = pg.mkBrush("#2a7ab0" if t.state == "COMPLETE" else "#b0b0b0")
            spots.append(
                {
                    "pos": (x, t.value * (100 if self._metric == "val_acc" else 1)),
                    "data": t.number,
                    "brush": brush,
                    "size": 15 if selected else 10,
                    "pen": pg.mkPen("#ffb000", width=3) if selected else pg.mkPen(None),
                }
            )
        self.points.setData(spots)
        axis = self.plot.getPlotItem().getAxis("bottom")
        if scale is not None and scale.categories:
            axis.setTicks([[(float(i), str(c)) for i, c in enumerate(scale.categories)]])
        elif scale is not None and scale.log:
            axis.setTicks([_log_ticks(scale.low, scale.high)])
        else:
            axis.setTicks(None)
        unit = " (%)" if self._metric == "val_acc" else ""
        self.plot.setLabel("left", metric_label(self._metric) + unit)
        self.plot.setLabel("bottom", name + (" (log scale)" if scale is not None and scale.log else ""))

    def _on_clicked(self, item: Any, points: Any, *_: Any) -> None:
        if len(points):
            self.trial_clicked.emit(int(points[0].data()))


class TrialCurves(pg.PlotWidget):
    """Each trial's metric per epoch, as reported to the pruner (running trials too)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        styled(self)
        self.setMenuEnabled(False)
        self.setLabel("bottom", "epoch")
        self.lines: dict[int, pg.PlotDataItem] = {}
        self._selected: int | None = None

    def set_trials(self, trials: Sequence[TrialRecord], metric: str) -> None:
        self.clear()
        self.lines = {}
        scale = 100 if metric == "val_acc" else 1
        self.setLabel("left", metric_label(metric) + (" (%)" if metric == "val_acc" else ""))
        for t in trials:
            if not t.intermediate:
                continue
            epochs = sorted(t.intermediate)
            colour = {"COMPLETE": "#2a7ab0", "PRUNED": "#b0b0b0", "RUNNING": "#e07b00"}.get(
                t.state, "#c03030"
            )
            self.lines[t.number] = self.plot(
                epochs,
                [t.intermediate[e] * scale for e in epochs],
                pen=pg.mkPen(colour, width=2),
                symbol="o",
                symbolSize=4,
                symbolBrush=colour,
                symbolPen=None,
            )
        last = max((max(t.intermediate) for t in trials if t.intermediate), default=1)
        if last <= 12:  # whole epochs only
            self.getPlotItem().getAxis("bottom").setTicks([[(float(e), str(e)) for e in range(1, last + 1)]])
        else:
            self.getPlotItem().getAxis("bottom").setTicks(None)
        self.select(self._selected)

    def select(self, number: int | None) -> None:
        self._selected = number
        for n, line in self.lines.items():
            pen = line.opts["pen"]
            line.setPen(pg.mkPen(pen.color(), width=4 if n == number else 1.5))
            line.setZValue(10 if n == number else 0)


def _axis_name(name: str, metric: str) -> str:
    """Two short lines rather than one long one: axes stand close together."""
    if name == metric:
        return metric_label(name).replace(" ", "\n")
    node, dot, param = name.rpartition(".")
    return f"{node}\n{param}" if dot else name


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _log_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """1, 2 and 5 times each power of ten between 10**low and 10**high (log10 positions)."""
    ticks = []
    for power in range(math.floor(low), math.ceil(high) + 1):
        for step in (1, 2, 5):
            x = math.log10(step) + power
            if low - 1e-9 <= x <= high + 1e-9:
                ticks.append((x, f"{step * 10.0**power:g}"))
    return ticks
