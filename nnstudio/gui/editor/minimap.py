"""A minimap for large graphs: the whole graph in a corner of the canvas, with
the visible part outlined; click or drag in it to move there."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGraphicsView

from nnstudio.gui import theme
from nnstudio.gui.editor.view import GraphView

MIN_NODES = 25  # smaller graphs fit on screen; a minimap would only be clutter
SIZE = (220, 150)
MARGIN = 12


class Minimap(QGraphicsView):
    """An overview child of ``view`` showing the same scene, far out."""

    def __init__(self, view: GraphView) -> None:
        super().__init__(view)
        self.main_view = view
        self.enabled_by_user = True
        self._document = None
        self.setInteractive(False)
        self.setRenderHints(QPainter.RenderHint(0))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.Box)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.resize(*SIZE)
        self.setToolTip("Overview: click or drag to move the view.")
        self._refit_timer = QTimer(self, singleShot=True, interval=150)
        self._refit_timer.timeout.connect(self.refit)
        view.horizontalScrollBar().valueChanged.connect(self.viewport().update)
        view.verticalScrollBar().valueChanged.connect(self.viewport().update)
        view.zoom_changed.connect(lambda _zoom: self.viewport().update())
        view.installEventFilter(self)
        self.hide()

    def attach(self, scene) -> None:
        if self._document is not None:
            self._document.undo_stack.indexChanged.disconnect(self._on_edited)
        self._document = scene.document
        # Every edit, moves included, comes through the undo stack.
        self._document.undo_stack.indexChanged.connect(self._on_edited)
        self.setScene(scene)
        self.refit()

    def _on_edited(self, _index: int) -> None:
        self._refit_timer.start()

    def set_enabled_by_user(self, enabled: bool) -> None:
        self.enabled_by_user = enabled
        self.refit()

    def refit(self) -> None:
        scene = self.main_view.graph_scene
        wanted = self.enabled_by_user and scene is not None and len(scene.node_items) >= MIN_NODES
        self.setVisible(wanted)
        if not wanted:
            return
        self._place()
        rect = scene.nodes_rect().adjusted(-60, -60, 60, 60)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.viewport().update()

    def _place(self) -> None:
        parent = self.main_view.rect()
        self.move(parent.right() - self.width() - MARGIN, parent.bottom() - self.height() - MARGIN)
        self.raise_()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.main_view and event.type() == event.Type.Resize:
            self._place()
        return False

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        colours = theme.current()
        painter.fillRect(rect, colours.color("canvas"))

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        visible = self.main_view.mapToScene(self.main_view.viewport().rect()).boundingRect()
        colour = theme.current().color("selection")
        fill = QColor(colour)
        fill.setAlpha(40)
        painter.setPen(QPen(colour, 0))
        painter.setBrush(fill)
        painter.drawRect(visible)

    def _jump(self, event: QMouseEvent) -> None:
        target: QPointF = self.mapToScene(event.position().toPoint())
        self.main_view.centerOn(target)
        self.viewport().update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._jump(event)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._jump(event)
        event.accept()

    def wheelEvent(self, event) -> None:
        event.accept()
