"""What is wrong with a graph, and the shape of every tensor in it.

networkx answers the topology questions (loops, reachability); the catalog's
shape rules run in topological order. ``check_connect`` raises a typed error
for an edit that cannot be valid; ``can_connect`` answers yes or no for drag
feedback; ``analyze`` never raises and returns diagnostics a user can act on.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from nnstudio.core.errors import (
    CycleError,
    DuplicateEdgeError,
    GraphError,
    NodeNotFoundError,
    PortError,
    ShapeError,
)
from nnstudio.core.layers import LayerFigures, Shape, format_shape, layer_figures
from nnstudio.core.tasks import CLASSIFICATION, RECONSTRUCTION, Task, task_of

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel, Node

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class InsertLayer:
    """A suggested fix: put a new ``layer`` on the wire from ``source`` into ``target``."""

    label: str  # what a button says: "Insert a Flatten before 'fc1'"
    source: str
    target: str
    port: int
    layer: str
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class SetParam:
    """A suggested fix: give parameter ``name`` of ``node`` the value ``value``."""

    label: str
    node: str
    name: str
    value: Any


Fix = InsertLayer | SetParam


@dataclass(frozen=True)
class Diagnostic:
    """One problem: on ``node`` (an id, or None for the whole graph), maybe with a fix.

    A fix is plain data; the editor applies it as one undoable edit.
    """

    node: str | None
    severity: str  # ERROR or WARNING
    message: str
    fix: Fix | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


@dataclass
class Analysis:
    """The result of ``analyze``: diagnostics, shapes and per-node figures."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    figures: dict[str, LayerFigures] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological order of acyclic nodes
    # Nodes that lead to an Output, i.e. what the compiled model contains (every
    # node while the graph has no Output yet).
    in_model: set[str] = field(default_factory=set)
    # Inside a block: nodes switched off for the instance analysed (no figures; they pass
    # their input through, see core.blocks).
    bypassed: set[str] = field(default_factory=set)

    def model_figures(self) -> list[LayerFigures]:
        """Figures of the layers the compiled model will contain (for totals)."""
        return [f for n, f in self.figures.items() if n in self.in_model]

    def model_parameters(self) -> int:
        return sum(f.parameters for f in self.model_figures())

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def for_node(self, node_id: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.node == node_id]


def _label(node: Node) -> str:
    return f"{node.type} '{node.name}'"


# --- connecting ----------------------------------------------------------------------------


def check_connect(graph: GraphModel, source: str, target: str, port: int, *, loops: bool = True) -> None:
    """Raise the typed error that refuses this connection, or return None.

    ``loops=False`` skips the loop search, for a caller that checks the whole
    graph once instead (loading a file: one search per edge made it quadratic)."""
    src, dst = graph.node(source), graph.node(target)
    if source == target:
        raise CycleError(f"{_label(src)} cannot be connected to itself.")
    if not src.spec.has_output:
        raise PortError(f"{_label(src)} ends the network; it has no output to connect from.")
    max_inputs = dst.spec.max_inputs
    if not isinstance(port, int) or isinstance(port, bool):
        raise PortError(f"Input {port!r} of {_label(dst)} does not exist; inputs are numbered 0, 1, ...")
    if max_inputs == 0:
        raise PortError(f"{_label(dst)} is where data enters; it takes no inputs.")
    if port < 0 or (max_inputs is not None and port >= max_inputs):
        raise PortError(
            f"{_label(dst)} has {max_inputs} input{'s' if max_inputs != 1 else ''}; "
            f"input {port} does not exist."
        )
    nxg = graph.nx_graph
    if nxg.has_edge(source, target, key=port):
        raise DuplicateEdgeError(f"{_label(src)} is already connected to {_label(dst)}.")
    for other, keys in nxg.pred[target].items():  # {source: {port: data}}; in_edges is slow
        if port in keys:
            occupant = graph.node(other)
            where = f"input {port} of {_label(dst)}" if max_inputs != 1 else f"the input of {_label(dst)}"
            raise PortError(
                f"{where[0].upper()}{where[1:]} is already fed by {_label(occupant)}; disconnect it first."
            )
    if not loops:
        return
    try:
        path = nx.shortest_path(nxg, target, source)
    except nx.NetworkXNoPath:
        return
    loop = " -> ".join(f"'{graph.node(n).name}'" for n in [*path, target])
    raise CycleError(
        f"Connecting {_label(src)} to {_label(dst)} would make a loop ({loop}); a network must flow one way."
    )


