"""Opening and arranging a big graph routes each wire once.

A wire's route (the detour around boxes in its way) used to be computed when
its item was made, again as each of its two nodes moved during *Arrange*, and
once more after: four routes per wire, most of the 1,000-node editor
benchmark's layout step. These tests count routes, not time, so they hold on
a loaded machine.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from nnstudio.core.graph import GraphModel
from nnstudio.gui.document import Document
from nnstudio.gui.editor.port_item import PortItem
from nnstudio.gui.editor.scene import GraphScene

BRANCHES = 40


def _settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def _branchy_graph() -> GraphModel:
    """Input -> 40 x (Linear -> ReLU, with a skip Add) -> Output, all piled at the origin."""
    graph = GraphModel()
    previous = graph.add("Input", shape=[16], position=(0, 0))
    for _ in range(BRANCHES):
        fc = graph.add("Linear", out_features=16, position=(0, 0))
        relu = graph.add("ReLU", position=(0, 0))
        add = graph.add("Add", position=(0, 0))
        graph.connect(previous, fc)
        graph.connect(fc, relu)
        graph.connect(relu, add)
        graph.connect(previous, add, 1)
        previous = add
    graph.connect(previous, graph.add("Output", position=(0, 0)))
    return graph


def _ends_at_its_ports(scene: GraphScene) -> None:
    for edge, wire in scene.edge_items.items():
        path = wire.path()
        start = scene.node_items[edge.source].output_anchor()
        end = scene.node_items[edge.target].input_anchor(edge.port) - QPointF(PortItem.RADIUS + 1, 0)
        assert path.elementAt(0).x == pytest.approx(start.x()) and path.elementAt(0).y == pytest.approx(
            start.y()
        )
        assert path.currentPosition() == end


def test_opening_and_arranging_route_each_wire_once(qapp, routed):
    graph = _branchy_graph()
    document = Document(graph)
    scene = GraphScene(document)
    try:
        _settle()
        assert len(routed) == len(graph.edges)  # made without a route, routed once when shown
        _ends_at_its_ports(scene)

        routed.clear()
        document.auto_layout()  # every node moves
        _settle()
        assert len(routed) == len(graph.edges), f"{len(routed)} routes for {len(graph.edges)} wires"
        _ends_at_its_ports(scene)
        assert {w.edge for w in routed} == set(graph.edges)
    finally:
        scene.detach()
        document.detach()


def test_a_wire_added_by_hand_is_drawn_at_once(qapp):
    graph = GraphModel()
    a = graph.add("Input", shape=[4], position=(0, 0))
    b = graph.add("Linear", out_features=2, position=(300, 40))
    document = Document(graph)
    scene = GraphScene(document)
    try:
        _settle()
        assert document.connect_nodes(a, b)  # no event loop turn in between: the wire is there now
        _ends_at_its_ports(scene)
    finally:
        scene.detach()
        document.detach()
