"""Live views inside blocks, through the real widgets: after a short run on a small ResNet of
BasicBlock instances, opening an instance offers its inner layers (each copy, by path) in the
feature-map picker, the maps of a picked inner layer arrive, and health tags follow the level."""

from __future__ import annotations

import math

import pytest

from nnstudio.api import Graph
from nnstudio.core.block_library import resnet
from nnstudio.gui.document import Document
from nnstudio.training.events import LayerStat, LayerStatsReady

from .conftest import RUN_TIMEOUT_MS, wait_for_run


def digits_resnet() -> Graph:
    graph = Graph(name="digits resnet")
    resnet(graph, layers=(2, 1), input_shape=(1, 8, 8), small_input=True, widths=(4, 8), num_classes=10)
    graph.training = {**graph.training, "dataset": "digits", "epochs": 1, "device": "cpu"}
    return graph


@pytest.fixture
def trained(make_window, qtbot):
    window = make_window(Document(digits_resnet()))
    window.training.start()
    wait_for_run(qtbot, window.training)
    return window


def _pick(view, key: str) -> None:
    index = view.layer_box.findData(key)
    assert index >= 0, f"{key} is not offered: {view.layer_keys}"
    view.layer_box.setCurrentIndex(index)
    view.layer_box.activated.emit(index)


def test_opening_a_repeated_instance_offers_each_copys_layers_and_shows_their_maps(trained, qtbot):
    window, training = trained, trained.training
    maps = training.tabs.feature_maps
    assert "layer1.0/conv1" not in maps.layer_keys  # the top level lists the model's own layers
    graph = window.document.graph
    # The run's layer statistics named the layers inside the instances by path.
    assert {"layer1.0/conv1", "layer1.1/relu", "layer2/conv2"} <= set(training._last_stats.stats)
    rows = [
        training.tabs.health.table.item(r, 0).text() for r in range(training.tabs.health.table.rowCount())
    ]
    assert "layer1" in rows and "layer1.1/relu" in rows
    assert rows[rows.index("layer1") + 1].startswith("layer1.0/")  # under its instance
    window.block_editing.open_instance(graph.node_by_name("layer1").id)
    keys = maps.layer_keys
    assert {"layer1.0/conv1", "layer1.1/conv1", "layer1.1/relu_out"} <= set(keys)
    assert "layer1.0/add" not in keys and "layer2/conv1" not in keys
    assert all(k.startswith(("layer1.0/", "layer1.1/")) for k in keys)
    assert maps.layer_box.currentData() == "layer1.0/conv1"  # the view turns to the block's first layer

    training.tabs.setCurrentWidget(maps)
    _pick(maps, "layer1.1/conv2")
    qtbot.waitUntil(
        lambda: maps.payload is not None and maps.payload.node_id == "layer1.1/conv2", timeout=RUN_TIMEOUT_MS
    )
    assert len(maps.grid.images) == 4  # the block's 4 channels at 8x8
    assert "layer1.1/conv2" in maps.title.text()
    body = window.canvas_document.graph
    assert window.scene.selected_node_ids() == [body.node_by_name("conv2").id]
    # A click on another inner layer stays in the copy being looked at.
    window.scene.select_nodes([body.node_by_name("conv1").id])
    qtbot.waitUntil(lambda: maps.payload.node_id == "layer1.1/conv1", timeout=RUN_TIMEOUT_MS)
    assert maps.layer_box.currentData() == "layer1.1/conv1"

    # Filters: the layer box lists this instance's convolutions only.
    filters = training.tabs.filters
    training.tabs.setCurrentWidget(filters)
    qtbot.waitUntil(
        lambda: filters.payload is not None and filters.payload.node_id == "layer1.1/conv1",
        timeout=RUN_TIMEOUT_MS,
    )
    listed = [filters.layer_box.itemData(i) for i in range(filters.layer_box.count())]
    assert listed == ["layer1.0/conv1", "layer1.0/conv2", "layer1.1/conv1", "layer1.1/conv2"]

    # Back at the top level the picker lists the model's layers again.
    window.block_editing.go_to(0)
    assert graph.node_by_name("layer1").id in maps.layer_keys and "layer1.1/conv1" not in maps.layer_keys


