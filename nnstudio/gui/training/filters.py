"""The filters a convolution has learned, as a grid of kernels that updates while training.

The first convolution shows one tile per filter, in colour when the network
sees RGB images. A deeper convolution mixes many input channels that have no
colour of their own: its filters x inputs kernels (512 tiles for 32 x 16) are
unreadable at once, so it shows one tile per filter with the kernel averaged
over its inputs, or, picked in the channel box, one filter's kernel for each
of its inputs. The layer box lists every convolution, those inside block
instances by path (``layer2.0/conv1``), or inside an opened block only its
own (clicking one on the canvas picks it too). Grey is a zero weight, white the filter's largest
positive weight, black its most negative one.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from nnstudio.core.instance_paths import is_inside
from nnstudio.gui.training.progress_widgets import StatusText
from nnstudio.gui.training.tiles import TileGrid
from nnstudio.training.payloads import Filters

EMPTY = "Train a network with a convolution layer to see its filters here."
AVERAGED = "Each filter, averaged over its inputs"


class FilterView(QWidget):
    wants_changed = Signal()  # another layer or channel was picked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The title changes with every picture: a repaint, never a relayout of the window.
        self.title = StatusText("Filters", rich=True)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("The convolution whose filters to show (or click one on the canvas)")
        # Long names (paths inside blocks) elide rather than widen the dock past the window.
        self.layer_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_box.setMinimumContentsLength(18)
        self.layer_box.activated.connect(self._on_layer_picked)
        self.channel_box = QComboBox()
        self.channel_box.setToolTip(
            "A deeper layer's filters, each averaged over its input channels; "
            "or one filter with a kernel per input channel"
        )
        self.channel_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.channel_box.setMinimumContentsLength(14)
        self.channel_box.activated.connect(self._on_channel_picked)
        self.grid = TileGrid(self)
        self.grid.set_empty_text(EMPTY)
        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Layer"))
        pickers.addWidget(self.layer_box)
        pickers.addWidget(self.channel_box)
        pickers.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(pickers)
        layout.addWidget(self.title)
        layout.addWidget(self.grid, 1)
        self.payload: Filters | None = None
        self.picked_node: str | None = None  # picked in the layer box (the canvas's pick otherwise)
        self.channel: int | None = None  # the filter shown per input channel; None: averaged
        self._layers: tuple[tuple[str, str], ...] = ()
        self._channels = (0, 0)  # (filters, node) the channel box lists
        self._scope: tuple[str, ...] = ()  # the copies of an opened block: list only their layers
        self._update_pickers(None)

    # --- picking ------------------------------------------------------------------------------

    def _on_layer_picked(self, index: int) -> None:
        node_id = self.layer_box.itemData(index)
        if node_id != (self.payload.node_id if self.payload else None):
            self.picked_node, self.channel = node_id, None
            self.wants_changed.emit()

    def _on_channel_picked(self, index: int) -> None:
        channel = self.channel_box.itemData(index)
        if channel != self.channel:
            self.channel = channel
            self.wants_changed.emit()

    def canvas_picked(self) -> None:
        """A convolution was clicked on the canvas: it wins over the layer box's choice."""
        self.picked_node, self.channel = None, None

    def set_scope(self, prefixes: list[str]) -> None:
        """Inside an opened block, the layer box lists the convolutions of its copies only."""
        if tuple(prefixes) != self._scope:
            self._scope = tuple(prefixes)
            self._update_pickers(self.payload)

    def _update_pickers(self, payload: Filters | None) -> None:
        layers = payload.layers if payload else ()
        if self._scope:
            layers = tuple((k, label) for k, label in layers if any(is_inside(k, p) for p in self._scope))
        if layers != self._layers:
            self._layers = layers
            self.layer_box.clear()
            for node_id, label in layers:
                self.layer_box.addItem(label, node_id)
        if payload is not None:
            self.layer_box.setCurrentIndex(max(0, self.layer_box.findData(payload.node_id)))
        self.layer_box.setVisible(bool(layers))
        deep = payload is not None and (payload.averaged or payload.channel is not None)
        self.channel_box.setVisible(deep)
        if not deep:
            return
        if self._channels != (payload.filters, payload.node_id):
            self._channels = (payload.filters, payload.node_id)
            self.channel_box.clear()
            self.channel_box.addItem(AVERAGED, None)
            for c in range(payload.filters):
                self.channel_box.addItem(f"Filter {c + 1}: one kernel per input channel", c)
        self.channel_box.setCurrentIndex(
            max(0, self.channel_box.findData(payload.channel)) if payload.channel is not None else 0
        )

    # --- showing ------------------------------------------------------------------------------

    def show_filters(self, payload: Filters | str) -> None:
        if isinstance(payload, str):  # a sentence: why there is nothing to show
            self.payload = None
            self.title.setText("Filters")
            self.grid.set_empty_text(payload)
            self._update_pickers(None)
            return
        self.payload = payload
        self._update_pickers(payload)
        tiles, captions, columns = filter_tiles(payload)
        self.grid.set_tiles(tiles, captions, columns=columns)
        k = payload.kernels
        size = "×".join(str(d) for d in k.shape[2:])
        if payload.channel is not None:
            what = (
                f"filter {payload.channel + 1} of {payload.filters}: its {size} kernel for each of its "
                f"{payload.inputs} input channels"
            )
        elif payload.averaged:
            what = f"{payload.filters} filters of {size} over {payload.inputs} input channels, each averaged over them"
        else:
            channels = "RGB" if payload.rgb else f"{k.shape[1]} input channel{'s' if k.shape[1] != 1 else ''}"
            what = f"{k.shape[0]} filters of {size}, {channels}"
        self.title.setText(f"<b>{payload.label}</b>: {what} · step {payload.step:,}")

    def clear(self) -> None:
        self.payload = None
        self.title.setText("Filters")
        self.grid.set_empty_text(EMPTY)
        self._update_pickers(None)


def filter_tiles(payload: Filters) -> tuple[list[np.ndarray], list[str], int | None]:
    """The tiles to draw, their captions and the grid's column count (None: let the grid choose)."""
    k = payload.kernels
    if k.ndim == 3:  # Conv1d (out, in, length): each filter one (in, length) strip
        return [k[i] for i in range(k.shape[0])], [], None
    if payload.rgb:
        return [np.transpose(k[i], (1, 2, 0)) for i in range(k.shape[0])], [], None
    if payload.channel is not None:  # one filter: a tile per input channel
        return [k[0, j] for j in range(k.shape[1])], [f"in {j + 1}" for j in range(k.shape[1])], None
    if k.shape[1] == 1:  # a first layer on grey images, or a deeper one averaged over its inputs
        captions = [str(i + 1) for i in range(k.shape[0])] if payload.averaged else []
        return [k[i, 0] for i in range(k.shape[0])], captions, None
    return [k[i, j] for i in range(k.shape[0]) for j in range(k.shape[1])], [], k.shape[1]
