"""Automatic layout: data flows left to right (folded into bands when long), no two layers
overlap, the network fits a window readable, and every wire stays off every other box."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from nnstudio.core.graph import GraphModel
from nnstudio.core.layout import (
    COLUMN_GAP,
    NODE_WIDTH,
    READABLE_ZOOM,
    VIEW,
    BoxIndex,
    Curve,
    apply_layout,
    estimated_height,
    layered_positions,
    node_box,
    polyline_hits,
    route_wire,
    segment_hits_box,
)


def _boxes(g: GraphModel) -> dict[str, tuple[float, float, float, float]]:
    return {n: node_box(node.position, (NODE_WIDTH, estimated_height(node))) for n, node in g.nodes.items()}


def _wire(g: GraphModel, edge, boxes) -> list[tuple[float, float]]:
    """The points the editor draws for ``edge``: from the output port to the input port."""
    start = (boxes[edge.source][2], g.node(edge.source).position[1])
    end = (boxes[edge.target][0] - 8, g.node(edge.target).position[1])
    others = [b for n, b in boxes.items() if n not in (edge.source, edge.target)]
    route = route_wire(start, end, others)
    return route if route else Curve(start, end).points()


def _assert_readable_layout(g: GraphModel) -> None:
    boxes = _boxes(g)
    # Reading order: a band below another comes later, and within a band data flows right.
    for edge in g.edges:
        (sx, sy), (tx, ty) = g.node(edge.source).position, g.node(edge.target).position
        assert tx > sx or ty > sy, f"{edge} runs backwards: ({sx}, {sy}) -> ({tx}, {ty})"
    ids = list(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            (l1, t1, r1, b1), (l2, t2, r2, b2) = boxes[a], boxes[b]
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, f"layers {a} and {b} overlap"
    for edge in g.edges:
        others = [b for n, b in boxes.items() if n not in (edge.source, edge.target)]
        assert not polyline_hits(_wire(g, edge, boxes), others), f"the wire {edge} runs through a layer"


def _fitted_zoom(g: GraphModel) -> float:
    boxes = _boxes(g).values()
    width = max(b[2] for b in boxes) - min(b[0] for b in boxes) + 80
    height = max(b[3] for b in boxes) - min(b[1] for b in boxes) + 80
    return min(VIEW[0] / width, VIEW[1] / height, 1.2)


def test_every_example_is_laid_out_readable(example_path) -> None:
    g = GraphModel.load(example_path)
    apply_layout(g)
    _assert_readable_layout(g)
    # A 1280x800 window's canvas shows the whole network with text drawn (the fitted
    # zoom of a one-row layout of the 14-layer examples was 26-34%).
    assert _fitted_zoom(g) >= 0.5, f"{example_path.name} fits only at {_fitted_zoom(g):.0%}"


def test_a_long_chain_folds_into_bands_that_fit_the_window() -> None:
    g = GraphModel()
    ids = [g.add("Input", shape=[4]), *(g.add("Linear") for _ in range(14)), g.add("Output")]
    for a, b in itertools.pairwise(ids):
        g.connect(a, b)
    apply_layout(g)
    _assert_readable_layout(g)
    assert len({g.node(n).position[1] for n in ids}) > 1, "the chain stayed one row"
    assert _fitted_zoom(g) >= READABLE_ZOOM


def test_the_resnet_shortcut_runs_around_the_block_not_behind_it(example_path) -> None:
    g = GraphModel.load(example_path.parent / "resnet_block.nnstudio")
    add = next(n for n in g.nodes.values() if n.type == "Add")
    skip = next(e for e in g.inputs_of(add.id) if g.node(e.source).type != "BatchNorm2d")
    for node_id in g.nodes:  # the report: all in one row, the skip behind the block
        g.move(node_id, 260.0 * list(g.nodes).index(node_id), 0.0)
    boxes = _boxes(g)
    line = ((boxes[skip.source][2], 0.0), (boxes[add.id][0], 0.0))
    assert sum(segment_hits_box(*line, b) for n, b in boxes.items() if n not in (skip.source, add.id)) == 5
    assert _wire(g, skip, boxes) != list(line)  # even in one row the editor routes it around

    apply_layout(g)
    boxes = _boxes(g)
    others = [b for n, b in boxes.items() if n not in (skip.source, skip.target)]
    assert not polyline_hits(_wire(g, skip, boxes), others)
    _assert_readable_layout(g)


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


def test_a_long_edge_gets_its_own_lane_beside_the_chain() -> None:
    """x -> f1 -> f2 -> f3 -> add, and x -> add: the skip's placeholders push the chain
    aside, so the chain's boxes do not sit on the straight line from x to add."""
    g = GraphModel()
    x = g.add("Input", shape=[4])
    chain = [g.add("Linear", out_features=4) for _ in range(3)]
    add = g.add("Add")
    for a, b in zip([x, *chain], [*chain, add], strict=False):
        g.connect(a, b)
    g.connect(x, add)
    apply_layout(g)
    boxes = _boxes(g)
    line = ((boxes[x][2], g.node(x).position[1]), (boxes[add][0], g.node(add).position[1]))
    assert not any(segment_hits_box(*line, boxes[n]) for n in chain)


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


