"""GraphModel: the user's network as nodes, ports and edges on networkx.

Edits are methods that check their input, change the graph and emit a
past-tense event (see ``events.GraphEvents``) only when something changed.
The editor calls them through undo commands and redraws from the events.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from nnstudio.core import blocks, expressions, validation
from nnstudio.core.errors import (
    CycleError,
    FormatError,
    GraphError,
    NameTakenError,
    NodeNotFoundError,
    ParamError,
)
from nnstudio.core.events import GraphEvents
from nnstudio.core.layers import LayerSpec, Shape, get_spec

_NAME_MAX = 64


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cyclic garbage collector while a large graph is built or analysed.

    Building 100,000 nodes allocates millions of objects and no garbage cycles; the
    collector would walk all of them again and again (it doubled the time of
    loading and validating such a file). Nothing is freed later than it would be:
    reference counting goes on, and a collection can run once this returns."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    # The project's block library; a Block instance's spec comes from its definition.
    blocks: Any = field(default=None, repr=False, compare=False)
    # Inside a block: True, False, or a condition over the block's parameters ("$norm_first").
    # A node that is not enabled for an instance passes its input through (see core.blocks).
    enabled: bool | str = True
    # A layer's spec never changes, so it is looked up once (validation asks for it a lot).
    _spec: LayerSpec | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def spec(self) -> LayerSpec:
        spec = self._spec
        if spec is not None:
            return spec
        if self.type == blocks.BLOCK_TYPE and self.blocks is not None:
            return self.blocks.instance_spec(self.params.get("block"))  # follows its definition
        spec = self._spec = blocks.PORT_SPECS.get(self.type) or get_spec(self.type)
        return spec


@dataclass(frozen=True, order=True)
class Edge:
    """A wire from ``source``'s output to input ``port`` of ``target``."""

    source: str
    target: str
    port: int = 0


