"""GraphModel: the user's network as nodes, ports and edges on networkx.

Edits are methods that check their input, change the graph and emit a
past-tense event (see ``events.GraphEvents``) only when something changed.
The editor calls them through undo commands and redraws from the events.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from nnstudio.core import validation
from nnstudio.core.errors import FormatError, GraphError, NameTakenError, NodeNotFoundError, ParamError
from nnstudio.core.events import GraphEvents
from nnstudio.core.layers import LayerSpec, Shape, get_spec

_NAME_MAX = 64


def _check_position(position: Iterable[Any]) -> tuple[float, float]:
    """(x, y) as finite floats; raises ParamError for anything else."""
    try:
        x, y = (float(v) for v in position)
    except (TypeError, ValueError):
        raise ParamError(f"A position must be two numbers (x, y), not {position!r}.") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ParamError(f"A position must be two finite numbers, not ({x}, {y}).")
    return (x, y)


@dataclass
class Node:
    """One layer instance on the canvas."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    position: tuple[float, float] = (0.0, 0.0)

    @property
    def spec(self) -> LayerSpec:
        return get_spec(self.type)


@dataclass(frozen=True, order=True)
class Edge:
    """A wire from ``source``'s output to input ``port`` of ``target``."""

    source: str
    target: str
    port: int = 0


