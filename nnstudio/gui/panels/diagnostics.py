"""The diagnostics list: every problem in the graph; clicking one jumps to its node."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QStyle, QVBoxLayout, QWidget

from nnstudio.core.validation import Analysis
from nnstudio.gui.document import Document

NODE_ROLE = Qt.ItemDataRole.UserRole


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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.list)
        self.list.itemClicked.connect(self._on_item_clicked)
        self.list.itemActivated.connect(self._on_item_clicked)

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
        icons = {True: style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical),
                 False: style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)}
        for diagnostic in errors + warnings:
            # The core's messages name their node already ("Conv2d 'conv1': ...").
            item = QListWidgetItem(icons[diagnostic.is_error], diagnostic.message)
            item.setData(NODE_ROLE, diagnostic.node)
            item.setToolTip(diagnostic.message)
            self.list.addItem(item)
        if not graph.nodes:
            self.summary.setText("The graph is empty: drag a layer from the palette, or press Tab on the canvas.")
        elif not analysis.diagnostics:
            self.summary.setText("No problems: the graph is ready to compile.")
        else:
            self.summary.setText(f"{len(errors)} error(s), {len(warnings)} warning(s).")

    def _on_item_clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(NODE_ROLE)
        if node_id:
            self.node_activated.emit(node_id)
