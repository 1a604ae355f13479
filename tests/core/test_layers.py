"""The catalog's shape rules and parameter counts against real torch modules.

Each case builds, by hand, the torch module a layer type stands for, runs a
batch through it and compares the output shape (minus the batch) with
``spec.infer`` and the module's parameter count with ``spec.count_params``.
The modules are written here from the PyTorch documentation, not generated
from the catalog's templates, so a drifting rule on either side fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nnstudio.core.errors import ParamError, ShapeError, UnknownLayerError
from nnstudio.core.layers import (
    CATALOG,
    CATEGORIES,
    format_shape,
    get_spec,
    layer_figures,
    specs_by_category,
)

BATCH = 3

REQUIRED_TYPES = {
    "Input",
    "Output",
    "Linear",
    "Flatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "GlobalAvgPool2d",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softmax",
    "LogSoftmax",
    "LSTM",
    "GRU",
    "RNN",
    "Embedding",
    "MultiheadAttention",
    "Inception",
    "Concat",
    "Add",
}


# --- reference modules, written from the PyTorch docs and the GoogLeNet paper -----------------


class Lambda(nn.Module):
    """A parameter-free reference written as a function of the inputs."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


class LastStep(nn.Module):
    """A recurrent layer returning its final hidden state (both directions joined)."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(x)
        if isinstance(h_n, tuple):  # LSTM: (h_n, c_n)
            h_n = h_n[0]
        if self.rnn.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)
        return h_n[-1]


class Sequences(nn.Module):
    """A recurrent layer returning its output at every step."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class SelfAttention(nn.Module):
    def __init__(self, attention: nn.MultiheadAttention) -> None:
        super().__init__()
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, need_weights=False)[0]


class PaperInception(nn.Module):
    """Szegedy et al. 2014, Figure 2(b): four branches concatenated on channels."""

    def __init__(self, c_in: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int) -> None:
        super().__init__()
        self.one = nn.Sequential(nn.Conv2d(c_in, c1, 1), nn.ReLU())
        self.three = nn.Sequential(
            nn.Conv2d(c_in, c3r, 1), nn.ReLU(), nn.Conv2d(c3r, c3, 3, padding=1), nn.ReLU()
        )
        self.five = nn.Sequential(
            nn.Conv2d(c_in, c5r, 1), nn.ReLU(), nn.Conv2d(c5r, c5, 5, padding=2), nn.ReLU()
        )
        self.pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(c_in, pool, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.one(x), self.three(x), self.five(x), self.pool(x)], dim=1)


class LearnedToken(nn.Module):
    """ViT's class token as written in papers' code: a (1, 1, D) parameter put first."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)


class LearnedAdd(nn.Module):
    """A position embedding: a parameter shaped like one sample, added to every sample."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, *shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos_embed


