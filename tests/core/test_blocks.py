"""Blocks in the core: definitions, instances, parameters, repeat, group/ungroup.

No torch and no Qt: shapes and counts come from the catalog through the bodies.
"""

from __future__ import annotations

import pytest

from nnstudio.core import blocks
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.expressions import ExpressionError, parse
from nnstudio.core.graph import GraphModel
from nnstudio.core.layers import Param

# --- expressions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("$width", {"width": 16}, 16),
        ("$width * 4", {"width": 16}, 64),
        ("$out_channels // 2", {"out_channels": 65}, 32),
        ("1 + 2 * 3", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("-$a + 10 - 2 - 3", {"a": 1}, 4),
        ("$a % 4", {"a": 10}, 2),
        ("  $a*$b  ", {"a": 3, "b": 5}, 15),
        ("$p", {"p": 0.25}, 0.25),  # a bare reference passes any type through
    ],
)
def test_expressions_compute_integer_arithmetic(text: str, values: dict, expected) -> None:
    assert parse(text).evaluate(values) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "not a parameter expression"),
        ("$a / 2", "use // for whole-number division"),
        ("$a +", "ends too early"),
        ("($a + 1", "never closed"),
        ("$a 2", "something unexpected"),
        ("", "cannot be empty"),
        ("$a.real", "not allowed"),
    ],
)
def test_expressions_refuse_anything_but_the_little_language(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text)


def test_expression_errors_are_sentences_about_the_values() -> None:
    with pytest.raises(ExpressionError, match=r"\$b is not a parameter of this block"):
        parse("$a + $b").evaluate({"a": 1})
    with pytest.raises(ExpressionError, match="divides by zero"):
        parse("$a // ($a - 1)").evaluate({"a": 1})
    with pytest.raises(ExpressionError, match="not a whole number"):
        parse("$p * 2").evaluate({"p": 0.5})


def test_expressions_translate_to_python_with_the_same_value() -> None:
    for text in ["$a - ($b - 3)", "($a + $b) * 2", "-($a + 1) // 2", "$a * $b % 7", "$a - $b - 3"]:
        expr = parse(text)
        source = expr.to_python({"a": "a", "b": "b"})
        for a, b in [(5, 3), (-7, 2), (12, 9)]:
            assert eval(source, {}, {"a": a, "b": b}) == expr.evaluate({"a": a, "b": b}), (text, source)
    assert parse("$width * 4").to_python({"width": "w"}) == "w * 4"


# --- a small block -----------------------------------------------------------------------------------


def conv_bn(graph: GraphModel, name: str = "ConvBN") -> blocks.BlockDefinition:
    definition = graph.blocks.define(name, params=[Param("width", "int", 8, 1, 4096)])
    body = definition.body
    x = body.add("BlockInput", name="x")
    conv = body.add("Conv2d", name="conv1", out_channels="$width * 2", padding=1)
    bn = body.add("BatchNorm2d", name="bn1")
    out = body.add("BlockOutput", name="out")
    body.connect(x, conv)
    body.connect(conv, bn)
    body.connect(bn, out)
    return definition


def model_with(graph: GraphModel, shape=(3, 16, 16), **params) -> tuple[str, str]:
    image = graph.add("Input", shape=list(shape), normalize="none")
    stage = graph.add("Block", name="stage", block="ConvBN", **params)
    out = graph.add("Output")
    graph.connect(image, stage)
    graph.connect(stage, out)
    return image, stage


def content(graph: GraphModel) -> dict:
    """What a user sees of a graph: its nodes in order and its connections."""
    data = graph.to_dict()
    return {"nodes": data["nodes"], "edges": sorted(tuple(e.values()) for e in data["edges"])}


def errors(graph: GraphModel) -> list[str]:
    return [d.message for d in graph.validate() if d.is_error]


def test_an_instance_takes_its_shape_and_parameters_from_its_definition() -> None:
    graph = GraphModel()
    conv_bn(graph)
    _, stage = model_with(graph, width=4)
    assert errors(graph) == []
    assert graph.shapes()[stage] == (8, 16, 16)
    conv = 3 * 8 * 9 + 8
    assert graph.num_parameters() == conv + 2 * 8


def test_repeat_chains_copies_each_with_its_own_weights() -> None:
    graph = GraphModel()
    conv_bn(graph)
    _, stage = model_with(graph, width=4, repeat=3)
    first = 3 * 8 * 9 + 8 + 16
    later = 8 * 8 * 9 + 8 + 16
    assert graph.num_parameters() == first + 2 * later
    assert graph.shapes()[stage] == (8, 16, 16)


