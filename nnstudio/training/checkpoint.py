"""Checkpoints: model, optimizer, settings and progress in one file, written atomically.

A checkpoint is read back with ``torch.load(weights_only=True)``: tensors and
plain containers only, so opening one never runs code. What it holds is then
checked against a schema, as a project file is, so a well-formed file with a
wrong-typed field is one sentence rather than an error deep in the trainer.
It is written to a temporary file beside the target and then renamed over it,
so a crash while saving leaves the previous checkpoint whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from nnstudio.core.project import replace_atomically
from nnstudio.training.errors import TrainingError
from nnstudio.training.events import History

FORMAT = "nnstudio-checkpoint"
VERSION = 1


class CheckpointError(TrainingError):
    """A checkpoint that cannot be read or does not belong to this run."""


# --- the schema ----------------------------------------------------------------------------------


def _dense(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"expected a tensor, not {type(value).__name__}")
    if value.layout != torch.strided or value.is_meta:
        raise ValueError("expected a dense tensor with data")
    return value


def _rng(value: torch.Tensor) -> torch.Tensor:
    if value.dtype != torch.uint8 or value.dim() != 1:
        raise ValueError("expected a random generator state (a 1-d uint8 tensor)")
    return value


Tensor = Annotated[Any, AfterValidator(_dense)]
Count = Annotated[StrictInt, Field(ge=0)]
_Number = StrictInt | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)


_STEP_TYPES = (torch.int64, torch.int32)
_VALUE_TYPES = (torch.float32, torch.float64)


def _series(integer: bool) -> Any:
    """Step numbers (``integer``) or values: a 1-d tensor, or a list in checkpoints
    written before the points were saved as tensors."""
    kind = "step numbers (whole numbers, 0 or more)" if integer else "real numbers"

    def check(value: Any) -> Any:
        if isinstance(value, list):
            types = (int,) if integer else (int, float)
            if not all(type(v) in types for v in value) or (integer and any(v < 0 for v in value)):
                raise ValueError(f"expected a list of {kind}")
            return value
        if (
            not isinstance(value, torch.Tensor)
            or value.layout != torch.strided
            or value.is_meta
            or value.dim() != 1
            or value.dtype not in (_STEP_TYPES if integer else _VALUE_TYPES)
            or (integer and bool((value < 0).any()))
        ):
            raise ValueError(f"expected a list or a 1-d tensor of {kind}")
        return value

    return Annotated[Any, AfterValidator(check)]


class _Points(_Strict):
    steps: _series(integer=True)
    loss: _series(integer=False)
    smoothed: _series(integer=False)
    accuracy: _series(integer=False)

    @model_validator(mode="after")
    def _same_length(self) -> _Points:
        lengths = {len(self.steps), len(self.loss), len(self.smoothed), len(self.accuracy)}
        if len(lengths) != 1:
            raise ValueError("the per-step lists have different lengths (the file is truncated or edited)")
        return self


class _Epoch(_Strict):
    epoch: Annotated[StrictInt, Field(ge=1)]
    train_loss: _Number
    train_acc: _Number
    val_loss: _Number
    val_acc: _Number
    lr: _Number
    seconds: _Number


class _History(_Strict):
    epochs: list[_Epoch]
    points: _Points


class _ParamGroup(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    params: list[Count]


class _Optimizer(_Strict):
    state: dict[StrictInt, dict[str, Any]]
    param_groups: list[_ParamGroup]


class _Rng(_Strict):
    torch: Annotated[Tensor, AfterValidator(_rng)]
    cuda: Annotated[Tensor, AfterValidator(_rng)] | None = None


class CheckpointRecord(BaseModel):
    """What ``Trainer.checkpoint_state`` writes; anything else in a file is refused."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)

    format: str
    version: StrictInt
    model: dict[str, Tensor]
    optimizer: _Optimizer
    settings: dict[str, Any]
    epoch: Count
    step: Count
    epoch_step: Count
    history: _History
    smoother: tuple[_Number, Count] = Field(strict=False)  # written as a list
    rng: _Rng | None = None
    graph: Any = None
    reason: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> CheckpointRecord:
        if self.epoch_step > self.step:
            raise ValueError(f"'epoch_step' {self.epoch_step} is past 'step' {self.step}")
        if self.rng is not None and self.rng.torch.numel() != torch.get_rng_state().numel():
            raise ValueError("the random generator state is truncated")
        return self


def check(state: dict[str, Any], path: Path) -> None:
    """Raise CheckpointError, one sentence, unless ``state`` has the shape a checkpoint has."""
    try:
        CheckpointRecord.model_validate(state)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise CheckpointError(
            f"{path} is not a usable checkpoint: at '{where}': {first['msg']}. "
            "It may be damaged or written by something else; start a new run instead."
        ) from None


def history_state(history: History) -> dict[str, Any]:
    """``history`` as a checkpoint holds it: the per-step points as tensors, which are
    saved and loaded as whole blocks, however long the run."""
    state = history.to_state()
    state["points"] = {name: torch.from_numpy(a) for name, a in state["points"].items()}
    return state


def save(state: dict[str, Any], path: Path) -> Path:
    """Write ``state`` to ``path`` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(
        path, lambda handle: torch.save({"format": FORMAT, "version": VERSION, **state}, handle)
    )
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
    version = state.get("version", 0)
    if isinstance(version, int) and version > VERSION:
        raise CheckpointError(f"{path} was written by a newer nnstudio; update nnstudio to resume from it.")
    check(state, path)
    return state
