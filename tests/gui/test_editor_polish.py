"""Small things a learner trips over in the editor: a stale red complaint, a toolbar that
jumps, clipped names, "1 layers"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from nnstudio.gui.document import Document
from nnstudio.gui.editor.node_item import NodeItem

from .helpers import chain


def _type_into(qtbot, widget, text: str) -> None:
    widget.setFocus()
    widget.selectAll()
    qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Return)


def test_the_inspector_drops_its_complaint_once_the_text_reads_again(make_window, qtbot):
    graph = chain("Linear", shape=(4,))
    window = make_window(Document(graph))
    window.scene.select_nodes([graph.node_by_name("x").id])
    shape = window.inspector.editors["shape"]
    _type_into(qtbot, shape, "four")
    assert "not a list of whole numbers" in window.inspector.message.text()
    _type_into(qtbot, shape, "4")  # the value it had: nothing to change, but the text is fine now
    assert window.inspector.message.text() == ""
    _type_into(qtbot, shape, "1, a")
    assert window.inspector.message.text()
    _type_into(qtbot, shape, "8")
    assert window.inspector.message.text() == ""
    assert graph.node_by_name("x").params["shape"] == (8,)


def _toolbar_buttons(window) -> dict[str, QToolButton]:
    return {a.text(): window.toolbar.widgetForAction(a) for a in window.toolbar.actions() if a.text()}


def test_the_toolbar_undo_button_keeps_its_size_and_place(make_window, qtbot):
    graph = chain("Conv2d", shape=(1, 8, 8))
    window = make_window(Document(graph))
    buttons = _toolbar_buttons(window)
    before = {text: button.geometry() for text, button in buttons.items()}
    assert not buttons["Undo"].isEnabled()
    window.document.set_param(graph.node_by_name("conv2d1").id, "kernel_size", 5)
    qtbot.wait(10)
    after = {text: button.geometry() for text, button in _toolbar_buttons(window).items()}
    assert after == before
    undo = _toolbar_buttons(window)["Undo"]
    assert undo.isEnabled() and undo.text() == "Undo"
    assert "kernel_size" in undo.defaultAction().toolTip()  # the detail is still there
    undo.click()
    assert graph.node_by_name("conv2d1").params["kernel_size"] == 3
    assert window.act_undo.text().startswith("&Undo") or "Undo" in window.act_undo.text()


def test_one_layer_is_not_called_layers(make_window):
    graph = chain(shape=(4,))  # just the Input and the Output
    graph.remove(graph.node_by_name("out").id)
    window = make_window(Document(graph))
    window.document.refresh()
    assert window.counts_label.text().startswith("1 layer ·")
    assert window.summary.totals.text().startswith("1 layer ·")


def test_long_parameter_names_are_shown_whole_beside_short_values(make_window):
    graph = chain("LSTM", shape=(50, 1))
    window = make_window(Document(graph))
    item: NodeItem = window.scene.node_items[graph.node_by_name("lstm1").id]
    rows = {label: value for label, _, value, _ in item.param_rows()}
    assert rows["return_sequences"] == "no"
    assert rows["bidirectional"] == "no"


def test_the_inception_node_shows_all_six_settings(make_window):
    graph = chain("Inception", shape=(3, 16, 16))
    window = make_window(Document(graph))
    item: NodeItem = window.scene.node_items[graph.node_by_name("inception1").id]
    assert [label for label, *_ in item.param_rows()] == [
        "ch1x1",
        "ch3x3red",
        "ch3x3",
        "ch5x5red",
        "ch5x5",
        "pool_proj",
    ]


def test_the_training_settings_choices_fit_their_boxes(make_window, qtbot):
    from PySide6.QtWidgets import QComboBox

    window = make_window()
    window.resize(1280, 800)
    window.docks["training"].raise_()
    form = window.training.panel.form
    qtbot.waitUntil(form.isVisible, timeout=3000)
    cut = []
    for box in form.findChildren(QComboBox):
        if not box.isVisible() or box.isEditable():
            continue
        room = box.width() - 28  # the arrow and the frame
        for i in range(box.count()):
            if box.fontMetrics().horizontalAdvance(box.itemText(i)) > room:
                cut.append(box.itemText(i))
    assert cut == []  # "Automatic (from the tas" was cut off
