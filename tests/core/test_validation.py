"""Validation: every kind of mistake is found, sits on the right node, and reads as a sentence."""

from __future__ import annotations

import itertools

import pytest

from nnstudio.core.errors import CycleError, DuplicateEdgeError, GraphError, PortError
from nnstudio.core.graph import Edge, GraphModel
from nnstudio.core.validation import (
    ERROR,
    WARNING,
    can_connect,
    check_connect,
    first_free_port,
    require_valid,
)
from nnstudio.resources import examples_dir


def _chain(graph: GraphModel, *node_ids: str) -> None:
    for source, target in itertools.pairwise(node_ids):
        graph.connect(source, target)


def _mlp() -> tuple[GraphModel, dict[str, str]]:
    """x (4,) -> fc (8,) -> relu -> out: the smallest valid network with a hidden layer."""
    g = GraphModel()
    ids = {
        "x": g.add("Input", name="x", shape=[4]),
        "fc": g.add("Linear", name="fc", out_features=8),
        "relu": g.add("ReLU", name="relu"),
        "out": g.add("Output", name="out"),
    }
    _chain(g, ids["x"], ids["fc"], ids["relu"], ids["out"])
    return g, ids


def _messages(graph: GraphModel, severity: str | None = None) -> list[str]:
    return [d.message for d in graph.validate() if severity is None or d.severity == severity]


def test_a_valid_graph_has_no_diagnostics_and_known_shapes() -> None:
    g, ids = _mlp()
    assert g.validate() == []
    assert g.shapes() == {ids["x"]: (4,), ids["fc"]: (8,), ids["relu"]: (8,), ids["out"]: (8,)}
    assert g.num_parameters() == 4 * 8 + 8
    assert g.analyze().order == [ids["x"], ids["fc"], ids["relu"], ids["out"]]
    assert require_valid(g).ok


def test_an_empty_graph_has_nothing_to_report_but_cannot_be_compiled() -> None:
    g = GraphModel()
    assert g.validate() == []
    with pytest.raises(GraphError, match="empty"):
        require_valid(g)


# --- shapes ------------------------------------------------------------------------------------


def test_add_with_mismatched_inputs_names_the_node_and_both_shapes() -> None:
    g = GraphModel()
    x = g.add("Input", name="x", shape=[3, 16, 16])
    wide = g.add("Conv2d", name="wide", out_channels=64, padding=1)
    narrow = g.add("Conv2d", name="narrow", out_channels=32, padding=1)
    res = g.add("Add", name="res1")
    out = g.add("Output", name="out")
    g.connect(x, wide)
    g.connect(x, narrow)
    g.connect(wide, res)
    g.connect(narrow, res)
    g.connect(res, out)

    [diagnostic] = g.validate()  # reported once, not again on everything downstream
    assert diagnostic.node == res
    assert diagnostic.severity == ERROR
    assert diagnostic.message == (
        "Add 'res1': inputs have shapes (64, 16, 16) and (32, 16, 16); they must match."
    )
    assert res not in g.shapes() and out not in g.shapes()
    assert g.shapes()[narrow] == (32, 16, 16)


def test_a_kernel_larger_than_the_image_says_which_sizes_clash() -> None:
    g = GraphModel()
    x = g.add("Input", name="pixels", shape=[1, 4, 4])
    conv = g.add("Conv2d", name="big", kernel_size=7)
    out = g.add("Output")
    _chain(g, x, conv, out)
    [message] = _messages(g)
    assert message == (
        "Conv2d 'big': kernel of size 7 does not fit the height of 4 (with padding 0); "
        "use a smaller kernel or more padding."
    )


def test_wrong_rank_names_what_the_layer_expects_and_what_it_gets() -> None:
    g = GraphModel()
    x = g.add("Input", name="table", shape=[10])
    conv = g.add("Conv2d", name="conv")
    _chain(g, x, conv, g.add("Output"))
    assert _messages(g) == [
        "Conv2d 'conv': expects (channels, height, width) (3 dimensions), but receives (10,)."
    ]


def test_a_fixed_shape_error_disappears_after_the_edit() -> None:
    g = GraphModel()
    x = g.add("Input", shape=[1, 4, 4])
    conv = g.add("Conv2d", kernel_size=7)
    _chain(g, x, conv, g.add("Output"))
    assert g.validate()
    g.set_param(conv, "padding", 2)
    assert g.validate() == []
    assert g.shapes()[conv] == (16, 2, 2)


