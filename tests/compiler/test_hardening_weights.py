"""export --weights refuses, in words, tensors that load_state_dict would choke on
(sparse, meta) or silently cast (int, bool, complex into float parameters)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nnstudio.api import Graph
from nnstudio.cli import main


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    graph = Graph(name="tiny")
    x, fc, out = (
        graph.add("Input", shape=[3]),
        graph.add("Linear", name="fc", out_features=2),
        graph.add("Output"),
    )
    graph.connect(x, fc)
    graph.connect(fc, out)
    path = tmp_path / "tiny.nnstudio"
    graph.save(path)
    return path, {k: v.detach().clone() for k, v in graph.compile().state_dict().items()}


WEIGHTS = {
    "sparse": (lambda w: w.to_sparse(), "fc.weight is a sparse tensor"),
    "meta": (lambda w: torch.empty_like(w, device="meta"), "fc.weight is a tensor without data"),
    "int": (lambda w: (w * 100).to(torch.int64), "fc.weight holds whole-number values (torch.int64)"),
    "bool": (lambda w: w > 0, "fc.weight holds true/false values (torch.bool)"),
    "complex": (lambda w: w.to(torch.complex64) * 1j, "fc.weight holds complex values (torch.complex64)"),
}


@pytest.mark.parametrize("kind", WEIGHTS)
def test_weights_of_the_wrong_kind_are_refused_in_words(project, tmp_path: Path, capsys, kind: str) -> None:
    path, state = project
    change, words = WEIGHTS[kind]
    weights = tmp_path / "weights.pt"
    torch.save({**state, "fc.weight": change(state["fc.weight"])}, weights)
    assert main(["export", str(path), "-o", str(tmp_path / "out"), "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "weights.safetensors").exists()


def test_half_precision_weights_still_export(project, tmp_path: Path) -> None:
    path, state = project
    weights = tmp_path / "weights.pt"
    torch.save({k: v.half() for k, v in state.items()}, weights)
    assert main(["export", str(path), "-o", str(tmp_path / "out"), "--weights", str(weights)]) == 0
