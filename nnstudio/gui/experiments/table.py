"""The trials table: one row per trial, sortable by any column, filtered by state."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from nnstudio.experiments.results import TrialRecord, format_value
from nnstudio.experiments.variants import describe_values

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
NUMBER_ROLE = Qt.ItemDataRole.UserRole + 2
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")
_STATE_COLOURS = {"COMPLETE": "#2a7a2a", "PRUNED": "#7a7a7a", "FAIL": "#c03030", "RUNNING": "#c07000"}
_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class TrialTableModel(QAbstractTableModel):
    FIXED = ("Trial", "State", "Metric", "Time (s)")

    def __init__(self) -> None:
        super().__init__()
        self.trials: list[TrialRecord] = []
        self.names: list[str] = []
        self.metric = "val_acc"

    def set_trials(self, trials: Sequence[TrialRecord], names: Sequence[str], metric: str) -> None:
        """Replace the rows; when only values changed, update them in place so the view keeps
        its selection and scroll position."""
        same_shape = [t.number for t in trials] == [t.number for t in self.trials] and list(
            names
        ) == self.names
        self.trials, self.metric = list(trials), metric
        if same_shape and self.trials:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.trials) - 1, self.columnCount() - 1))
            return
        self.beginResetModel()
        self.names = list(names)
        self.endResetModel()

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.trials)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.FIXED) + len(self.names)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        if section == 2:
            return "Accuracy" if self.metric == "val_acc" else "Loss"
        return self.FIXED[section] if section < len(self.FIXED) else self.names[section - len(self.FIXED)]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        t = self.trials[index.row()]
        column = index.column()
        if role == NUMBER_ROLE:
            return t.number
        if role == Qt.ItemDataRole.ToolTipRole:
            return t.reason or describe_values(t.values)
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return QColor(_STATE_COLOURS.get(t.state, "#000000"))
        if role not in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return None
        sort = role == SORT_ROLE
        if column == 0:
            return t.number if sort else str(t.number)
        if column == 1:
            return t.state
        if column == 2:
            if sort:  # missing metrics sort last either way round
                return t.value if t.value is not None else -math.inf
            return format_value(t.value, self.metric)
        if column == 3:
            if sort:
                return t.seconds if t.seconds is not None else -1.0
            return "" if t.seconds is None else f"{t.seconds:.1f}"
        value = t.values.get(self.names[column - len(self.FIXED)])
        if sort:
            return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)


class TrialFilter(QSortFilterProxyModel):
    """Sorts by the numbers, not the text; shows only the trials in ``states`` (all: empty)."""

    def __init__(self) -> None:
        super().__init__()
        self.setSortRole(SORT_ROLE)
        self.states: set[str] = set()

    def set_states(self, states: set[str]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self.states = set(states)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.states = set(states)
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: _Index) -> bool:
        if not self.states:
            return True
        model = self.sourceModel()
        return model.data(model.index(row, 1, parent)) in self.states

    def lessThan(self, left: _Index, right: _Index) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if isinstance(a, int | float) and isinstance(b, int | float):
            return a < b
        return str(a) < str(b)