def can_connect(graph: GraphModel, source: str, target: str, port: int) -> bool:
    """Whether ``check_connect`` would accept the connection (for drag feedback)."""
    try:
        check_connect(graph, source, target, port)
    except GraphError:
        return False
    return True


def first_free_port(graph: GraphModel, target: str) -> int:
    """The lowest unwired input of ``target``; raises PortError when all are wired."""
    node = graph.node(target)
    used = {key for _, _, key in graph.nx_graph.in_edges(target, keys=True)}
    limit = node.spec.max_inputs
    port = 0
    while port in used:
        port += 1
    if limit is not None and port >= limit:
        if limit == 0:
            raise PortError(f"{_label(node)} is where data enters; it takes no inputs.")
        raise PortError(f"Every input of {_label(node)} is already connected; disconnect one first.")
    return port


# --- analysis ------------------------------------------------------------------------------

# The analysis runs after every edit, on graphs of a thousand nodes, so it reads
# the topology once into plain dicts and walks those: networkx's views are
# convenient for one question but slow when asked a thousand times.


@dataclass
class _Wiring:
    """The edges of a graph as plain lists: what feeds each node, and where each goes."""

    feeds: dict[str, list[tuple[int, str]]]  # target -> [(port, source)], by port
    targets: dict[str, list[str]]  # source -> targets, one entry per edge

    @classmethod
    def of(cls, graph: GraphModel) -> _Wiring:
        feeds: dict[str, list[tuple[int, str]]] = {node_id: [] for node_id in graph.nodes}
        targets: dict[str, list[str]] = {node_id: [] for node_id in graph.nodes}
        for source, target, port in graph.nx_graph.edges(keys=True):
            feeds[target].append((port, source))
            targets[source].append(target)
        for edges in feeds.values():
            if len(edges) > 1:
                edges.sort()
        return cls(feeds, targets)

    def sources(self, node_id: str) -> list[str]:
        return [source for _, source in self.feeds[node_id]]


def analyze(graph: GraphModel) -> Analysis:
    """Diagnostics, shapes and figures of the whole graph. Never raises."""
    if graph.owner is not None:  # a block's body: shapes come from an instance
        from nnstudio.core.blocks import analyze_in_context

        return analyze_in_context(graph)
    result = Analysis()
    report = result.diagnostics.append
    nodes = graph.nodes
    wiring = _Wiring.of(graph)
    inputs = [n.id for n in nodes.values() if n.spec.role == "input"]
    outputs = [n.id for n in nodes.values() if n.spec.role == "output"]

    if nodes and not inputs:
        report(Diagnostic(None, ERROR, "The graph has no Input node; add one to say what data goes in."))
    if nodes and not outputs:
        report(
            Diagnostic(
                None,
                ERROR,
                "The graph has no Output node; add one after the layer whose result the model should return.",
            )
        )

    result.order = _topological_order(nodes, wiring)
    if len(result.order) < len(nodes):
        cyclic = _report_cycles(graph, set(nodes) - set(result.order), report)
        result.order = _topological_order(nodes, wiring, skip=cyclic)
    wired = _report_ports(graph, wiring, report)
    result.in_model = _report_unreachable(graph, wiring, inputs, outputs, wired, report)
    _report_dtypes(graph, wiring, report)

    shapes = result.shapes
    for node_id in result.order:
        if node_id not in wired:
            continue
        in_shapes = [shapes.get(source) for _, source in wiring.feeds[node_id]]
        if None in in_shapes:
            continue  # the problem upstream has already been reported
        node = nodes[node_id]
        try:
            figures = layer_figures(node.spec, node.params, in_shapes)
        except ShapeError as exc:
            located = getattr(exc, "located", None)  # a problem inside a block names its path
            report(Diagnostic(node_id, ERROR, f"{_label(node)}: {located(node.name) if located else exc}"))
            continue
        except (ArithmeticError, IndexError, ValueError, TypeError) as exc:
            report(Diagnostic(node_id, ERROR, f"{_label(node)}: cannot work out its output shape ({exc})."))
            continue
        shapes[node_id] = figures.output_shape
        result.figures[node_id] = figures
    task = task_of(graph.training)
    if task is not None and result.ok:  # shapes are only worth comparing once the graph is sound
        _report_task(graph, wiring, task, shapes, report)
    return result


