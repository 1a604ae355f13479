"""Write a graph out as files a PyTorch user can take anywhere.

``model.py`` is ``generate(graph).src``, the very text the app executes to
train. With trained weights the folder also gets ``weights.safetensors`` and a
``predict.py`` that loads both; with ``onnx=True``, ``model.onnx``.

Export never replaces a file nnstudio did not write: a folder that already
holds someone's ``model.py`` is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnstudio.compiler.codegen import GENERATED_MARK, PythonCode, generate
from nnstudio.core.atomic import write_atomic, write_bytes_atomic
from nnstudio.core.errors import GraphError

if TYPE_CHECKING:
    import torch

    from nnstudio.core.graph import GraphModel

MODEL_FILE = "model.py"
WEIGHTS_FILE = "weights.safetensors"
PREDICT_FILE = "predict.py"
ONNX_FILE = "model.onnx"


class ExportError(GraphError):
    """The export cannot be written: weights that do not fit, a folder in use."""


@dataclass(frozen=True)
class TrainedOn:
    """What predict.py needs to know of the data the weights learned from.

    ``data`` describes the raw form: ``{"kind": "arrays" | "csv" | "images",
    "columns": [...], "label_index": i}`` (columns and label for CSV files).
    """

    task: str  # classification, regression or reconstruction
    loss: str  # cross_entropy, bce_with_logits or mse
    class_names: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


def export(
    graph: GraphModel,
    folder: str | Path,
    weights: Mapping[str, torch.Tensor] | torch.nn.Module | None = None,
    onnx: bool = False,
    class_name: str | None = None,
    overwrite: bool = False,
    trained_on: TrainedOn | None = None,
) -> list[Path]:
    """Write ``model.py`` (plus weights, ``predict.py`` and ONNX when asked) into ``folder``.

    ``weights`` is a state dict (or a module whose state dict to take) that
    must fit the graph exactly; ``trained_on`` (class names, task) is saved
    with them for predict.py. Returns the paths written, ``model.py`` first.
    """
    code = generate(graph, class_name=class_name)
    folder = Path(folder)
    names = [MODEL_FILE]
    if weights is not None:
        names += [WEIGHTS_FILE, PREDICT_FILE]
    if onnx:
        names.append(ONNX_FILE)
    if not overwrite:
        _refuse_foreign_files(folder, names)
    folder.mkdir(parents=True, exist_ok=True)

    model = None
    if weights is not None or onnx:
        model = _model_with_weights(code, weights)

    written = [_write_text(folder / MODEL_FILE, code.src)]
    if weights is not None:
        written.append(_write_weights(folder / WEIGHTS_FILE, model, weights_metadata(code, trained_on)))
        written.append(_write_text(folder / PREDICT_FILE, predict_source()))
    if onnx:
        from nnstudio.compiler.onnx_export import export_onnx

        written.append(export_onnx(model, code, folder / ONNX_FILE))
    return written


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors``, or from ``.pt`` loaded with ``weights_only=True``.

    A ``.pt`` checkpoint may also hold the state dict under ``"model"`` or
    ``"state_dict"``, as training scripts often save it.
    """
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExportError(f"There is no weights file {path}.") from None
    except Exception as exc:
        raise ExportError(f"{path} cannot be read as weights: {exc}") from None
    for candidate in (loaded, *(loaded.get(k) for k in ("model", "state_dict") if isinstance(loaded, dict))):
        if _is_state_dict(candidate):
            return dict(candidate)
    raise ExportError(f"{path} holds no state dict (a mapping of names to tensors).")


def _is_state_dict(value: Any) -> bool:
    import torch

    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
    )


def read_trained_on(path: str | Path) -> TrainedOn | None:
    """What an exported ``weights.safetensors`` says it learned from (``weights_metadata``
    read back), so exporting those weights again keeps it for predict.py. None for other
    weights files and for weights saved without it."""
    if Path(path).suffix != ".safetensors":
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            meta = handle.metadata() or {}
        if "task" not in meta or "loss" not in meta:
            return None
        return TrainedOn(
            task=meta["task"],
            loss=meta["loss"],
            class_names=tuple(json.loads(meta.get("classes", "[]"))),
            data=json.loads(meta.get("data", "{}")),
        )
    except (OSError, ValueError, TypeError):  # unreadable or odd metadata: export without it
        return None


