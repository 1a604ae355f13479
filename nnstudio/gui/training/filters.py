"""The filters a convolution has learned, as a grid of kernels that updates while training.

The first convolution shows one tile per filter, in colour when the network
sees RGB images. A deeper convolution (picked on the canvas) shows one row per
filter and one tile per input channel, because its kernels mix many channels
that have no colour of their own. Grey is a zero weight, white the filter's
largest positive weight, black its most negative one.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from nnstudio.gui.training.payloads import Filters
from nnstudio.gui.training.tiles import TileGrid

EMPTY = "Train a network with a convolution layer to see its filters here."


class FilterView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Filters")
        self.title.setWordWrap(True)
        self.grid = TileGrid(self)
        self.grid.set_empty_text(EMPTY)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.grid, 1)
        self.payload: Filters | None = None

    def show_filters(self, payload: Filters | str) -> None:
        if isinstance(payload, str):  # a sentence: why there is nothing to show
            self.payload = None
            self.title.setText("Filters")
            self.grid.set_empty_text(payload)
            return
        self.payload = payload
        tiles, columns = filter_tiles(payload)
        self.grid.set_tiles(tiles, columns=columns)
        k = payload.kernels
        size = "×".join(str(d) for d in k.shape[2:])
        channels = "RGB" if payload.rgb else f"{k.shape[1]} input channel{'s' if k.shape[1] != 1 else ''}"
        layout = "" if columns is None else " (a row per filter, a column per input channel)"
        self.title.setText(f"<b>{payload.label}</b>: {k.shape[0]} filters of {size}, {channels}{layout}"
                           f" · step {payload.step:,}")

    def clear(self) -> None:
        self.payload = None
        self.title.setText("Filters")
        self.grid.set_empty_text(EMPTY)


def filter_tiles(payload: Filters) -> tuple[list[np.ndarray], int | None]:
    """The tiles to draw and the grid's column count (None: let the grid choose)."""
    k = payload.kernels
    if k.ndim == 3:  # Conv1d (out, in, length): each filter one (in, length) strip
        return [k[i] for i in range(k.shape[0])], None
    if payload.rgb:
        return [np.transpose(k[i], (1, 2, 0)) for i in range(k.shape[0])], None
    if k.shape[1] == 1:
        return [k[i, 0] for i in range(k.shape[0])], None
    return [k[i, j] for i in range(k.shape[0]) for j in range(k.shape[1])], k.shape[1]
