"""Sample captions under small tiles read from their start instead of being clipped at both ends."""

import numpy as np
from PySide6.QtGui import QFontMetricsF

from nnstudio.gui.training.tiles import GAP, TileGrid


def test_a_long_caption_is_elided_to_its_tile(qtbot):
    grid = TileGrid(min_tile=8)
    qtbot.addWidget(grid)
    grid.resize(320, 90)
    captions = ["horizontal bar"] * 8
    grid.set_tiles([np.zeros((8, 8))] * 8, captions, columns=8)
    _cols, _rows, side = grid.grid()
    room = side + 2 * GAP
    text = grid.fitted_caption(0, room)
    metrics = QFontMetricsF(grid.font())
    assert metrics.horizontalAdvance("horizontal bar") > room  # the case that used to clip
    assert metrics.horizontalAdvance(text) <= room
    assert text.startswith("h") and text.endswith("…")


def test_a_short_caption_is_kept_whole(qtbot):
    grid = TileGrid()
    qtbot.addWidget(grid)
    grid.resize(320, 120)
    grid.set_tiles([np.zeros((8, 8))] * 2, ["3", "7"], columns=2)
    assert grid.fitted_caption(1, 60) == "7"
