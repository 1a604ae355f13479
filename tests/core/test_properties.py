"""Property tests: whatever a user builds, validation answers and never crashes.

Graphs are grown from random catalog layers with random valid parameters, wired
to random earlier layers, then hit with random (often invalid) wiring attempts
and parameter edits, as a user dragging wires around would.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnstudio.core import project
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.graph import GraphModel
from nnstudio.core.layers import CATALOG, Param
from nnstudio.core.validation import ERROR, WARNING, can_connect, require_valid

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = sorted(CATALOG)


def _value(param: Param) -> st.SearchStrategy[Any]:
    """A valid value, usually small (so shapes often fit) but sometimes anywhere in range."""
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    if param.kind == "import_path":  # a Foreign node's class
        return st.sampled_from(["torch.nn:Identity", "mylib.layers:SwishGate"])
    if param.kind == "json_args":
        return st.lists(
            st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=5)), max_size=3
        )
    if param.kind == "shape":
        small = st.lists(st.integers(1, 12), min_size=1, max_size=4)
        return st.one_of(small, st.lists(st.integers(1, 1_000_000), min_size=1, max_size=4))
    low = param.minimum if param.minimum is not None else -1000
    high = param.maximum if param.maximum is not None else 1000
    if param.kind == "int":
        low, high = int(low), int(high)
        return st.one_of(st.integers(low, min(high, low + 6)), st.integers(low, high))
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def layer(draw, type_name: str | None = None) -> tuple[str, dict[str, Any]]:
    type_name = type_name or draw(st.sampled_from(TYPES))
    spec = CATALOG[type_name]
    chosen = draw(st.lists(st.sampled_from(spec.params), unique_by=lambda p: p.name)) if spec.params else []
    return type_name, {p.name: draw(_value(p)) for p in chosen}


ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(-3, 3), max_size=5),
    st.just("__import__('os')"),
)


@st.composite
def graphs(draw) -> GraphModel:
    """Random layers wired at random, then random wiring attempts and parameter edits."""
    g = GraphModel()

    def attempt(source: str, target: str, port: int | None) -> None:
        """connect, which must agree with can_connect's forecast."""
        predicted = None if port is None else can_connect(g, source, target, port)
        try:
            g.connect(source, target, port)
        except GraphError:
            accepted = False
        else:
            accepted = True
        assert predicted in (None, accepted), (source, target, port)

    first_type, first_params = draw(layer("Input"))
    g.add(first_type, **first_params)
    for _ in range(draw(st.integers(0, 10))):
        type_name, params = draw(layer())
        node = g.add(type_name, **params)
        earlier = list(g.nodes)[:-1]
        for _ in range(draw(st.integers(0, 3))):
            attempt(draw(st.sampled_from(earlier)), node, None)
    if draw(st.booleans()):
        feeders = [n for n in g.nodes.values() if n.spec.has_output]
        if feeders:
            attempt(draw(st.sampled_from(feeders)).id, g.add("Output"), None)

    ids = list(g.nodes)
    for _ in range(draw(st.integers(0, 6))):  # wiring a user might try, valid or not
        source, target = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
        attempt(source, target, draw(st.one_of(st.none(), st.integers(-1, 3))))
    for _ in range(draw(st.integers(0, 3))):  # parameter edits, valid or not
        node = g.nodes[draw(st.sampled_from(ids))]
        if node.spec.params:
            param = draw(st.sampled_from(node.spec.params))
            value = draw(st.one_of(_value(param), ANY_VALUE))
            with contextlib.suppress(ParamError):
                g.set_param(node.id, param.name, value)
    return g


# Layer types that can take a tensor of each rank (batch excluded), for growing
# graphs that are mostly valid; the chaotic graphs above cover everything else.
BY_RANK = {
    1: [
        "Linear",
        "Dropout",
        "BatchNorm1d",
        "LayerNorm",
        "ReLU",
        "LeakyReLU",
        "Sigmoid",
        "Tanh",
        "GELU",
        "Softmax",
        "LogSoftmax",
        "Reshape",
        "Flatten",
    ],
    2: [
        "Linear",
        "Conv1d",
        "MaxPool1d",
        "AvgPool1d",
        "BatchNorm1d",
        "LayerNorm",
        "LSTM",
        "GRU",
        "RNN",
        "MultiheadAttention",
        "Flatten",
        "ReLU",
        "Dropout",
    ],
    3: [
        "Conv2d",
        "ConvTranspose2d",
        "MaxPool2d",
        "AvgPool2d",
        "AdaptiveAvgPool2d",
        "GlobalAvgPool2d",
        "BatchNorm2d",
        "Inception",
        "Flatten",
        "ReLU",
        "GELU",
        "LayerNorm",
    ],
}
SMALL = {
    "out_features": 12,
    "out_channels": 12,
    "hidden_size": 12,
    "kernel_size": 5,
    "stride": 3,
    "padding": 2,
    "dilation": 2,
    "output_padding": 2,
    "output_size": 4,
    "num_heads": 4,
    "num_layers": 3,
    "embedding_dim": 12,
    "num_embeddings": 50,
    "ch1x1": 8,
    "ch3x3red": 8,
    "ch3x3": 8,
    "ch5x5red": 8,
    "ch5x5": 8,
    "pool_proj": 8,
}


def _small_value(param: Param) -> st.SearchStrategy[Any]:
    if param.kind == "int" and param.name in SMALL:
        return st.integers(int(param.minimum), SMALL[param.name])
    if param.kind == "int" and param.name == "dim":
        return st.sampled_from([-1, 1])
    return _value(param)


