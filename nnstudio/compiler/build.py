"""Turn generated source into a live ``nn.Module``, and prove the catalog right.

``compile_code`` executes ``PythonCode.src`` (the text ``export`` writes) in a
fresh namespace under a fake file name registered with ``linecache``, so
tracebacks and ``inspect.getsource`` show the generated lines.

The catalog's shape rules are hand-written arithmetic that can drift from
what PyTorch does. ``check_shapes`` runs the module once on meta tensors (no
memory, no arithmetic), watches every forward line with a trace function, and
compares each node's real output shape with the catalog's.
"""

from __future__ import annotations

import builtins
import hashlib
import linecache
import sys
import traceback
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import torch
from torch import nn

from nnstudio.compiler.codegen import PythonCode
from nnstudio.core.layers import format_shape

CHECK_BATCH = 2  # not 1, so a rule that drops or mixes up the batch dimension shows


class ShapeMismatchError(RuntimeError):
    """PyTorch disagrees with the catalog's shape rule for a layer type: an nnstudio bug."""


def load_class(code: PythonCode) -> type[nn.Module]:
    """Execute ``code.src`` and return the generated model class."""
    digest = hashlib.sha1(code.src.encode("utf-8")).hexdigest()[:12]
    filename = f"<nnstudio-generated {code.class_name} {digest}>"
    # mtime None: linecache.checkcache keeps the entry, as for torch.fx's generated code.
    linecache.cache[filename] = (len(code.src), None, code.src.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"__name__": "nnstudio_generated", "__builtins__": builtins}
    exec(compile(code.src, filename, "exec"), namespace)
    return namespace[code.class_name]


def instantiate(code: PythonCode) -> nn.Module:
    """A fresh, randomly initialised instance of the generated class."""
    model = load_class(code)()
    model.nnstudio_code = code  # lets the trainer and the GUI map nodes to submodules
    return model


def compile_code(code: PythonCode, check_shapes: bool = True) -> nn.Module:
    """Build the generated model; with ``check_shapes``, verify the catalog's shapes first."""
    model_class = load_class(code)
    model = model_class()
    model.nnstudio_code = code
    if check_shapes:
        check_output_shapes(code, model_class, model)
    return model


def example_inputs(code: PythonCode, batch: int = CHECK_BATCH, device: str | torch.device = "cpu"):
    """Random inputs for the generated ``forward``, one tensor per Input."""
    tensors = []
    for item in code.inputs:
        size = (batch, *item.shape)
        if item.dtype == "int64":
            if torch.device(device).type == "meta":
                tensors.append(torch.empty(size, dtype=torch.int64, device=device))
            else:
                tensors.append(torch.randint(0, item.high, size, device=device))
        else:
            tensors.append(torch.randn(size, device=device))
    return tuple(tensors)


def check_output_shapes(code: PythonCode, model_class: type[nn.Module], model: nn.Module) -> None:
    """Raise ShapeMismatchError unless every node's output has the catalog's shape.

    The first node in forward order whose shape differs is named: it is the
    cause, even when a later layer is the one PyTorch refuses to run.
    """
    observed: dict[str, torch.Size] = {}
    try:
        with torch.device("meta"):
            meta_model = model_class()
        _delegate_slow_layers(meta_model, model)
        with torch.no_grad():
            observe_outputs(meta_model.eval(), code, example_inputs(code, device="meta"), observed)
    except Exception:
        _raise_first_mismatch(code, observed, complete=False)
        # Nothing was wrong before the failure, so most likely an operator has
        # no meta kernel (none of today's layers; a future one may not): check
        # with a tiny real batch instead.
        observed = {}
        _observe_real(model, code, observed)
    _raise_first_mismatch(code, observed, complete=True)


def _raise_first_mismatch(code: PythonCode, observed: dict[str, torch.Size], complete: bool) -> None:
    """Compare in forward order; with ``complete=False`` stop where a failed run stopped."""
    for node_id in sorted(code.line_of, key=code.line_of.__getitem__):
        layer, name = code.label_of[node_id]
        value = observed.get(node_id)
        if value is None:
            if not complete:
                return
            raise ShapeMismatchError(
                f"{layer} '{name}' did not produce a tensor in the generated code; "
                f"this is a bug in nnstudio's {layer} layer, please report it."
            )
        expected = code.shape_of[node_id]
        if tuple(value) != (CHECK_BATCH, *expected):
            actual = (
                format_shape(tuple(value)[1:])
                if value and value[0] == CHECK_BATCH
                else f"{format_shape(tuple(value))} including the batch"
            )
            raise ShapeMismatchError(
                f"The catalog's shape rule for {layer} is wrong: {layer} '{name}' outputs "
                f"{actual} in PyTorch, but the catalog predicts {format_shape(expected)}. "
                "This is a bug in nnstudio; please report it."
            )