def test_a_wire_is_routed_around_a_box_in_its_way_and_left_alone_otherwise() -> None:
    box = (100.0, -40.0, 260.0, 40.0)
    assert route_wire((0, 0), (400, 0), []) == []
    route = route_wire((0, 0), (400, 0), [box])
    assert route[0] == (0, 0) and route[-1] == (400, 0)
    assert not polyline_hits(route, [box])
    # Back to the start of the next band: through the gap below the first band's boxes.
    back = route_wire((400, 0), (0, 200), [box])
    assert not polyline_hits(back, [box]) and back[-1] == (0, 200)
    # A target dragged left of its source: the wire goes around both, not back through them.
    source, target = (240.0, -30.0, 400.0, 30.0), (0.0, -30.0, 160.0, 30.0)
    looped = route_wire((400, 0), (160, 0), [], [source, target])
    assert not polyline_hits(looped[1:-1], [source, target])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=40), st.integers(1, 25))
def test_random_dags_lay_out_readable(pairs, size) -> None:
    g = GraphModel()
    ids = [g.add("Concat") for _ in range(size)]
    for i, j in pairs:
        lo, hi = sorted((i % size, j % size))
        if lo != hi:
            g.connect(ids[lo], ids[hi])  # always forward in id order: never a loop
    apply_layout(g)
    _assert_readable_layout(g)


def test_every_example_ships_laid_out(example_path) -> None:
    """Opening an example and pressing Fit to Window shows it readable, no Arrange needed."""
    g = GraphModel.load(example_path)
    _assert_readable_layout(g)
    assert _fitted_zoom(g) >= 0.5, f"{example_path.name} as shipped fits only at {_fitted_zoom(g):.0%}"


def test_the_box_index_finds_the_boxes_near_a_rectangle_looking_only_at_those_near_it() -> None:
    index = BoxIndex(cell=400.0)
    for i in range(1000):  # a chain of layers in one row, 260 apart
        index.put(i, (260.0 * i, -40.0, 260.0 * i + 160, 40.0))
    # Between layers 500 and 501, and above the row: nothing; across 500..502: those three.
    assert index.query((130_165.0, -30.0, 130_255.0, 30.0)) == {}
    assert set(index.query((130_100.0, -10.0, 130_600.0, 10.0))) == {500, 501, 502}
    assert set(index.query((130_100.0, -10.0, 130_600.0, 10.0), skip={501})) == {500, 502}
    assert index.checks < 20  # the boxes in a few cells, not all 1,000

    # Moved, the box is found at its new place only; taken out, nowhere.
    assert index.put(501, (0.0, 500.0, 160.0, 580.0)) == (130_260.0, -40.0, 130_420.0, 40.0)
    assert set(index.query((130_100.0, -10.0, 130_600.0, 10.0))) == {500, 502}
    assert set(index.query((-10.0, 490.0, 10.0, 510.0))) == {501}
    assert (
        index.remove(501) is not None and 501 not in index and index.query((-10.0, 490.0, 10.0, 510.0)) == {}
    )
    # A rectangle over the whole canvas walks the filled cells, not the empty ones between.
    assert len(index.query((-1e7, -1e7, 1e7, 1e7))) == 999
    assert len(index.query((-1e7, -1e7, 1e7, 1e7), limit=80)) == 81
