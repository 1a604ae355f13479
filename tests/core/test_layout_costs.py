"""The layered layout's work grows about linearly with a deep network's size."""

from __future__ import annotations

import itertools
import random

from nnstudio.core import layout
from nnstudio.core.graph import GraphModel


def test_crossings_are_counted_as_inversions():
    rng = random.Random(3)
    for n in (0, 1, 2, 7, 40):
        values = [rng.randrange(10) for _ in range(n)]
        brute = sum(1 for i, j in itertools.combinations(range(n), 2) if values[j] < values[i])
        assert layout._inversions(values) == brute


def test_a_deep_chain_is_ordered_without_sorting_its_one_node_columns(monkeypatch):
    # A 600-layer chain has 600 columns of one node: they need no barycentre sort and no
    # crossing count, and their rows are where their neighbours want them.
    graph = GraphModel()
    previous = graph.add("Input", shape=[8])
    for _ in range(598):
        node = graph.add("Linear", out_features=8)
        graph.connect(previous, node)
        previous = node
    graph.connect(previous, graph.add("Output"))
    counted: list[int] = []
    inversions = layout._inversions

    def counting(values):
        counted.append(len(values))
        return inversions(values)

    monkeypatch.setattr(layout, "_inversions", counting)
    positions = layout.layered_positions(graph)
    assert counted == []  # no column of this chain has two wires to compare
    assert len(positions) == 600
    rows = {}
    for x, y in positions.values():
        rows.setdefault(y, []).append(x)
    assert all(xs == sorted(set(xs)) for xs in rows.values())  # folded rows, no two boxes on one spot
