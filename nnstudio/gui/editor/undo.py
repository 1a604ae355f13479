"""Undo commands: the only way the GUI changes a graph.

Each command calls GraphModel methods; the scene and panels redraw from the
model's events, never from the command. A command whose first ``redo`` the
model refuses (a GraphError) keeps the error in ``failure`` and marks itself
obsolete, so QUndoStack drops it instead of recording an edit that never
happened; the document then reports the error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QUndoCommand

from nnstudio.core.errors import GraphError
from nnstudio.core.graph import Edge, GraphModel
from nnstudio.core.validation import InsertLayer, SetParam

Position = tuple[float, float]

# Rapid changes of one parameter (spin-box arrows, slider drags) merge into one
# undo step when they come within this many seconds of each other.
MERGE_WINDOW_S = 1.5


@dataclass(frozen=True)
class NodeRecord:
    """Everything needed to (re)create one node exactly."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    position: Position
    enabled: bool | str = True  # inside a block: off, or a condition (see GraphModel.set_enabled)

    @classmethod
    def of(cls, graph: GraphModel, node_id: str) -> NodeRecord:
        node = graph.node(node_id)
        return cls(node.id, node.type, node.name, dict(node.params), node.position, node.enabled)

    def add_to(self, graph: GraphModel) -> None:
        graph.add(
            self.type,
            name=self.name,
            position=self.position,
            node_id=self.id,
            enabled=self.enabled,
            **self.params,
        )


def fresh_ids(graph: GraphModel, count: int) -> list[str]:
    """``count`` node ids not used in ``graph``, in the graph's own "n<k>" style."""
    numbers = [int(m.group(1)) for m in map(re.compile(r"n(\d+)").fullmatch, graph.nodes) if m]
    start = max(numbers, default=0) + 1
    return [f"n{start + i}" for i in range(count)]


class GraphCommand(QUndoCommand):
    """Base class: subclasses implement ``_redo`` and ``_undo`` with GraphModel calls."""

    def __init__(self, graph: GraphModel, text: str) -> None:
        super().__init__(text)
        self.graph = graph
        self.failure: GraphError | None = None
        self._done_once = False

    def redo(self) -> None:
        if self._done_once:
            self._redo()
            return
        try:
            self._redo()
        except GraphError as exc:
            self.failure = exc
            self.setObsolete(True)
        self._done_once = True

    def undo(self) -> None:
        self._undo()

    def _redo(self) -> None:
        raise NotImplementedError

    def _undo(self) -> None:
        raise NotImplementedError


class AddNodeCommand(GraphCommand):
    """Add one layer; the id is chosen up front so later commands can refer to it."""

    def __init__(
        self,
        graph: GraphModel,
        type_name: str,
        position: Position,
        params: dict[str, Any] | None = None,
        name: str | None = None,
        node_id: str | None = None,
    ) -> None:
        super().__init__(graph, f"Add {type_name}")
        self.node_id = node_id or fresh_ids(graph, 1)[0]
        self.type_name = type_name
        self.position = (float(position[0]), float(position[1]))
        self.params = dict(params or {})
        self.name = name

    def _redo(self) -> None:
        self.graph.add(
            self.type_name, name=self.name, position=self.position, node_id=self.node_id, **self.params
        )
        self.name = self.graph.node(self.node_id).name  # redo after undo reuses it

    def _undo(self) -> None:
        self.graph.remove(self.node_id)


class AddNodesCommand(GraphCommand):
    """Add several nodes and the edges between them (paste, duplicate)."""

    def __init__(
        self, graph: GraphModel, records: Sequence[NodeRecord], edges: Sequence[Edge], text: str = "Paste"
    ) -> None:
        super().__init__(graph, text)
        self.records = list(records)
        self.edges = list(edges)

    @property
    def node_ids(self) -> list[str]:
        return [r.id for r in self.records]

    def _redo(self) -> None:
        added: list[str] = []
        try:
            for record in self.records:
                record.add_to(self.graph)
                added.append(record.id)
            for edge in self.edges:
                self.graph.connect(edge.source, edge.target, edge.port)
        except GraphError:
            for node_id in reversed(added):  # leave the graph as it was
                self.graph.remove(node_id)
            raise

    def _undo(self) -> None:
        for record in reversed(self.records):
            self.graph.remove(record.id)


class RemoveNodesCommand(GraphCommand):
    """Delete nodes; undo restores each with its id, name, params, position, place and edges."""

    def __init__(self, graph: GraphModel, node_ids: Iterable[str]) -> None:
        ids = [n for n in graph.nodes if n in set(node_ids)]
        super().__init__(graph, f"Delete {len(ids)} layer{'s' if len(ids) != 1 else ''}")
        self.records = [NodeRecord.of(graph, n) for n in ids]
        touching = {e for n in ids for e in (*graph.inputs_of(n), *graph.outputs_of(n))}
        self.edges = sorted(touching)
        self.order = list(graph.nodes)

    def _redo(self) -> None:
        for record in self.records:
            self.graph.remove(record.id)

    def _undo(self) -> None:
        for record in self.records:
            record.add_to(self.graph)
        for edge in self.edges:
            self.graph.connect(edge.source, edge.target, edge.port)
        self.graph.reorder(self.order)


class ConnectCommand(GraphCommand):
    def __init__(self, graph: GraphModel, source: str, target: str, port: int) -> None:
        super().__init__(graph, "Connect")
        self.edge = Edge(source, target, port)

    def _redo(self) -> None:
        self.graph.connect(self.edge.source, self.edge.target, self.edge.port)

    def _undo(self) -> None:
        self.graph.disconnect(self.edge.source, self.edge.target, self.edge.port)


