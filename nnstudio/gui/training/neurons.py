"""What each hidden neuron of a 2-D network computes over the plane, live.

TensorFlow Playground draws a small picture on every neuron of its dense
networks; this does it for any architecture whose input is a point of the
plane: each hidden layer is a row of thumbnails, one per unit, each showing
the unit's output at every point of the decision-boundary plot (same axes,
same orientation). Blue is positive, orange negative, the background colour
zero; a layer's thumbnails share one scale, so a weak unit looks weak.

Wide layers show their first units in the overview; the picker (or a click
on a row) shows one layer with all its units, up to a cap.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from nnstudio.gui import theme
from nnstudio.gui.training.progress_widgets import StatusText
from nnstudio.gui.training.tiles import TileGrid
from nnstudio.training.payloads import Boundary, NeuronLayer

POSITIVE = np.array((8, 119, 189), np.float32) / 255.0  # Playground's blue
NEGATIVE = np.array((232, 125, 22), np.float32) / 255.0  # and its orange
GAP = 4
LEVELS = 255  # shades from -1 to 1 in a thumbnail's colour table (odd: zero is one of them)
ALL_LAYERS = "All hidden layers"
NO_HIDDEN = (
    "This network has no hidden layer: it can only draw a straight boundary. Add a Linear layer "
    "and an activation between the input and the output to bend it."
)


def neuron_image(values: np.ndarray, background: QColor) -> np.ndarray:
    """-1..1 values (..., h, w) to RGB (..., h, w, 3) in 0..1: blue positive, orange negative,
    the background at zero. Rows are flipped so y grows upwards, as on the boundary plot."""
    base = np.array(background.getRgbF()[:3], np.float32)
    t = np.clip(np.nan_to_num(values[..., ::-1, :]), -1.0, 1.0)[..., None]
    towards = np.where(t >= 0, POSITIVE, NEGATIVE)
    return (base + np.abs(t) * (towards - base)).astype(np.float32)


def neuron_images(values: np.ndarray, background: QColor) -> list[QImage]:
    """``neuron_image`` of a whole layer's units (n, h, w) as n QImages, through a colour
    table: one NumPy pass for the layer, several times a second, on the GUI thread."""
    if not len(values):
        return []
    ramp = np.linspace(-1.0, 1.0, LEVELS, dtype=np.float32)
    table = np.round(255 * neuron_image(ramp.reshape(1, LEVELS), background)[0]).astype(np.uint8)
    t = np.clip(np.nan_to_num(values[:, ::-1, :]), -1.0, 1.0)
    index = ((t + 1.0) * ((LEVELS - 1) / 2) + 0.5).astype(np.uint8)  # rounded: 0..LEVELS - 1
    rgb = np.take(table, index, axis=0)  # (n, h, w, 3), contiguous
    n, h, w = t.shape
    return [QImage(rgb[i].data, w, h, 3 * w, QImage.Format.Format_RGB888).copy() for i in range(n)]


class NeuronRows(QWidget):
    """Every hidden layer: a line with its name, then its units' thumbnails, wrapped onto as many
    lines as make them largest in the space there is. Clicking a layer picks it."""

    row_clicked = Signal(str)  # node id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, str, list[QImage], int]] = []  # (node id, label, thumbnails, units)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 60)

    def set_rows(self, rows: list[tuple[str, str, list[QImage], int]]) -> None:
        self.rows = rows
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, 200)

    def layout_rows(self) -> tuple[float, int, list[float]]:
        """(thumbnail side, columns, each layer's top): the largest side at which every layer's
        header line and wrapped thumbnails fit the widget's height."""
        header = self.fontMetrics().height() + 2
        width, height = self.width() - GAP, self.height() - GAP
        best = (4.0, max(1, int(width // (4 + GAP))))
        for side in range(96, 3, -1):
            cols = max(1, int((width + GAP) // (side + GAP)))
            needed = sum(
                header + math.ceil(len(images) / cols) * (side + GAP) for _, _, images, _ in self.rows
            )
            if needed <= height:
                best = (float(side), cols)
                break
        side, cols = best
        tops, y = [], GAP / 2
        for _, _, images, _ in self.rows:
            tops.append(y)
            y += header + math.ceil(len(images) / cols) * (side + GAP)
        return side, cols, tops

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        side, cols, tops = self.layout_rows()
        metrics = painter.fontMetrics()
        header = metrics.height() + 2
        frame = palette.color(QPalette.ColorRole.Mid)
        text = palette.color(QPalette.ColorRole.Text)
        dim = palette.color(QPalette.ColorRole.PlaceholderText)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        for (_node, label, images, units), top in zip(self.rows, tops, strict=True):
            count = (
                f"{len(images)} of {units} units"
                if units > len(images)
                else f"{units} unit{'s' * (units != 1)}"
            )
            count_w = metrics.horizontalAdvance(count) + 8
            painter.setPen(text)
            name = metrics.elidedText(
                label, Qt.TextElideMode.ElideMiddle, max(20, self.width() - count_w - 8)
            )
            painter.drawText(
                QRectF(GAP, top, self.width() - 2 * GAP, header),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                name,
            )
            painter.setPen(dim)
            painter.drawText(
                QRectF(GAP, top, self.width() - 2 * GAP, header),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                count,
            )
            for i, image in enumerate(images):
                row, col = divmod(i, cols)
                target = QRectF(GAP + col * (side + GAP), top + header + row * (side + GAP), side, side)
                painter.drawImage(target, image)
                painter.setPen(frame)
                painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        _side, _cols, tops = self.layout_rows()
        y = event.position().y()
        for (node_id, *_rest), top in zip(reversed(self.rows), reversed(tops), strict=True):
            if y >= top:
                self.row_clicked.emit(node_id)
                return


class NeuronPanel(QWidget):
    """The thumbnails beside the decision boundary, with the layer picker."""

    layer_picked = Signal(object)  # a node id, or None for every hidden layer

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<b>Neurons</b>")
        self.title.setToolTip("What each unit of each hidden layer outputs at every point of the plane")
        self.picker = QComboBox()
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setMinimumContentsLength(14)
        self.picker.setToolTip("Show every hidden layer, or all units of one layer")
        self.picker.addItem(ALL_LAYERS, None)
        self.picker.activated.connect(self._on_picked)
        self.rows = NeuronRows()
        self.rows.row_clicked.connect(self.pick)
        self.tiles = TileGrid(min_tile=8)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.rows)
        self.stack.addWidget(self.tiles)
        self.key = StatusText()  # changes with every picture: a repaint, never a relayout
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.picker, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.key)
        self._layers: tuple[tuple[str, str, int], ...] = ()
        self.picked: str | None = None
        self.thumbnails = 0  # thumbnails shown now

    # --- picking ----------------------------------------------------------------------------

    def pick(self, node_id: str | None) -> None:
        """Show one layer in full (a node id) or every hidden layer (None)."""
        if node_id == self.picked:
            return
        self.picked = node_id
        index = self.picker.findData(node_id) if node_id is not None else 0
        self.picker.setCurrentIndex(max(0, index))
        self.layer_picked.emit(node_id)

    def _on_picked(self, index: int) -> None:
        self.pick(self.picker.itemData(index))

    def _update_picker(self, layers: tuple[tuple[str, str, int], ...]) -> None:
        if layers == self._layers:
            return
        self._layers = layers
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItem(ALL_LAYERS, None)
        for node_id, label, units in layers:
            self.picker.addItem(f"{label} ({units} units)" if units else label, node_id)
        index = self.picker.findData(self.picked) if self.picked is not None else 0
        self.picker.setCurrentIndex(max(0, index))
        self.picker.blockSignals(False)

    # --- showing ----------------------------------------------------------------------------

    def show_neurons(self, payload: Boundary) -> None:
        self._update_picker(payload.layers)
        self.picker.setEnabled(bool(payload.layers))
        background = QColor(theme.current().plot_background)
        if not payload.neurons:
            self.rows.set_rows([])
            self.tiles.set_empty_text(NO_HIDDEN if not payload.layers else "")
            self.stack.setCurrentWidget(self.tiles)
            self.key.setText("")
            self.thumbnails = 0
            return
        if payload.picked is not None and payload.picked == self.picked:
            (layer,) = payload.neurons
            images = neuron_images(layer.units, background)
            self.tiles.set_images(images, [str(i + 1) for i in range(len(images))])
            self.stack.setCurrentWidget(self.tiles)
            shown = (
                f"first {len(images)} of {layer.total} units"
                if layer.total > len(images)
                else f"{layer.total} units"
            )
            self.key.setText(f"{layer.label}, {shown}. " + _key(layer))
            self.thumbnails = len(images)
            return
        rows = [
            (
                layer.node_id,
                layer.label,
                neuron_images(layer.units, background),
                layer.total,
            )
            for layer in payload.neurons
        ]
        self.rows.set_rows(rows)
        self.stack.setCurrentWidget(self.rows)
        hidden = len(payload.layers) - len(payload.neurons)
        more = f" {hidden} more layer{'s' * (hidden != 1)} in the picker." if hidden > 0 else ""
        self.key.setText(_key(payload.neurons[0]) + " Click a layer to see all its units." + more)
        self.thumbnails = sum(len(images) for _, _, images, _ in rows)

    def clear(self) -> None:
        self.rows.set_rows([])
        self.tiles.set_empty_text("")
        self.key.setText("")
        self._update_picker(())
        self.thumbnails = 0


def _key(layer: NeuronLayer) -> str:
    return f"Blue > 0, orange < 0 (full at {layer.peak:.2g})."
