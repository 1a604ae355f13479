"""On the canvas, every example after Arrange: no wire runs through a layer's box, no two
shape labels sit on each other, and Fit to Window shows the whole network readable."""

from __future__ import annotations

import itertools

import pytest

from nnstudio.core.graph import GraphModel
from nnstudio.core.layout import segment_hits_box
from nnstudio.gui.document import Document
from nnstudio.gui.editor.node_item import TEXT_LOD
from nnstudio.resources import examples_dir

EXAMPLES = sorted(examples_dir().glob("*.nnstudio"))


def _wire_points(item, count: int = 80) -> list[tuple[float, float]]:
    path = item.path()
    return [(p.x(), p.y()) for p in (path.pointAtPercent(i / count) for i in range(count + 1))]


def _crossings(scene) -> list[str]:
    found = []
    for edge, wire in scene.edge_items.items():
        points = _wire_points(wire)
        for node_id, node in scene.node_items.items():
            if node_id in (edge.source, edge.target):
                continue
            r = node.sceneBoundingRect().adjusted(1, 1, -1, -1)
            box = (r.left(), r.top(), r.right(), r.bottom())
            if any(segment_hits_box(p, q, box) for p, q in itertools.pairwise(points)):
                found.append(f"{edge.source}->{edge.target} crosses {node_id}")
    return found


def _label_overlaps(scene) -> list[str]:
    labels = [
        (edge, wire.mapRectToScene(wire._label_rect)) for edge, wire in scene.edge_items.items() if wire.label
    ]
    return [
        f"{a} and {b}" for i, (a, ra) in enumerate(labels) for b, rb in labels[i + 1 :] if ra.intersects(rb)
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_arranged_examples_show_every_wire_and_fit_readable(make_window, qtbot, path):
    window = make_window()
    window.resize(1280, 800)
    assert window.open_example(path)
    window.auto_layout()
    qtbot.wait(10)  # the scene re-routes wires once the moves are in
    scene = window.scene
    assert _crossings(scene) == []
    assert _label_overlaps(scene) == []
    window.view.fit_to_view()
    # Text and shapes are drawn above TEXT_LOD; the 14-layer examples used to fit at 26-34%.
    assert window.view.zoom() >= max(TEXT_LOD, 0.5), f"{path.stem}: {window.view.zoom():.0%}"


def test_a_layer_put_in_a_wires_way_makes_it_go_around(make_window, qtbot):
    graph = GraphModel()
    x = graph.add("Input", shape=[2], position=(0, 0))
    out = graph.add("Output", position=(700, 0))
    graph.connect(x, out)
    window = make_window(Document(graph))
    scene = window.scene
    wire = scene.edge_items[graph.edges[0]]
    plain = wire.path().elementCount()
    blocker = graph.add("Dropout", name="in_the_way", position=(300, 20))
    qtbot.waitUntil(lambda: wire.path().elementCount() != plain, timeout=2000)
    assert _crossings(scene) == []
    graph.move(blocker, 300, 400)  # out of the way again: the plain curve comes back
    qtbot.waitUntil(lambda: wire.path().elementCount() == plain, timeout=2000)