@dataclass(eq=False)
class GraphModel:
    """A network being designed. See the module docstring for how edits flow.

    Graphs compare by identity: two graphs holding the same layers are still two
    documents (the editor keys windows, undo stacks and caches by graph)."""

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
        # name -> node id, so that checking a name is O(1) and loading is linear.
        self._ids_by_name: dict[str, str] = {}
        # Per default-name stem, an index below which every name is taken (a hint
        # that keeps default naming linear; forgotten when a name is freed).
        self._free_from: dict[str, int] = {}
        self.events = GraphEvents()
        self._nx = nx.MultiDiGraph()
        self._next_id = 1
        self._analysis: validation.Analysis | None = None
        self.events.changed.connect(self._forget_analysis)
        # Blocks: the project's definitions, shared by the top graph and every body.
        self.owner: str | None = None  # set on a block's body: the definition's name
        self.context: tuple | None = None  # a body's (input shapes, values) to show shapes for
        self.edit_count = 0
        self.blocks = blocks.BlockLibrary()
        self.blocks.changed.connect(self._on_blocks_changed)

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
        node_id = self._ids_by_name.get(name)
        if node_id is not None:
            return self.nodes[node_id]
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
            with paused_gc():
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
        self.edit_count += 1

    # --- editing ---------------------------------------------------------------------

    def add(
        self,
        type_name: str,
        name: str | None = None,
        position: tuple[float, float] | None = None,
        node_id: str | None = None,
        enabled: bool | str = True,
        **params: Any,
    ) -> str:
        """Add a layer and return its id. Unknown types and bad values raise. ``enabled``
        (inside a block only) may switch it off by a condition; see ``set_enabled``."""
        return self._insert(type_name, name, position, node_id, params, enabled)

    def _insert(
        self,
        type_name: str,
        name: str | None,
        position: tuple[float, float] | None,
        node_id: str | None,
        params: dict[str, Any],
        enabled: Any = True,
    ) -> str:
        # Separate from ``add`` so that parameters read from a file are never
        # mistaken for add's own keywords (a param called 'name' or 'node_id').
        node_id = self._place(type_name, name, position, node_id, params, enabled=enabled)
        self._forget_analysis()
        self.events.node_added.emit(node_id)
        self.events.changed.emit()
        return node_id

    def _place(
        self,
        type_name: str,
        name: str | None,
        position: tuple[float, float] | None,
        node_id: str | None,
        params: dict[str, Any],
        *,
        into_nx: bool = True,
        enabled: Any = True,
    ) -> str:
        """Check and store a node without telling anyone (``_insert`` and loading do).
        Loading adds all nodes to the topology at once afterwards (``into_nx=False``)."""
        spec = self._spec_for(type_name, params)
        if node_id is not None and node_id in self.nodes:
            raise ParamError(f"A node with id '{node_id}' already exists.")
        name = self._check_name(name, None) if name is not None else self._default_name(spec)
        try:
            values = self._complete(spec, params)
        except ParamError as exc:
            raise ParamError(f"{spec.type} '{name}': {exc}") from None
        position = _check_position(position if position is not None else (0.0, 0.0))
        try:
            enabled = self._check_enabled(spec, enabled)
        except ParamError as exc:
            raise ParamError(f"{spec.type} '{name}': {exc}") from None
        if node_id is None:
            node_id = self._new_id()
        node = Node(node_id, spec.type, name, values, position, self.blocks, enabled=enabled)
        self.nodes[node_id] = node
        self._ids_by_name[name] = node_id
        if into_nx:
            self._nx.add_node(node_id)
        self._bump_next_id(node_id)
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
        self._forget_name(self.nodes.pop(node_id).name)
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
            raise NodeNotFoundError(f"There is no connection from '{source}' to input {port} of '{target}'.")
        self._nx.remove_edge(source, target, key=port)
        self._forget_analysis()
        self.events.edge_removed.emit(Edge(source, target, port))
        self.events.changed.emit()

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        try:
            value = self._coerce(node.spec, name, value)
        except ParamError as exc:
            raise ParamError(f"{node.type} '{node.name}': {exc}") from None
        if node.params.get(name) == value:
            return
        node.params[name] = value
        self._forget_analysis()
        self.events.param_changed.emit(node_id, name, value)
        self.events.changed.emit()

    def set_enabled(self, node_id: str, value: bool | str) -> None:
        """Whether a node inside a block is enabled: True, False or a condition over the
        block's parameters (``"$norm_first"``, ``"not $norm_first"``). Emits
        ``param_changed(node_id, "enabled", value)``; raises ParamError in words."""
        node = self.node(node_id)
        try:
            value = self._check_enabled(node.spec, value)
        except ParamError as exc:
            raise ParamError(f"{node.type} '{node.name}': {exc}") from None
        if node.enabled == value and type(node.enabled) is type(value):
            return
        node.enabled = value
        self._forget_analysis()
        self.events.param_changed.emit(node_id, blocks.ENABLED, value)
        self.events.changed.emit()

    def _check_enabled(self, spec: LayerSpec, value: Any) -> bool | str:
        """An ``enabled`` setting as stored: True, False or a condition's text."""
        value = blocks.parse_enabled(value)
        if value is True:
            return value
        if self.owner is None:
            raise ParamError("only a layer inside a block can be switched off; this one is in the model.")
        if spec.type in blocks.PORT_SPECS:
            raise ParamError("a block's port is always there; it cannot be switched off.")
        return value

    def rename(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        name = self._check_name(name, node_id)
        if node.name == name:
            return
        self._forget_name(node.name)
        node.name = name
        self._ids_by_name[name] = node_id
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

    def to_dict(self, node_ids: Iterable[str] | None = None, with_blocks: bool = True) -> dict[str, Any]:
        """Plain, JSON-ready records; with ``node_ids``, only those nodes and the
        edges between them (what the clipboard copies)."""
        keep = set(self.nodes if node_ids is None else node_ids)
        used = {
            n.params["block"] for n in self.nodes.values() if n.id in keep and n.type == blocks.BLOCK_TYPE
        }
        # Block definitions travel with the nodes (the training thread and the clipboard
        # rebuild graphs from these records): all of them, or those the chosen nodes use.
        if not with_blocks:
            extra = {}
        elif node_ids is None:
            extra = {"blocks": self.blocks.to_records()} if len(self.blocks) else {}
        else:
            extra = {"blocks": self.blocks.to_records(sorted(used))} if used else {}
        return {
            **extra,
            "name": self.name,
            "description": self.description,
            "nodes": [
                {
                    "id": n.id,
                    "type": n.type,
                    "name": n.name,
                    "params": {k: list(v) if isinstance(v, tuple) else v for k, v in n.params.items()},
                    "position": list(n.position),
                    **({} if n.enabled is True else {"enabled": n.enabled}),
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
            with paused_gc():
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
        if data.get("blocks"):
            graph.blocks.load_records(data["blocks"])
        # A new graph has no listeners yet: nodes and edges are stored without
        # events, and loops are looked for once at the end, so loading is linear.
        targets: dict[str, list[str]] = {}
        for record in data["nodes"]:
            graph._place(
                record["type"],
                record["name"],
                tuple(record.get("position", (0.0, 0.0))),
                record["id"],
                record.get("params", {}),
                into_nx=False,
                enabled=record.get("enabled", True),
            )
        graph._nx.add_nodes_from(graph.nodes)
        for record in data["edges"]:
            for end in ("source", "target"):
                if record[end] not in graph.nodes:
                    raise NodeNotFoundError(
                        f"A connection refers to node '{record[end]}', which does not exist."
                    )
            source, target, port = record["source"], record["target"], record.get("port", 0)
            validation.check_connect(graph, source, target, port, loops=False)
            graph._nx.add_edge(source, target, key=port)
            targets.setdefault(source, []).append(target)
        graph._check_no_loops(targets)
        return graph

    def _check_no_loops(self, targets: dict[str, list[str]]) -> None:
        """Raise CycleError naming a loop if the edges (source -> targets) have one."""
        waiting = dict.fromkeys(self.nodes, 0)
        for ends in targets.values():
            for target in ends:
                waiting[target] += 1
        ready = [node_id for node_id, count in waiting.items() if count == 0]
        seen = 0
        while ready:  # Kahn's algorithm: what is never ready lies on or after a loop
            node_id = ready.pop()
            seen += 1
            for target in targets.get(node_id, ()):
                waiting[target] -= 1
                if waiting[target] == 0:
                    ready.append(target)
        if seen == len(self.nodes):
            return
        loop = [u for u, *_ in nx.find_cycle(self._nx)]
        names = " -> ".join(f"'{self.nodes[n].name}'" for n in [*loop, loop[0]])
        src, dst = self.nodes[loop[-1]], self.nodes[loop[0]]  # the edge that closes the loop
        raise CycleError(
            f"Connecting {src.type} '{src.name}' to {dst.type} '{dst.name}' would make a loop "
            f"({names}); a network must flow one way."
        )

    # --- blocks (see nnstudio.core.blocks) -------------------------------------------

    def adopt_blocks(self, library: blocks.BlockLibrary, owner: str | None = None) -> None:
        """Share ``library`` (a body shares its project's); ``owner`` names the definition
        whose body this graph is."""
        self.blocks.changed.disconnect(self._on_blocks_changed)
        self.blocks = library
        self.owner = owner
        library.changed.connect(self._on_blocks_changed)
        for node in self.nodes.values():
            node.blocks = library

    def _on_blocks_changed(self) -> None:
        # An instance's shapes and counts depend on its definition: re-validate.
        self._forget_analysis()
        if self.owner is None:
            self.events.changed.emit()

    def _spec_for(self, type_name: str, params: dict[str, Any]) -> LayerSpec:
        if type_name in blocks.PORT_SPECS:
            if self.owner is None:
                raise blocks.BlockError(f"{type_name} belongs inside a block; open a block to add one.")
            return blocks.PORT_SPECS[type_name]
        if type_name != blocks.BLOCK_TYPE:
            return get_spec(type_name)
        name = params.get("block")
        spec = self.blocks.instance_spec(name)
        if self.owner is not None and self.blocks.contains(name, self.owner):
            raise blocks.BlockError(
                f"Block '{self.owner}' cannot contain block '{name}': "
                + (
                    "a block cannot be inside itself."
                    if name == self.owner
                    else f"'{name}' contains '{self.owner}'."
                )
            )
        return spec

    def _coerce(self, spec: LayerSpec, name: str, value: Any) -> Any:
        """A parameter value checked by its spec; inside a body, '$' expressions are kept
        (checked for syntax here, computed per instance by the analysis)."""
        param = spec.param(name)
        if (
            self.owner is not None
            and expressions.is_expression(value)
            and param.kind in ("int", "float", "bool", "choice")
        ):
            expr = expressions.parse(value)
            if expr.kind not in ("any", param.kind):
                allowed = {"int": " or arithmetic", "bool": " or a condition"}.get(param.kind, "")
                given = "a condition" if expr.kind == "bool" else "arithmetic"
                raise ParamError(f"'{name}' takes a plain reference such as $name{allowed}, not {given}.")
            return expr.text
        return param.coerce(value)

    def _complete(self, spec: LayerSpec, given: dict[str, Any]) -> dict[str, Any]:
        if self.owner is None:  # '$' expressions exist only inside blocks
            return spec.complete_params(given)
        values = spec.complete_params({k: v for k, v in given.items() if not expressions.is_expression(v)})
        for name, value in given.items():
            if expressions.is_expression(value):
                values[name] = self._coerce(spec, name, value)
        return values

    def coerce_enabled(self, node_id: str, value: Any) -> bool | str:
        """``value`` as ``set_enabled`` would store it; raises ParamError in words."""
        node = self.node(node_id)
        try:
            return self._check_enabled(node.spec, value)
        except ParamError as exc:
            raise ParamError(f"{node.type} '{node.name}': {exc}") from None

    def coerce_param(self, node_id: str, name: str, value: Any) -> Any:
        """``value`` as ``set_param`` would store it (a '$' expression inside a block);
        raises ParamError in words."""
        return self._coerce(self.node(node_id).spec, name, value)

    def add_record(self, record: dict[str, Any]) -> str:
        """Add a node from a ``to_dict`` node record (id optional); returns its id."""
        return self._insert(
            record["type"],
            record.get("name"),
            tuple(record.get("position", (0.0, 0.0))),
            record.get("id"),
            dict(record.get("params", {})),
            record.get("enabled", True),
        )

    def free_name(self, base: str) -> str:
        """``base`` if no node has that name, else ``base_2``, ``base_3``..."""
        base = base.strip()[:60] or "node"
        taken = {node.name for node in self.nodes.values()}
        name, index = base, 2
        while name in taken:
            name = f"{base}_{index}"
            index += 1
        return name

    def fill_from_records(
        self, nodes: list[dict[str, Any]], edges: list[dict[str, Any]], check_blocks: bool = True
    ) -> None:
        """Add nodes and edges from records, as loading does (a body's content)."""
        del check_blocks  # definitions are checked together by BlockLibrary.load_records
        for record in nodes:
            self._insert(
                record["type"],
                record["name"],
                tuple(record.get("position", (0.0, 0.0))),
                record["id"],
                record.get("params", {}),
                record.get("enabled", True),
            )
        for record in edges:
            for end in ("source", "target"):
                if record[end] not in self.nodes:
                    raise NodeNotFoundError(
                        f"A connection refers to node '{record[end]}', which does not exist."
                    )
            self.connect(record["source"], record["target"], record.get("port", 0))

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
        digits = node_id[1:]
        if node_id[:1] == "n" and digits.isascii() and digits.isdecimal():
            self._next_id = max(self._next_id, int(digits) + 1)

    def _default_name(self, spec: LayerSpec) -> str:
        stem = spec.type.lower()
        index = self._free_from.get(stem, 1)
        while f"{stem}{index}" in self._ids_by_name:
            index += 1
        self._free_from[stem] = index
        return f"{stem}{index}"

    def _forget_name(self, name: str) -> None:
        del self._ids_by_name[name]
        self._free_from.clear()  # a lower default name may be free again

    def _check_name(self, name: str, node_id: str | None) -> str:
        if not isinstance(name, str):
            raise ParamError(f"A node's name must be text, not {name!r}.")
        if not name.strip():
            raise ParamError("A node's name cannot be empty.")
        name = name.strip()
        # Names appear in tables, messages and generated comments: one printable line.
        if len(name) > _NAME_MAX or not name.isprintable():
            raise ParamError(
                f"A node's name must be one line of at most {_NAME_MAX} printable characters, not {name!r}."
            )
        owner = self._ids_by_name.get(name)
        if owner is not None and owner != node_id:
            raise NameTakenError(f"Another node is already named '{name}'; pick another name.")
        return name
