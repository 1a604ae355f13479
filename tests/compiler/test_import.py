"""Importing PyTorch models: classic architectures, round trips and refusals.

Each model of ``import_corpus`` is written the way people write it; importing
it must keep every parameter, compute the same outputs (eval mode), map to
the catalog layers the architecture is made of, and give code that runs
without nnstudio. A model nnstudio exported must import back as the same
graph, and a model the catalog cannot express is refused with a sentence.
"""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from safetensors.torch import load_file, save_file
from torch import nn

from nnstudio.api import Graph
from nnstudio.compiler.build import example_inputs
from nnstudio.compiler.codegen import generate
from nnstudio.compiler.importer import ModelImportError, from_torch

from .graphs import EXAMPLE_FILES, valid_graphs
from .import_corpus import MODELS
from .isolated import check_in_isolation, randomize_buffers, record_outputs

# Layer types each architecture must be made of: the import is structural, not a lucky match.
EXPECTED_TYPES = {
    "resnet": {"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Add", "AdaptiveAvgPool2d", "Flatten", "Linear"},
    "vgg": {"Conv2d", "BatchNorm2d", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten", "Dropout", "Linear"},
    "inception": {"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Concat", "Dropout"},
    "mobilenet": {"Conv2d", "Hardswish", "ReLU6", "Hardsigmoid", "Multiply", "AdaptiveAvgPool2d", "Add"},
    "densenet": {"Conv2d", "BatchNorm2d", "Concat", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten"},
    "convnext": {"Conv2d", "Permute", "LayerNorm", "Linear", "GELU", "LayerScale", "Add", "GlobalAvgPool2d"},
    "vit": {
        "Conv2d",
        "Reshape",
        "Transpose",
        "ClassToken",
        "PositionEmbedding",
        "MultiheadAttention",
        "LayerNorm",
        "Select",
        "Add",
    },
    "lstm_classifier": {"Embedding", "LSTM", "Select", "Dropout", "Linear"},
    "unet": {"Conv2d", "MaxPool2d", "ConvTranspose2d", "Upsample", "Concat"},
    "gru_sequence": {"GRU", "Linear", "LogSoftmax", "Sigmoid"},
    "lenet": {"Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"},
}


# Custom classes used several times, which must come back as block definitions.
EXPECTED_BLOCKS = {
    "resnet": {"BasicBlock", "Bottleneck"},
    "inception": {"BasicConv2d", "InceptionBlock"},
    "mobilenet": {"SqueezeExcitation"},
    "densenet": {"DenseLayer"},
    "convnext": {"ChannelsFirstNorm", "ConvNeXtBlock"},
    "vit": {"EncoderBlock"},
    "unet": {"DoubleConv", "Down"},
}


def _all_nodes(graph: Graph) -> list:
    """The graph's nodes and those inside every block definition."""
    return [
        *graph.nodes.values(),
        *(n for name in graph.blocks.names() for n in graph.blocks.get(name).body.nodes.values()),
    ]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run far faster on one thread on a loaded machine; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _corpus_model(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    source = importlib.import_module(f"{__package__}.import_corpus.{name}")
    torch.manual_seed(0)
    model = source.build()
    randomize_buffers(model)  # BatchNorm statistics other than 0 and 1, as after training
    model.eval()  # the outputs compared are predictions
    generator = torch.Generator().manual_seed(1)
    vocab = getattr(source, "VOCAB", None)
    inputs = tuple(
        torch.randint(0, vocab, shape, generator=generator)
        if vocab
        else torch.randn(shape, generator=generator)
        for shape in source.INPUTS
    )
    return model, inputs


@pytest.fixture(scope="module")
def imported() -> dict:
    results = {}
    for name in MODELS:
        model, inputs = _corpus_model(name)
        results[name] = (model, inputs, from_torch(model, inputs))
    return results


def test_the_corpus_has_ten_classic_architectures() -> None:
    assert len(MODELS) >= 10 and set(MODELS) == set(EXPECTED_TYPES)


@pytest.mark.parametrize("name", MODELS)
def test_corpus_model_imports_with_its_weights_and_outputs(imported: dict, name: str) -> None:
    model, inputs, result = imported[name]
    report = result.report
    assert report.verified and report.max_difference <= 1e-5
    assert "largest difference" in report.verification

    source_count = sum(p.numel() for p in model.parameters())
    compiled = result.graph.compile()
    compiled.load_state_dict(result.weights, strict=True)
    assert sum(p.numel() for p in compiled.parameters()) == source_count
    assert result.graph.num_parameters() == source_count == report.imported_parameters

    compiled.eval()
    with torch.no_grad():
        theirs, ours = model(*inputs), compiled(*inputs)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    ours = ours if isinstance(ours, tuple) else (ours,)
    for a, b in zip(theirs, ours, strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)

    types = {node.type for node in _all_nodes(result.graph)}
    assert EXPECTED_TYPES[name] <= types, f"{name} lacks {EXPECTED_TYPES[name] - types}"
    assert set(result.graph.blocks.names()) == EXPECTED_BLOCKS.get(name, set())
    # Every line linked to a node names a node that exists.
    linked = [line.node_id for line in report if line.node_id]
    assert linked and all(node_id in result.graph.nodes for node_id in linked)


def test_repeated_classes_become_linked_blocks_and_sequentials_repeats(imported: dict) -> None:
    _, _, vit = imported["vit"]
    (encoder,) = [n for n in vit.graph.nodes.values() if n.type == "Block"]
    assert (
        encoder.name == "layers"
        and encoder.params["repeat"] == 2
        and encoder.params["block"] == "EncoderBlock"
    )
    body = vit.graph.blocks.get("EncoderBlock").body
    assert {"ln_1", "self_attention", "ln_2", "mlp_0", "mlp_3"} <= {n.name for n in body.nodes.values()}
    _, _, resnet = imported["resnet"]
    bottleneck = resnet.graph.blocks.get("Bottleneck")
    # Values that differ between the two uses became the block's parameters.
    assert {"out_channels", "stride"} <= {p.name for p in bottleneck.params}
    uses = [n for n in resnet.graph.nodes.values() if n.type == "Block" and n.params["block"] == "Bottleneck"]
    assert sorted(n.params["stride"] for n in uses) == [1, 2]
    report = str(resnet.report)
    assert "Block Bottleneck: one definition for 2 uses" in report


def test_a_model_can_be_imported_without_blocks(imported: dict) -> None:
    model, inputs, _ = imported["resnet"]
    flat = from_torch(model, inputs, blocks=False)
    assert not len(flat.graph.blocks) and flat.report.verified
    assert sum(n.type == "Conv2d" for n in flat.graph.nodes.values()) == 20


def test_imported_code_runs_without_nnstudio(imported: dict, tmp_path: Path) -> None:
    """The generated file, alone with torch and the imported weights, computes the source's outputs."""
    cases = []
    for name in MODELS:
        model, _, result = imported[name]
        code = generate(result.graph)
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.py").write_text(code.src)
        save_file({k: v.contiguous() for k, v in result.weights.items()}, folder / "weights.safetensors")
        compiled = result.graph.compile()
        compiled.load_state_dict(result.weights, strict=True)
        case = record_outputs(compiled, code, folder, folder / "weights.safetensors")
        data = load_file(case.data)
        with torch.no_grad():
            theirs = model(*[data[f"input{i}"].clone() for i in range(case.inputs)])
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        for i, expected in enumerate(theirs):
            torch.testing.assert_close(data[f"output{i}"], expected, atol=1e-5, rtol=1e-5)
        cases.append(case)
    check_in_isolation(cases, tmp_path)


def _observable(node) -> dict:
    """A node's settings that change the model: token ids (int64) are never normalised, so
    an int64 Input's normalisation setting leaves no trace in the code to import it from."""
    if node.type == "Input" and node.params["dtype"] == "int64":
        return {k: v for k, v in node.params.items() if not k.startswith("normalize")}
    return node.params


def _round_trip(graph: Graph, weights: dict | None = None) -> None:
    """Compile (the code export writes), import back: same graph, same weights."""
    model = graph.compile()
    if weights is not None:
        model.load_state_dict(weights)
    randomize_buffers(model)
    code = model.nnstudio_code
    result = from_torch(model, example_inputs(code, batch=2))
    assert result.graph.to_python() == graph.to_python()
    kept = [n for n in graph.nodes.values() if n.id in code.shape_of]  # dead branches are not compiled
    assert {n.name: (n.type, _observable(n)) for n in result.graph.nodes.values()} == {
        n.name: (n.type, _observable(n)) for n in kept
    }
    edges = {(graph.nodes[e.source].name, graph.nodes[e.target].name, e.port) for e in graph.edges}
    names = {n.name for n in kept}
    assert {
        (result.graph.nodes[e.source].name, result.graph.nodes[e.target].name, e.port)
        for e in result.graph.edges
    } == {e for e in edges if e[0] in names and e[1] in names}
    # Block definitions come back by name with their parameters (their bodies are in the code).
    used = {n.params["block"] for n in kept if n.type == "Block"}
    assert used <= set(result.graph.blocks.names()) <= set(graph.blocks.names())
    for name in result.graph.blocks.names():
        assert [(p.name, p.default) for p in result.graph.blocks.get(name).params] == [
            (p.name, p.default) for p in graph.blocks.get(name).params
        ]
    state = model.state_dict()
    assert result.weights.keys() == state.keys()
    assert all(torch.equal(result.weights[k], state[k]) for k in state)


@pytest.mark.parametrize("name", MODELS)
def test_an_imported_model_exported_and_imported_again_is_the_same_graph(imported: dict, name: str) -> None:
    _, _, result = imported[name]
    _round_trip(result.graph, result.weights)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_round_trips(path: Path) -> None:
    graph = Graph.load(path)
    _round_trip(graph)


def test_random_graphs_round_trip() -> None:
    count = itertools.count()

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(graph=valid_graphs())
    def round_trip(graph: Graph) -> None:
        # The generated file drops a project name's unprintable characters, so such a
        # name cannot come back; every other part of the graph must.
        assume(graph.name.isprintable() and graph.description.isprintable())
        next(count)
        _round_trip(graph)

    round_trip()
    assert next(count) >= 10


# --- what cannot be imported is refused with a sentence ------------------------------------------------


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.branchy = Branchy()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.branchy(x))


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # depends on the values: no graph can hold it
            return x * 2
        return x


class WithTransformerLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(8, 2, batch_first=True)

    def forward(self, x):
        return self.encoder(x)


class NonSquare(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, (1, 7), padding=(0, 3))

    def forward(self, x):
        return self.conv(x), torch.sort(x, dim=-1).values  # two independent problems


def test_data_dependent_control_flow_in_an_importable_class_is_kept_as_a_foreign_module() -> None:
    result = from_torch(DataDependent(), torch.randn(2, 4))
    kept = [n for n in result.graph.nodes.values() if n.type == "Foreign"]
    assert [n.params["target"] for n in kept] == [f"{__name__}:Branchy"]
    assert result.report.verified


def test_data_dependent_control_flow_is_refused_naming_the_module() -> None:
    class Local(nn.Module):  # defined in a function: exported code could not import it
        def forward(self, x):
            if x.sum() > 0:
                return x * 2
            return x

    model = DataDependent()
    model.branchy = Local()
    with pytest.raises(ModelImportError, match=r"'branchy' \(Local\) cannot be traced.*data-dependent"):
        from_torch(model, torch.randn(2, 4))


def test_modules_and_operations_the_catalog_lacks_are_each_named() -> None:
    with pytest.raises(ModelImportError, match=r"'encoder' \(TransformerEncoderLayer\) cannot be mapped"):
        from_torch(WithTransformerLayer(), torch.randn(2, 5, 8))
    with pytest.raises(ModelImportError) as refused:
        from_torch(NonSquare(), torch.randn(2, 3, 8, 8))
    assert len(refused.value.problems) == 2
    assert "kernel size (1, 7) differs between dimensions" in str(refused.value)
    assert "torch.sort" in str(refused.value)


def test_bad_arguments_get_sentences() -> None:
    with pytest.raises(ModelImportError, match=r"Only a torch\.nn\.Module can be imported, not int"):
        from_torch(3, torch.randn(2, 4))
    with pytest.raises(ModelImportError, match=r"rejects example inputs of shape \(2, 5\)"):
        from_torch(nn.Linear(4, 2), torch.randn(2, 5))
    with pytest.raises(ModelImportError, match="takes 1 input"):
        from_torch(nn.Linear(4, 2), (torch.randn(2, 4), torch.randn(2, 4)))


def test_import_leaves_the_source_model_in_its_mode() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    model.train()
    result = from_torch(model, torch.randn(4, 4))
    assert model.training
    assert [n.type for n in result.graph.nodes.values()] == [
        "Input",
        "Linear",
        "Dropout",
        "BatchNorm1d",
        "Output",
    ]


def test_the_package_offers_from_torch_without_importing_torch_first() -> None:
    import subprocess
    import sys

    probe = "import sys, nnstudio; nnstudio.from_torch; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
        == "False"
    )
    import nnstudio

    result = nnstudio.from_torch(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), torch.randn(2, 3))
    assert [n.type for n in result.graph.nodes.values()] == ["Input", "Linear", "ReLU", "Output"]
