"""The summary is a tree: each block instance expands into its layers (a repeat into its copies
first), with that instance's shapes and counts, which add up to the instance's row."""

from __future__ import annotations

from PySide6.QtCore import Qt

from nnstudio.gui.document import Document
from tests.core.test_instance_paths import small_resnet


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _children(item) -> list:
    return [item.child(i) for i in range(item.childCount())]


def test_a_repeated_instance_expands_into_copies_and_their_layers(make_window):
    graph = small_resnet()
    window = make_window(Document(graph))
    summary = window.summary
    window.docks["summary"].show()
    window.docks["summary"].raise_()
    summary.refresh()
    layer1 = summary.item_of("layer1")
    assert layer1.text(1) == "BasicBlock ×2" and not layer1.isExpanded()
    copies = _children(layer1)
    assert [c.text(0) for c in copies] == ["copy 1 · layer1.0", "copy 2 · layer1.1"]
    assert (
        sum(_count(c.text(3)) for c in copies)
        == _count(layer1.text(3))
        == graph.analyze().figures[graph.node_by_name("layer1").id].parameters
    )
    layers = {c.text(0): c for c in _children(copies[1])}
    assert {"conv1", "bn1", "relu", "conv2", "bn2", "add", "relu_out", "downsample"} == set(layers)
    assert layers["conv1"].text(1) == "Conv2d" and layers["conv1"].text(2) == "(8, 16, 16)"
    assert layers["conv1"].text(3) == f"{8 * 8 * 3 * 3:,}"
    assert sum(_count(c.text(3)) for c in layers.values()) == _count(copies[1].text(3))
    # Without a repeat the layers are the instance's children, with its own shapes.
    layer2 = summary.item_of("layer2")
    inner = {c.text(0): c for c in _children(layer2)}
    assert inner["conv1"].text(2) == "(16, 8, 8)"
    assert sum(_count(c.text(3)) for c in inner.values()) == _count(layer2.text(3))
    # The totals count every parameter once, whatever is open.
    assert f"{graph.num_parameters():,} parameters" in summary.totals.text()
    # A row opened stays open after an edit rebuilds the tree.
    layer2.setExpanded(True)
    window.document.set_param(graph.node_by_name("fc").id, "out_features", 5)
    summary.refresh()
    assert summary.item_of("layer2").isExpanded()


def test_opening_a_block_on_the_canvas_opens_its_instance_in_the_summary(make_window):
    graph = small_resnet()
    window = make_window(Document(graph))
    window.docks["summary"].show()
    window.docks["summary"].raise_()
    window.summary.refresh()
    window.block_editing.open_instance(graph.node_by_name("layer1").id)
    assert window.summary.item_of("layer1").isExpanded()
    assert window.summary.item_of("layer1.0").isExpanded() and window.summary.item_of("layer1.1").isExpanded()
    assert not window.summary.item_of("layer2").isExpanded()


def test_double_clicking_a_layer_inside_an_instance_opens_its_block_there(make_window, qtbot):
    graph = small_resnet()
    window = make_window(Document(graph))
    window.docks["summary"].show()
    window.docks["summary"].raise_()
    summary = window.summary
    summary.refresh()
    item = summary.item_of("layer1.1/conv2")
    summary.item_of("layer1").setExpanded(True)
    summary.item_of("layer1.1").setExpanded(True)
    summary.tree.scrollToItem(item)
    centre = summary.tree.visualItemRect(item).center()
    qtbot.mouseClick(summary.tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)  # as a real double-click
    qtbot.mouseDClick(summary.tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert window.block_editing.crumbs() == ["Model", "layer1", "BasicBlock"]
    body = window.canvas_document.graph
    assert window.scene.selected_node_ids() == [body.node_by_name("conv2").id]
    # A top-level row selects its node, back at the top level.
    window.block_editing.go_to(0)
    fc = summary.item_of("fc")
    summary.tree.scrollToItem(fc)
    qtbot.mouseClick(
        summary.tree.viewport(), Qt.MouseButton.LeftButton, pos=summary.tree.visualItemRect(fc).center()
    )
    assert window.scene.selected_node_ids() == [graph.node_by_name("fc").id]
