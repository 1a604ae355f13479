"""The code you export is exactly the model you trained.

For every example and for a few hundred random valid graphs, the module the
app compiles and the exported ``model.py``, loaded with the same weights in a
Python that cannot import nnstudio, give bit-identical outputs (float32, CPU).
Each random graph is also compiled with the meta-tensor shape check, so a
catalog shape rule that drifts from PyTorch fails here, shrunk to a small graph.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from nnstudio.api import Graph
from nnstudio.compiler.build import compile_code, example_inputs
from nnstudio.compiler.codegen import generate
from nnstudio.compiler.export import export

from .graphs import EXAMPLE_FILES, valid_graphs
from .isolated import check_in_isolation, randomize_buffers, record_outputs


def test_every_example_exports_the_module_it_trains(tmp_path: Path) -> None:
    assert EXAMPLE_FILES
    cases = []
    for path in EXAMPLE_FILES:
        graph = Graph.load(path)
        model = graph.compile()
        # A few training steps, so the weights are not just a fresh initialisation.
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        code = model.nnstudio_code
        for _ in range(2):
            outputs = model(*example_inputs(code, batch=4))
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            loss = sum(o.float().pow(2).mean() for o in outputs)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        folder = tmp_path / path.stem
        written = export(graph, folder, weights=model)
        assert [p.name for p in written] == ["model.py", "weights.safetensors", "predict.py"]
        cases.append(record_outputs(model, code, folder, folder / "weights.safetensors"))
    check_in_isolation(cases, tmp_path)


def test_random_valid_graphs_export_the_module_they_compile_to(tmp_path: Path) -> None:
    cases = []
    counter = itertools.count()

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(graph=valid_graphs())
    def compile_and_export(graph: Graph) -> None:
        code = generate(graph)
        model = compile_code(code, check_shapes=True)  # the catalog's shapes against PyTorch's
        # Dead branches are not part of the model; the catalog counts the rest exactly.
        figures = graph.analyze().figures
        assert sum(p.numel() for p in model.parameters()) == sum(figures[n].parameters for n in code.node_ids)
        randomize_buffers(model)
        folder = tmp_path / f"case{next(counter)}"
        export(graph, folder, weights=model)
        assert (folder / "model.py").read_text() == code.src
        cases.append(record_outputs(model, code, folder, folder / "weights.safetensors"))

    compile_and_export()
    assert len(cases) >= 100
    check_in_isolation(cases, tmp_path)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_compiled_modules_train_and_evaluate_like_any_module(mode: str) -> None:
    """Dropout and BatchNorm follow the module's mode, as in hand-written code."""
    graph = Graph.load(next(p for p in EXAMPLE_FILES if p.stem == "resnet_block"))
    model = graph.compile()
    getattr(model, mode)()
    batch = torch.randn(4, 1, 8, 8)
    before = model.stem_bn.running_mean.clone()
    model(batch)
    changed = not torch.equal(before, model.stem_bn.running_mean)
    assert changed == (mode == "train")
