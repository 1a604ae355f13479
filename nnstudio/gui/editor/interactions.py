"""Dragging a wire out of a port.

While the wire moves, the port (or node) under the cursor is checked with the
core's ``check_connect``: a connection that cannot be valid (a loop, a second
wire into a single input) lights the port red and says why; releasing there
does nothing. Releasing over empty canvas asks for a new layer to attach.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsPathItem

from nnstudio.core import validation
from nnstudio.core.errors import GraphError
from nnstudio.gui import theme
from nnstudio.gui.editor.edge_item import wire_path
from nnstudio.gui.editor.port_item import INVALID, VALID, PortItem
from nnstudio.gui.editor.scene import GraphScene

CLICK_DISTANCE = 6.0


@dataclass(frozen=True)
class Connection:
    source: str
    target: str
    port: int


@dataclass(frozen=True)
class DragResult:
    """How a drag ended: "connected", "refused", "empty" (released on canvas) or "cancelled"."""

    kind: str
    message: str = ""
    origin: PortItem | None = None
    position: QPointF | None = None


class ConnectionDrag:
    """One wire being dragged from ``origin``; the view feeds it mouse positions."""

    def __init__(self, scene: GraphScene, origin: PortItem, start: QPointF) -> None:
        self.scene = scene
        self.document = scene.document
        self.origin = origin
        self.start = QPointF(start)
        self._highlighted: PortItem | None = None
        self.preview = QGraphicsPathItem()
        pen = QPen(theme.current().color("edge"), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.preview.setPen(pen)
        self.preview.setZValue(3)
        scene.addItem(self.preview)

    # --- what is under the cursor -------------------------------------------------------------------

    def candidate(self, pos: QPointF) -> tuple[Connection | None, PortItem | None, str | None]:
        """The connection a release at ``pos`` would make, the port to light up, and
        why it cannot be made (None when it can). (None, None, None) over empty canvas."""
        port = self.scene.port_at(pos)
        node = port.node_item if port is not None else self.scene.node_at(pos)
        if node is None or node is self.origin.node_item:
            if node is self.origin.node_item and port is not self.origin:
                return None, port, "A layer cannot be connected to itself."
            return None, None, None
        graph = self.document.graph
        if self.origin.is_output:
            source, target = self.origin.node_id, node.node_id
            if port is not None and not port.is_output:
                index = port.index
            else:
                try:
                    index = validation.first_free_port(graph, target)
                except GraphError as exc:
                    return None, port, str(exc)
                port = node.inputs[index] if index < len(node.inputs) else port
        else:
            source, target, index = node.node_id, self.origin.node_id, self.origin.index
            port = node.output if node.output is not None else port
        connection = Connection(source, target, index)
        return connection, port, self.document.connection_problem(source, target, index)

    # --- mouse ------------------------------------------------------------------------------------------

    def move(self, pos: QPointF) -> str:
        """Follow the cursor; return the status-bar sentence for this spot."""
        anchor = self.origin.anchor()
        path = wire_path(anchor, pos) if self.origin.is_output else wire_path(pos, anchor)
        self.preview.setPath(path)
        connection, port, problem = self.candidate(pos)
        self._highlight(port, INVALID if problem else VALID if connection else None)
        if problem:
            return problem
        if connection is not None:
            graph = self.document.graph
            return (
                f"Release to connect '{graph.nodes[connection.source].name}' to "
                f"'{graph.nodes[connection.target].name}'."
            )
        if self.origin.is_output:
            return "Release on an input port to connect, or on empty canvas to add a layer after this one."
        return "Release on an output port to connect, or on empty canvas to add a layer before this one."

    def finish(self, pos: QPointF) -> DragResult:
        connection, _, problem = self.candidate(pos)
        self.cancel()
        if problem:
            return DragResult("refused", problem)
        if connection is not None:
            if self.document.connect_nodes(connection.source, connection.target, connection.port):
                return DragResult("connected")
            return DragResult("refused", "")
        if (pos - self.start).manhattanLength() < CLICK_DISTANCE:
            return DragResult("cancelled")
        return DragResult("empty", origin=self.origin, position=QPointF(pos))

    def cancel(self) -> None:
        self._highlight(None, None)
        if self.preview.scene() is not None:
            self.scene.removeItem(self.preview)

    def _highlight(self, port: PortItem | None, state: str | None) -> None:
        if self._highlighted is not None and self._highlighted is not port:
            self._highlighted.set_highlight(None)
        self._highlighted = port
        if port is not None:
            port.set_highlight(state)
