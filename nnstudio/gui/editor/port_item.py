"""A port: the round handle on a node where a wire starts or ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nnstudio.gui import theme

if TYPE_CHECKING:
    from nnstudio.gui.editor.node_item import NodeItem

VALID = "valid"
INVALID = "invalid"


class PortItem(QGraphicsItem):
    """An input (left edge, ``index`` = port number) or the output (right edge)."""

    RADIUS = 5.5
    HIT = 11.0  # generous hit area: ports are small targets

    def __init__(self, node_item: NodeItem, is_output: bool, index: int = 0) -> None:
        super().__init__(node_item)
        self.node_item = node_item
        self.is_output = is_output
        self.index = index
        self.connected = False
        self.highlight: str | None = None  # VALID / INVALID while a wire hovers it
        self._hover = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    def anchor(self) -> QPointF:
        """Where wires attach, in scene coordinates."""
        return self.scenePos()

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self.update()

    def set_highlight(self, highlight: str | None) -> None:
        if highlight != self.highlight:
            self.highlight = highlight
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-self.HIT, -self.HIT, 2 * self.HIT, 2 * self.HIT)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(self.boundingRect())
        return path

    def hoverEnterEvent(self, event) -> None:
        self._hover = True
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:
        self._hover = False
        self.update()
        super().hoverLeaveEvent(event)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < 0.35:
            return  # far out, ports are noise
        colours = theme.current()
        accent = colours.category_color(self.node_item.category)
        radius = self.RADIUS + (1.5 if self._hover or self.highlight else 0.0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.highlight:
            ring = colours.color("valid" if self.highlight == VALID else "error")
            painter.setPen(QPen(ring, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(0, 0), radius + 3, radius + 3)
        painter.setPen(QPen(accent, 1.6))
        painter.setBrush(accent if self.connected else colours.color("port"))
        painter.drawEllipse(QPointF(0, 0), radius, radius)