def test_editing_a_body_changes_every_instance() -> None:
    graph = GraphModel()
    definition = conv_bn(graph)
    _, stage = model_with(graph, width=4)
    other = graph.add("Block", name="other", block="ConvBN", width=2)
    graph.connect(stage, other)
    graph.connect(other, graph.add("Output", name="second"))
    seen = []
    graph.events.changed.connect(lambda: seen.append(1))
    conv = definition.body.node_by_name("conv1").id
    definition.body.set_param(conv, "stride", 2)
    assert seen, "the top graph re-validates when a body changes"
    assert graph.shapes()[stage] == (8, 8, 8)
    assert graph.shapes()[other] == (4, 4, 4)


def test_bad_references_are_diagnostics_on_the_instance_naming_the_inner_node() -> None:
    graph = GraphModel()
    definition = conv_bn(graph)
    _, _stage = model_with(graph)
    conv = definition.body.node_by_name("conv1").id
    definition.body.set_param(conv, "out_channels", "$depth")
    (message,) = errors(graph)
    assert message.startswith("Block 'stage': at stage/conv1: ")
    assert "$depth is not a parameter of this block" in message
    definition.body.set_param(conv, "out_channels", "$width // ($width - 8)")
    assert "divides by zero" in errors(graph)[0]
    definition.body.set_param(conv, "out_channels", "$width - 8")
    assert "'out_channels' = $width - 8 gives 0: 'out_channels' must be at least 1" in errors(graph)[0]


def test_a_float_or_choice_parameter_takes_a_plain_reference_only() -> None:
    graph = GraphModel()
    definition = graph.blocks.define("Drop", params=[Param("p", "float", 0.1, 0.0, 0.99)])
    body = definition.body
    drop = body.add("Dropout", p="$p")
    with pytest.raises(ParamError, match="plain reference"):
        body.set_param(drop, "p", "$p * 2")
    with pytest.raises(ParamError, match="ends too early"):
        body.set_param(drop, "p", "$p +")


def test_expressions_are_refused_outside_a_block() -> None:
    graph = GraphModel()
    with pytest.raises(ParamError, match="whole number"):
        graph.add("Linear", out_features="$width")


def test_a_diagnostic_inside_a_repeat_names_the_copy() -> None:
    graph = GraphModel()
    definition = conv_bn(graph)
    conv = definition.body.node_by_name("conv1").id
    definition.body.set_param(conv, "kernel_size", 5)
    definition.body.set_param(conv, "padding", 0)
    model_with(graph, shape=(3, 12, 12), repeat=3)
    (message,) = errors(graph)
    assert message.startswith(
        "Block 'stage': at stage.2/conv1: copy 3 of 3 cannot take copy 2's output (16, 4, 4)"
    )


def test_copies_that_change_shape_incompatibly_are_diagnosed() -> None:
    graph = GraphModel()
    definition = graph.blocks.define("Flat")
    body = definition.body
    x = body.add("BlockInput", name="x")
    conv = body.add("Conv2d", name="conv", out_channels=4)
    flat = body.add("Flatten", name="flat")
    out = body.add("BlockOutput")
    body.connect(x, conv)
    body.connect(conv, flat)
    body.connect(flat, out)
    image = graph.add("Input", shape=[3, 8, 8])
    stage = graph.add("Block", name="s", block="Flat", repeat=2)
    graph.connect(image, stage)
    graph.connect(stage, graph.add("Output"))
    (message,) = errors(graph)
    assert "at s.1/conv: copy 2 of 2 cannot take copy 1's output (144,)" in message


def test_nested_blocks_report_the_whole_path() -> None:
    graph = GraphModel()
    inner = conv_bn(graph)
    outer = graph.blocks.define("Stage", params=[Param("width", "int", 8, 1, 4096)])
    body = outer.body
    x = body.add("BlockInput", name="x")
    first = body.add("Block", name="first", block="ConvBN", width="$width", repeat=2)
    out = body.add("BlockOutput")
    body.connect(x, first)
    body.connect(first, out)
    image = graph.add("Input", shape=[3, 16, 16])
    stage = graph.add("Block", name="layer2", block="Stage", width=4)
    graph.connect(image, stage)
    graph.connect(stage, graph.add("Output"))
    assert errors(graph) == []
    assert graph.shapes()[stage] == (8, 16, 16)
    inner.body.set_param(inner.body.node_by_name("conv1").id, "out_channels", "$nope")
    (message,) = errors(graph)
    assert message.startswith("Block 'layer2': at layer2/first.0/conv1: ")


