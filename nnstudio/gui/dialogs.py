"""Every question the editor asks the user, in one place (tests replace these)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QWidget

if TYPE_CHECKING:
    from nnstudio.gui.export_dialog import ExportOptions, ExportRequest

PROJECT_FILTER = "nnstudio projects (*.nnstudio);;All files (*)"


def ask_save_changes(parent: QWidget | None, name: str) -> str:
    """'save', 'discard' or 'cancel' for a document with unsaved changes."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Unsaved changes")
    box.setText(f"Save the changes to “{name}” before closing it?")
    box.setInformativeText("If you don't save, your changes since the last save are lost.")
    box.setStandardButtons(
        QMessageBox.StandardButton.Save
        | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel
    )
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return "save"
    if answer == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    QMessageBox.critical(parent, title, message)


def ask_open_path(parent: QWidget | None, directory: str = "") -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open project", directory, PROJECT_FILTER)
    return path or None


def ask_save_path(parent: QWidget | None, suggested: str) -> str | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Save project", suggested, PROJECT_FILTER)
    return path or None


def ask_folder(parent: QWidget | None, title: str, directory: str = "") -> str | None:
    folder = QFileDialog.getExistingDirectory(parent, title, directory)
    return folder or None


def ask_recover(parent: QWidget | None, descriptions: Sequence[str]) -> bool:
    """Whether to reopen work autosaved before nnstudio last stopped unexpectedly."""
    listing = "\n".join(f"• {d}" for d in descriptions)
    answer = QMessageBox.question(
        parent,
        "Recover unsaved work",
        "nnstudio did not close normally last time. It autosaved this work:\n\n"
        f"{listing}\n\nRecover it? (If you choose No, the autosaved copies are deleted.)",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.Yes,
    )
    return answer == QMessageBox.StandardButton.Yes


def open_folder(folder: str | Path) -> bool:
    """Show ``folder`` in the system's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def ask_export(parent: QWidget | None, options: ExportOptions) -> ExportRequest | None:
    """File › Export's dialog: folder, which run's weights, ONNX and train.py; None if cancelled."""
    from nnstudio.gui.export_dialog import ExportDialog

    dialog = ExportDialog(options, parent)
    try:
        return dialog.request() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def ask_export_clash(
    parent: QWidget | None, folder: Path, earlier: Sequence[str], foreign: Sequence[str]
) -> str:
    """The export folder already holds some of the files: "replace" (only files an earlier
    export wrote), "another" (pick another folder) or "cancel"."""
    from nnstudio.gui.export_dialog import clash_box

    box = clash_box(parent, folder, earlier, foreign)
    box.exec()
    box.deleteLater()
    return box.answer()


def show_exported(parent: QWidget | None, folder: Path, files: Sequence[str], note: str = "") -> None:
    """Say where the export went and what it holds, with a button that opens the folder."""
    from nnstudio.gui.export_dialog import exported_box

    box = exported_box(parent, folder, files, note)
    box.exec()
    box.deleteLater()
