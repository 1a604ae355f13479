"""The diagnostics list: every problem in the graph; clicking one jumps to its node.

A problem the validator knows how to mend carries a fix; the panel offers it
as a button (and in the item's context menu) that applies it as one undoable edit.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.validation import Analysis, Diagnostic
from nnstudio.gui.document import Document
from nnstudio.gui.editor.undo import fix_command

NODE_ROLE = Qt.ItemDataRole.UserRole
DIAGNOSTIC_ROLE = Qt.ItemDataRole.UserRole + 1


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class DiagnosticsPanel(QWidget):
    """Errors first, then warnings; ``node_activated(id)`` when one is clicked."""

    node_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self._shown: tuple = ()
        self.summary = QLabel()
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.fix_button = QPushButton()
        self.fix_button.setToolTip("Apply the suggested fix (one step on the undo stack)")
        self.fix_button.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.list)
        layout.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.list.itemClicked.connect(self._on_item_clicked)
        self.list.itemActivated.connect(self._on_item_clicked)
        self.list.currentItemChanged.connect(self._update_fix_button)
        self.list.customContextMenuRequested.connect(self._on_context_menu)
        self.fix_button.clicked.connect(self._on_fix_clicked)

    def set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.analysis_changed.disconnect(self.update_from)
        self.document = document
        self._shown = ()
        document.analysis_changed.connect(self.update_from)
        self.update_from(document.analysis())

    def update_from(self, analysis: Analysis) -> None:
        graph = self.document.graph
        shown = (tuple(analysis.diagnostics), bool(graph.nodes))
        if shown == self._shown:
            return  # most edits change no diagnostic; skip rebuilding the list
        self._shown = shown
        self.list.clear()
        errors = [d for d in analysis.diagnostics if d.is_error]
        warnings = [d for d in analysis.diagnostics if not d.is_error]
        style = self.style()
        icons = {
            True: style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical),
            False: style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning),
        }
        for diagnostic in errors + warnings:
            # The core's messages name their node already ("Conv2d 'conv1': ...").
            item = QListWidgetItem(icons[diagnostic.is_error], diagnostic.message)
            item.setData(NODE_ROLE, diagnostic.node)
            item.setData(DIAGNOSTIC_ROLE, diagnostic)
            fix = f"\n\nFix (button below, or right-click): {diagnostic.fix.label}" if diagnostic.fix else ""
            item.setToolTip(diagnostic.message + fix)
            self.list.addItem(item)
        self._update_fix_button()
        if not graph.nodes:
            self.summary.setText(
                "The graph is empty: drag a layer from the palette, or press Tab on the canvas."
            )
        elif not analysis.diagnostics:
            self.summary.setText("No problems: the graph is ready to compile.")
        else:
            self.summary.setText(f"{_count(len(errors), 'error')}, {_count(len(warnings), 'warning')}.")

    # --- fixes -----------------------------------------------------------------------------

    def offered_fix(self) -> Diagnostic | None:
        """The problem the Fix button mends: the selected one if it has a fix, else the first."""
        current = self.list.currentItem()
        if current is not None and current.data(DIAGNOSTIC_ROLE).fix is not None:
            return current.data(DIAGNOSTIC_ROLE)
        for row in range(self.list.count()):
            diagnostic = self.list.item(row).data(DIAGNOSTIC_ROLE)
            if diagnostic.fix is not None:
                return diagnostic
        return None

    def apply_fix(self, diagnostic: Diagnostic) -> bool:
        if self.document is None or diagnostic.fix is None:
            return False
        return self.document.push(fix_command(self.document.graph, diagnostic.fix))

    def _update_fix_button(self, *_args: object) -> None:
        diagnostic = self.offered_fix()
        self.fix_button.setVisible(diagnostic is not None)
        if diagnostic is not None:
            self.fix_button.setText(f"Fix: {diagnostic.fix.label}")

    def _on_fix_clicked(self) -> None:
        diagnostic = self.offered_fix()
        if diagnostic is not None:
            self.apply_fix(diagnostic)

    def _on_context_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        diagnostic = item.data(DIAGNOSTIC_ROLE) if item is not None else None
        if diagnostic is None or diagnostic.fix is None:
            return
        menu = QMenu(self)
        menu.addAction(f"Fix: {diagnostic.fix.label}", lambda: self.apply_fix(diagnostic))
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(NODE_ROLE)
        if node_id:
            self.node_activated.emit(node_id)