def _topological_order(nodes, wiring: _Wiring, skip: AbstractSet[str] = frozenset()) -> list[str]:
    """Kahn's algorithm, ready nodes taken in insertion order so the result is stable.

    Nodes on a loop, and everything downstream of one, never become ready and are
    left out; ``skip`` removes nodes (the loops) so that what lies after them is ordered.
    """
    missing = {
        node_id: sum(source not in skip for _, source in wiring.feeds[node_id])
        for node_id in nodes
        if node_id not in skip
    }
    ready = deque(node_id for node_id, count in missing.items() if count == 0)
    order = []
    while ready:
        node_id = ready.popleft()
        order.append(node_id)
        for target in wiring.targets[node_id]:
            if target in skip:
                continue
            missing[target] -= 1
            if missing[target] == 0:
                ready.append(target)
    return order


def _report_cycles(graph: GraphModel, suspects: set[str], report) -> set[str]:
    """Report every loop among ``suspects``, naming its nodes; return the ids on loops.

    ``connect`` refuses loops, so this only sees graphs edited behind its back.
    """
    nxg = graph.nx_graph.subgraph(suspects)
    cyclic: set[str] = set()
    for component in nx.strongly_connected_components(nxg):
        member = next(iter(component))
        if len(component) == 1 and not nxg.has_edge(member, member):
            continue  # downstream of a loop, not on one
        cyclic |= component
        loop = [u for u, *_ in nx.find_cycle(nxg.subgraph(component), source=member)]
        names = " -> ".join(f"'{graph.nodes[n].name}'" for n in [*loop, loop[0]])
        message = (
            f"These layers form a loop ({names}); a network must flow one way. "
            "Remove one of these connections."
        )
        for node_id in loop:
            report(Diagnostic(node_id, ERROR, message))
    return cyclic


def _inputs(count: int | None) -> str:
    return f"{count} input" + ("" if count == 1 else "s")


def _report_ports(graph: GraphModel, wiring: _Wiring, report) -> set[str]:
    """Report missing, extra and doubled inputs; return ids whose inputs are complete."""
    complete: set[str] = set()
    for node in graph.nodes.values():
        spec = node.spec
        ports = [port for port, _ in wiring.feeds[node.id]]
        ok = True
        if spec.max_inputs == 0 and ports:
            report(
                Diagnostic(
                    node.id, ERROR, f"{_label(node)} is where data enters; remove the connections into it."
                )
            )
            ok = False
        elif spec.max_inputs is not None and any(p >= spec.max_inputs for p in ports):
            report(
                Diagnostic(
                    node.id,
                    ERROR,
                    f"{_label(node)} takes {_inputs(spec.max_inputs)} but "
                    f"{len(ports)} are connected; remove the extra ones.",
                )
            )
            ok = False
        doubled = sorted({p for p in ports if ports.count(p) > 1})
        if doubled:
            report(
                Diagnostic(
                    node.id,
                    ERROR,
                    f"Input {doubled[0]} of {_label(node)} has more than one connection; keep one.",
                )
            )
            ok = False
        if len(ports) < spec.min_inputs:
            if spec.min_inputs == 1:
                message = (
                    f"{_label(node)} has no input, so no data reaches it; connect a layer "
                    "into it or delete it."
                )
            else:
                message = (
                    f"{_label(node)} needs at least {_inputs(spec.min_inputs)} but has "
                    f"{len(ports)}; connect another layer into it."
                )
            report(Diagnostic(node.id, ERROR, message))
            ok = False
        if not spec.has_output and wiring.targets[node.id]:
            report(
                Diagnostic(
                    node.id,
                    ERROR,
                    f"{_label(node)} ends the network; it cannot feed "
                    "other layers. Remove its outgoing connections.",
                )
            )
        if ok:
            complete.add(node.id)
    return complete


def _reach(starts: list[str], step: Callable[[str], Iterable[str]]) -> set[str]:
    """Every node reachable from ``starts`` (included) by following ``step``."""
    seen = set(starts)
    todo = list(starts)
    while todo:
        for neighbour in step(todo.pop()):
            if neighbour not in seen:
                seen.add(neighbour)
                todo.append(neighbour)
    return seen


