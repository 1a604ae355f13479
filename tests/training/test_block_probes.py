"""The live views' probes reach inside block instances: each layer of each copy, by path."""

from __future__ import annotations

import pytest
import torch

from nnstudio.core.block_library import resnet
from nnstudio.training import probes
from nnstudio.training.errors import InspectError
from nnstudio.training.health import judge
from tests.core.test_instance_paths import small_resnet


@pytest.fixture(scope="module")
def block_model():
    graph = small_resnet()
    torch.manual_seed(0)
    model = graph.compile()
    return graph, model, probes.inner_layers(model, graph)


def test_inner_layers_are_the_submodules_of_each_copy(block_model) -> None:
    graph, model, inner = block_model
    assert inner["layer1.0/conv1"].module is model.layer1[0].conv1
    assert inner["layer1.1/relu_out"].module is model.layer1[1].relu_out
    assert inner["layer2/conv2"].module is model.layer2.conv2
    assert inner["layer2/conv1"].type == "Conv2d"
    assert inner["layer2/conv1"].instance == graph.node_by_name("layer2").id
    assert "layer2/add" not in inner  # an Add has no module: nothing to hook
    assert probes.node_label(model, "layer1.1/conv2", inner) == "Conv2d 'layer1.1/conv2'"


def test_inner_feature_maps_have_each_copys_shape(block_model) -> None:
    graph, model, inner = block_model
    sample = torch.randn(3, 16, 16)
    assert probes.feature_maps(model, "layer1.1/conv2", sample, inner=inner).shape == (8, 16, 16)
    assert probes.feature_maps(model, "layer2/conv1", sample, inner=inner).shape == (16, 8, 8)
    # The last layer of the block computes what the instance returns.
    instance = probes.feature_maps(model, graph.node_by_name("layer2").id, sample)
    assert (probes.feature_maps(model, "layer2/relu_out", sample, inner=inner) == instance).all()
    with pytest.raises(InspectError, match="'layer2/add' has no layer of its own"):
        probes.feature_maps(model, "layer2/add", sample, inner=inner)
    assert model.training  # left as it was found


def test_layer_statistics_include_inner_layers_and_find_a_dead_relu_inside(block_model) -> None:
    graph, model, inner = block_model
    probe = torch.randn(32, 3, 16, 16)
    model.zero_grad()
    model(probe).sum().backward()
    with torch.no_grad():
        model.layer1[1].bn1.bias.fill_(-100.0)  # every unit of copy 1's first ReLU stays off
    stats = probes.layer_statistics(model, probe, inner)
    assert {"layer1.0/conv1", "layer1.1/relu", "layer2/conv2"} <= set(stats)
    assert graph.node_by_name("layer1").id in stats  # the instance's own output, as before
    assert stats["layer1.1/relu"].dead_fraction == 1.0
    assert stats["layer1.0/relu"].dead_fraction < 1.0
    assert stats["layer2/conv1"].grad_norm > 0
    warnings = judge(stats)
    assert [w.kind for w in warnings["layer1.1/relu"]] == ["dead"]
    assert "layer1.0/relu" not in warnings
    model.zero_grad()


def test_inner_convolutions_are_listed_where_their_instance_is(block_model) -> None:
    graph, model, inner = block_model
    convs = probes.conv_nodes(model, inner)
    assert convs[0] == graph.node_by_name("conv1").id
    assert convs[1:] == [
        "layer1.0/conv1",
        "layer1.0/conv2",
        "layer1.1/conv1",
        "layer1.1/conv2",
        "layer2/conv1",
        "layer2/conv2",
    ]
    assert probes.conv_kernels(model, "layer2/conv2", inner).shape == (16, 16, 3, 3)
    assert probes.conv_nodes(model) == [graph.node_by_name("conv1").id]  # without inner: as before


def test_a_model_without_blocks_has_no_inner_layers() -> None:
    from nnstudio.api import Graph

    graph = Graph(name="plain")
    x = graph.add("Input", name="x", shape=[4])
    fc = graph.add("Linear", name="fc", out_features=2)
    graph.connect(x, fc)
    graph.connect(fc, graph.add("Output", name="y"))
    assert probes.inner_layers(graph.compile(), graph) == {}


def test_a_repeat_of_bottlenecks_is_reached_copy_by_copy() -> None:
    from nnstudio.api import Graph

    graph = Graph(name="bottlenecks")
    resnet(graph, block="Bottleneck", layers=(3,), input_shape=(3, 8, 8), small_input=True, widths=(4,))
    model = graph.compile()
    inner = probes.inner_layers(model, graph)
    # layer1's first block projects (16 -> 4 x 4), the other two are one repeated instance.
    assert inner["layer1/conv3"].module is model.layer1.conv3
    assert inner["layer1_rest.1/conv3"].module is model.layer1_rest[1].conv3
