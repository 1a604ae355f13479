"""The built-in blocks count what the same networks written in PyTorch count.

The networks are written out directly with torch.nn below (torchvision's ResNet
layout, torch.nn.TransformerEncoderLayer); the catalog's arithmetic must agree.
"""

from __future__ import annotations

import pytest
from torch import nn

from nnstudio.core.block_library import BUILTINS, add_builtin, resnet
from nnstudio.core.graph import GraphModel


class TorchBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )


class TorchBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
            )


def torch_resnet(block, layers, num_classes=1000) -> nn.Module:
    """torchvision's ResNet, written out (layers only: counts need no forward)."""
    model = nn.Module()
    model.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
    model.bn1 = nn.BatchNorm2d(64)
    inplanes = 64
    for index, (count, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True), start=1):
        stride = 1 if index == 1 else 2
        blocks = [block(inplanes, planes, stride)]
        inplanes = planes * block.expansion
        blocks += [block(inplanes, planes) for _ in range(count - 1)]
        setattr(model, f"layer{index}", nn.Sequential(*blocks))
    model.fc = nn.Linear(512 * block.expansion, num_classes)
    return model


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("block", "torch_block", "layers", "paper"),
    [
        ("BasicBlock", TorchBasicBlock, (2, 2, 2, 2), 11_689_512),  # ResNet-18
        ("BasicBlock", TorchBasicBlock, (3, 4, 6, 3), 21_797_672),  # ResNet-34
        ("Bottleneck", TorchBottleneck, (3, 4, 6, 3), 25_557_032),  # ResNet-50
    ],
)
def test_resnets_from_blocks_count_what_pytorch_counts(block, torch_block, layers, paper) -> None:
    graph = GraphModel()
    resnet(graph, block, layers)
    assert not [d for d in graph.validate() if d.is_error]
    assert graph.num_parameters() == count(torch_resnet(torch_block, layers)) == paper


@pytest.mark.parametrize(("d_model", "nhead", "ff", "seq"), [(32, 4, 64, 10), (48, 6, 96, 5)])
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_counts_like_torchs(
    norm_first: bool, d_model: int, nhead: int, ff: int, seq: int
) -> None:
    graph = GraphModel()
    name = "TransformerEncoderLayer"
    add_builtin(graph.blocks, name)
    x = graph.add("Input", shape=[seq, d_model])
    layer = graph.add(
        "Block", block=name, nhead=nhead, dim_feedforward=ff, dropout=0.0, norm_first=norm_first, repeat=2
    )
    graph.connect(x, layer)
    graph.connect(layer, graph.add("Output"))
    assert not [d for d in graph.validate() if d.is_error]
    reference = nn.TransformerEncoderLayer(d_model, nhead, ff, batch_first=True, norm_first=norm_first)
    assert graph.num_parameters() == 2 * count(reference)
    assert graph.shapes()[layer] == (seq, d_model)


def test_an_attention_head_count_that_does_not_divide_is_named_inside_the_block() -> None:
    graph = GraphModel()
    add_builtin(graph.blocks, "TransformerEncoderLayer")
    x = graph.add("Input", shape=[10, 30])
    layer = graph.add("Block", name="encoder", block="TransformerEncoderLayer", nhead=4)
    graph.connect(x, layer)
    (message,) = [d.message for d in graph.validate() if d.node == layer]
    assert message.startswith(
        "Block 'encoder': at encoder/self_attn: MultiheadAttention 'self_attn': its 30 input"
    )


def test_vgg_block_repeats_its_convolutions_by_parameter() -> None:
    graph = GraphModel()
    add_builtin(graph.blocks, "VGGBlock")
    x = graph.add("Input", shape=[3, 32, 32])
    block = graph.add("Block", block="VGGBlock", out_channels=16, convs=3)
    graph.connect(x, block)
    graph.connect(block, graph.add("Output"))
    assert graph.shapes()[block] == (16, 16, 16)
    reference = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1)
    )
    assert graph.num_parameters() == count(reference)


def test_double_conv_keeps_the_image_size() -> None:
    graph = GraphModel()
    add_builtin(graph.blocks, "DoubleConv")
    x = graph.add("Input", shape=[1, 20, 20])
    block = graph.add("Block", block="DoubleConv", out_channels=8)
    graph.connect(x, block)
    assert graph.shapes()[block] == (8, 20, 20)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_is_described_and_valid_with_its_defaults(name: str) -> None:
    builtin = BUILTINS[name]
    assert builtin.description.endswith(".") and len(builtin.description.split()) >= 8
    assert all(p.doc for p in builtin.params)
    graph = GraphModel()
    definition = add_builtin(graph.blocks, name)
    assert len(definition.input_ports) == 1 and len(definition.output_ports) == 1
    shape = [16, 32] if "Transformer" in name else [8, 16, 16]
    x = graph.add("Input", shape=shape)
    block = graph.add("Block", block=name)
    graph.connect(x, block)
    graph.connect(block, graph.add("Output"))
    assert not [d for d in graph.validate() if d.is_error]
