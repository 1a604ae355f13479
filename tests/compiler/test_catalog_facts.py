"""The catalog decides: a layer that takes token ids is one LayerSpec, nothing else.

A new spec registered with ``takes_token_ids=True`` (the way a layer type is added:
its entry in the catalog) is accepted after an int64 Input by validation, offered by the
editor's suggestions, kept out of blocks, and compiled with example ids below its limit,
with no other code naming it.
"""

from __future__ import annotations

import pytest
import torch

from nnstudio.api import Graph
from nnstudio.compiler.build import compile_code
from nnstudio.compiler.codegen import generate
from nnstudio.core import blocks, layers
from nnstudio.core.errors import GraphError
from nnstudio.core.layers import LayerSpec, Param
from nnstudio.gui.editor.suggestions import layers_accepting

TOKEN_TABLE = LayerSpec(
    type="TokenTable",
    category="Recurrent",
    description="A learned vector per token id (a test layer).",
    params=(
        Param("vocab", "int", 50, 1, 1000, doc="Distinct token ids."),
        Param("width", "int", 4, 1, 64, doc="Length of each vector."),
    ),
    infer=lambda p, s: (*s[0], p["width"]),
    module="nn.Embedding({vocab}, {width})",
    forward="{out} = self.{attr}({x})",
    count_params=lambda p, s: p["vocab"] * p["width"],
    takes_token_ids=True,
    id_limit_param="vocab",
)


@pytest.fixture
def token_table(monkeypatch) -> LayerSpec:
    monkeypatch.setitem(layers._SPECS, TOKEN_TABLE.type, TOKEN_TABLE)  # the read-only CATALOG's dict
    return TOKEN_TABLE


def _token_graph(dtype: str = "int64") -> tuple[Graph, str, str]:
    graph = Graph(name="Tokens")
    tokens = graph.add("Input", name="tokens", shape=[6], dtype=dtype)
    table = graph.add("TokenTable", name="table", vocab=7)
    tail = table
    for type_name, params in (("Flatten", {}), ("Linear", {"out_features": 3})):
        node = graph.add(type_name, **params)
        graph.connect(tail, node)
        tail = node
    graph.connect(tokens, table)
    graph.connect(tail, graph.add("Output"))
    return graph, tokens, table


def test_a_new_layer_that_takes_token_ids_is_accepted_after_an_int64_input(token_table) -> None:
    graph, _, _ = _token_graph()
    assert graph.validate() == []


def test_the_new_layer_refuses_float_inputs_and_other_layers_still_refuse_ids(token_table) -> None:
    graph, _, _ = _token_graph(dtype="float32")
    assert [d.message for d in graph.validate() if d.is_error] == [
        "TokenTable 'table' looks up token ids; connect it directly to an Input whose dtype is int64."
    ]
    ids = graph.add("Input", name="ids", shape=[6], dtype="int64")
    fc = graph.add("Linear", name="fc")
    graph.connect(ids, fc)
    assert any("Linear 'fc' receives token ids" in d.message for d in graph.validate())


def test_suggestions_after_an_int64_input_offer_the_new_layer(token_table) -> None:
    graph = Graph(name="Tokens")
    tokens = graph.add("Input", name="tokens", shape=[6], dtype="int64")
    offered = layers_accepting(graph, tokens)
    assert "TokenTable" in offered and "Embedding" in offered
    assert "Linear" not in offered
    floats = graph.add("Input", name="floats", shape=[6])
    assert "TokenTable" not in layers_accepting(graph, floats)


def test_the_compiled_model_draws_example_ids_below_the_layers_limit(token_table) -> None:
    graph, _, _ = _token_graph()
    code = generate(graph)
    assert "torch.randint(0, 7, (batch_size, 6))" in code.src
    model = compile_code(code)
    ids = torch.tensor([[0, 1, 2, 3, 4, 6]])
    assert model(ids).shape == (1, 3)


def test_a_layer_that_reads_ids_from_the_input_stays_out_of_a_block(token_table) -> None:
    graph, _, table = _token_graph()
    with pytest.raises(GraphError, match="TokenTable 'table' reads token ids straight from an Input"):
        blocks.group(graph, [table], name="Lookup")
