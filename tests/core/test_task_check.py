"""The Output and the Input are checked against the project's data set while editing,
with advice a learner can follow and a fix the editor can apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnstudio.core.graph import GraphModel
from nnstudio.core.tasks import BUILTIN_DATA, task_of
from nnstudio.core.validation import InsertLayer, SetParam
from nnstudio.resources import examples_dir


def _example(name: str) -> GraphModel:
    return GraphModel.load(Path(examples_dir()) / f"{name}.nnstudio")


def _bypass(graph: GraphModel, node_name: str) -> None:
    """Delete a single-input layer and wire its feeder straight to its consumer, as a user would."""
    node = graph.node_by_name(node_name)
    source = graph.inputs_of(node.id)[0].source
    target = graph.outputs_of(node.id)[0].target
    graph.remove(node.id)
    graph.connect(source, target)


def _apply(graph: GraphModel, fix) -> None:
    """What the editor's Fix button does, here without an undo stack."""
    if isinstance(fix, SetParam):
        graph.set_param(fix.node, fix.name, fix.value)
        return
    graph.disconnect(fix.source, fix.target, fix.port)
    new = graph.add(fix.layer, **dict(fix.params))
    graph.connect(fix.source, new)
    graph.connect(new, fix.target, fix.port)


def test_every_example_fits_its_own_task() -> None:
    for path in sorted(Path(examples_dir()).glob("*.nnstudio")):
        assert GraphModel.load(path).validate() == [], path.name


def test_a_cnn_without_its_flatten_is_caught_with_advice_and_a_fix() -> None:
    g = _example("digits_cnn")
    _bypass(g, "flatten")
    [diagnostic] = g.validate()
    assert diagnostic.is_error
    assert diagnostic.node == g.node_by_name("scores").id
    assert diagnostic.message == (
        "'scores' gives (32, 4, 10) per sample, but the digits task needs "
        "10 class scores: add a Flatten before 'fc1'."
    )
    fix = diagnostic.fix
    assert isinstance(fix, InsertLayer) and fix.layer == "Flatten"
    assert (fix.source, fix.target) == (g.node_by_name("pool").id, g.node_by_name("fc1").id)
    _apply(g, fix)
    assert g.validate() == []
    assert g.shapes()[g.node_by_name("scores").id] == (10,)


def test_a_wrong_class_count_names_the_layer_to_change() -> None:
    g = _example("digits_cnn")
    g.set_param(g.node_by_name("fc2").id, "out_features", 7)
    [diagnostic] = g.validate()
    assert "needs 10 class scores: give 'fc2' 10 outputs" in diagnostic.message
    assert diagnostic.fix == SetParam(
        "Set out_features of 'fc2' to 10", g.node_by_name("fc2").id, "out_features", 10
    )
    _apply(g, diagnostic.fix)
    assert g.validate() == []


def test_generated_sets_accept_any_class_count_in_their_range() -> None:
    g = _example("lenet5")  # shapes: 2 to 10 classes
    fc = g.node_by_name("scores").id
    last = g.inputs_of(fc)[0].source
    g.set_param(last, "out_features", 4)
    assert g.validate() == []
    g.set_param(last, "out_features", 12)
    [diagnostic] = g.validate()
    assert "2 to 10 class scores" in diagnostic.message
    assert diagnostic.fix.value == 10


def test_a_sequence_model_returning_every_step_is_told_to_return_the_last() -> None:
    g = _example("lstm_sequence")
    lstm = next(n for n in g.nodes.values() if n.type == "LSTM")
    g.set_param(lstm.id, "return_sequences", True)
    [diagnostic] = g.validate()
    assert "return_sequences" in diagnostic.message and f"'{lstm.name}'" in diagnostic.message
    _apply(g, diagnostic.fix)
    assert g.validate() == []


def test_an_input_of_the_wrong_size_for_the_data_is_caught() -> None:
    g = _example("mlp_circles")
    point = g.node_by_name("point").id
    g.set_param(point, "shape", [3])
    [diagnostic] = g.validate()
    assert diagnostic.node == point
    assert "circles data set has samples of shape (2,)" in diagnostic.message
    _apply(g, diagnostic.fix)
    assert g.validate() == []


def test_an_autoencoder_without_its_reshape_is_told_to_reshape() -> None:
    g = _example("autoencoder")
    reshape = next(n for n in g.nodes.values() if n.type == "Reshape")
    _bypass(g, reshape.name)
    [diagnostic] = g.validate()
    assert "add a Reshape to (1, 8, 8)" in diagnostic.message
    _apply(g, diagnostic.fix)
    assert g.validate() == []


def test_without_a_named_data_set_nothing_is_checked() -> None:
    g = _example("digits_cnn")
    g.training = {}
    _bypass(g, "flatten")
    g.events.changed.emit()  # training settings changed behind the graph's back
    assert g.validate() == []
    assert task_of({"dataset": "my_table.csv"}) is None
    assert task_of({"dataset": "digits", "loss": "mse"}) is None  # number targets: unknown shape


@pytest.mark.parametrize("name", sorted(BUILTIN_DATA))
def test_the_table_agrees_with_the_generators(name: str) -> None:
    generated = pytest.importorskip("nnstudio.training.generated")
    assert set(BUILTIN_DATA) == set(generated.BUILTIN)
    facts = BUILTIN_DATA[name]
    low, high = facts.classes
    shape = facts.sample_shape or {1: (20,), 2: (20, 1), 3: (1, 12, 12)}[facts.min_rank]
    x, y, _ = generated.BUILTIN[name](shape, low, 0)
    assert tuple(x.shape[1:]) == shape
    if facts.targets == "masks":  # one 0/1 target per pixel
        assert y.shape == (len(x), 1, *shape[1:]) and set(np.unique(y).tolist()) == {0.0, 1.0}
        return
    assert len(set(y.tolist())) == low
    if low != high:
        _, y, _ = generated.BUILTIN[name](shape, high, 0)
        assert len(set(y.tolist())) == high
        with pytest.raises(Exception, match=str(high)):
            generated.BUILTIN[name](shape, high + 1, 0)
