"""Turning what goes wrong in a run into a sentence that says what to do."""

from __future__ import annotations

import traceback
from typing import Any

import torch
from torch import nn

from nnstudio.training.errors import DataError, TrainingError


class NonFiniteLoss(TrainingError):
    """The training loss (or, with ``validation``, the validation loss) became NaN or infinite."""

    def __init__(self, step: int, epoch: int, value: float, lr: float, validation: bool = False) -> None:
        from nnstudio.training.recipe import nonfinite_sentence

        self.step, self.epoch = step, epoch
        where = f"after epoch {epoch} (step {step})" if validation else f"at step {step} (epoch {epoch})"
        super().__init__(nonfinite_sentence("validation loss" if validation else "loss", value, where, lr))


def describe(exc: BaseException, model: nn.Module, step: int, batch_size: int, device: torch.device) -> tuple[str, str]:
    """(kind, message) for an exception that ended a run."""
    if isinstance(exc, NonFiniteLoss):
        return "nan", str(exc)
    if isinstance(exc, torch.OutOfMemoryError):
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


def failing_node(exc: BaseException, model: nn.Module) -> str | None:
    """"Linear 'fc1'" when the exception was raised on a node's line of the generated forward."""
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
