"""Blocks in the editor, driven through the real widgets: Ctrl+G, double-click to open,
edit inside and see every instance follow, make unique, ungroup, undo of each."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from nnstudio.api import Graph
from nnstudio.core.block_library import add_builtin
from nnstudio.gui.document import Document

from .helpers import centre_of, chain, state, view_point


def _id(graph, name: str) -> str:
    return graph.node_by_name(name).id


def _two_instances() -> Graph:
    graph = Graph(name="two blocks")
    add_builtin(graph.blocks, "DoubleConv")
    x = graph.add("Input", name="x", shape=[1, 16, 16], position=(0, 0))
    a = graph.add("Block", name="stage1", block="DoubleConv", out_channels=4, position=(260, 0))
    b = graph.add("Block", name="stage2", block="DoubleConv", out_channels=8, repeat=2, position=(520, 0))
    out = graph.add("Output", name="out", position=(780, 0))
    graph.connect(x, a)
    graph.connect(a, b)
    graph.connect(b, out)
    return graph


def test_ctrl_g_groups_the_selection_into_one_undo_step(make_window, qtbot):
    graph = chain("Conv2d", "ReLU", "MaxPool2d", shape=(1, 16, 16))
    window = make_window(Document(graph))
    before = state(graph)
    shapes = graph.shapes()[_id(graph, "maxpool2d1")]
    window.scene.select_nodes([_id(graph, "conv2d1"), _id(graph, "relu1")])
    qtbot.keyClick(window.view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    (instance,) = [n for n in graph.nodes.values() if n.type == "Block"]
    assert window.scene.selected_node_ids() == [instance.id]
    assert "Conv2d" not in {n.type for n in graph.nodes.values()}
    assert graph.shapes()[_id(graph, "maxpool2d1")] == shapes
    assert not [d for d in graph.validate() if d.is_error]
    window.act_undo.trigger()
    assert state(graph) == before and len(graph.blocks) == 0
    window.act_redo.trigger()
    assert graph.nodes[instance.id].type == "Block"


def test_double_click_opens_a_block_with_a_breadcrumb_and_the_instances_shapes(make_window, qtbot):
    graph = _two_instances()
    window = make_window(Document(graph))
    stage2 = _id(graph, "stage2")
    qtbot.mouseDClick(
        window.view.viewport(),
        Qt.MouseButton.LeftButton,
        pos=view_point(window.view, centre_of(window.scene.node_items[stage2])).toPoint(),
    )
    assert window.block_editing.crumbs() == ["Model", "stage2", "DoubleConv"]
    assert window.block_editing.breadcrumb.isVisible()
    body = window.canvas_document.graph
    assert body.owner == "DoubleConv" and set(window.scene.node_items) == set(body.nodes)
    # Shapes inside are those of the instance opened (8 channels from 4), not the other one's.
    assert body.shapes()[_id(body, "conv1")] == (8, 16, 16)
    assert body.shapes()[_id(body, "x")] == (4, 16, 16)
    button = window.block_editing.breadcrumb.findChild(QToolButton, "crumb_0")
    button.click()
    assert window.block_editing.crumbs() == ["Model"]
    assert window.canvas_document is window.document and set(window.scene.node_items) == set(graph.nodes)


def test_an_edit_inside_changes_every_instance_and_undoes_from_the_model(make_window):
    graph = _two_instances()
    window = make_window(Document(graph))
    window.scene.select_nodes([_id(graph, "stage1")])
    assert "used 2 times" in window.inspector.description.text()
    count = graph.num_parameters()
    window.block_editing.open_instance(_id(graph, "stage1"))
    body = window.canvas_document.graph
    conv2 = _id(body, "conv2")
    window.scene.select_nodes([conv2])
    editor = window.inspector.editors["bias"]
    editor.setText("true")
    editor.editingFinished.emit()
    assert body.nodes[conv2].params["bias"] is True
    added = 4 + 8 + 8  # conv2's bias in stage1 and in both copies of stage2
    assert graph.num_parameters() == count + added
    assert window.document.modified
    window.block_editing.leave()
    window.act_undo.trigger()  # the model's one history holds the edit made inside
    assert graph.num_parameters() == count


def test_expressions_are_typed_in_the_inspector_inside_a_block(make_window):
    graph = _two_instances()
    window = make_window(Document(graph))
    window.block_editing.open_instance(_id(graph, "stage2"))
    body = window.canvas_document.graph
    conv1 = _id(body, "conv1")
    window.scene.select_nodes([conv1])
    editor = window.inspector.editors["out_channels"]
    assert editor.text() == "$out_channels"
    editor.setText("$out_channels * 2")
    editor.editingFinished.emit()
    assert body.nodes[conv1].params["out_channels"] == "$out_channels * 2"
    assert graph.shapes()[_id(graph, "stage1")] == (4, 16, 16)  # conv2 brings it back to out_channels


def test_make_unique_and_ungroup_are_single_undo_steps(make_window, qtbot):
    graph = _two_instances()
    window = make_window(Document(graph))
    before = state(graph)
    stage2 = _id(graph, "stage2")
    window.scene.select_nodes([stage2])
    window.block_editing.act_unique.trigger()
    assert graph.nodes[stage2].params["block"] == "DoubleConv2" and "DoubleConv2" in graph.blocks
    window.scene.select_nodes([stage2])
    qtbot.keyClick(
        window.view, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert stage2 not in graph.nodes
    assert [n.params["out_channels"] for n in graph.nodes.values() if n.type == "Conv2d"] == [8, 8, 8, 8]
    assert not [d for d in graph.validate() if d.is_error]
    window.act_undo.trigger()
    assert graph.nodes[stage2].params["block"] == "DoubleConv2"
    window.act_undo.trigger()
    assert state(graph) == before and "DoubleConv2" not in graph.blocks


def test_a_repeated_instance_shows_its_block_and_a_times_n_badge(make_window):
    graph = _two_instances()
    window = make_window(Document(graph))
    item = window.scene.node_items[_id(graph, "stage2")]
    assert item.type_label() == "DoubleConv" and item.repeat() == 2
    window.document.set_param(_id(graph, "stage2"), "repeat", 3)
    assert window.scene.node_items[_id(graph, "stage2")].repeat() == 3


def test_the_palette_lists_blocks_and_adds_an_instance_with_its_definition(make_window):
    graph = chain("ReLU", shape=(3, 16, 16))
    window = make_window(Document(graph))
    item = window.palette.tree.item_for("Block:BasicBlock")
    assert item is not None and item.parent().text(0) == "Blocks"
    window.palette.tree.itemActivated.emit(item, 0)
    (instance,) = [n for n in graph.nodes.values() if n.type == "Block"]
    assert instance.params["block"] == "BasicBlock" and "BasicBlock" in graph.blocks
    window.act_undo.trigger()
    assert instance.id not in graph.nodes


def test_a_block_saved_to_the_user_library_is_offered_in_another_project(make_window):
    graph = _two_instances()
    window = make_window(Document(graph))
    window.scene.select_nodes([_id(graph, "stage1")])
    window.block_editing.make_unique_selection()
    window.scene.select_nodes([_id(graph, "stage1")])
    path = window.block_editing.save_selection_to_library()
    assert path and path.endswith("DoubleConv2.nnblock")
    other = make_window(Document(chain("ReLU", shape=(3, 16, 16))))
    item = other.palette.tree.item_for("Block:DoubleConv2")
    assert item is not None
    other.palette.tree.itemActivated.emit(item, 0)
    assert "DoubleConv2" in other.document.graph.blocks


def test_copied_instances_bring_their_block_into_another_window(make_window):
    from PySide6.QtGui import QGuiApplication

    source = make_window(Document(_two_instances()))
    graph = source.document.graph
    source.scene.select_nodes([_id(graph, "stage2")])
    assert source.copy()
    target = make_window(Document(chain("ReLU", shape=(3, 16, 16))))
    assert QGuiApplication.clipboard().mimeData() is not None
    (pasted,) = target.paste()
    other = target.document.graph
    assert other.nodes[pasted].params["block"] == "DoubleConv" and "DoubleConv" in other.blocks
    assert other.nodes[pasted].params["repeat"] == 2


def test_the_summary_names_each_instances_block_and_repeat(make_window):
    graph = _two_instances()
    window = make_window(Document(graph))
    window.docks["summary"].show()
    window.docks["summary"].raise_()
    window.summary.refresh()
    rows = {row[1]: row[2] for row in window.summary.rows}
    assert rows["stage1"] == "DoubleConv" and rows["stage2"] == "DoubleConv ×2"


def test_tab_search_offers_blocks(make_window, qtbot):
    graph = chain("ReLU", shape=(3, 16, 16))
    window = make_window(Document(graph))
    popup = window.view.open_layer_popup(window.view.mapToScene(window.view.viewport().rect().center()))
    qtbot.keyClicks(popup.search, "basicblock")
    assert popup.types() == ["Block:BasicBlock"]
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert [n.params.get("block") for n in graph.nodes.values() if n.type == "Block"] == ["BasicBlock"]


def test_the_canvas_context_menu_offers_the_block_entries(make_window):
    window = make_window(Document(chain("ReLU", shape=(3, 16, 16))))
    assert window.view.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    texts = [a.text().replace("&", "") for a in window.view.actions()]
    assert {"Group into Block", "Ungroup Block", "Open Block", "Make Block Unique"} <= set(texts)


def test_inside_a_block_the_palette_offers_its_ports(make_window):
    graph = _two_instances()
    window = make_window(Document(graph))
    assert window.palette.tree.item_for("Block:BlockInput") is None  # the model has no ports
    window.block_editing.open_instance(_id(graph, "stage1"))
    item = window.palette.tree.item_for("Block:BlockOutput")
    assert item is not None
    window.palette.tree.itemActivated.emit(item, 0)
    body = window.canvas_document.graph
    assert [n.type for n in body.nodes.values()].count("BlockOutput") == 2
    assert any("exactly one BlockOutput" in d.message for d in graph.validate())
    window.act_undo.trigger()
    assert not [d for d in graph.validate() if d.is_error]


def test_a_model_with_blocks_trains_in_the_app_and_keeps_its_weights_per_instance_path(qtbot, tmp_path):
    from nnstudio.core import blocks
    from nnstudio.gui.training.worker import RunRequest, TrainingWorker
    from nnstudio.training.events import Finished

    from .training.conftest import RUN_TIMEOUT_MS, example

    graph = example("mlp_circles", epochs=1)
    hidden = [n.id for n in graph.nodes.values() if n.type in ("Linear", "ReLU")][:2]
    edit = blocks.group(graph, hidden, name="Hidden")
    worker = TrainingWorker()
    with qtbot.waitSignal(worker.finished, timeout=RUN_TIMEOUT_MS) as finished:
        worker.start(RunRequest(graph.to_dict(), dict(graph.training), tmp_path / "run"))
    worker.close()  # its process goes
    outcome = finished.args[0]
    assert isinstance(outcome.final, Finished)
    assert any(key.startswith(f"{edit.result}.0/") for key in outcome.weights.weights)
