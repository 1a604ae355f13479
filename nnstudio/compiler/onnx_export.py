"""ONNX export of a compiled model, checked against PyTorch with onnxruntime.

Needs the ``onnx`` extra (onnx, onnxscript for torch's dynamo exporter, and
onnxruntime for the check): ``pip install "nnstudio[onnx]"``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from nnstudio.compiler.build import example_inputs
from nnstudio.compiler.codegen import PythonCode
from nnstudio.core.errors import GraphError

RTOL, ATOL = 1e-4, 1e-5


class OnnxExportError(GraphError):
    """The model could not be exported to ONNX, or ONNX Runtime disagrees with PyTorch."""


def export_onnx(model: torch.nn.Module, code: PythonCode, path: str | Path, check: bool = True) -> Path:
    """Write ``model`` as ONNX with a variable batch size; with ``check``, compare
    onnxruntime's outputs with PyTorch's on a fresh batch of another size."""
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it; fail with a clear message)
    except ImportError:
        raise OnnxExportError('ONNX export needs the onnx extra: pip install "nnstudio[onnx]".') from None
    path = Path(path)
    was_training = model.training
    model.eval()
    batch = torch.export.Dim("batch", min=1)
    try:
        with _quiet_exporter():
            torch.onnx.export(
                model,
                example_inputs(code, batch=2),
                str(path),
                input_names=[i.name for i in code.inputs],
                output_names=list(code.output_names),
                dynamic_shapes={i.name: {0: batch} for i in code.inputs},
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        if check:
            check_onnx(model, code, path)
    except OnnxExportError:
        raise
    except Exception as exc:
        raise OnnxExportError(f"PyTorch could not export {code.class_name} to ONNX: {exc}") from exc
    finally:
        model.train(was_training)
    return path


def check_onnx(model: torch.nn.Module, code: PythonCode, path: str | Path, batch: int = 3) -> None:
    """Raise OnnxExportError unless onnxruntime reproduces ``model``'s outputs."""
    try:
        import onnxruntime
    except ImportError:
        raise OnnxExportError(
            'Checking the ONNX file needs onnxruntime: pip install "nnstudio[onnx]".'
        ) from None
    inputs = example_inputs(code, batch=batch)
    with torch.no_grad():
        expected = model(*inputs)
    if not isinstance(expected, tuple):
        expected = (expected,)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: t.numpy() for i, t in zip(code.inputs, inputs, strict=True)}
    actual = session.run(list(code.output_names), feed)
    for name, want, got in zip(code.output_names, expected, actual, strict=True):
        got = torch.from_numpy(got)
        if got.shape != want.shape or not torch.allclose(got, want, rtol=RTOL, atol=ATOL):
            difference = (got - want).abs().max().item() if got.shape == want.shape else "shape"
            raise OnnxExportError(
                f"ONNX Runtime's output '{name}' differs from PyTorch's "
                f"(largest difference {difference}); the ONNX file is not trustworthy."
            )


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs and warns about internals a user cannot act on."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
