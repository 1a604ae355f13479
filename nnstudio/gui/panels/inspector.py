"""The inspector: name, description, parameters and figures of the selected layer.

Edits go to the document as undo commands; the widgets then follow the
model's events, so an undo shows up here too.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.blocks import ENABLED, PORT_SPECS
from nnstudio.core.layers import format_shape
from nnstudio.core.validation import Analysis
from nnstudio.gui import theme
from nnstudio.gui.document import Document
from nnstudio.gui.experiments.marks import with_sweep_mark
from nnstudio.gui.panels.param_widgets import make_editor
from nnstudio.gui.text import short_count
from nnstudio.training.run_folder import describe_preprocessing

PLACEHOLDER = "Select a layer to see and change its settings."


class InspectorPanel(QScrollArea):
    """Shows the one selected node; shows a count when several are selected."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.document: Document | None = None
        self.node_id: str | None = None
        self.editors: dict[str, QWidget] = {}
        self.enabled_edit: QLineEdit | None = None  # "Enabled when", for a node inside a block
        self._own_edit = False

        body = QWidget()
        self.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel(PLACEHOLDER)
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title.setFont(font)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setTextFormat(Qt.TextFormat.PlainText)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("name")
        self.name_edit.editingFinished.connect(self._on_name_edited)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.figures = QLabel()
        self.figures.setWordWrap(True)
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.preprocessing = QLabel()  # an Input's statistics from the latest run
        self.preprocessing.setWordWrap(True)
        self.preprocessing.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.form.addRow("Name", self.name_edit)
        layout.addWidget(self.title)
        layout.addWidget(self.description)
        layout.addLayout(self.form)
        layout.addWidget(self.figures)
        layout.addWidget(self.preprocessing)
        layout.addWidget(self.problems)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.show_nodes([])

    # --- binding -------------------------------------------------------------------------------

    def set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.analysis_changed.disconnect(self._on_analysis_changed)
            self.document.locked_changed.disconnect(self._on_locked_changed)
            self.document.refused.disconnect(self._on_refused)
            self.document.undo_stack.indexChanged.disconnect(self._update_preprocessing)
            events = self.document.graph.events
            events.param_changed.disconnect(self._on_param_changed)
            events.node_renamed.disconnect(self._on_node_renamed)
        self.document = document
        document.analysis_changed.connect(self._on_analysis_changed)
        document.locked_changed.connect(self._on_locked_changed)
        document.refused.connect(self._on_refused)
        document.undo_stack.indexChanged.connect(self._update_preprocessing)  # a run was recorded
        document.graph.events.param_changed.connect(self._on_param_changed)
        document.graph.events.node_renamed.connect(self._on_node_renamed)
        self.show_nodes([])

    def show_nodes(self, node_ids: list[str]) -> None:
        """Show one node's settings (or a note for zero or several)."""
        self._clear_form()
        self.message.clear()
        graph = self.document.graph if self.document is not None else None
        if graph is None or len(node_ids) != 1 or node_ids[0] not in graph.nodes:
            self.node_id = None
            self.title.setText(PLACEHOLDER if len(node_ids) <= 1 else f"{len(node_ids)} layers selected.")
            for widget in (self.description, self.name_edit, self.figures, self.problems, self.preprocessing):
                widget.hide()
            self.form.labelForField(self.name_edit).hide()
            return
        node = graph.nodes[node_ids[0]]
        self.node_id = node.id
        spec = node.spec
        self.title.setText(f"{spec.type}  ·  {spec.category}")
        self.description.setText(spec.description)
        self.name_edit.setText(node.name)
        for widget in (self.description, self.name_edit, self.figures, self.problems):
            widget.show()
        self.form.labelForField(self.name_edit).show()
        if spec.type == "Foreign":  # kept whole from an import: shown, never edited
            self._show_foreign(node)
            self._on_analysis_changed(self.document.analysis())
            return
        for param in spec.params:
            editor = make_editor(param, expressions=graph.owner is not None)  # '$' refs inside blocks
            editor.set_value(node.params.get(param.name, param.default))
            editor.edited.connect(lambda value, name=param.name: self._on_param_edited(name, value))
            editor.invalid.connect(self._show_message)
            editor.valid.connect(self.message.clear)  # the text reads again: the complaint is stale
            label = QLabel(param.name)
            label.setToolTip(param.doc)
            self.form.addRow(label, with_sweep_mark(self.document, node, param, editor))
            self.editors[param.name] = editor
        if not spec.params:
            self.form.addRow(QLabel("This layer has no settings; its size follows its input."))
        if graph.owner is not None and spec.type not in PORT_SPECS:
            self._add_enabled_row(node.enabled)
        self._on_locked_changed(self.document.locked)
        self._on_analysis_changed(self.document.analysis())

    def _show_foreign(self, node: Any) -> None:
        """A foreign module's import path and recorded values, read-only, and why."""
        for param in node.spec.params:
            value = node.params.get(param.name, param.default)
            text = json.dumps(list(value)) if isinstance(value, list | tuple) else str(value)
            if param.name in ("in_shape", "out_shape"):  # written as shapes are everywhere else
                text = format_shape(tuple(value))
            field = QLineEdit(text)
            field.setReadOnly(True)
            field.setCursorPosition(0)  # a long import path shows its beginning
            field.setObjectName(f"param_{param.name}")
            field.setToolTip(f"{text}\n{param.doc}")
            self.form.addRow(QLabel(param.name), field)
        note = QLabel(
            f"A foreign module: the exported code imports {node.params['target'].replace(':', '.')} and "
            "builds it with these arguments. nnstudio cannot edit it; its shapes are the ones measured at import."
        )
        note.setObjectName("foreign_note")
        note.setWordWrap(True)
        self.form.addRow(note)

    def _add_enabled_row(self, enabled: bool | str) -> None:
        """Inside a block: when the node is built ("Enabled when" true, false or a condition)."""
        field = QLineEdit()
        field.setObjectName("enabled_when")
        field.setPlaceholderText("true, false, or a condition like $norm_first")
        field.setToolTip(
            "When this layer is built, for each instance: true, false, or a condition over the "
            "block's parameters ($norm_first, not $norm_first, $depth > 2). Where it is false the "
            "layer passes its input through, like a muted node."
        )
        field.editingFinished.connect(self._on_enabled_edited)
        label = QLabel("Enabled when")
        label.setToolTip(field.toolTip())
        self.form.addRow(label, field)
        self.enabled_edit = field
        self._show_enabled(enabled)

    def _show_enabled(self, enabled: bool | str) -> None:
        if self.enabled_edit is not None:
            self.enabled_edit.setText(str(enabled).lower() if isinstance(enabled, bool) else enabled)

    def _clear_form(self) -> None:
        while self.form.rowCount() > 1:
            self.form.removeRow(1)
        self.editors = {}
        self.enabled_edit = None

    # --- user -> document ------------------------------------------------------------------------

    def _on_param_edited(self, name: str, value: Any) -> None:
        if self.document is None or self.node_id is None:
            return
        self.message.clear()
        self._own_edit = True
        try:
            ok = self.document.set_param(self.node_id, name, value)
        finally:
            self._own_edit = False
        if not ok and self.node_id in self.document.graph.nodes:  # show the model's value again
            self.editors[name].set_value(self.document.graph.nodes[self.node_id].params[name])

    def _on_enabled_edited(self) -> None:
        if self.document is None or self.node_id is None or self.enabled_edit is None:
            return
        if self.node_id not in self.document.graph.nodes:
            return
        self.message.clear()
        self._own_edit = True
        try:  # an unchanged value changes nothing (the document compares what it would store)
            ok = self.document.set_enabled(self.node_id, self.enabled_edit.text())
        finally:
            self._own_edit = False
        if not ok and self.node_id in self.document.graph.nodes:  # show the model's value again
            self._show_enabled(self.document.graph.nodes[self.node_id].enabled)

    def _on_name_edited(self) -> None:
        if self.document is None or self.node_id is None:
            return
        node = self.document.graph.nodes.get(self.node_id)
        if node is None or self.name_edit.text().strip() == node.name:
            return
        self._own_edit = True
        try:
            ok = self.document.rename(self.node_id, self.name_edit.text())
        finally:
            self._own_edit = False
        if not ok:
            self.name_edit.setText(node.name)

    def _on_refused(self, message: str) -> None:
        if self._own_edit:
            self._show_message(message)

    def _show_message(self, message: str) -> None:
        self.message.setText(message)
        self.message.setStyleSheet(f"color: {theme.current().error};")

    # --- document -> widgets ----------------------------------------------------------------------

    def _on_param_changed(self, node_id: str, name: str, value: Any) -> None:
        if node_id == self.node_id and name == ENABLED:
            self._show_enabled(value)
        elif node_id == self.node_id and name in self.editors:
            self.editors[name].set_value(value)

    def _on_node_renamed(self, node_id: str, name: str) -> None:
        if node_id == self.node_id:
            self.name_edit.setText(name)

    def _on_locked_changed(self, locked: bool) -> None:
        self.name_edit.setReadOnly(locked)
        if self.enabled_edit is not None:
            self.enabled_edit.setReadOnly(locked)
        for editor in self.editors.values():
            editor.setEnabled(not locked)

    def _on_analysis_changed(self, analysis: Analysis) -> None:
        if self.node_id is None or self.document is None:
            return
        if self.node_id not in self.document.graph.nodes:
            self.show_nodes([])
            return
        fig = analysis.figures.get(self.node_id)
        shape = format_shape(analysis.shapes.get(self.node_id))
        if self.node_id in analysis.bypassed:
            self.figures.setText(
                f"Switched off for the instance this block was opened from: it passes its input "
                f"{shape} through and has no parameters."
            )
        elif fig is not None:
            foreign = self.document.graph.nodes[self.node_id].type == "Foreign"  # its code is not ours
            macs = "not known (a foreign module)" if foreign else short_count(fig.macs)
            self.figures.setText(
                f"Output shape: {shape}\nParameters: {fig.parameters:,}\nMultiply-adds per sample: {macs}"
            )
        else:
            self.figures.setText(f"Output shape: {shape}")
        self._update_preprocessing()
        problems = analysis.for_node(self.node_id)
        colours = theme.current()
        self.problems.setText("\n".join(d.message for d in problems))
        colour = colours.error if any(d.is_error for d in problems) else colours.warning
        self.problems.setStyleSheet(f"color: {colour};")
        self.problems.setVisible(bool(problems))

    def _update_preprocessing(self, *_: Any) -> None:
        graph = self.document.graph if self.document is not None else None
        statistics = describe_preprocessing(graph, self.node_id) if graph is not None and self.node_id else ""
        self.preprocessing.setText(statistics)
        self.preprocessing.setVisible(bool(statistics))
