"""The plane under a decision boundary: a picture of the classes, the data points, two axes.

A plain widget rather than a pyqtgraph plot, because the picture changes five
times a second while a tiny network trains on another thread of this process.
pyqtgraph paints through hundreds of Python calls (every item's bounding box
and paint, every axis), and each one takes Python's global lock from the
training thread; here a new picture is one Python call that draws one scaled
image and one cached pixmap holding the axes and the points, which change
only when the plane, the points, the size or the theme do.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from nnstudio.gui import theme

POINT_DIAMETER = 7.0  # pixels, whatever the zoom: the points must stay visible
TICK_LENGTH = 4
MOST_TICKS = 6
Coordinate = float | np.ndarray  # one point, or many at once


def nice_ticks(low: float, high: float, most: int = MOST_TICKS) -> list[float]:
    """As many round values between ``low`` and ``high`` as fit in ``most`` (steps of 1, 2 or 5
    times a power of ten)."""
    span = high - low
    if not (math.isfinite(span) and span > 0) or most < 1:
        return []
    power = 10.0 ** math.floor(math.log10(span / most))
    for step in (m * power * k for k in (1, 10, 100) for m in (1, 2, 5)):
        first = math.ceil(low / step - 1e-9) * step
        count = math.floor((high - first) / step + 1e-9) + 1
        if count <= most:
            return [round(first + i * step, 12) for i in range(count)]
    return []


def tick_text(value: float) -> str:
    return f"{value:g}" if value != 0 else "0"


class PlaneView(QWidget):
    """``set_plane`` shows a class picture over a rectangle of the plane (equal units on both
    axes, so circles look round); ``set_points`` the data drawn on top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel is painted
        self.setMinimumSize(200, 160)
        self._picture: QImage | None = None
        self._extent: tuple[float, float, float, float] | None = None  # x0, x1, y0, y1
        self._points = np.zeros((0, 2), np.float32)
        self._brushes: list[QColor] = []
        self._overlay: QPixmap | None = None  # axes and points, at the widget's size
        self._overlay_key: tuple | None = None
        self.overlays_drawn = 0  # times the axes and points were drawn again: what a test counts
        self.colours = theme.current()

    # --- what it shows ------------------------------------------------------------------------

    @property
    def extent(self) -> tuple[float, float, float, float] | None:
        """(x0, x1, y0, y1): the rectangle of the plane the picture covers."""
        return self._extent

    @property
    def picture_shape(self) -> tuple[int, int] | None:
        """(rows, columns) of the class picture shown."""
        return None if self._picture is None else (self._picture.height(), self._picture.width())

    @property
    def point_count(self) -> int:
        return len(self._points)

    def set_plane(self, rgb: np.ndarray, extent: tuple[float, float, float, float]) -> None:
        """``rgb`` (rows, columns, 3) uint8 with row 0 at the bottom (y0), as the grid runs."""
        top_down = np.ascontiguousarray(rgb[::-1], dtype=np.uint8)
        h, w = top_down.shape[:2]
        self._picture = QImage(top_down.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        if extent != self._extent:
            self._extent = extent
            self._overlay_key = None
        self.update()

    def set_points(self, points: np.ndarray, colours: list[tuple[int, int, int]]) -> None:
        """The data points (n, 2) and each one's colour."""
        self._points = np.asarray(points, np.float32).reshape(-1, 2)
        self._brushes = [QColor(*c) for c in colours]
        self._overlay_key = None
        self.update()

    def set_colours(self, colours: theme.Theme) -> None:
        self.colours = colours
        self._overlay_key = None
        self.update()

    def clear(self) -> None:
        self._picture = None
        self._extent = None
        self._points = np.zeros((0, 2), np.float32)
        self._brushes = []
        self._overlay_key = None
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(360, 300)

    # --- geometry ----------------------------------------------------------------------------------

    def plot_rect(self) -> QRectF:
        """Where the plane is drawn: the largest rectangle of its proportions that leaves room
        for the tick labels, centred."""
        metrics = QFontMetrics(self.font())
        left = metrics.horizontalAdvance("-0.00") + TICK_LENGTH + 6
        bottom = metrics.height() + TICK_LENGTH + 4
        room = QRectF(left, 6, max(1.0, self.width() - left - 10), max(1.0, self.height() - bottom - 6))
        if self._extent is None:
            return room
        x0, x1, y0, y1 = self._extent
        aspect = (y1 - y0) / (x1 - x0) if x1 > x0 and y1 > y0 else 1.0
        width = min(room.width(), room.height() / aspect)
        height = width * aspect
        return QRectF(
            room.left() + (room.width() - width) / 2, room.top() + (room.height() - height) / 2, width, height
        )

    def to_pixels(self, x: float, y: float) -> QPointF:
        """Where the plane's point (x, y) is drawn in the widget."""
        px, py = self._pixels(self.plot_rect(), x, y)
        return QPointF(px, py)

    def _pixels(self, rect: QRectF, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
        """Widget pixels of plane coordinates ``x`` and ``y`` drawn in ``rect``."""
        x0, x1, y0, y1 = self._extent or (0.0, 1.0, 0.0, 1.0)
        return (
            rect.left() + (x - x0) / (x1 - x0) * rect.width(),
            rect.bottom() - (y - y0) / (y1 - y0) * rect.height(),
        )

    # --- painting ------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(self.colours.plot_background))
        if self._picture is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self.plot_rect(), self._picture)
        painter.drawPixmap(0, 0, self._current_overlay())
        painter.end()

    def _current_overlay(self) -> QPixmap:
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio, self._extent, id(self.colours))
        if self._overlay is None or key != self._overlay_key:
            self._overlay_key = key
            self._overlay = self._draw_overlay(ratio)
        return self._overlay

    def _draw_overlay(self, ratio: float) -> QPixmap:
        self.overlays_drawn += 1
        pixmap = QPixmap(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self._extent is not None:
            self._draw_axes(painter)
            self._draw_points(painter)
        painter.end()
        return pixmap

    def _draw_axes(self, painter: QPainter) -> None:
        rect = self.plot_rect()
        x0, x1, y0, y1 = self._extent
        painter.setPen(QPen(QColor(self.colours.plot_axis), 1))
        painter.drawRect(rect)
        metrics = QFontMetrics(self.font())
        text = QColor(self.colours.plot_text)
        for value in nice_ticks(x0, x1, max(3, min(MOST_TICKS, int(rect.width() // 45)))):
            at = self.to_pixels(value, y0).x()
            painter.setPen(QColor(self.colours.plot_axis))
            painter.drawLine(QPointF(at, rect.bottom()), QPointF(at, rect.bottom() + TICK_LENGTH))
            label = tick_text(value)
            painter.setPen(text)
            painter.drawText(
                QPointF(
                    at - metrics.horizontalAdvance(label) / 2,
                    rect.bottom() + TICK_LENGTH + metrics.ascent() + 1,
                ),
                label,
            )
        for value in nice_ticks(y0, y1, max(3, min(MOST_TICKS, int(rect.height() // 35)))):
            at = self.to_pixels(x0, value).y()
            painter.setPen(QColor(self.colours.plot_axis))
            painter.drawLine(QPointF(rect.left() - TICK_LENGTH, at), QPointF(rect.left(), at))
            label = tick_text(value)
            painter.setPen(text)
            painter.drawText(
                QPointF(
                    rect.left() - TICK_LENGTH - 3 - metrics.horizontalAdvance(label),
                    at + metrics.ascent() / 2 - 1,
                ),
                label,
            )

    def _draw_points(self, painter: QPainter) -> None:
        if not len(self._points):
            return
        outline = QColor(self.colours.plot_background)
        outline.setAlpha(220)
        painter.setPen(QPen(outline, 1))
        radius = POINT_DIAMETER / 2
        rect = self.plot_rect()
        painter.setClipRect(rect.adjusted(-radius, -radius, radius, radius))
        xs, ys = self._pixels(rect, self._points[:, 0], self._points[:, 1])
        for x, y, brush in zip(xs.tolist(), ys.tolist(), self._brushes, strict=False):
            painter.setBrush(brush)
            painter.drawEllipse(QPointF(x, y), radius, radius)
