"""The model summary: each layer's output shape, parameters and cost, and totals.

A tree like torchinfo's table: each block instance is a row that expands into
the layers inside it, with the shapes and counts of that instance (a repeat
expands into its copies first, ``layer2.0`` and ``layer2.1``). An instance's
counts are the sums of its rows', so the totals below hold whichever rows are
open. Opening a block on the canvas expands its instance here; double-clicking
a row inside an instance opens its block on the canvas at that layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.blocks import BLOCK_TYPE, type_label
from nnstudio.core.instance_paths import InnerRow, instance_rows
from nnstudio.core.layers import format_shape
from nnstudio.gui.document import Document
from nnstudio.gui.text import short_count

COLUMNS = ("Name", "Type", "Output shape", "Parameters", "Mult-adds")
NODE_ROLE = Qt.ItemDataRole.UserRole  # the top-level node a row belongs to
PATH_ROLE = Qt.ItemDataRole.UserRole + 1  # an inner row's instance path ("layer2.0/conv1")
_NUMBERS = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter  # made once: a flag union costs 10 µs
Row = tuple[str, str, str, str, str, str]  # node id, name, type, shape, parameters, mult-adds


class SummaryPanel(QWidget):
    """A tree like torchinfo's table; refreshed shortly after edits, and only when shown."""

    node_activated = Signal(str)  # a top-level row: select its node
    path_activated = Signal(str)  # a row inside an instance, double-clicked: show that layer

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.rows: list[Row] = []  # the top-level rows, in data-flow order
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setIndentation(14)
        self.tree.setToolTip(
            "A block instance's row opens into its layers (a repeat's into its copies first)"
        )
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # names vary; numbers do not
        for column, width in enumerate((180, 130, 120, 110, 100)):
            header.resizeSection(column, width)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.totals = QLabel()
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals.setWordWrap(True)  # a long line would hold the dock (and the window) wide
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        layout.addWidget(self.totals)
        self._stale = True
        self._reveal: list[str] = []  # the instance paths of the block open on the canvas
        self._timer = QTimer(self, singleShot=True, interval=150)
        self._timer.timeout.connect(self.refresh)
        self.tree.itemActivated.connect(self._on_item_activated)
        self.tree.itemClicked.connect(self._on_activated)

    def set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.analysis_changed.disconnect(self._on_analysis_changed)
        self.document = document
        document.analysis_changed.connect(self._on_analysis_changed)
        self._reveal = []
        self._stale = True
        self.refresh()

    def _on_analysis_changed(self, _analysis: object) -> None:
        self._stale = True
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self._timer.start()

    # --- the tree -----------------------------------------------------------------------------

    def refresh(self) -> None:
        if self.document is None:
            return
        self._stale = False
        graph = self.document.graph
        analysis = self.document.analysis()
        order = [n for n in analysis.order if n in graph.nodes]
        placed = set(order)
        order += [n for n in graph.nodes if n not in placed]
        expanded = self.expanded_paths() | set(self._reveal)
        self.rows = []
        items = []
        for node_id in order:
            node = graph.nodes[node_id]
            fig = analysis.figures.get(node_id)
            # type_label: an instance shows its block and repeat, "BasicBlock ×2"
            row = (
                node_id,
                node.name,
                type_label(node),
                format_shape(analysis.shapes.get(node_id)),
                f"{fig.parameters:,}" if fig else "?",
                short_count(fig.macs) if fig else "?",
            )
            self.rows.append(row)
            item = self._item(row[1:], node_id, node.name)
            items.append(item)
            if node.type == BLOCK_TYPE:
                shapes = [analysis.shapes.get(e.source) for e in graph.inputs_of(node_id)]
                if None not in shapes:
                    self._add_inner(item, instance_rows(graph.blocks, node, shapes, node.name), node_id)
                item.setToolTip(0, "Open the row to see the layers inside this instance, with its own counts")
        self.tree.setUpdatesEnabled(False)
        self.tree.clear()
        self.tree.addTopLevelItems(items)  # at once: a thousand single inserts cost twice as much
        if expanded:
            self._expand(expanded)
        # Without instances the tree reads as the plain table it is: no room kept for arrows.
        self.tree.setRootIsDecorated(any(node.type == BLOCK_TYPE for node in graph.nodes.values()))
        self.tree.setUpdatesEnabled(True)
        figures = analysis.model_figures()
        params = sum(f.parameters for f in figures)
        macs = sum(f.macs for f in figures)
        memory = 4 * params / 2**20
        count = len(graph.nodes)
        self.totals.setText(
            f"{count} layer{'s' if count != 1 else ''} · {params:,} parameters "
            f"({memory:.2f} MiB as float32)"
            f" · {short_count(macs)} multiply-adds per sample"
        )

    def _item(self, cells: Sequence[str], node_id: str, path: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(list(cells))
        item.setTextAlignment(3, _NUMBERS)
        item.setTextAlignment(4, _NUMBERS)
        item.setData(0, NODE_ROLE, node_id)
        item.setData(0, PATH_ROLE, path)
        return item

    def _add_inner(self, parent: QTreeWidgetItem, rows: Sequence[InnerRow], node_id: str) -> None:
        for row in rows:
            name = f"copy {row.copy + 1} · {row.name}" if row.copy is not None else row.name
            cells = (name, row.type, format_shape(row.shape), f"{row.parameters:,}", short_count(row.macs))
            item = self._item(cells, node_id, row.path)
            item.setToolTip(0, row.path)
            parent.addChild(item)
            self._add_inner(item, row.children, node_id)

    def _items(self) -> list[QTreeWidgetItem]:
        found, todo = [], [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while todo:
            item = todo.pop()
            found.append(item)
            todo.extend(item.child(i) for i in range(item.childCount()))
        return found

    def expanded_paths(self) -> set[str]:
        """The rows open now, by path (kept when the tree is rebuilt after an edit)."""
        return {item.data(0, PATH_ROLE) for item in self._items() if item.isExpanded()}

    def _expand(self, paths: set[str]) -> None:
        for item in self._items():
            if item.data(0, PATH_ROLE) in paths:
                item.setExpanded(True)

    def item_of(self, path: str) -> QTreeWidgetItem | None:
        """The row of a top-level node's name or an inner path."""
        return next((i for i in self._items() if i.data(0, PATH_ROLE) == path), None)

    def reveal(self, prefixes: Sequence[str]) -> None:
        """Open the rows of the copies at ``prefixes`` (the block open on the canvas) and the
        rows above them, and bring the first into view."""
        paths = set()
        for prefix in prefixes:
            parts = prefix.split("/")
            for depth in range(len(parts)):
                path = "/".join(parts[: depth + 1])
                paths |= {path, path.rsplit(".", 1)[0]}
        self._reveal = sorted(paths)
        if self._stale:
            return
        self._expand(paths)
        opened = self.item_of(prefixes[0].rsplit(".", 1)[0]) if prefixes else None
        if opened is not None and opened.data(0, PATH_ROLE) not in paths:
            opened = self.item_of(prefixes[0])
        if opened is not None:  # the instance open on the canvas: marked and in view
            self.tree.setCurrentItem(opened)
            self.tree.scrollToItem(opened, QAbstractItemView.ScrollHint.PositionAtTop)

    def _on_item_activated(self, item: QTreeWidgetItem, column: int = 0) -> None:
        if item.parent() is not None:  # inside an instance: open its block at that layer
            self.path_activated.emit(item.data(0, PATH_ROLE))
        else:
            self._on_activated(item, column)

    def _on_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        node_id = item.data(0, NODE_ROLE)
        if node_id:
            self.node_activated.emit(node_id)
