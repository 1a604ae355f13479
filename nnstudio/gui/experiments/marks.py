"""Marking a parameter *sweep* in the inspector: a small button beside its editor.

The button is checked while the parameter is in the project's search space; a
click opens a one-line dialog (``8..64``, ``0.0001..0.1:log``, ``relu,gelu``) that
is checked against the graph before it is accepted. Changes are undo commands.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.graph import Node
from nnstudio.core.layers import Param
from nnstudio.experiments import space
from nnstudio.experiments.errors import SpaceError
from nnstudio.gui import theme
from nnstudio.gui.experiments.undo import SetSweepCommand


def with_sweep_mark(document: Any, node: Node, param: Param, editor: QWidget) -> QWidget:
    """``editor`` with a sweep button beside it; ``editor`` alone for a shape (not sweepable)."""
    if param.kind == "shape" or document is None:
        return editor
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(4)
    layout.addWidget(editor, 1)
    layout.addWidget(SweepMark(document, node.id, param, row))
    return row


class SweepMark(QToolButton):
    def __init__(self, document: Any, node_id: str, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.node_id = node_id
        self.param = param
        self.setObjectName(f"sweep_{param.name}")
        self.setText("⇄")
        self.setCheckable(True)
        self.setAutoRaise(True)
        self.clicked.connect(self.edit)
        document.undo_stack.indexChanged.connect(self.update_state)
        document.locked_changed.connect(self._on_locked_changed)  # a method: Qt drops it with the widget
        self.setEnabled(not document.locked)
        self.update_state()

    def _on_locked_changed(self, locked: bool) -> None:
        self.setEnabled(not locked)

    @property
    def target(self) -> str:
        return f"{self.document.graph.node(self.node_id).name}.{self.param.name}"

    def dimension(self) -> space.Dimension | None:
        if self.node_id not in self.document.graph.nodes:
            return None
        target = self.target
        return next((d for d in space.from_section(self.document.graph.sweep) if d.target == target), None)

    def update_state(self, *_: Any) -> None:
        d = self.dimension()
        self.setChecked(d is not None)
        self.setToolTip(
            f"Swept: {d.describe()} (click to change)"
            if d is not None
            else f"Sweep {self.param.name}: try a range or a list of values in the Experiments panel."
        )

    def edit(self) -> None:
        dialog = SweepDialog(self.document.graph, self.target, self.dimension(), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.set_dimension(dialog.result_dimension)
        self.update_state()

    def set_dimension(self, dimension: space.Dimension | None) -> bool:
        """Put ``dimension`` in the search space for this parameter (None: take it out)."""
        target = self.target
        current = space.from_section(self.document.graph.sweep)
        if dimension is not None:
            dims = space.merge(current, [dimension])
        else:
            dims = [d for d in current if d.target != target]
        text = f"Sweep {target}" if dimension is not None else f"Stop sweeping {target}"
        return self.document.push(SetSweepCommand(self.document.graph, space.to_section(dims), text))


class SweepDialog(QDialog):
    """One line: a range or choices for ``target``; checked against the graph on OK."""

    def __init__(
        self, graph: Any, target: str, current: space.Dimension | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sweep {target}")
        self.graph = graph
        self.target = target
        self.result_dimension: space.Dimension | None = current
        self.edit = QLineEdit(current.describe().split("=", 1)[1] if current else "")
        self.edit.setPlaceholderText("8..64   or   0.0001..0.1:log   or   relu,gelu")
        self.message = QLabel("A range LOW..HIGH (add :log for a log scale) or values separated by commas.")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.remove = buttons.addButton("Don't Sweep", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.remove.setEnabled(current is not None)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.remove.clicked.connect(self._remove)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Values to try for {target}:"))
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def accept(self) -> None:
        try:
            dimension = space.parse_param(f"{self.target}={self.edit.text().strip()}")
            space.resolve([dimension], self.graph)
        except SpaceError as exc:
            self.message.setText(str(exc))
            self.message.setStyleSheet(f"color: {theme.current().error};")
            return
        self.result_dimension = dimension
        super().accept()

    def _remove(self) -> None:
        self.result_dimension = None
        super().accept()
