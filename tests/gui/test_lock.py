"""Locking edits while a model trains: nothing can change the model, viewing still works."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from nnstudio.gui.document import LOCKED_MESSAGE, Document

from .helpers import centre_of, chain, drag, drop_from_palette, state


def test_a_locked_editor_refuses_every_model_change_but_still_views_and_selects(make_window, qtbot):
    graph = chain("Conv2d", "ReLU", shape=(1, 16, 16))
    window = make_window(Document(graph))
    window.document.set_param(graph.node_by_name("conv2d1").id, "out_channels", 4)
    before = state(graph)
    window.set_editing_locked(True)
    scene, view = window.scene, window.view

    for action in (
        window.act_delete,
        window.act_paste,
        window.act_cut,
        window.act_duplicate,
        window.act_layout,
        window.act_open,
        window.act_new,
        window.act_undo,
        window.act_redo,
    ):
        assert not action.isEnabled(), action.text()
    assert window.act_save.isEnabled() and window.act_copy.isEnabled() and window.act_fit.isEnabled()

    relu = graph.node_by_name("relu1").id
    scene.select_nodes([relu])  # selecting and inspecting still work
    assert window.inspector.node_id == relu
    conv = graph.node_by_name("conv2d1").id
    scene.select_nodes([conv])
    assert not window.inspector.editors["out_channels"].isEnabled()
    assert window.inspector.name_edit.isReadOnly()

    qtbot.keyClick(view, Qt.Key.Key_Delete)
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    drop_from_palette(window.palette, view, "Linear", QPointF(0, 300))
    view.fit_to_view()
    drag(view, centre_of(scene.node_items[conv]), centre_of(scene.node_items[conv]) + QPointF(80, 80))
    drag(
        view,
        scene.node_items[graph.node_by_name("x").id].output.anchor(),
        scene.node_items[relu].inputs[0].anchor(),
    )
    assert not window.document.set_param(conv, "out_channels", 9)
    assert window.statusBar().currentMessage() == LOCKED_MESSAGE
    assert state(graph) == before

    zoom = view.zoom()
    view.zoom_in()  # zoom still works
    assert view.zoom() > zoom

    window.set_editing_locked(False)
    assert window.act_delete.isEnabled() and window.act_undo.isEnabled()
    assert window.inspector.editors["out_channels"].isEnabled()
    window.document.undo_stack.undo()
    assert graph.nodes[conv].params["out_channels"] == 16
