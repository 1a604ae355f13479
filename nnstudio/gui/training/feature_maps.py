"""What one layer makes of one sample: its activation maps, live.

Click a layer on the canvas or pick it in the layer box (inside an opened
block, the box lists the layers of every copy the block stands for, by path:
``layer2.0/conv1``); choose the sample with the spin box.
Each map is stretched to its own range and drawn on the magma ramp (dark is
low, bright is high). Image-like outputs give one tile per channel; a sequence
(channels, length) gives one strip per channel; a flat vector is folded into
a near-square tile so a hidden layer's 120 units fit on screen.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from nnstudio.gui.training.images import colorize, describe_sample, sample_picture, unit_range
from nnstudio.gui.training.progress_widgets import StatusText
from nnstudio.gui.training.tiles import TileGrid
from nnstudio.training.payloads import FeatureMaps

EMPTY = "Click a layer on the canvas to see its activation maps for the sample on the left."


class FeatureMapView(QWidget):
    sample_changed = Signal(int)  # index into the validation set
    layer_picked = Signal(str)  # a node id, or an instance path inside a block

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The title changes with every picture: a repaint, never a relayout of the window.
        self.title = StatusText("Feature maps", rich=True)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("The layer whose activations to show (or click one on the canvas)")
        # Long names (paths inside blocks) elide rather than widen the dock past the window.
        self.layer_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_box.setMinimumContentsLength(18)
        self.layer_box.setMaxVisibleItems(20)
        self.layer_box.activated.connect(self._on_layer_picked)
        self._layers: list[tuple[str, str]] = []
        self.sample_spin = QSpinBox()
        self.sample_spin.setRange(0, 0)
        self.sample_spin.setPrefix("sample ")
        self.sample_spin.setToolTip("Which validation sample to feed the network")
        self.sample_spin.valueChanged.connect(self.sample_changed)
        self.sample_tile = TileGrid(self, min_tile=8)
        self.sample_tile.setFixedSize(96, 96)
        self.sample_text = QLabel()
        self.sample_text.setWordWrap(True)
        self.sample_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        self.grid = TileGrid(self)
        self.grid.set_empty_text(EMPTY)
        self.payload: FeatureMaps | None = None

        side = QVBoxLayout()
        side.addWidget(self.sample_spin)
        side.addWidget(self.sample_tile)
        side.addWidget(self.sample_text, 1)
        body = QHBoxLayout()
        body.addLayout(side)
        body.addWidget(self.grid, 1)
        picker = QHBoxLayout()
        picker.addWidget(QLabel("Layer"))
        picker.addWidget(self.layer_box)
        picker.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(picker)
        layout.addWidget(self.title)
        layout.addLayout(body, 1)

    def set_layers(self, layers: list[tuple[str, str]], current: str | None) -> None:
        """The layers to offer as (key, label), and the one shown now."""
        if layers != self._layers:
            self._layers = list(layers)
            self.layer_box.clear()
            for key, label in layers:
                self.layer_box.addItem(label, key)
        self.layer_box.setCurrentIndex(self.layer_box.findData(current) if current is not None else -1)

    @property
    def layer_keys(self) -> list[str]:
        return [key for key, _label in self._layers]

    def _on_layer_picked(self, index: int) -> None:
        key = self.layer_box.itemData(index)
        if key is not None:
            self.layer_picked.emit(key)

    @property
    def sample_index(self) -> int:
        return self.sample_spin.value()

    def show_maps(self, payload: FeatureMaps) -> None:
        self.payload = payload
        # Only a new range: setting one lays the window out again.
        if payload.samples and payload.samples - 1 != self.sample_spin.maximum():
            self.sample_spin.blockSignals(True)
            self.sample_spin.setMaximum(payload.samples - 1)
            self.sample_spin.blockSignals(False)
        picture = sample_picture(payload.sample)
        if picture is not None:
            self.sample_tile.set_tiles([picture])
            self.sample_text.setText(f"label {payload.truth}" if payload.truth else "")
        else:
            self.sample_tile.set_empty_text("")
            text = describe_sample(payload.sample)
            self.sample_text.setText(f"{text}\nlabel {payload.truth}" if payload.truth else text)
        if payload.error:
            self.title.setText(f"<b>{payload.label}</b>")
            self.grid.set_empty_text(payload.error)
            return
        tiles, what = map_tiles(payload.maps)
        self.grid.set_tiles(tiles)
        self.title.setText(
            f"<b>{payload.label}</b> on validation sample {payload.sample_index}: {what}"
            f" · step {payload.step:,}"
        )

    def clear(self, text: str = EMPTY) -> None:
        self.payload = None
        self.set_layers([], None)  # another project's layers come with its first run
        self.title.setText("Feature maps")
        self.grid.set_empty_text(text)


def map_tiles(maps: np.ndarray) -> tuple[list[np.ndarray], str]:
    """Colour tiles for a layer's output and a few words saying what they are."""
    if maps.ndim == 3:
        c, h, w = maps.shape
        return [colorize(unit_range(m)) for m in maps], f"{c} map{'s' if c != 1 else ''} of {h}×{w}"
    if maps.ndim == 2:  # (channels, length) or (length, features): one strip per row
        rows, length = maps.shape
        strip = colorize(unit_range(maps))
        return [strip], f"{rows}×{length} values"
    flat = maps.reshape(-1)
    side = max(1, math.ceil(math.sqrt(flat.size)))
    square = np.full(side * side, np.nan, np.float32)
    square[: flat.size] = flat
    scaled = unit_range(square[: flat.size])
    square[: flat.size] = scaled
    square = np.nan_to_num(square, nan=0.0).reshape(side, side)
    return [colorize(square)], f"{flat.size} units"
