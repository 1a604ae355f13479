"""The built-in blocks: well-known sub-networks, each a body of catalog layers.

A built-in is added to a project's library on first use and is then an
ordinary definition of that project (saved in the file, editable, shareable).
Each is laid out for the canvas and described in one sentence, like a layer::

    from nnstudio.core.block_library import add_builtin, BUILTINS
    add_builtin(graph.blocks, "BasicBlock")       # also adds the blocks it uses
    graph.add("Block", block="BasicBlock", out_channels=128, stride=2)

``resnet`` builds a whole ResNet from BasicBlock or Bottleneck instances (the
examples, the tests and the benchmarks use it).

The parameter layouts follow PyTorch: BasicBlock and Bottleneck name their
layers as torchvision's ResNet does (``conv1``, ``bn1``, ..., ``downsample``),
and TransformerEncoderLayer as ``torch.nn.TransformerEncoderLayer``
(``self_attn``, ``linear1``, ``norm1``...), so their weights load into one another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nnstudio.core.blocks import BLOCK_TYPE, PORT_IN, PORT_OUT, BlockDefinition, BlockLibrary
from nnstudio.core.layers import Param

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel

_STEP = 220.0  # canvas distance between layers in a chain


@dataclass(frozen=True)
class Builtin:
    """One built-in block: its description, parameters, and how to fill its body."""

    name: str
    description: str
    params: tuple[Param, ...]
    build: Callable[[GraphModel], None]
    uses: tuple[str, ...] = ()


def _chain(
    body: GraphModel,
    start: str,
    layers: Sequence[tuple[str, str, dict[str, Any]]],
    x: float = _STEP,
    y: float = 0.0,
) -> str:
    """Add ``(type, name, params)`` layers one after another from ``start``; return the last."""
    tail = start
    for index, (type_name, name, params) in enumerate(layers):
        node = body.add(type_name, name=name, position=(x + index * _STEP, y), **params)
        body.connect(tail, node)
        tail = node
    return tail


def _ports(body: GraphModel) -> str:
    return body.add(PORT_IN, name="x", position=(0.0, 0.0))


def _finish(body: GraphModel, tail: str) -> None:
    x = max(n.position[0] for n in body.nodes.values()) + _STEP
    body.connect(tail, body.add(PORT_OUT, name="out", position=(x, 0.0)))


def _residual(
    body: GraphModel, main: Sequence[tuple[str, str, dict[str, Any]]], out: str, stride: str
) -> None:
    """``main`` path plus ResNet's shortcut, added, then ReLU (torchvision's layout)."""
    x = _ports(body)
    shortcut = body.add(
        "Shortcut",
        name="downsample",
        position=(_STEP * (len(main) / 2), 160.0),
        out_channels=out,
        stride=stride,
    )
    body.connect(x, shortcut)
    tail = _chain(body, x, main)
    add = body.add("Add", name="add", position=(_STEP * (len(main) + 1), 0.0))
    body.connect(tail, add)
    body.connect(shortcut, add)
    relu = body.add("ReLU", name="relu_out", position=(_STEP * (len(main) + 2), 0.0))
    body.connect(add, relu)
    _finish(body, relu)


def _basic_block(body: GraphModel) -> None:
    conv = {"kernel_size": 3, "padding": 1, "bias": False}
    _residual(
        body,
        [
            ("Conv2d", "conv1", {"out_channels": "$out_channels", "stride": "$stride", **conv}),
            ("BatchNorm2d", "bn1", {}),
            ("ReLU", "relu", {}),
            ("Conv2d", "conv2", {"out_channels": "$out_channels", **conv}),
            ("BatchNorm2d", "bn2", {}),
        ],
        "$out_channels",
        "$stride",
    )


def _bottleneck(body: GraphModel) -> None:
    _residual(
        body,
        [
            ("Conv2d", "conv1", {"out_channels": "$mid_channels", "kernel_size": 1, "bias": False}),
            ("BatchNorm2d", "bn1", {}),
            ("ReLU", "relu", {}),
            (
                "Conv2d",
                "conv2",
                {
                    "out_channels": "$mid_channels",
                    "kernel_size": 3,
                    "stride": "$stride",
                    "padding": 1,
                    "bias": False,
                },
            ),
            ("BatchNorm2d", "bn2", {}),
            ("ReLU", "relu2", {}),
            ("Conv2d", "conv3", {"out_channels": "$mid_channels * 4", "kernel_size": 1, "bias": False}),
            ("BatchNorm2d", "bn3", {}),
        ],
        "$mid_channels * 4",
        "$stride",
    )


def _encoder_layer(body: GraphModel) -> None:
    """torch.nn.TransformerEncoderLayer's forward, post-norm or pre-norm by ``$norm_first``.

    Both places of each LayerNorm are in the body, switched on and off by the
    parameter: after each residual add (``norm1``, ``norm2``, torch's names, so the
    default post-norm layer has exactly torch's state_dict) or before each part
    (``pre_norm1``, ``pre_norm2``). For a given instance one of each pair is bypassed."""
    x = _ports(body)
    attention = [
        ("MultiheadAttention", "self_attn", {"num_heads": "$nhead", "dropout": "$dropout"}),
        ("Dropout", "dropout1", {"p": "$dropout"}),
    ]
    feed_forward = [
        ("Linear", "linear1", {"out_features": "$dim_feedforward"}),
        ("ReLU", "activation", {}),
        ("Dropout", "dropout", {"p": "$dropout"}),
        ("Linear", "linear2", {"out_features": "$in_features"}),
        ("Dropout", "dropout2", {"p": "$dropout"}),
    ]
    tail = x
    column = 1
    for index, sublayer in enumerate((attention, feed_forward), start=1):
        start = tail
        pre_norm = body.add(
            "LayerNorm", name=f"pre_norm{index}", position=(column * _STEP, 0.0), enabled="$norm_first"
        )
        body.connect(start, pre_norm)
        tail = _chain(body, pre_norm, sublayer, x=(column + 1) * _STEP)
        column += len(sublayer) + 1
        add = body.add("Add", name=f"add{index}", position=(column * _STEP, 160.0))
        body.connect(tail, add)
        body.connect(start, add)
        column += 1
        norm = body.add(
            "LayerNorm", name=f"norm{index}", position=(column * _STEP, 0.0), enabled="not $norm_first"
        )
        body.connect(add, norm)
        tail = norm
        column += 1
    _finish(body, tail)


def _conv_relu(body: GraphModel) -> None:
    x = _ports(body)
    tail = _chain(
        body,
        x,
        [
            ("Conv2d", "conv", {"out_channels": "$out_channels", "kernel_size": 3, "padding": 1}),
            ("ReLU", "relu", {}),
        ],
    )
    _finish(body, tail)


def _vgg_block(body: GraphModel) -> None:
    x = _ports(body)
    convs = body.add(
        BLOCK_TYPE,
        name="convs",
        position=(_STEP, 0.0),
        block="ConvReLU",
        out_channels="$out_channels",
        repeat="$convs",
    )
    body.connect(x, convs)
    tail = _chain(body, convs, [("MaxPool2d", "pool", {"kernel_size": 2, "stride": 2})], x=2 * _STEP)
    _finish(body, tail)


def _double_conv(body: GraphModel) -> None:
    x = _ports(body)
    conv = {"out_channels": "$out_channels", "kernel_size": 3, "padding": 1, "bias": False}
    tail = _chain(
        body,
        x,
        [
            ("Conv2d", "conv1", conv),
            ("BatchNorm2d", "bn1", {}),
            ("ReLU", "relu1", {}),
            ("Conv2d", "conv2", conv),
            ("BatchNorm2d", "bn2", {}),
            ("ReLU", "relu2", {}),
        ],
    )
    _finish(body, tail)


def _channels(name: str, default: int, doc: str) -> Param:
    return Param(name, "int", default, 1, 8192, doc=doc)


_STRIDE = Param(
    "stride", "int", 1, 1, 8, doc="Stride of the first 3x3 convolution; 2 halves height and width."
)
_TRANSFORMER_PARAMS = (
    Param("nhead", "int", 4, 1, 256, doc="Attention heads; must divide the input's features (d_model)."),
    Param("dim_feedforward", "int", 128, 1, 65536, doc="Width of the feed-forward layer."),
    Param("dropout", "float", 0.1, 0.0, 0.99, doc="Dropout after attention and in the feed-forward part."),
    Param(
        "norm_first",
        "bool",
        False,
        doc="Normalise each part's input before attention and the feed-forward network (pre-norm, "
        "steadier in deep stacks) instead of the sum after it (post-norm, the original Transformer).",
    ),
)

BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            "BasicBlock",
            "ResNet's basic block: two 3x3 convolutions with BatchNorm and ReLU, added to a shortcut "
            "of the input (projected when the shape changes).",
            (_channels("out_channels", 64, "Channels of both convolutions and of the output."), _STRIDE),
            _basic_block,
        ),
        Builtin(
            "Bottleneck",
            "ResNet's bottleneck block: 1x1, 3x3 and 1x1 convolutions that squeeze to mid_channels and "
            "widen to four times that, added to a shortcut of the input.",
            (
                _channels(
                    "mid_channels", 64, "Channels inside the block; the output has four times as many."
                ),
                _STRIDE,
            ),
            _bottleneck,
        ),
        Builtin(
            "TransformerEncoderLayer",
            "A transformer encoder layer as in torch.nn.TransformerEncoderLayer: self-attention and a "
            "feed-forward network, each added to its input and normalised, after the sum (post-norm) "
            "or, with norm_first, before each part (pre-norm).",
            _TRANSFORMER_PARAMS,
            _encoder_layer,
        ),
        Builtin(
            "ConvReLU",
            "A 3x3 convolution that keeps the image size, followed by ReLU.",
            (_channels("out_channels", 64, "Filters of the convolution."),),
            _conv_relu,
        ),
        Builtin(
            "VGGBlock",
            "VGG's block: convs 3x3 convolutions with ReLU, then a 2x2 max-pool that halves the image.",
            (
                _channels("out_channels", 64, "Filters of every convolution."),
                Param("convs", "int", 2, 1, 16, doc="Number of convolutions before the pooling."),
            ),
            _vgg_block,
            uses=("ConvReLU",),
        ),
        Builtin(
            "DoubleConv",
            "U-Net's double convolution: two 3x3 convolutions, each with BatchNorm and ReLU, keeping the "
            "image size.",
            (_channels("out_channels", 64, "Filters of both convolutions."),),
            _double_conv,
        ),
    )
}


def add_builtin(library: BlockLibrary, name: str) -> BlockDefinition:
    """Add the built-in ``name`` (and the built-ins it uses) unless the library has it."""
    if name in library:
        return library.get(name)
    builtin = BUILTINS[name]
    for inner in builtin.uses:
        add_builtin(library, inner)
    definition = library.define(name, params=builtin.params, description=builtin.description)
    builtin.build(definition.body)
    return definition


def resnet(
    graph: GraphModel,
    block: str = "BasicBlock",
    layers: Sequence[int] = (2, 2, 2, 2),
    input_shape: Sequence[int] = (3, 224, 224),
    num_classes: int = 1000,
    small_input: bool = False,
    widths: Sequence[int] = (64, 128, 256, 512),
    repeat_blocks: bool = True,
) -> str:
    """A ResNet (He et al., 2015) in ``graph`` from BasicBlock or Bottleneck instances; returns the
    Output's id. ``layers`` = (2, 2, 2, 2) is ResNet-18, (3, 4, 6, 3) with Bottleneck ResNet-50.
    ``small_input`` uses the CIFAR stem (one 3x3 convolution, no max-pool) for 32x32 images.
    With ``repeat_blocks=False`` every block is an instance of its own (16 for ResNet-50)."""
    add_builtin(graph.blocks, block)
    width_param = "out_channels" if block == "BasicBlock" else "mid_channels"
    x = 0.0

    def place() -> tuple[float, float]:
        nonlocal x
        x += _STEP
        return (x, 0.0)

    tail = graph.add("Input", name="image", shape=list(input_shape), position=(0.0, 0.0))
    stem = [
        (
            "Conv2d",
            "conv1",
            {
                "out_channels": widths[0],
                "kernel_size": 3 if small_input else 7,
                "stride": 1 if small_input else 2,
                "padding": 1 if small_input else 3,
                "bias": False,
            },
        ),
        ("BatchNorm2d", "bn1", {}),
        ("ReLU", "relu", {}),
    ]
    if not small_input:
        stem.append(("MaxPool2d", "maxpool", {"kernel_size": 3, "stride": 2, "padding": 1}))
    for type_name, name, params in stem:
        node = graph.add(type_name, name=name, position=place(), **params)
        graph.connect(tail, node)
        tail = node
    channels = widths[0]
    expansion = 1 if block == "BasicBlock" else 4
    for stage, (count, width) in enumerate(zip(layers, widths, strict=True), start=1):
        stride = 1 if stage == 1 else 2
        # A stage whose first block keeps the shape is one instance repeated; otherwise the
        # first block (which projects its shortcut) stands apart from the rest.
        together = stride == 1 and channels == width * expansion and repeat_blocks
        first = graph.add(
            BLOCK_TYPE,
            name=f"layer{stage}",
            position=place(),
            block=block,
            repeat=count if together else 1,
            **{width_param: width, "stride": stride},
        )
        channels = width * expansion
        graph.connect(tail, first)
        tail = first
        if count > 1 and not together:
            copies = [count - 1] if repeat_blocks else [1] * (count - 1)
            for index, repeat in enumerate(copies, start=1):
                name = f"layer{stage}_rest" if repeat_blocks else f"layer{stage}_{index}"
                rest = graph.add(
                    BLOCK_TYPE,
                    name=name,
                    position=place(),
                    block=block,
                    repeat=repeat,
                    **{width_param: width},
                )
                graph.connect(tail, rest)
                tail = rest
    for type_name, name, params in [
        ("GlobalAvgPool2d", "avgpool", {}),
        ("Linear", "fc", {"out_features": num_classes}),
        ("Output", "logits", {}),
    ]:
        node = graph.add(type_name, name=name, position=place(), **params)
        graph.connect(tail, node)
        tail = node
    return tail