def test_a_dead_relu_inside_a_copy_is_told_on_its_instance_then_on_the_inner_node(make_window):
    """Statistics as the training thread computes them (a run is not needed to show them)."""
    import torch

    from nnstudio.training import probes

    graph = digits_resnet()
    window = make_window(Document(graph))
    training = window.training
    health = training.tabs.health
    layer1 = graph.node_by_name("layer1").id
    torch.manual_seed(0)
    model = graph.compile()
    probe = torch.randn(16, 1, 8, 8)
    model(probe).sum().backward()
    with torch.no_grad():
        model.layer1[1].bn1.bias.fill_(-100.0)  # every unit of copy 1's first ReLU stays off
    stats = probes.layer_statistics(model, probe, probes.inner_layers(model, graph))
    assert stats["layer1.1/relu"].dead_fraction == 1.0
    stats["layer1.1/conv1"] = LayerStat(0.1, 0.2, 123.0, float("nan"))  # told apart from copy 0's

    # The instance says so at the top level ...
    training._last_stats = LayerStatsReady(99, stats)
    training._show_stats()
    tag = training.overlay.tags[layer1]
    assert "1 layer inside needs attention" in tag.text
    assert "layer1.1/relu" in tag.toolTip() and "dead" in tag.toolTip()
    assert "1 layer needs attention" in health.title.text()
    row = [health.table.item(r, 0).text() for r in range(health.table.rowCount())].index("layer1")
    assert health.table.item(row, 6).text() == "1 layer inside needs attention"
    # ... and a click on the ReLU's row opens the block there, the tag on the inner ReLU.
    rows = [health.table.item(r, 0).text() for r in range(health.table.rowCount())]
    health.table.cellClicked.emit(rows.index("layer1.1/relu"), 0)
    assert window.block_editing.crumbs() == ["Model", "layer1", "BasicBlock"]
    body = window.canvas_document.graph
    relu = body.node_by_name("relu").id
    assert window.scene.selected_node_ids() == [relu]
    assert set(training.overlay.tags) <= set(body.nodes)
    assert "dead ReLUs" in training.overlay.tags[relu].text
    assert "layer1.1/relu" in training.overlay.tags[relu].toolTip()
    assert "dead" not in training.overlay.tags[body.node_by_name("conv1").id].text
    # The numbers under a node are those of the copy the views look at.
    conv1 = body.node_by_name("conv1").id
    assert training.overlay.tags[conv1].text == f"∇ {stats['layer1.0/conv1'].grad_norm:.2g}" != "∇ 1.2e+02"
    maps = training.tabs.feature_maps
    maps.layer_box.setCurrentIndex(maps.layer_box.findData("layer1.1/conv2"))
    maps.layer_box.activated.emit(maps.layer_box.currentIndex())
    assert training.overlay.tags[conv1].text == "∇ 1.2e+02"
    listed = [health.table.item(r, 0).text() for r in range(health.table.rowCount())]
    assert listed and all(name.startswith(("layer1.0/", "layer1.1/")) for name in listed)
    assert "inside layer1.0, layer1.1" in health.title.text()
    # A row of the table selects its node on the canvas.
    health.table.cellClicked.emit(listed.index("layer1.0/conv2"), 0)
    assert window.scene.selected_node_ids() == [body.node_by_name("conv2").id]
    assert math.isfinite(stats["layer1.0/conv1"].grad_norm)


def test_a_block_inside_a_block_is_reached_level_by_level(make_window):
    """Without a run: statistics as the training thread names them, for a nested repeat."""
    from nnstudio.core.block_library import add_builtin

    graph = Graph(name="nested")
    add_builtin(graph.blocks, "DoubleConv")
    body = graph.blocks.define("Stage", [{"name": "width", "kind": "int", "default": 4}]).body
    port = body.add("BlockInput", name="x")
    inner = body.add("Block", name="inner", block="DoubleConv", out_channels="$width", repeat=2)
    body.connect(port, inner)
    body.connect(inner, body.add("BlockOutput", name="out"))
    x = graph.add("Input", name="x", shape=[1, 8, 8])
    enc = graph.add("Block", name="enc", block="Stage")
    graph.connect(x, enc)
    graph.connect(enc, graph.add("Output", name="y"))
    window = make_window(Document(graph))
    training = window.training
    fine = LayerStat(0.1, 0.2, 0.5, float("nan"))
    stats = {enc: fine, "enc/inner.0/conv1": fine, "enc/inner.1/conv1": fine}
    stats["enc/inner.1/relu2"] = LayerStat(0.0, 0.0, float("nan"), 0.9)
    training._last_stats = LayerStatsReady(5, stats)
    training._show_stats()
    assert "1 layer inside needs attention" in training.overlay.tags[enc].text

    window.block_editing.open_instance(enc)  # Stage's body: the inner instance sums it up
    assert training.scope.prefixes == ["enc"]
    stage_body = window.canvas_document.graph
    assert "1 layer inside" in training.overlay.tags[stage_body.node_by_name("inner").id].text

    # Its parameter is "$width": opening it must not fail on the expression.
    window.block_editing.open_instance(stage_body.node_by_name("inner").id)
    assert training.scope.prefixes == ["enc/inner.0", "enc/inner.1"]
    keys = training.tabs.feature_maps.layer_keys
    assert "enc/inner.0/conv1" in keys and "enc/inner.1/conv1" in keys
    double = window.canvas_document.graph
    assert double.shapes()[double.node_by_name("conv1").id] == (4, 8, 8)  # "$width" of enc, 4
    assert "dead ReLUs" in training.overlay.tags[double.node_by_name("relu2").id].text
    assert "enc/inner.1/relu2" in training.overlay.tags[double.node_by_name("relu2").id].toolTip()
