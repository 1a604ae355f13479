"""A grid of small images with optional captions: filters, feature maps, samples.

Tiles are drawn pixelated (nearest neighbour), as large as the widget allows,
so a 5×5 kernel reads as 25 clear squares rather than a blur.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFontMetricsF, QImage, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from nnstudio.gui.training.images import to_qimage

GAP = 4  # pixels between tiles


class TileGrid(QWidget):
    """Shows ``set_tiles`` images in rows; ``columns`` fixes the grid width when given."""

    def __init__(self, parent: QWidget | None = None, min_tile: int = 12) -> None:
        super().__init__(parent)
        self.images: list[QImage] = []
        self.captions: list[str] = []
        self.columns: int | None = None
        self.empty_text = ""
        self._min_tile = min_tile
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 80)
        # paintEvent fills every pixel: Qt need not paint the widgets underneath first.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_tiles(
        self, tiles: Sequence[np.ndarray], captions: Sequence[str] = (), columns: int | None = None
    ) -> None:
        """``tiles``: 0..1 arrays, (h, w) grey or (h, w, 3) colour, all drawn the same size."""
        self.set_images([to_qimage(t) for t in tiles], captions, columns)

    def set_images(
        self, images: Sequence[QImage], captions: Sequence[str] = (), columns: int | None = None
    ) -> None:
        """Tiles already made into images, all drawn the same size."""
        self.images = list(images)
        self.captions = list(captions)
        self.columns = columns
        self.update()

    def set_empty_text(self, text: str) -> None:
        """What to say while there is nothing to show."""
        self.empty_text = text
        self.images, self.captions = [], []
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 240)

    # --- layout ----------------------------------------------------------------------------

    def grid(self) -> tuple[int, int, float]:
        """(columns, rows, tile side in pixels) that fit the tiles into the widget."""
        n = len(self.images)
        if n == 0:
            return 0, 0, 0.0
        first = self.images[0]
        aspect = first.width() / max(1, first.height())
        caption = self._caption_height()
        if self.columns:
            options = [self.columns]
        else:
            options = range(1, n + 1)
        best = (1, n, 0.0)
        for cols in options:
            rows = math.ceil(n / cols)
            side_w = (self.width() - GAP * (cols + 1)) / cols / aspect
            side_h = (self.height() - GAP * (rows + 1) - caption * rows) / rows
            side = min(side_w, side_h)
            if side > best[2]:
                best = (cols, rows, side)
        return best

    def _caption_height(self) -> float:
        return QFontMetricsF(self.font()).height() if any(self.captions) else 0.0

    def fitted_caption(self, index: int, room: float) -> str:
        """Caption ``index`` elided to ``room`` pixels: "horizontal…" rather than a centred
        text clipped at both ends ("zontal")."""
        metrics = QFontMetricsF(self.font())
        return metrics.elidedText(self.captions[index], Qt.TextElideMode.ElideRight, room)

    # --- painting ----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        if not self.images:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                self.rect().adjusted(8, 8, -8, -8),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.empty_text,
            )
            return
        cols, _rows, side = self.grid()
        side = max(side, 1.0)
        first = self.images[0]
        aspect = first.width() / max(1, first.height())
        # Whole device pixels per image pixel where possible: crisp squares.
        scale = side / max(1, first.height())
        if scale >= 2:
            side = math.floor(scale) * first.height()
        width, caption = side * aspect, self._caption_height()
        total_w = cols * width + (cols - 1) * GAP
        left = max(GAP, (self.width() - total_w) / 2)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        frame = palette.color(QPalette.ColorRole.Mid)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        for i, image in enumerate(self.images):
            row, col = divmod(i, cols)
            x = left + col * (width + GAP)
            y = GAP + row * (side + caption + GAP)
            target = QRectF(x, y, width, side)
            painter.drawImage(target, image)
            painter.setPen(frame)  # tiles of similar grey stay apart
            painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            if i < len(self.captions) and self.captions[i]:
                painter.drawText(
                    QRectF(x - GAP, y + side, width + 2 * GAP, caption),
                    Qt.AlignmentFlag.AlignCenter,
                    self.fitted_caption(i, width + 2 * GAP),
                )
