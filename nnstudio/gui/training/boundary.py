"""The decision boundary of a network trained on two-dimensional data, drawn live.

As in TensorFlow Playground, but for whatever architecture the graph holds:
the plane is coloured by the class the network predicts at each point,
paler where it is unsure, and the validation points are drawn on top in
their true class's colour. Beside it, what each hidden neuron computes over
the same plane (see neurons.py). A small network's boundary is redrawn
several times a second while it trains (see inspections.py).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from nnstudio.gui import theme
from nnstudio.gui.training.neurons import NeuronPanel
from nnstudio.gui.training.plane import PlaneView
from nnstudio.gui.training.progress_widgets import StatusText
from nnstudio.training.payloads import Boundary

EMPTY = "The decision boundary is drawn for classifiers of two-dimensional data (circles, moons)."

# Distinct, colour-blind-friendly class colours (Okabe–Ito).
CLASS_COLOURS = (
    np.array(
        [
            (0, 114, 178),
            (230, 159, 0),
            (0, 158, 115),
            (204, 121, 167),
            (86, 180, 233),
            (213, 94, 0),
            (240, 228, 66),
            (0, 0, 0),
        ],
        dtype=np.float32,
    )
    / 255.0
)


def class_colour(index: int) -> tuple[int, int, int]:
    r, g, b = CLASS_COLOURS[index % len(CLASS_COLOURS)]
    return int(r * 255), int(g * 255), int(b * 255)


def boundary_image(
    classes: np.ndarray, confidence: np.ndarray, background: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> np.ndarray:
    """RGB (h, w, 3) in 0..255: the class colour, blended towards the background (white in the
    light theme) where the network is unsure (confidence 1/classes) and full where it is certain."""
    k = max(2, int(classes.max()) + 1)
    certainty = np.clip((confidence - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)[..., None]
    strength = 0.25 + 0.5 * certainty  # never fully saturated: the points must stand out
    colours = CLASS_COLOURS[classes % len(CLASS_COLOURS)]
    base = np.asarray(background, np.float32)
    rgb = base + strength * (colours - base)
    return (rgb * 255).astype(np.uint8)


class BoundaryView(QWidget):
    layer_picked = Signal(object)  # the neuron panel's layer: a node id, or None for all

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = StatusText(EMPTY)  # changes with every picture: a repaint, never a relayout
        self.plane = PlaneView()  # the points are drawn once; each picture is one scaled image
        self.neurons = NeuronPanel()
        self.neurons.layer_picked.connect(self.layer_picked)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plane)
        splitter.addWidget(self.neurons)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)
        self.payload: Boundary | None = None
        self.updates = 0  # pictures shown: how live the view is
        self._apply_theme(theme.current())
        theme.manager().changed.connect(self._apply_theme)

    @property
    def neuron_layer(self) -> str | None:
        return self.neurons.picked

    def _apply_theme(self, colours: theme.Theme) -> None:
        self.colours = colours
        self.plane.set_colours(colours)
        if self.payload is not None:
            payload, self.payload = self.payload, None
            self.show_boundary(payload)

    def show_boundary(self, payload: Boundary) -> None:
        first = self.payload is None
        self.payload = payload
        self.updates += 1
        background = QColor(self.colours.plot_background).getRgbF()[:3]
        extent = (float(payload.xs[0]), float(payload.xs[-1]), float(payload.ys[0]), float(payload.ys[-1]))
        self.plane.set_plane(boundary_image(payload.classes, payload.confidence, background), extent)
        if first:  # the points stay put while the run trains
            self.plane.set_points(payload.points, [class_colour(c) for c in payload.labels.tolist()])
        names = ", ".join(f"{name}" for name in payload.class_names)
        self.title.setText(
            f"Decision boundary at step {payload.step:,} ({names}); paler where the network is unsure."
        )
        self.neurons.show_neurons(payload)

    def clear(self) -> None:
        self.payload = None
        self.plane.clear()
        self.title.setText(EMPTY)
        self.neurons.clear()
