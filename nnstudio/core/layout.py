"""Automatic layered layout: data flows left to right, one column per depth.

A Sugiyama-style sketch: layers by longest path from the inputs (networkx
topological generations), then a few barycentre sweeps to reduce crossings.
"""

from __future__ import annotations

import networkx as nx

from nnstudio.core.graph import GraphModel

COLUMN_GAP = 260.0
ROW_GAP = 130.0


def layered_positions(graph: GraphModel, sweeps: int = 4) -> dict[str, tuple[float, float]]:
    """A position for every node; nodes on loops are placed after the rest."""
    nxg = graph.nx_graph
    acyclic = nxg if nx.is_directed_acyclic_graph(nxg) else nx.DiGraph(
        (u, v) for u, v in nxg.edges() if not nx.has_path(nxg, v, u)
    )
    depth: dict[str, int] = {}
    for node_id in nx.topological_sort(acyclic) if len(acyclic) else []:
        preds = list(acyclic.predecessors(node_id))
        depth[node_id] = 1 + max((depth[p] for p in preds), default=-1)
    last = max(depth.values(), default=-1)
    for node_id in graph.nodes:  # isolated or cyclic leftovers
        if node_id not in depth:
            last += 1 if node_id not in acyclic else 0
            depth[node_id] = max(last, 0)

    columns: dict[int, list[str]] = {}
    for node_id in graph.nodes:  # insertion order is a stable first guess
        columns.setdefault(depth[node_id], []).append(node_id)
    order = {n: i for col in columns.values() for i, n in enumerate(col)}

    keys = sorted(columns)
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        for col in keys[1:] if forward else keys[-2::-1]:
            def barycentre(node_id: str, forward: bool = forward) -> float:
                near = nxg.predecessors(node_id) if forward else nxg.successors(node_id)
                ranks = [order[n] for n in near if n in order]
                return sum(ranks) / len(ranks) if ranks else order[node_id]

            columns[col].sort(key=barycentre)
            for i, node_id in enumerate(columns[col]):
                order[node_id] = i

    positions = {}
    for col, members in columns.items():
        top = -(len(members) - 1) * ROW_GAP / 2
        for i, node_id in enumerate(members):
            positions[node_id] = (col * COLUMN_GAP, top + i * ROW_GAP)
    return positions


def apply_layout(graph: GraphModel) -> None:
    """Move every node to its layered position (emits node_moved for each)."""
    for node_id, (x, y) in layered_positions(graph).items():
        graph.move(node_id, x, y)
