"""A wire: a smooth curve from an output port to an input port, labelled with
the shape of the tensor it carries. Where layers stand in the way, the wire
takes the detour ``core.layout.route_wire`` finds, drawn with rounded corners."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PySide6.QtWidgets import QApplication, QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nnstudio.core.graph import Edge
from nnstudio.core.layout import MAX_OBSTACLES, Box, Curve, curve_hits, route_wire
from nnstudio.gui import theme
from nnstudio.gui.editor.node_item import TEXT_LOD, NodeItem
from nnstudio.gui.editor.port_item import PortItem

ARROW = 7.0
SPAN = 60.0  # how far around a wire's two ends boxes are looked for


CORNER = 14.0


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """A horizontal-tangent cubic curve; wires that run backwards loop out wide."""
    (c1x, c1y), (c2x, c2y) = Curve((start.x(), start.y()), (end.x(), end.y())).controls
    path = QPainterPath(start)
    path.cubicTo(QPointF(c1x, c1y), QPointF(c2x, c2y), end)
    return path


def routed_path(points: list[tuple[float, float]]) -> QPainterPath:
    """A polyline through ``points`` with its corners rounded."""
    corners = [QPointF(x, y) for x, y in points]
    path = QPainterPath(corners[0])
    for before, corner, after in zip(corners, corners[1:], corners[2:], strict=False):
        into, out = corner - before, after - corner
        radius = min(CORNER, _length(into) / 2, _length(out) / 2)
        path.lineTo(corner - into * (radius / max(_length(into), 1e-9)))
        path.quadTo(corner, corner + out * (radius / max(_length(out), 1e-9)))
    path.lineTo(corners[-1])
    return path


def _length(p: QPointF) -> float:
    return (p.x() ** 2 + p.y() ** 2) ** 0.5


class EdgeItem(QGraphicsItem):
    """The drawing of one Edge; it follows its two nodes as they move."""

    _font: QFont | None = None
    _metrics: QFontMetricsF | None = None

    def __init__(
        self, edge: Edge, source: NodeItem, target: NodeItem, label: str = "", route: bool = True
    ) -> None:
        """``route=False``: no path yet; the scene routes the wire when the event loop runs (a
        graph being opened is usually laid out first, and every path computed before is lost)."""
        super().__init__()
        if EdgeItem._font is None:
            EdgeItem._font = QFont(QApplication.font())
            EdgeItem._font.setPointSizeF(7.5)
            EdgeItem._metrics = QFontMetricsF(EdgeItem._font)
        self.edge = edge
        self.source = source
        self.target = target
        self.label = label
        self._path = QPainterPath()
        self._middle = QPointF()
        self._label_rect = QRectF()
        self._label_width = ("", 0.0)
        self._bounds = QRectF()
        self._hover = False
        # The scene answers "which boxes stand near this rectangle" so the wire can go around them.
        self.obstacles: Callable[[QRectF, tuple[NodeItem, ...]], list[Box]] | None = None
        # Told after each new path, so the scene can index where this wire now reaches.
        self.rerouted: Callable[[EdgeItem], None] | None = None
        self._span = QRectF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(0)
        source.edges.add(self)
        target.edges.add(self)
        if route:
            self.update_path()

    def detach(self) -> None:
        self.source.edges.discard(self)
        self.target.edges.discard(self)

    def set_label(self, label: str) -> None:
        if label != self.label:
            self.label = label
            self.prepareGeometryChange()
            self._place_label()
            self.update()

    def update_path(self) -> None:
        start = self.source.output_anchor()
        # End at the port's rim so the arrowhead shows beside the port, not under it.
        end = self.target.input_anchor(self.edge.port) - QPointF(PortItem.RADIUS + 1, 0)
        self.prepareGeometryChange()
        tip = end - QPointF(ARROW, 0)
        self._span = QRectF(start, tip).normalized().adjusted(-SPAN, -SPAN, SPAN, SPAN)
        route = self._route(start, tip)
        self._path = routed_path(route) if route else wire_path(start, tip)
        self._path.lineTo(end)
        self._middle = self._path.pointAtPercent(0.5)
        self._place_label()
        self.update()
        if self.rerouted is not None:
            self.rerouted(self)

    def reach(self) -> QRectF:
        """Where a box could change this wire's route: its drawn path, and the room
        around its two ends in which ``_route`` looks for boxes in the way."""
        return self._bounds.united(self._span)

    def _route(self, start: QPointF, end: QPointF) -> list[tuple[float, float]]:
        """Corner points around the boxes in the way, or [] for the plain curve."""
        if self.obstacles is None:
            return []
        span = QRectF(start, end).normalized().adjusted(-SPAN, -SPAN, SPAN, SPAN)
        boxes = self.obstacles(span, (self.source, self.target))
        a, b = (start.x(), start.y()), (end.x(), end.y())
        if not boxes and end.x() > start.x() + 60:
            return []
        if len(boxes) > MAX_OBSTACLES:
            return []  # layers piled on each other (not laid out yet): nothing sensible to route
        if end.x() > start.x() + 60 and not curve_hits(a, b, boxes):
            return []  # the curve stays inside the span: the boxes beyond it cannot be in its way
        if boxes or end.x() <= start.x() + 60:  # the detour may need lanes above or below
            boxes = self.obstacles(span.adjusted(-40, -1000, 40, 1000), (self.source, self.target))
        ends = [
            (r.left(), r.top(), r.right(), r.bottom())
            for r in (self.source.sceneBoundingRect(), self.target.sceneBoundingRect())
        ]
        return route_wire(a, b, boxes, ends)

    def _place_label(self) -> None:
        if self.label:
            metrics = EdgeItem._metrics
            if self._label_width[0] != self.label:  # measured once per label, not once per route
                self._label_width = (self.label, metrics.horizontalAdvance(self.label))
            width = self._label_width[1] + 10
            height = metrics.height() + 4
            middle = self._middle
            self._label_rect = QRectF(middle.x() - width / 2, middle.y() - height / 2, width, height)
        else:
            self._label_rect = QRectF()
        self._bounds = self._path.boundingRect().adjusted(-ARROW, -ARROW, ARROW, ARROW)
        if self.label:
            self._bounds = self._bounds.united(self._label_rect)

    def path(self) -> QPainterPath:
        return self._path

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        outline = stroker.createStroke(self._path)
        if self.label:
            outline.addRect(self._label_rect)
        return outline

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
        colours = theme.current()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        selected = self.isSelected()
        colour = colours.color("selection" if selected else "edge")
        width = 2.6 if selected or self._hover else 1.7
        if lod < TEXT_LOD:
            painter.setPen(QPen(colour, 0))  # cosmetic hairline: cheap when far out
            painter.drawPath(self._path)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        end = self._path.currentPosition()
        painter.setBrush(colour)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon(
            QPolygonF([end, end + QPointF(-ARROW - 2, -ARROW / 1.6), end + QPointF(-ARROW - 2, ARROW / 1.6)])
        )
        if self.label:
            painter.setPen(QPen(colour, 1.0))
            painter.setBrush(colours.color("label_bg"))
            painter.drawRoundedRect(self._label_rect, 4, 4)
            painter.setFont(EdgeItem._font)
            painter.setPen(colours.color("label_text"))
            painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.label)
