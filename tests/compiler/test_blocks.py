"""Blocks through the one compiler: classes per definition, repeats as nn.Sequential,
and the exported source is the module that trains, bit for bit.

Random valid graphs are turned into graphs with blocks by grouping random
selections (an instance may be grouped again: nested blocks), declaring
block parameters that inner layers refer to (``$name`` and arithmetic with the
same value), and repeating shape-keeping instances.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nnstudio.api import Graph
from nnstudio.compiler.build import compile_code
from nnstudio.compiler.codegen import generate
from nnstudio.compiler.export import export
from nnstudio.core import blocks
from nnstudio.core.errors import GraphError
from nnstudio.core.layers import Param

from .graphs import valid_graphs
from .isolated import check_in_isolation, randomize_buffers, record_outputs


def _ok(graph: Graph) -> bool:
    return not any(d.is_error for d in graph.validate())


def _parameterize(graph: Graph, draw, name: str) -> None:
    """Turn one whole-number parameter of an inner layer into a block parameter it refers to."""
    definition = graph.blocks.get(name)
    body = definition.body
    candidates = [
        (node.id, param.name)
        for node in body.nodes.values()
        if node.type not in (blocks.PORT_IN, blocks.PORT_OUT, blocks.BLOCK_TYPE)
        for param in node.spec.params
        if param.kind == "int" and isinstance(node.params.get(param.name), int)
    ]
    if not candidates:
        return
    node_id, param_name = draw(st.sampled_from(candidates))
    value = body.node(node_id).params[param_name]
    graph.blocks.set_params(name, [*definition.params, Param("width", "int", value, -64, 8192)])
    body.set_param(
        node_id, param_name, draw(st.sampled_from(["$width", "$width * 2 // 2", "($width + 3) - 3"]))
    )


@st.composite
def graphs_with_blocks(draw) -> Graph:
    graph = draw(valid_graphs())
    for step in range(draw(st.integers(1, 3))):
        movable = [n for n in graph.nodes.values() if not n.spec.role]
        if not movable:
            break
        edit = None
        for _attempt in range(4):  # many selections cannot be a block (two outputs): try others
            start = draw(st.integers(0, len(movable) - 1))
            size = draw(st.integers(1, 4))
            selection = [n.id for n in movable[start : start + size]]
            try:
                edit = blocks.group(graph, selection, name=f"Block{step}")
                break
            except GraphError:
                continue
        if edit is None:
            continue
        if draw(st.booleans()):
            _parameterize(graph, draw, f"Block{step}")
        instance = edit.result
        sources = graph.inputs_of(instance)
        if len(sources) == 1 and draw(st.booleans()):
            graph.set_param(instance, "repeat", draw(st.integers(2, 3)))
            if not _ok(graph):
                graph.set_param(instance, "repeat", 1)
    assert _ok(graph), graph.validate()
    return graph


def _repeated_block() -> Graph:
    """A block whose copies chain (8 -> 8), repeated three times: random graphs rarely make one."""
    graph = Graph(name="repeated")
    x = graph.add("Input", shape=[8])
    fc = graph.add("Linear", out_features=8)
    act = graph.add("ReLU")
    out = graph.add("Output")
    graph.connect(x, fc)
    graph.connect(fc, act)
    graph.connect(act, out)
    instance = blocks.group(graph, [fc, act], name="Dense").result
    graph.set_param(instance, "repeat", 3)
    return graph


def test_random_graphs_with_blocks_export_the_module_they_compile_to(tmp_path: Path) -> None:
    cases = []
    counter = itertools.count()
    seen = {"blocks": 0, "nested": 0, "repeat": 0}

    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,  # the same graphs in every run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(graph=graphs_with_blocks())
    @example(graph=_repeated_block())
    def compile_and_export(graph: Graph) -> None:
        code = generate(graph)
        model = compile_code(code, check_shapes=True)
        figures = graph.analyze().figures
        assert sum(p.numel() for p in model.parameters()) == sum(figures[n].parameters for n in code.node_ids)
        seen["blocks"] += bool(code.block_classes)
        seen["nested"] += any(c.class_of for c in code.block_classes.values())
        seen["repeat"] += any(len(c) > 1 for c in code.class_of.values())
        randomize_buffers(model)
        folder = tmp_path / f"case{next(counter)}"
        export(graph, folder, weights=model)
        assert (folder / "model.py").read_text() == code.src
        cases.append(record_outputs(model, code, folder, folder / "weights.safetensors"))

    compile_and_export()
    # Fixed graphs (derandomize): these many have blocks, nested blocks and repeats.
    assert seen["blocks"] >= 15 and seen["nested"] >= 2 and seen["repeat"] >= 1, seen
    check_in_isolation(cases, tmp_path)


def basic_block_graph() -> Graph:
    graph = Graph(name="Tiny ResNet")
    definition = graph.blocks.define(
        "BasicBlock",
        params=[Param("out_channels", "int", 64, 1, 8192), Param("stride", "int", 1, 1, 8)],
        description="Two 3x3 convolutions with a shortcut.",
    )
    body = definition.body
    x = body.add("BlockInput", name="x")
    shortcut = body.add("Shortcut", name="shortcut", out_channels="$out_channels", stride="$stride")
    conv1 = body.add(
        "Conv2d", name="conv1", out_channels="$out_channels", stride="$stride", padding=1, bias=False
    )
    bn1 = body.add("BatchNorm2d", name="bn1")
    relu = body.add("ReLU", name="relu")
    conv2 = body.add("Conv2d", name="conv2", out_channels="$out_channels", padding=1, bias=False)
    bn2 = body.add("BatchNorm2d", name="bn2")
    add = body.add("Add", name="add")
    out = body.add("BlockOutput", name="out")
    for a, b in [
        (x, shortcut),
        (x, conv1),
        (conv1, bn1),
        (bn1, relu),
        (relu, conv2),
        (conv2, bn2),
        (bn2, add),
        (shortcut, add),
        (add, out),
    ]:
        body.connect(a, b)
    image = graph.add("Input", name="image", shape=[3, 16, 16], normalize="none")
    layer1 = graph.add("Block", name="layer1", block="BasicBlock", out_channels=8, repeat=2)
    layer2 = graph.add("Block", name="layer2", block="BasicBlock", out_channels=16, stride=2)
    pool = graph.add("GlobalAvgPool2d", name="pool")
    fc = graph.add("Linear", name="fc", out_features=5)
    output = graph.add("Output", name="logits")
    for a, b in [(image, layer1), (layer1, layer2), (layer2, pool), (pool, fc), (fc, output)]:
        graph.connect(a, b)
    return graph


def test_a_block_becomes_a_class_with_its_parameters_as_arguments() -> None:
    src = generate(basic_block_graph()).src
    assert "class BasicBlock(nn.Module):" in src
    assert "in_channels: int,\n        out_channels: int = 64,\n        stride: int = 1," in src
    assert "self.shortcut = Shortcut(in_channels, out_channels, stride=stride)" in src
    assert (
        "self.conv2 = nn.Conv2d(\n            out_channels, out_channels, kernel_size=3, padding=1, bias=False\n"
        in src
    )
    assert "self.layer1 = nn.Sequential(BasicBlock(3, 8, 1), BasicBlock(8, 8, 1))" in src
    assert "self.layer2 = BasicBlock(8, 16, 2)" in src
    assert "x = x + shortcut" in src


def test_block_weights_are_laid_out_as_the_classes_are() -> None:
    model = basic_block_graph().compile()
    keys = set(model.state_dict())
    assert "layer1.0.conv1.weight" in keys and "layer1.1.bn2.running_mean" in keys
    assert "layer2.shortcut.0.weight" in keys  # the projecting shortcut of the strided block
    assert "layer1.0.shortcut.0.weight" in keys  # 3 -> 8 channels: projected
    assert not any(k.startswith("layer1.1.shortcut.") for k in keys)  # shape kept: identity, no weights


def test_blocks_export_to_onnx_with_the_same_outputs(tmp_path: Path) -> None:
    from nnstudio.compiler.onnx_export import export_onnx

    model = basic_block_graph().compile().eval()
    export_onnx(model, model.nnstudio_code, tmp_path / "model.onnx", check=True)  # check compares outputs
    assert (tmp_path / "model.onnx").stat().st_size > 0


def test_weights_carry_over_by_instance_path() -> None:
    import torch

    from nnstudio.training.carry_over import carry_over, snapshot

    graph = basic_block_graph()
    trained = graph.compile()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    kept = snapshot(graph, trained)
    layer1 = graph.node_by_name("layer1").id
    graph.set_param(layer1, "repeat", 3)  # one more copy: the first two keep their weights
    body = graph.blocks.get("BasicBlock").body
    body.set_param(body.node_by_name("conv2").id, "bias", True)  # every conv2 changes
    model = graph.compile()
    result = carry_over(kept, graph, model)
    fresh = {result.names[k]: why for k, why in result.fresh.items()}
    assert fresh["layer1.2/conv1"] == "new layer"
    assert fresh["layer1.0/conv2"] == "bias changed" and fresh["layer2.0/conv2"] == "bias changed"
    kept_names = {result.names[k] for k in result.kept}
    assert {"layer1.0/conv1", "layer1.1/bn2", "layer2.0/shortcut", "fc"} <= kept_names
    assert torch.equal(model.layer1[1].bn2.weight, trained.layer1[1].bn2.weight)
    assert torch.equal(model.layer2.shortcut[0].weight, trained.layer2.shortcut[0].weight)
    assert not torch.equal(model.layer1[2].conv1.weight, trained.layer1[1].conv1.weight)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_computes_what_torchs_computes(norm_first: bool) -> None:
    """Same parameter layout as torch.nn.TransformerEncoderLayer, post-norm or pre-norm by
    its norm_first parameter: torch's weights load (the pre-norm LayerNorms by their names)."""
    import torch
    from torch import nn

    from nnstudio.core.block_library import add_builtin

    graph = Graph(name="Encoder")
    add_builtin(graph.blocks, "TransformerEncoderLayer")
    x = graph.add("Input", name="tokens", shape=[7, 24], normalize="none")
    layer = graph.add(
        "Block",
        name="layer",
        block="TransformerEncoderLayer",
        nhead=3,
        dim_feedforward=40,
        dropout=0.1,
        norm_first=norm_first,
    )
    graph.connect(x, layer)
    graph.connect(layer, graph.add("Output"))
    model = graph.compile().eval()
    reference = nn.TransformerEncoderLayer(24, 3, 40, dropout=0.1, batch_first=True, norm_first=norm_first)
    reference.eval()
    ours = model.layer
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    # Post-norm (the default) has exactly torch's keys; pre-norm's LayerNorms are pre_norm1/2.
    renamed = {"norm1.": "pre_norm1.", "norm2.": "pre_norm2."} if norm_first else {}
    state = {}
    for key, value in reference.state_dict().items():
        for old, new in renamed.items():
            key = new + key[len(old) :] if key.startswith(old) else key
        state[key] = value
    assert set(ours.state_dict()) == set(state)
    ours.load_state_dict(state)
    batch = torch.randn(5, 7, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(batch), reference(batch), rtol=1e-5, atol=1e-5)


def test_a_block_input_that_feeds_only_a_dead_branch_still_compiles() -> None:
    """Found by the random test: the first port of a grouped block fed only a dead end."""
    import torch

    graph = Graph(name="dead port")
    a = graph.add("Input", name="a", shape=[4], normalize="none")
    b = graph.add("Input", name="b", shape=[4], normalize="none")
    dead = graph.add("Linear", name="dead", out_features=3)  # leads to no Output
    live = graph.add("ReLU", name="live")
    graph.connect(b, dead)
    graph.connect(a, live)
    graph.connect(live, graph.add("Output", name="out"))
    edit = blocks.group(graph, [dead, live], name="Mixed")
    assert [graph.node(e.source).name for e in graph.inputs_of(edit.result)] == ["b", "a"]
    model = graph.compile()
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(model(x, y), torch.relu(x))
