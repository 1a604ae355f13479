"""What a training run sends the views, and what the views ask it for.

Plain NumPy arrays and small records, no tensors and no Qt: they are made in
the run's process, pickled across to the window and read on its GUI thread. Images are already cut down
(at most 64 maps, each at most 64 pixels a side) before they cross.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_MAPS = 64  # feature maps shown for a layer
MAX_SIDE = 64  # pixels per side of a map sent to the GUI
MAX_WRONG = 24  # misclassified samples shown under the confusion matrix
MAX_POINTS = 600  # data points drawn under a decision boundary
NEURON_SIDE = 32  # pixels per side of a neuron's thumbnail
MAX_NEURON_LAYERS = 6  # hidden layers in the neuron overview
MAX_ROW_UNITS = 16  # units of each layer in the overview; pick the layer to see more
MAX_UNITS = 64  # units of a picked layer


@dataclass(frozen=True)
class ViewWants:
    """Which views are on screen and what they show; the GUI replaces it as a whole."""

    filters: bool = False
    filter_node: str | None = None  # a convolution picked on the canvas; None: the first one
    filter_channel: int | None = None  # a deeper convolution's filter shown per input channel; None: averaged
    feature_maps: bool = False
    feature_node: str | None = None  # the node whose activations to show
    sample_index: int = 0  # into the validation set
    boundary: bool = False
    neuron_layer: str | None = None  # the hidden layer whose units to show in full; None: all layers
    confusion: bool = False
    stats: bool = True  # the canvas warnings need them even with the panel hidden


@dataclass(frozen=True)
class Filters:
    """A convolution's kernels scaled to 0..1 (0.5 is a zero weight)."""

    node_id: str
    label: str  # "Conv2d 'conv1'"
    kernels: np.ndarray  # (out, in, kh, kw), or (out, in, k) for Conv1d; see ``averaged``/``channel``
    rgb: bool  # three input channels shown as one colour image per filter
    step: int
    layers: tuple[tuple[str, str], ...] = ()  # every convolution (node id, label): the layer picker
    averaged: bool = False  # a deeper layer's kernels averaged over their input channels: (out, 1, ...)
    channel: int | None = None  # one filter of a deeper layer: kernels is (1, in, ...), one tile per input
    filters: int = 0  # the layer's filters (out channels), all of them
    inputs: int = 0  # its input channels

    @property
    def first_layer(self) -> bool:
        return self.rgb or self.kernels.shape[1] <= 3


@dataclass(frozen=True)
class FeatureMaps:
    """One node's output for one sample."""

    node_id: str
    label: str
    sample_index: int
    sample: np.ndarray  # the input as the data set holds it, before normalisation
    truth: str  # the sample's label ("7"), or "" without classes
    maps: np.ndarray  # (channels, h, w) for images, (channels, length), or (features,)
    step: int
    samples: int  # in the validation set: the sample picker's range
    error: str = ""  # why this node has no maps, when it has none


@dataclass(frozen=True)
class NeuronLayer:
    """What the units of one hidden layer compute over the plane of a 2-D input."""

    node_id: str
    label: str  # "hidden → relu"
    units: np.ndarray  # (shown, NEURON_SIDE, NEURON_SIDE) float32 in -1..1: the layer's largest |value| is 1
    total: int  # units in the layer: more than shown when it is wide
    peak: float  # the largest |value| of the layer on the plane, which the thumbnails' 1 stands for


@dataclass(frozen=True)
class Boundary:
    """Class predictions over a grid spanning 2-D data, and some of the data on top."""

    xs: np.ndarray  # (resolution,)
    ys: np.ndarray  # (resolution,)
    classes: np.ndarray  # (resolution, resolution) int, indexed [y, x]
    confidence: np.ndarray  # (resolution, resolution) float32
    points: np.ndarray  # (n, 2) validation samples in the data's units
    labels: np.ndarray  # (n,) their classes
    class_names: tuple[str, ...]
    step: int
    neurons: tuple[NeuronLayer, ...] = ()  # the hidden layers' units, when the network is one of ours
    layers: tuple[tuple[str, str, int], ...] = ()  # every hidden layer (node id, label, units): the picker
    picked: str | None = None  # the layer shown in full, or None for the overview


@dataclass(frozen=True)
class Misclassified:
    index: int  # into the validation set
    sample: np.ndarray  # before normalisation
    truth: str
    predicted: str


@dataclass(frozen=True)
class ConfusionResult:
    """The validation set classified at the end of an epoch."""

    matrix: np.ndarray  # (classes, classes): rows true, columns predicted
    class_names: tuple[str, ...]
    epoch: int
    wrong: tuple[Misclassified, ...] = field(default=())
    wrong_total: int = 0

    @property
    def accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")


def downsample(maps: np.ndarray, side: int = MAX_SIDE) -> np.ndarray:
    """Shrink the last two axes of ``maps`` to at most ``side`` by averaging blocks."""
    if maps.ndim < 2:
        return maps
    h, w = maps.shape[-2:]
    fy, fx = -(-h // side), -(-w // side)  # ceiling division: the block each output pixel averages
    if fy == 1 and fx == 1:
        return maps
    ph, pw = -h % fy, -w % fx
    if ph or pw:  # pad with edge values so every block is full
        pad = [(0, 0)] * (maps.ndim - 2) + [(0, ph), (0, pw)]
        maps = np.pad(maps, pad, mode="edge")
    shape = (*maps.shape[:-2], maps.shape[-2] // fy, fy, maps.shape[-1] // fx, fx)
    return maps.reshape(shape).mean(axis=(-3, -1)).astype(np.float32)
