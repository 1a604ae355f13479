"""The inspector of a Foreign node: what the import recorded, read-only, in the editor's own terms."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit

from nnstudio.gui.document import Document

from .helpers import chain

TARGET = "some_company.research.vision.layers.gates:SwishGate"


def test_a_foreign_modules_values_read_like_the_rest_of_the_editor(make_window) -> None:
    graph = chain("Linear", shape=(8,))
    linear = graph.node_by_name("linear1")
    graph.set_param(linear.id, "out_features", 16)
    foreign = graph.add("Foreign", name="head", target=TARGET, args=[16], in_shape=[16], out_shape=[16])
    graph.connect(linear.id, foreign)
    window = make_window(Document(graph))
    window.scene.select_nodes([foreign])
    inspector = window.inspector
    target = inspector.findChild(QLineEdit, "param_target")
    assert target.isReadOnly() and target.cursorPosition() == 0  # the path's beginning is what shows
    assert TARGET in target.toolTip()
    # measured shapes written as shapes are everywhere else, not as JSON lists
    assert inspector.findChild(QLineEdit, "param_in_shape").text() == "(16,)"
    assert inspector.findChild(QLineEdit, "param_out_shape").text() == "(16,)"
    # its code is not nnstudio's: no made-up count of its work
    assert "Multiply-adds per sample: not known (a foreign module)" in inspector.figures.text()
    window.scene.select_nodes([linear.id])
    assert "not known" not in inspector.figures.text()
