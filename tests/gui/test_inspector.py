"""The inspector: the right widget per parameter, edits re-validate and reshape everything."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSpinBox

from nnstudio.core.layers import CATALOG
from nnstudio.gui.document import Document

from .helpers import chain


def _select(window, name: str) -> str:
    node = window.document.graph.node_by_name(name)
    window.scene.select_nodes([node.id])
    return node.id


def _type_into(qtbot, widget, text: str) -> None:
    widget.setFocus()
    widget.selectAll()  # replace what is there, as a user would
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def test_each_parameter_kind_gets_its_own_widget_with_the_catalog_range(make_window):
    graph = chain("Conv2d", "Dropout", "RNN", shape=(1, 28, 28))
    window = make_window(Document(graph))
    _select(window, "conv2d1")
    editors = window.inspector.editors
    assert isinstance(editors["out_channels"], QSpinBox)
    assert (editors["out_channels"].minimum(), editors["out_channels"].maximum()) == (1, 8192)
    assert editors["out_channels"].value() == 16
    assert isinstance(editors["bias"], QCheckBox) and editors["bias"].isChecked()
    _select(window, "dropout1")
    assert isinstance(window.inspector.editors["p"], QDoubleSpinBox)
    assert window.inspector.editors["p"].maximum() == 0.99
    _select(window, "rnn1")
    assert isinstance(window.inspector.editors["nonlinearity"], QComboBox)
    _select(window, "x")
    assert isinstance(window.inspector.editors["shape"], QLineEdit)
    assert window.inspector.editors["shape"].text() == "1, 28, 28"
    assert window.inspector.description.text() == CATALOG["Input"].description


def test_typing_a_parameter_updates_shapes_downstream_on_canvas_and_in_the_summary(make_window, qtbot):
    graph = chain("Conv2d", "MaxPool2d", "Flatten", "Linear", shape=(1, 28, 28))
    window = make_window(Document(graph))
    conv = _select(window, "conv2d1")
    ids = {n.name: n.id for n in graph.nodes.values()}
    assert window.scene.node_items[ids["flatten1"]].shape_value == (16 * 13 * 13,)

    _type_into(qtbot, window.inspector.editors["out_channels"], "6")

    assert graph.nodes[conv].params["out_channels"] == 6
    assert window.scene.node_items[conv].shape_value == (6, 26, 26)
    assert window.scene.node_items[ids["maxpool2d1"]].shape_value == (6, 13, 13)
    assert window.scene.node_items[ids["flatten1"]].shape_value == (6 * 13 * 13,)
    linear_edge = graph.inputs_of(ids["linear1"])[0]
    assert window.scene.edge_items[linear_edge].label == "(1014,)"
    assert window.scene.node_items[ids["linear1"]].parameters == 1014 * 64 + 64
    assert "Output shape: (6, 26, 26)" in window.inspector.figures.text()
    window.summary.refresh()
    rows = {row[1]: row for row in window.summary.rows}
    assert rows["flatten1"][3] == "(1014,)"


def test_a_parameter_that_breaks_the_graph_marks_the_node_and_lists_the_problem(make_window, qtbot):
    graph = chain("Conv2d", shape=(1, 8, 8))
    window = make_window(Document(graph))
    conv = _select(window, "conv2d1")
    _type_into(qtbot, window.inspector.editors["kernel_size"], "12")
    assert window.scene.node_items[conv].severity() == "error"
    assert "does not fit" in window.scene.node_items[conv].toolTip()
    texts = [window.diagnostics.list.item(i).text() for i in range(window.diagnostics.list.count())]
    assert any("conv2d1" in t and "does not fit" in t for t in texts)
    assert window.inspector.problems.isVisible()
    window.document.undo_stack.undo()
    assert window.scene.node_items[conv].severity() is None
    assert window.diagnostics.list.count() == 0


def test_an_invalid_shape_is_explained_and_changes_nothing(make_window, qtbot):
    graph = chain("Flatten", shape=(1, 8, 8))
    window = make_window(Document(graph))
    node = _select(window, "x")
    _type_into(qtbot, window.inspector.editors["shape"], "1, eight, 8")
    assert graph.nodes[node].params["shape"] == (1, 8, 8)
    assert "whole numbers" in window.inspector.message.text()
    assert window.document.undo_stack.count() == 0
    _type_into(qtbot, window.inspector.editors["shape"], "3, 16, 16")
    assert graph.nodes[node].params["shape"] == (3, 16, 16)
    assert window.scene.node_items[graph.node_by_name("flatten1").id].shape_value == (768,)


def test_renaming_in_the_inspector_is_undoable_and_duplicate_names_are_refused(make_window, qtbot):
    graph = chain("ReLU", "Tanh")
    window = make_window(Document(graph))
    node = _select(window, "relu1")
    _type_into(qtbot, window.inspector.name_edit, "activation")
    assert graph.nodes[node].name == "activation"
    window.inspector.name_edit.clearFocus()
    _type_into(qtbot, window.inspector.name_edit, "tanh1")
    assert graph.nodes[node].name == "activation"
    assert "already named" in window.inspector.message.text()
    assert window.inspector.name_edit.text() == "activation"
    window.document.undo_stack.undo()
    assert graph.nodes[node].name == "relu1"
    assert window.inspector.name_edit.text() == "relu1"


def test_rapid_spin_box_steps_merge_into_one_undo_step(make_window, qtbot):
    graph = chain("Linear", shape=(8,))
    window = make_window(Document(graph))
    node = _select(window, "linear1")
    spin = window.inspector.editors["out_features"]
    spin.setFocus()
    for _ in range(5):
        qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert graph.nodes[node].params["out_features"] == 69
    assert window.document.undo_stack.count() == 1
    window.document.undo_stack.undo()
    assert graph.nodes[node].params["out_features"] == 64
    assert spin.value() == 64


def test_a_foreign_module_shows_its_import_path_read_only_and_says_it_cannot_be_edited(make_window):
    graph = chain("Linear", shape=(8,))
    foreign = graph.add(
        "Foreign", name="head", target="mylib.layers:SwishGate", args=[4, 0.5], in_shape=[16], out_shape=[16]
    )
    graph.connect(graph.node_by_name("linear1").id, foreign)
    window = make_window(Document(graph))
    _select(window, "head")
    inspector = window.inspector
    assert not inspector.editors  # nothing to edit
    path = inspector.findChild(QLineEdit, "param_target")
    assert path.text() == "mylib.layers:SwishGate" and path.isReadOnly()
    assert inspector.findChild(QLineEdit, "param_args").text() == "[4, 0.5]"
    note = inspector.findChild(QLabel, "foreign_note").text()
    assert "imports mylib.layers.SwishGate" in note and "cannot edit" in note
    linear = graph.node_by_name("linear1")
    if linear.params["out_features"] == 16:
        window.document.set_param(linear.id, "out_features", 12)
    _select(window, "head")
    assert "measured on inputs of shape (16,)" in inspector.problems.text()  # no code runs to check
    window.document.set_param(linear.id, "out_features", 16)
    assert window.scene.node_items[foreign].shape_value == (16,)
