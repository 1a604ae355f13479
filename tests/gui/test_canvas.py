"""Wiring on the canvas: drag from port to port, refusals, layers added from a wire."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt

from nnstudio.core.graph import Edge
from nnstudio.core.layers import format_shape
from nnstudio.gui.document import Document

from .helpers import chain, drag, move, press, release, state


def _nodes(window):
    return {n.name: n.id for n in window.document.graph.nodes.values()}


def test_dragging_from_an_output_port_to_an_input_port_connects_them_with_a_shape_label(make_window):
    graph = chain("Conv2d")  # x -> conv2d1 -> out
    pool = graph.add("MaxPool2d", name="pool", position=(260, 200))
    window = make_window(Document(graph))
    scene, view = window.scene, window.view
    conv = _nodes(window)["conv2d1"]
    start = scene.node_items[conv].output.anchor()
    end = scene.node_items[pool].inputs[0].anchor()
    view.centerOn(QPointF((start.x() + end.x()) / 2, (start.y() + end.y()) / 2))

    drag(view, start, end)

    edge = Edge(conv, pool, 0)
    assert edge in graph.edges
    assert scene.edge_items[edge].label == "(16, 26, 26)"
    assert scene.node_items[pool].shape_value == (16, 13, 13)
    assert window.document.undo_stack.count() == 1


def test_a_second_wire_into_a_single_input_is_refused_with_the_reason(make_window):
    graph = chain("ReLU", "Tanh")
    window = make_window(Document(graph))
    ids = _nodes(window)
    scene, view = window.scene, window.view
    before = sorted(graph.edges)
    start = scene.node_items[ids["x"]].output.anchor()
    end = scene.node_items[ids["tanh1"]].inputs[0].anchor()
    view.fit_to_view()

    press(view, start)
    move(view, QPointF(start.x() + 40, start.y() + 30))
    move(view, end)
    port = scene.node_items[ids["tanh1"]].inputs[0]
    assert port.highlight == "invalid"  # refused while dragging, before the release
    assert "already fed by" in window.statusBar().currentMessage()
    release(view, end)

    assert sorted(graph.edges) == before
    assert "already fed by ReLU 'relu1'" in window.statusBar().currentMessage()
    assert window.document.undo_stack.count() == 0


def test_a_wire_that_would_close_a_loop_is_refused(make_window):
    graph = chain("ReLU", "Tanh")
    window = make_window(Document(graph))
    ids = _nodes(window)
    scene, view = window.scene, window.view
    view.fit_to_view()
    start = scene.node_items[ids["tanh1"]].output.anchor()
    end = scene.node_items[ids["relu1"]].inputs[0].anchor()
    drag(view, start, end)
    assert Edge(ids["tanh1"], ids["relu1"], 0) not in graph.edges
    message = window.statusBar().currentMessage()
    assert "loop" in message or "already fed" in message


def test_releasing_a_wire_on_empty_canvas_offers_fitting_layers_first_and_connects_the_choice(
    make_window, qtbot
):
    graph = chain("Conv2d")
    window = make_window(Document(graph))
    ids = _nodes(window)
    scene, view = window.scene, window.view
    view.reset_zoom()
    start = scene.node_items[ids["conv2d1"]].output.anchor()
    view.centerOn(start)
    empty = QPointF(start.x() + 120, start.y() + 160)

    drag(view, start, empty)

    popup = view.popup
    assert popup is not None and popup.isVisible()
    offered = popup.types()
    fits = offered[: offered.index("MaxPool2d") + 1]
    assert "Conv2d" in fits and "LSTM" not in fits  # an image feeds convolutions, not an LSTM
    assert offered.index("MaxPool2d") < offered.index("LSTM")
    qtbot.keyClicks(popup.search, "maxpool2")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)

    pool = next(n for n in graph.nodes.values() if n.type == "MaxPool2d")
    assert Edge(ids["conv2d1"], pool.id, 0) in graph.edges
    assert window.scene.node_items[pool.id].shape_value == (16, 13, 13)
    window.document.undo_stack.undo()  # one step removes the layer and its wire
    assert pool.id not in graph.nodes and len(graph.edges) == 2


def test_dropping_on_a_merge_node_body_uses_its_next_free_input(make_window):
    graph = chain("ReLU", shape=(8,))
    add = graph.add("Add", name="sum", position=(520, 200))
    window = make_window(Document(graph))
    ids = _nodes(window)
    scene, view = window.scene, window.view
    view.fit_to_view()
    body = scene.node_items[add].sceneBoundingRect().center() + QPointF(40, 0)
    drag(view, scene.node_items[ids["x"]].output.anchor(), body)
    drag(view, scene.node_items[ids["relu1"]].output.anchor(), body)
    assert sorted(e.port for e in graph.inputs_of(add)) == [0, 1]
    assert len(scene.node_items[add].inputs) == 3  # a spare port for a third input
    assert scene.node_items[add].shape_value == (8,)


def test_delete_key_removes_the_selection_and_undo_brings_it_back(make_window, qtbot):
    graph = chain("ReLU", "Tanh")
    window = make_window(Document(graph))
    before = state(graph)
    ids = _nodes(window)
    window.scene.select_nodes([ids["relu1"]])
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert ids["relu1"] not in graph.nodes
    assert not any(ids["relu1"] in (e.source, e.target) for e in graph.edges)
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert state(graph) == before
    assert set(window.scene.node_items) == set(graph.nodes)
    assert set(window.scene.edge_items) == set(graph.edges)


def test_node_items_show_name_shape_parameters_and_problems(make_window):
    graph = chain("Flatten", "Linear", shape=(1, 8, 8))
    broken = graph.add("Conv2d", name="lonely", position=(0, 300))
    window = make_window(Document(graph))
    ids = _nodes(window)
    linear = window.scene.node_items[ids["linear1"]]
    assert linear.shape_value == (64,)
    assert linear.parameters == 64 * 64 + 64
    assert linear.severity() is None
    lonely = window.scene.node_items[broken]
    assert lonely.severity() == "error"
    assert "no input" in lonely.toolTip()
    label = window.scene.edge_items[graph.inputs_of(ids["linear1"])[0]].label
    assert label == format_shape((64,))


def test_a_layer_that_leads_nowhere_is_marked_as_a_warning(make_window):
    graph = chain("ReLU", shape=(4,))
    dead_end = graph.add("Tanh", name="dead_end", position=(260, 200))
    graph.connect(graph.node_by_name("x").id, dead_end)
    window = make_window(Document(graph))
    item = window.scene.node_items[dead_end]
    assert item.severity() == "warning"
    assert "does not lead to any Output" in item.toolTip()


def test_a_wire_can_be_drawn_backwards_from_an_input_port(make_window):
    graph = chain("ReLU", shape=(4,))
    tanh = graph.add("Tanh", name="tanh", position=(260, 200))
    window = make_window(Document(graph))
    scene, view = window.scene, window.view
    view.fit_to_view()
    drag(
        view,
        scene.node_items[tanh].inputs[0].anchor(),
        scene.node_items[graph.node_by_name("x").id].output.anchor(),
    )
    assert Edge(graph.node_by_name("x").id, tanh, 0) in graph.edges


def test_releasing_a_backwards_wire_on_empty_canvas_adds_a_layer_feeding_the_input(make_window, qtbot):
    graph = chain("ReLU", shape=(4,))
    tanh = graph.add("Tanh", name="tanh", position=(260, 300))
    window = make_window(Document(graph))
    scene, view = window.scene, window.view
    view.reset_zoom()
    port = scene.node_items[tanh].inputs[0].anchor()
    view.centerOn(port)
    drag(view, port, port - QPointF(150, 60))
    popup = view.popup
    assert popup is not None and "Output" not in popup.types()  # an Output cannot feed anything
    qtbot.keyClicks(popup.search, "layernorm")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    norm = next(n for n in graph.nodes.values() if n.type == "LayerNorm")
    assert Edge(norm.id, tanh, 0) in graph.edges
    assert norm.position[0] < graph.nodes[tanh].position[0]


def test_a_selected_wire_is_deleted_with_the_delete_key(make_window, qtbot):
    graph = chain("ReLU", shape=(4,))
    window = make_window(Document(graph))
    edge = graph.inputs_of(graph.node_by_name("relu1").id)[0]
    item = window.scene.edge_items[edge]
    window.view.reset_zoom()
    window.view.centerOn(item.boundingRect().center())
    label_centre = item.shape().boundingRect().center()
    press(window.view, label_centre)
    release(window.view, label_centre)
    assert window.scene.selected_edges() == [edge]
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert edge not in graph.edges and len(graph.nodes) == 3
    window.document.undo_stack.undo()
    assert edge in graph.edges
