"""The palette: every catalog layer by category, searchable, dragged onto the canvas."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from nnstudio.core.layers import specs_by_category
from nnstudio.gui.editor.layer_popup import matches
from nnstudio.gui.editor.view import LAYER_MIME

TYPE_ROLE = Qt.ItemDataRole.UserRole


class LayerTree(QTreeWidget):
    """Categories with their layers; a dragged layer carries its type name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIndentation(12)
        self.setUniformRowHeights(True)
        self.setAnimated(False)
        for category, specs in specs_by_category().items():
            if not specs:
                continue
            group = QTreeWidgetItem(self, [category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            for spec in specs:
                item = QTreeWidgetItem(group, [spec.type])
                item.setData(0, TYPE_ROLE, spec.type)
                item.setToolTip(0, f"<b>{spec.type}</b><br>{spec.description}")
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
                )
        self.expandAll()

    def set_blocks(self, entries: list[tuple[str, str, str]]) -> None:
        """Show a "Blocks" category: (palette type, label, tooltip) per block."""
        for g in range(self.topLevelItemCount()):
            if self.topLevelItem(g).text(0) == "Blocks":
                self.takeTopLevelItem(g)
                break
        if not entries:
            return
        group = QTreeWidgetItem(self, ["Blocks"])
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        for type_name, label, tooltip in entries:
            item = QTreeWidgetItem(group, [label])
            item.setData(0, TYPE_ROLE, type_name)
            item.setToolTip(0, f"<b>{label}</b><br>{tooltip}")
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
            )
        group.setExpanded(True)

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:
        mime = QMimeData()
        types = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        if types:
            mime.setData(LAYER_MIME, types[0].encode("utf-8"))
            mime.setText(types[0])
        return mime

    def layer_items(self) -> list[QTreeWidgetItem]:
        found = []
        for g in range(self.topLevelItemCount()):
            group = self.topLevelItem(g)
            found += [group.child(i) for i in range(group.childCount())]
        return found

    def item_for(self, type_name: str) -> QTreeWidgetItem | None:
        for item in self.layer_items():
            if item.data(0, TYPE_ROLE) == type_name:
                return item
        return None

    def apply_filter(self, query: str) -> None:
        for g in range(self.topLevelItemCount()):
            group = self.topLevelItem(g)
            shown = 0
            for i in range(group.childCount()):
                child = group.child(i)
                hide = not _matches(child, query)
                child.setHidden(hide)
                shown += not hide
            group.setHidden(shown == 0)


def _matches(item: QTreeWidgetItem, query: str) -> bool:
    type_name = item.data(0, TYPE_ROLE)
    if not type_name.startswith("Block:"):
        return matches(type_name, query)
    haystack = f"{item.text(0)} blocks {item.toolTip(0)}".lower()  # a block: its name and description
    return all(word in haystack for word in query.lower().split())


class PalettePanel(QWidget):
    """Search box over the layer tree. Double-click or Enter adds the layer to the canvas."""

    layer_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search layers (e.g. conv, pool, memory)")
        self.search.setClearButtonEnabled(True)
        self.tree = LayerTree()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.tree.apply_filter)
        self.tree.itemActivated.connect(self._on_item_activated)

    def visible_types(self) -> list[str]:
        return [i.data(0, TYPE_ROLE) for i in self.tree.layer_items() if not i.isHidden()]

    def set_enabled_for_editing(self, enabled: bool) -> None:
        self.tree.setDragEnabled(enabled)

    def _on_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        type_name = item.data(0, TYPE_ROLE)
        if type_name:
            self.layer_activated.emit(type_name)
