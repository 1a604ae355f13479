"""A Document: one graph being edited, its undo stack, its file and its lock.

Every edit the GUI makes goes through ``Document.push`` as an undo command.
After each edit (a push, undo or redo) the graph is re-analysed once and
``analysis_changed`` tells the scene and the panels to refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from nnstudio.api import Graph
from nnstudio.core import layout, validation
from nnstudio.core.errors import ConnectError, GraphError
from nnstudio.core.graph import Edge, GraphModel
from nnstudio.gui.editor import block_palette
from nnstudio.gui.editor import undo as cmd
from nnstudio.gui.editor.undo import NodeRecord, Position

LOCKED_MESSAGE = "The model cannot be changed while it is training; stop the run first."


class Document(QObject):
    """The graph, its undo stack and file; the controller the editor widgets call."""

    analysis_changed = Signal(object)  # validation.Analysis
    refused = Signal(str)  # a sentence saying why an edit was not made
    locked_changed = Signal(bool)
    path_changed = Signal()

    def __init__(
        self, graph: GraphModel | None = None, path: str | Path | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.graph: GraphModel = graph if graph is not None else Graph()
        self._path = Path(path) if path else None
        self.undo_stack = QUndoStack(self)
        self._locked = False
        self._dirty = False
        # Edits outside the undo stack (none today) still get re-analysed, once.
        self._flush_timer = QTimer(self, singleShot=True, interval=0)
        self._flush_timer.timeout.connect(self.refresh)
        self.graph.events.changed.connect(self._on_graph_changed)
        self.undo_stack.indexChanged.connect(self.refresh)

    # --- state ----------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        return self._path

    def set_path(self, path: str | Path | None) -> None:
        self._path = Path(path) if path else None
        self.path_changed.emit()

    @property
    def display_name(self) -> str:
        if self._path is not None:
            return self._path.name
        return self.graph.name or "Untitled"

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def locked(self) -> bool:
        return self._locked

    def set_locked(self, locked: bool) -> None:
        if locked != self._locked:
            self._locked = locked
            self.locked_changed.emit(locked)

    def analysis(self) -> validation.Analysis:
        return self.graph.analyze()

    def refresh(self) -> None:
        """Re-analyse after edits and tell the views; cheap when nothing changed."""
        if not self._dirty:
            return
        self._dirty = False
        self._flush_timer.stop()
        self.analysis_changed.emit(self.graph.analyze())

    def _on_graph_changed(self) -> None:
        self._dirty = True
        self._flush_timer.start()

    def detach(self) -> None:
        """Stop listening to the graph (the window is done with this document)."""
        self.graph.events.changed.disconnect(self._on_graph_changed)
        self._flush_timer.stop()

    # --- the one way to edit ---------------------------------------------------------------

    def push(self, command: cmd.GraphCommand) -> bool:
        """Run ``command`` as an undoable edit; on refusal emit ``refused`` and return False."""
        if self._locked:
            self.refused.emit(LOCKED_MESSAGE)
            return False
        self.undo_stack.push(command)
        if command.failure is not None:
            self.refused.emit(str(command.failure))
            return False
        self.refresh()
        return True

    # --- edits the widgets ask for ----------------------------------------------------------

    def add_node(self, type_name: str, position: Position, **params: Any) -> str | None:
        try:  # a block from the palette ("Block:BasicBlock") brings its definition along
            type_name, params = block_palette.resolve(self.graph, type_name, params)
        except GraphError as exc:
            self.refused.emit(str(exc))
            return None
        command = cmd.AddNodeCommand(self.graph, type_name, position, params)
        return command.node_id if self.push(command) else None

    def add_connected_node(
        self,
        type_name: str,
        position: Position,
        source: str | None = None,
        target: tuple[str, int] | None = None,
    ) -> str | None:
        """Add a layer wired after ``source`` or before input ``target`` = (node, port)."""
        try:
            type_name, params = block_palette.resolve(self.graph, type_name, {})
        except GraphError as exc:
            self.refused.emit(str(exc))
            return None
        add = cmd.AddNodeCommand(self.graph, type_name, position, params)
        steps: list[cmd.GraphCommand] = [add]
        if source is not None:
            steps.append(cmd.ConnectCommand(self.graph, source, add.node_id, 0))
        if target is not None:
            steps.append(cmd.ConnectCommand(self.graph, add.node_id, target[0], target[1]))
        macro = cmd.MacroCommand(self.graph, f"Add {type_name}", steps)
        return add.node_id if self.push(macro) else None

    def connection_problem(self, source: str, target: str, port: int) -> str | None:
        """Why ``source`` cannot feed input ``port`` of ``target``, or None when it can."""
        try:
            validation.check_connect(self.graph, source, target, port)
        except (ConnectError, GraphError) as exc:
            return str(exc)
        return None

    def connect_nodes(self, source: str, target: str, port: int | None = None) -> bool:
        if port is None:
            try:
                port = validation.first_free_port(self.graph, target)
            except GraphError as exc:
                self.refused.emit(str(exc))
                return False
        problem = self.connection_problem(source, target, port)
        if problem:
            self.refused.emit(problem)
            return False
        return self.push(cmd.ConnectCommand(self.graph, source, target, port))

    def delete(self, node_ids: Iterable[str] = (), edges: Iterable[Edge] = ()) -> bool:
        node_ids = [n for n in node_ids if n in self.graph.nodes]
        gone = set(node_ids)
        edges = [e for e in edges if e.source not in gone and e.target not in gone]
        steps: list[cmd.GraphCommand] = [cmd.DisconnectCommand(self.graph, e) for e in edges]
        if node_ids:
            steps.append(cmd.RemoveNodesCommand(self.graph, node_ids))
        if not steps:
            return False
        if len(steps) == 1:
            return self.push(steps[0])
        return self.push(cmd.MacroCommand(self.graph, "Delete", steps))

    def set_param(self, node_id: str, name: str, value: Any) -> bool:
        try:
            value = self.graph.coerce_param(node_id, name, value)  # blocks: instances, '$' expressions
        except GraphError as exc:
            self.refused.emit(str(exc))
            return False
        if self.graph.node(node_id).params.get(name) == value:
            return True
        return self.push(cmd.SetParamCommand(self.graph, node_id, name, value))

    def set_enabled(self, node_id: str, value: bool | str) -> bool:
        """Switch a node inside a block on, off or by a condition ("$norm_first")."""
        try:
            value = self.graph.coerce_enabled(node_id, value)
        except GraphError as exc:
            self.refused.emit(str(exc))
            return False
        old = self.graph.node(node_id).enabled
        if old == value and type(old) is type(value):
            return True
        return self.push(cmd.SetEnabledCommand(self.graph, node_id, value))

    def rename(self, node_id: str, name: str) -> bool:
        if self.graph.node(node_id).name == name.strip():
            return True
        return self.push(cmd.RenameCommand(self.graph, node_id, name))

    def move_nodes(self, moves: dict[str, tuple[Position, Position]]) -> bool:
        moves = {n: (old, new) for n, (old, new) in moves.items() if old != new}
        if not moves:
            return False
        return self.push(cmd.MoveNodesCommand(self.graph, moves))

    def add_records(self, records: Sequence[NodeRecord], edges: Sequence[Edge], text: str) -> list[str]:
        command = cmd.AddNodesCommand(self.graph, records, edges, text)
        return command.node_ids if self.push(command) else []

    def auto_layout(self) -> bool:
        positions = layout.layered_positions(self.graph)
        moves = {n: (self.graph.nodes[n].position, p) for n, p in positions.items()}
        moves = {n: (old, new) for n, (old, new) in moves.items() if old != new}
        if not moves:
            return False
        return self.push(cmd.MoveNodesCommand(self.graph, moves, "Arrange layers"))