def _refuse_foreign_files(folder: Path, names: list[str]) -> None:
    """Refuse when the folder holds any target file that is not an earlier nnstudio export."""
    existing = [name for name in names if (folder / name).exists()]
    if not existing:
        return
    if _written_by_nnstudio(folder / MODEL_FILE):
        # An earlier export: its weights and ONNX belong to it and are replaced together.
        foreign = [n for n in existing if n.endswith(".py") and not _written_by_nnstudio(folder / n)]
    else:
        foreign = existing
    if foreign:
        raise ExportError(
            f"{folder} already contains {', '.join(foreign)}, not written by nnstudio; "
            "choose another folder, or overwrite them on purpose (--force)."
        )


def _written_by_nnstudio(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith(GENERATED_MARK) for line in text.splitlines())


def _write_text(path: Path, text: str) -> Path:
    write_atomic(path, text)
    return path


def _model_with_weights(code: PythonCode, weights: Any) -> torch.nn.Module:
    import torch

    from nnstudio.compiler.build import instantiate

    model = instantiate(code)
    if weights is None:
        return model
    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    if not _is_state_dict(state):
        raise ExportError("The weights must be a state dict: a mapping of parameter names to tensors.")
    problems = _misfits(model.state_dict(), state)
    if problems:
        raise ExportError(f"The weights do not fit this graph: {'; '.join(problems)}.")
    model.load_state_dict(state, strict=True)
    return model


def _misfits(expected: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """What keeps ``given`` from loading into a model whose state dict is ``expected``."""

    def listing(names: list[str]) -> str:
        shown = ", ".join(names[:5])
        return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shared = [k for k in expected if k in given]
    # load_state_dict raises on sparse and meta tensors and silently casts others
    # (a complex tensor would lose its imaginary part): refuse them in words.
    unusable = [f"{k} is {_storage_problem(given[k])}" for k in shared if _storage_problem(given[k])]
    reshaped = [
        f"{k} is {tuple(given[k].shape)} but the graph needs {tuple(expected[k].shape)}"
        for k in shared
        if not _storage_problem(given[k]) and given[k].shape != expected[k].shape
    ]
    retyped = [
        f"{k} holds {_kind(given[k].dtype)} values ({given[k].dtype}) but the graph needs "
        f"{_kind(expected[k].dtype)} ones ({expected[k].dtype})"
        for k in shared
        if not _storage_problem(given[k]) and _kind(given[k].dtype) != _kind(expected[k].dtype)
    ]
    problems = [listing(unusable)] if unusable else []
    if missing:
        problems.append(f"missing {listing(missing)}")
    if unexpected:
        problems.append(f"not in the graph: {listing(unexpected)}")
    if reshaped:
        problems.append(listing(reshaped))
    if retyped:
        problems.append(listing(retyped))
    return problems


def _storage_problem(tensor: Any) -> str:
    import torch

    if tensor.layout != torch.strided:
        return "a sparse tensor, not a dense one"
    if tensor.is_meta:
        return "a tensor without data (on the 'meta' device)"
    return ""


def _kind(dtype: Any) -> str:
    """Kinds of numbers that convert without loss of meaning: float16 -> float32 is fine,
    int -> float or complex -> float is not."""
    import torch

    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "floating-point"
    return "true/false" if dtype == torch.bool else "whole-number"


def _write_weights(path: Path, model: torch.nn.Module, metadata: dict[str, str]) -> Path:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_bytes_atomic(path, save(tensors, metadata=metadata))
    return path


def predict_source() -> str:
    """``predict.py``: a fixed script that reads everything it needs from the weights' metadata.

    It lives in ``templates/predict.py`` as a real Python file (linted like the rest);
    the model class, inputs and class names come from ``weights.safetensors``, so no
    name from the project is ever written into it.
    """
    return (Path(__file__).parent / "templates" / "predict.py").read_text(encoding="utf-8")


def weights_metadata(code: PythonCode, trained_on: TrainedOn | None) -> dict[str, str]:
    """The safetensors metadata: plain strings (JSON for lists) that predict.py reads."""
    meta = {
        "generator": "nnstudio",
        "class": code.class_name,
        "inputs": json.dumps(
            [{"name": i.name, "dtype": i.dtype, "shape": list(i.shape)} for i in code.inputs]
        ),
        "outputs": json.dumps(list(code.output_names)),
    }
    if trained_on is not None:
        meta |= {
            "task": trained_on.task,
            "loss": trained_on.loss,
            "classes": json.dumps(list(trained_on.class_names), ensure_ascii=False),
            "data": json.dumps(dict(trained_on.data), ensure_ascii=False),
        }
    return meta