def test_merges_take_their_inputs_in_port_order() -> None:
    """The order of Concat's inputs decides the result; it must follow the ports,
    not the ids of the layers wired in."""
    g = GraphModel()
    late = g.add("Input", name="late", shape=[2, 4, 4], node_id="n9")
    early = g.add("Input", name="early", shape=[5, 4, 7], node_id="n2")
    cat = g.add("Concat", name="cat")
    g.connect(late, cat, 0)
    g.connect(early, cat, 1)
    assert [e.source for e in g.inputs_of(cat)] == ["n9", "n2"]
    g.connect(cat, g.add("Output"))
    assert _messages(g) == [
        "Concat 'cat': inputs have shapes (2, 4, 4) and (5, 4, 7); all sizes except dim 1 must match."
    ]


# --- topology ----------------------------------------------------------------------------------


def test_connect_refuses_a_loop_and_names_every_layer_on_it() -> None:
    g, ids = _mlp()
    mix = g.add("Add", name="mix")
    g.disconnect(ids["x"], ids["fc"])
    _chain(g, ids["x"], mix, ids["fc"])
    back = g.add("Linear", name="back", out_features=4)
    g.connect(ids["relu"], back)
    edges = list(g.edges)
    with pytest.raises(CycleError) as refused:
        g.connect(back, mix)
    assert str(refused.value) == (
        "Connecting Linear 'back' to Add 'mix' would make a loop "
        "('mix' -> 'fc' -> 'relu' -> 'back' -> 'mix'); a network must flow one way."
    )
    assert g.edges == edges
    assert not can_connect(g, back, mix, 1)


def test_connecting_a_layer_to_itself_is_a_loop() -> None:
    g, _ = _mlp()
    with pytest.raises(CycleError, match="Add 'a' cannot be connected to itself"):
        g.connect(g.add("Add", name="a"), g.node_by_name("a").id)


def test_a_loop_that_got_in_behind_connects_back_is_still_reported() -> None:
    """Defence in depth: validation names a loop even if one slips past ``connect``."""
    g, ids = _mlp()
    add = g.add("Add", name="mix")
    g.disconnect(ids["fc"], ids["relu"])
    g.connect(ids["fc"], add, 0)
    g.connect(add, ids["relu"])
    g.nx_graph.add_edge(ids["relu"], add, key=1)  # what connect would refuse
    g.events.changed.emit()

    loop = [d for d in g.validate() if "loop" in d.message]
    assert {d.node for d in loop} == {add, ids["relu"]}
    assert all(d.severity == ERROR for d in loop)
    assert "'mix' -> 'relu' -> 'mix'" in loop[0].message or "'relu' -> 'mix' -> 'relu'" in loop[0].message
    assert ids["out"] not in g.shapes()  # nothing after a loop gets a shape
    assert ids["out"] in g.analyze().order


def test_wiring_that_got_in_behind_connects_back_is_still_reported() -> None:
    """A file edited by hand or an old bug could hold wires connect refuses today."""
    g, ids = _mlp()
    other = g.add("Input", name="other", shape=[4])
    g.nx_graph.add_edge(other, ids["fc"], key=1)  # a second input into a Linear
    g.nx_graph.add_edge(ids["fc"], ids["x"], key=0)  # a wire into an Input
    g.nx_graph.add_edge(ids["out"], g.add("ReLU", name="after"), key=0)  # a wire out of an Output
    g.events.changed.emit()
    by_node = {}
    for d in g.validate():
        by_node.setdefault(d.node, []).append(d.message)
    assert "Linear 'fc' takes 1 input but 2 are connected; remove the extra ones." in by_node[ids["fc"]]
    assert "Input 'x' is where data enters; remove the connections into it." in by_node[ids["x"]]
    assert (
        "Output 'out' ends the network; it cannot feed other layers. Remove its outgoing connections."
    ) in by_node[ids["out"]]


def test_layers_fed_by_no_input_are_errors() -> None:
    g, _ = _mlp()
    orphan = g.add("Linear", name="orphan")
    after = g.add("ReLU", name="after")
    g.connect(orphan, after)
    g.connect(after, g.add("Output", name="second"))
    by_node = {d.node: d for d in g.validate()}
    assert by_node[orphan].message == (
        "Linear 'orphan' has no input, so no data reaches it; connect a layer into it or delete it."
    )
    assert by_node[after].message == (
        "ReLU 'after' is not connected to any Input; connect its branch to the network's input."
    )
    assert by_node[after].severity == ERROR


