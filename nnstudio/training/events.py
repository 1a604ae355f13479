"""What a run reports: metric records and the events listeners receive.

Everything here is plain numbers, strings and small NumPy arrays, never live
tensors, so a listener may keep an event, send it to another thread, or
pickle it. A listener is any callable taking one event; ``TrainListener``
dispatches to ``on_<event>`` methods for those who prefer that. The CLI's
progress bar and the GUI's worker thread are both thin listeners.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnstudio.training.config import TrainConfig

SMOOTHING = 0.9  # exponential smoothing of the per-step series, as TensorBoard does
POINT_FIELDS = ("steps", "loss", "smoothed", "accuracy")  # StepPoints' arrays, in order

# --- metric records ------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch. Accuracies are NaN when the task has no classes."""

    epoch: int  # counted from 1
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float

    CSV_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.CSV_COLUMNS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EpochRecord:
        return cls(**{name: values[name] for name in cls.CSV_COLUMNS})


@dataclass(frozen=True)
class StepPoints:
    """Consecutive training steps: global step numbers (from 1) and their values."""

    steps: np.ndarray  # int64
    loss: np.ndarray  # float32, the batch's mean loss
    smoothed: np.ndarray  # float32, exponentially smoothed loss
    accuracy: np.ndarray  # float32, the batch's accuracy; NaN without classes

    @classmethod
    def empty(cls) -> StepPoints:
        return cls(np.zeros(0, np.int64), *(np.zeros(0, np.float32) for _ in range(3)))

    def __len__(self) -> int:
        return len(self.steps)

    def concat(self, other: StepPoints) -> StepPoints:
        return StepPoints(
            *(np.concatenate([a, b]) for a, b in zip(self.arrays(), other.arrays(), strict=True))
        )

    def upto(self, step: int) -> StepPoints:
        """The points with step numbers up to and including ``step``."""
        keep = self.steps <= step
        return StepPoints(*(a[keep] for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.steps, self.loss, self.smoothed, self.accuracy)


class Smoother:
    """Debiased exponential moving average, carried across reports (and resumes)."""

    def __init__(self, weight: float = SMOOTHING, value: float = 0.0, count: int = 0) -> None:
        self.weight, self.value, self.count = weight, value, count

    def __call__(self, values: np.ndarray) -> np.ndarray:
        out = np.empty(len(values), np.float32)
        for i, v in enumerate(values):
            if math.isfinite(v):
                self.value = self.weight * self.value + (1 - self.weight) * float(v)
                self.count += 1
            out[i] = self.value / (1 - self.weight**self.count) if self.count else v
        return out


class History:
    """Everything a run has measured so far; checkpoints carry it so a resumed
    run continues the same curves."""

    def __init__(self, epochs: list[EpochRecord] | None = None, points: StepPoints | None = None) -> None:
        self.epochs: list[EpochRecord] = list(epochs or [])
        self._chunks: list[StepPoints] = [points] if points is not None and len(points) else []

    @property
    def points(self) -> StepPoints:
        """All per-step points so far (joined on demand; reports only append)."""
        if len(self._chunks) > 1:
            joined = self._chunks[0]
            for chunk in self._chunks[1:]:
                joined = joined.concat(chunk)
            self._chunks = [joined]
        return self._chunks[0] if self._chunks else StepPoints.empty()

    def add_points(self, points: StepPoints) -> None:
        if len(points):
            self._chunks.append(points)

    def truncate(self, step: int) -> None:
        """Forget the points after ``step`` (a resumed run repeats those steps)."""
        self._chunks = [self.points.upto(step)]

    def copy(self) -> History:
        return History(self.epochs, self.points)

    def to_state(self) -> dict[str, Any]:
        """Epochs as plain dicts, the per-step points as arrays (a checkpoint stores them as
        tensors: a long run's points as Python lists made every save slower than the last)."""
        return {
            "epochs": [r.as_dict() for r in self.epochs],
            "points": dict(zip(POINT_FIELDS, self.points.arrays(), strict=True)),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> History:
        p = state["points"]
        points = StepPoints(
            np.asarray(p["steps"], np.int64),
            *(np.asarray(p[k], np.float32) for k in POINT_FIELDS[1:]),
        )
        return cls([EpochRecord.from_dict(r) for r in state["epochs"]], points)


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStarted:
    """The run is set up. With a resumed run, ``history`` holds what came before."""

    config: TrainConfig
    device: str
    data: str  # a one-line description of the data set
    loss: str  # the loss actually used (never "auto")
    steps_per_epoch: int
    total_steps: int
    start_epoch: int  # epochs already done (0 unless resumed)
    start_step: int  # steps already done (0 unless resumed)
    history: History
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    """Sent at most every ``config.report_every`` seconds and at each epoch's end."""

    epoch: int  # the epoch in progress, from 1
    epochs: int
    step: int  # steps done in the whole run
    total_steps: int
    points: StepPoints  # the steps since the previous report
    lr: float
    samples_per_second: float
    elapsed: float  # seconds of training in this session, pauses excluded
    eta: float  # seconds left, estimated

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 1.0


@dataclass(frozen=True)
class EpochEnded:
    record: EpochRecord
    epochs: int


@dataclass(frozen=True)
class CheckpointWritten:
    path: Path
    epoch: int  # epochs completed in the checkpoint
    step: int
    reason: str  # "epoch" or "stop"


@dataclass(frozen=True)
class LayerStat:
    """One node's statistics on a fixed probe batch (NaN where it does not apply)."""

    mean: float  # of the node's output
    std: float
    grad_norm: float  # of the node's parameters' gradients after the last step
    dead_fraction: float  # ReLU family: share of units that are zero for every probe sample


@dataclass(frozen=True)
class LayerStatsReady:
    step: int
    stats: dict[str, LayerStat]  # by node id


@dataclass(frozen=True)
class PauseChanged:
    paused: bool
    step: int


@dataclass(frozen=True)
class Notice:
    """Something the user should know that does not stop the run (a fallback, say)."""

    message: str


@dataclass(frozen=True)
class Finished:
    history: History
    stopped: bool  # True when stopped by request before the last epoch
    checkpoint: Path | None
    seconds: float


@dataclass(frozen=True)
class Failed:
    """The run stopped on a fault; ``message`` says why and what to try."""

    message: str
    kind: str  # "nan", "out_of_memory", "forward", "data" or "error"
    step: int
    checkpoint: Path | None  # the last good checkpoint, if any
    history: History


Event = (
    RunStarted
    | Progress
    | EpochEnded
    | CheckpointWritten
    | LayerStatsReady
    | PauseChanged
    | Notice
    | Finished
    | Failed
)

_HANDLERS = {
    RunStarted: "on_run_started",
    Progress: "on_progress",
    EpochEnded: "on_epoch_ended",
    CheckpointWritten: "on_checkpoint_written",
    LayerStatsReady: "on_layer_stats",
    PauseChanged: "on_pause_changed",
    Notice: "on_notice",
    Finished: "on_finished",
    Failed: "on_failed",
}


class TrainListener:
    """Base class for listeners: override the ``on_*`` methods you need."""

    def __call__(self, event: Event) -> None:
        getattr(self, _HANDLERS[type(event)])(event)

    def on_run_started(self, event: RunStarted) -> None: ...
    def on_progress(self, event: Progress) -> None: ...
    def on_epoch_ended(self, event: EpochEnded) -> None: ...
    def on_checkpoint_written(self, event: CheckpointWritten) -> None: ...
    def on_layer_stats(self, event: LayerStatsReady) -> None: ...
    def on_pause_changed(self, event: PauseChanged) -> None: ...
    def on_notice(self, event: Notice) -> None: ...
    def on_finished(self, event: Finished) -> None: ...
    def on_failed(self, event: Failed) -> None: ...
