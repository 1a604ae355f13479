"""nnstudio: design neural networks visually, watch them train, export PyTorch code.

Importing this package never imports torch or Qt, and imports the core itself
only when one of its names is first used: the ``nnstudio`` command starts with
almost nothing loaded, so a Ctrl-C in its first moments is caught as any other
(see ``nnstudio.cli``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use (PEP 562).
_LAZY = {
    "Graph": "nnstudio.api",
    "FormatError": "nnstudio.core.errors",
    "GraphError": "nnstudio.core.errors",
    "CATALOG": "nnstudio.core.layers",
    "Diagnostic": "nnstudio.core.validation",
    "from_torch": "nnstudio.api",  # torch itself loads only when it is called
}

if TYPE_CHECKING:
    from nnstudio.api import Graph, from_torch
    from nnstudio.core.errors import FormatError, GraphError
    from nnstudio.core.layers import CATALOG
    from nnstudio.core.validation import Diagnostic


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'nnstudio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def export(graph, folder, weights=None, **options):
    """Write ``model.py`` (and weights plus ``predict.py`` when given) to ``folder``."""
    from nnstudio.compiler.export import export as _export

    return _export(graph, folder, weights=weights, **options)


__all__ = [
    "CATALOG",
    "Diagnostic",
    "FormatError",
    "Graph",
    "GraphError",
    "__version__",
    "export",
    "from_torch",
]
