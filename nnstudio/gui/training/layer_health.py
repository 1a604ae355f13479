"""Training diagnostics per layer: a table in a panel and a tag under each node on the canvas.

Both read ``LayerStatsReady`` (mean and spread of each layer's output on a
fixed probe batch, its gradient norm, the share of dead ReLU units) and the
warnings ``health.judge`` draws from them. A layer with a warning gets a
coloured tag on the canvas saying what is wrong; its tooltip says what to try.

Layers inside block instances are listed by path (``layer2.0/relu``) under
their instance. With a block open on the canvas (``scope``: the paths of the
copies the opened body stands for) the table lists that instance's layers and
the tags sit on the inner nodes; at the top level an instance's tag says how
many layers inside it need attention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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

from nnstudio.core.blocks import BLOCK_TYPE
from nnstudio.core.graph import GraphModel
from nnstudio.core.instance_paths import is_inside, join, layers_by_path
from nnstudio.gui import theme
from nnstudio.training.events import LayerStat, LayerStatsReady
from nnstudio.training.health import HealthWarning, inside, judge

COLUMNS = ("Layer", "Type", "Output mean", "Output std", "Gradient norm", "Dead units", "Warning")
_SHORT = {"vanishing": "vanishing gradients", "exploding": "exploding gradients", "dead": "dead ReLUs"}


_UNKNOWN = LayerStat(math.nan, math.nan, math.nan, math.nan)


def _short(warning: HealthWarning) -> str:
    return warning.short or _SHORT.get(warning.kind, warning.kind)


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
        # Rows as tall as a line of text: a ResNet has dozens of layers to scan.
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
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

    def show_stats(self, event: LayerStatsReady, graph: GraphModel, scope: Sequence[str] = ()) -> None:
        """Rows for the model's layers (``graph`` is the model), each instance followed by the
        layers inside it; with ``scope``, only the layers inside those copies."""
        self.warnings = judge(event.stats)
        rows = _table_rows(graph, event.stats, scope)
        self._ids = [key for key, _name, _type in rows]
        self.table.setRowCount(len(rows))
        warn_colour = theme.current().color("warning")
        for row, (key, name, type_name) in enumerate(rows):
            stat = event.stats[key]
            warnings = list(self.warnings.get(key, []))
            node = graph.nodes.get(key)
            if node is not None and node.type == BLOCK_TYPE:  # an instance: what is wrong inside
                problems = {k: v for k, v in self.warnings.items() if is_inside(k, node.name)}
                if problems:
                    warnings.append(inside(problems))
            cells = (
                name,
                type_name,
                _number(stat.mean),
                _number(stat.std),
                _number(stat.grad_norm),
                _number(stat.dead_fraction, percent=True),
                ", ".join(_short(w) for w in warnings),
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
        problems = sum(1 for key in self._ids if key in self.warnings)
        summary = (
            f"{problems} layer{'s need' if problems != 1 else ' needs'} attention"
            if problems
            else "No problems"
        )
        where = f" inside {', '.join(scope)}" if scope else ""
        self.title.setText(
            f"Layer statistics{where} at step {event.step:,} on a fixed batch of validation samples. "
            f"{summary}."
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
        parts += [_short(w) for w in warnings]
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


def _table_rows(
    graph: GraphModel, stats: Mapping[str, LayerStat], scope: Sequence[str]
) -> list[tuple[str, str, str]]:
    """(key, name, type) of each row: top-level nodes by id in graph order, each instance
    followed by the layers inside it by path; with ``scope``, those inside it only."""
    inner = layers_by_path(graph) if any("/" in key for key in stats) else {}
    rows: list[tuple[str, str, str]] = []
    for node in graph.nodes.values():
        if not scope and node.id in stats:
            rows.append((node.id, node.name, node.type if node.type != BLOCK_TYPE else node.params["block"]))
        if node.type != BLOCK_TYPE:
            continue
        for path, row in inner.items():
            within = any(is_inside(path, p) for p in scope) if scope else is_inside(path, node.name)
            if path in stats and within and is_inside(path, node.name):
                rows.append((path, path, row.type))
    return rows


def canvas_health(
    canvas: GraphModel,
    scope: Sequence[str],
    stats: Mapping[str, LayerStat],
    warnings: Mapping[str, list[HealthWarning]],
) -> tuple[dict[str, LayerStat], dict[str, list[HealthWarning]]]:
    """The statistics and warnings of the nodes on the canvas, by node id.

    ``canvas`` is the model (``scope`` empty) or a block's body opened through the copies at
    ``scope``. An inner node stands for its layer in every copy: it shows the numbers of the
    first copy in ``scope`` (the one the user looks at), or of a copy with a problem, and every
    copy's warnings, each naming its path. An instance sums up the warnings of the layers
    inside it."""
    shown: dict[str, LayerStat] = {}
    found: dict[str, list[HealthWarning]] = {}
    for node in canvas.nodes.values():
        paths = [join(p, node.name) for p in scope] if scope else [node.id]
        present = [p for p in paths if p in stats]
        if present:
            troubled = [p for p in present if p in warnings]
            shown[node.id] = stats[(troubled or present)[0]]
            if troubled:
                found[node.id] = [
                    HealthWarning(w.kind, f"{p}: {w.message}" if len(paths) > 1 else w.message, w.short)
                    for p in troubled
                    for w in warnings[p]
                ]
        if node.type == BLOCK_TYPE:
            wheres = [join(p, node.name) for p in scope] if scope else [node.name]
            problems = {k: v for k, v in warnings.items() if any(is_inside(k, w) for w in wheres)}
            if problems:
                found.setdefault(node.id, []).append(inside(problems))
                # A block inside a block has no numbers of its own (no module is hooked for it).
                shown.setdefault(node.id, _UNKNOWN)
    return shown, found
