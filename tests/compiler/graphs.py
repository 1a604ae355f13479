"""A hypothesis strategy for random *valid* graphs, and small graph builders.

Graphs start from an image, a multi-channel signal, a sequence, a feature
vector or token ids, then grow a chain of random catalog layers with small
random parameters. Now and then the chain forks into two branches merged by
Add or Concat, a second Input joins, an intermediate value becomes a second
Output, or a dead branch is left behind (validation only warns about it).
Every layer that the catalog rejects for the current shape is taken out
again, so the result always validates; names are often hostile.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from nnstudio.api import Graph
from nnstudio.core.errors import GraphError
from nnstudio.core.layers import CATALOG, Param

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "examples"
EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("*.nnstudio"))

# Layers with one input and one output that the strategy grows chains from. A Foreign
# node only comes from an import (its shapes are a measurement), never from a strategy.
CHAIN_TYPES = sorted(
    t
    for t, spec in CATALOG.items()
    if not spec.role and spec.max_inputs == 1 and t not in ("Embedding", "Foreign")
)

# Ranges kept small so the models stay tiny and most shapes fit.
_SMALL = {
    "out_channels": (1, 6),
    "out_features": (1, 8),
    "kernel_size": (1, 3),
    "stride": (1, 3),
    "padding": (0, 2),
    "dilation": (1, 2),
    "output_padding": (0, 1),
    "hidden_size": (1, 6),
    "num_layers": (1, 2),
    "num_heads": (1, 4),
    "output_size": (1, 3),
    "dim": (-3, 3),
    "ch1x1": (1, 4),
    "ch3x3red": (1, 4),
    "ch3x3": (1, 4),
    "ch5x5red": (1, 4),
    "ch5x5": (1, 4),
    "pool_proj": (1, 4),
}

NAMES = st.one_of(
    st.none(),
    st.text(min_size=1, max_size=12),
    st.sampled_from(
        [
            "x",
            "self",
            "forward",
            "training",
            "torch",
            "nn",
            "class",
            "1st",
            "__init__",
            "_",
            "model",
            "summary",
            "example_inputs",
            "Inception",
            "print",
            "image",
            "x_1",
            "__import__('os')",
            'a"""b',
            "a\rb",
            "name # comment",
        ]
    ),
)


def _value(param: Param) -> st.SearchStrategy[Any]:
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    if param.kind == "float":
        return st.sampled_from([param.minimum or 0.0, 0.1, 0.5]).filter(
            lambda v: param.maximum is None or v <= param.maximum
        )
    if param.kind == "int":
        low, high = _SMALL.get(param.name, (int(param.minimum or 0), int(param.minimum or 0) + 4))
        return st.integers(max(low, int(param.minimum)), min(high, int(param.maximum)))
    if param.kind == "shape":  # Permute's dims; orders that do not fit the rank are taken out
        return st.sampled_from([(2, 1), (1, 3, 2), (2, 3, 1), (3, 1, 2)])
    raise AssertionError(f"no strategy for {param.kind} parameters")


