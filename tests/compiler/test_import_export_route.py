"""Parts torch.fx cannot trace go through torch.export before they are kept whole.

torch.fx traces with proxies, so ``if x.ndim == 3`` in a forward stops it (a
proxy's rank cannot decide a branch). torch.export runs forward with fake
tensors that know their rank, so such a part still becomes catalog layers,
with its submodules' parameters read from the modules as on the fx route.
Only what both refuse (a branch on tensor values) is kept as a foreign module,
and the report says why for each part.
"""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from nnstudio.compiler.importer import ModelImportError, from_torch

FX_FAILS = "symbolically traced variables cannot be used as inputs to control flow"


class GrayscaleStem(nn.Module):
    """Takes images as (N, H, W) or (N, 1, H, W), as grayscale data loaders give either."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)
        return F.relu(self.bn(self.conv(x)), inplace=True)


class BasicBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return F.relu(out)


class GrayscaleNet(nn.Module):
    def __init__(self, width: int = 8, classes: int = 5) -> None:
        super().__init__()
        self.stem = GrayscaleStem(width)
        self.layer = nn.Sequential(BasicBlock(width), BasicBlock(width))
        self.fc = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class FlexibleNet(GrayscaleNet):
    """The rank check in the model's own forward: the whole model goes through torch.export."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)
        x = self.layer(F.relu(self.stem(x)))
        return self.fc(x.mean(dim=(2, 3)))


class SignGate(nn.Module):
    """Branches on the values themselves: neither tracer can hold that in one graph."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x


class GatedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 6)
        self.gate = SignGate()
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.gate(self.fc1(x)))


class SortingStem(nn.Module):
    """torch.export traces it, but sorting has no catalog layer: it is kept whole."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.conv = nn.Conv2d(1, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)
        return torch.sort(self.conv(x), dim=-1).values


def _images() -> torch.Tensor:
    return torch.randn(2, 16, 16, generator=torch.Generator().manual_seed(0))


def _types(result) -> list[str]:
    return sorted(n.type for n in result.graph.nodes.values())


def _same_outputs(result, model: nn.Module, inputs: torch.Tensor) -> None:
    compiled = result.graph.compile()
    compiled.load_state_dict(result.weights, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled.eval()(inputs), model(inputs), atol=1e-5, rtol=0)


def test_fx_cannot_trace_a_rank_check_in_a_submodule() -> None:
    with pytest.raises(torch.fx.proxy.TraceError, match=FX_FAILS):
        torch.fx.symbolic_trace(GrayscaleNet())


def test_a_submodule_fx_cannot_trace_becomes_catalog_layers_through_torch_export() -> None:
    model = GrayscaleNet().eval()
    inputs = _images()
    result = from_torch(model, inputs, blocks=False)
    assert "Foreign" not in _types(result)
    nodes = {n.name: n for n in result.graph.nodes.values()}
    conv = nodes["stem_conv"]  # read from the module, as on the fx route
    assert conv.type == "Conv2d"
    assert {k: conv.params[k] for k in ("out_channels", "kernel_size", "stride", "padding", "bias")} == {
        "out_channels": 8,
        "kernel_size": 3,
        "stride": 2,
        "padding": 1,
        "bias": False,
    }
    assert nodes["stem_bn"].type == "BatchNorm2d"
    assert _types(result).count("Add") == 2 and _types(result).count("Conv2d") == 5
    text = str(result.report)
    assert f"'stem' (GrayscaleStem) was traced with torch.export because torch.fx failed: {FX_FAILS}" in text
    assert "The rest of GrayscaleNet was traced with torch.fx." in text
    assert result.report.verified and result.report.max_difference <= 1e-5
    assert result.graph.num_parameters() == sum(p.numel() for p in model.parameters())
    _same_outputs(result, model, inputs)


def test_a_model_whose_own_forward_fx_cannot_trace_is_exported_whole() -> None:
    model = FlexibleNet().eval()
    inputs = _images()
    with pytest.raises(torch.fx.proxy.TraceError, match=FX_FAILS):
        torch.fx.symbolic_trace(model)
    result = from_torch(model, inputs)
    assert "Foreign" not in _types(result)
    text = str(result.report)
    assert f"FlexibleNet was traced with torch.export because torch.fx failed: {FX_FAILS}" in text
    assert "The rest of" not in text
    assert {"Reshape", "GlobalAvgPool2d", "Linear"} <= set(_types(result))  # unsqueeze, mean, fc
    assert list(result.graph.blocks.names()) == ["BasicBlock"]  # module stacks survive the route
    assert result.report.verified
    _same_outputs(result, model, inputs)


def test_a_part_both_routes_fail_on_is_kept_foreign_with_both_reasons() -> None:
    model = GatedNet().eval()
    inputs = torch.randn(2, 6)
    result = from_torch(model, inputs)
    (gate,) = [n for n in result.graph.nodes.values() if n.type == "Foreign"]
    assert gate.params["target"] == f"{__name__}:SignGate"
    (line,) = [line for line in result.report if line.node_id == gate.id and "foreign" in line.text]
    assert f"because torch.fx failed ({FX_FAILS}) and torch.export failed too (" in line.text
    assert "data-dependent" in line.text
    assert result.report.verified
    _same_outputs(result, model, inputs)


