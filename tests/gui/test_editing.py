"""Undo/redo of every kind of edit, copy/cut/paste (also between windows), duplicate."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QGuiApplication

from nnstudio.gui.document import Document
from nnstudio.gui.editor.clipboard import MIME_TYPE

from .helpers import centre_of, chain, drag, drop_from_palette, state


def _id(graph, name: str) -> str:
    return graph.node_by_name(name).id


def test_undo_and_redo_restore_the_exact_state_after_every_kind_of_edit(make_window, qtbot):
    graph = chain("Conv2d", "ReLU", shape=(1, 16, 16))
    second = graph.add("Output", name="features", position=(520, 200))
    graph.connect(_id(graph, "relu1"), second)
    window = make_window(Document(graph))
    doc, scene, view = window.document, window.scene, window.view
    states = [state(graph)]

    drop_from_palette(window.palette, view, "MaxPool2d", QPointF(400, 300))  # add
    states.append(state(graph))
    pool = next(n.id for n in graph.nodes.values() if n.type == "MaxPool2d")
    view.fit_to_view()
    drag(
        view, scene.node_items[_id(graph, "relu1")].output.anchor(), scene.node_items[pool].inputs[0].anchor()
    )  # connect
    states.append(state(graph))
    doc.set_param(_id(graph, "conv2d1"), "out_channels", 8)  # parameter
    states.append(state(graph))
    doc.rename(pool, "pool")  # rename
    states.append(state(graph))
    scene.select_nodes([pool])
    drag(view, centre_of(scene.node_items[pool]), centre_of(scene.node_items[pool]) + QPointF(60, 40))  # move
    states.append(state(graph))
    scene.select_nodes([_id(graph, "out")])  # delete the first Output: its place matters
    window.delete_selection()
    states.append(state(graph))
    window.auto_layout()  # layout
    states.append(state(graph))
    assert len({str(s) for s in states}) == len(states), "every step changed something"

    for expected in reversed(states[:-1]):
        qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert state(graph) == expected
        assert set(scene.node_items) == set(graph.nodes)
        assert set(scene.edge_items) == set(graph.edges)
        for node_id, item in scene.node_items.items():
            assert (item.pos().x(), item.pos().y()) == graph.nodes[node_id].position
    assert not doc.modified
    for expected in states[1:]:
        qtbot.keyClick(view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
        assert state(graph) == expected


def test_copy_paste_gives_new_ids_unique_names_offset_positions_and_inner_edges(make_window):
    graph = chain("Linear", "ReLU", shape=(8,))
    window = make_window(Document(graph))
    linear, relu = _id(graph, "linear1"), _id(graph, "relu1")
    window.scene.select_nodes([linear, relu])
    window.copy()
    pasted = window.paste()

    assert len(pasted) == 2 and not set(pasted) & {linear, relu}
    names = {graph.nodes[n].name for n in pasted}
    assert names == {"linear2", "relu2"}
    new_linear = next(n for n in pasted if graph.nodes[n].type == "Linear")
    new_relu = next(n for n in pasted if graph.nodes[n].type == "ReLU")
    assert graph.nodes[new_linear].params == graph.nodes[linear].params
    assert graph.nodes[new_linear].position != graph.nodes[linear].position
    assert [(e.source, e.target) for e in graph.inputs_of(new_relu)] == [(new_linear, new_relu)]
    assert graph.inputs_of(new_linear) == []  # the wire from outside the copy is not pasted
    assert set(window.scene.selected_node_ids()) == set(pasted)
    second = window.paste()  # a second paste does not land on the first
    positions = [graph.nodes[n].position for n in graph.nodes]
    assert len(set(positions)) == len(positions) and len(second) == 2


def test_paste_between_two_windows_through_the_system_clipboard(make_window):
    source = make_window(Document(chain("Conv2d", "BatchNorm2d", shape=(3, 32, 32))))
    target = make_window()
    graph = source.document.graph
    source.scene.select_nodes([_id(graph, "conv2d1"), _id(graph, "batchnorm2d1")])
    source.copy()
    assert QGuiApplication.clipboard().mimeData().hasFormat(MIME_TYPE)
    pasted = target.paste()
    types = sorted(target.document.graph.nodes[n].type for n in pasted)
    assert types == ["BatchNorm2d", "Conv2d"]
    assert len(target.document.graph.edges) == 1
    assert len(source.document.graph.nodes) == 4  # the source is untouched
    target.document.undo_stack.undo()
    assert not target.document.graph.nodes


def test_cut_removes_and_paste_brings_back_and_foreign_text_is_ignored(window):
    window.document.add_node("GELU", (0, 0))
    node = next(iter(window.document.graph.nodes))
    window.scene.select_nodes([node])
    window.cut()
    assert not window.document.graph.nodes
    assert window.paste()
    assert [n.type for n in window.document.graph.nodes.values()] == ["GELU"]
    mime = QMimeData()
    mime.setText('{"nnstudio_nodes": 1, "nodes": [{"id": "x", "type": "NoSuchLayer", "name": "a"}]}')
    QGuiApplication.clipboard().setMimeData(mime)
    count = window.document.undo_stack.count()
    assert window.paste() == []
    assert window.document.undo_stack.count() == count
    assert (
        "NoSuchLayer" in window.statusBar().currentMessage()
        or "no layers" in window.statusBar().currentMessage()
    )


def test_duplicate_copies_beside_the_originals_without_touching_the_clipboard(window, qtbot):
    QGuiApplication.clipboard().setText("keep me")
    window.document.add_node("Dropout", (0, 0), p=0.25)
    node = next(iter(window.document.graph.nodes))
    window.scene.select_nodes([node])
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    copies = [n for n in window.document.graph.nodes.values() if n.id != node]
    assert len(copies) == 1 and copies[0].params["p"] == 0.25
    assert QGuiApplication.clipboard().text() == "keep me"
