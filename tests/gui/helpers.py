"""Driving the real widgets the way a user does: mouse on the canvas, drops, keys."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from nnstudio.api import Graph
from nnstudio.gui.editor.view import GraphView
from nnstudio.gui.panels.palette import PalettePanel


def view_point(view: GraphView, scene_pos: QPointF) -> QPointF:
    return QPointF(view.mapFromScene(scene_pos))


def _mouse(
    view: GraphView, kind: QEvent.Type, scene_pos: QPointF, button: Qt.MouseButton, buttons: Qt.MouseButton
) -> None:
    local = view_point(view, scene_pos)
    event = QMouseEvent(
        kind,
        local,
        QPointF(view.viewport().mapToGlobal(local.toPoint())),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view.viewport(), event)


def press(view: GraphView, scene_pos: QPointF, button=Qt.MouseButton.LeftButton) -> None:
    _mouse(view, QEvent.Type.MouseButtonPress, scene_pos, button, button)


def move(view: GraphView, scene_pos: QPointF, buttons=Qt.MouseButton.LeftButton) -> None:
    _mouse(view, QEvent.Type.MouseMove, scene_pos, Qt.MouseButton.NoButton, buttons)


def release(view: GraphView, scene_pos: QPointF, button=Qt.MouseButton.LeftButton) -> None:
    _mouse(view, QEvent.Type.MouseButtonRelease, scene_pos, button, Qt.MouseButton.NoButton)


def drag(view: GraphView, start: QPointF, end: QPointF, steps: int = 5) -> None:
    """Press at ``start``, move there in a few steps, release at ``end`` (scene coordinates)."""
    press(view, start)
    for i in range(1, steps + 1):
        t = i / steps
        move(view, QPointF(start.x() + (end.x() - start.x()) * t, start.y() + (end.y() - start.y()) * t))
    release(view, end)


def drop_mime(view: GraphView, mime: QMimeData, scene_pos: QPointF) -> None:
    """Drag ``mime`` in over the canvas and drop it at ``scene_pos``."""
    local = view_point(view, scene_pos)
    for event_type in (QDragEnterEvent, QDragMoveEvent):
        # Drag enter/move events take an integer QPoint in every PySide6 version.
        event = event_type(
            local.toPoint(),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(view.viewport(), event)
        assert event.isAccepted(), f"the canvas refused a drag of {mime.formats()}"
    drop = QDropEvent(
        local, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(view.viewport(), drop)


def drop_from_palette(palette: PalettePanel, view: GraphView, type_name: str, scene_pos: QPointF) -> None:
    """Drop the palette item's own drag data on the canvas, as a drag-and-drop would."""
    drop_mime(view, palette.tree.mimeData([palette.tree.item_for(type_name)]), scene_pos)


def chain(*types: str, **shapes) -> Graph:
    """A small graph: Input(shape) -> types... -> Output, wired in a row."""
    graph = Graph(name="test")
    previous = graph.add("Input", name="x", position=(0, 0), shape=shapes.get("shape", (1, 28, 28)))
    for i, type_name in enumerate(types, start=1):
        node = graph.add(type_name, position=(260 * i, 0))
        graph.connect(previous, node)
        previous = node
    out = graph.add("Output", name="out", position=(260 * (len(types) + 1), 0))
    graph.connect(previous, out)
    return graph


def centre_of(item) -> QPointF:
    return item.sceneBoundingRect().center()


def port_pos(port) -> QPointF:
    return port.scenePos()


def state(graph) -> dict:
    """Everything that makes up a graph, edges as a set (their listing order carries no meaning)."""
    data = graph.to_dict()
    data["edges"] = sorted((e["source"], e["target"], e["port"]) for e in data["edges"])
    return data