def _reshape_targets(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    total = 1
    for d in shape:
        total *= d
    targets = [(total,), (1, total), (total, 1)]
    targets += [(d, total // d) for d in (2, 3, 4) if total % d == 0 and total > d]
    return targets


def add_named(graph: Graph, draw, type_name: str, **params: Any) -> str:
    """Add a node, with a drawn (often hostile) name when the graph accepts it."""
    name = draw(NAMES)
    try:
        return graph.add(type_name, name=name, **params)
    except GraphError:  # empty, multi-line or taken names: keep the default
        return graph.add(type_name, **params)


def _errors(graph: Graph, node: str) -> list:
    return [d for d in graph.analyze().for_node(node) if d.is_error]


def _try_layer(graph: Graph, draw, source: str) -> str:
    """Append one random layer after ``source``; return the new tail (``source`` if rejected)."""
    shape = graph.shapes()[source]
    type_name = draw(st.sampled_from(CHAIN_TYPES))
    spec = CATALOG[type_name]
    if type_name == "Reshape":
        params = {"shape": draw(st.sampled_from(_reshape_targets(shape)))}
    else:
        params = {p.name: draw(_value(p)) for p in spec.params}
    node = add_named(graph, draw, type_name, **params)
    graph.connect(source, node)
    if _errors(graph, node) or node not in graph.shapes():
        graph.remove(node)
        return source
    return node


def _chain(graph: Graph, draw, source: str, max_steps: int) -> str:
    for _ in range(draw(st.integers(0, max_steps))):
        for _attempt in range(3):  # most types suit only some ranks: try a few
            tail = _try_layer(graph, draw, source)
            if tail != source:
                source = tail
                break
    return source


def _merge(graph: Graph, draw, a: str, b: str) -> str | None:
    """Join two tails with Add or Concat if their shapes allow; None if they do not."""
    kind = draw(st.sampled_from(["Add", "Concat"]))
    params = {"dim": draw(st.sampled_from([1, -1]))} if kind == "Concat" else {}
    node = add_named(graph, draw, kind, **params)
    graph.connect(a, node)
    graph.connect(b, node)
    if _errors(graph, node):
        graph.remove(node)
        return None
    return node


@st.composite
def valid_graphs(draw) -> Graph:
    graph = Graph(
        name=draw(st.one_of(st.text(max_size=20), st.sampled_from(["LeNet-5", "Inception", "True"])))
    )
    kind = draw(st.sampled_from(["image", "signal", "sequence", "vector", "tokens"]))
    small = st.integers(1, 4)
    side = st.integers(3, 10)
    shape = {
        "image": lambda: (draw(small), draw(side), draw(side)),
        "signal": lambda: (draw(small), draw(st.integers(3, 16))),
        "sequence": lambda: (draw(st.integers(2, 8)), draw(st.sampled_from([2, 4, 6, 8]))),
        "vector": lambda: (draw(st.integers(1, 16)),),
        "tokens": lambda: (draw(st.integers(2, 8)),),
    }[kind]()
    dtype = "int64" if kind == "tokens" else "float32"
    tail = first_input = add_named(graph, draw, "Input", shape=list(shape), dtype=dtype)
    if kind == "tokens":
        tail = add_named(
            graph,
            draw,
            "Embedding",
            num_embeddings=draw(st.integers(2, 20)),
            embedding_dim=draw(st.integers(1, 8)),
        )
        graph.connect(first_input, tail)

    for _ in range(draw(st.integers(1, 4))):
        move = draw(st.sampled_from(["chain", "chain", "fork", "second_input", "extra_output", "dead_end"]))
        if move == "chain":
            tail = _chain(graph, draw, tail, 3)
        elif move == "fork":
            left = _chain(graph, draw, tail, 2)
            right = _chain(graph, draw, tail, 2)
            tail = _merge(graph, draw, left, right) or left
        elif move == "second_input" and graph.nodes[tail].type != "Input":
            extra = add_named(graph, draw, "Input", shape=list(graph.shapes()[tail]))
            tail = _merge(graph, draw, tail, extra) or tail
            with contextlib.suppress(GraphError):
                if not graph.outputs_of(extra):
                    graph.remove(extra)
        elif move == "extra_output":
            output = add_named(graph, draw, "Output")
            graph.connect(tail, output)
        elif move == "dead_end":
            _chain(graph, draw, tail, 1)
    output = add_named(graph, draw, "Output")
    graph.connect(tail, output)
    return graph


def chain_graph(
    input_shape: tuple[int, ...], *layers: tuple[str, dict[str, Any]], dtype: str = "float32"
) -> Graph:
    """Input -> layers... -> Output, with default names."""
    graph = Graph(name="Test model")
    tail = graph.add("Input", shape=list(input_shape), dtype=dtype)
    for type_name, params in layers:
        node = graph.add(type_name, **params)
        graph.connect(tail, node)
        tail = node
    graph.connect(tail, graph.add("Output"))
    return graph
