"""How the validation set was classified at the end of the last epoch.

A confusion matrix (rows: true class, columns: predicted class; the darker a
cell, the larger its share of that row) and a grid of misclassified samples,
each captioned "true → predicted".
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from nnstudio.gui import theme
from nnstudio.gui.training.images import describe_sample, sample_picture
from nnstudio.gui.training.tiles import TileGrid
from nnstudio.training.payloads import ConfusionResult

EMPTY = "Train a classifier to see here how the validation samples were classified after each epoch."


class ConfusionMatrix(QWidget):
    """The matrix itself, painted: counts in cells shaded by their share of the row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix: np.ndarray | None = None
        self.names: tuple[str, ...] = ()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)

    def set_matrix(self, matrix: np.ndarray, names: tuple[str, ...]) -> None:
        self.matrix, self.names = matrix, names
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        if self.matrix is None or self.matrix.size == 0:
            return
        k = self.matrix.shape[0]
        metrics = QFontMetricsF(self.font())
        label_w = min(90.0, max(metrics.horizontalAdvance(n) for n in self.names) + 8)
        top = metrics.height() * 2 + 4
        side = max(4.0, min((self.width() - label_w - 8) / k, (self.height() - top - 8) / k))
        rows = self.matrix.sum(axis=1, keepdims=True).clip(min=1)
        share = self.matrix / rows
        accent = theme.current().color("selection")
        text = palette.color(QPalette.ColorRole.Text)
        painter.setPen(text)
        painter.drawText(
            QRectF(label_w, 0, side * k, metrics.height()), Qt.AlignmentFlag.AlignCenter, "predicted"
        )
        show_counts = side >= metrics.horizontalAdvance(str(int(self.matrix.max()))) + 4
        for j, name in enumerate(self.names):
            painter.drawText(
                QRectF(label_w + j * side, metrics.height(), side, metrics.height()),
                Qt.AlignmentFlag.AlignCenter,
                metrics.elidedText(name, Qt.TextElideMode.ElideRight, side),
            )
        for i in range(k):
            y = top + i * side
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y, label_w - 6, side),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                metrics.elidedText(self.names[i], Qt.TextElideMode.ElideRight, label_w - 6),
            )
            for j in range(k):
                cell = QRectF(label_w + j * side, y, side - 1, side - 1)
                colour = QColor(accent)
                colour.setAlphaF(float(0.08 + 0.92 * share[i, j]) if self.matrix[i, j] else 0.04)
                painter.fillRect(cell, colour)
                if show_counts and self.matrix[i, j]:
                    painter.setPen(QColor("white") if share[i, j] > 0.5 else text)
                    painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, str(int(self.matrix[i, j])))


class ConfusionView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(EMPTY)
        self.title.setWordWrap(True)
        self.matrix = ConfusionMatrix(self)
        self.wrong_title = QLabel("")
        self.wrong = TileGrid(self)
        self.wrong.set_empty_text("")
        wrong_box = QWidget()
        wrong_layout = QVBoxLayout(wrong_box)
        wrong_layout.setContentsMargins(0, 0, 0, 0)
        wrong_layout.addWidget(self.wrong_title)
        wrong_layout.addWidget(self.wrong, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.matrix)
        splitter.addWidget(wrong_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)
        self.payload: ConfusionResult | None = None

    def show_confusion(self, payload: ConfusionResult | str) -> None:
        if isinstance(payload, str):
            self.clear(payload)
            return
        self.payload = payload
        self.matrix.set_matrix(payload.matrix, payload.class_names)
        total = int(payload.matrix.sum())
        self.title.setText(
            f"Validation set after epoch {payload.epoch}: {100 * payload.accuracy:.1f}% of "
            f"{total:,} samples right, {payload.wrong_total:,} wrong."
        )
        pictures = [sample_picture(w.sample) for w in payload.wrong]
        if payload.wrong and all(p is not None for p in pictures):
            self.wrong.set_tiles(pictures, [f"{w.truth}→{w.predicted}" for w in payload.wrong])
        else:
            lines = [
                f"#{w.index} {describe_sample(w.sample)}: {w.truth}→{w.predicted}" for w in payload.wrong
            ]
            self.wrong.set_empty_text("\n".join(lines[:12]))
        shown = len(payload.wrong)
        self.wrong_title.setText(
            f"Misclassified (true→predicted), {shown} of {payload.wrong_total:,}:"
            if payload.wrong_total
            else "Every validation sample is classified right."
        )

    def clear(self, text: str = EMPTY) -> None:
        self.payload = None
        self.matrix.set_matrix(np.zeros((0, 0), np.int64), ())
        self.title.setText(text)
        self.wrong_title.setText("")
        self.wrong.set_empty_text("")
