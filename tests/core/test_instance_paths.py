"""Layers inside block instances by instance path: what the summary tree and the live views list."""

from __future__ import annotations

from nnstudio.api import Graph
from nnstudio.core.block_library import add_builtin, resnet
from nnstudio.core.instance_paths import copy_prefixes, is_inside, layers_by_path, locate, model_rows, walk


def small_resnet() -> Graph:
    """A CIFAR-style ResNet with a repeated stage (layer1 ×2) and a projecting one (layer2)."""
    graph = Graph(name="small resnet")
    resnet(graph, layers=(2, 1), input_shape=(3, 16, 16), small_input=True, widths=(8, 16), num_classes=3)
    return graph


def test_a_repeated_instance_lists_each_copy_and_the_counts_add_up_to_the_instance() -> None:
    graph = small_resnet()
    figures = graph.analyze().figures
    rows = model_rows(graph)
    layer1, layer2 = graph.node_by_name("layer1"), graph.node_by_name("layer2")
    copies = rows[layer1.id]
    assert [c.path for c in copies] == ["layer1.0", "layer1.1"]
    assert sum(c.parameters for c in copies) == figures[layer1.id].parameters
    assert sum(c.macs for c in copies) == figures[layer1.id].macs
    for copy in copies:
        assert sum(r.parameters for r in copy.children) == copy.parameters
        assert sum(r.macs for r in copy.children) == copy.macs
    # Without a repeat the layers are the instance's rows directly, with that instance's shapes.
    inner = {r.name: r for r in rows[layer2.id]}
    assert inner["conv1"].path == "layer2/conv1" and inner["conv1"].shape == (16, 8, 8)
    assert inner["conv1"].parameters == 8 * 16 * 3 * 3
    assert inner["downsample"].parameters == 8 * 16 + 2 * 16  # the projecting shortcut
    assert sum(r.parameters for r in rows[layer2.id]) == figures[layer2.id].parameters


def test_paths_name_copies_as_diagnostics_do_and_nest() -> None:
    graph = Graph(name="nested")
    add_builtin(graph.blocks, "DoubleConv")
    x = graph.add("Input", name="x", shape=[1, 8, 8])
    stage = graph.add("Block", name="stage", block="DoubleConv", out_channels=4, repeat=2)
    out = graph.add("Output", name="out")
    graph.connect(x, stage)
    graph.connect(stage, out)
    paths = list(layers_by_path(graph))
    assert "stage.0/conv1" in paths and "stage.1/conv1" in paths
    assert copy_prefixes(graph, ["stage"]) == ["stage.0", "stage.1"]
    assert copy_prefixes(graph, []) == [] and copy_prefixes(graph, ["nothing"]) == []
    assert is_inside("stage.1/conv1", "stage") and is_inside("stage.1/conv1", "stage.1")
    assert not is_inside("stage10/conv1", "stage") and not is_inside("stage", "stage")


def test_a_block_inside_a_block_expands_with_its_own_paths() -> None:
    graph = Graph(name="outer")
    add_builtin(graph.blocks, "DoubleConv")
    body = graph.blocks.define("Stage", [{"name": "width", "kind": "int", "default": 4}]).body
    port = body.add("BlockInput", name="x")
    inner = body.add("Block", name="inner", block="DoubleConv", out_channels="$width", repeat=2)
    body.connect(port, inner)
    body.connect(inner, body.add("BlockOutput", name="out"))
    x = graph.add("Input", name="x", shape=[1, 8, 8])
    outer = graph.add("Block", name="enc", block="Stage", width=6)
    graph.connect(x, outer)
    graph.connect(outer, graph.add("Output", name="y"))
    assert not [d for d in graph.validate() if d.is_error]
    rows = list(walk(model_rows(graph)[outer]))
    paths = [r.path for r in rows]
    assert "enc/inner" in paths and "enc/inner.1" in paths and "enc/inner.1/conv2" in paths
    conv = next(r for r in rows if r.path == "enc/inner.0/conv1")
    assert conv.shape == (6, 8, 8)  # $width of this instance reached the inner block
    top = next(r for r in rows if r.path == "enc/inner")
    assert top.parameters == graph.analyze().figures[outer].parameters
    assert copy_prefixes(graph, ["enc", "inner"]) == ["enc/inner.0", "enc/inner.1"]


def test_a_path_locates_the_instances_to_open_and_the_layer_inside() -> None:
    graph = small_resnet()
    layer1 = graph.node_by_name("layer1").id
    body = graph.blocks.get("BasicBlock").body
    assert locate(graph, "layer1.1/conv2") == ([layer1], body.node_by_name("conv2").id)
    assert locate(graph, "layer2/relu_out") == (
        [graph.node_by_name("layer2").id],
        body.node_by_name("relu_out").id,
    )
    assert locate(graph, "fc") == ([], graph.node_by_name("fc").id)
    assert locate(graph, "layer1.1") == ([layer1], None)
    assert locate(graph, "layer9/conv1") == ([], None)