# Recurrent layers have no fused meta kernel: on meta they decompose into
# Python-level steps (about 0.3 s for 50 steps, growing with the sequence),
# while the real layer takes a millisecond on a batch of two.
_SLOW_ON_META = (nn.RNNBase,)


def _delegate_slow_layers(meta_model: nn.Module, model: nn.Module) -> None:
    """Let the meta model's recurrent layers run their real twin on a zero CPU batch."""
    real = dict(model.named_modules())
    for name, module in meta_model.named_modules():
        if isinstance(module, _SLOW_ON_META):
            module.forward = _run_for_real(real[name])


def _run_for_real(real_module: nn.Module) -> Callable[..., Any]:
    def forward(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = _map_tensors((args, kwargs), lambda t: torch.zeros(t.shape, dtype=t.dtype))
        return _map_tensors(real_module(*args, **kwargs), lambda t: torch.empty_like(t, device="meta"))

    return forward


def _map_tensors(value: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, tuple | list):
        return type(value)(_map_tensors(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


def _observe_real(model: nn.Module, code: PythonCode, observed: dict[str, torch.Size]) -> None:
    """Output shapes from a real forward pass in eval mode (BatchNorm statistics untouched)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            observe_outputs(model, code, example_inputs(code), observed)
    except Exception as exc:
        _raise_first_mismatch(code, observed, complete=False)
        raise ShapeMismatchError(_explain_failure(exc, code, type(model).forward.__code__)) from exc
    finally:
        model.train(was_training)


def observe_outputs(
    model: nn.Module,
    code: PythonCode,
    inputs: tuple[torch.Tensor, ...],
    shapes: dict[str, torch.Size] | None = None,
) -> dict[str, torch.Size]:
    """Run ``model`` once and return the shape of every node's output, keyed by node id.

    ``shapes`` (filled even when a layer raises) keeps what was seen before the failure.
    """
    shapes = {} if shapes is None else shapes
    values: dict[str, torch.Tensor] = {}
    try:
        trace_node_values(model, code, inputs, into=values)
    finally:
        shapes.update({node_id: value.shape for node_id, value in values.items()})
    return shapes


def trace_node_values(
    model: nn.Module,
    code: PythonCode,
    inputs: tuple[torch.Tensor, ...],
    node_ids: list[str] | None = None,
    into: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Run ``model`` once and return the tensor each node computed (all nodes by default).

    A trace function on the generated ``forward`` frame reads each node's
    variable right after the node's last line has run; the code is the very
    code that trains, not an instrumented copy. ``into`` is filled as the
    forward runs, so a caller keeps what was seen when a layer raises.
    """
    forward_code: CodeType = type(model).forward.__code__
    wanted = code.line_of if node_ids is None else {n: code.line_of[n] for n in node_ids}
    node_at = {line: node_id for node_id, line in wanted.items()}
    values = {} if into is None else into
    last_line: int | None = None

    def watch_forward(frame: FrameType, event: str, arg: Any) -> Callable | None:
        nonlocal last_line
        if event in ("line", "return") and last_line in node_at:
            node_id = node_at[last_line]
            value = frame.f_locals.get(code.var_of[node_id])
            if isinstance(value, torch.Tensor):
                values[node_id] = value
        last_line = frame.f_lineno if event == "line" else None
        return watch_forward

    def on_call(frame: FrameType, event: str, arg: Any) -> Callable | None:
        return watch_forward if frame.f_code is forward_code else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        model(*inputs)
    finally:
        sys.settrace(previous)
    return values


def _explain_failure(exc: Exception, code: PythonCode, forward_code: CodeType) -> str:
    """Name the node whose generated line PyTorch refused."""
    forward_lines = sorted((line, node_id) for node_id, line in code.line_of.items())
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code is not forward_code:
            continue
        for line, node_id in forward_lines:
            if line >= lineno:
                layer, name = code.label_of[node_id]
                return (
                    f"PyTorch rejects {layer} '{name}' (line {lineno} of the generated model) "
                    f"although the catalog accepted its input shapes: {exc}. This is a bug in "
                    f"nnstudio's {layer} layer; please report it."
                )
    return f"PyTorch cannot run the generated model: {exc}"
