"""Turning what goes wrong in a run into a sentence that says what to do."""

from __future__ import annotations

import os
import traceback
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nnstudio.training.errors import DataError, TrainingError

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel
    from nnstudio.training.config import TrainConfig

# Per parameter, float32 values kept while training: the weight and its gradient,
# plus what the optimizer keeps (Adam two moments; SGD and RMSprop one; Adagrad one).
_OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1, "adagrad": 1}


class NonFiniteLoss(TrainingError):
    """The training loss (or, with ``validation``, the validation loss) became NaN or infinite."""

    def __init__(self, step: int, epoch: int, value: float, lr: float, validation: bool = False) -> None:
        from nnstudio.training.recipe import nonfinite_sentence

        self.step, self.epoch = step, epoch
        where = f"after epoch {epoch} (step {step})" if validation else f"at step {step} (epoch {epoch})"
        super().__init__(nonfinite_sentence("validation loss" if validation else "loss", value, where, lr))


class TooBigToTrain(TrainingError):
    """The network cannot fit in the device's memory at all: a failed run (exit 1),
    as running out of memory mid-run is, found before anything is allocated."""

    failed_run = True


def estimated_training_bytes(graph: GraphModel, config: TrainConfig) -> int:
    """A lower bound on the memory a run needs, from the catalog's figures: weights,
    gradients and optimizer state, and one batch's activations kept for the backward pass."""
    figures = graph.analyze().model_figures()
    parameters = sum(f.parameters for f in figures)
    activations = sum(f.activation_bytes for f in figures)
    per_parameter = 4 * (2 + _OPTIMIZER_STATES.get(config.optimizer, 2))
    return parameters * per_parameter + 2 * activations * config.batch_size


def device_memory(device: torch.device) -> int | None:
    """The device's total memory in bytes, or None where it cannot be read."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:  # the CPU, and Apple's MPS, which shares it
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(graph: GraphModel, config: TrainConfig, device: torch.device) -> None:
    """Refuse, in words, a run that cannot fit in the device's memory whatever happens,
    before the model is allocated (which would fail with the allocator's own error)."""
    have = device_memory(device)
    needed = estimated_training_bytes(graph, config)
    if have is None or needed <= have:
        return
    parameters = graph.num_parameters()
    where = f"the {device.type.upper()} device" if device.type != "cpu" else "this computer"
    smaller = max(1, config.batch_size // 2)
    raise TooBigToTrain(
        f"Training this network needs at least {_bytes(needed)} of memory ({parameters:,} parameters with "
        f"{config.optimizer}, batch size {config.batch_size}), more than {where} has ({_bytes(have)}). "
        f"Try a smaller network, or a batch size of {smaller} or less if the layers' outputs are large."
    )


def _bytes(value: int) -> str:
    for limit, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB")):
        if value >= limit:
            return f"{value / limit:.1f} {suffix}"
    return f"{value / 2**10:.1f} KiB"


def describe(
    exc: BaseException, model: nn.Module, step: int, batch_size: int, device: torch.device
) -> tuple[str, str]:
    """(kind, message) for an exception that ended a run."""
    if isinstance(exc, NonFiniteLoss):
        return "nan", str(exc)
    if _out_of_memory(exc):
        smaller = max(1, batch_size // 2)
        return "out_of_memory", (
            f"The {device.type.upper() if device.type != 'cpu' else 'computer'} ran out of memory at step "
            f"{step} with batch size {batch_size}. Try a batch size of {smaller} or less, or a smaller network."
        )
    if isinstance(exc, DataError):
        return "data", _from_worker(str(exc))
    if isinstance(exc, TrainingError):
        return "error", str(exc)
    layer = failing_node(exc, model)
    if layer is not None:
        return "forward", f"{layer} failed at step {step}: {_first_line(exc)}"
    return "error", f"Training stopped at step {step}: {type(exc).__name__}: {_first_line(exc)}"


def _out_of_memory(exc: BaseException) -> bool:
    """CUDA raises OutOfMemoryError; the CPU allocator a RuntimeError of its own, NumPy MemoryError."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in str(exc)


def failing_node(exc: BaseException, model: nn.Module) -> str | None:
    """ "Linear 'fc1'" when the exception was raised on a node's line of the generated forward."""
    code: Any = getattr(model, "nnstudio_code", None)
    if code is None:
        return None
    forward_code = type(model).forward.__code__
    lines = sorted((line, node_id) for node_id, line in code.line_of.items())
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code is not forward_code:
            continue
        for line, node_id in lines:  # a node's code ends on its line_of
            if line >= lineno:
                layer, name = code.label_of[node_id]
                return f"{layer} '{name}'"
    return None


def _from_worker(message: str) -> str:
    """A DataLoader worker's error arrives wrapped in its traceback; keep our sentence."""
    if "Original Traceback" not in message:
        return message
    last = [line for line in message.strip().splitlines() if line.strip()][-1]
    return last.split(": ", 1)[1] if "Error: " in last else last


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