def test_a_block_cannot_contain_itself_directly_or_through_another() -> None:
    graph = GraphModel()
    a = conv_bn(graph, "A")
    b = graph.blocks.define("B")
    b.body.add("Block", name="a", block="A")
    with pytest.raises(blocks.BlockError, match="cannot be inside itself"):
        a.body.add("Block", block="A")
    with pytest.raises(blocks.BlockError, match="'B' contains 'A'"):
        a.body.add("Block", block="B")


def test_loading_a_recursive_definition_is_refused() -> None:
    records = [
        {
            "name": "A",
            "params": [],
            "nodes": [{"id": "n1", "type": "Block", "name": "b", "params": {"block": "B"}}],
            "edges": [],
        },
        {
            "name": "B",
            "params": [],
            "nodes": [{"id": "n1", "type": "Block", "name": "a", "params": {"block": "A"}}],
            "edges": [],
        },
    ]
    with pytest.raises(blocks.BlockError, match="cannot contain block"):
        GraphModel().blocks.load_records(records)


def test_a_missing_block_is_named() -> None:
    records = [
        {
            "name": "A",
            "params": [],
            "nodes": [{"id": "n1", "type": "Block", "name": "b", "params": {"block": "Gone"}}],
            "edges": [],
        }
    ]
    with pytest.raises(GraphError, match="no block named 'Gone'"):
        GraphModel().blocks.load_records(records)


def test_block_parameters_are_checked_when_declared() -> None:
    library = GraphModel().blocks
    with pytest.raises(ParamError, match="reserved"):
        library.define("X", params=[Param("repeat", "int", 1)])
    with pytest.raises(ParamError, match="must be at least 1"):
        library.define("Y", params=[{"name": "w", "kind": "int", "default": 0, "minimum": 1}])
    with pytest.raises(blocks.BlockError, match="is a layer type"):
        library.define("Conv2d")


# --- group, ungroup, make unique ---------------------------------------------------------------


def chain(graph: GraphModel) -> dict[str, str]:
    ids = {
        "input": graph.add("Input", name="input", shape=[3, 16, 16]),
        "conv1": graph.add("Conv2d", name="conv1", out_channels=8, padding=1),
        "relu1": graph.add("ReLU", name="relu1"),
        "conv2": graph.add("Conv2d", name="conv2", out_channels=8, padding=1),
        "add": graph.add("Add", name="add"),
        "flat": graph.add("Flatten", name="flat"),
        "output": graph.add("Output", name="output"),
    }
    graph.connect(ids["input"], ids["conv1"])
    graph.connect(ids["conv1"], ids["relu1"])
    graph.connect(ids["relu1"], ids["conv2"])
    graph.connect(ids["conv2"], ids["add"])
    graph.connect(ids["relu1"], ids["add"])
    graph.connect(ids["add"], ids["flat"])
    graph.connect(ids["flat"], ids["output"])
    return ids


def test_group_makes_a_block_with_the_same_shapes_and_counts_and_revert_undoes_it() -> None:
    graph = GraphModel()
    ids = chain(graph)
    before = content(graph)
    shape, count = graph.shapes()[ids["flat"]], graph.num_parameters()
    edit = blocks.group(graph, [ids["relu1"], ids["conv2"], ids["add"]], name="Residual")
    instance = graph.node(edit.result)
    assert instance.type == "Block" and instance.params["block"] == "Residual"
    assert [n.name for n in graph.blocks.get("Residual").input_ports] == ["x"]
    assert errors(graph) == []
    assert graph.shapes()[ids["flat"]] == shape
    assert graph.num_parameters() == count
    blocks.revert(graph, edit)
    assert content(graph) == before
    assert "Residual" not in graph.blocks


def test_group_refuses_selections_a_block_cannot_stand_for() -> None:
    graph = GraphModel()
    ids = chain(graph)
    with pytest.raises(blocks.BlockError, match="one output"):
        blocks.group(graph, [ids["conv1"], ids["relu1"], ids["conv2"]])
    with pytest.raises(blocks.BlockError, match="'relu1' and 'add' both feed layers outside"):
        blocks.group(graph, [ids["relu1"], ids["add"]])
    with pytest.raises(blocks.BlockError, match="leave it out"):
        blocks.group(graph, [ids["input"], ids["conv1"]])
    assert len(graph.blocks) == 0


