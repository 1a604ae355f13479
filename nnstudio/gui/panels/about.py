"""About this network: the project's description, where a learner sees it while working.

The bundled examples explain what they show and what to try; the gallery was the
only place that said so. Here the text sits beside the canvas, and for a user's
own project it is a note they write: each finished edit is one undo step and is
saved with the project.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFocusEvent
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from nnstudio.gui.document import Document
from nnstudio.gui.editor.undo import SetDescriptionCommand

PLACEHOLDER = (
    "Describe this network: what it is for, what data it expects, what to try. "
    "The note is saved with the project."
)
COMMIT_AFTER_MS = 1500  # a pause in typing ends one edit, so undo takes back a phrase, not a letter


class _NoteEdit(QPlainTextEdit):
    """A text box that says when it loses the focus (the end of an edit)."""

    def __init__(self, on_done, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_done = on_done

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self._on_done()


class AboutPanel(QWidget):
    """The document's name and description; edits become SetDescriptionCommands."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.text = _NoteEdit(self.commit)
        self.text.setPlaceholderText(PLACEHOLDER)
        self.text.setTabChangesFocus(True)
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(COMMIT_AFTER_MS)
        self._pause.timeout.connect(self.commit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        self.text.textChanged.connect(self._on_text_changed)

    def set_document(self, document: Document) -> None:
        if self.document is not None:
            self.commit()
            self.document.undo_stack.indexChanged.disconnect(self._show)
            self.document.locked_changed.disconnect(self._on_locked_changed)
            self.document.path_changed.disconnect(self._show)
        self.document = document
        document.undo_stack.indexChanged.connect(self._show)  # an undo brings the old text back
        document.locked_changed.connect(self._on_locked_changed)
        document.path_changed.connect(self._show)
        self._on_locked_changed(document.locked)
        self._show()

    def commit(self) -> None:
        """Record what was typed as one undoable edit (nothing when it is unchanged)."""
        self._pause.stop()
        document = self.document
        if document is None:
            return
        text = self.text.toPlainText()
        if text != document.graph.description:
            document.push(SetDescriptionCommand(document.graph, text))

    def _show(self, *_args: object) -> None:
        graph = self.document.graph
        self.title.setText(f"About this network: {graph.name}")
        if self.text.toPlainText() != graph.description:
            self.text.blockSignals(True)
            self.text.setPlainText(graph.description)
            self.text.blockSignals(False)

    def _on_text_changed(self) -> None:
        self._pause.start()

    def _on_locked_changed(self, locked: bool) -> None:
        self.text.setReadOnly(locked)
