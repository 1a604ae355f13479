"""The Problems panel catches a network that does not fit its data set, and mends it in one undoable click."""

from __future__ import annotations

from nnstudio.api import Graph
from nnstudio.gui.document import Document
from nnstudio.gui.training.undo import SetTrainingSettingsCommand
from nnstudio.resources import examples_dir

from .helpers import state


def _cnn_without_flatten() -> Graph:
    graph = Graph.load(examples_dir() / "digits_cnn.nnstudio")
    flatten = graph.node_by_name("flatten").id
    pool, fc1 = graph.inputs_of(flatten)[0].source, graph.outputs_of(flatten)[0].target
    graph.remove(flatten)
    graph.connect(pool, fc1)
    return graph


def test_the_fix_button_inserts_the_missing_flatten_as_one_undo_step(make_window, qtbot):
    graph = _cnn_without_flatten()
    window = make_window(Document(graph))
    panel = window.diagnostics
    before = state(graph)
    assert "add a Flatten before 'fc1'" in panel.list.item(0).text()
    assert panel.fix_button.isVisible()
    assert panel.fix_button.text() == "Fix: Insert a Flatten before 'fc1'"

    panel.fix_button.click()
    assert graph.validate() == []
    flatten = next(n for n in graph.nodes.values() if n.type == "Flatten")
    assert [e.source for e in graph.inputs_of(flatten.id)] == [graph.node_by_name("pool").id]
    assert panel.summary.text().startswith("No problems")
    assert not panel.fix_button.isVisible()
    assert window.document.undo_stack.undoText() == "Insert a Flatten before 'fc1'"

    window.document.undo_stack.undo()  # one step takes the whole fix back
    assert state(graph) == before
    assert panel.fix_button.isVisible()


def test_changing_the_data_set_revalidates_against_the_new_task(make_window, qtbot):
    graph = Graph.load(examples_dir() / "mlp_circles.nnstudio")  # 2 class scores
    window = make_window(Document(graph))
    assert window.diagnostics.summary.text().startswith("No problems")
    window.document.push(SetTrainingSettingsCommand(graph, {**graph.training, "dataset": "digits"}))
    qtbot.waitUntil(lambda: window.diagnostics.list.count() > 0, timeout=3000)
    assert "digits data set has samples of shape (1, 8, 8)" in window.diagnostics.list.item(0).text()
    window.document.undo_stack.undo()
    qtbot.waitUntil(lambda: window.diagnostics.list.count() == 0, timeout=3000)
