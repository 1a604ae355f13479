"""The decision boundary of a network trained on two-dimensional data, drawn live.

As in TensorFlow Playground, but for whatever architecture the graph holds:
the plane is coloured by the class the network predicts at each point,
paler where it is unsure, and the validation points are drawn on top in
their true class's colour.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from nnstudio.gui.training.payloads import Boundary

EMPTY = "The decision boundary is drawn for classifiers of two-dimensional data (circles, moons)."

# Distinct, colour-blind-friendly class colours (Okabe–Ito).
CLASS_COLOURS = np.array([
    (0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167),
    (86, 180, 233), (213, 94, 0), (240, 228, 66), (0, 0, 0),
], dtype=np.float32) / 255.0


def class_colour(index: int) -> tuple[int, int, int]:
    r, g, b = CLASS_COLOURS[index % len(CLASS_COLOURS)]
    return int(r * 255), int(g * 255), int(b * 255)


def boundary_image(classes: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """RGB (h, w, 3) in 0..255: the class colour, blended towards white where the network
    is unsure (confidence 1/classes) and full where it is certain."""
    k = max(2, int(classes.max()) + 1)
    certainty = np.clip((confidence - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)[..., None]
    strength = 0.25 + 0.5 * certainty  # never fully saturated: the points must stand out
    colours = CLASS_COLOURS[classes % len(CLASS_COLOURS)]
    rgb = 1.0 - strength * (1.0 - colours)
    return (rgb * 255).astype(np.uint8)


class BoundaryView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(EMPTY)
        self.title.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setAspectLocked(False)
        self.plot.showGrid(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.scatter = pg.ScatterPlotItem(size=7, pen=pg.mkPen(255, 255, 255, 200, width=1))
        self.plot.addItem(self.scatter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        self.payload: Boundary | None = None
        self._framed = False

    def show_boundary(self, payload: Boundary) -> None:
        first = self.payload is None
        self.payload = payload
        self.image.setImage(boundary_image(payload.classes, payload.confidence), autoLevels=False,
                            levels=(0, 255))
        x0, x1 = float(payload.xs[0]), float(payload.xs[-1])
        y0, y1 = float(payload.ys[0]), float(payload.ys[-1])
        self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        if first or not self._framed:
            brushes = [pg.mkBrush(*class_colour(int(c))) for c in payload.labels]
            self.scatter.setData(pos=payload.points, brush=brushes)
            self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            self._framed = True
        names = ", ".join(f"{name}" for name in payload.class_names)
        self.title.setText(f"Decision boundary at step {payload.step:,} ({names}); "
                           "paler where the network is unsure.")

    def clear(self) -> None:
        self.payload = None
        self._framed = False
        self.image.clear()
        self.scatter.clear()
        self.title.setText(EMPTY)
