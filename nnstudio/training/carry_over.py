"""Carrying trained weights over to an edited graph.

After a run the user may change the graph and train on. Every node whose
type, parameters and input shapes are unchanged keeps its weights, matched by
node id (so renaming a layer or moving it on the canvas keeps them too); every
other node starts fresh, and the caller is told which and why. Layers inside a
block instance are matched by instance path (instance id, copy, inner node id:
``n7.1/n3``), so editing one layer of a block, or growing a repeat, keeps the
weights of everything else.

    kept = snapshot(graph, trained_model)          # right after the run, on the CPU
    ...the user edits the graph...
    model = compile_graph(graph)
    result = carry_over(kept, graph, model)        # result.kept, result.fresh, result.describe()

No Qt here: the GUI calls this from its training thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nnstudio.core.layers import Shape, format_shape

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel

_LISTED = 6  # layer names spelled out in a summary before "and N more"


@dataclass(frozen=True)
class NodeSignature:
    """What decides the shape and meaning of a node's weights."""

    type: str
    params: tuple[tuple[str, Any], ...]  # sorted (name, value) pairs
    input_shapes: tuple[Shape | None, ...]  # by input port

    def change_from(self, old: NodeSignature) -> str | None:
        """Why weights made for ``old`` do not fit this node, or None when they do."""
        if self.type != old.type:
            return f"type changed from {old.type} to {self.type}"
        if self.params != old.params:
            before, after = dict(old.params), dict(self.params)
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            return f"{', '.join(changed)} changed"
        if self.input_shapes != old.input_shapes:
            return f"input shape changed from {_shapes(old.input_shapes)} to {_shapes(self.input_shapes)}"
        return None


def signatures(graph: GraphModel) -> dict[str, NodeSignature]:
    """The signature of every node (of every layer inside block instances, by instance
    path), with input shapes from the graph's analysis."""
    return {key: signature for key, (signature, _) in _described(graph).items()}


def _described(graph: GraphModel) -> dict[str, tuple[NodeSignature, str]]:
    """Signature and display name (``layer1.0/conv1`` inside blocks) of every node."""
    from nnstudio.core.blocks import BLOCK_TYPE

    shapes = graph.shapes()
    result: dict[str, tuple[NodeSignature, str]] = {}
    for node_id, node in graph.nodes.items():
        inputs = tuple(_as_shape(shapes.get(edge.source)) for edge in graph.inputs_of(node_id))
        if node.type == BLOCK_TYPE and None not in inputs:
            _describe_instance(graph, node.params, inputs, node_id, node.name, result)
            continue
        params = tuple(sorted((k, _frozen(v)) for k, v in node.params.items()))
        result[node_id] = (NodeSignature(node.type, params, inputs), node.name)
    return result


def _describe_instance(graph, params, inputs, key: str, name: str, result: dict) -> None:
    from nnstudio.core.blocks import BLOCK_TYPE
    from nnstudio.core.errors import GraphError

    library = graph.blocks
    try:
        copies = library.instance_result(params["block"], params, inputs).copies
    except (GraphError, ValueError):
        return  # an invalid instance has no weights to match
    body = library.get(params["block"]).body
    for index, copy in enumerate(copies):
        for inner_id in copy.analysis.in_model:
            inner = body.nodes[inner_id]
            if inner_id not in copy.resolved:
                continue
            inner_inputs = tuple(
                _as_shape(copy.analysis.shapes.get(e.source)) for e in body.inputs_of(inner_id)
            )
            where, label = f"{key}.{index}/{inner_id}", f"{name}.{index}/{inner.name}"
            if inner.type == BLOCK_TYPE:
                _describe_instance(graph, copy.resolved[inner_id], inner_inputs, where, label, result)
                continue
            values = tuple(sorted((k, _frozen(v)) for k, v in copy.resolved[inner_id].items()))
            result[where] = (NodeSignature(inner.type, values, inner_inputs), label)


@dataclass(frozen=True)
class WeightSnapshot:
    """The trained weights of each node that has any, with the signatures they were made for."""

    signatures: Mapping[str, NodeSignature]
    weights: Mapping[str, Mapping[str, torch.Tensor]]  # node id -> its submodule's state, on the CPU
    names: Mapping[str, str]  # node id -> the node's name then

    def __len__(self) -> int:
        return len(self.weights)


def snapshot(graph: GraphModel, model: nn.Module) -> WeightSnapshot:
    """Copy ``model``'s weights per node (``model`` was compiled from ``graph``)."""
    weights = {}
    for node_id, module in _node_modules(model).items():
        state = module.state_dict()
        if state:
            weights[node_id] = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
    described = _described(graph)
    return WeightSnapshot(
        signatures={key: signature for key, (signature, _) in described.items()},
        weights=weights,
        names={key: name for key, (_, name) in described.items()},
    )