def test_group_ports_follow_the_order_of_the_nodes_they_feed() -> None:
    graph = GraphModel()
    a = graph.add("Input", name="a", shape=[4])
    b = graph.add("Input", name="b", shape=[4])
    lin_b = graph.add("Linear", name="lin_b", out_features=4)
    lin_a = graph.add("Linear", name="lin_a", out_features=4)
    add = graph.add("Add")
    out = graph.add("Output")
    graph.connect(b, lin_b)
    graph.connect(a, lin_a)
    graph.connect(lin_b, add)
    graph.connect(lin_a, add)
    graph.connect(add, out)
    edit = blocks.group(graph, [lin_a, lin_b, add], name="Pair")
    inputs = graph.inputs_of(edit.result)
    assert [graph.node(e.source).name for e in inputs] == ["b", "a"]
    assert errors(graph) == []


def test_ungroup_writes_the_values_in_and_expands_every_copy() -> None:
    graph = GraphModel()
    conv_bn(graph)
    _, stage = model_with(graph, width=4, repeat=2)
    count = graph.num_parameters()
    before = content(graph)
    edit = blocks.ungroup(graph, stage)
    assert errors(graph) == []
    assert graph.num_parameters() == count
    convs = [n for n in graph.nodes.values() if n.type == "Conv2d"]
    assert [n.params["out_channels"] for n in convs] == [8, 8]
    assert [n.name for n in convs] == ["conv1_0", "conv1_1"]
    blocks.revert(graph, edit)
    assert content(graph) == before


def test_group_then_ungroup_gives_back_the_same_network() -> None:
    graph = GraphModel()
    ids = chain(graph)
    shapes = graph.shapes()
    edit = blocks.group(graph, [ids["conv1"], ids["relu1"], ids["conv2"], ids["add"]], name="Stem")
    blocks.ungroup(graph, edit.result)
    assert errors(graph) == []
    by_name = {n.name: graph.shapes()[n.id] for n in graph.nodes.values()}
    assert by_name == {
        graph.node(i).name if i in graph.nodes else n: shapes[i] for n, i in ids.items() if n != "output"
    } | {"output": shapes[ids["output"]]}


def test_make_unique_gives_one_instance_its_own_definition() -> None:
    graph = GraphModel()
    definition = conv_bn(graph)
    _, stage = model_with(graph, width=4)
    other = graph.add("Block", name="other", block="ConvBN", width=4)
    graph.connect(stage, other)
    edit = blocks.make_unique(graph, other)
    copy = graph.blocks.get(edit.result)
    assert graph.node(other).params["block"] == copy.name == "ConvBN2"
    copy.body.set_param(copy.body.node_by_name("conv1").id, "stride", 2)
    assert graph.shapes()[stage] == (8, 16, 16)
    assert graph.shapes()[other] == (8, 8, 8)
    assert graph.blocks.usage_count("ConvBN", [graph]) == 1
    blocks.revert(graph, edit)
    assert graph.node(other).params["block"] == "ConvBN"
    assert "ConvBN2" not in graph.blocks
    assert definition.body.owner == "ConvBN"


def test_clipboard_records_carry_the_definitions_along() -> None:
    graph = GraphModel()
    conv_bn(graph)
    _, stage = model_with(graph)
    data = graph.to_dict([stage])
    assert [r["name"] for r in data["blocks"]] == ["ConvBN"]
    pasted = GraphModel.from_dict(data)
    assert "ConvBN" in pasted.blocks
    assert pasted.node(stage).params["block"] == "ConvBN"


# --- project files --------------------------------------------------------------------------------


def test_blocks_are_saved_once_and_load_back(tmp_path) -> None:
    from nnstudio.core import project

    graph = GraphModel()
    conv_bn(graph)
    _, stage = model_with(graph, width=4, repeat=2)
    second = graph.add("Block", name="again", block="ConvBN", width=2)
    graph.connect(stage, second)
    path = tmp_path / "model.nnstudio"
    graph.save(path)
    data = __import__("json").loads(path.read_text())
    assert data["format_version"] == project.FORMAT_VERSION == 4
    assert [b["name"] for b in data["blocks"]] == ["ConvBN"]
    assert data["blocks"][0]["nodes"][1]["params"]["out_channels"] == "$width * 2"
    loaded = GraphModel.load(path)
    assert loaded.shapes() == graph.shapes()
    assert loaded.num_parameters() == graph.num_parameters()
    assert project.dumps(loaded) == project.dumps(graph)