def test_a_part_both_routes_fail_on_that_cannot_be_kept_is_refused_with_both_reasons() -> None:
    class Local(SignGate):  # defined in a function: exported code could not import it
        pass

    model = GatedNet()
    model.gate = Local()
    with pytest.raises(ModelImportError) as refused:
        from_torch(model, torch.randn(2, 6))
    message = str(refused.value)
    assert f"The forward of 'gate' (Local) cannot be traced: {FX_FAILS}." in message
    assert "torch.export failed too ('gate': " in message and "data-dependent" in message


def test_inputs_the_model_rejects_are_blamed_before_trying_torch_export() -> None:
    with pytest.raises(
        ModelImportError, match=r"rejects example inputs of shape \(2, 3, 16, 16\)"
    ) as refused:
        from_torch(GrayscaleNet(), torch.randn(2, 3, 16, 16))
    assert refused.value.bad_input


def test_an_exported_part_holding_an_operation_the_catalog_lacks_is_kept_foreign() -> None:
    model = GrayscaleNet().eval()
    model.stem = SortingStem(8)
    inputs = _images()
    result = from_torch(model, inputs)
    (stem,) = [n for n in result.graph.nodes.values() if n.type == "Foreign"]
    assert stem.params["target"] == f"{__name__}:SortingStem" and stem.params["args"] == (8,)
    assert "traced with torch.export" not in str(result.report)
    assert result.report.verified
    _same_outputs(result, model, inputs)


class Wrapper(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*inputs)


class RankChecked(Wrapper):
    """Serving code often checks the input's rank first; fx cannot, so all of it is exported."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if inputs[0].ndim < 2:
            raise ValueError("inputs need a batch dimension")
        return self.model(*inputs)


@pytest.mark.parametrize("name", ["vit", "lstm_classifier", "unet"])
def test_both_routes_give_the_same_graph_for_classic_architectures(name: str) -> None:
    corpus = importlib.import_module(f"{__package__}.import_corpus.{name}")
    generator = torch.Generator().manual_seed(0)
    vocab = getattr(corpus, "VOCAB", None)
    inputs = tuple(
        torch.randint(0, vocab, shape, generator=generator)
        if vocab
        else torch.randn(*shape, generator=generator)
        for shape in corpus.INPUTS
    )
    model = corpus.build().eval()
    traced = from_torch(Wrapper(model), inputs, name="model")
    exported = from_torch(RankChecked(model), inputs, name="model")
    assert "RankChecked was traced with torch.export" in str(exported.report)
    assert exported.report.verified
    assert exported.graph.to_python() == traced.graph.to_python()


class TwoHeads(nn.Module):
    """Returns two results, one of them changed in place; fx stops at the rank check."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.b = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim == 3:
            x = x.mean(1)
        y = self.bn(self.a(x))
        y.relu_()
        return y, self.b(x)


class TwoHeadNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = TwoHeads()
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, q = self.heads(x)
        return self.fc(torch.cat([p, q], 1))


def test_an_exported_part_returning_a_tuple_feeds_each_item_where_it_is_used() -> None:
    model = TwoHeadNet().eval()
    inputs = torch.randn(3, 4)
    result = from_torch(model, inputs)
    assert [n.type for n in result.graph.nodes.values()].count("Linear") == 3
    assert "ReLU" in _types(result) and "Foreign" not in _types(result)
    assert "'heads' (TwoHeads) was traced with torch.export" in str(result.report)
    _same_outputs(result, model, inputs)


class MultiViewNet(nn.Module):
    """A multi-view model: one encoder for each view of a sample, their features summed."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(16, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        total = 0
        for view in views.unbind(1):  # fx cannot iterate a traced value
            total = total + torch.relu(self.encoder(view))
        return self.head(total)


def test_a_loop_over_a_tensors_items_becomes_selections() -> None:
    model = MultiViewNet().eval()
    inputs = torch.randn(2, 3, 16)
    with pytest.raises(torch.fx.proxy.TraceError, match="Proxy object cannot be iterated"):
        torch.fx.symbolic_trace(model)
    result = from_torch(model, inputs)
    selects = [n for n in result.graph.nodes.values() if n.type == "Select"]
    assert sorted((n.params["dim"], n.params["index"]) for n in selects) == [(1, 0), (1, 1), (1, 2)]
    assert "Foreign" not in _types(result)
    assert (
        "MultiViewNet was traced with torch.export because torch.fx failed: Proxy object cannot be iterated;"
        in str(result.report)
    )
    _same_outputs(result, model, inputs)


class RankCheckedBlock(BasicBlock):
    """A residual block that also takes unbatched feature maps, as some serving code sends."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(0)
        return super().forward(x)


class RankCheckedNet(GrayscaleNet):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.layer = nn.Sequential(*(RankCheckedBlock(8) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def test_every_instance_of_a_class_fx_fails_on_is_exported_in_one_round(monkeypatch) -> None:
    from nnstudio.compiler import import_export

    exports = []
    export = import_export.export
    monkeypatch.setattr(import_export, "export", lambda *a: exports.append(a) or export(*a))
    model = RankCheckedNet().eval()
    inputs = torch.randn(2, 1, 8, 8)
    result = from_torch(model, inputs)
    assert len(exports) == 3  # one import round: each instance exported once
    text = str(result.report)
    assert (
        f"'layer.0', 'layer.1' and 'layer.2' (RankCheckedBlock) were traced with torch.export because torch.fx failed: {FX_FAILS}"
        in text
    )
    (block,) = [n for n in result.graph.nodes.values() if n.type == "Block"]  # still one repeated block
    assert block.params["repeat"] == 3
    assert result.report.verified
    _same_outputs(result, model, inputs)
