"""Conditional nodes inside blocks: ``enabled`` set by a condition over the block's
parameters, and the built-in TransformerEncoderLayer's ``norm_first`` made of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnstudio.core import blocks, expressions, project
from nnstudio.core.block_library import BUILTINS, add_builtin
from nnstudio.core.errors import ParamError
from nnstudio.core.graph import GraphModel
from nnstudio.core.layers import Param

DATA = Path(__file__).parent / "data"


# --- the expression grammar ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("not $flag", {"flag": True}, False),
        ("not $flag", {"flag": False}, True),
        ("$a and not $b", {"a": True, "b": False}, True),
        ("$a or $b", {"a": False, "b": False}, False),
        ("$depth > 2", {"depth": 3}, True),
        ("$depth * 2 <= 4", {"depth": 3}, False),
        ("$p != 0", {"p": 0.5}, True),  # a float parameter compared with a number
        ("not $depth == 3", {"depth": 3}, False),  # not binds looser than ==, as in Python
        ("($a == $b) == false", {"a": 1, "b": 2}, True),
        ("true", {}, True),
    ],
)
def test_conditions_evaluate_and_write_the_same_python(text: str, values: dict, expected: bool) -> None:
    expr = expressions.parse(text)
    assert expr.kind == "bool"
    assert expr.evaluate(values) is expected
    source = expr.to_python({name: name for name in expr.names})
    assert eval(source, {}, dict(values)) is expected  # the generated code computes the same


@pytest.mark.parametrize(
    ("text", "values", "message"),
    [
        ("not $width", {"width": 4}, "'not' needs true or false, but $width is 4"),
        ("$flag + 1", {"flag": True}, "$flag is True, not a whole number"),
        ("$flag < 2", {"flag": True}, "'<' compares numbers"),
        ("$flag == 1", {"flag": True}, "not the same kind of value"),
    ],
)
def test_conditions_on_the_wrong_kind_of_value_are_refused_in_words(
    text: str, values: dict, message: str
) -> None:
    with pytest.raises(expressions.ExpressionError, match=message.replace("$", r"\$")):
        expressions.parse(text).evaluate(values)


def test_chained_comparisons_and_unknown_words_do_not_parse() -> None:
    with pytest.raises(expressions.ExpressionError, match="chains comparisons"):
        expressions.parse("1 < $a < 3")
    with pytest.raises(expressions.ExpressionError, match=r"write block parameters with a \$, as \$flag"):
        expressions.parse("not flag")


# --- a small block with a switchable layer ----------------------------------------------------


def _switchable(graph: GraphModel, enabled: bool | str = "$use_norm") -> tuple[str, str]:
    """Block 'Head': x -> Linear(8) -> [LayerNorm, enabled by $use_norm] -> out."""
    definition = graph.blocks.define("Head", params=[Param("use_norm", "bool", True, doc="Normalise.")])
    body = definition.body
    x = body.add("BlockInput", name="x")
    fc = body.add("Linear", name="fc", out_features=8)
    norm = body.add("LayerNorm", name="norm", enabled=enabled)
    out = body.add("BlockOutput", name="out")
    body.connect(x, fc)
    body.connect(fc, norm)
    body.connect(norm, out)
    return fc, norm


def _two_instances(graph: GraphModel) -> tuple[str, str]:
    x = graph.add("Input", shape=[5, 8])
    on = graph.add("Block", name="on", block="Head", use_norm=True)
    off = graph.add("Block", name="off", block="Head", use_norm=False)
    graph.connect(x, on)
    graph.connect(on, off)
    graph.connect(off, graph.add("Output"))
    return on, off


def test_a_switched_off_node_passes_its_input_through_and_counts_nothing() -> None:
    graph = GraphModel()
    _fc, norm = _switchable(graph)
    on, off = _two_instances(graph)
    assert not [d for d in graph.validate() if d.is_error]
    figures = graph.analyze().figures
    linear, layer_norm = 8 * 8 + 8, 2 * 8
    assert figures[on].parameters == linear + layer_norm
    assert figures[off].parameters == linear
    assert figures[on].macs > figures[off].macs
    library = graph.blocks
    (copy_off,) = library.instance_result("Head", graph.node(off).params, [(5, 8)]).copies
    (copy_on,) = library.instance_result("Head", graph.node(on).params, [(5, 8)]).copies
    assert copy_off.bypassed == {norm} and not copy_on.bypassed
    assert copy_off.analysis.shapes[norm] == (5, 8) and norm not in copy_off.analysis.figures


def test_the_body_shows_which_nodes_are_off_for_the_instance_it_was_opened_from() -> None:
    graph = GraphModel()
    _fc, norm = _switchable(graph)
    on, off = _two_instances(graph)
    graph.validate()
    body = graph.blocks.get("Head").body
    body.context = (((5, 8),), graph.blocks.values_for("Head", graph.node(off).params))
    assert body.analyze().bypassed == {norm}
    body.context = (((5, 8),), graph.blocks.values_for("Head", graph.node(on).params))
    body._forget_analysis()
    assert body.analyze().bypassed == set()


def test_enabled_takes_true_false_or_a_condition_and_refuses_the_rest() -> None:
    graph = GraphModel()
    _fc, norm = _switchable(graph)
    body = graph.blocks.get("Head").body
    seen = []
    body.events.param_changed.connect(lambda *args: seen.append(args))
    body.set_enabled(norm, "false")
    assert body.node(norm).enabled is False
    body.set_enabled(norm, " not $use_norm ")
    assert body.node(norm).enabled == "not $use_norm"
    body.set_enabled(norm, "TRUE")
    assert body.node(norm).enabled is True
    assert seen == [(norm, "enabled", False), (norm, "enabled", "not $use_norm"), (norm, "enabled", True)]
    with pytest.raises(ParamError, match=r"LayerNorm 'norm': 'enabled' = \$use_norm \* 2 is a number"):
        body.set_enabled(norm, "$use_norm * 2")
    with pytest.raises(ParamError, match="not a parameter expression"):
        body.set_enabled(norm, "$use_norm &&")
    with pytest.raises(ParamError, match="a block's port is always there"):
        body.set_enabled(body.node_by_name("x").id, False)
    # In the model itself there is no block parameter to decide by.
    top = graph.add("ReLU")
    with pytest.raises(ParamError, match="only a layer inside a block can be switched off"):
        graph.set_enabled(top, False)


def test_a_condition_naming_an_unknown_parameter_is_a_diagnostic_naming_the_node() -> None:
    graph = GraphModel()
    _switchable(graph, enabled="$use_layernorm")
    on, _off = _two_instances(graph)
    (message,) = [d.message for d in graph.validate() if d.node == on]
    assert "at on/norm" in message and "$use_layernorm is not a parameter of this block" in message


def test_a_conditional_node_with_two_inputs_is_a_diagnostic() -> None:
    graph = GraphModel()
    definition = graph.blocks.define("Residual", params=[Param("skip", "bool", True, doc="Add x.")])
    body = definition.body
    x = body.add("BlockInput", name="x")
    fc = body.add("Linear", name="fc", out_features=8)
    add = body.add("Add", name="add", enabled="$skip")
    out = body.add("BlockOutput", name="out")
    body.connect(x, fc)
    body.connect(fc, add)
    body.connect(x, add)
    body.connect(add, out)
    image = graph.add("Input", shape=[8])
    block = graph.add("Block", name="res", block="Residual")
    graph.connect(image, block)
    graph.connect(block, graph.add("Output"))
    inside = [d.message for d in body.validate() if d.node == add]
    assert inside == [
        "Add 'add' cannot be switched off: only a layer with one input and an output can pass its "
        "input through; set its 'enabled' back to true."
    ]
    (message,) = [d.message for d in graph.validate() if d.node == block]
    assert "Add 'add' cannot be switched off" in message


def test_a_conditional_node_must_keep_its_inputs_shape() -> None:
    graph = GraphModel()
    fc, _norm = _switchable(graph)
    body = graph.blocks.get("Head").body
    body.set_enabled(fc, "$use_norm")  # Linear(8) after an input of 6 features changes the shape
    x = graph.add("Input", shape=[6])
    block = graph.add("Block", name="head", block="Head")
    graph.connect(x, block)
    graph.connect(block, graph.add("Output"))
    (message,) = [d.message for d in graph.validate() if d.node == block]
    assert "at head/fc" in message
    assert "switched off only if it keeps its input's shape" in message and "(8,)" in message


def test_enabled_survives_save_and_load_and_old_files_read_unchanged(tmp_path: Path) -> None:
    graph = GraphModel()
    fc, _norm = _switchable(graph)
    graph.blocks.get("Head").body.set_enabled(fc, False)
    _two_instances(graph)
    path = tmp_path / "head.nnstudio"
    graph.save(path)
    data = json.loads(path.read_text())
    assert data["format_version"] == project.FORMAT_VERSION
    records = {n["name"]: n for n in data["blocks"][0]["nodes"]}
    assert records["norm"]["enabled"] == "$use_norm" and records["fc"]["enabled"] is False
    assert "enabled" not in records["x"]  # always-on nodes write nothing: files stay as they were
    loaded = GraphModel.load(path)
    inner = {n.name: n.enabled for n in loaded.blocks.get("Head").body.nodes.values()}
    assert inner == {"x": True, "fc": False, "norm": "$use_norm", "out": True}
    assert loaded.num_parameters() == graph.num_parameters() == 2 * 8  # only the first norm's


def test_a_bad_enabled_in_a_file_is_a_format_error_naming_it(tmp_path: Path) -> None:
    graph = GraphModel()
    _switchable(graph)
    data = json.loads(project.dumps(graph))
    data["blocks"][0]["nodes"][2]["enabled"] = "$use_norm +"
    path = tmp_path / "bad.nnstudio"
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match=r"bad.nnstudio: .*LayerNorm 'norm': 'enabled' = \$use_norm \+"):
        GraphModel.load(path)


def test_ungroup_leaves_out_switched_off_nodes_and_wires_around_them() -> None:
    graph = GraphModel()
    _switchable(graph)
    on, off = _two_instances(graph)
    before = graph.num_parameters()
    blocks.ungroup(graph, off)
    types = sorted(n.type for n in graph.nodes.values() if n.type != "Block")
    assert types == ["Input", "Linear", "Output"]  # off's LayerNorm is not there
    assert not [d for d in graph.validate() if d.is_error]
    assert graph.num_parameters() == before
    blocks.ungroup(graph, on)
    assert sorted(n.type for n in graph.nodes.values()) == [
        "Input",
        "LayerNorm",
        "Linear",
        "Linear",
        "Output",
    ]


def test_make_unique_keeps_the_condition() -> None:
    graph = GraphModel()
    _fc, norm = _switchable(graph)
    on, _off = _two_instances(graph)
    copy = blocks.make_unique(graph, on).result
    assert graph.blocks.get(copy).body.node(norm).enabled == "$use_norm"


# --- the built-in TransformerEncoderLayer ------------------------------------------------------


def test_transformer_encoder_layer_has_norm_first_and_no_separate_pre_norm_builtin() -> None:
    assert "TransformerEncoderLayerPreNorm" not in BUILTINS
    params = {p.name: p for p in BUILTINS["TransformerEncoderLayer"].params}
    assert list(params) == ["nhead", "dim_feedforward", "dropout", "norm_first"]
    assert params["norm_first"].kind == "bool" and params["norm_first"].default is False
    graph = GraphModel()
    body = add_builtin(graph.blocks, "TransformerEncoderLayer").body
    enabled = {n.name: n.enabled for n in body.nodes.values() if n.enabled is not True}
    assert enabled == {
        "pre_norm1": "$norm_first",
        "pre_norm2": "$norm_first",
        "norm1": "not $norm_first",
        "norm2": "not $norm_first",
    }


def test_a_project_saved_with_the_old_pre_norm_builtin_still_opens_and_counts_like_torch() -> None:
    graph = GraphModel.load(DATA / "encoder_prenorm_v4.nnstudio")
    assert "TransformerEncoderLayerPreNorm" in graph.blocks
    assert not [d for d in graph.validate() if d.is_error]
    from torch import nn

    reference = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, norm_first=True)
    assert graph.num_parameters() == sum(p.numel() for p in reference.parameters())
    # The palette's TransformerEncoderLayer can join it: it is a definition of its own.
    add_builtin(graph.blocks, "TransformerEncoderLayer")
    assert {"TransformerEncoderLayer", "TransformerEncoderLayerPreNorm"} <= set(graph.blocks.names())
