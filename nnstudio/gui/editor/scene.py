"""The canvas scene: one item per node and edge, kept in step with the GraphModel.

The scene subscribes to the model's events and never edits the model itself;
the only thing it sends back is a finished drag, as a MoveNodes command via
the document. After each edit the document's ``analysis_changed`` arrives and
only the items whose shape, parameter count or diagnostics changed repaint,
which keeps edits on large graphs fast.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsSceneMouseEvent

from nnstudio.core.graph import Edge
from nnstudio.core.layers import format_shape
from nnstudio.core.layout import MAX_OBSTACLES, Box, BoxIndex
from nnstudio.core.validation import Analysis, Diagnostic
from nnstudio.gui import theme
from nnstudio.gui.document import Document
from nnstudio.gui.editor.edge_item import EdgeItem
from nnstudio.gui.editor.node_item import NodeItem
from nnstudio.gui.editor.port_item import PortItem

SCENE_MARGIN = 2000.0
BOX_CELL = 400.0  # cell size of the grid that finds the boxes near a wire


class GraphScene(QGraphicsScene):
    """Items for the document's graph; see the module docstring."""

    GRID = 20.0

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.graph = document.graph
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self.snap_to_grid = False
        self.snapping_drag = False  # read by NodeItem.itemChange while the mouse drags
        self._press_positions: dict[str, tuple[float, float]] = {}

        # Where every box stands, and where every wire reaches: an edit re-routes only
        # the wires near the box it moved or resized, found without a walk over all.
        self.box_index = BoxIndex(BOX_CELL)
        self.wire_index = BoxIndex(BOX_CELL)
        self._dirty: set[EdgeItem] = set()
        self._moved: list[Box] = []  # old and new places of boxes since the last reroute
        self._reroute_pending = False
        used: dict[str, set[int]] = {}
        for edge in self.graph.edges:
            used.setdefault(edge.target, set()).add(edge.port)
        shapes = document.analysis().shapes
        for node_id in self.graph.nodes:
            self._add_node_item(node_id, used.get(node_id))
        for edge in self.graph.edges:
            self._add_edge_item(edge, format_shape(shapes.get(edge.source)), route=False)
        self._refresh_ports(self.graph.nodes)
        self._update_scene_rect()

        events = self.graph.events
        self._subscriptions = [
            (events.node_added, self._on_node_added),
            (events.node_removed, self._on_node_removed),
            (events.edge_added, self._on_edge_added),
            (events.edge_removed, self._on_edge_removed),
            (events.param_changed, self._on_param_changed),
            (events.node_renamed, self._on_node_renamed),
            (events.node_moved, self._on_node_moved),
        ]
        for signal, slot in self._subscriptions:
            signal.connect(slot)
        document.analysis_changed.connect(self._on_analysis_changed)
        document.locked_changed.connect(self._on_locked_changed)
        theme.manager().changed.connect(self._on_theme_changed)
        self._on_analysis_changed(document.analysis())

    def detach(self) -> None:
        """Stop following the model (before the scene is thrown away)."""
        for signal, slot in self._subscriptions:
            signal.disconnect(slot)
        self._subscriptions = []
        self.document.analysis_changed.disconnect(self._on_analysis_changed)
        self.document.locked_changed.disconnect(self._on_locked_changed)
        theme.manager().changed.disconnect(self._on_theme_changed)

    # --- queries --------------------------------------------------------------------------------

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, node_ids) -> None:
        wanted = set(node_ids)
        self.clearSelection()
        for node_id in wanted:
            item = self.node_items.get(node_id)
            if item is not None:
                item.setSelected(True)

    def port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                return item
            if isinstance(item, PortItem):
                return item.node_item
        return None

    def nodes_rect(self) -> QRectF:
        rect = QRectF()
        for item in self.node_items.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # --- model events -> items ---------------------------------------------------------------------

    def _add_node_item(self, node_id: str, used_ports: set[int] | None = None) -> NodeItem:
        item = NodeItem(self.graph.nodes[node_id], used_ports)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, not self.document.locked)
        self.node_items[node_id] = item
        self.addItem(item)
        self.box_index.put(item, _box(item.sceneBoundingRect()))
        return item

    def _add_edge_item(self, edge: Edge, label: str = "", route: bool = True) -> EdgeItem:
        source, target = self.node_items[edge.source], self.node_items[edge.target]
        item = EdgeItem(edge, source, target, label, route=False)
        self.edge_items[edge] = item
        self.addItem(item)
        item.obstacles = self.boxes_near
        item.rerouted = self._index_wire
        if route:
            item.update_path()
        else:  # when the event loop runs: often after a layout moved everything
            self._reroute_soon([item])
        return item

    def _index_wire(self, item: EdgeItem) -> None:
        if self._reroute_pending and item in self._dirty:
            return  # drawn plain for now: indexed when the pending reroute routes it
        self.wire_index.put(item, _box(item.reach()))

    def boxes_near(self, rect: QRectF, skip: tuple[NodeItem, ...] = ()) -> list[Box]:
        """The boxes of the nodes touching ``rect``, but those in ``skip`` (a wire's own ends).

        The box index answers, not QGraphicsScene.items(): that sorts every hit by
        stacking order, which on a pile of a thousand unarranged layers took minutes.
        Past MAX_OBSTACLES boxes it stops counting; the wire is then drawn plain.
        """
        if self._reroute_pending:
            return []  # a batch (a drag step, a layout moving every node): its reroute follows
        return list(self.box_index.query(_box(rect), skip, MAX_OBSTACLES).values())

    def node_geometry_changed(self, item: NodeItem) -> None:
        """``item``'s box moved or changed size: re-route its wires and those whose route
        the box's old or new place can touch, once the event loop runs (a layout moving
        every node, or a drag's many steps, then costs one route per wire, not one per move)."""
        if item not in self.box_index:
            return  # being added or removed: those paths index it themselves
        new = _box(item.sceneBoundingRect())
        old = self.box_index.put(item, new)
        if old == new:
            return
        self._reroute_soon(item.edges, (new,) if old is None else (old, new))

    def routes_soon(self, item: EdgeItem) -> bool:
        """Whether ``item`` is queued to be routed when the event loop runs."""
        return self._reroute_pending and item in self._dirty

    def reroute_edges(self) -> None:
        """Route every wire again (the pending ones are routed at the same time)."""
        self._dirty.clear()
        self._moved.clear()
        self._reroute_pending = False
        for item in self.edge_items.values():
            item.update_path()

    def _reroute_dirty(self) -> None:
        """Route the wires marked since the last pass, and those the boxes moved meanwhile
        can have come into or left the way of."""
        if not self._reroute_pending:
            return  # reroute_edges() came first
        if len(self._moved) > len(self.edge_items) // 4:
            self._dirty.update(self.edge_items.values())  # a layout: asking per box costs more
        else:
            for box in self._moved:
                self._dirty.update(self.wire_index.query(box))
        self._moved.clear()
        self._reroute_pending = False
        dirty, self._dirty = self._dirty, set()
        for item in dirty:
            if item.scene() is self:  # not removed meanwhile
                item.update_path()

    def _reroute_soon(self, items=(), boxes: tuple[Box, ...] = ()) -> None:
        self._dirty.update(items)
        self._moved += boxes
        if (self._dirty or self._moved) and not self._reroute_pending:
            self._reroute_pending = True
            QTimer.singleShot(0, self._reroute_dirty)

    def _refresh_ports(self, node_ids) -> None:
        for node_id in node_ids:
            item = self.node_items.get(node_id)
            if item is None:
                continue
            item.set_used_ports({e.port for e in self.graph.inputs_of(node_id)})
            item.set_output_connected(bool(self.graph.nx_graph.out_degree(node_id)))

    def _on_node_added(self, node_id: str) -> None:
        item = self._add_node_item(node_id)
        self._include(item)
        self._reroute_soon(boxes=(self.box_index.get(item),))

    def _on_node_removed(self, node_id: str) -> None:
        item = self.node_items.pop(node_id)
        box = self.box_index.remove(item)
        self.removeItem(item)
        if box is not None:  # wires that went around it may now run straight
            self._reroute_soon(boxes=(box,))

    def _on_edge_added(self, edge: Edge) -> None:
        self._add_edge_item(edge)
        self._refresh_ports((edge.source, edge.target))

    def _on_edge_removed(self, edge: Edge) -> None:
        item = self.edge_items.pop(edge)
        item.detach()
        item.rerouted = None
        self.wire_index.remove(item)
        self._dirty.discard(item)
        self.removeItem(item)
        self._refresh_ports((edge.source, edge.target))

    def _on_param_changed(self, node_id: str, name: str, value: object) -> None:
        self.node_items[node_id].refresh()  # if the box grew, it re-routes the wires near it

    def _on_node_renamed(self, node_id: str, name: str) -> None:
        item = self.node_items[node_id]
        item.refresh()
        item.set_analysis(item.shape_value, item.parameters, item.diagnostics)  # tooltips name it

    def _on_node_moved(self, node_id: str, position: tuple[float, float]) -> None:
        item = self.node_items[node_id]
        if (item.pos().x(), item.pos().y()) != position:
            item.setPos(QPointF(*position))
        self._include(item)  # moving the item re-routed the wires near it

    def _on_analysis_changed(self, analysis: Analysis) -> None:
        """Push shapes, parameter counts and diagnostics to the items that changed."""
        by_node: dict[str, list[Diagnostic]] = {}
        for diagnostic in analysis.diagnostics:
            if diagnostic.node is not None:
                by_node.setdefault(diagnostic.node, []).append(diagnostic)
        shapes, figures = analysis.shapes, analysis.figures
        for node_id, item in self.node_items.items():
            shape = shapes.get(node_id)
            fig = figures.get(node_id)
            params = fig.parameters if fig is not None else None
            diags = tuple(by_node.get(node_id, ()))
            if (shape, params, diags) != (item.shape_value, item.parameters, item.diagnostics):
                item.set_analysis(shape, params, diags)
            item.set_bypassed(node_id in analysis.bypassed)  # inside a block, for this instance
        for edge, item in self.edge_items.items():
            item.set_label(format_shape(shapes.get(edge.source)))

    def _on_locked_changed(self, locked: bool) -> None:
        for item in self.node_items.values():
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, not locked)

    def _on_theme_changed(self, _theme: object) -> None:
        for item in self.items():
            item.update()
        self.invalidate(self.sceneRect(), QGraphicsScene.SceneLayer.BackgroundLayer)

    def _update_scene_rect(self) -> None:
        """Room to pan around all the nodes (used once, when the scene is built)."""
        bounds = self.itemsBoundingRect()
        if bounds.isEmpty():
            bounds = QRectF(0, 0, 1, 1)
        self.setSceneRect(bounds.adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN))

    def _include(self, item: NodeItem) -> None:
        """Grow the scene rectangle to keep room around ``item``; it never shrinks, so
        views never jump. Cheap when the item is inside, which is nearly always."""
        rect = item.sceneBoundingRect()
        current = self.sceneRect()
        if current.contains(rect):
            return
        # Growing re-ranges the views' scroll bars; keep what they show.
        centres = [(view, view.mapToScene(view.viewport().rect().center())) for view in self.views()]
        self.setSceneRect(
            current.united(rect.adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN))
        )
        for view, centre in centres:
            view.centerOn(centre)

    # --- a drag of nodes becomes one MoveNodes command ------------------------------------------------

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and not self.document.locked:
            self.snapping_drag = self.snap_to_grid
            self._press_positions = {
                i.node_id: (i.pos().x(), i.pos().y()) for i in self.selectedItems() if isinstance(i, NodeItem)
            }

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.snapping_drag = False
        before, self._press_positions = self._press_positions, {}
        moves = {}
        for node_id, old in before.items():
            item = self.node_items.get(node_id)
            if item is not None and (item.pos().x(), item.pos().y()) != old:
                moves[node_id] = (old, (item.pos().x(), item.pos().y()))
        if moves:
            self.document.move_nodes(moves)

    # --- background -----------------------------------------------------------------------------------

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        colours = theme.current()
        painter.fillRect(rect, colours.color("canvas"))
        scale = painter.worldTransform().m11()
        step = self.GRID if scale >= 0.6 else self.GRID * 5
        if scale * step < 6:
            return  # too dense to be useful
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        minor, major = [], []
        x = left
        while x < rect.right():
            (major if round(x / (self.GRID * 5)) * self.GRID * 5 == x else minor).append(
                QLineF(x, rect.top(), x, rect.bottom())
            )
            x += step
        y = top
        while y < rect.bottom():
            (major if round(y / (self.GRID * 5)) * self.GRID * 5 == y else minor).append(
                QLineF(rect.left(), y, rect.right(), y)
            )
            y += step
        painter.setPen(QPen(colours.color("grid"), 0))
        painter.drawLines(minor)
        painter.setPen(QPen(colours.color("grid_major"), 0))
        painter.drawLines(major)


def _box(rect: QRectF) -> Box:
    return (rect.left(), rect.top(), rect.right(), rect.bottom())
