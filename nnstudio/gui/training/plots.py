"""Live loss and accuracy plots (pyqtgraph), with past runs overlaid for comparison.

Two plots share the step axis: loss above (with the learning rate on its own
right-hand axis), accuracy below. Each run has a colour; the current run
shows every step's loss faintly, its smoothed loss boldly, and per-epoch
training and validation figures as markers at the epoch's last step. Past
runs of the project show their smoothed loss and validation accuracy, and the
list beside the plots turns each on or off.

Curves are created once and updated with ``setData`` (at most twice a
second while a run goes on, see the controller). Downsampling (peak mode, to
about a point per pixel) and clip-to-view keep 100,000+ points smooth: a bold
curve's segments are stroked one by one, so 10,000 of them cost 10 ms a
paint where a pixel's worth cost 2. Step data lives in growable NumPy
buffers, so an update appends rather than copies the whole history.

Most of a repaint's cost is the axes' text, so the axes are cached as pixmaps
and the view ranges move in "nice" steps (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8
× 10^k) instead of with every new point: the axes are redrawn a few times a
run rather than with every repaint (about 5 ms a frame instead of 25 ms).
Panning or zooming stops the following; "Follow" resumes it.
"""

from __future__ import annotations

import contextlib
import csv
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # registers ImageExporter under pg.exporters
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QIcon, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from nnstudio.gui import theme
from nnstudio.training.events import EpochRecord, History, Smoother, StepPoints
from nnstudio.training.runs import RunRecord

NICE_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
COARSE_STEPS = (1.0, 2.0, 5.0)  # the step axis grows by these: fewer, bigger changes
# The step axis shows at least this many epochs: a run of up to 10 epochs has its planned end in view
# from its first redraw, and a longer one starts with its first epoch a tenth of the width at most.
MIN_EPOCHS_SHOWN = 10
RUN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
LR_COLOUR = "#8c8c8c"  # mid grey: readable on the light and the dark background
AXIS_WIDTH = 56  # pixels for the value axes on the left
RIGHT_AXIS_WIDTH = 74  # the learning rate's: "0.0015" and its label side by side
LEGEND_TEXT_SIZE = "9pt"
MAX_EPOCH_MARKERS = 80  # more per-epoch markers than this are thinned (see _draw_epochs)
LEGEND_BESIDE_MIN = 620  # pixels of plot area from which the legend sits beside the plots, not below
# Peak downsampling keeps a bin's lowest and highest value: bins of two pixels draw about a point per
# pixel and keep the noise's envelope (pyqtgraph's default, five samples a pixel, drew every step of
# a 10,000-step run at 1,300 pixels).
SAMPLES_PER_PIXEL = 0.5


class Series:
    """A growable 1-D array: appends are amortised O(1), ``values`` is a view."""

    def __init__(self, dtype: type = np.float64) -> None:
        self._data = np.zeros(1024, dtype)
        self._n = 0

    def append(self, values: np.ndarray) -> None:
        n = len(values)
        if self._n + n > len(self._data):
            grown = np.zeros(max(2 * len(self._data), self._n + n), self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : self._n + n] = values
        self._n += n

    @property
    def values(self) -> np.ndarray:
        return self._data[: self._n]

    def __len__(self) -> int:
        return self._n


@dataclass
class RunCurves:
    """One run's data and its plot items."""

    key: int
    label: str
    colour: str
    steps_per_epoch: int
    live: bool  # the run in progress (or the last one this session), drawn in full
    steps: Series = field(default_factory=Series)
    loss: Series = field(default_factory=lambda: Series(np.float32))
    smoothed: Series = field(default_factory=lambda: Series(np.float32))
    accuracy: Series = field(default_factory=lambda: Series(np.float32))  # smoothed here
    epochs: list[EpochRecord] = field(default_factory=list)
    smoother: Smoother = field(default_factory=Smoother)
    items: dict[str, pg.PlotDataItem] = field(default_factory=dict)
    visible: bool = True
    drawn_epochs: int = -1  # epochs on the curves: they are redrawn only when one ends
    total_steps: int = 0  # the run's planned length: the step axis grows no further
    loss_high: float = 0.0  # the largest smoothed loss so far: the loss plot's height
    loss_low: float = 0.0  # the smallest, when below zero (a regression loss never is)
    prepared: bool = False  # made as Train was pressed; the run has not begun yet
    _table_key: tuple[int, int] = (0, -1)
    _table: dict[str, np.ndarray] = field(default_factory=dict)

    def epoch_steps(self) -> np.ndarray:
        return self._epoch_table()["epoch"] * self.steps_per_epoch

    def epoch_values(self, name: str) -> np.ndarray:
        return self._epoch_table()[name]

    def _epoch_table(self) -> dict[str, np.ndarray]:
        """Each per-epoch figure as an array, built once per new epoch rather than once per read
        (a redraw reads them a dozen times; a fast run has hundreds of epochs)."""
        key = (id(self.epochs), len(self.epochs))
        if self._table_key != key:
            self._table_key = key
            self._table = {
                name: np.asarray([getattr(r, name) for r in self.epochs], np.float64)
                for name in EpochRecord.CSV_COLUMNS
            }
        return self._table