@dataclass(frozen=True)
class CarryOver:
    """Which nodes kept their weights and which start fresh, with the reason."""

    kept: tuple[str, ...] = ()  # node ids
    fresh: Mapping[str, str] = field(default_factory=dict)  # node id -> why it starts fresh
    names: Mapping[str, str] = field(default_factory=dict)  # node id -> current name

    @property
    def everything_kept(self) -> bool:
        return not self.fresh

    def describe(self) -> str:
        """One or two sentences for the training panel."""
        if not self.kept and not self.fresh:
            return "The network has no weights to carry over."
        parts = []
        if self.kept:
            what = "all " if not self.fresh else ""
            parts.append(f"Kept the trained weights of {what}{_count(self.kept)}: {self._list(self.kept)}.")
        else:
            parts.append("No layer kept its trained weights.")
        if self.fresh:
            fresh = [f"{self.names.get(n, n)} ({why})" for n, why in self.fresh.items()]
            more = f" and {len(fresh) - _LISTED} more" if len(fresh) > _LISTED else ""
            parts.append(f"Starting fresh: {', '.join(fresh[:_LISTED])}{more}.")
        return " ".join(parts)

    def _list(self, node_ids: tuple[str, ...]) -> str:
        names = [self.names.get(n, n) for n in node_ids]
        more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
        return ", ".join(names[:_LISTED]) + more


def carry_over(kept: WeightSnapshot, graph: GraphModel, model: nn.Module) -> CarryOver:
    """Load into ``model`` (freshly compiled from ``graph``) the weights of every node
    whose signature is unchanged since ``kept`` was taken; the rest stay as initialised."""
    described = _described(graph)
    now = {key: signature for key, (signature, _) in described.items()}
    names = {key: name for key, (_, name) in described.items()}
    kept_ids: list[str] = []
    fresh: dict[str, str] = {}
    for node_id, module in _node_modules(model).items():
        if not module.state_dict():
            continue  # nothing to carry: ReLU, Flatten, pooling
        reason = _why_fresh(kept, node_id, now.get(node_id))
        if reason is None:
            try:
                module.load_state_dict(kept.weights[node_id])
            except RuntimeError as exc:  # a catalog change between versions, say
                reason = f"its weights no longer fit ({str(exc).splitlines()[0]})"
        if node_id in graph.nodes and graph.nodes[node_id].spec.role == "input":
            continue  # an Input's fitted statistics come along quietly: they are not a layer
        if reason is None:
            kept_ids.append(node_id)
        else:
            fresh[node_id] = reason
    return CarryOver(tuple(kept_ids), fresh, names)


def _why_fresh(kept: WeightSnapshot, node_id: str, signature: NodeSignature | None) -> str | None:
    if node_id not in kept.signatures:
        return "new layer"
    if node_id not in kept.weights:
        return "had no trained weights"
    if signature is None:
        return "not in the graph"
    return signature.change_from(kept.signatures[node_id])


def _node_modules(model: nn.Module) -> dict[str, nn.Module]:
    code = getattr(model, "nnstudio_code", None)
    if code is None:
        raise TypeError("Weights can be carried over only between models nnstudio compiled from a graph.")
    modules: dict[str, nn.Module] = {}
    for node_id, attr in code.attr_of.items():
        module = getattr(model, attr)
        if node_id in code.class_of:
            _block_modules(code, module, code.class_of[node_id], node_id, modules)
        else:
            modules[node_id] = module
    return modules


def _block_modules(code, module: nn.Module, classes: tuple[str, ...], key: str, out: dict) -> None:
    """The layers inside a block instance, keyed by instance path (see ``_described``)."""
    for index, class_name in enumerate(classes):
        copy = module[index] if len(classes) > 1 else module
        block = code.block_classes[class_name]
        for inner_id, attr in block.attr_of.items():
            child = getattr(copy, attr)
            where = f"{key}.{index}/{inner_id}"
            if inner_id in block.class_of:
                _block_modules(code, child, block.class_of[inner_id], where, out)
            else:
                out[where] = child


def _as_shape(shape: Any) -> Shape | None:
    return None if shape is None else tuple(int(d) for d in shape)


def _frozen(value: Any) -> Any:
    """Parameter values made comparable and hashable: lists become tuples."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _shapes(shapes: tuple[Shape | None, ...]) -> str:
    return ", ".join(format_shape(s) for s in shapes)


def _count(node_ids: tuple[str, ...]) -> str:
    return f"{len(node_ids)} layer{'s' if len(node_ids) != 1 else ''}"
