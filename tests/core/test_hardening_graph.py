"""Graph hardening: loading is linear in the number of nodes, graphs are
documents compared by identity, and a loop in a file is still named."""

from __future__ import annotations

import time

import pytest

from nnstudio.core.errors import CycleError, NameTakenError
from nnstudio.core.graph import GraphModel


def _chain_records(count: int) -> dict:
    nodes = [{"id": "n1", "type": "Input", "name": "in", "params": {"shape": [8]}}]
    for i in range(2, count):
        nodes.append({"id": f"n{i}", "type": "ReLU", "name": f"relu{i}", "params": {}})
    nodes.append({"id": f"n{count}", "type": "Output", "name": "out", "params": {}})
    edges = [{"source": f"n{i}", "target": f"n{i + 1}", "port": 0} for i in range(1, count)]
    return {"name": "chain", "nodes": nodes, "edges": edges}


def test_a_long_chain_loads_in_linear_time() -> None:
    # Checking each name against every node made 25,000 nodes take about half a
    # minute; with a name index it takes about a second (generous margin for CI).
    records = _chain_records(25_000)
    start = time.perf_counter()
    graph = GraphModel.from_dict(records)
    seconds = time.perf_counter() - start
    assert len(graph) == 25_000 and len(graph.edges) == 24_999
    assert seconds < 12, f"loading 25,000 nodes took {seconds:.1f} s"
    assert graph.validate() == []


def test_names_stay_unique_through_renames_and_removals() -> None:
    graph = GraphModel()
    a = graph.add("ReLU", name="act")
    with pytest.raises(NameTakenError):
        graph.add("ReLU", name="act")
    graph.rename(a, "first")
    b = graph.add("ReLU", name="act")  # the old name is free again
    with pytest.raises(NameTakenError):
        graph.rename(b, "first")
    graph.remove(a)
    graph.rename(b, "first")
    assert graph.node_by_name("first").id == b


def test_default_names_take_the_lowest_free_number() -> None:
    graph = GraphModel()
    ids = [graph.add("ReLU") for _ in range(3)]
    assert [graph.nodes[i].name for i in ids] == ["relu1", "relu2", "relu3"]
    graph.remove(ids[0])
    assert graph.nodes[graph.add("ReLU")].name == "relu1"
    assert graph.nodes[graph.add("ReLU")].name == "relu4"


def test_two_graphs_with_the_same_layers_are_two_documents() -> None:
    first, second = GraphModel(), GraphModel()
    first.add("Input", shape=[4])
    second.add("Linear", out_features=3)
    assert first != second
    assert GraphModel() != GraphModel()
    assert len({first, second}) == 2  # usable as keys (windows, caches)


def test_a_loop_in_the_records_is_refused_naming_it() -> None:
    records = _chain_records(4)
    records["edges"][0] = {"source": "n1", "target": "n2", "port": 0}
    records["nodes"][1]["type"] = "Add"
    records["edges"].append({"source": "n3", "target": "n2", "port": 1})
    with pytest.raises(CycleError, match=r"would make a loop \('relu2' -> 'relu3' -> 'relu2'\)"):
        GraphModel.from_dict(records)
