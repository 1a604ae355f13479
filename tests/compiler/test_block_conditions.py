"""Conditional nodes inside blocks in the generated code: built when their condition holds,
an ``nn.Identity()`` otherwise; the exported module is the compiled one, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnstudio.api import Graph
from nnstudio.compiler.build import compile_code
from nnstudio.compiler.codegen import generate
from nnstudio.compiler.export import export
from nnstudio.core.block_library import add_builtin
from nnstudio.core.layers import Param

from .isolated import check_in_isolation, randomize_buffers, record_outputs


def _encoders() -> tuple[Graph, str, str]:
    """Tokens -> a post-norm and a pre-norm TransformerEncoderLayer -> Output."""
    graph = Graph(name="Encoders")
    add_builtin(graph.blocks, "TransformerEncoderLayer")
    x = graph.add("Input", name="tokens", shape=[6, 16], normalize="none")
    post = graph.add("Block", name="post", block="TransformerEncoderLayer", nhead=2, dim_feedforward=24)
    pre = graph.add(
        "Block", name="pre", block="TransformerEncoderLayer", nhead=2, dim_feedforward=24, norm_first=True
    )
    graph.connect(x, post)
    graph.connect(post, pre)
    graph.connect(pre, graph.add("Output"))
    return graph, post, pre


def test_one_class_serves_both_settings_and_reads_like_handwritten_code() -> None:
    graph, _post, _pre = _encoders()
    code = generate(graph)
    assert list(code.block_classes) == ["TransformerEncoderLayer"]
    src = code.src
    assert "        norm_first: bool = False,\n" in src
    assert "        self.pre_norm1 = nn.LayerNorm(in_features) if norm_first else nn.Identity()\n" in src
    assert "        self.norm2 = nn.LayerNorm(in_features) if not norm_first else nn.Identity()\n" in src
    assert "self.pre = TransformerEncoderLayer(16, 2, 24, 0.1, True)" in src
    # The forward code is the same whichever norms are built.
    assert "        x = self.norm2(x)  # (6, 16)\n" in src


def test_switched_off_nodes_have_no_weights_and_counts_agree_with_the_module() -> None:
    graph, post, pre = _encoders()
    model = graph.compile()
    post_keys = {k.split(".")[0] for k in model.post.state_dict()}
    pre_keys = {k.split(".")[0] for k in model.pre.state_dict()}
    assert {"norm1", "norm2"} <= post_keys and not post_keys & {"pre_norm1", "pre_norm2"}
    assert {"pre_norm1", "pre_norm2"} <= pre_keys and not pre_keys & {"norm1", "norm2"}
    figures = graph.analyze().figures
    assert sum(p.numel() for p in model.post.parameters()) == figures[post].parameters
    assert sum(p.numel() for p in model.pre.parameters()) == figures[pre].parameters


def _nested_switches() -> Graph:
    """A block switching a nested block instance and a layer by conditions, and one layer off
    for good; used twice with different settings (and once repeated)."""
    graph = Graph(name="Switches")
    inner = graph.blocks.define("Inner", params=[Param("scale", "bool", False, doc="Scale.")])
    body = inner.body
    x = body.add("BlockInput", name="x")
    fc = body.add("Linear", name="fc", out_features="$in_features")
    act = body.add("GELU", name="act", enabled="$scale")
    out = body.add("BlockOutput", name="out")
    body.connect(x, fc)
    body.connect(fc, act)
    body.connect(act, out)
    outer = graph.blocks.define(
        "Outer",
        params=[
            Param("deep", "int", 1, 0, 8, doc="Depth."),
            Param("scale", "bool", True, doc="Scale inside."),
        ],
    )
    body = outer.body
    x = body.add("BlockInput", name="x")
    nested = body.add("Block", name="inner", block="Inner", scale="$scale", enabled="$deep > 1")
    norm = body.add("LayerNorm", name="norm", enabled="$deep >= 1 and not $scale")
    never = body.add("Dropout", name="never", enabled=False)
    out = body.add("BlockOutput", name="out")
    body.connect(x, nested)
    body.connect(nested, norm)
    body.connect(norm, never)
    body.connect(never, out)
    tokens = graph.add("Input", name="x", shape=[4, 12], normalize="none")
    a = graph.add("Block", name="a", block="Outer", deep=2, scale=False)
    b = graph.add("Block", name="b", block="Outer", deep=0, scale=True)
    c = graph.add("Block", name="c", block="Outer", deep=3, scale=True, repeat=2)
    graph.connect(tokens, a)
    graph.connect(a, b)
    graph.connect(b, c)
    graph.connect(c, graph.add("Output"))
    return graph


def test_exported_modules_with_switched_nodes_give_the_compiled_outputs_bit_for_bit(tmp_path: Path) -> None:
    cases = []
    for index, graph in enumerate([_encoders()[0], _nested_switches()]):
        assert not [d for d in graph.validate() if d.is_error]
        code = generate(graph)
        model = compile_code(code, check_shapes=True)
        figures = graph.analyze().figures
        assert sum(p.numel() for p in model.parameters()) == sum(figures[n].parameters for n in code.node_ids)
        randomize_buffers(model)
        folder = tmp_path / f"case{index}"
        export(graph, folder, weights=model)
        assert (folder / "model.py").read_text() == code.src
        cases.append(record_outputs(model, code, folder, folder / "weights.safetensors"))
    check_in_isolation(cases, tmp_path)


def test_nested_conditions_are_written_as_conditions_on_the_class_arguments() -> None:
    src = generate(_nested_switches()).src
    assert "self.inner = Inner(in_features, scale) if deep > 1 else nn.Identity()" in src
    assert (  # too long for one line: wrapped as ruff format would
        "        self.norm = (\n"
        "            nn.LayerNorm(in_features) if deep >= 1 and not scale else nn.Identity()\n"
        "        )\n"
    ) in src
    assert "self.never = nn.Identity()" in src


def test_switched_nodes_export_to_onnx_with_the_same_outputs(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from nnstudio.compiler.onnx_export import export_onnx

    model = _encoders()[0].compile().eval()
    export_onnx(model, model.nnstudio_code, tmp_path / "model.onnx", check=True)  # check compares outputs
    assert (tmp_path / "model.onnx").stat().st_size > 0


@pytest.mark.parametrize("norm_first", [False, True])
def test_a_generated_encoder_imports_back_as_the_same_block_with_its_conditions(norm_first: bool) -> None:
    from nnstudio.compiler.build import example_inputs
    from nnstudio.compiler.importer import from_torch

    graph = Graph(name="Encoders")
    add_builtin(graph.blocks, "TransformerEncoderLayer")
    x = graph.add("Input", name="tokens", shape=[6, 16], normalize="none")
    a = graph.add("Block", name="a", block="TransformerEncoderLayer", nhead=2, norm_first=norm_first)
    b = graph.add("Block", name="b", block="TransformerEncoderLayer", nhead=4, norm_first=norm_first)
    graph.connect(x, a)
    graph.connect(a, b)
    graph.connect(b, graph.add("Output"))
    model = graph.compile()
    result = from_torch(model, example_inputs(model.nnstudio_code, batch=2))
    assert result.graph.to_python() == graph.to_python()
    body = result.graph.blocks.get("TransformerEncoderLayer").body
    assert body.node_by_name("pre_norm1").enabled == "$norm_first"
    assert body.node_by_name("norm2").enabled == "not $norm_first"
    assert {n.params["norm_first"] for n in result.graph.nodes.values() if n.type == "Block"} == {norm_first}
