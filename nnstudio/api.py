"""``nnstudio.Graph``: the core graph plus the actions that need torch.

The core must not import the compiler or the trainer, so the methods that
reach them live here and import them lazily: ``import nnstudio`` stays free
of torch until something is compiled or trained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnstudio.core.graph import GraphModel

if TYPE_CHECKING:
    import torch


class Graph(GraphModel):
    """A network design: edit it, validate it, compile it, train it."""

    def to_python(self, class_name: str | None = None) -> str:
        """Standalone PyTorch source for this graph (what ``export`` writes)."""
        from nnstudio.compiler.codegen import generate

        return generate(self, class_name=class_name).src

    def compile(self, **options: Any) -> torch.nn.Module:
        """Build the ``nn.Module`` by executing the generated source."""
        from nnstudio.compiler.codegen import compile_graph

        return compile_graph(self, **options)


def from_torch(module: torch.nn.Module, example_inputs: Any, name: str | None = None, verify: bool = True):
    """Import a PyTorch ``nn.Module`` as an editable :class:`Graph` with its weights.

    ``example_inputs`` is one batched tensor per ``forward`` argument. Returns
    an ``ImportResult`` with ``graph``, ``weights`` (a state dict the compiled
    graph loads strictly) and ``report`` (sentences, ending with the check that
    the compiled graph computes the module's outputs). See
    ``nnstudio.compiler.importer``.
    """
    from nnstudio.compiler.importer import from_torch as _from_torch

    return _from_torch(module, example_inputs, name=name, verify=verify)
