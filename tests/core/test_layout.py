"""Automatic layout: data flows left to right and no two layers overlap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nnstudio.core.graph import GraphModel
from nnstudio.core.layout import COLUMN_GAP, apply_layout, layered_positions


def _assert_flows_right(g: GraphModel) -> None:
    for edge in g.edges:
        source, target = g.node(edge.source).position, g.node(edge.target).position
        assert target[0] > source[0], f"{edge} goes from x={source[0]} to x={target[0]}"
    positions = [n.position for n in g.nodes.values()]
    assert len(set(positions)) == len(positions), "two layers share a position"


def test_every_example_lays_out_left_to_right(example_path) -> None:
    g = GraphModel.load(example_path)
    apply_layout(g)
    _assert_flows_right(g)


def test_branches_share_a_column_and_a_merge_comes_after_both() -> None:
    g = GraphModel()
    x = g.add("Input", shape=[4])
    a, b = g.add("Linear"), g.add("Linear")
    short = g.add("ReLU")
    add = g.add("Add")
    g.connect(x, a)
    g.connect(x, b)
    g.connect(b, short)
    g.connect(a, add)
    g.connect(short, add)
    positions = layered_positions(g)
    assert positions[a][0] == positions[b][0] == COLUMN_GAP
    assert positions[add][0] == 3 * COLUMN_GAP  # longest path: x -> b -> short -> add
    assert positions[a][1] != positions[b][1]


def test_layout_moves_without_changing_the_model() -> None:
    g = GraphModel()
    x = g.add("Input", shape=[4])
    fc = g.add("Linear")
    g.connect(x, fc)
    moved, changed = [], []
    g.events.node_moved.connect(lambda *args: moved.append(args))
    g.events.changed.connect(lambda: changed.append(True))
    apply_layout(g)
    assert moved == [(fc, (COLUMN_GAP, 0.0))]  # x already sits at the origin
    assert changed == []
    moved.clear()
    apply_layout(g)  # already laid out: nothing moves
    assert moved == []


def test_a_loop_does_not_stop_the_layout() -> None:
    """A graph with a loop (only possible behind connect's back) still gets positions."""
    g = GraphModel()
    x = g.add("Input", shape=[4])
    a, b = g.add("Add"), g.add("ReLU")
    g.connect(x, a)
    g.connect(a, b)
    g.nx_graph.add_edge(b, a, key=1)
    positions = layered_positions(g)
    assert set(positions) == set(g.nodes)
    assert positions[a][0] > positions[x][0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=40), st.integers(1, 25))
def test_random_dags_flow_right(pairs, size) -> None:
    g = GraphModel()
    ids = [g.add("Concat") for _ in range(size)]
    for i, j in pairs:
        lo, hi = sorted((i % size, j % size))
        if lo != hi:
            g.connect(ids[lo], ids[hi])  # always forward in id order: never a loop
    apply_layout(g)
    _assert_flows_right(g)
