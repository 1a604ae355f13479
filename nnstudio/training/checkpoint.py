"""Checkpoints: model, optimizer, settings and progress in one file, written atomically.

A checkpoint is read back with ``torch.load(weights_only=True)``: tensors and
plain containers only, so opening one never runs code. It is written to a
temporary file beside the target and then renamed over it, so a crash while
saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nnstudio.core.project import replace_atomically
from nnstudio.training.errors import TrainingError

FORMAT = "nnstudio-checkpoint"
VERSION = 1


class CheckpointError(TrainingError):
    """A checkpoint that cannot be read or does not belong to this run."""


def save(state: dict[str, Any], path: Path) -> Path:
    """Write ``state`` to ``path`` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda handle: torch.save({"format": FORMAT, "version": VERSION, **state}, handle))
    return path


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU; raises CheckpointError with a sentence."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"There is no checkpoint at {path}.") from None
    except Exception as exc:  # torch raises many kinds for truncated or foreign files
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc}).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an nnstudio checkpoint.")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was written by a newer nnstudio; update nnstudio to resume from it.")
    return state