def _report_unreachable(
    graph: GraphModel, wiring: _Wiring, inputs, outputs, wired: set[str], report
) -> set[str]:
    """Report nodes no Input feeds and nodes that reach no Output; return the latter's complement."""
    fed = _reach(inputs, wiring.targets.__getitem__)
    for node_id in graph.nodes:
        if node_id in wired and node_id not in fed:
            report(
                Diagnostic(
                    node_id,
                    ERROR,
                    f"{_label(graph.nodes[node_id])} is not connected to "
                    "any Input; connect its branch to the network's input.",
                )
            )
    if not outputs:
        return set(graph.nodes)
    useful = _reach(outputs, wiring.sources)
    for node_id, node in graph.nodes.items():
        if node_id not in useful:
            report(
                Diagnostic(
                    node_id,
                    WARNING,
                    f"{_label(node)} does not lead to any Output, so it "
                    "is not part of the model; connect it onward or "
                    "delete it.",
                )
            )
    return useful


def _report_dtypes(graph: GraphModel, wiring: _Wiring, report) -> None:
    """Token ids (int64) may only flow from an Input straight into a layer that takes them
    (the catalog says which: an Embedding)."""
    nodes = graph.nodes
    for target, feeds in wiring.feeds.items():
        dst = nodes[target]
        for _, source in feeds:
            src = nodes[source]
            ids_in = src.spec.role == "input" and src.params.get("dtype") == "int64"
            if dst.spec.takes_token_ids and not ids_in:
                report(
                    Diagnostic(
                        target,
                        ERROR,
                        f"{_label(dst)} looks up token ids; connect it "
                        "directly to an Input whose dtype is int64.",
                    )
                )
            elif ids_in and not dst.spec.takes_token_ids and dst.spec.role != "output":
                report(
                    Diagnostic(
                        target,
                        ERROR,
                        f"{_label(dst)} receives token ids from "
                        f"{_label(src)}; put an Embedding between them or "
                        "make the Input float32.",
                    )
                )


# --- the task: what the data set asks of the network's two ends -----------------------------

_RECURRENT = ("LSTM", "GRU", "RNN")


def _report_task(graph: GraphModel, wiring: _Wiring, task: Task, shapes: dict[str, Shape], report) -> None:
    """Check the Input and the Output against the project's data set, with advice and a fix."""
    nodes = graph.nodes
    inputs = [n for n in nodes.values() if n.spec.role == "input"]
    outputs = [n for n in nodes.values() if n.spec.role == "output"]
    if len(inputs) != 1 or len(outputs) != 1:
        return  # several ends: which one the data feeds is the trainer's question
    source, target = inputs[0], outputs[0]
    if not _report_input(task, source, report) or target.id not in shapes:
        return
    if task.kind == RECONSTRUCTION:
        _report_reconstruction(graph, wiring, task, source, target, shapes, report)
    elif task.kind == CLASSIFICATION and not task.accepts_output(shapes[target.id]):
        _report_scores(graph, wiring, task, target, shapes, report)


def _report_input(task: Task, node: Node, report) -> bool:
    """Whether the Input can take the data set's samples; reports why not."""
    data = task.data
    if data is None:
        return True
    shape = tuple(node.params["shape"])
    if data.sample_shape is not None:
        if math.prod(shape) == math.prod(data.sample_shape):
            return True  # the trainer rearranges the same values (64 pixels into 1x8x8)
        wanted = format_shape(data.sample_shape)
        report(
            Diagnostic(
                node.id,
                ERROR,
                f"{_label(node)} takes {format_shape(shape)}, but the {task.dataset} data set "
                f"has samples of shape {wanted}: change the Input's shape to {wanted}.",
                SetParam(f"Set the shape of '{node.name}' to {wanted}", node.id, "shape", data.sample_shape),
            )
        )
        return False
    if not data.min_rank <= len(shape) <= data.max_rank:
        what = {2: "sequences (length, features)", 3: "images (channels, height, width)"}
        report(
            Diagnostic(
                node.id,
                ERROR,
                f"{_label(node)} takes {format_shape(shape)}, but the {task.dataset} data set "
                f"makes {what.get(data.min_rank, f'samples of {data.min_rank} dimensions')}: "
                "give the Input a shape like that.",
            )
        )
        return False
    return True


def _chain_upstream(graph: GraphModel, wiring: _Wiring, node_id: str):
    """(node, its input's source) pairs walking up single-input layers from ``node_id``'s feed."""
    while len(wiring.feeds[node_id]) == 1:
        _, source = wiring.feeds[node_id][0]
        yield node_id, source
        node_id = source


