"""The layers inside block instances, addressed by instance path.

A block instance stands for one or more copies of its definition's body, each
with its own weights. A layer inside is named by the path diagnostics use:
the instance's name, the copy's index when the instance repeats, then the
inner node's name (``layer2.0/conv1``; ``stage1/conv1`` without a repeat;
``enc.1/inner/conv1`` for a block inside a block).

``instance_rows`` lists what an instance holds, copy by copy, with the shapes,
parameter and multiply-add counts of that instance (the summary's tree, the
live views' layer pickers). ``copy_prefixes`` turns the chain of instances a
user opened on the canvas into the paths of the copies that body stands for.
Pure Python, like the rest of core.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nnstudio.core.blocks import BLOCK_TYPE, PORT_IN, PORT_OUT, BlockLibrary, type_label
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel, Node
from nnstudio.core.layers import Shape


@dataclass(frozen=True)
class InnerRow:
    """A layer inside an instance, or (``copy`` set) one copy of a repeated instance."""

    path: str  # "layer2.0/conv1"; a copy's row is "layer2.0"
    name: str  # what a table shows: "conv1", or "layer2.0" for a copy
    type: str  # "Conv2d"; a copy or an inner instance shows its block ("BasicBlock ×2")
    node_id: str  # the node in its definition's body ("" for a copy's row)
    shape: Shape | None
    parameters: int
    macs: int
    children: tuple[InnerRow, ...] = ()
    copy: int | None = None  # the copy's index, for the rows of a repeat's copies


def join(prefix: str, name: str) -> str:
    """The path of ``name`` inside the copy (or instance) at ``prefix``."""
    return f"{prefix}/{name}" if prefix else name


def copy_paths(path: str, repeat: int) -> list[str]:
    """An instance's copies: ``["layer2.0", "layer2.1"]``, or ``["layer2"]`` without a repeat."""
    return [f"{path}.{i}" for i in range(repeat)] if repeat > 1 else [path]


def is_inside(path: str, prefix: str) -> bool:
    """Whether ``path`` lies inside the instance or copy at ``prefix`` (not ``prefix`` itself)."""
    return path.startswith(prefix + "/") or path.startswith(prefix + ".")


def instance_rows(
    library: BlockLibrary, node: Node, in_shapes: Sequence[Shape], path: str
) -> tuple[InnerRow, ...]:
    """What instance ``node`` (at ``path``, given its input shapes) holds: a row per copy when it
    repeats, each holding the copy's layers; the layers directly otherwise. Empty when the
    instance cannot be analysed (its diagnostics say why)."""
    try:
        copies = library.instance_result(node.params["block"], dict(node.params), in_shapes).copies
    except (GraphError, KeyError):
        return ()
    definition = library.get(node.params["block"])
    body = definition.body
    result = []
    for prefix, copy in zip(copy_paths(path, len(copies)), copies, strict=True):
        analysis = copy.analysis
        layers = []
        for node_id in analysis.order:
            inner = body.nodes.get(node_id)
            if inner is None or inner.type in (PORT_IN, PORT_OUT) or node_id not in analysis.in_model:
                continue
            figures = analysis.figures.get(node_id)
            inner_path = join(prefix, inner.name)
            children: tuple[InnerRow, ...] = ()
            type_text = inner.type
            if inner.type == BLOCK_TYPE:
                resolved = Node(
                    inner.id, inner.type, inner.name, dict(copy.resolved.get(node_id, inner.params))
                )
                shapes = [analysis.shapes.get(e.source) for e in body.inputs_of(node_id)]
                if None not in shapes:
                    children = instance_rows(library, resolved, shapes, inner_path)
                type_text = type_label(resolved)
            layers.append(
                InnerRow(
                    inner_path,
                    inner.name,
                    type_text,
                    node_id,
                    analysis.shapes.get(node_id),
                    figures.parameters if figures else 0,
                    figures.macs if figures else 0,
                    children,
                )
            )
        if len(copies) == 1:
            return tuple(layers)
        result.append(
            InnerRow(
                prefix,
                prefix,
                definition.name,
                "",
                copy.output_shape,
                copy.parameters,
                copy.macs,
                tuple(layers),
                copy=len(result),
            )
        )
    return tuple(result)


def model_rows(graph: GraphModel) -> dict[str, tuple[InnerRow, ...]]:
    """The rows inside every top-level instance of ``graph``, by the instance's node id."""
    analysis = graph.analyze()
    rows = {}
    for node in graph.nodes.values():
        if node.type != BLOCK_TYPE:
            continue
        shapes = [analysis.shapes.get(e.source) for e in graph.inputs_of(node.id)]
        if None not in shapes:
            rows[node.id] = instance_rows(graph.blocks, node, shapes, node.name)
    return rows


def walk(rows: Sequence[InnerRow]) -> Iterator[InnerRow]:
    """Every row, depth first, in forward order."""
    for row in rows:
        yield row
        yield from walk(row.children)


def layers_by_path(graph: GraphModel) -> dict[str, InnerRow]:
    """Every layer inside every instance of ``graph`` (copies' rows left out), by path."""
    return {r.path: r for rows in model_rows(graph).values() for r in walk(rows) if r.copy is None}


def copy_prefixes(root: GraphModel, names: Sequence[str]) -> list[str]:
    """The copies a body opened through the instances ``names`` (outermost first) stands for:
    ``["layer2.0", "layer2.1"]`` for a repeated instance, every combination for nested ones.
    Empty at the top level or when a name is no instance (any more)."""
    if not names:
        return []
    graph, prefixes = root, [""]
    for name in names:
        try:
            node = graph.node_by_name(name)
        except GraphError:
            return []
        if node.type != BLOCK_TYPE or node.params.get("block") not in graph.blocks:
            return []
        repeat = int(node.params.get("repeat", 1))
        prefixes = [p for prefix in prefixes for p in copy_paths(join(prefix, name), repeat)]
        graph = graph.blocks.get(node.params["block"]).body
    return prefixes


def locate(root: GraphModel, path: str) -> tuple[list[str], str | None]:
    """Where the layer at ``path`` is drawn: the instances to open, outermost first (node ids,
    each in the body the one before opens), and the layer's node id in the innermost graph;
    None for the node when ``path`` names an instance or a copy, or nothing there is."""
    graph, rest, opened = root, path, []
    while True:
        node = next((n for n in graph.nodes.values() if n.name == rest), None)
        if node is not None:
            return opened, node.id
        holder = next(
            (n for n in graph.nodes.values() if n.type == BLOCK_TYPE and is_inside(rest, n.name)), None
        )
        if holder is None or holder.params.get("block") not in graph.blocks:
            return opened, None
        opened.append(holder.id)
        rest = rest[len(holder.name) :]
        rest = rest[1:].partition("/")[2] if rest.startswith(".") else rest[1:]  # past ".1/" or "/"
        if not rest:
            return opened, None
        graph = graph.blocks.get(holder.params["block"]).body
