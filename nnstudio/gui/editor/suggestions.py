"""Which layers can follow a node: the ones whose shape rule accepts its output."""

from __future__ import annotations

from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel
from nnstudio.core.layers import CATALOG, LayerSpec


def _accepts(spec: LayerSpec, shape: tuple[int, ...]) -> bool:
    if spec.max_inputs == 0:
        return False
    try:
        spec.infer(spec.defaults(), [shape] * max(1, spec.min_inputs))
    except (GraphError, ArithmeticError, IndexError, ValueError, TypeError, KeyError):
        return False
    return True


def layers_accepting(graph: GraphModel, source: str) -> list[str]:
    """Layer types that can take ``source``'s output with their default parameters,
    in catalog order; empty when the source's shape is not known."""
    shape = graph.analyze().shapes.get(source)
    if shape is None:
        return []
    node = graph.nodes[source]
    token_ids = node.spec.role == "input" and node.params.get("dtype") == "int64"
    fits = []
    for spec in CATALOG.values():
        if token_ids and not spec.takes_token_ids and spec.role != "output":
            continue  # token ids must go through an Embedding (or a layer like it) first
        if spec.takes_token_ids and not token_ids:
            continue
        if spec.takes_token_ids or _accepts(spec, shape):
            fits.append(spec.type)
    return fits
