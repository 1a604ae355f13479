"""The model summary: each layer's output shape, parameters and cost, and totals."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from nnstudio.core.blocks import type_label
from nnstudio.core.layers import format_shape
from nnstudio.gui.document import Document
from nnstudio.gui.text import short_count

COLUMNS = ("Name", "Type", "Output shape", "Parameters", "Mult-adds")
NODE_ROLE = Qt.ItemDataRole.UserRole
_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class SummaryModel(QAbstractTableModel):
    """Rows in data-flow order, from the core's cached analysis."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str, str, str, str, str]] = []

    def set_rows(self, rows: list[tuple[str, str, str, str, str, str]]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row[index.column() + 1]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == NODE_ROLE:
            return row[0]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None


class SummaryPanel(QWidget):
    """A table like torchinfo's; refreshed shortly after edits, and only when shown."""

    node_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Document | None = None
        self.model = SummaryModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # names vary; numbers do not
        for column, width in enumerate((160, 130, 120, 110, 100)):
            header.resizeSection(column, width)
        self.totals = QLabel()
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addWidget(self.totals)
        self._stale = True
        self._timer = QTimer(self, singleShot=True, interval=150)
        self._timer.timeout.connect(self.refresh)
        self.table.activated.connect(self._on_activated)
        self.table.clicked.connect(self._on_activated)

    def set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.analysis_changed.disconnect(self._on_analysis_changed)
        self.document = document
        document.analysis_changed.connect(self._on_analysis_changed)
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

    def refresh(self) -> None:
        if self.document is None:
            return
        self._stale = False
        graph = self.document.graph
        analysis = self.document.analysis()
        order = [n for n in analysis.order if n in graph.nodes]
        order += [n for n in graph.nodes if n not in set(order)]
        rows = []
        for node_id in order:
            node = graph.nodes[node_id]
            fig = analysis.figures.get(node_id)
            # type_label: an instance shows its block and repeat, "BasicBlock ×2"
            rows.append(
                (
                    node_id,
                    node.name,
                    type_label(node),
                    format_shape(analysis.shapes.get(node_id)),
                    f"{fig.parameters:,}" if fig else "?",
                    short_count(fig.macs) if fig else "?",
                )
            )
        self.model.set_rows(rows)
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

    def _on_activated(self, index: QModelIndex) -> None:
        node_id = self.model.data(index, NODE_ROLE)
        if node_id:
            self.node_activated.emit(node_id)