class LearnedScale(nn.Module):
    """ConvNeXt's layer scale: per-channel factors on the last dimension."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.randn(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * x


@dataclass
class Case:
    """A layer type with parameters and input shapes, and its hand-built torch twin."""

    type: str
    params: dict[str, Any]
    inputs: list[tuple[int, ...]]
    build: Callable[[dict[str, Any], list[tuple[int, ...]]], nn.Module]
    int_inputs: bool = False
    tags: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.type}[{extra}]" + "".join(format_shape(s) for s in self.inputs)


def _conv(rank: int) -> Callable[[dict, list], nn.Module]:
    cls = {1: nn.Conv1d, 2: nn.Conv2d}[rank]
    return lambda p, s: cls(
        s[0][0],
        p["out_channels"],
        p["kernel_size"],
        stride=p["stride"],
        padding=p["padding"],
        dilation=p["dilation"],
        bias=p["bias"],
    )


def _pool(cls: type[nn.Module]) -> Callable[[dict, list], nn.Module]:
    return lambda p, s: cls(p["kernel_size"], stride=p["stride"], padding=p["padding"])


def _recurrent(cls: type[nn.RNNBase]) -> Callable[[dict, list], nn.Module]:
    def build(p: dict, s: list) -> nn.Module:
        extra = {"nonlinearity": p["nonlinearity"]} if cls is nn.RNN else {}
        rnn = cls(
            s[0][-1],
            p["hidden_size"],
            num_layers=p["num_layers"],
            batch_first=True,
            bidirectional=p["bidirectional"],
            **extra,
        )
        return Sequences(rnn) if p["return_sequences"] else LastStep(rnn)

    return build


def _activation(module: nn.Module) -> Callable[[dict, list], nn.Module]:
    return lambda p, s: module


CASES: list[Case] = [
    Case("Input", {"shape": [3, 16, 16]}, [], lambda p, s: Lambda(lambda: torch.zeros(BATCH, 3, 16, 16))),
    Case("Output", {}, [(7, 5)], lambda p, s: nn.Identity()),
    Case("Linear", {"out_features": 7}, [(20,)], lambda p, s: nn.Linear(20, 7)),
    Case("Linear", {"out_features": 5, "bias": False}, [(6, 11)], lambda p, s: nn.Linear(11, 5, bias=False)),
    Case("Flatten", {}, [(3, 4, 5)], lambda p, s: nn.Flatten()),
    Case(
        "Reshape", {"shape": [1, 8, 8]}, [(64,)], lambda p, s: Lambda(lambda x: x.view(x.shape[0], 1, 8, 8))
    ),
    Case("Reshape", {"shape": [6, 4]}, [(2, 3, 4)], lambda p, s: Lambda(lambda x: x.view(x.shape[0], 6, 4))),
    Case("Dropout", {"p": 0.3}, [(4, 9)], lambda p, s: nn.Dropout(0.3)),
    Case("BatchNorm1d", {}, [(12,)], lambda p, s: nn.BatchNorm1d(12)),
    Case("BatchNorm1d", {}, [(12, 30)], lambda p, s: nn.BatchNorm1d(12)),
    Case("BatchNorm2d", {}, [(6, 9, 7)], lambda p, s: nn.BatchNorm2d(6)),
    Case("LayerNorm", {}, [(5, 17)], lambda p, s: nn.LayerNorm(17)),
    Case(
        "LayerNorm",
        {"elementwise_affine": False},
        [(4, 3, 8)],
        lambda p, s: nn.LayerNorm(8, elementwise_affine=False),
    ),
    Case("Conv1d", {}, [(3, 50)], _conv(1)),
    Case(
        "Conv1d",
        {"out_channels": 8, "kernel_size": 5, "stride": 2, "padding": 1, "dilation": 2, "bias": False},
        [(3, 50)],
        _conv(1),
    ),
    Case("Conv2d", {}, [(3, 32, 32)], _conv(2)),
    Case("Conv2d", {"out_channels": 6, "kernel_size": 5, "stride": 2, "padding": 2}, [(1, 28, 28)], _conv(2)),
    Case(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "stride": 3, "dilation": 2, "bias": False},
        [(2, 20, 31)],
        _conv(2),
    ),
    Case("ConvTranspose2d", {}, [(8, 7, 7)], lambda p, s: nn.ConvTranspose2d(8, 16, 3, stride=2)),
    Case(
        "ConvTranspose2d",
        {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1, "bias": False},
        [(8, 7, 5)],
        lambda p, s: nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, bias=False),
    ),
    Case(
        "ConvTranspose2d",
        {"out_channels": 1, "kernel_size": 4, "stride": 3, "padding": 2, "output_padding": 2},
        [(2, 6, 6)],
        lambda p, s: nn.ConvTranspose2d(2, 1, 4, stride=3, padding=2, output_padding=2),
    ),
    Case("MaxPool1d", {}, [(4, 33)], _pool(nn.MaxPool1d)),
    Case("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, [(4, 33)], _pool(nn.MaxPool1d)),
    Case("MaxPool2d", {}, [(4, 15, 16)], _pool(nn.MaxPool2d)),
    Case("MaxPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}, [(4, 15, 16)], _pool(nn.MaxPool2d)),
    Case("AvgPool1d", {"kernel_size": 4, "stride": 3, "padding": 2}, [(2, 19)], _pool(nn.AvgPool1d)),
    Case("AvgPool2d", {}, [(6, 28, 27)], _pool(nn.AvgPool2d)),
    Case("AvgPool2d", {"kernel_size": 5, "stride": 2, "padding": 2}, [(6, 28, 27)], _pool(nn.AvgPool2d)),
    Case("AdaptiveAvgPool2d", {}, [(8, 13, 11)], lambda p, s: nn.AdaptiveAvgPool2d(1)),
    Case("AdaptiveAvgPool2d", {"output_size": 4}, [(8, 13, 11)], lambda p, s: nn.AdaptiveAvgPool2d(4)),
    Case(
        "GlobalAvgPool2d", {}, [(8, 5, 7)], lambda p, s: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    ),
    Case("ReLU", {}, [(3, 4, 5)], _activation(nn.ReLU())),
    Case("LeakyReLU", {"negative_slope": 0.2}, [(10,)], _activation(nn.LeakyReLU(0.2))),
    Case("Sigmoid", {}, [(2, 3)], _activation(nn.Sigmoid())),
    Case("Tanh", {}, [(2, 3, 4, 5)], _activation(nn.Tanh())),
    Case("GELU", {}, [(7,)], _activation(nn.GELU())),
    Case("Softmax", {}, [(10,)], _activation(nn.Softmax(dim=-1))),
    Case("Softmax", {"dim": 1}, [(3, 10)], _activation(nn.Softmax(dim=1))),
    Case("LogSoftmax", {"dim": -2}, [(3, 10)], _activation(nn.LogSoftmax(dim=-2))),
    *[
        Case(kind, params, [(12, 5)], _recurrent(getattr(nn, kind)))
        for kind in ("LSTM", "GRU", "RNN")
        for params in (
            {"hidden_size": 8},
            {"hidden_size": 8, "return_sequences": True},
            {"hidden_size": 6, "num_layers": 2},
            {"hidden_size": 6, "bidirectional": True},
            {"hidden_size": 4, "num_layers": 3, "bidirectional": True, "return_sequences": True},
        )
    ],
    Case("RNN", {"hidden_size": 5, "nonlinearity": "relu", "num_layers": 2}, [(9, 3)], _recurrent(nn.RNN)),
    Case(
        "Embedding",
        {"num_embeddings": 50, "embedding_dim": 16},
        [(10,)],
        lambda p, s: nn.Embedding(50, 16),
        int_inputs=True,
    ),
    Case(
        "Embedding",
        {"num_embeddings": 20, "embedding_dim": 3},
        [(4, 6)],
        lambda p, s: nn.Embedding(20, 3),
        int_inputs=True,
    ),
    Case(
        "MultiheadAttention",
        {},
        [(10, 16)],
        lambda p, s: SelfAttention(nn.MultiheadAttention(16, 4, batch_first=True)),
    ),
    Case(
        "MultiheadAttention",
        {"num_heads": 2, "dropout": 0.1, "bias": False},
        [(5, 6)],
        lambda p, s: SelfAttention(nn.MultiheadAttention(6, 2, dropout=0.1, bias=False, batch_first=True)),
    ),
    Case("Inception", {}, [(192, 8, 8)], lambda p, s: PaperInception(192, 64, 96, 128, 16, 32, 32)),
    Case(
        "Inception",
        {"ch1x1": 4, "ch3x3red": 3, "ch3x3": 5, "ch5x5red": 2, "ch5x5": 6, "pool_proj": 7},
        [(9, 5, 6)],
        lambda p, s: PaperInception(9, 4, 3, 5, 2, 6, 7),
    ),
    Case("Concat", {}, [(4, 8, 8), (6, 8, 8)], lambda p, s: Lambda(lambda *xs: torch.cat(xs, dim=1))),
    Case(
        "Concat",
        {"dim": -1},
        [(3, 5), (3, 7), (3, 1)],
        lambda p, s: Lambda(lambda *xs: torch.cat(xs, dim=-1)),
    ),
    Case("Concat", {"dim": 2}, [(2, 3, 4), (2, 5, 4)], lambda p, s: Lambda(lambda *xs: torch.cat(xs, dim=2))),
    Case("Add", {}, [(4, 8, 8), (4, 8, 8)], lambda p, s: Lambda(lambda a, b: a + b)),
    Case("Add", {}, [(5,), (5,), (5,)], lambda p, s: Lambda(lambda a, b, c: a + b + c)),
    # grown for importing PyTorch models
    Case(
        "Conv2d",
        {"out_channels": 8, "padding": 1, "groups": 4},
        [(4, 9, 9)],
        lambda p, s: nn.Conv2d(4, 8, 3, padding=1, groups=4),
    ),
    Case(
        "Conv2d",
        {"out_channels": 6, "stride": 2, "padding": 1, "groups": 6, "bias": False},
        [(6, 10, 7)],
        lambda p, s: nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6, bias=False),
    ),
    Case(
        "Conv1d",
        {"out_channels": 4, "kernel_size": 5, "groups": 2},
        [(6, 20)],
        lambda p, s: nn.Conv1d(6, 4, 5, groups=2),
    ),
    Case("BatchNorm2d", {"eps": 1e-3}, [(6, 9, 7)], lambda p, s: nn.BatchNorm2d(6, eps=1e-3)),
    Case("LayerNorm", {"eps": 1e-6}, [(5, 17)], lambda p, s: nn.LayerNorm(17, eps=1e-6)),
    Case("ReLU6", {}, [(3, 4, 5)], _activation(nn.ReLU6())),
    Case("SiLU", {}, [(7,)], _activation(nn.SiLU())),
    Case("Hardswish", {}, [(2, 3, 4)], _activation(nn.Hardswish())),
    Case("Hardsigmoid", {}, [(2, 9)], _activation(nn.Hardsigmoid())),
    Case("Identity", {}, [(4, 6)], lambda p, s: nn.Identity()),
    Case("Multiply", {}, [(4, 5, 6), (4, 1, 1)], lambda p, s: Lambda(lambda a, b: a * b)),
    Case("Multiply", {}, [(3, 7), (3, 7)], lambda p, s: Lambda(lambda a, b: a * b)),
    Case("Upsample", {}, [(3, 5, 6)], lambda p, s: nn.Upsample(scale_factor=2)),
    Case(
        "Upsample",
        {"scale_factor": 3, "mode": "bilinear"},
        [(2, 4, 5)],
        lambda p, s: Lambda(lambda x: nn.functional.interpolate(x, scale_factor=3, mode="bilinear")),
    ),
    Case("Permute", {"dims": [2, 3, 1]}, [(3, 4, 5)], lambda p, s: Lambda(lambda x: x.permute(0, 2, 3, 1))),
    Case("Permute", {"dims": [2, 1]}, [(5, 7)], lambda p, s: Lambda(lambda x: x.permute(0, 2, 1))),
    Case("Transpose", {}, [(4, 9)], lambda p, s: Lambda(lambda x: x.transpose(1, 2))),
    Case(
        "Transpose", {"dim0": -1, "dim1": 1}, [(2, 3, 4)], lambda p, s: Lambda(lambda x: x.transpose(-1, 1))
    ),
    Case("Select", {}, [(5, 8)], lambda p, s: Lambda(lambda x: x[:, 0])),
    Case("Select", {"index": -1}, [(6, 3)], lambda p, s: Lambda(lambda x: x[:, -1, :])),
    Case("Select", {"dim": 2, "index": 3}, [(2, 5, 4)], lambda p, s: Lambda(lambda x: x[:, :, 3])),
    Case("Mean", {}, [(6, 8)], lambda p, s: Lambda(lambda x: x.mean(dim=1))),
    Case(
        "Mean",
        {"dim": -1, "keepdim": True},
        [(3, 4, 5)],
        lambda p, s: Lambda(lambda x: x.mean(-1, keepdim=True)),
    ),
    Case("ClassToken", {}, [(9, 16)], lambda p, s: LearnedToken(16)),
    Case("PositionEmbedding", {}, [(10, 16)], lambda p, s: LearnedAdd(10, 16)),
    Case("PositionEmbedding", {}, [(3, 4, 4)], lambda p, s: LearnedAdd(3, 4, 4)),
    Case("LayerScale", {}, [(4, 4, 12)], lambda p, s: LearnedScale(12)),
    # ResNet shortcut: identity when the shape is kept, else strided 1x1 conv + BatchNorm.
    Case("Shortcut", {"out_channels": 8}, [(8, 6, 6)], lambda p, s: nn.Sequential()),
    Case(
        "Shortcut",
        {"out_channels": 16, "stride": 2},
        [(8, 7, 7)],
        lambda p, s: nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16)),
    ),
    # A foreign module: its shape rule and parameter count are what the import measured.
    Case(
        "Foreign",
        {"target": "torch.nn:Linear", "args": [20, 7], "in_shape": [20], "out_shape": [7], "parameters": 147},
        [(20,)],
        lambda p, s: nn.Linear(*p["args"]),
    ),
]


def _batch(case: Case) -> list[torch.Tensor]:
    torch.manual_seed(0)
    if case.int_inputs:
        high = case.params["num_embeddings"]
        return [torch.randint(0, high, (BATCH, *shape)) for shape in case.inputs]
    return [torch.randn(BATCH, *shape) for shape in case.inputs]


def _run_reference(case: Case, params: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    module = case.build(params, case.inputs)
    module.eval()
    with torch.no_grad():
        out = module(*_batch(case))
    assert out.shape[0] == BATCH
    return tuple(out.shape[1:]), sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_shape_and_parameters_match_torch(case: Case) -> None:
    spec = get_spec(case.type)
    params = spec.complete_params(case.params)
    shape, count = _run_reference(case, params)
    assert spec.infer(params, case.inputs) == shape
    assert spec.count_params(params, case.inputs) == count


def test_every_catalog_type_is_checked_against_torch() -> None:
    """A new layer type must come with a reference case above."""
    assert {case.type for case in CASES} == set(CATALOG)


# The same rules must also refuse what torch refuses.
REJECTED: list[Case] = [
    Case("Conv2d", {"kernel_size": 5}, [(3, 4, 4)], _conv(2)),
    Case("Conv1d", {"kernel_size": 3, "dilation": 4}, [(2, 8)], _conv(1)),
    Case("Conv2d", {}, [(3, 16)], _conv(2)),
    Case("MaxPool2d", {"kernel_size": 2, "padding": 2}, [(1, 8, 8)], _pool(nn.MaxPool2d)),
    Case("AvgPool1d", {"kernel_size": 6, "stride": 1}, [(1, 5)], _pool(nn.AvgPool1d)),
    Case(
        "ConvTranspose2d",
        {"stride": 2, "output_padding": 2},
        [(3, 4, 4)],
        lambda p, s: nn.ConvTranspose2d(3, 16, 3, stride=2, output_padding=2),
    ),
    Case("BatchNorm2d", {}, [(6, 9)], lambda p, s: nn.BatchNorm2d(6)),
    Case("BatchNorm1d", {}, [(2, 3, 4)], lambda p, s: nn.BatchNorm1d(2)),
    Case(
        "MultiheadAttention",
        {"num_heads": 4},
        [(5, 10)],
        lambda p, s: SelfAttention(nn.MultiheadAttention(10, 4, batch_first=True)),
    ),
    Case("LSTM", {"hidden_size": 4}, [(3, 8, 8)], _recurrent(nn.LSTM)),
    Case("Reshape", {"shape": [5, 5]}, [(24,)], lambda p, s: Lambda(lambda x: x.view(x.shape[0], 5, 5))),
    Case("Softmax", {"dim": 2}, [(10,)], _activation(nn.Softmax(dim=2))),
    Case("Concat", {}, [(4, 8, 8), (6, 8, 7)], lambda p, s: Lambda(lambda *xs: torch.cat(xs, dim=1))),
    Case("Concat", {}, [(4, 8, 8), (4, 8)], lambda p, s: Lambda(lambda *xs: torch.cat(xs, dim=1))),
    Case("Add", {}, [(4, 8, 8), (3, 8, 8)], lambda p, s: Lambda(lambda a, b: a + b)),
    Case("Inception", {}, [(16, 8)], lambda p, s: PaperInception(16, 64, 96, 128, 16, 32, 32)),
    Case("Conv2d", {"out_channels": 8, "groups": 3}, [(6, 8, 8)], lambda p, s: nn.Conv2d(6, 8, 3, groups=3)),
    Case("Multiply", {}, [(4, 5, 6), (3, 1, 1)], lambda p, s: Lambda(lambda a, b: a * b)),
    Case("Permute", {"dims": [1, 1, 2]}, [(3, 4, 5)], lambda p, s: Lambda(lambda x: x.permute(0, 1, 1, 2))),
    Case("Select", {"index": 5}, [(5, 8)], lambda p, s: Lambda(lambda x: x[:, 5])),
    Case("Transpose", {"dim1": 3}, [(4, 9)], lambda p, s: Lambda(lambda x: x.transpose(1, 3))),
    Case("ClassToken", {}, [(3, 9, 16)], lambda p, s: LearnedToken(16)),
]


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.id)
def test_shapes_torch_refuses_are_refused_with_a_sentence(case: Case) -> None:
    spec = get_spec(case.type)
    params = spec.complete_params(case.params)
    with pytest.raises(ShapeError) as refused:
        spec.infer(params, case.inputs)
    message = str(refused.value)
    assert message.endswith(".") and len(message.split()) >= 5
    with pytest.raises((RuntimeError, ValueError, AssertionError, IndexError)):
        _run_reference(case, params)


def test_merge_errors_name_every_shape() -> None:
    add = get_spec("Add")
    with pytest.raises(
        ShapeError, match=r"inputs have shapes \(64, 16, 16\) and \(32, 16, 16\); they must match\."
    ):
        add.infer({}, [(64, 16, 16), (32, 16, 16)])
    with pytest.raises(ShapeError, match=r"\(4,\), \(4,\) and \(5,\)"):
        add.infer({}, [(4,), (4,), (5,)])
    concat = get_spec("Concat")
    with pytest.raises(ShapeError, match=r"\(4, 8, 8\) and \(6, 8, 7\); all sizes except dim 1 must match"):
        concat.infer({"dim": 1}, [(4, 8, 8), (6, 8, 7)])


# --- multiply-adds, where torch can count them -------------------------------------------------

MAC_CASES = [
    c for c in CASES if c.type in {"Linear", "Conv1d", "Conv2d", "ConvTranspose2d", "Inception", "Shortcut"}
]


@pytest.mark.parametrize("case", MAC_CASES, ids=lambda c: c.id)
def test_multiply_adds_match_torchs_flop_counter(case: Case) -> None:
    spec = get_spec(case.type)
    params = spec.complete_params(case.params)
    module = case.build(params, case.inputs).eval()
    sample = [torch.randn(1, *shape) for shape in case.inputs]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(*sample)
    figures = layer_figures(spec, params, case.inputs)
    assert 2 * figures.macs == counter.get_total_flops()
    assert figures.activation_bytes == 4 * torch.Size(figures.output_shape).numel()


# --- the catalog's own templates agree with the hand-built references ---------------------------


class _Holder(nn.Module):
    pass


def _template_literal(kind: str, value: Any) -> str:
    if kind == "import_path":  # a foreign module's class, 'torch.nn:Linear' -> torch.nn.Linear
        return value.replace(":", ".")
    if kind == "json_args":  # its constructor's arguments, spread into the call
        return ", ".join(repr(a) for a in value)
    return repr(tuple(value) if isinstance(value, list) else value)


def _build_from_templates(case: Case, params: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """Fill the spec's templates the way a code generator would (values as Python
    literals, derived values as given) and run them. Independent of the compiler:
    this checks the catalog, not code generation."""
    spec = get_spec(case.type)
    names: dict[str, Any] = {"nn": nn, "torch": torch}
    if spec.support_code:
        exec(spec.support_code, names)
    literals = {k: _template_literal(spec.param(k).kind, v) for k, v in params.items()}
    fill = {**literals, **{k: str(v) for k, v in spec.derive(params, case.inputs).items()}}
    holder = _Holder()
    if spec.module_template(params):
        holder.layer = eval(spec.module_template(params).format(**fill), names)
    xs = [f"x{i}" for i in range(len(case.inputs))]
    body = spec.forward_template(params).format(
        out="out", attr="layer", x=xs[0] if xs else "None", inputs=", ".join(xs), sum=" + ".join(xs), **fill
    )
    source = (
        f"def forward(self, {', '.join(xs)}):\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + "    return out\n"
    )
    exec(source, names)
    forward = names["forward"]
    return Lambda(lambda *tensors: forward(holder, *tensors)), holder


TEMPLATE_CASES = [c for c in CASES if get_spec(c.type).role == ""]


@pytest.mark.parametrize("case", TEMPLATE_CASES, ids=lambda c: c.id)
def test_code_templates_compute_what_the_reference_computes(case: Case) -> None:
    """Same weights in, same numbers out: catches a template that reads the wrong
    hidden state or joins inputs in the wrong order, which shapes alone miss."""
    spec = get_spec(case.type)
    params = spec.complete_params(case.params)
    reference = case.build(params, case.inputs).eval()
    module, holder = _build_from_templates(case, params)
    holder.eval()
    ours, theirs = list(holder.parameters()), list(reference.parameters())
    assert [p.shape for p in ours] == [p.shape for p in theirs]
    with torch.no_grad():
        for mine, source in zip(ours, theirs, strict=True):
            mine.copy_(source)
        batch = _batch(case)
        torch.testing.assert_close(module(*batch), reference(*batch))


# --- the catalog as data ----------------------------------------------------------------------


def test_catalog_covers_the_layers_the_course_needs() -> None:
    missing = REQUIRED_TYPES - set(CATALOG)
    assert not missing, f"catalog lacks {sorted(missing)}"


@pytest.mark.parametrize("spec", CATALOG.values(), ids=lambda s: s.type)
def test_spec_is_complete_and_self_consistent(spec) -> None:
    assert spec.type and CATALOG[spec.type] is spec
    assert spec.category in CATEGORIES
    assert len(spec.description.split()) >= 6 and spec.description.endswith(".")
    assert spec.role in {"", "input", "output"}
    assert spec.min_inputs >= 0
    assert spec.max_inputs is None or spec.max_inputs >= spec.min_inputs
    names = [p.name for p in spec.params]
    assert len(names) == len(set(names))
    assert set(spec.key_params) <= set(names)
    for param in spec.params:
        assert param.kind in {"int", "float", "bool", "choice", "shape", "import_path", "json_args"}
        assert param.doc, f"{spec.type}.{param.name} has no doc"
        coerced = param.coerce(param.default)
        assert param.coerce(coerced) == coerced
        if param.kind == "choice":
            assert param.default in param.choices
    assert spec.complete_params({}) == {p.name: p.coerce(p.default) for p in spec.params}


def test_specs_by_category_lists_every_spec_once_in_display_order() -> None:
    grouped = specs_by_category()
    assert list(grouped) == list(CATEGORIES)
    listed = [spec.type for specs in grouped.values() for spec in specs]
    assert sorted(listed) == sorted(CATALOG)


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(UnknownLayerError, match=r"Unknown layer type 'Conv3d'\. Known types: .*Conv2d"):
        get_spec("Conv3d")


@pytest.mark.parametrize(
    ("type_name", "params", "message"),
    [
        ("Linear", {"out_features": 0}, "'out_features' must be at least 1, not 0."),
        ("Linear", {"out_features": 2.5}, "'out_features' must be a whole number, not 2.5."),
        ("Linear", {"out_features": "64"}, "'out_features' must be a whole number, not '64'."),
        ("Linear", {"out_features": True}, "'out_features' must be a whole number, not True."),
        ("Linear", {"bias": 1}, "'bias' must be true or false, not 1."),
        ("Dropout", {"p": float("nan")}, "'p' must be a finite number, not nan."),
        ("Dropout", {"p": 1.5}, "'p' must be at most 0.99, not 1.5."),
        ("RNN", {"nonlinearity": "sigmoid"}, "'nonlinearity' must be one of 'tanh', 'relu', not 'sigmoid'."),
        ("Input", {"shape": "1, 28, 28"}, "'shape' must be a list of sizes like [1, 28, 28]."),
        ("Input", {"shape": [1, 0]}, "'shape' must hold whole numbers from 1 to 1000000, not [1, 0]."),
        ("Input", {"shape": []}, "'shape' must have 1 to 4 sizes, not 0."),
        ("Input", {"shape": [1, 2, 3, 4, 5]}, "'shape' must have 1 to 4 sizes, not 5."),
        ("Linear", {"units": 3}, "Linear has no parameter 'units' (its parameters: out_features, bias)."),
    ],
)
def test_bad_parameter_values_are_refused_with_a_sentence(type_name: str, params: dict, message: str) -> None:
    with pytest.raises(ParamError) as refused:
        get_spec(type_name).complete_params(params)
    assert str(refused.value) == message


def test_whole_floats_are_accepted_for_integers() -> None:
    """JSON written by other tools may say 64.0 for 64."""
    assert get_spec("Linear").complete_params({"out_features": 64.0})["out_features"] == 64


@pytest.mark.parametrize(("shape", "text"), [((6, 28, 28), "(6, 28, 28)"), ((10,), "(10,)"), (None, "?")])
def test_format_shape(shape: Sequence[int] | None, text: str) -> None:
    assert format_shape(shape) == text


def test_a_foreign_module_refuses_inputs_other_than_the_measured_ones() -> None:
    spec = get_spec("Foreign")
    params = spec.complete_params({"target": "pkg.layers:SwishGate", "in_shape": [8], "out_shape": [8]})
    with pytest.raises(ShapeError, match=r"measured on inputs of shape \(8,\).*cannot take \(9,\)"):
        spec.infer(params, [(9,)])


@pytest.mark.parametrize(
    "target",
    [
        "os:system",
        "__import__",
        "os.path:join",
        "subprocess:Popen",
        "builtins:Exception",
        "a b:C",
        "pkg.mod:Cls; import os",
        "pkg.__init__:Cls",
        "pkg.class:Cls",
        "pkg.mod:cls",
        42,
        None,
    ],
)
def test_a_foreign_import_path_must_be_plain_identifiers(target: Any) -> None:
    with pytest.raises(ParamError, match="'target'"):
        get_spec("Foreign").complete_params({"target": target})


@pytest.mark.parametrize(
    "args",
    [{"cmd": "rm"}, [{"__reduce__": "os.system"}], "__import__('os')", [float("nan")], [[[[[[1]]]]]], [b"x"]],
)
def test_foreign_arguments_must_be_plain_data(args: Any) -> None:
    with pytest.raises(ParamError, match="'args'"):
        get_spec("Foreign").complete_params({"args": args})


def test_foreign_arguments_keep_numbers_text_flags_nulls_and_lists() -> None:
    params = get_spec("Foreign").complete_params({"args": [3, 0.5, "gelu", True, None, [1, 2]]})
    assert params["args"] == (3, 0.5, "gelu", True, None, [1, 2])