def _report_scores(
    graph: GraphModel, wiring: _Wiring, task: Task, output: Node, shapes: dict[str, Shape], report
) -> None:
    """A classifier's Output must give one score per class for each sample."""
    shape = shapes[output.id]
    low, high = task.data.classes
    problem = (
        f"'{output.name}' gives {format_shape(shape)} per sample, but {task.title} needs "
        f"{task.wanted_scores()}"
    )
    if len(shape) != 1:
        advice, fix = _flatten_advice(graph, wiring, output, shapes)
        report(Diagnostic(output.id, ERROR, f"{problem}: {advice}.", fix))
        return
    wanted = min(max(shape[0], low), high)
    for _, source in _chain_upstream(graph, wiring, output.id):
        node = graph.nodes[source]
        if node.type == "Linear":
            report(
                Diagnostic(
                    output.id,
                    ERROR,
                    f"{problem}: give '{node.name}' {wanted} outputs (its out_features).",
                    SetParam(
                        f"Set out_features of '{node.name}' to {wanted}", source, "out_features", wanted
                    ),
                )
            )
            return
        if shapes.get(source) != shape:
            break  # this layer makes the shape; a Linear above it would not change it
    report(
        Diagnostic(
            output.id,
            ERROR,
            f"{problem}: end the network with a Linear layer of {wanted} outputs before '{output.name}'.",
        )
    )


def _flatten_advice(
    graph: GraphModel, wiring: _Wiring, output: Node, shapes: dict[str, Shape]
) -> tuple[str, Fix | None]:
    """Where many values per sample should become one vector: before the first Linear that
    receives them, or by making a recurrent layer return only its last step."""
    first_dense: tuple[str, str] | None = None
    for node_id, source in _chain_upstream(graph, wiring, output.id):
        node, feeder = graph.nodes[node_id], graph.nodes[source]
        if len(shapes.get(source, ())) == 1:
            break
        if feeder.type in _RECURRENT and feeder.params.get("return_sequences"):
            return (
                f"'{feeder.name}' returns every step; turn its return_sequences off so it "
                "gives only the last one",
                SetParam(f"Turn off return_sequences of '{feeder.name}'", source, "return_sequences", False),
            )
        if node.type == "Linear":
            first_dense = (source, node_id)
    if first_dense is None:
        return (f"add a Flatten (or a global pooling) and a Linear layer before '{output.name}'", None)
    source, dense = first_dense
    name = graph.nodes[dense].name
    return (
        f"add a Flatten before '{name}'",
        InsertLayer(f"Insert a Flatten before '{name}'", source, dense, 0, "Flatten"),
    )


def _report_reconstruction(
    graph: GraphModel,
    wiring: _Wiring,
    task: Task,
    source: Node,
    output: Node,
    shapes: dict[str, Shape],
    report,
) -> None:
    """An autoencoder's Output must have its Input's shape."""
    wanted, shape = tuple(source.params["shape"]), shapes[output.id]
    if shape == wanted:
        return
    problem = (
        f"'{output.name}' gives {format_shape(shape)} per sample, but reconstructing the input "
        f"needs the Input's shape {format_shape(wanted)}"
    )
    feeds = wiring.feeds[output.id]
    if math.prod(shape) == math.prod(wanted) and feeds:
        report(
            Diagnostic(
                output.id,
                ERROR,
                f"{problem}: add a Reshape to {format_shape(wanted)} before '{output.name}'.",
                InsertLayer(
                    f"Insert a Reshape to {format_shape(wanted)} before '{output.name}'",
                    feeds[0][1],
                    output.id,
                    0,
                    "Reshape",
                    (("shape", wanted),),
                ),
            )
        )
        return
    report(
        Diagnostic(
            output.id,
            ERROR,
            f"{problem}: make the last layers give "
            f"{math.prod(wanted)} values per sample, shaped "
            f"{format_shape(wanted)}.",
        )
    )


def require_valid(graph: GraphModel) -> Analysis:
    """The analysis of a graph that must compile; raises GraphError listing the errors."""
    analysis = graph.analyze()
    errors = [d.message for d in analysis.diagnostics if d.is_error]
    if errors:
        raise GraphError("The graph cannot be compiled yet:\n- " + "\n- ".join(errors))
    if not graph.nodes:
        raise NodeNotFoundError("The graph is empty.")
    return analysis