class SideLegend(pg.LegendItem):
    """The plots' legend in a column of its own beside them, never over the curves.

    pyqtgraph's legend floats over a plot and places itself; this one only
    tells the surrounding layout how big it is, so the layout puts it beside
    the plots, and the PNG export (which renders the whole scene) includes it."""

    def __init__(self) -> None:
        super().__init__(frame=False, labelTextSize=LEGEND_TEXT_SIZE, verSpacing=-2)

    def updateSize(self) -> None:
        self.layout.activate()
        hint = self.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize)
        width = max(60.0, hint.width() + 6)
        if self.columnCount == 1:  # a column beside the plots: exactly as wide as its text
            self.setFixedWidth(width)
        else:  # a row below: never wider than the plots, which would push their axes out of view
            self.setMinimumWidth(0)
            self.setMaximumWidth(width)
        self.setMaximumHeight(hint.height() + 4)
        self.updateGeometry()

    def labels(self) -> list[str]:
        return [label.text for _sample, label in self.items]


FIRST_PAINTS = 2  # rounds of paints of a run that cost more than the usual (see refresh)


class TimedGraphics(pg.GraphicsLayoutWidget):
    """The plots' canvas; it times its paints, for what a redraw costs the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.painting = 0.0  # seconds painted since ``take_painting``

    def paintEvent(self, event: QPaintEvent) -> None:
        began = time.perf_counter()
        super().paintEvent(event)
        self.painting += time.perf_counter() - began

    def take_painting(self) -> float:
        """Seconds painted since the last call."""
        painted, self.painting = self.painting, 0.0
        return painted


class MetricsPlots(QWidget):
    """See the module docstring. ``begin_run`` starts a live run; ``add_record`` a past one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: dict[int, RunCurves] = {}
        self.current: RunCurves | None = None
        self.graphics = TimedGraphics()
        self._refresh_seconds: list[float] = []  # the latest refreshes
        self._paint_seconds: list[float] = []  # what the latest refreshes' paints took
        self._first_paints_left = FIRST_PAINTS  # of the current run, not counted in its redraw cost
        self.loss_plot = self.graphics.addPlot(row=0, col=0)
        self.acc_plot = self.graphics.addPlot(row=1, col=0)
        self._style_plot(self.loss_plot)
        self._style_plot(self.acc_plot)
        self.acc_plot.setXLink(self.loss_plot)
        # Equal axis widths on both plots, so their step axes line up under each other.
        self.acc_plot.showAxis("right")
        self.acc_plot.getAxis("right").setStyle(showValues=False)
        for plot in (self.loss_plot, self.acc_plot):
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.getAxis("right").setWidth(RIGHT_AXIS_WIDTH)
        self.acc_plot.setYRange(0, 1.02, padding=0)
        self.following = True
        self._ranges: tuple[float, float, float] | None = None  # (x high, loss low, loss high) shown
        self._lr_top = 0.0
        self._lr_start: float | None = None  # the live run's learning rate as it began
        # The legend has a column of its own (a row below the plots when they are narrow); the
        # style keys explain the line styles and markers.
        self.legend = SideLegend()
        self.legend_place: str | None = None  # "beside", "below", or None while hidden
        self._legend_held, self._legend_stale = 0, False  # see _legend_once
        self._place_legend("beside")
        self.graphics.installEventFilter(self)
        self._keys: dict[str, pg.PlotDataItem] = {}
        self._build_lr_axis()
        self.cursor = {
            p: pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#999999", width=1))
            for p in (self.loss_plot, self.acc_plot)
        }
        for plot, line in self.cursor.items():
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
        self._hover = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse_moved
        )

        self.readout = QLabel("Hover over the plots to read the values.")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_list = QListWidget()
        self.run_list.setToolTip("Runs of this project; tick the ones to compare")
        self.run_list.setWordWrap(True)  # "Run 1: adam, lr 0.002, batch 64, 15 epochs" in full
        self.run_list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.run_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.run_list.setMinimumWidth(170)
        self.run_list.itemChanged.connect(self._on_run_toggled)
        self.png_button = QPushButton("Save PNG…")
        self.png_button.clicked.connect(self._ask_png)
        self.csv_button = QPushButton("Save CSV…")
        self.csv_button.clicked.connect(self._ask_csv)
        self.follow_button = QPushButton("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip("Keep the whole run in view as it grows (off after you pan or zoom)")
        self.follow_button.toggled.connect(self.set_following)
        self.legend_button = QPushButton("Legend")
        self.legend_button.setCheckable(True)
        self.legend_button.setChecked(True)
        self.legend_button.setToolTip(
            "Show or hide the legend beside the plots (what each line and marker is)"
        )
        self.legend_button.toggled.connect(self.set_legend_shown)
        for plot in (self.loss_plot, self.acc_plot):
            plot.sigRangeChangedManually.connect(lambda *_: self.set_following(False))

        buttons = QHBoxLayout()
        buttons.addWidget(self.readout, 1)
        buttons.addWidget(self.legend_button)
        buttons.addWidget(self.follow_button)
        buttons.addWidget(self.png_button)
        buttons.addWidget(self.csv_button)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.graphics)
        splitter.addWidget(self.run_list)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([800, 220])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(splitter, 1)
        self.colours = theme.current()
        self.apply_theme(self.colours)
        theme.manager().changed.connect(self.apply_theme)

    # --- building -----------------------------------------------------------------------------

    def _style_plot(self, plot: pg.PlotItem) -> None:
        # Horizontal lines only: the vertical ones doubled the cost of every repaint
        # (each axis's grid is a plot-sized cached pixmap) for little reading help.
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.setMenuEnabled(False)
        plot.hideButtons()  # ranges are ours to keep (see set_following)
        plot.disableAutoRange()
        for axis in ("left", "bottom", "right"):
            item = plot.getAxis(axis)
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            item.enableAutoSIPrefix(False)  # 0.6, not "600 (x0.001)"

    def apply_theme(self, colours: theme.Theme) -> None:
        """Background, axes, labels and legend in the light or the dark theme's colours."""
        self.colours = colours
        self.graphics.setBackground(colours.plot_background)
        text, axis = colours.plot_text, colours.plot_axis
        for plot in (self.loss_plot, self.acc_plot):
            for name in ("left", "bottom", "right"):
                item = plot.getAxis(name)
                item.setPen(axis)
                if not (plot is self.loss_plot and name == "right"):  # the learning rate keeps its grey
                    item.setTextPen(text)
        self.loss_plot.setLabel("left", "loss", color=text)
        self.acc_plot.setLabel("left", "accuracy", color=text)
        self.acc_plot.setLabel("bottom", "step", color=text)
        for line in getattr(self, "cursor", {}).values():
            line.setPen(pg.mkPen(axis, width=1))
        self.legend.setLabelTextColor(text)
        self._rebuild_legend()

    def _build_lr_axis(self) -> None:
        """The learning rate on a second view box tied to the loss plot's right axis."""
        self.lr_view = pg.ViewBox()
        self.loss_plot.showAxis("right")
        self.loss_plot.scene().addItem(self.lr_view)
        right = self.loss_plot.getAxis("right")
        right.linkToView(self.lr_view)
        right.setTextPen(LR_COLOUR)
        right.enableAutoSIPrefix(False)
        right.setStyle(showValues=False)  # until a run says its rate: never a made-up 0..1 scale
        self.lr_view.setXLink(self.loss_plot)
        self.lr_curve = pg.PlotDataItem(pen=pg.mkPen(LR_COLOUR, width=1.5, style=Qt.PenStyle.DotLine))
        self.lr_view.addItem(self.lr_curve)

        def follow() -> None:
            self.lr_view.setGeometry(self.loss_plot.vb.sceneBoundingRect())
            self.lr_view.linkedViewChanged(self.loss_plot.vb, self.lr_view.XAxis)

        self.loss_plot.vb.sigResized.connect(follow)
        follow()

    def _make_items(self, run: RunCurves) -> None:
        colour = QColor(run.colour)
        faint = QColor(colour)
        faint.setAlpha(60)
        items = run.items
        if run.live:
            items["loss"] = _per_step(self.loss_plot.plot(pen=pg.mkPen(faint, width=1)))
        items["smoothed"] = _per_step(self.loss_plot.plot(pen=pg.mkPen(colour, width=2)))
        items["val_loss"] = self.loss_plot.plot(
            pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine),
            symbol="s",
            symbolSize=6,
            symbolBrush=colour,
            symbolPen=None,
        )
        items["val_acc"] = self.acc_plot.plot(
            pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine),
            symbol="s",
            symbolSize=6,
            symbolBrush=colour,
            symbolPen=None,
        )
        if run.live:
            items["train_loss"] = self.loss_plot.plot(
                pen=None, symbol="o", symbolSize=6, symbolBrush=None, symbolPen=pg.mkPen(colour, width=1.5)
            )
            items["accuracy"] = _per_step(self.acc_plot.plot(pen=pg.mkPen(colour, width=2)))
            items["train_acc"] = self.acc_plot.plot(
                pen=None, symbol="o", symbolSize=6, symbolBrush=None, symbolPen=pg.mkPen(colour, width=1.5)
            )

    def _add_run(self, run: RunCurves) -> RunCurves:
        if run.key in self.runs:
            self.remove_run(run.key)
        self.runs[run.key] = run
        self._make_items(run)
        item = QListWidgetItem(run.label)
        item.setData(Qt.ItemDataRole.UserRole, run.key)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if run.visible else Qt.CheckState.Unchecked)
        pixmap = QPixmap(12, 12)
        pixmap.fill(QColor(run.colour))
        item.setIcon(QIcon(pixmap))
        item.setToolTip(run.label)
        self.run_list.blockSignals(True)
        self.run_list.addItem(item)
        self.run_list.blockSignals(False)
        self._rebuild_legend()
        return run

    # --- the legend ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _legend_once(self) -> Iterator[None]:
        """Rebuild the legend once at the end of a change that would rebuild it several times
        (a run beginning retires, removes and adds runs): each entry costs pyqtgraph ~5 ms."""
        self._legend_held += 1
        try:
            yield
        finally:
            self._legend_held -= 1
            if not self._legend_held and self._legend_stale:
                self._rebuild_legend()

    def _rebuild_legend(self) -> None:
        """One entry per shown run ("Run 2"), then what the line styles and markers mean
        (only those on the plots now). Rebuilt when runs come, go or are toggled: rarely."""
        if self._legend_held:
            self._legend_stale = True
            return
        self._legend_stale = False
        legend = self.legend
        legend.clear()
        for run in self.runs.values():
            if run.visible and "smoothed" in run.items:
                legend.addItem(run.items["smoothed"], run.label.split(":")[0])
        if not self.runs:
            return
        grey = QColor(self.colours.plot_text)
        faint = QColor(grey)
        faint.setAlpha(90)
        live = self.current is not None and self.current.live
        keys = []
        if live:
            keys.append(("loss of each step", pg.PlotDataItem(pen=pg.mkPen(faint, width=1))))
        keys.append(("smoothed (per step)", pg.PlotDataItem(pen=pg.mkPen(grey, width=2))))
        keys.append(
            (
                "validation, per epoch",
                pg.PlotDataItem(
                    pen=pg.mkPen(grey, width=1.5, style=Qt.PenStyle.DashLine),
                    symbol="s",
                    symbolSize=6,
                    symbolBrush=grey,
                    symbolPen=pg.mkPen(grey),
                ),
            )
        )
        if live:  # a hollow circle, as on the plots
            keys.append(
                (
                    "training, per epoch",
                    pg.PlotDataItem(
                        pen=None,
                        symbol="o",
                        symbolSize=6,
                        symbolBrush=pg.mkBrush(0, 0, 0, 0),
                        symbolPen=pg.mkPen(grey, width=1.5),
                    ),
                )
            )
        if self._lr_start is not None:
            keys.append(("learning rate (right)", self.lr_curve))
        self._keys = dict(keys)
        for name, item in keys:
            legend.addItem(item, name)

    def set_legend_shown(self, on: bool) -> None:
        """The legend beside the plots (on), or the plots alone with its room (off)."""
        if self.legend_button.isChecked() != on:
            self.legend_button.setChecked(on)  # comes back here through ``toggled``
            return
        self._place_legend(self._fitting_place() if on else None)

    def _fitting_place(self) -> str:
        return "beside" if self.graphics.width() >= LEGEND_BESIDE_MIN else "below"

    def _place_legend(self, place: str | None) -> None:
        """Beside the plots in a column, below them in a row of three columns, or hidden."""
        if place == self.legend_place:
            return
        layout = self.graphics.ci
        if self.legend in layout.items:
            layout.removeItem(self.legend)
        self.legend_place = place
        if place is None:
            return
        self.legend.setColumnCount(1 if place == "beside" else 2)
        if place == "beside":
            self.graphics.addItem(self.legend, row=0, col=1, rowspan=2)
            layout.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop)
        else:
            self.graphics.addItem(self.legend, row=2, col=0)
            layout.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignHCenter)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.graphics and event.type() == QEvent.Type.Resize and self.legend_place is not None:
            self._place_legend(self._fitting_place())
        return False

    # --- feeding ---------------------------------------------------------------------------------

    def begin_run(
        self,
        key: int,
        label: str,
        steps_per_epoch: int,
        history: History | None = None,
        total_steps: int = 0,
        lr: float | None = None,
    ) -> None:
        """Start showing a live run; ``history`` holds what a resumed run did before. With
        ``total_steps`` the step axis never grows past the run's planned end (see _fit_ranges);
        with ``lr`` (the run's starting rate) the learning-rate axis is right from the first update.
        A run made ready by ``prepare_run`` keeps its curves: only its figures are filled in."""
        self._first_paints_left = FIRST_PAINTS
        prepared = self.current
        if prepared is not None and prepared.key == key and prepared.live and prepared.prepared:
            prepared.prepared = False
            self._fill_prepared(prepared, label, steps_per_epoch, total_steps, lr)
            if history is not None:  # else nothing new to draw: the run's points come next
                self._append(prepared, history.points)
                prepared.epochs = list(history.epochs)
                self.refresh()
            return
        with self._legend_once():  # with the keys of a live run's faint loss and training markers
            if self.current is not None and self.current.key != key:
                self._retire(self.current)
            self.remove_run(key)  # a resumed run redraws its whole history
            self._forget_lr()
            self._start_rate(lr)
            self.current = self._add_run(
                RunCurves(
                    key,
                    label,
                    self.colour_for(key),
                    max(1, steps_per_epoch),
                    live=True,
                    total_steps=total_steps,
                )
            )
            if history is not None:
                self._append(self.current, history.points)
                self.current.epochs = list(history.epochs)
            self.refresh()

    def prepare_run(self, key: int, label: str, lr: float | None = None) -> None:
        """Make a run's curves and legend entry as Train is pressed, before the run has begun:
        that costs pyqtgraph ~35 ms, which would otherwise stall the run's first update."""
        self.begin_run(key, label, 1, lr=lr)
        self.current.prepared = True

    def drop_prepared(self) -> None:
        """The run made ready never began (it failed to start): its empty curves go."""
        if self.current is not None and self.current.prepared:
            self.remove_run(self.current.key)

    def _fill_prepared(
        self, run: RunCurves, label: str, steps_per_epoch: int, total_steps: int, lr: float | None
    ) -> None:
        run.steps_per_epoch = max(1, steps_per_epoch)
        run.total_steps = total_steps
        if label != run.label:
            run.label = label
            item = self._list_row(run.key)
            if item is not None:
                item.setText(label)
                item.setToolTip(label)
        had_rate = self._lr_start is not None
        if lr != self._lr_start and self._start_rate(lr) and not had_rate:
            self._rebuild_legend()  # with the learning rate's key

    def _start_rate(self, lr: float | None) -> bool:
        """The live run's starting learning rate, which scales the rate axis; False when unknown."""
        if lr is None or not math.isfinite(lr) or lr <= 0:
            return False
        self._lr_start = float(lr)
        self._set_lr_top(float(lr))
        return True

    def _list_row(self, key: int) -> QListWidgetItem | None:
        """The run list's row of run ``key``."""
        for row in range(self.run_list.count()):
            if self.run_list.item(row).data(Qt.ItemDataRole.UserRole) == key:
                return self.run_list.item(row)
        return None

    def add_points(self, points: StepPoints) -> None:
        if self.current is not None and len(points):
            self._append(self.current, points)

    def add_epochs(self, records: Iterable[EpochRecord]) -> None:
        if self.current is not None:
            self.current.epochs.extend(records)

    def add_record(self, record: RunRecord, visible: bool = True) -> None:
        """A past run from the project file: its smoothed loss and per-epoch figures."""
        run = RunCurves(
            record.number,
            record.label,
            self.colour_for(record.number),
            record.steps_per_epoch,
            live=False,
            visible=visible,
        )
        run.steps.append(record.curve_steps)
        run.smoothed.append(record.curve_loss)
        run.epochs = list(record.epochs)
        self._add_run(run)
        self._draw(run)
        self._set_visible(run, visible)
        self._fit_ranges()

    def remove_run(self, key: int) -> None:
        run = self.runs.pop(key, None)
        if run is None:
            return
        for item in run.items.values():
            (self.acc_plot if item in self.acc_plot.items else self.loss_plot).removeItem(item)
        item = self._list_row(key)
        if item is not None:
            self.run_list.takeItem(self.run_list.row(item))
        if self.current is run:
            self.current = None
            self._forget_lr()
        self._rebuild_legend()

    def clear_past(self) -> None:
        """Forget every run except the live one."""
        for key in [k for k, r in self.runs.items() if r is not self.current]:
            self.remove_run(key)

    def clear(self) -> None:
        """Forget every run, the last one trained too (another project was opened)."""
        for key in list(self.runs):
            self.remove_run(key)
        self.readout.setText("Hover over the plots to read the values.")
        for line in self.cursor.values():
            line.setVisible(False)
        self._ranges = None

    def refresh(self) -> None:
        """Push the current run's data to its curves (once per worker update)."""
        # Every paint since the last refresh is its cost: pyqtgraph paints twice after a refresh
        # whose ranges change the axes. Not so a run's first two rounds of paints: the new curves'
        # (pyqtgraph fills its caches) and its first data's, up to 34 ms against 4-15 ms later,
        # would hold the plots back for seconds just as the loss falls fastest.
        painted = self.graphics.take_painting()
        if painted and self._first_paints_left:
            self._first_paints_left -= 1
        elif painted:
            self._paint_seconds = [*self._paint_seconds[-1:], painted]
        began = time.perf_counter()
        if self.current is not None:
            self._draw(self.current)
        self._fit_ranges()
        self._refresh_seconds = [*self._refresh_seconds[-1:], time.perf_counter() - began]

    @property
    def redraw_seconds(self) -> float:
        """What a redraw costs the GUI thread: pushing the data to the curves and painting them
        (every paint until the next redraw). The cheaper of the last two of each, so one slow
        redraw (a run's first, a busy machine) does not count as the usual cost."""
        refresh = min(self._refresh_seconds, default=0.0)
        paint = min(self._paint_seconds, default=0.0)  # kept from the last run until this one's come
        return refresh + paint

    # --- ranges ----------------------------------------------------------------------------------

    def set_following(self, on: bool) -> None:
        """Keep every visible run in view (on), or leave the ranges where the user put them."""
        self.following = on
        if self.follow_button.isChecked() != on:
            self.follow_button.blockSignals(True)
            self.follow_button.setChecked(on)
            self.follow_button.blockSignals(False)
        if on:
            self._ranges = None
            self._fit_ranges()

    def _fit_ranges(self) -> None:
        if not self.following:
            return
        shown = [r for r in self.runs.values() if r.visible and (len(r.steps) or r.total_steps)]
        if not shown:
            return
        # The step axis grows ahead of the data to a round 1, 2 or 5 (never past the planned end),
        # so a long run is not a sliver at the left, and the axis changes only when the data has
        # filled 80% of it: each change draws the axes again and re-samples every curve. It starts
        # at MIN_EPOCHS_SHOWN epochs: a short run's axis never moves.
        ends = []
        for r in shown:
            done = float(r.steps.values[-1]) if len(r.steps) else 0.0
            ahead = nice_ceil(max(1.25 * done, MIN_EPOCHS_SHOWN * r.steps_per_epoch), COARSE_STEPS)
            ends.append(min(ahead, nice_ceil(1.02 * r.total_steps)) if r.total_steps else ahead)
        last = max(ends)
        losses = [r.loss_high for r in shown] + [
            v for r in shown for v in _finite(r.epoch_values("val_loss"))
        ]
        high = max(losses)
        low = min([0.0] + [r.loss_low for r in shown])
        bottom = -nice_ceil(-1.05 * low) if low < 0 else 0.0
        top = nice_ceil(1.05 * high) if high > bottom else bottom + 1.0
        wanted = (last, bottom, top)
        if wanted == self._ranges:  # moves in steps: the cached axes stay valid in between
            return
        # Only what changed, in one call: each change re-samples every curve of the linked plots.
        before, self._ranges = self._ranges, wanted
        changed = {}
        if before is None or before[0] != last:
            changed["xRange"] = (0, last)
        if before is None or before[1:] != (bottom, top):
            changed["yRange"] = (bottom, top)
        self.loss_plot.setRange(padding=0, **changed)

    @staticmethod
    def colour_for(key: int) -> str:
        return RUN_COLOURS[(key - 1) % len(RUN_COLOURS)]

    def _append(self, run: RunCurves, points: StepPoints) -> None:
        finite = points.smoothed[np.isfinite(points.smoothed)]
        if finite.size:
            run.loss_high = max(run.loss_high, float(finite.max()))
            run.loss_low = min(run.loss_low, float(finite.min()))
        run.steps.append(points.steps.astype(np.float64))
        run.loss.append(points.loss)
        run.smoothed.append(points.smoothed)
        run.accuracy.append(run.smoother(points.accuracy))

    def _draw(self, run: RunCurves) -> None:
        items, steps = run.items, run.steps.values
        if "loss" in items:
            items["loss"].setData(steps, run.loss.values)
        items["smoothed"].setData(steps, run.smoothed.values)
        if "accuracy" in items:
            _set(items["accuracy"], steps, run.accuracy.values)
        if run.drawn_epochs != len(run.epochs):  # epoch curves change once an epoch
            run.drawn_epochs = len(run.epochs)
            self._draw_epochs(run)
        if run is self.current:
            self._draw_lr(run)

    def _draw_epochs(self, run: RunCurves) -> None:
        """Per-epoch figures. A marker costs ~3 µs per point on every redraw (pyqtgraph rebuilds all
        of a scatter's spots), and a fast run has hundreds of epochs: past MAX_EPOCH_MARKERS the
        validation curves are plain lines through every epoch and the training markers thin out."""
        items, epoch_x = run.items, run.epoch_steps()
        many = len(epoch_x) > MAX_EPOCH_MARKERS
        keep = _thinned(len(epoch_x), MAX_EPOCH_MARKERS) if many else slice(None)
        for name in ("val_loss", "val_acc"):
            if name in items:
                item = items[name]
                if many != (item.opts["symbol"] is None):
                    item.setSymbol(None if many else "s")
                _set(item, epoch_x, run.epoch_values(name))
        for name in ("train_loss", "train_acc"):
            if name in items:
                _set(items[name], epoch_x[keep], run.epoch_values(name)[keep])

    def _draw_lr(self, run: RunCurves) -> None:
        """The rate holds for a whole epoch: a step line from each epoch's first to its last
        step, and the epoch in progress at the last known rate up to the newest step."""
        epoch_x = run.epoch_steps()
        lr = run.epoch_values("lr")
        xs = np.stack([epoch_x - run.steps_per_epoch, epoch_x], axis=1).reshape(-1)
        ys = np.repeat(lr, 2)
        done = float(run.steps.values[-1]) if len(run.steps) else 0.0
        now = float(lr[-1]) if len(lr) else self._lr_start
        if now is not None and math.isfinite(now) and done > (float(epoch_x[-1]) if len(epoch_x) else 0.0):
            start = float(epoch_x[-1]) if len(epoch_x) else done - len(run.steps)
            xs, ys = np.append(xs, [max(0.0, start), done]), np.append(ys, [now, now])
        if not len(xs):
            return
        self.lr_curve.setData(xs, ys)
        if np.isfinite(ys).any():
            if self._lr_start is None:  # a run begun without its rate: known from its first epoch
                self._lr_start = float(np.nanmax(ys))
                self._rebuild_legend()
            self._set_lr_top(float(np.nanmax(ys)))

    def _set_lr_top(self, highest: float) -> None:
        top = nice_ceil(1.1 * highest)
        right = self.loss_plot.getAxis("right")
        if top != self._lr_top:  # from zero: a constant rate reads as one
            self._lr_top = top
            self.lr_view.setYRange(0.0, top, padding=0)
            right.setStyle(showValues=True)
            right.setLabel("lr", color=LR_COLOUR)  # short: a short plot cuts a long vertical label

    def _forget_lr(self) -> None:
        """No live run: no learning-rate curve and no scale on its axis."""
        self._lr_start = None
        self._lr_top = 0.0
        self.lr_curve.setData([], [])
        right = self.loss_plot.getAxis("right")
        right.setStyle(showValues=False)
        right.setLabel("")

    def _retire(self, run: RunCurves) -> None:
        """The live run is over: keep only its comparable curves, drawn like a past run's."""
        for name in ("loss", "train_loss", "train_acc", "accuracy"):
            item = run.items.pop(name, None)
            if item is not None:
                (self.acc_plot if name in ("train_acc", "accuracy") else self.loss_plot).removeItem(item)
        run.live = False
        self._rebuild_legend()

    # --- visibility ---------------------------------------------------------------------------

    def _on_run_toggled(self, item: QListWidgetItem) -> None:
        run = self.runs.get(item.data(Qt.ItemDataRole.UserRole))
        if run is not None:
            self._set_visible(run, item.checkState() == Qt.CheckState.Checked)
            self._fit_ranges()

    def _set_visible(self, run: RunCurves, visible: bool) -> None:
        changed = run.visible != visible
        run.visible = visible
        for item in run.items.values():
            item.setVisible(visible)
        if changed:
            self._rebuild_legend()

    # --- hover -----------------------------------------------------------------------------------

    def _on_mouse_moved(self, args: tuple) -> None:
        pos = args[0]
        for plot in (self.loss_plot, self.acc_plot):
            if plot.sceneBoundingRect().contains(pos):
                x = plot.vb.mapSceneToView(pos).x()
                self.show_values_at(x)
                return

    def show_values_at(self, step: float) -> str:
        """Move the cursor line to ``step`` and show the values there; returns the text."""
        run = self.current or next((r for r in reversed(self.runs.values()) if r.visible), None)
        if run is None or not len(run.steps):
            return ""
        steps = run.steps.values
        i = int(np.clip(np.searchsorted(steps, step), 0, len(steps) - 1))
        if i > 0 and abs(steps[i - 1] - step) < abs(steps[i] - step):
            i -= 1
        at = steps[i]
        parts = [f"<b>{run.label.split(':')[0]}</b> step {int(at):,}"]
        if len(run.loss):
            parts.append(f"loss {run.loss.values[i]:.4f}")
        parts.append(f"smoothed {run.smoothed.values[i]:.4f}")
        if len(run.accuracy) and math.isfinite(run.accuracy.values[i]):
            parts.append(f"accuracy {100 * run.accuracy.values[i]:.1f}%")
        epoch = min(len(run.epochs), math.ceil(at / run.steps_per_epoch))
        if epoch >= 1 and run.epochs:
            r = run.epochs[epoch - 1]
            text = f"epoch {r.epoch}: val loss {r.val_loss:.4f}"
            if math.isfinite(r.val_acc):
                text += f", val accuracy {100 * r.val_acc:.1f}%"
            parts.append(text + f", lr {r.lr:g}")
        for line in self.cursor.values():
            line.setPos(at)
            line.setVisible(True)
        text = " · ".join(parts)
        self.readout.setText(text)
        return text

    # --- export --------------------------------------------------------------------------------

    def export_png(self, path: str | Path) -> Path:
        """The plots and the legend beside them, on the theme's background."""
        exporter = pg.exporters.ImageExporter(self.graphics.scene())
        exporter.parameters()["background"] = QColor(self.colours.plot_background)
        exporter.parameters()["width"] = max(800, self.graphics.width())
        exporter.export(str(path))
        return Path(path)

    def export_csv(self, path: str | Path) -> Path:
        """Every visible run's steps and epochs in one table (blank where a column does not apply)."""
        columns = [
            "run",
            "step",
            "epoch",
            "loss",
            "smoothed_loss",
            "accuracy",
            "train_loss",
            "train_acc",
            "val_loss",
            "val_acc",
            "lr",
        ]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for run in self.runs.values():
                if not run.visible:
                    continue
                has_raw = len(run.loss) == len(run.steps)
                for i, step in enumerate(run.steps.values):
                    writer.writerow(
                        [
                            run.key,
                            int(step),
                            "",
                            _cell(run.loss.values[i]) if has_raw else "",
                            _cell(run.smoothed.values[i]),
                            _cell(run.accuracy.values[i]) if has_raw else "",
                            "",
                            "",
                            "",
                            "",
                            "",
                        ]
                    )
                for r in run.epochs:
                    writer.writerow(
                        [
                            run.key,
                            r.epoch * run.steps_per_epoch,
                            r.epoch,
                            "",
                            "",
                            "",
                            _cell(r.train_loss),
                            _cell(r.train_acc),
                            _cell(r.val_loss),
                            _cell(r.val_acc),
                            _cell(r.lr),
                        ]
                    )
        return Path(path)

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plot as PNG", "training.png", "PNG images (*.png)")
        if path:
            self.export_png(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save metrics as CSV", "metrics.csv", "CSV files (*.csv)")
        if path:
            self.export_csv(path)


def nice_ceil(value: float, steps: tuple[float, ...] = NICE_STEPS) -> float:
    """The smallest of ``steps`` (by default 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8) × 10^k that is
    at least ``value``."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(step * scale for step in (*steps, 10.0) if step * scale >= value * (1 - 1e-12))


def _finite(values: np.ndarray) -> list[float]:
    return values[np.isfinite(values)].tolist()


def _per_step(item: pg.PlotDataItem) -> pg.PlotDataItem:
    """A curve with a point per step: drawn downsampled to about a point per pixel."""
    item.opts["autoDownsampleFactor"] = SAMPLES_PER_PIXEL  # no setter; read on every redraw
    return item


def _set(item: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
    """A task without accuracy has only NaN there: draw nothing rather than a NaN curve."""
    if len(y) and not np.isfinite(y).any():
        x, y = x[:0], y[:0]
    item.setData(x, y)


def _thinned(n: int, most: int) -> np.ndarray:
    """About ``most`` evenly spread indices of ``n`` (every k-th epoch, so markers stay put as
    epochs come), the last always among them."""
    step = math.ceil(n / most)
    every = np.arange(step - 1, n, step)
    # Not np.unique: its first call imports a NumPy module, 20 ms on the GUI thread mid-run.
    return every if len(every) and every[-1] == n - 1 else np.append(every, n - 1)


def _cell(value: float) -> str:
    value = float(value)
    return "" if not math.isfinite(value) else f"{value:.6g}"
