"""Toolbar icons drawn in the palette's text colour, so they suit both themes and
stay sharp at any scale (each is drawn at several sizes)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QApplication

_SIZES = (16, 24, 32, 48, 64)


def _draw(paint: Callable[[QPainter, QColor], None]) -> QIcon:
    colour = QApplication.palette().windowText().color()
    icon = QIcon()
    for size in _SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(size / 24, size / 24)  # draw on a 24 x 24 grid
        paint(painter, colour)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def _pen(colour: QColor, width: float = 2.0) -> QPen:
    return QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)


def _undo(painter: QPainter, colour: QColor, mirror: bool = False) -> None:
    if mirror:
        painter.translate(24, 0)
        painter.scale(-1, 1)
    path = QPainterPath(QPointF(6, 10))
    path.cubicTo(QPointF(10, 5), QPointF(19, 6), QPointF(19, 13))
    path.cubicTo(QPointF(19, 17), QPointF(16, 19), QPointF(12, 19))
    painter.setPen(_pen(colour))
    painter.drawPath(path)
    painter.setBrush(colour)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawPolygon(QPolygonF([QPointF(3, 11), QPointF(9, 4), QPointF(10.5, 12.5)]))


def _fit(painter: QPainter, colour: QColor) -> None:
    painter.setPen(_pen(colour))
    for x, y, dx, dy in ((3, 3, 1, 1), (21, 3, -1, 1), (3, 21, 1, -1), (21, 21, -1, -1)):
        painter.drawLine(QPointF(x, y), QPointF(x + 5 * dx, y))
        painter.drawLine(QPointF(x, y), QPointF(x, y + 5 * dy))
    painter.drawRoundedRect(QRectF(8, 9, 8, 6), 1.5, 1.5)


def _layout(painter: QPainter, colour: QColor) -> None:
    painter.setPen(_pen(colour, 1.6))
    boxes = [QRectF(2, 9, 5, 6), QRectF(10, 4, 5, 6), QRectF(10, 14, 5, 6), QRectF(18, 9, 5, 6)]
    for a, b in ((0, 1), (0, 2), (1, 3), (2, 3)):
        painter.drawLine(boxes[a].center(), boxes[b].center())
    painter.setBrush(colour)
    for box in boxes:
        painter.drawRoundedRect(box, 1, 1)


def undo_icon() -> QIcon:
    return _draw(_undo)


def redo_icon() -> QIcon:
    return _draw(lambda p, c: _undo(p, c, mirror=True))


def fit_icon() -> QIcon:
    return _draw(_fit)


def layout_icon() -> QIcon:
    return _draw(_layout)
