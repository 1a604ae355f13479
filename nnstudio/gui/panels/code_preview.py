"""The code preview: the PyTorch source that export writes, following edits live.

The compiler is imported only when the preview is first shown, so it (and
anything it loads) never slows the editor's start. A graph that cannot be
compiled yet, or a missing compiler, gets a sentence instead of code.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from nnstudio.core.errors import GraphError
from nnstudio.gui import theme
from nnstudio.gui.document import Document
from nnstudio.gui.panels.highlighter import PythonHighlighter

DELAY_MS = 250


def generate_source(graph) -> str:
    """The compiler's source for ``graph``; raises GraphError or ImportError."""
    from nnstudio.compiler.codegen import generate

    return generate(graph).src


class CodePreviewPanel(QWidget):
    """Read-only, highlighted source; regenerated shortly after each edit while visible."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the generated code to the clipboard.")
        self.copy_button.clicked.connect(self.copy_code)
        self.editor = QPlainTextEdit()
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(font)
        self.highlighter = PythonHighlighter(self.editor.document())
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.editor)
        self._stale = True
        self._timer = QTimer(self, singleShot=True, interval=DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        theme.manager().changed.connect(self._on_theme_changed)

    def set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.analysis_changed.disconnect(self._on_analysis_changed)
        self.document = document
        document.analysis_changed.connect(self._on_analysis_changed)
        self._stale = True
        if self.isVisible():
            self._timer.start()

    def _on_analysis_changed(self, _analysis: object) -> None:
        self._stale = True
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._timer.start()

    def _on_theme_changed(self, new_theme) -> None:
        self.highlighter.set_theme(new_theme.name)

    def refresh(self) -> None:
        """Regenerate now (the timer calls this; tests may too)."""
        if self.document is None:
            return
        self._stale = False
        try:
            source = generate_source(self.document.graph)
        except ImportError:
            self._show_problem(
                "The code generator is not available in this installation, so there is no code to preview."
            )
            return
        except GraphError as exc:
            self._show_problem(f"No code yet: {exc}")
            return
        except Exception as exc:  # a bug in the generator must not take the editor down
            self._show_problem(f"The code generator failed ({type(exc).__name__}: {exc}).")
            return
        self.status.setStyleSheet("")
        self.status.setText("This is the model.py that File › Export writes.")
        if source != self.editor.toPlainText():
            scroll = self.editor.verticalScrollBar().value()
            self.editor.setPlainText(source)
            self.editor.verticalScrollBar().setValue(scroll)
        self.copy_button.setEnabled(True)

    def _show_problem(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet(f"color: {theme.current().warning};")
        self.editor.setPlainText("")
        self.copy_button.setEnabled(False)

    def code(self) -> str:
        return self.editor.toPlainText()

    def copy_code(self) -> None:
        QGuiApplication.clipboard().setText(self.code())
