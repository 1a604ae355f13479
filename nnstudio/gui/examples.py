"""The examples gallery: the bundled projects with their descriptions."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio import resources
from nnstudio.core import project
from nnstudio.core.errors import FormatError

PATH_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class Example:
    path: Path
    title: str
    description: str
    layers: int


def bundled_examples() -> list[Example]:
    """The examples that ship with nnstudio (unreadable ones are skipped)."""
    found = []
    try:
        files = resources.example_files()
    except FileNotFoundError:
        return []
    for path in files:
        try:
            record = project.parse(path.read_text(encoding="utf-8"), str(path))
        except (OSError, FormatError):
            continue
        found.append(Example(path, record.name or path.stem, record.description, len(record.nodes)))
    return found


class ExamplesDialog(QDialog):
    """Pick an example to open as a new, unsaved project."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Examples")
        self.resize(720, 420)
        self.list = QListWidget()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setMinimumWidth(320)
        for example in bundled_examples():
            item = QListWidgetItem(f"{example.title}  ({example.layers} layers)")
            item.setData(PATH_ROLE, str(example.path))
            item.setData(Qt.ItemDataRole.ToolTipRole, example.description)
            self.list.addItem(item)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addWidget(self.details, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemActivated.connect(lambda _item: self.accept())
        if self.list.count():
            self.list.setCurrentRow(0)

    def _on_current_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is None:
            self.details.clear()
            return
        title, text = html.escape(item.text()), html.escape(item.data(Qt.ItemDataRole.ToolTipRole) or "")
        self.details.setText(f"<h3>{title}</h3><p>{text}</p>")

    def selected_path(self) -> Path | None:
        item = self.list.currentItem()
        return Path(item.data(PATH_ROLE)) if item is not None else None
