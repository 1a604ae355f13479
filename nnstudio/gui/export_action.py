"""File › Export: write the generated PyTorch code (the compiler's export) to a folder.

The compiler, and torch with it, is imported only here, when the user asks
for an export; the editor itself never needs it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel
from nnstudio.gui import dialogs


def export_graph(parent: QWidget | None, graph: GraphModel, folder: str | Path | None = None,
                 onnx: bool = False) -> Path | None:
    """Ask for a folder (unless given) and export; report problems in a dialog.
    Returns the folder written, or None when nothing was written."""
    if not graph.nodes:
        dialogs.show_error(parent, "Nothing to export", "The graph is empty; add some layers first.")
        return None
    if folder is None:
        folder = dialogs.ask_folder(parent, "Export PyTorch code to folder")
        if folder is None:
            return None
    try:
        from nnstudio.compiler.export import export
    except ImportError as exc:
        dialogs.show_error(parent, "Export is not available",
                           f"This installation cannot export code: {exc}.")
        return None
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        export(graph, Path(folder), weights=None, onnx=onnx)
    except GraphError as exc:
        QApplication.restoreOverrideCursor()
        dialogs.show_error(parent, "Cannot export yet", str(exc))
        return None
    except OSError as exc:
        QApplication.restoreOverrideCursor()
        dialogs.show_error(parent, "Cannot export", f"Could not write to {folder}: {exc.strerror or exc}.")
        return None
    except Exception as exc:  # e.g. ONNX tooling missing; say so rather than crash the editor
        QApplication.restoreOverrideCursor()
        dialogs.show_error(parent, "Export failed", f"{type(exc).__name__}: {exc}")
        return None
    QApplication.restoreOverrideCursor()
    return Path(folder)
