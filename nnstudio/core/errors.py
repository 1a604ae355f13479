"""Typed errors of the graph core.

Every message is a sentence a user can act on: it names the node, the port,
the file or the shapes at fault.
"""

from __future__ import annotations


class GraphError(Exception):
    """Base class of every error the core raises about a graph or a file."""


class UnknownLayerError(GraphError, KeyError):
    """A layer type that the catalog does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NodeNotFoundError(GraphError, KeyError):
    """A node id that is not in the graph."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ParamError(GraphError, ValueError):
    """A parameter value of the wrong type or outside its allowed range."""


class ShapeError(GraphError, ValueError):
    """A layer's shape rule cannot accept the shapes flowing into it."""


class ConnectError(GraphError):
    """Base class of the errors that refuse a connection."""


class CycleError(ConnectError):
    """The connection would close a loop; models must be acyclic."""


class PortError(ConnectError):
    """A port that does not exist, is already wired, or a node with no ports."""


class DuplicateEdgeError(ConnectError):
    """The same two ports are already connected."""


class NameTakenError(GraphError, ValueError):
    """Two nodes may not share a name: names become Python attribute names."""


class FormatError(GraphError):
    """A project file that cannot be read: corrupt, truncated, foreign or too new."""


class UnsupportedFormatVersionError(FormatError):
    """A project file written by a newer nnstudio."""
