"""The headless core: layer catalog, graph document, validation, project files.

Plain Python and networkx only: no torch, no Qt.
"""

from nnstudio.core.errors import (
    CycleError,
    DuplicateEdgeError,
    FormatError,
    GraphError,
    NodeNotFoundError,
    ParamError,
    PortError,
    ShapeError,
    UnknownLayerError,
    UnsupportedFormatVersionError,
)
from nnstudio.core.graph import Edge, GraphModel, Node
from nnstudio.core.layers import CATALOG, LayerSpec, Param, get_spec
from nnstudio.core.validation import Diagnostic

__all__ = [
    "CATALOG",
    "CycleError",
    "Diagnostic",
    "DuplicateEdgeError",
    "Edge",
    "FormatError",
    "GraphError",
    "GraphModel",
    "LayerSpec",
    "Node",
    "NodeNotFoundError",
    "Param",
    "ParamError",
    "PortError",
    "ShapeError",
    "UnknownLayerError",
    "UnsupportedFormatVersionError",
    "get_spec",
]
