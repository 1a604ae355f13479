"""Carrying trained weights over an edit: unchanged layers keep them, changed ones start fresh."""

from __future__ import annotations

import torch

from nnstudio.compiler.codegen import compile_graph
from nnstudio.training.carry_over import carry_over, snapshot

from .conftest import mlp


def _trained(graph):
    torch.manual_seed(1)
    model = compile_graph(graph)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # unmistakably different from any fresh initialisation
    return model


def _weights_of(model, graph, name):
    attr = model.nnstudio_code.attr_of[graph.node_by_name(name).id]
    return {k: v.clone() for k, v in getattr(model, attr).state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_an_unchanged_graph_keeps_every_layer():
    graph = mlp()
    trained = _trained(graph)
    kept = snapshot(graph, trained)
    model = compile_graph(graph)
    result = carry_over(kept, graph, model)
    assert result.everything_kept
    assert [graph.nodes[n].name for n in result.kept] == ["fc1", "fc2"]
    x = torch.randn(5, 2)
    assert torch.equal(model(x), trained(x))
    assert result.describe() == "Kept the trained weights of all 2 layers: fc1, fc2."


def test_a_changed_layer_starts_fresh_and_its_neighbours_keep_theirs():
    graph = mlp(hidden=16)
    trained = _trained(graph)
    kept = snapshot(graph, trained)
    fc1_before = _weights_of(trained, graph, "fc1")

    # Widening fc1 changes its parameters and fc2's input shape: both start fresh.
    graph.set_param(graph.node_by_name("fc1").id, "out_features", 32)
    model = compile_graph(graph)
    result = carry_over(kept, graph, model)
    assert result.kept == ()
    fc1, fc2 = graph.node_by_name("fc1").id, graph.node_by_name("fc2").id
    assert result.fresh == {fc1: "out_features changed", fc2: "input shape changed from (16,) to (32,)"}
    assert not _same(_weights_of(model, graph, "fc1"), fc1_before)
    assert (
        "Starting fresh: fc1 (out_features changed), fc2 (input shape changed from (16,) to (32,))."
        in result.describe()
    )

    # Changing only the activation keeps both Linear layers.
    graph2 = mlp(hidden=16)
    trained2 = _trained(graph2)
    kept2 = snapshot(graph2, trained2)
    act = graph2.node_by_name("act")
    graph2.remove(act.id)
    tanh = graph2.add("Tanh", name="act")
    graph2.connect(graph2.node_by_name("fc1").id, tanh)
    graph2.connect(tanh, graph2.node_by_name("fc2").id)
    model2 = compile_graph(graph2)
    result2 = carry_over(kept2, graph2, model2)
    assert result2.everything_kept
    assert _same(_weights_of(model2, graph2, "fc2"), _weights_of(trained2, graph2, "fc2"))


def test_weights_follow_the_node_id_through_a_rename_and_new_layers_start_fresh():
    graph = mlp()
    trained = _trained(graph)
    kept = snapshot(graph, trained)
    fc1 = graph.node_by_name("fc1").id
    graph.rename(fc1, "encoder")
    # A new layer between the activation and fc2 with the same width keeps fc2's input shape.
    act, fc2 = graph.node_by_name("act").id, graph.node_by_name("fc2").id
    graph.disconnect(act, fc2, 0)
    extra = graph.add("Linear", name="extra", out_features=16)
    graph.connect(act, extra)
    graph.connect(extra, fc2)
    model = compile_graph(graph)
    result = carry_over(kept, graph, model)
    assert set(result.kept) == {fc1, fc2}
    assert result.fresh == {extra: "new layer"}
    assert _same(_weights_of(model, graph, "encoder"), _weights_of(trained, graph, "encoder"))
    assert "encoder" in result.describe() and "extra (new layer)" in result.describe()


def test_a_layer_replaced_under_the_same_id_by_another_type_starts_fresh():
    graph = mlp()
    kept = snapshot(graph, _trained(graph))
    act, fc2 = graph.node_by_name("act").id, graph.node_by_name("fc2").id
    graph.remove(fc2)  # a LayerNorm takes fc2's id; the Output is fed from it
    graph.add("LayerNorm", name="norm", node_id=fc2)
    graph.connect(act, fc2)
    graph.connect(fc2, graph.node_by_name("scores").id)
    graph.set_param(graph.node_by_name("fc1").id, "out_features", 2)  # two classes out
    model = compile_graph(graph)
    result = carry_over(kept, graph, model)
    assert result.fresh[fc2] == "type changed from Linear to LayerNorm"
    assert graph.node_by_name("fc1").id in result.fresh
    assert result.describe().startswith("No layer kept its trained weights.")


def test_a_snapshot_is_a_copy_on_the_cpu():
    graph = mlp()
    trained = _trained(graph)
    kept = snapshot(graph, trained)
    fc1 = graph.node_by_name("fc1").id
    before = {k: v.clone() for k, v in kept.weights[fc1].items()}
    with torch.no_grad():
        for p in trained.parameters():
            p.zero_()  # training on after the snapshot must not change it
    assert _same(dict(kept.weights[fc1]), before)
    assert all(v.device.type == "cpu" for v in kept.weights[fc1].values())
    # The ReLU has no weights; the Input keeps its fitted statistics (buffers) for a Continue.
    assert set(kept.weights) == {graph.node_by_name("point").id, fc1, graph.node_by_name("fc2").id}