@st.composite
def grown_graphs(draw) -> GraphModel:
    """Graphs grown layer by layer from shapes already known: mostly valid networks."""
    g = GraphModel()
    dtype = draw(st.sampled_from(["float32", "float32", "float32", "int64"]))
    shape = draw(st.lists(st.integers(4, 16), min_size=1, max_size=2 if dtype == "int64" else 3))
    tip = g.add("Input", shape=shape, dtype=dtype)
    if dtype == "int64":
        tip_next = g.add("Embedding", num_embeddings=50, embedding_dim=draw(st.integers(4, 16)))
        g.connect(tip, tip_next)
    for _ in range(draw(st.integers(1, 12))):
        shapes = g.shapes()
        known = [
            n
            for n in g.nodes
            if n in shapes and g.nodes[n].spec.has_output and g.nodes[n].params.get("dtype") != "int64"
        ]
        if not known:
            break
        source = draw(st.sampled_from(known))
        rank = len(shapes[source])
        if draw(st.integers(0, 5)) == 0:  # a merge with a same-shaped layer (often itself)
            partner = draw(st.sampled_from([n for n in known if shapes[n] == shapes[source]]))
            node = g.add(draw(st.sampled_from(["Add", "Concat"])))
            g.connect(source, node)
            g.connect(partner, node)
            continue
        type_name = draw(st.sampled_from(BY_RANK.get(rank, ["Flatten"])))
        spec = CATALOG[type_name]
        params = {p.name: draw(_small_value(p)) for p in spec.params}
        if type_name == "Reshape":
            params["shape"] = [math.prod(shapes[source])]
        node = g.add(type_name, **params)
        g.connect(source, node)
    shapes = g.shapes()
    ends = [n for n in g.nodes if n in shapes and g.nodes[n].spec.has_output and not g.outputs_of(n)]
    for end in ends[-draw(st.integers(1, 2)) :]:
        g.connect(end, g.add("Output"))
    return g


def _check_answers(g: GraphModel) -> None:
    diagnostics = g.validate()
    shapes = g.shapes()
    params = g.num_parameters()
    assert isinstance(params, int) and params >= 0
    errors = [d for d in diagnostics if d.severity == ERROR]
    for d in diagnostics:
        assert d.severity in {ERROR, WARNING}
        assert d.node is None or d.node in g.nodes
        assert d.message[:1].isupper() and d.message.endswith("."), d.message
        if d.node is not None:
            assert f"'{g.nodes[d.node].name}'" in d.message, d.message
    for node_id, shape in shapes.items():
        assert all(isinstance(n, int) and n >= 1 for n in shape), (node_id, shape)
        assert all(e.source in shapes for e in g.inputs_of(node_id))
    if not errors:
        assert set(shapes) == set(g.nodes)
        if g.nodes:
            require_valid(g)
    else:
        try:
            require_valid(g)
        except GraphError as exc:
            assert all(d.message in str(exc) for d in errors)
        else:
            raise AssertionError("require_valid accepted a graph with errors")


@SETTINGS
@given(st.one_of(graphs(), grown_graphs()))
def test_random_graphs_validate_or_explain_and_never_raise(built) -> None:
    g = built
    _check_answers(g)
    # What connect accepted is always a sound topology.
    assert nx.is_directed_acyclic_graph(g.nx_graph)
    for node in g.nodes.values():
        ports = [e.port for e in g.inputs_of(node.id)]
        assert len(ports) == len(set(ports))
        assert node.spec.max_inputs is None or all(0 <= p < node.spec.max_inputs for p in ports)
        assert node.spec.has_output or not g.outputs_of(node.id)


@SETTINGS
@given(st.one_of(graphs(), grown_graphs()))
def test_random_graphs_round_trip_through_a_project_file(built) -> None:
    g = built
    g.training = {"lr": 0.01, "epochs": 3}
    loaded = project.loads(project.dumps(g), source="memory")
    assert loaded.to_dict() == g.to_dict()
    assert loaded.shapes() == g.shapes()
    assert loaded.validate() == g.validate()
    assert loaded.num_parameters() == g.num_parameters()
    assert loaded.training == g.training


@SETTINGS
@given(st.one_of(graphs(), grown_graphs()), st.data())
def test_removing_any_node_leaves_a_consistent_graph(built, data) -> None:
    g = built
    victim = data.draw(st.sampled_from(list(g.nodes)))
    g.remove(victim)
    assert victim not in g.nx_graph
    assert all(victim not in (e.source, e.target) for e in g.edges)
    _check_answers(g)


@SETTINGS
@given(
    st.sampled_from(TYPES).flatmap(lambda t: layer(t)),
    st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=4), min_size=1, max_size=3),
)
def test_shape_rules_answer_or_raise_shape_errors_only(drawn, in_shapes) -> None:
    """Every rule, on any shapes: a shape of positive sizes, or a ShapeError sentence."""
    type_name, params = drawn
    spec = CATALOG[type_name]
    values = spec.complete_params(params)
    shapes = [tuple(s) for s in in_shapes][: spec.max_inputs if spec.max_inputs is not None else None]
    if len(shapes) < spec.min_inputs:
        return
    g = GraphModel()
    dtype = "int64" if type_name == "Embedding" else "float32"
    sources = [g.add("Input", shape=list(s), dtype=dtype) for s in shapes]
    node = g.add(type_name, **values)
    for source in sources:
        g.connect(source, node)
    if spec.has_output:
        g.connect(node, g.add("Output"))
    _check_answers(g)
    if node in g.shapes():
        figures = g.analyze().figures[node]
        assert figures.parameters >= 0 and figures.macs >= 0
        assert figures.activation_bytes == 4 * math.prod(figures.output_shape)