@dataclass
class GraphModel:
    """A network being designed. See the module docstring for how edits flow."""

    name: str = "Untitled"
    description: str = ""
    # Training settings as plain data; the training package gives them meaning.
    training: dict[str, Any] = field(default_factory=dict)
    # Past runs (settings and final figures), newest last.
    runs: list[dict[str, Any]] = field(default_factory=list)
    # A sweep's search space as plain data ({"params": [...]}, read by nnstudio.experiments).
    sweep: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.nodes: dict[str, Node] = {}  # insertion order is the Outputs' order
        self.events = GraphEvents()
        self._nx = nx.MultiDiGraph()
        self._next_id = 1
        self._analysis: validation.Analysis | None = None
        self.events.changed.connect(self._forget_analysis)

    # --- reading ---------------------------------------------------------------------

    @property
    def edges(self) -> list[Edge]:
        return [Edge(u, v, k) for u, v, k in self._nx.edges(keys=True)]

    @property
    def nx_graph(self) -> nx.MultiDiGraph:
        """The topology (node ids; edge keys are ports). Read it, never edit it."""
        return self._nx

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise NodeNotFoundError(f"There is no node with id '{node_id}'.") from None

    def node_by_name(self, name: str) -> Node:
        for node in self.nodes.values():
            if node.name == name:
                return node
        raise NodeNotFoundError(f"There is no node named '{name}'.")

    def inputs_of(self, node_id: str) -> list[Edge]:
        """The edges into ``node_id``, ordered by port (the order a merge receives them)."""
        self.node(node_id)
        edges = [Edge(u, node_id, k) for u, _, k in self._nx.in_edges(node_id, keys=True)]
        return sorted(edges, key=lambda e: e.port)

    def outputs_of(self, node_id: str) -> list[Edge]:
        self.node(node_id)
        return sorted(Edge(node_id, v, k) for _, v, k in self._nx.out_edges(node_id, keys=True))

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    # --- analysis (cached until the next edit) ------------------------------------

    def analyze(self) -> validation.Analysis:
        if self._analysis is None:
            self._analysis = validation.analyze(self)
        return self._analysis

    def validate(self) -> list[validation.Diagnostic]:
        """Everything wrong with the graph; empty when it can be compiled. Never raises."""
        return list(self.analyze().diagnostics)

    def shapes(self) -> dict[str, Shape]:
        """Output shape (batch excluded) of every node whose shape is known."""
        return dict(self.analyze().shapes)

    def num_parameters(self) -> int:
        """Trainable parameters of the model this graph compiles to (layers that
        lead to no Output are left out, as the compiler leaves them out), from
        the catalog alone (no torch)."""
        return self.analyze().model_parameters()

    def _forget_analysis(self) -> None:
        # Called by every edit before it emits anything, so a listener that raises
        # cannot leave a stale analysis behind; 'changed' also calls it, so code that
        # touched nx_graph directly can ask for a fresh analysis by emitting it.
        self._analysis = None

    # --- editing ---------------------------------------------------------------------

    def add(
        self,
        type_name: str,
        name: str | None = None,
        position: tuple[float, float] | None = None,
        node_id: str | None = None,
        **params: Any,
    ) -> str:
        """Add a layer and return its id. Unknown types and bad values raise."""
        return self._insert(type_name, name, position, node_id, params)

    def _insert(
        self,
        type_name: str,
        name: str | None,
        position: tuple[float, float] | None,
        node_id: str | None,
        params: dict[str, Any],
    ) -> str:
        # Separate from ``add`` so that parameters read from a file are never
        # mistaken for add's own keywords (a param called 'name' or 'node_id').
        spec = get_spec(type_name)
        if node_id is not None and node_id in self.nodes:
            raise ParamError(f"A node with id '{node_id}' already exists.")
        name = self._check_name(name, None) if name is not None else self._default_name(spec)
        try:
            values = spec.complete_params(params)
        except ParamError as exc:
            raise ParamError(f"{spec.type} '{name}': {exc}") from None
        position = _check_position(position if position is not None else (0.0, 0.0))
        if node_id is None:
            node_id = self._new_id()
        node = Node(node_id, spec.type, name, values, position)
        self.nodes[node_id] = node
        self._nx.add_node(node_id)
        self._bump_next_id(node_id)
        self._forget_analysis()
        self.events.node_added.emit(node_id)
        self.events.changed.emit()
        return node_id

    def remove(self, node_id: str) -> None:
        """Remove a node and every edge touching it (each edge emits edge_removed)."""
        self.node(node_id)
        touching = self.inputs_of(node_id) + self.outputs_of(node_id)
        self._forget_analysis()
        for edge in touching:
            self._nx.remove_edge(edge.source, edge.target, key=edge.port)
            self.events.edge_removed.emit(edge)
        self._nx.remove_node(node_id)
        del self.nodes[node_id]
        self.events.node_removed.emit(node_id)
        self.events.changed.emit()

    def connect(self, source: str, target: str, port: int | None = None) -> Edge:
        """Wire ``source`` into ``target``; ``port=None`` takes the first free input."""
        if port is None:
            port = validation.first_free_port(self, target)
        validation.check_connect(self, source, target, port)
        self._nx.add_edge(source, target, key=port)
        self._forget_analysis()
        edge = Edge(source, target, port)
        self.events.edge_added.emit(edge)
        self.events.changed.emit()
        return edge

    def disconnect(self, source: str, target: str, port: int = 0) -> None:
        if not self._nx.has_edge(source, target, key=port):
            raise NodeNotFoundError(
                f"There is no connection from '{source}' to input {port} of '{target}'."
            )
        self._nx.remove_edge(source, target, key=port)
        self._forget_analysis()
        self.events.edge_removed.emit(Edge(source, target, port))
        self.events.changed.emit()

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        try:
            value = node.spec.param(name).coerce(value)
        except ParamError as exc:
            raise ParamError(f"{node.type} '{node.name}': {exc}") from None
        if node.params.get(name) == value:
            return
        node.params[name] = value
        self._forget_analysis()
        self.events.param_changed.emit(node_id, name, value)
        self.events.changed.emit()

    def rename(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        name = self._check_name(name, node_id)
        if node.name == name:
            return
        node.name = name
        self._forget_analysis()
        self.events.node_renamed.emit(node_id, node.name)
        self.events.changed.emit()

    def move(self, node_id: str, x: float, y: float) -> None:
        node = self.node(node_id)
        position = _check_position((x, y))
        if node.position == position:
            return
        node.position = position
        self.events.node_moved.emit(node_id, position)

    def reorder(self, node_ids: Iterable[str]) -> None:
        """Put the nodes in this order (it is the Outputs' order). Undoing a deletion
        uses it to give a restored node back its place. Names every node exactly once."""
        order = list(node_ids)
        if len(order) != len(self.nodes) or set(order) != self.nodes.keys():
            raise ParamError("reorder() needs every node id of the graph exactly once.")
        if order == list(self.nodes):
            return
        self.nodes = {node_id: self.nodes[node_id] for node_id in order}
        self._forget_analysis()
        self.events.changed.emit()

    def clear(self) -> None:
        for node_id in list(self.nodes):
            self.remove(node_id)

    # --- plain data ------------------------------------------------------------------

    def to_dict(self, node_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Plain, JSON-ready records; with ``node_ids``, only those nodes and the
        edges between them (what the clipboard copies)."""
        keep = set(self.nodes if node_ids is None else node_ids)
        return {
            "name": self.name,
            "description": self.description,
            "nodes": [
                {
                    "id": n.id,
                    "type": n.type,
                    "name": n.name,
                    "params": {k: list(v) if isinstance(v, tuple) else v for k, v in n.params.items()},
                    "position": list(n.position),
                }
                for n in self.nodes.values()
                if n.id in keep
            ],
            "edges": [
                {"source": e.source, "target": e.target, "port": e.port}
                for e in self.edges
                if e.source in keep and e.target in keep
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], training: dict[str, Any] | None = None) -> GraphModel:
        """Build a graph from ``to_dict`` records; bad records raise GraphError."""
        # The records may come from a clipboard rather than a checked file, so a
        # missing field or a wrong type is reported, not raised as a KeyError.
        try:
            return cls._from_records(data, training)
        except GraphError:
            raise
        except KeyError as exc:
            raise FormatError(f"A record in the graph data has no '{exc.args[0]}' field.") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise FormatError(f"The graph data is malformed ({exc}).") from None

    @classmethod
    def _from_records(cls, data: dict[str, Any], training: dict[str, Any] | None) -> GraphModel:
        graph = cls(name=data.get("name", "Untitled"), description=data.get("description", ""))
        graph.training = dict(training or {})
        graph.runs = list(data.get("runs", []))
        for record in data["nodes"]:
            graph._insert(
                record["type"],
                record["name"],
                tuple(record.get("position", (0.0, 0.0))),
                record["id"],
                record.get("params", {}),
            )
        for record in data["edges"]:
            for end in ("source", "target"):
                if record[end] not in graph.nodes:
                    raise NodeNotFoundError(
                        f"A connection refers to node '{record[end]}', which does not exist."
                    )
            graph.connect(record["source"], record["target"], record.get("port", 0))
        return graph

    def save(self, path: str | Path) -> None:
        from nnstudio.core import project

        project.save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> GraphModel:
        from nnstudio.core import project

        return project.load(path, graph_class=cls)

    # --- helpers -------------------------------------------------------------------------

    def _new_id(self) -> str:
        while f"n{self._next_id}" in self.nodes:
            self._next_id += 1
        return f"n{self._next_id}"

    def _bump_next_id(self, node_id: str) -> None:
        match = re.fullmatch(r"n(\d+)", node_id)
        if match:
            self._next_id = max(self._next_id, int(match.group(1)) + 1)

    def _default_name(self, spec: LayerSpec) -> str:
        stem = spec.type.lower()
        taken = {n.name for n in self.nodes.values()}
        index = 1
        while f"{stem}{index}" in taken:
            index += 1
        return f"{stem}{index}"

    def _check_name(self, name: str, node_id: str | None) -> str:
        if not isinstance(name, str):
            raise ParamError(f"A node's name must be text, not {name!r}.")
        if not name.strip():
            raise ParamError("A node's name cannot be empty.")
        name = name.strip()
        # Names appear in tables, messages and generated comments: one printable line.
        if len(name) > _NAME_MAX or not name.isprintable():
            raise ParamError(
                f"A node's name must be one line of at most {_NAME_MAX} printable characters, "
                f"not {name!r}."
            )
        for other in self.nodes.values():
            if other.name == name and other.id != node_id:
                raise NameTakenError(f"Another node is already named '{name}'; pick another name.")
        return name
