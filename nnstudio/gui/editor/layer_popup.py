"""The quick-add popup (Tab, double-click, or a wire dropped in empty space):
type to filter the catalog, Enter to add the highlighted layer."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from nnstudio.core.layers import CATALOG

_TYPE_ROLE = Qt.ItemDataRole.UserRole


def matches(type_name: str, query: str) -> bool:
    """Every word of ``query`` appears in the layer's type, category or description."""
    if type_name.startswith("Block:"):  # a block from the palette's Blocks category
        return all(word in f"{type_name[6:]} blocks".lower() for word in query.lower().split())
    spec = CATALOG[type_name]
    haystack = f"{spec.type} {spec.category} {spec.description}".lower()
    return all(word in haystack for word in query.lower().split())


class LayerPopup(QFrame):
    """A search box over a list of layers; ``chosen(type)`` when the user picks one."""

    chosen = Signal(str)

    def __init__(
        self,
        parent: QWidget,
        preferred: Sequence[str] = (),
        heading: str = "",
        allowed: Sequence[str] | None = None,
        blocks: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._preferred = list(preferred)
        self._allowed = list(allowed) if allowed is not None else list(CATALOG)
        self._block_tips = dict(blocks)  # "Block:<name>" -> its description, listed after the layers
        self._allowed += [t for t in self._block_tips if t not in self._allowed]
        self.heading = QLabel(heading or "Add a layer")
        self.search = QLineEdit(placeholderText="Search layers…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.heading)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(300, 360)
        self.search.textChanged.connect(self._fill)
        self.search.installEventFilter(self)
        self.list.itemActivated.connect(self._on_item_activated)
        self.list.itemClicked.connect(self._on_item_activated)
        self._fill("")

    def types(self) -> list[str]:
        """The layer types listed now, in order (what Enter would choose from)."""
        return [
            self.list.item(i).data(_TYPE_ROLE)
            for i in range(self.list.count())
            if self.list.item(i).data(_TYPE_ROLE)
        ]

    def popup(self, global_pos: QPoint) -> None:
        screen = self.screen().availableGeometry() if self.screen() else None
        pos = QPoint(global_pos)
        if screen is not None:
            pos.setX(min(pos.x(), screen.right() - self.width()))
            pos.setY(min(pos.y(), screen.bottom() - self.height()))
        self.move(pos)
        self.show()
        self.search.setFocus()

    def _fill(self, query: str) -> None:
        self.list.clear()
        fits = [t for t in self._preferred if t in self._allowed and matches(t, query)]
        others = [t for t in self._allowed if t not in fits and matches(t, query)]
        if fits and others:
            self._add_section("Fits this output")
        for type_name in fits:
            self._add_layer(type_name, bold=True)
        if fits and others:
            self._add_section("Other layers")
        for type_name in others:
            self._add_layer(type_name)
        for i in range(self.list.count()):
            if self.list.item(i).data(_TYPE_ROLE):
                self.list.setCurrentRow(i)
                break

    def _add_section(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 0.85)
        item.setFont(font)
        self.list.addItem(item)

    def _add_layer(self, type_name: str, bold: bool = False) -> None:
        if type_name in self._block_tips:
            item = QListWidgetItem(f"{type_name[6:]}    ·  Blocks")
            item.setData(_TYPE_ROLE, type_name)
            item.setToolTip(self._block_tips[type_name])
            self.list.addItem(item)
            return
        spec = CATALOG[type_name]
        item = QListWidgetItem(f"{spec.type}    ·  {spec.category}")
        item.setData(_TYPE_ROLE, spec.type)
        item.setToolTip(spec.description)
        if bold:
            font = QFont(self.font())
            font.setBold(True)
            item.setFont(font)
        self.list.addItem(item)

    def _on_item_activated(self, item: QListWidgetItem) -> None:
        type_name = item.data(_TYPE_ROLE)
        if type_name:
            self.close()
            self.chosen.emit(type_name)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Arrows and Enter in the search box drive the list, as in a command palette.
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self._step(1 if key == Qt.Key.Key_Down else -1)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                current = self.list.currentItem()
                if current is not None:
                    self._on_item_activated(current)
                return True
            if key == Qt.Key.Key_Escape:
                self.close()
                return True
        return super().eventFilter(watched, event)

    def _step(self, delta: int) -> None:
        row = self.list.currentRow()
        for _ in range(self.list.count()):
            row = (row + delta) % self.list.count()
            if self.list.item(row).data(_TYPE_ROLE):
                self.list.setCurrentRow(row)
                return
