"""nnstudio: design neural networks visually, watch them train, export PyTorch code.

Importing this package never imports torch or Qt.
"""

from nnstudio.api import Graph
from nnstudio.core.errors import FormatError, GraphError
from nnstudio.core.layers import CATALOG
from nnstudio.core.validation import Diagnostic

__version__ = "0.1.0"


def export(graph, folder, weights=None, **options):
    """Write ``model.py`` (and weights plus ``predict.py`` when given) to ``folder``."""
    from nnstudio.compiler.export import export as _export

    return _export(graph, folder, weights=weights, **options)


__all__ = ["CATALOG", "Diagnostic", "FormatError", "Graph", "GraphError", "__version__", "export"]
