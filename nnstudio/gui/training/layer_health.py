"""Training diagnostics per layer: a table in a panel and a tag under each node on the canvas.

Both read ``LayerStatsReady`` (mean and spread of each layer's output on a
fixed probe batch, its gradient norm, the share of dead ReLU units) and the
warnings ``health.judge`` draws from them. A layer with a warning gets a
coloured tag on the canvas saying what is wrong; its tooltip says what to try.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import shiboken6
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGraphicsItem,
    QHeaderView,
    QLabel,
    QStyleOptionGraphicsItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.graph import GraphModel
from nnstudio.gui import theme
from nnstudio.training.events import LayerStat, LayerStatsReady
from nnstudio.training.health import HealthWarning, judge

COLUMNS = ("Layer", "Type", "Output mean", "Output std", "Gradient norm", "Dead units", "Warning")
_SHORT = {"vanishing": "vanishing gradients", "exploding": "exploding gradients", "dead": "dead ReLUs"}


def _number(value: float, percent: bool = False) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{100 * value:.0f}%" if percent else f"{value:.3g}"


class LayerHealthView(QWidget):
    """A row per layer; clicking a row selects that layer on the canvas."""

    node_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Layer statistics appear here while a network trains.")
        self.title.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.cellClicked.connect(self._on_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        self._ids: list[str] = []
        self.warnings: dict[str, list[HealthWarning]] = {}

    def show_stats(self, event: LayerStatsReady, graph: GraphModel) -> None:
        stats = {k: v for k, v in event.stats.items() if k in graph.nodes}
        self.warnings = judge(stats)
        order = [n for n in graph.nodes if n in stats]
        self._ids = order
        self.table.setRowCount(len(order))
        warn_colour = theme.current().color("warning")
        for row, node_id in enumerate(order):
            node, stat = graph.nodes[node_id], stats[node_id]
            warnings = self.warnings.get(node_id, [])
            cells = (
                node.name,
                node.type,
                _number(stat.mean),
                _number(stat.std),
                _number(stat.grad_norm),
                _number(stat.dead_fraction, percent=True),
                ", ".join(_SHORT[w.kind] for w in warnings),
            )
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(text)
                item.setToolTip("\n\n".join(w.message for w in warnings))
                item.setForeground(QBrush(warn_colour) if warnings and col == len(cells) - 1 else QBrush())
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        problems = len(self.warnings)
        summary = (
            f"{problems} layer{'s' if problems != 1 else ''} need attention" if problems else "No problems"
        )
        self.title.setText(
            f"Layer statistics at step {event.step:,} on a fixed batch of validation samples. {summary}."
        )

    def clear(self) -> None:
        self.table.setRowCount(0)
        self._ids, self.warnings = [], {}
        self.title.setText("Layer statistics appear here while a network trains.")

    def _on_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._ids):
            self.node_activated.emit(self._ids[row])


class HealthTag(QGraphicsItem):
    """A small label under a node: its gradient norm, and what is wrong if anything is."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.text = ""
        self.kinds: tuple[str, ...] = ()
        self._font = QFont()
        self._font.setPointSizeF(7.5)
        self._rect = QRectF()
        self.setAcceptHoverEvents(True)
        self.setZValue(2)

    def set_stat(self, stat: LayerStat, warnings: list[HealthWarning]) -> None:
        parts = []
        if math.isfinite(stat.grad_norm):
            parts.append(f"∇ {stat.grad_norm:.2g}")
        if math.isfinite(stat.dead_fraction):
            parts.append(f"dead {100 * stat.dead_fraction:.0f}%")
        parts += [_SHORT[w.kind] for w in warnings]
        self.text = " · ".join(parts)
        self.kinds = tuple(w.kind for w in warnings)
        self.setToolTip(
            "\n\n".join(w.message for w in warnings)
            or "Gradient norm of this layer's weights "
            "after the last step, and the share of its units that never activate."
        )
        self.prepareGeometryChange()
        width = QFontMetricsF(self._font).horizontalAdvance(self.text) + 10
        parent = self.parentItem().boundingRect()
        self._rect = QRectF(0, 0, width, 14)
        self.setPos(parent.left() + 10, parent.bottom() - 6)
        self.setVisible(bool(self.text))
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        colours = theme.current()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.kinds:
            fill = colours.color("warning")
            text = QColor("#1f2328")
        else:
            fill = colours.color("label_bg")
            text = colours.color("text_dim")
        painter.setPen(QPen(colours.color("node_border"), 0.6))
        painter.setBrush(fill)
        painter.drawRoundedRect(self._rect, 4, 4)
        painter.setFont(self._font)
        painter.setPen(text)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


class HealthOverlay:
    """Keeps one HealthTag per node item of a scene; ``clear`` removes them all."""

    def __init__(self) -> None:
        self.tags: dict[str, HealthTag] = {}
        self._scene = None

    def show(
        self, scene, stats: Mapping[str, LayerStat], warnings: Mapping[str, list[HealthWarning]]
    ) -> None:
        if scene is not self._scene:
            self.tags = {}
            self._scene = scene
        for node_id, stat in stats.items():
            item = scene.node_items.get(node_id) if scene is not None else None
            if item is None:
                continue
            tag = self.tags.get(node_id)
            if tag is None or not shiboken6.isValid(tag) or tag.parentItem() is not item:
                tag = self.tags[node_id] = HealthTag(item)
            tag.set_stat(stat, list(warnings.get(node_id, [])))

    def clear(self) -> None:
        for tag in self.tags.values():
            if not shiboken6.isValid(tag):  # went with its node
                continue
            scene = tag.scene()
            if scene is not None:
                scene.removeItem(tag)
        self.tags = {}
