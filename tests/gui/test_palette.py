"""The palette: every layer, grouped and searchable; dragging one onto the canvas adds it."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from nnstudio.core.layers import CATALOG, specs_by_category

from .helpers import drop_from_palette


def test_palette_lists_every_catalog_layer_by_category_with_descriptions(window):
    tree = window.palette.tree
    groups = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    for category, specs in specs_by_category().items():
        if not specs:
            continue
        group = groups[category]
        listed = [group.child(i).text(0) for i in range(group.childCount())]
        assert listed == [s.type for s in specs]
        for i, spec in enumerate(specs):
            assert spec.description in group.child(i).toolTip(0)
    layers = [
        t for t in window.palette.visible_types() if not t.startswith("Block:")
    ]  # Blocks: their own group
    assert sorted(layers) == sorted(CATALOG)


def test_palette_search_filters_by_name_and_description(window, qtbot):
    qtbot.keyClicks(window.palette.search, "memory")
    visible = window.palette.visible_types()
    assert "LSTM" in visible and "RNN" in visible
    assert "Conv2d" not in visible
    window.palette.search.clear()
    qtbot.keyClicks(window.palette.search, "conv")
    assert set(window.palette.visible_types()) >= {"Conv1d", "Conv2d", "ConvTranspose2d"}
    assert "Linear" not in window.palette.visible_types()


def test_dropping_a_layer_from_the_palette_creates_it_where_it_was_dropped(window):
    drop_from_palette(window.palette, window.view, "Conv2d", QPointF(120, 80))
    graph = window.document.graph
    assert [n.type for n in graph.nodes.values()] == ["Conv2d"]
    node = next(iter(graph.nodes.values()))
    assert abs(node.position[0] - 120) <= 1 and abs(node.position[1] - 80) <= 1
    item = window.scene.node_items[node.id]
    assert item.isSelected()
    assert window.inspector.node_id == node.id  # the new layer is ready to edit
    assert window.document.modified and window.isWindowModified()


def test_activating_a_palette_entry_adds_the_layer_in_the_middle_of_the_view(window):
    item = window.palette.tree.item_for("Linear")
    window.palette.tree.itemActivated.emit(item, 0)
    assert [n.type for n in window.document.graph.nodes.values()] == ["Linear"]
