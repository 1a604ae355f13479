"""The inspector's "Enabled when" field for a layer inside a block, and the canvas dimming a
layer switched off for the instance the block was opened from."""

from __future__ import annotations

from nnstudio.api import Graph
from nnstudio.core.block_library import add_builtin
from nnstudio.gui.document import Document


def _encoder() -> Graph:
    graph = Graph(name="encoder")
    add_builtin(graph.blocks, "TransformerEncoderLayer")
    x = graph.add("Input", name="tokens", shape=[6, 16], position=(0, 0))
    layer = graph.add("Block", name="layer", block="TransformerEncoderLayer", nhead=2, position=(260, 0))
    out = graph.add("Output", name="out", position=(520, 0))
    graph.connect(x, layer)
    graph.connect(layer, out)
    return graph


def test_enabled_when_is_edited_in_the_inspector_and_undone(make_window):
    graph = _encoder()
    window = make_window(Document(graph))
    count = graph.num_parameters()
    window.block_editing.open_instance(graph.node_by_name("layer").id)
    body = window.canvas_document.graph
    pre_norm1, norm1 = body.node_by_name("pre_norm1").id, body.node_by_name("norm1").id
    # norm_first is False for this instance: the pre-norm LayerNorm is drawn dimmed.
    assert window.scene.node_items[pre_norm1].opacity() < 1.0
    assert window.scene.node_items[norm1].opacity() == 1.0
    window.scene.select_nodes([pre_norm1])
    field = window.inspector.enabled_edit
    assert field is not None and field.text() == "$norm_first"
    assert "Switched off" in window.inspector.figures.text()

    window.scene.select_nodes([norm1])
    field = window.inspector.enabled_edit
    assert field.text() == "not $norm_first"
    field.setText("false")
    field.editingFinished.emit()
    assert body.nodes[norm1].enabled is False
    assert graph.num_parameters() == count - 2 * 16  # norm1's weight and bias are gone
    assert window.scene.node_items[norm1].opacity() < 1.0

    field.setText("$norm_first +")  # not a condition: refused in words, the field shows the model
    field.editingFinished.emit()
    assert "'enabled' = $norm_first +" in window.inspector.message.text()
    assert field.text() == "false" and body.nodes[norm1].enabled is False

    window.act_undo.trigger()
    assert body.nodes[norm1].enabled == "not $norm_first" and field.text() == "not $norm_first"
    assert graph.num_parameters() == count


def test_a_layer_of_the_model_has_no_enabled_field(make_window):
    graph = _encoder()
    window = make_window(Document(graph))
    window.scene.select_nodes([graph.node_by_name("layer").id])
    assert window.inspector.enabled_edit is None
