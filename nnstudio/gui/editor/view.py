"""The canvas view: zoom, pan, fit, drops from the palette, wires from ports, quick-add.

Left-drag on empty canvas draws a selection rectangle; middle-drag (or
Space + left-drag) pans; the wheel zooms around the cursor. Tab or a
double-click opens the quick-add popup at the cursor.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCursor,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmapCache,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from nnstudio.core.layers import CATALOG, format_shape
from nnstudio.gui.document import LOCKED_MESSAGE
from nnstudio.gui.editor import block_palette
from nnstudio.gui.editor.interactions import ConnectionDrag, DragResult
from nnstudio.gui.editor.layer_popup import LayerPopup
from nnstudio.gui.editor.node_item import WIDTH as NODE_WIDTH
from nnstudio.gui.editor.node_item import NodeItem
from nnstudio.gui.editor.port_item import PortItem
from nnstudio.gui.editor.scene import GraphScene
from nnstudio.gui.editor.suggestions import layers_accepting

LAYER_MIME = "application/x-nnstudio-layer"
MIN_SCALE = 0.01
MAX_SCALE = 4.0
ZOOM_STEP = 1.25
READABLE_ZOOM = 0.75
PROJECT_SUFFIX = ".nnstudio"


class GraphView(QGraphicsView):
    """Shows a GraphScene; turns mouse and keyboard gestures into document edits."""

    status_message = Signal(str)
    node_activated = Signal(str)  # double-click on a node
    files_dropped = Signal(list)  # project files dropped on the canvas
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # Node items cache their drawing per zoom level; Qt's default 10 MB cache holds
        # only ~90 of them at 100 %, and a thrashing cache repaints everything.
        QPixmapCache.setCacheLimit(max(QPixmapCache.cacheLimit(), 64 * 1024))
        self._drag: ConnectionDrag | None = None
        self._pan_from: QPoint | None = None
        self._space_down = False
        self.popup: LayerPopup | None = None

    @property
    def graph_scene(self) -> GraphScene | None:
        scene = self.scene()
        return scene if isinstance(scene, GraphScene) else None

    # --- zoom and fit -----------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        target = min(max(self.zoom() * factor, MIN_SCALE), MAX_SCALE)
        factor = target / self.zoom()
        if abs(factor - 1.0) < 1e-9:
            return
        if anchor is None:
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(factor, factor)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.zoom_changed.emit(self.zoom())

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def reset_zoom(self) -> None:
        self.zoom_by(1.0 / self.zoom())

    def fit_to_view(self) -> None:
        scene = self.graph_scene
        rect = scene.nodes_rect() if scene is not None else QRectF()
        if rect.isEmpty():
            self.reset_zoom()
            self.centerOn(0, 0)
            return
        rect = rect.adjusted(-40, -40, 40, 40)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.2:  # a tiny graph should not be blown up
            self.zoom_by(1.2 / self.zoom())
        self.centerOn(rect.center())
        self.zoom_changed.emit(self.zoom())

    def frame_graph(self) -> None:
        """The first view of a newly opened graph: all of it when that stays readable,
        otherwise its beginning (the inputs, on the left) at a readable zoom."""
        self.fit_to_view()
        scene = self.graph_scene
        if scene is None or self.zoom() >= READABLE_ZOOM or not scene.node_items:
            return
        self.zoom_by(READABLE_ZOOM / self.zoom())
        rect = scene.nodes_rect()
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        self.centerOn(QPointF(rect.left() - 40 + visible.width() / 2, rect.center().y()))

    def center_on_node(self, node_id: str) -> None:
        scene = self.graph_scene
        if scene is not None and node_id in scene.node_items:
            self.centerOn(scene.node_items[node_id])

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015**delta, anchor=event.position().toPoint())
        event.accept()

    # --- mouse: wires, panning, selection -------------------------------------------------------------

    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.mapToScene(event.position().toPoint())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        scene = self.graph_scene
        panning = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        )
        if panning:
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if scene is not None and event.button() == Qt.MouseButton.LeftButton:
            port = scene.port_at(self._scene_pos(event))
            if port is not None:
                if scene.document.locked:
                    self.status_message.emit(LOCKED_MESSAGE)
                    event.accept()
                    return
                self._drag = ConnectionDrag(scene, port, self._scene_pos(event))
                self.status_message.emit(self._drag.move(self._scene_pos(event)))
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position().toPoint() - self._pan_from
            self._pan_from = event.position().toPoint()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        if self._drag is not None:
            self.status_message.emit(self._drag.move(self._scene_pos(event)))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        if self._drag is not None and event.button() == Qt.MouseButton.LeftButton:
            drag, self._drag = self._drag, None
            self._finish_drag(drag.finish(self._scene_pos(event)))
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _finish_drag(self, result: DragResult) -> None:
        if result.kind == "refused" and result.message:
            self.status_message.emit(f"Not connected: {result.message}")
        elif result.kind == "connected":
            self.status_message.emit("Connected.")
        elif result.kind == "empty" and result.origin is not None and result.position is not None:
            self._offer_layer_for_wire(result.origin, result.position)
        else:
            self.status_message.emit("")

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        scene = self.graph_scene
        if scene is not None and event.button() == Qt.MouseButton.LeftButton:
            node = scene.node_at(self._scene_pos(event))
            if node is not None:
                self.node_activated.emit(node.node_id)
            elif scene.itemAt(self._scene_pos(event), self.transform()) is None:
                self.open_layer_popup(self._scene_pos(event))
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    # --- keyboard ------------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        # Tab would move the keyboard focus; on the canvas it opens the quick-add popup.
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Tab
            and not event.modifiers()
        ):
            self.open_layer_popup(self.cursor_scene_pos())
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif event.key() == Qt.Key.Key_Escape and self._drag is not None:
            self._drag.cancel()
            self._drag = None
            self.status_message.emit("")
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().unsetCursor()
        super().keyReleaseEvent(event)

    def cursor_scene_pos(self) -> QPointF:
        local = self.viewport().mapFromGlobal(QCursor.pos())
        if not self.viewport().rect().contains(local):
            local = self.viewport().rect().center()
        return self.mapToScene(local)

    # --- quick-add popup ---------------------------------------------------------------------------

    def open_layer_popup(
        self, scene_pos: QPointF, preferred=(), heading: str = "", allowed=None, on_chosen=None
    ) -> LayerPopup | None:
        scene = self.graph_scene
        if scene is None:
            return None
        if scene.document.locked:
            self.status_message.emit(LOCKED_MESSAGE)
            return None
        if self.popup is not None:
            self.popup.close()
        blocks = (
            [(t, tip) for t, _, tip in block_palette.entries(scene.document.graph)] if allowed is None else []
        )
        popup = LayerPopup(self, preferred=preferred, heading=heading, allowed=allowed, blocks=blocks)
        position = QPointF(scene_pos)

        def add(type_name: str) -> None:
            if on_chosen is not None:
                on_chosen(type_name, position)
            else:
                scene.document.add_node(type_name, (position.x(), position.y()))

        popup.chosen.connect(add)
        popup.destroyed.connect(lambda *_: setattr(self, "popup", None))
        self.popup = popup
        popup.popup(self.viewport().mapToGlobal(self.mapFromScene(scene_pos)))
        return popup

    def _offer_layer_for_wire(self, origin: PortItem, scene_pos: QPointF) -> None:
        scene = self.graph_scene
        document = scene.document
        if origin.is_output:
            source = origin.node_id
            shape = document.analysis().shapes.get(source)
            fits = layers_accepting(document.graph, source)
            heading = f"Add a layer after '{document.graph.nodes[source].name}' {format_shape(shape)}"

            def chosen(type_name: str, pos: QPointF) -> None:
                if document.add_connected_node(type_name, (pos.x(), pos.y()), source=source):
                    self.status_message.emit(
                        f"Added {type_name} after '{document.graph.nodes[source].name}'."
                    )

            self.open_layer_popup(scene_pos, preferred=fits, heading=heading, on_chosen=chosen)
        else:
            target = (origin.node_id, origin.index)
            allowed = [t for t, spec in CATALOG.items() if spec.has_output]
            heading = f"Add a layer feeding '{document.graph.nodes[target[0]].name}'"

            def chosen(type_name: str, pos: QPointF) -> None:
                left = QPointF(pos.x() - NODE_WIDTH, pos.y())  # the new node ends at the cursor
                document.add_connected_node(type_name, (left.x(), left.y()), target=target)

            self.open_layer_popup(scene_pos, heading=heading, allowed=allowed, on_chosen=chosen)

    # --- drops: layers from the palette, project files from the desktop --------------------------------

    def _project_files(self, event: QDropEvent) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.toLocalFile().endswith(PROJECT_SUFFIX)]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(LAYER_MIME) or self._project_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(LAYER_MIME) or self._project_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        scene = self.graph_scene
        mime = event.mimeData()
        if mime.hasFormat(LAYER_MIME) and scene is not None:
            type_name = bytes(mime.data(LAYER_MIME).data()).decode("utf-8")
            pos = self.mapToScene(event.position().toPoint())
            if type_name in CATALOG or type_name.startswith("Block:"):  # a layer, or a block
                node_id = scene.document.add_node(type_name, (pos.x(), pos.y()))
                if node_id is not None:
                    scene.select_nodes([node_id])
            event.acceptProposedAction()
            return
        files = self._project_files(event)
        if files:
            event.acceptProposedAction()
            # Open after the drop returns: a modal prompt inside a drop confuses some platforms.
            QTimer.singleShot(0, lambda: self.files_dropped.emit(files))
            return
        event.ignore()

    def node_item(self, node_id: str) -> NodeItem | None:
        scene = self.graph_scene
        return scene.node_items.get(node_id) if scene is not None else None
