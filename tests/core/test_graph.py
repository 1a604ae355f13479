"""GraphModel edits: each emits exactly its past-tense event, and only on a real change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nnstudio.core.errors import (
    CycleError,
    FormatError,
    NameTakenError,
    NodeNotFoundError,
    ParamError,
    PortError,
    UnknownLayerError,
)
from nnstudio.core.graph import Edge, GraphModel
from nnstudio.core.validation import can_connect

EVENTS = (
    "node_added",
    "node_removed",
    "edge_added",
    "edge_removed",
    "param_changed",
    "node_renamed",
    "node_moved",
    "changed",
)


class Recorder:
    """Every event a graph emits, in order, with its arguments."""

    def __init__(self, graph: GraphModel) -> None:
        self.calls: list[tuple] = []
        for name in EVENTS:
            getattr(graph.events, name).connect(self._slot(name))

    def _slot(self, name: str):
        return lambda *args: self.calls.append((name, *args))

    @contextmanager
    def expect(self, *calls: tuple) -> Iterator[None]:
        self.calls.clear()
        yield
        assert self.calls == list(calls)


@pytest.fixture
def graph() -> GraphModel:
    g = GraphModel()
    x = g.add("Input", name="x", shape=[4])
    fc = g.add("Linear", name="fc", out_features=3)
    out = g.add("Output", name="out")
    g.connect(x, fc)
    g.connect(fc, out)
    return g


@pytest.fixture
def events(graph: GraphModel) -> Recorder:
    return Recorder(graph)


def test_add_emits_node_added(graph: GraphModel, events: Recorder) -> None:
    with events.expect(("node_added", "n4"), ("changed",)):
        node_id = graph.add("ReLU", position=(10, 20))
    node = graph.node(node_id)
    assert (node.type, node.name, node.position) == ("ReLU", "relu1", (10.0, 20.0))


def test_connect_and_disconnect_emit_edge_events(graph: GraphModel, events: Recorder) -> None:
    relu = graph.add("ReLU")
    with events.expect(("edge_added", Edge("n2", relu, 0)), ("changed",)):
        graph.connect("n2", relu)
    with events.expect(("edge_removed", Edge("n2", relu, 0)), ("changed",)):
        graph.disconnect("n2", relu, 0)
    assert graph.outputs_of("n2") == [Edge("n2", "n3", 0)]


def test_remove_emits_each_edge_then_the_node(graph: GraphModel, events: Recorder) -> None:
    with events.expect(
        ("edge_removed", Edge("n1", "n2", 0)),
        ("edge_removed", Edge("n2", "n3", 0)),
        ("node_removed", "n2"),
        ("changed",),
    ):
        graph.remove("n2")
    assert "n2" not in graph and graph.edges == []


def test_set_param_emits_the_coerced_value(graph: GraphModel, events: Recorder) -> None:
    with events.expect(("param_changed", "n2", "out_features", 5), ("changed",)):
        graph.set_param("n2", "out_features", 5.0)
    assert graph.node("n2").params["out_features"] == 5
    with events.expect(("param_changed", "n1", "shape", (2, 2)), ("changed",)):
        graph.set_param("n1", "shape", [2, 2])


def test_rename_and_move_emit_their_events(graph: GraphModel, events: Recorder) -> None:
    with events.expect(("node_renamed", "n2", "hidden"), ("changed",)):
        graph.rename("n2", "  hidden ")
    # A move changes the drawing, not the model: no 'changed', no re-validation.
    with events.expect(("node_moved", "n2", (5.0, -3.5))):
        graph.move("n2", 5, -3.5)


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: g.set_param("n2", "out_features", 3),
        lambda g: g.set_param("n2", "out_features", 3.0),
        lambda g: g.set_param("n1", "shape", [4]),
        lambda g: g.rename("n2", "fc"),
        lambda g: g.rename("n2", " fc "),
        lambda g: g.move("n2", 0, 0),
    ],
    ids=["same-param", "same-param-as-float", "same-shape", "same-name", "same-name-padded", "same-place"],
)
def test_no_event_when_nothing_changes(graph: GraphModel, events: Recorder, edit) -> None:
    analysis = graph.analyze()
    with events.expect():
        edit(graph)
    assert graph.analyze() is analysis


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda g: g.add("Conv3d"), UnknownLayerError),
        (lambda g: g.add("Linear", out_features=-1), ParamError),
        (lambda g: g.add("Linear", name="fc"), NameTakenError),
        (lambda g: g.add("Linear", node_id="n1"), ParamError),
        (lambda g: g.add("Linear", position=(float("nan"), 0)), ParamError),
        (lambda g: g.remove("n99"), NodeNotFoundError),
        (lambda g: g.connect("n2", "n2", 0), CycleError),
        (lambda g: g.connect("n1", "n2"), PortError),
        (lambda g: g.connect("n1", "n99"), NodeNotFoundError),
        (lambda g: g.disconnect("n1", "n3"), NodeNotFoundError),
        (lambda g: g.set_param("n2", "out_features", "many"), ParamError),
        (lambda g: g.set_param("n2", "units", 3), ParamError),
        (lambda g: g.rename("n2", "out"), NameTakenError),
        (lambda g: g.rename("n2", ""), ParamError),
        (lambda g: g.rename("n2", "two\nlines"), ParamError),
        (lambda g: g.rename("n2", "x" * 65), ParamError),
        (lambda g: g.move("n2", float("inf"), 0), ParamError),
    ],
)
def test_a_refused_edit_changes_nothing_and_emits_nothing(
    graph: GraphModel, events: Recorder, edit, error
) -> None:
    before = graph.to_dict()
    with events.expect(), pytest.raises(error):
        edit(graph)
    assert graph.to_dict() == before


def test_param_errors_name_the_node(graph: GraphModel) -> None:
    with pytest.raises(
        ParamError, match=r"^Linear 'fc': 'out_features' must be a whole number, not 'many'\.$"
    ):
        graph.set_param("n2", "out_features", "many")
    with pytest.raises(ParamError, match=r"^Linear 'wide': 'out_features' must be at least 1, not 0\.$"):
        graph.add("Linear", name="wide", out_features=0)


def test_ids_are_never_reused_after_a_removal(graph: GraphModel) -> None:
    graph.remove("n3")
    assert graph.add("Output") == "n4"
    graph.add("ReLU", node_id="n10")
    assert graph.add("ReLU") == "n11"


def test_default_names_are_unique_per_type(graph: GraphModel) -> None:
    names = [graph.node(graph.add("Linear")).name for _ in range(3)]
    assert names == ["linear1", "linear2", "linear3"]


def test_node_by_name_and_lookups(graph: GraphModel) -> None:
    assert graph.node_by_name("fc").id == "n2"
    with pytest.raises(NodeNotFoundError, match=r"There is no node named 'nope'\."):
        graph.node_by_name("nope")
    with pytest.raises(NodeNotFoundError, match=r"There is no node with id 'n42'\."):
        graph.node("n42")
    assert len(graph) == 3 and "n1" in graph


def test_clear_removes_everything_with_events(graph: GraphModel, events: Recorder) -> None:
    graph.clear()
    assert len(graph) == 0 and graph.edges == []
    removed = [call[1] for call in events.calls if call[0] == "node_removed"]
    assert removed == ["n1", "n2", "n3"]


def test_disconnected_listener_hears_nothing(graph: GraphModel) -> None:
    heard = []
    slot = graph.events.node_added.connect(heard.append)
    graph.add("ReLU")
    graph.events.node_added.disconnect(slot)
    graph.add("ReLU")
    assert heard == ["n4"]


def test_to_dict_with_a_selection_keeps_only_its_inner_edges(graph: GraphModel) -> None:
    part = graph.to_dict(["n1", "n2"])
    assert [n["id"] for n in part["nodes"]] == ["n1", "n2"]
    assert part["edges"] == [{"source": "n1", "target": "n2", "port": 0}]
    assert part["nodes"][0]["params"] == {
        "shape": [4],
        "dtype": "float32",
        "normalize": "standard",
        "normalize_per": "auto",
    }


def test_from_dict_rebuilds_an_equal_graph(graph: GraphModel) -> None:
    graph.move("n2", 260, -40)
    copy = GraphModel.from_dict(graph.to_dict())
    assert copy.to_dict() == graph.to_dict()
    assert copy.shapes() == graph.shapes()
    assert copy.add("ReLU") == "n4"  # ids continue after the loaded ones


def test_a_failing_listener_cannot_leave_a_stale_analysis(graph: GraphModel) -> None:
    graph.analyze()

    def broken_view(*_):
        raise RuntimeError("a view failed to redraw")

    graph.events.param_changed.connect(broken_view)
    with pytest.raises(RuntimeError):
        graph.set_param("n2", "out_features", 9)
    assert graph.shapes()["n3"] == (9,)


def test_reorder_changes_the_outputs_order_only_when_asked(graph: GraphModel, events: Recorder) -> None:
    with events.expect():
        graph.reorder(["n1", "n2", "n3"])
    with events.expect(("changed",)):
        graph.reorder(["n3", "n1", "n2"])
    assert list(graph.nodes) == ["n3", "n1", "n2"]
    with events.expect(), pytest.raises(ParamError, match="every node id of the graph exactly once"):
        graph.reorder(["n1", "n2"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"nodes": [{"id": "n1", "name": "x"}], "edges": []},
            r"A record in the graph data has no 'type' field\.",
        ),
        ({"nodes": []}, r"has no 'edges' field"),
        ({"nodes": [{"id": "n1", "type": "ReLU", "name": "r", "position": 5}], "edges": []}, r"malformed"),
        ({"nodes": "n1", "edges": []}, r"malformed"),
    ],
)
def test_from_dict_reports_malformed_records(data: dict, message: str) -> None:
    """Pasted data is not checked by the file schema; it must still fail politely."""
    with pytest.raises(FormatError, match=message):
        GraphModel.from_dict(data)


@pytest.mark.parametrize("port", ["0", 1.0, True, None])
def test_a_port_that_is_not_a_number_is_refused(graph: GraphModel, port) -> None:
    add = graph.add("Add", name="sum")
    if port is None:
        assert graph.connect("n2", add, port) == Edge("n2", add, 0)  # None: first free port
        return
    assert not can_connect(graph, "n2", add, port)
    with pytest.raises(PortError, match=rf"^Input {port!r} of Add 'sum' does not exist"):
        graph.connect("n2", add, port)


def test_a_name_must_be_text(graph: GraphModel) -> None:
    with pytest.raises(ParamError, match=r"A node's name must be text, not 42\."):
        graph.rename("n2", 42)
