"""The compiled module: the catalog's promises checked against real torch modules.

Every layer type is compiled on its own and compared with the same layer
written by hand in plain ``torch.nn``: parameter shapes, parameter count (also
against the catalog's ``num_parameters``) and, with the hand-written weights
copied in, the outputs. Then the meta-tensor shape check is shown to catch a
drifting catalog rule, and tracebacks are shown to point at generated lines.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

from nnstudio.api import Graph
from nnstudio.compiler.build import ShapeMismatchError
from nnstudio.core import layers
from nnstudio.core.layers import CATALOG

from .graphs import EXAMPLES_DIR, chain_graph


class Fn(nn.Module):
    """A parameter-free reference written as a plain function."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


class LastStep(nn.Module):
    """A recurrent layer's final hidden state (both directions joined)."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(x)
        if isinstance(h_n, tuple):
            h_n = h_n[0]
        return torch.cat([h_n[-2], h_n[-1]], dim=1) if self.rnn.bidirectional else h_n[-1]


class EveryStep(nn.Module):
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
    """Inception as in Szegedy et al. (2014), figure 2(b), written out branch by branch."""

    def __init__(self, c_in: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, proj: int) -> None:
        super().__init__()
        self.one = nn.Conv2d(c_in, c1, 1)
        self.three_reduce = nn.Conv2d(c_in, c3r, 1)
        self.three = nn.Conv2d(c3r, c3, 3, padding=1)
        self.five_reduce = nn.Conv2d(c_in, c5r, 1)
        self.five = nn.Conv2d(c5r, c5, 5, padding=2)
        self.pool_projection = nn.Conv2d(c_in, proj, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = torch.relu
        return torch.cat(
            [
                relu(self.one(x)),
                relu(self.three(relu(self.three_reduce(x)))),
                relu(self.five(relu(self.five_reduce(x)))),
                relu(self.pool_projection(nn.functional.max_pool2d(x, 3, stride=1, padding=1))),
            ],
            dim=1,
        )


class Learned(nn.Module):
    """One learned tensor used by a function of the input, written out by hand."""

    def __init__(
        self, shape: tuple[int, ...], fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.randn(shape))
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.value, x)


@dataclass
class Case:
    type: str
    params: dict[str, Any]
    inputs: list[tuple[int, ...]]
    reference: Callable[[], nn.Module]
    dtype: str = "float32"
    id: str = field(default="")


CASES = [
    Case("Linear", {"out_features": 7}, [(20,)], lambda: nn.Linear(20, 7)),
    Case("Linear", {"out_features": 5, "bias": False}, [(6, 11)], lambda: nn.Linear(11, 5, bias=False)),
    Case("Flatten", {}, [(3, 4, 5)], nn.Flatten),
    Case("Reshape", {"shape": [1, 8, 8]}, [(64,)], lambda: Fn(lambda x: x.view(x.shape[0], 1, 8, 8))),
    Case("Dropout", {"p": 0.3}, [(9,)], lambda: nn.Dropout(0.3)),
    Case("BatchNorm1d", {}, [(12,)], lambda: nn.BatchNorm1d(12)),
    Case("BatchNorm1d", {}, [(12, 30)], lambda: nn.BatchNorm1d(12)),
    Case("BatchNorm2d", {}, [(6, 9, 7)], lambda: nn.BatchNorm2d(6)),
    Case("LayerNorm", {}, [(5, 17)], lambda: nn.LayerNorm(17)),
    Case(
        "LayerNorm",
        {"elementwise_affine": False},
        [(4, 3, 8)],
        lambda: nn.LayerNorm(8, elementwise_affine=False),
    ),
    Case(
        "Conv1d",
        {"out_channels": 8, "kernel_size": 5, "stride": 2, "padding": 1, "dilation": 2},
        [(3, 50)],
        lambda: nn.Conv1d(3, 8, 5, stride=2, padding=1, dilation=2),
    ),
    Case("Conv2d", {"out_channels": 6, "kernel_size": 5}, [(1, 32, 32)], lambda: nn.Conv2d(1, 6, 5)),
    Case(
        "Conv2d",
        {"out_channels": 4, "kernel_size": 3, "stride": 3, "dilation": 2, "bias": False},
        [(3, 17, 16)],
        lambda: nn.Conv2d(3, 4, 3, stride=3, dilation=2, bias=False),
    ),
    Case(
        "ConvTranspose2d",
        {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
        [(8, 7, 7)],
        lambda: nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
    ),
    Case(
        "MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, [(4, 33)], lambda: nn.MaxPool1d(3, 2, 1)
    ),
    Case("MaxPool2d", {}, [(4, 15, 16)], lambda: nn.MaxPool2d(2)),
    Case(
        "AvgPool1d", {"kernel_size": 4, "stride": 3, "padding": 2}, [(2, 19)], lambda: nn.AvgPool1d(4, 3, 2)
    ),
    Case("AvgPool2d", {}, [(6, 28, 27)], lambda: nn.AvgPool2d(2)),
    Case("AdaptiveAvgPool2d", {"output_size": 4}, [(8, 13, 11)], lambda: nn.AdaptiveAvgPool2d(4)),
    Case("GlobalAvgPool2d", {}, [(8, 5, 7)], lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
    Case("ReLU", {}, [(3, 4, 5)], nn.ReLU),
    Case("LeakyReLU", {"negative_slope": 0.2}, [(10,)], lambda: nn.LeakyReLU(0.2)),
    Case("Sigmoid", {}, [(2, 3)], nn.Sigmoid),
    Case("Tanh", {}, [(2, 3, 4, 5)], nn.Tanh),
    Case("GELU", {}, [(7,)], nn.GELU),
    Case("Softmax", {}, [(10,)], lambda: nn.Softmax(dim=-1)),
    Case("LogSoftmax", {"dim": 1}, [(3, 10)], lambda: nn.LogSoftmax(dim=1)),
    Case("LSTM", {"hidden_size": 7}, [(12, 5)], lambda: LastStep(nn.LSTM(5, 7, batch_first=True))),
    Case(
        "LSTM",
        {"hidden_size": 4, "num_layers": 2, "bidirectional": True},
        [(12, 5)],
        lambda: LastStep(nn.LSTM(5, 4, num_layers=2, bidirectional=True, batch_first=True)),
    ),
    Case(
        "GRU",
        {"hidden_size": 6, "return_sequences": True},
        [(12, 5)],
        lambda: EveryStep(nn.GRU(5, 6, batch_first=True)),
    ),
    Case(
        "GRU",
        {"hidden_size": 3, "bidirectional": True, "return_sequences": True},
        [(4, 2)],
        lambda: EveryStep(nn.GRU(2, 3, bidirectional=True, batch_first=True)),
    ),
    Case(
        "RNN",
        {"hidden_size": 5, "nonlinearity": "relu", "num_layers": 2},
        [(9, 3)],
        lambda: LastStep(nn.RNN(3, 5, num_layers=2, nonlinearity="relu", batch_first=True)),
    ),
    Case(
        "Embedding",
        {"num_embeddings": 50, "embedding_dim": 16},
        [(10,)],
        lambda: nn.Embedding(50, 16),
        dtype="int64",
    ),
    Case(
        "MultiheadAttention",
        {"num_heads": 4},
        [(10, 16)],
        lambda: SelfAttention(nn.MultiheadAttention(16, 4, batch_first=True)),
    ),
    Case(
        "MultiheadAttention",
        {"num_heads": 2, "bias": False},
        [(5, 6)],
        lambda: SelfAttention(nn.MultiheadAttention(6, 2, bias=False, batch_first=True)),
    ),
    Case(
        "Inception",
        {"ch1x1": 4, "ch3x3red": 3, "ch3x3": 5, "ch5x5red": 2, "ch5x5": 6, "pool_proj": 7},
        [(12, 8, 8)],
        lambda: PaperInception(12, 4, 3, 5, 2, 6, 7),
    ),
    Case("Concat", {}, [(4, 8, 8), (6, 8, 8)], lambda: Fn(lambda a, b: torch.cat([a, b], dim=1))),
    Case("Concat", {"dim": -1}, [(3, 5), (3, 7), (3, 1)], lambda: Fn(lambda *xs: torch.cat(xs, dim=-1))),
    Case("Add", {}, [(4, 8, 8), (4, 8, 8)], lambda: Fn(lambda a, b: a + b)),
    Case("Add", {}, [(5,), (5,), (5,)], lambda: Fn(lambda a, b, c: a + b + c)),
    Case("Shortcut", {"out_channels": 6}, [(6, 5, 5)], nn.Identity),
    Case(
        "Shortcut",
        {"out_channels": 8, "stride": 2},
        [(4, 9, 9)],
        lambda: nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8)),
    ),
    # a foreign module kept whole by an import: the class it names, built with its arguments
    Case(
        "Foreign",
        {"target": "torch.nn:Linear", "args": [20, 7], "in_shape": [20], "out_shape": [7], "parameters": 147},
        [(20,)],
        lambda: nn.Linear(20, 7),
    ),
    # grown for importing PyTorch models
    Case(
        "Conv2d",
        {"out_channels": 8, "padding": 1, "groups": 4},
        [(4, 9, 9)],
        lambda: nn.Conv2d(4, 8, 3, padding=1, groups=4),
    ),
    Case("LayerNorm", {"eps": 1e-6}, [(5, 17)], lambda: nn.LayerNorm(17, eps=1e-6)),
    Case("ReLU6", {}, [(3, 4, 5)], nn.ReLU6),
    Case("SiLU", {}, [(7,)], nn.SiLU),
    Case("Hardswish", {}, [(2, 9)], nn.Hardswish),
    Case("Hardsigmoid", {}, [(2, 9)], nn.Hardsigmoid),
    Case("Identity", {}, [(4, 6)], nn.Identity),
    Case("Multiply", {}, [(4, 5, 6), (4, 1, 1)], lambda: Fn(lambda a, b: a * b)),
    Case(
        "Upsample",
        {"scale_factor": 3, "mode": "bilinear"},
        [(2, 4, 5)],
        lambda: nn.Upsample(scale_factor=3, mode="bilinear"),
    ),
    Case("Permute", {"dims": [2, 3, 1]}, [(3, 4, 5)], lambda: Fn(lambda x: x.permute(0, 2, 3, 1))),
    Case("Transpose", {}, [(4, 9)], lambda: Fn(lambda x: x.transpose(1, 2))),
    Case("Select", {"index": -1}, [(6, 3)], lambda: Fn(lambda x: x[:, -1])),
    Case("Mean", {"dim": -1, "keepdim": True}, [(3, 4, 5)], lambda: Fn(lambda x: x.mean(-1, keepdim=True))),
    Case(
        "ClassToken",
        {},
        [(9, 16)],
        lambda: Learned((1, 1, 16), lambda p, x: torch.cat([p.expand(3, -1, -1), x], 1)),
    ),
    Case("PositionEmbedding", {}, [(10, 16)], lambda: Learned((1, 10, 16), lambda p, x: x + p)),
    Case("LayerScale", {}, [(4, 4, 12)], lambda: Learned((12,), lambda p, x: p * x)),
]


def _graph(case: Case) -> Graph:
    graph = Graph(name=f"{case.type} alone")
    layer = graph.add(case.type, **case.params)
    for shape in case.inputs:
        graph.connect(graph.add("Input", shape=list(shape), dtype=case.dtype), layer)
    graph.connect(layer, graph.add("Output"))
    return graph


def _inputs(case: Case) -> list[torch.Tensor]:
    torch.manual_seed(0)
    if case.dtype == "int64":
        return [torch.randint(0, case.params["num_embeddings"], (3, *s)) for s in case.inputs]
    return [torch.randn(3, *s) for s in case.inputs]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.type}-{i}" for i, c in enumerate(CASES)])
def test_compiled_layer_equals_the_hand_written_torch_layer(case: Case) -> None:
    graph = _graph(case)
    model = graph.compile()
    reference = case.reference()
    ours = [tuple(p.shape) for p in model.parameters()]
    theirs = [tuple(p.shape) for p in reference.parameters()]
    assert ours == theirs
    count = sum(p.numel() for p in model.parameters())
    assert count == graph.num_parameters() == sum(p.numel() for p in reference.parameters())

    with torch.no_grad():
        for mine, hand_written in zip(model.parameters(), reference.parameters(), strict=True):
            mine.copy_(hand_written)
    model.eval()
    reference.eval()
    inputs = _inputs(case)
    with torch.no_grad():
        torch.testing.assert_close(model(*inputs), reference(*inputs))


def test_every_layer_type_is_compared_with_hand_written_torch() -> None:
    covered = {case.type for case in CASES}
    assert covered == {t for t, spec in CATALOG.items() if not spec.role}


def test_examples_compile_with_the_catalogs_parameter_counts(example_path) -> None:
    graph = Graph.load(example_path)
    model = graph.compile()
    assert sum(p.numel() for p in model.parameters()) == graph.num_parameters()


def test_compiled_module_maps_nodes_to_submodules_with_readable_names() -> None:
    graph = Graph.load(EXAMPLES_DIR / "lenet5.nnstudio")
    model = graph.compile()
    code = model.nnstudio_code
    for node_id, attr in code.attr_of.items():
        node = graph.nodes[node_id]
        if node.type == "Input":  # the module that prepares its raw samples
            assert type(getattr(model, attr)).__name__ == "Preprocess" and attr == f"{node.name}_preprocess"
            continue
        assert type(getattr(model, attr)).__name__ == node.type
        assert attr == node.name  # LeNet-5's names are already identifiers
    assert "conv1.weight" in model.state_dict()
    assert code.input_ids == (graph.node_by_name("image").id,)
    assert code.output_ids == (graph.node_by_name("scores").id,)


# --- the catalog's shape rules, checked on meta tensors -------------------------------------


def _wrong_conv_rule(monkeypatch) -> None:
    """A Conv2d rule that forgets the kernel shrinks the image, as drift would."""
    spec = CATALOG["Conv2d"]
    monkeypatch.setitem(
        layers._SPECS,
        "Conv2d",
        dataclasses.replace(  # the read-only CATALOG's dict
            spec, infer=lambda p, s: (p["out_channels"], *s[0][1:])
        ),
    )


def test_shape_check_names_the_layer_type_whose_rule_drifted(monkeypatch) -> None:
    _wrong_conv_rule(monkeypatch)
    graph = chain_graph((1, 12, 12), ("Conv2d", {"out_channels": 2, "kernel_size": 5}), ("ReLU", {}))
    with pytest.raises(ShapeMismatchError) as caught:
        graph.compile()
    message = str(caught.value)
    assert "shape rule for Conv2d is wrong" in message
    assert "'conv2d1'" in message
    assert "(2, 8, 8)" in message and "(2, 12, 12)" in message


def test_shape_check_blames_the_cause_not_the_layer_that_crashes(monkeypatch) -> None:
    """With the Conv2d rule wrong, fc1 gets a wrong in_features and crashes; conv1 is named."""
    _wrong_conv_rule(monkeypatch)
    graph = Graph.load(EXAMPLES_DIR / "lenet5.nnstudio")
    with pytest.raises(ShapeMismatchError, match=r"Conv2d 'conv1' outputs \(6, 28, 28\)"):
        graph.compile()
    assert graph.compile(check_shapes=False) is not None  # the check is what catches it


def test_shape_check_falls_back_to_a_real_batch_when_meta_fails(monkeypatch) -> None:
    """A layer without meta support is checked on a tiny CPU batch, leaving BatchNorm's statistics alone."""
    original_mean = torch.Tensor.mean

    def no_meta_mean(self, *args, **kwargs):
        if self.is_meta:
            raise NotImplementedError("no meta kernel")
        return original_mean(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "mean", no_meta_mean)
    graph = Graph.load(EXAMPLES_DIR / "resnet_block.nnstudio")
    model = graph.compile()
    assert model.training
    assert int(model.stem_bn.num_batches_tracked) == 0
    assert torch.equal(model.stem_bn.running_mean, torch.zeros(16))

    _wrong_conv_rule(monkeypatch)
    graph = chain_graph(
        (1, 12, 12),
        ("GlobalAvgPool2d", {}),
        ("Reshape", {"shape": [1, 1, 1]}),
        ("Conv2d", {"kernel_size": 1}),
    )
    graph.compile()  # a 1x1 kernel does not shrink the image: the wrong rule happens to hold
    graph.set_param(graph.node_by_name("conv2d1").id, "padding", 1)
    with pytest.raises(ShapeMismatchError, match=r"Conv2d 'conv2d1' outputs \(16, 3, 3\)"):
        graph.compile()


def test_shape_check_leaves_the_trace_function_alone() -> None:
    def tracer(frame, event, arg):
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        Graph.load(EXAMPLES_DIR / "resnet_block.nnstudio").compile()
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


# --- the executed source is the generated source ----------------------------------------------


def test_tracebacks_show_the_generated_line() -> None:
    graph = Graph.load(EXAMPLES_DIR / "lenet5.nnstudio")
    model = graph.compile()
    with pytest.raises(RuntimeError) as caught:
        model(torch.randn(2, 1, 28, 28))  # LeNet-5 wants 32x32
    text = "".join(traceback.format_exception(caught.value))
    assert "<nnstudio-generated LeNet5" in text
    assert "x = self.fc1(x)  # (120,)" in text


def test_the_module_runs_exactly_the_generated_source() -> None:
    graph = Graph.load(EXAMPLES_DIR / "googlenet_mini.nnstudio")
    model = graph.compile()
    source = inspect.getsource(type(model).forward)
    assert source in model.nnstudio_code.src
    assert source.lstrip().startswith("def forward(self, image: torch.Tensor) -> torch.Tensor:")
    assert graph.to_python() == model.nnstudio_code.src
