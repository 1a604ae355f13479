"""ONNX export, checked numerically against PyTorch with onnxruntime (the ``onnx`` extra)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from nnstudio.api import Graph
from nnstudio.cli import main
from nnstudio.compiler.export import export
from nnstudio.compiler.onnx_export import OnnxExportError, export_onnx

from .graphs import EXAMPLES_DIR


def _needs_onnx() -> None:
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(module)


@pytest.mark.parametrize("example", ["googlenet_mini", "lstm_sequence", "resnet_block"])
def test_onnx_runtime_reproduces_pytorch_for_any_batch_size(example: str, tmp_path: Path) -> None:
    _needs_onnx()
    import onnxruntime

    graph = Graph.load(EXAMPLES_DIR / f"{example}.nnstudio")
    model = graph.compile()
    model.train()
    written = export(graph, tmp_path, weights=model, onnx=True)
    assert written[-1] == tmp_path / "model.onnx"
    assert model.training  # export leaves the caller's mode alone

    code = model.nnstudio_code
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [i.name for i in code.inputs]
    assert [o.name for o in session.get_outputs()] == list(code.output_names)
    model.eval()
    for batch in (1, 5):
        inputs = torch.randn(batch, *code.inputs[0].shape)
        (actual,) = session.run(None, {code.inputs[0].name: inputs.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(actual), model(inputs), rtol=1e-4, atol=1e-5)


def test_cli_writes_onnx(tmp_path: Path, capsys) -> None:
    _needs_onnx()
    assert main(["export", str(EXAMPLES_DIR / "mlp_circles.nnstudio"), "-o", str(tmp_path), "--onnx"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'model.onnx'}" in out
    assert "untrained random weights" in out


def test_without_the_extra_onnx_export_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    graph = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    model = graph.compile()
    with pytest.raises(OnnxExportError, match=r'pip install "nnstudio\[onnx\]"'):
        export_onnx(model, model.nnstudio_code, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