def test_layers_that_reach_no_output_are_warnings_and_do_not_block() -> None:
    g, ids = _mlp()
    side = g.add("Sigmoid", name="side")
    g.connect(ids["fc"], side)
    [diagnostic] = g.validate()
    assert diagnostic.node == side and diagnostic.severity == WARNING
    assert diagnostic.message == (
        "Sigmoid 'side' does not lead to any Output, so it is not part of the model; "
        "connect it onward or delete it."
    )
    assert g.analyze().ok
    require_valid(g)


def test_a_merge_with_too_few_inputs_says_how_many_it_needs() -> None:
    g, ids = _mlp()
    cat = g.add("Concat", name="join")
    g.connect(ids["fc"], cat)
    g.connect(cat, g.add("Output"))
    assert "Concat 'join' needs at least 2 inputs but has 1; connect another layer into it." in _messages(g)


def test_an_output_without_input_is_an_error() -> None:
    g, _ = _mlp()
    lonely = g.add("Output", name="lonely")
    assert _messages(g) == [
        "Output 'lonely' has no input, so no data reaches it; connect a layer into it or delete it."
    ]
    assert g.validate()[0].node == lonely


def test_graph_without_input_or_output_says_so_on_the_graph() -> None:
    g = GraphModel()
    g.add("Linear", name="fc")
    diagnostics = g.validate()
    graph_level = [d for d in diagnostics if d.node is None]
    assert [d.message for d in graph_level] == [
        "The graph has no Input node; add one to say what data goes in.",
        "The graph has no Output node; add one after the layer whose result the model should return.",
    ]
    assert all(d.severity == ERROR for d in graph_level)


def test_ports_refuse_extra_and_second_wires() -> None:
    g, ids = _mlp()
    other = g.add("Input", name="other", shape=[4])
    with pytest.raises(PortError, match=r"^Linear 'fc' has 1 input; input 1 does not exist\.$"):
        g.connect(other, ids["fc"], 1)
    with pytest.raises(
        PortError, match=r"^The input of Linear 'fc' is already fed by Input 'x'; disconnect it first\.$"
    ):
        g.connect(other, ids["fc"], 0)
    with pytest.raises(PortError, match="Every input of Linear 'fc' is already connected"):
        g.connect(other, ids["fc"])
    with pytest.raises(PortError, match="Input 'x' is where data enters; it takes no inputs"):
        g.connect(other, ids["x"])
    with pytest.raises(PortError, match="Output 'out' ends the network; it has no output to connect from"):
        g.connect(ids["out"], g.add("ReLU"))
    with pytest.raises(PortError, match="input -1 does not exist"):
        g.connect(other, g.add("Add"), -1)


def test_a_merge_port_already_wired_names_the_port() -> None:
    g, ids = _mlp()
    add = g.add("Add", name="sum")
    g.connect(ids["fc"], add, 0)
    with pytest.raises(PortError, match=r"^Input 0 of Add 'sum' is already fed by Linear 'fc'"):
        g.connect(ids["relu"], add, 0)
    assert g.connect(ids["relu"], add) == Edge(ids["relu"], add, 1)
    assert first_free_port(g, add) == 2


def test_the_same_wire_twice_is_a_duplicate() -> None:
    g, ids = _mlp()
    with pytest.raises(DuplicateEdgeError, match="Linear 'fc' is already connected to ReLU 'relu'"):
        g.connect(ids["fc"], ids["relu"], 0)


def test_a_layer_may_feed_both_inputs_of_a_merge() -> None:
    """x + x is legitimate (it doubles x), so it is not a duplicate."""
    g, ids = _mlp()
    add = g.add("Add")
    g.disconnect(ids["relu"], ids["out"])
    g.connect(ids["relu"], add)
    g.connect(ids["relu"], add)
    g.connect(add, ids["out"])
    assert g.validate() == []


def test_token_ids_must_go_straight_into_an_embedding() -> None:
    g = GraphModel()
    tokens = g.add("Input", name="tokens", shape=[12], dtype="int64")
    fc = g.add("Linear", name="fc")
    _chain(g, tokens, fc, g.add("Output"))
    assert _messages(g) == [
        "Linear 'fc' receives token ids from Input 'tokens'; put an Embedding between them "
        "or make the Input float32."
    ]
    g.disconnect(tokens, fc)
    embed = g.add("Embedding", name="embed", num_embeddings=100, embedding_dim=8)
    g.connect(tokens, embed)
    g.connect(embed, fc)
    assert g.validate() == []
    assert g.shapes()[fc] == (12, 64)


