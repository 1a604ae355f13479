"""A node on the canvas: type, name, key parameters, output shape, parameter count.

The item's origin is the middle of its left edge, so nodes laid out on one row
line up by their centres whatever their heights, and wires between them run
straight. Text is laid out when the node changes, not on every paint, and far
out (level of detail) only the coloured box is drawn.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nnstudio.core.blocks import ENABLED
from nnstudio.core.graph import Node
from nnstudio.core.layers import LayerSpec, format_shape
from nnstudio.core.validation import Diagnostic
from nnstudio.gui import theme
from nnstudio.gui.editor.port_item import PortItem
from nnstudio.gui.text import param_text, short_count

if TYPE_CHECKING:
    from nnstudio.gui.editor.edge_item import EdgeItem

WIDTH = 160.0  # leaves 100 px between layout columns for the wire's shape label
HEADER = 24.0
LINE = 16.0
FOOTER = 22.0
PAD = 8.0
PORT_GAP = 18.0
MAX_PARAM_LINES = 6  # the Inception module's six settings all show
TEXT_LOD = 0.45  # below this zoom, draw boxes with only the name, large
NAME_LOD = 0.12  # below this, boxes only


class _Fonts:
    """Fonts shared by every node, made once the application exists."""

    title: QFont
    small: QFont
    body: QFont
    ready = False

    @classmethod
    def ensure(cls) -> None:
        if cls.ready:
            return
        base = QApplication.font()
        cls.title = QFont(base)
        cls.title.setPointSizeF(9.5)
        cls.title.setBold(True)
        cls.small = QFont(base)
        cls.small.setPointSizeF(7.5)
        cls.body = QFont(base)
        cls.body.setPointSizeF(8.5)
        cls.overview = QFont(base)
        cls.overview.setPointSizeF(16)
        cls.overview.setBold(True)
        cls.metrics = {
            "title": QFontMetricsF(cls.title),
            "small": QFontMetricsF(cls.small),
            "body": QFontMetricsF(cls.body),
            "overview": QFontMetricsF(cls.overview),
        }
        cls.ready = True


@functools.lru_cache(maxsize=4096)
def _advance(font: str, text: str) -> float:
    """Text widths, measured once: a 1,000-node graph asks for the same few shapes thousands
    of times as it opens."""
    return _Fonts.metrics[font].horizontalAdvance(text)


def input_port_count(spec: LayerSpec, used: set[int]) -> int:
    """Ports to draw: every fixed input, or for Concat/Add the wired ones plus a free one."""
    if spec.max_inputs is not None:
        return spec.max_inputs
    return max(spec.min_inputs, max(used) + 2 if used else 0)


class NodeItem(QGraphicsItem):
    """The drawing of one graph node; it reads the model, never edits it."""

    def __init__(self, node: Node, used_ports: set[int] | None = None) -> None:
        super().__init__()
        _Fonts.ensure()
        self.node = node
        self.spec = node.spec
        self.category = self.spec.category
        self.edges: set[EdgeItem] = set()
        self.inputs: list[PortItem] = []
        self.output: PortItem | None = PortItem(self, True) if self.spec.has_output else None
        self.shape_value: tuple[int, ...] | None = None
        self.parameters: int | None = None
        self.diagnostics: tuple[Diagnostic, ...] = ()
        self._used_ports: set[int] = set(used_ports or ())
        self._lines: list[tuple[str, str]] = []
        self._shape_text = "→ ?"
        self._params_text = ""
        self._rect = QRectF()
        self._bounds = QRectF()
        self._shown_repeat = 0
        self.bypassed = False  # inside a block: switched off for the instance it was opened from
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.setPos(QPointF(*node.position))
        self.refresh()

    @property
    def node_id(self) -> str:
        return self.node.id

    # --- model -> item ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read name and parameters (after a rename or a parameter change)."""
        params = self.node.params
        lines = [(name, param_text(params[name])) for name in self.spec.key_params if name in params]
        if self.node.enabled is not True:  # a conditional node inside a block says when it is on
            lines.insert(0, (ENABLED, param_text(self.node.enabled)))
        if len(lines) > MAX_PARAM_LINES:
            lines = [*lines[: MAX_PARAM_LINES - 1], ("…", f"{len(lines) - MAX_PARAM_LINES + 1} more")]
        self._lines = lines
        self._relayout()

    def set_used_ports(self, used: set[int]) -> None:
        """The input ports that have a wire; variadic nodes grow a free port."""
        self._used_ports = set(used)
        if len(self.inputs) != input_port_count(self.spec, used):
            self._relayout()  # only the number of ports changes the geometry
        for port in self.inputs:
            port.set_connected(port.index in used)

    def set_output_connected(self, connected: bool) -> None:
        if self.output is not None:
            self.output.set_connected(connected)

    def set_analysis(
        self, shape: tuple[int, ...] | None, parameters: int | None, diagnostics: tuple[Diagnostic, ...]
    ) -> None:
        self.shape_value, self.parameters, self.diagnostics = shape, parameters, diagnostics
        lines = self._footer_lines()
        self._shape_text = "→ " + format_shape(shape)
        self._params_text = f"{short_count(parameters)} params" if parameters else ""
        if self._footer_lines() != lines:
            self._relayout()
        self.setToolTip(self._tooltip())
        if self.output is not None:
            self.output.setToolTip(f"Output of '{self.node.name}': {format_shape(shape)}")
        self.update()

    def set_bypassed(self, bypassed: bool) -> None:
        """Drawn dimmed while switched off for the instance the block was opened from."""
        if bypassed == self.bypassed:
            return
        self.bypassed = bypassed
        self.setOpacity(0.4 if bypassed else 1.0)
        self.setToolTip(self._tooltip())

    def param_rows(self) -> list[tuple[str, float, str, float]]:
        """(name, its width, value, its width) of each parameter line as drawn. The value
        keeps what it needs (up to half the box); the name takes the rest, elided with "…"
        only if even that is short (it was clipped mid-word: "return_sequenc")."""
        _Fonts.ensure()
        body = _Fonts.metrics["body"]
        inner = WIDTH - 2 * PAD
        rows = []
        for label, value in self._lines:
            room = inner / 2 - 4
            if label == ENABLED:  # a condition reads from its start ("not $norm_first"): give it the row
                room = inner - body.horizontalAdvance(label) - 10
            text = body.elidedText(value, Qt.TextElideMode.ElideLeft, room)
            value_width = body.horizontalAdvance(text)
            label_width = inner - value_width - 6
            rows.append(
                (
                    body.elidedText(label, Qt.TextElideMode.ElideRight, label_width),
                    label_width,
                    text,
                    value_width,
                )
            )
        return rows

    def _tooltip(self) -> str:
        tip = [f"{self.spec.type} '{self.node.name}': {self.spec.description}"]
        if self.bypassed:
            tip.append("Switched off for this instance: it passes its input through.")
        tip += [f"{'Error' if d.is_error else 'Warning'}: {d.message}" for d in self.diagnostics]
        return "\n\n".join(tip)

    def _footer_lines(self) -> int:
        """1, or 2 when the shape and the parameter count do not fit side by side."""
        needed = _advance("body", self._shape_text) + 8
        if self._params_text:
            needed += _advance("small", self._params_text)
        return 1 if needed <= WIDTH - 2 * PAD else 2

    def _footer_height(self) -> float:
        return FOOTER + (LINE - 4) * (self._footer_lines() - 1)

    def severity(self) -> str | None:
        if any(d.is_error for d in self.diagnostics):
            return "error"
        return "warning" if self.diagnostics else None

    # --- geometry ----------------------------------------------------------------------------

    def _relayout(self) -> None:
        count = input_port_count(self.spec, self._used_ports)
        body = max(len(self._lines), 0) * LINE
        height = HEADER + 6 + body + self._footer_height()
        height = max(height, count * PORT_GAP + 12)
        rect = QRectF(0, -height / 2, WIDTH, height)
        # The repeat badge widens the bounding box the wires keep clear of.
        resized = rect != self._rect or count != len(self.inputs) or self.repeat() != self._shown_repeat
        self.prepareGeometryChange()
        self._rect = rect
        self._shown_repeat = self.repeat()
        self._update_bounds()
        while len(self.inputs) < count:
            port = PortItem(self, False, len(self.inputs))
            self.inputs.append(port)
        while len(self.inputs) > count:
            port = self.inputs.pop()
            port.setParentItem(None)
            if port.scene() is not None:
                port.scene().removeItem(port)
        top = -(count - 1) * PORT_GAP / 2
        for i, port in enumerate(self.inputs):
            port.setPos(0, top + i * PORT_GAP)
            port.set_connected(i in self._used_ports)
            label = f"input {i + 1} of '{self.node.name}'" if count > 1 else f"input of '{self.node.name}'"
            port.setToolTip(label[0].upper() + label[1:])
        if self.output is not None:
            self.output.setPos(WIDTH, 0)
        if resized:  # same box, same ports: no wire can have moved (a value edit mostly)
            self._geometry_changed()
        self.update()

    def input_anchor(self, port: int) -> QPointF:
        if not self.inputs:
            return self.mapToScene(QPointF(0, 0))
        return self.inputs[min(port, len(self.inputs) - 1)].anchor()

    def output_anchor(self) -> QPointF:
        return self.mapToScene(QPointF(WIDTH, 0))

    def boundingRect(self) -> QRectF:
        return self._bounds  # asked for thousands of times as a big graph opens: kept, not computed

    def _update_bounds(self) -> None:
        top = -25 if self.repeat() > 1 else -10  # a repeat's "×N" sits above the header
        self._bounds = self._rect.adjusted(-10, top, 10, 10)  # selection halo, badge

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self._rect, 6, 6)
        return path

    def _update_edges(self) -> None:
        # A wire the scene will route when the event loop runs (before the next paint) is left
        # for then: a layout moving every node would otherwise route each wire twice more.
        queued = getattr(self.scene(), "routes_soon", None)
        for edge in self.edges:
            if queued is None or not queued(edge):
                edge.update_path()

    def _geometry_changed(self) -> None:
        """The box moved or changed size: the scene re-routes the wires near it, this its own."""
        notify = getattr(self.scene(), "node_geometry_changed", None)
        if notify is not None:
            notify(self)
        self._update_edges()

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange:
            scene = self.scene()
            if scene is not None and getattr(scene, "snapping_drag", False):
                grid = scene.GRID
                return QPointF(round(value.x() / grid) * grid, round(value.y() / grid) * grid)
        elif change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self._geometry_changed()
        return super().itemChange(change, value)

    # --- painting -----------------------------------------------------------------------------

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        colours = theme.current()
        rect = self._rect
        accent = colours.category_color(self.category)
        severity = self.severity()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < TEXT_LOD:
            painter.fillRect(rect, accent)
            if lod >= NAME_LOD:  # far out, the name alone, big enough to read
                name = _Fonts.metrics["overview"].elidedText(
                    self.node.name, Qt.TextElideMode.ElideRight, rect.width() - 2 * PAD
                )
                painter.setFont(_Fonts.overview)
                painter.setPen(colours.color("header_text"))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, name)
            if severity or self.isSelected():
                role = "selection" if self.isSelected() else severity
                painter.setPen(QPen(colours.color(role), 3 / max(lod, 0.01)))
                painter.drawRect(rect)
            if self.repeat() > 1 and lod >= NAME_LOD:
                self._paint_repeat(painter, rect, accent)
            return

        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.isSelected():
            painter.setPen(QPen(colours.color("selection"), 2.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(-3, -3, 3, 3), 8, 8)
        if self.repeat() > 1:  # the other copies, stacked behind the first
            painter.setPen(QPen(colours.color("node_border"), 1.0))
            painter.setBrush(colours.color("node_body"))
            painter.drawRoundedRect(rect.translated(5, 5), 6, 6)
        border = colours.color(severity) if severity else colours.color("node_border")
        painter.setPen(QPen(border, 2.2 if severity else 1.0))
        painter.setBrush(colours.color("node_body"))
        painter.drawRoundedRect(rect, 6, 6)

        header = QRectF(rect.left(), rect.top(), rect.width(), HEADER)
        clip = QPainterPath()
        clip.addRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        painter.save()
        painter.setClipPath(clip)
        painter.fillRect(header, accent)
        painter.restore()

        metrics = _Fonts.metrics
        type_label = self.type_label()
        type_width = metrics["small"].horizontalAdvance(type_label)
        painter.setFont(_Fonts.small)
        painter.setPen(QColor(255, 255, 255, 200))
        type_rect = QRectF(rect.right() - PAD - type_width, header.top(), type_width, HEADER)
        painter.drawText(type_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, type_label)
        name_width = rect.width() - 3 * PAD - type_width
        name = metrics["title"].elidedText(self.node.name, Qt.TextElideMode.ElideRight, name_width)
        painter.setFont(_Fonts.title)
        painter.setPen(colours.color("header_text"))
        painter.drawText(
            QRectF(rect.left() + PAD, header.top(), name_width, HEADER),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            name,
        )

        painter.setFont(_Fonts.body)
        y = header.bottom() + 3
        for label, label_width, text, value_width in self.param_rows():
            painter.setPen(colours.color("text_dim"))
            painter.drawText(
                QRectF(rect.left() + PAD, y, label_width, LINE),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
            painter.setPen(colours.color("text"))
            painter.drawText(
                QRectF(rect.right() - PAD - value_width - 1, y, value_width + 1, LINE),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                text,
            )
            y += LINE

        height = self._footer_height()
        footer = QRectF(rect.left(), rect.bottom() - height, rect.width(), height)
        painter.setPen(QPen(colours.color("node_border"), 0.6))
        painter.drawLine(QPointF(footer.left() + 1, footer.top()), QPointF(footer.right() - 1, footer.top()))
        two_lines = self._footer_lines() == 2
        row = QRectF(
            footer.left() + PAD,
            footer.top() + (1 if two_lines else 0),
            footer.width() - 2 * PAD,
            LINE if two_lines else FOOTER,
        )
        painter.setFont(_Fonts.body)
        painter.setPen(colours.color("text") if self.shape_value else colours.color(severity or "text_dim"))
        params_width = (
            0.0
            if two_lines or not self._params_text
            else metrics["small"].horizontalAdvance(self._params_text) + 6
        )
        shape_text = metrics["body"].elidedText(
            self._shape_text, Qt.TextElideMode.ElideRight, row.width() - params_width
        )
        painter.drawText(row, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, shape_text)
        if self._params_text:
            if two_lines:
                row = QRectF(row.left(), row.bottom() - 3, row.width(), LINE)
            painter.setFont(_Fonts.small)
            painter.setPen(colours.color("text_dim"))
            painter.drawText(
                row, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._params_text
            )
        if severity:
            self._paint_badge(painter, rect, colours.color(severity))
        if self.repeat() > 1:
            self._paint_repeat(painter, rect, accent)

    # A block instance shows its block's name as its type, and a repeat its "×N".

    def type_label(self) -> str:
        return (
            str(self.node.params.get("block", self.spec.type))
            if self.spec.type == "Block"
            else self.spec.type
        )

    def repeat(self) -> int:
        value = self.node.params.get("repeat", 1) if self.spec.type == "Block" else 1
        return value if isinstance(value, int) else 1

    def _paint_repeat(self, painter: QPainter, rect: QRectF, colour: QColor) -> None:
        text = f"×{self.repeat()}"
        width = _Fonts.metrics["title"].horizontalAdvance(text) + 12
        pill = QRectF(rect.left() + 4, rect.top() - 22, width, 18)
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(colour)
        painter.drawRoundedRect(pill, 9, 9)
        painter.setFont(_Fonts.title)
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_badge(self, painter: QPainter, rect: QRectF, colour: QColor) -> None:
        centre = QPointF(rect.right(), rect.top())
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(colour)
        painter.drawEllipse(centre, 8, 8)
        painter.setFont(_Fonts.title)
        painter.drawText(QRectF(centre.x() - 8, centre.y() - 8, 16, 16), Qt.AlignmentFlag.AlignCenter, "!")
