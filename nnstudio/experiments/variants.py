"""A trial's values applied to a copy of the project: the variant it trains.

The copy goes through the project file's own format, so a variant is exactly
what opening its saved file gives, and the user's graph is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nnstudio.core import project
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel
from nnstudio.experiments.space import Axis


class VariantError(ValueError):
    """The values make a graph that cannot train; the message is the graph's diagnostic."""


def copy_graph(graph: GraphModel) -> GraphModel:
    return project.loads(project.dumps(graph), source=f"'{graph.name}'")


def apply(graph: GraphModel, axes: Sequence[Axis], values: Mapping[str, Any]) -> GraphModel:
    """A copy of ``graph`` with each axis set to ``values[axis.name]``; axes without a
    value keep the graph's. Raises VariantError when a value is refused."""
    variant = copy_graph(graph)
    training = dict(variant.training)
    for axis in axes:
        if axis.name not in values:
            continue
        value = values[axis.name]
        if axis.node_id is None:
            training[axis.param] = value
            continue
        try:
            variant.set_param(axis.node_id, axis.param, value)
        except GraphError as exc:
            raise VariantError(f"{axis.name} = {value!r}: {exc}") from None
    variant.training = training
    return variant


def problems(graph: GraphModel) -> list[str]:
    """The graph's errors as sentences naming their node; empty when it can train."""
    found = []
    for d in graph.validate():
        if d.is_error:
            where = (
                f"{graph.nodes[d.node].type} '{graph.nodes[d.node].name}': " if d.node in graph.nodes else ""
            )
            found.append(f"{where}{d.message}")
    return found


def describe_values(values: Mapping[str, Any]) -> str:
    """'hidden.out_features=32, lr=0.0123' for tables and messages."""
    return ", ".join(f"{k}={_short(v)}" for k, v in values.items())


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