def test_an_embedding_needs_token_ids() -> None:
    g = GraphModel()
    x = g.add("Input", name="x", shape=[12])
    embed = g.add("Embedding", name="embed")
    _chain(g, x, embed, g.add("Output"))
    assert _messages(g) == [
        "Embedding 'embed' looks up token ids; connect it directly to an Input whose dtype is int64."
    ]


def test_every_node_diagnostic_names_its_node() -> None:
    g = GraphModel()
    x = g.add("Input", name="x", shape=[3, 8, 8])
    conv = g.add("Conv2d", name="c1", kernel_size=9)
    cat = g.add("Concat", name="c2")
    g.add("Linear", name="c3")
    g.connect(x, conv)
    g.connect(conv, cat)
    g.add("Output", name="c4")
    diagnostics = g.validate()
    assert {d.node for d in diagnostics} >= {conv, cat}
    for d in diagnostics:
        if d.node is not None:
            assert f"'{g.nodes[d.node].name}'" in d.message
        assert d.message[0].isupper() and d.message.endswith(".")


def test_require_valid_lists_every_error() -> None:
    g, ids = _mlp()
    g.set_param(ids["x"], "dtype", "int64")
    g.add("Linear", name="loose")
    with pytest.raises(GraphError) as refused:
        require_valid(g)
    text = str(refused.value)
    assert text.startswith("The graph cannot be compiled yet:\n- ")
    assert "Linear 'fc' receives token ids" in text and "Linear 'loose' has no input" in text


def test_analysis_is_cached_until_the_next_edit() -> None:
    g, ids = _mlp()
    first = g.analyze()
    assert g.analyze() is first
    g.move(ids["fc"], 10, 10)  # moving changes nothing the analysis depends on
    assert g.analyze() is first
    g.set_param(ids["fc"], "out_features", 3)
    assert g.analyze() is not first
    assert g.shapes()[ids["out"]] == (3,)


# --- can_connect is check_connect's yes/no twin ------------------------------------------------


def test_can_connect_agrees_with_check_connect_for_every_pair() -> None:
    g = GraphModel()
    x = g.add("Input", shape=[4])
    fc = g.add("Linear")
    add = g.add("Add")
    cat = g.add("Concat")
    out = g.add("Output")
    _chain(g, x, fc, add)
    g.connect(x, add)
    g.connect(add, cat)
    g.connect(cat, out)
    ids = [*g.nodes, "missing"]
    refused = 0
    for source, target, port in itertools.product(ids, ids, range(-1, 4)):
        try:
            check_connect(g, source, target, port)
        except GraphError:
            allowed = False
            refused += 1
        else:
            allowed = True
        assert can_connect(g, source, target, port) is allowed, (source, target, port)
    assert 0 < refused < len(ids) ** 2 * 5  # both answers occur


def test_example_lenet5_has_the_papers_parameter_count() -> None:
    g = GraphModel.load(examples_dir() / "lenet5.nnstudio")
    assert g.num_parameters() == 61_706
    outputs = [n for n in g.nodes.values() if n.type == "Output"]
    assert [g.shapes()[n.id] for n in outputs] == [(10,)]


def test_every_example_validates_cleanly(example_path) -> None:
    g = GraphModel.load(example_path)
    assert g.validate() == []
    assert len(g.shapes()) == len(g)
    assert g.num_parameters() > 0
    assert g.training.get("dataset") in {
        "digits",
        "circles",
        "shapes",
        "sequences",
        "token_sequences",
        "shape_masks",
    }


def test_parameter_totals_leave_out_branches_that_reach_no_output():
    import nnstudio as ns

    g = ns.Graph()
    x = g.add("Input", shape=[4])
    used = g.add("Linear", out_features=3)
    g.connect(x, used)
    g.connect(used, g.add("Output"))
    dead = g.add("Linear", out_features=100)  # a half-built branch: 500 parameters
    g.connect(x, dead)
    assert g.num_parameters() == 4 * 3 + 3
    assert g.analyze().figures[dead].parameters == 500  # still shown on its own node