def test_a_version_3_file_opens_unchanged_with_no_blocks() -> None:
    from nnstudio.core import project

    old = {
        "app": "nnstudio",
        "format_version": 3,
        "name": "old",
        "description": "",
        "nodes": [
            {"id": "n1", "type": "Input", "name": "x", "params": {"shape": [4]}},
            {"id": "n2", "type": "Linear", "name": "fc", "params": {"out_features": 2}},
            {"id": "n3", "type": "Output", "name": "y", "params": {}},
        ],
        "edges": [{"source": "n1", "target": "n2"}, {"source": "n2", "target": "n3"}],
        "training": {},
        "runs": [],
    }
    graph = project.loads(__import__("json").dumps(old))
    assert len(graph.blocks) == 0
    assert [n.name for n in graph.nodes.values()] == ["x", "fc", "y"]
    assert graph.validate() == []


def _file_with(blocks_section, top_block: str = "ConvBN") -> str:
    import json

    return json.dumps(
        {
            "app": "nnstudio",
            "format_version": 4,
            "name": "m",
            "nodes": [
                {"id": "n1", "type": "Input", "name": "x", "params": {"shape": [3, 8, 8]}},
                {"id": "n2", "type": "Block", "name": "stage", "params": {"block": top_block}},
            ],
            "edges": [{"source": "n1", "target": "n2"}],
            "blocks": blocks_section,
        }
    )


def test_a_file_using_a_missing_block_is_a_load_error_naming_it() -> None:
    from nnstudio.core import project
    from nnstudio.core.errors import FormatError

    with pytest.raises(FormatError, match=r"m\.nnstudio: There is no block named 'ConvBN'"):
        project.loads(_file_with([]), "m.nnstudio")


def test_a_file_with_a_block_inside_itself_is_refused() -> None:
    from nnstudio.core import project
    from nnstudio.core.errors import FormatError

    looped = [
        {
            "name": "ConvBN",
            "nodes": [{"id": "n1", "type": "Block", "name": "me", "params": {"block": "ConvBN"}}],
            "edges": [],
        }
    ]
    with pytest.raises(FormatError, match="cannot be inside itself"):
        project.loads(_file_with(looped), "m.nnstudio")


def test_a_block_file_carries_the_blocks_it_uses_and_is_checked_when_read(tmp_path) -> None:
    from nnstudio.core import block_files
    from nnstudio.core.block_library import add_builtin
    from nnstudio.core.errors import FormatError

    library = GraphModel().blocks
    add_builtin(library, "VGGBlock")  # uses ConvReLU
    path = block_files.save(library, "VGGBlock", tmp_path / "VGGBlock.nnblock")
    other = GraphModel()
    assert block_files.add_to(other.blocks, path) == "VGGBlock"
    assert set(other.blocks.names()) == {"ConvReLU", "VGGBlock"}
    broken = tmp_path / "broken.nnblock"
    broken.write_text(path.read_text().replace('"block": "ConvReLU"', '"block": "VGGBlock"'))
    with pytest.raises(FormatError, match=r"broken\.nnblock: .*cannot contain"):
        block_files.read(broken)
    assert block_files.library_files(tmp_path) == [path, broken]  # sorted: upper case first


def test_an_instance_keeps_working_when_its_block_drops_a_parameter(tmp_path) -> None:
    graph = GraphModel()
    conv_bn(graph)
    _, stage = model_with(graph, width=4)
    graph.blocks.set_params("ConvBN", [Param("depth", "int", 3, 1, 10)])
    body = graph.blocks.get("ConvBN").body
    body.set_param(body.node_by_name("conv1").id, "out_channels", "$depth * 2")
    assert errors(graph) == [] and graph.shapes()[stage] == (6, 16, 16)
    graph.save(tmp_path / "m.nnstudio")  # the instance still holds width=4 from before
    assert GraphModel.load(tmp_path / "m.nnstudio").shapes()[stage] == (6, 16, 16)


def test_a_graph_rebuilt_from_its_records_keeps_its_blocks() -> None:
    """The app's training thread rebuilds the graph from to_dict(): the blocks must come along."""
    graph = GraphModel()
    conv_bn(graph)
    model_with(graph, width=4, repeat=2)
    copy = GraphModel.from_dict(graph.to_dict(), training={})
    assert copy.shapes() == graph.shapes() and copy.num_parameters() == graph.num_parameters()
    assert "blocks" not in GraphModel().to_dict()  # graphs without blocks keep their records as they were
