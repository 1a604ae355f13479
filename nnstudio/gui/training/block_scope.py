"""Which layers the live views offer: the model's, or those inside the block open on the canvas.

A block's body on the canvas stands for every copy of the instances the user
opened to reach it (``layer2`` repeated twice: ``layer2.0`` and ``layer2.1``).
The training thread names layers inside blocks by instance path
(``layer2.0/conv1``); this maps canvas nodes to those paths and back, and
lists the layers the feature-map picker offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnstudio.core.blocks import BLOCK_TYPE, PORT_IN, PORT_OUT, type_label
from nnstudio.core.graph import GraphModel
from nnstudio.core.instance_paths import copy_prefixes, join

if TYPE_CHECKING:
    from nnstudio.gui.main_window import MainWindow


class BlockScope:
    """The opened instances of one window, as instance paths."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    @property
    def names(self) -> list[str]:
        """The instances opened, outermost first (empty at the top level)."""
        editing = getattr(self.window, "block_editing", None)
        return [name for _, name in editing.levels] if editing is not None else []

    @property
    def prefixes(self) -> list[str]:
        """The copies the body on the canvas stands for (empty at the top level)."""
        return copy_prefixes(self.window.document.graph, self.names)

    @property
    def canvas(self) -> GraphModel:
        return self.window.canvas_document.graph

    def key_of(self, node_id: str, current: str | None = None) -> str | None:
        """What the training thread calls canvas node ``node_id``: its id at the top level, its
        path inside a block: in the copy ``current`` lies in (the copy the user is looking at),
        else in the first copy."""
        node = self.canvas.nodes.get(node_id)
        if node is None:
            return None
        prefixes = self.prefixes
        if not prefixes:
            return node_id if not self.names else None
        prefix = next((p for p in prefixes if current and current.startswith(p + "/")), prefixes[0])
        return join(prefix, node.name)

    def node_of(self, key: str) -> str | None:
        """The canvas node shown for ``key`` (a node id or a path), if it is on the canvas."""
        prefixes = self.prefixes
        if not prefixes:
            return key if key in self.canvas.nodes and not self.names else None
        for node in self.canvas.nodes.values():
            if any(join(p, node.name) == key for p in prefixes):
                return node.id
        return None

    def feature_layers(self) -> list[tuple[str, str]]:
        """(key, label) of the layers whose maps can be shown here, in forward order: the model's
        layers at the top level, each copy's layers with a module of their own inside a block."""
        graph = self.canvas
        order = [n for n in self.window.canvas_document.analysis().order if n in graph.nodes]
        prefixes = self.prefixes
        layers = []
        if not prefixes:
            if self.names:
                return []
            for node_id in order:
                node = graph.nodes[node_id]
                if node.type == BLOCK_TYPE or node.spec.role not in ("input", "output"):
                    layers.append((node_id, f"{node.name} ({type_label(node)})"))
            return layers
        for prefix in prefixes:
            for node_id in order:
                node = graph.nodes[node_id]
                if node.type in (PORT_IN, PORT_OUT, BLOCK_TYPE) or node.spec.module is None:
                    continue  # no module of its own: nothing to hook (an Add)
                path = join(prefix, node.name)
                layers.append((path, f"{path} ({node.type})"))
        return layers

    def default_key(self, filters: bool = False) -> str | None:
        """The layer the views turn to on arriving at this level: the first layer with maps (or,
        with ``filters``, the first convolution), in the first copy inside a block."""
        graph = self.canvas
        prefixes = self.prefixes
        if self.names and not prefixes:
            return None
        for node_id in self.window.canvas_document.analysis().order:
            node = graph.nodes.get(node_id)
            if node is None or node.type in (PORT_IN, PORT_OUT, BLOCK_TYPE):
                continue
            if node.spec.shows_filters if filters else node.spec.has_feature_maps:
                return join(prefixes[0], node.name) if prefixes else node_id
        return None
