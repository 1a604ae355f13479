"""An edit on a big graph re-routes only the wires it can have changed.

Wires detour around boxes; re-routing all of them after every edit made one
parameter change on a 1,000-node graph cost ~235 ms. These tests count the
work (wires routed, boxes looked at), not the time, so they hold on a loaded
machine: the counts must not grow with the size of the graph.
"""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from nnstudio.core.graph import GraphModel
from nnstudio.core.layout import polyline_hits
from nnstudio.gui.document import Document
from nnstudio.gui.editor.scene import GraphScene

CHAIN = 1000


def _settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


@pytest.fixture
def chain_scene(qapp):
    """Input -> 998 Linear layers -> Output, one row of boxes 260 apart, wires routed."""
    graph = GraphModel()
    previous = graph.add("Input", shape=[16], position=(0, 0))
    for i in range(1, CHAIN - 1):
        node = graph.add("Linear", out_features=16, position=(260 * i, 0))
        graph.connect(previous, node)
        previous = node
    graph.connect(previous, graph.add("Output", position=(260 * (CHAIN - 1), 0)))
    document = Document(graph)
    scene = GraphScene(document)
    _settle()
    yield graph, document, scene
    scene.detach()
    document.detach()


def _linear(graph: GraphModel, index: int) -> str:
    return [n for n in graph.nodes.values() if n.type == "Linear"][index].id


def test_a_parameter_edit_that_keeps_the_box_size_routes_no_wire(chain_scene, routed):
    graph, document, scene = chain_scene
    node_id = _linear(graph, CHAIN // 2)
    height = scene.node_items[node_id].sceneBoundingRect().height()

    assert document.set_param(node_id, "out_features", 17)  # shapes change downstream, sizes do not
    _settle()

    assert scene.node_items[node_id].sceneBoundingRect().height() == height
    assert len(routed) == 0  # it was all 999 wires, each asking the box grid for its neighbours


def test_moving_one_node_routes_only_the_wires_near_it(chain_scene, routed):
    graph, document, scene = chain_scene
    node_id = _linear(graph, CHAIN // 2)
    checks = scene.box_index.checks

    x, y = graph.nodes[node_id].position
    document.move_nodes({node_id: ((x, y), (x, y + 300))})
    _settle()

    # Its own two wires (routed as it moves and once more after), and none of the other 997.
    assert {(w.edge.source, w.edge.target) for w in routed} <= {
        (e.source, e.target) for e in graph.edges if node_id in (e.source, e.target)
    }
    assert 2 <= len(routed) <= 8
    assert scene.box_index.checks - checks < 100  # nearby boxes only, not 1,000 per wire


def _polyline(wire) -> list[tuple[float, float]]:
    return [(p.x(), p.y()) for p in (wire.path().pointAtPercent(i / 80) for i in range(81))]


def test_a_box_moved_into_another_wires_way_reroutes_it_and_moved_out_restores_it(chain_scene):
    graph, document, scene = chain_scene
    # A long wire from the first Linear, down and along a stretch of empty canvas.
    source, target = _linear(graph, 0), _linear(graph, 1)
    document.move_nodes({target: (graph.nodes[target].position, (2600.0, 900.0))})
    _settle()
    wire = next(w for e, w in scene.edge_items.items() if (e.source, e.target) == (source, target))
    before = _polyline(wire)

    # A layer far down the chain dropped on that wire, nowhere near its two ends: the wire goes around it.
    blocker = _linear(graph, 500)
    old = graph.nodes[blocker].position
    middle = wire.path().pointAtPercent(0.5)
    document.move_nodes({blocker: (old, (middle.x() - 80, middle.y()))})
    _settle()
    r = scene.node_items[blocker].sceneBoundingRect()
    assert not polyline_hits(_polyline(wire), [(r.left(), r.top(), r.right(), r.bottom())])
    assert _polyline(wire) != before

    # Moved away again: the wire takes its old way back.
    document.move_nodes({blocker: (graph.nodes[blocker].position, old)})
    _settle()
    assert _polyline(wire) == before