class DisconnectCommand(GraphCommand):
    def __init__(self, graph: GraphModel, edge: Edge) -> None:
        super().__init__(graph, "Disconnect")
        self.edge = edge

    def _redo(self) -> None:
        self.graph.disconnect(self.edge.source, self.edge.target, self.edge.port)

    def _undo(self) -> None:
        self.graph.connect(self.edge.source, self.edge.target, self.edge.port)


class SetParamCommand(GraphCommand):
    """Change one parameter; quick successive changes of it merge into one step."""

    ID = 1001

    def __init__(self, graph: GraphModel, node_id: str, name: str, value: Any) -> None:
        node = graph.node(node_id)
        super().__init__(graph, f"Change {name} of {node.name}")
        self.node_id, self.name = node_id, name
        self.old = node.params.get(name)
        self.new = value
        self.stamp = time.monotonic()

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParamCommand) or other.failure is not None:
            return False
        if (other.node_id, other.name) != (self.node_id, self.name):
            return False
        if other.stamp - self.stamp > MERGE_WINDOW_S:
            return False
        self.new, self.stamp = other.new, other.stamp
        if self.new == self.old:
            self.setObsolete(True)  # back where it started: nothing to undo
        return True

    def _redo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.new)
        self.new = self.graph.node(self.node_id).params[self.name]  # the coerced value

    def _undo(self) -> None:
        self.graph.set_param(self.node_id, self.name, self.old)


class SetEnabledCommand(GraphCommand):
    """Switch a node inside a block on, off, or by a condition over the block's parameters."""

    def __init__(self, graph: GraphModel, node_id: str, value: bool | str) -> None:
        node = graph.node(node_id)
        super().__init__(graph, f"Change when {node.name} is enabled")
        self.node_id, self.old, self.new = node_id, node.enabled, value

    def _redo(self) -> None:
        self.graph.set_enabled(self.node_id, self.new)

    def _undo(self) -> None:
        self.graph.set_enabled(self.node_id, self.old)


class RenameCommand(GraphCommand):
    def __init__(self, graph: GraphModel, node_id: str, name: str) -> None:
        old = graph.node(node_id).name
        super().__init__(graph, f"Rename {old} to {name.strip()}")
        self.node_id, self.old, self.new = node_id, old, name

    def _redo(self) -> None:
        self.graph.rename(self.node_id, self.new)

    def _undo(self) -> None:
        self.graph.rename(self.node_id, self.old)


class MoveNodesCommand(GraphCommand):
    """Move nodes, one command per drag (or per automatic layout)."""

    def __init__(
        self, graph: GraphModel, moves: dict[str, tuple[Position, Position]], text: str = "Move"
    ) -> None:
        super().__init__(graph, text)
        self.moves = dict(moves)

    def _redo(self) -> None:
        for node_id, (_, new) in self.moves.items():
            self.graph.move(node_id, *new)

    def _undo(self) -> None:
        for node_id, (old, _) in self.moves.items():
            self.graph.move(node_id, *old)


class MacroCommand(GraphCommand):
    """Several commands as one undo step; if one fails, the done ones are undone."""

    def __init__(self, graph: GraphModel, text: str, commands: Sequence[GraphCommand]) -> None:
        super().__init__(graph, text)
        self.commands = list(commands)

    def _redo(self) -> None:
        done: list[GraphCommand] = []
        try:
            for command in self.commands:
                command._redo()
                done.append(command)
        except GraphError:
            for command in reversed(done):
                command._undo()
            raise

    def _undo(self) -> None:
        for command in reversed(self.commands):
            command._undo()


# --- suggested fixes from the validator -----------------------------------------------------


class InsertLayerCommand(GraphCommand):
    """Put a new layer on an existing wire, halfway between its two ends."""

    def __init__(
        self,
        graph: GraphModel,
        edge: Edge,
        type_name: str,
        params: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(graph, text or f"Insert {type_name}")
        self.edge = edge
        (x1, y1), (x2, y2) = graph.node(edge.source).position, graph.node(edge.target).position
        self.add = AddNodeCommand(graph, type_name, ((x1 + x2) / 2, (y1 + y2) / 2), params)

    @property
    def node_id(self) -> str:
        return self.add.node_id

    def _redo(self) -> None:
        self.graph.disconnect(self.edge.source, self.edge.target, self.edge.port)
        try:
            self.add._redo()
            self.graph.connect(self.edge.source, self.node_id, 0)
            self.graph.connect(self.node_id, self.edge.target, self.edge.port)
        except GraphError:
            if self.node_id in self.graph:
                self.graph.remove(self.node_id)
            self.graph.connect(self.edge.source, self.edge.target, self.edge.port)
            raise

    def _undo(self) -> None:
        self.graph.remove(self.node_id)
        self.graph.connect(self.edge.source, self.edge.target, self.edge.port)


def fix_command(graph: GraphModel, fix: InsertLayer | SetParam) -> GraphCommand:
    """The undoable edit that applies a validator's suggested fix."""
    if isinstance(fix, SetParam):
        command: GraphCommand = SetParamCommand(graph, fix.node, fix.name, fix.value)
        command.setText(fix.label)
        return command
    return InsertLayerCommand(
        graph, Edge(fix.source, fix.target, fix.port), fix.layer, dict(fix.params), fix.label
    )


class SetDescriptionCommand(GraphCommand):
    """Change the project's "About this network" text (saved in the project file)."""

    def __init__(self, graph: GraphModel, text: str) -> None:
        super().__init__(graph, "Edit the network's description")
        self.old, self.new = graph.description, text

    def _redo(self) -> None:
        self.graph.description = self.new

    def _undo(self) -> None:
        self.graph.description = self.old
