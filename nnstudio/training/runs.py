"""Run records: what the project file keeps about each training run, for comparing runs.

A record holds the run's settings, how it ended, its per-epoch metrics and a
thinned smoothed-loss curve (a few hundred points, so a project with many runs
stays small). It is plain JSON-safe data in ``GraphModel.runs``, newest last;
NaN is stored as null. Records this version cannot read are skipped, never an
error: the project still opens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnstudio.training.events import EpochRecord, Failed, Finished, RunStarted, StepPoints

CURVE_POINTS = 400  # points of the smoothed loss kept per run
MAX_RUNS = 30  # older records are dropped from the project beyond this
_LABEL_KEYS = ("optimizer", "lr", "batch_size", "epochs")
_QUIET_KEYS = {"report_every", "workers", "seed", "device", "label_column"}


@dataclass
class RunRecord:
    number: int
    settings: dict[str, Any]
    outcome: str = "finished"  # "finished", "stopped" or "failed"
    message: str = ""  # the failure's sentence
    started: str = ""  # local time, ISO 8601
    device: str = ""
    data: str = ""
    steps_per_epoch: int = 1
    epochs: list[EpochRecord] = field(default_factory=list)
    curve_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    curve_loss: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    checkpoint: str | None = None
    carried: str | None = None  # which layers kept their weights from the run before
    folder: str | None = None  # the run folder: checkpoint, metrics.csv and the exported model
    preprocessing: dict[str, Any] = field(default_factory=dict)  # Input node id -> its statistics

    @property
    def label(self) -> str:
        return f"Run {self.number}: {settings_label(self.settings)}"

    @classmethod
    def of_run(
        cls,
        number: int,
        started: RunStarted,
        final: Finished | Failed,
        started_at: str = "",
        checkpoint: Path | None = None,
        carried: str | None = None,
        folder: Path | None = None,
        preprocessing: dict[str, Any] | None = None,
    ) -> RunRecord:
        """The record of a run that has ended, from its first and last events."""
        failed = isinstance(final, Failed)
        steps, loss = thin_curve(final.history.points)
        return cls(
            number=number,
            settings=started.config.to_settings(),
            outcome="failed" if failed else ("stopped" if final.stopped else "finished"),
            message=final.message if failed else "",
            started=started_at,
            device=started.device,
            data=started.data,
            steps_per_epoch=started.steps_per_epoch,
            epochs=list(final.history.epochs),
            curve_steps=steps,
            curve_loss=loss,
            checkpoint=str(checkpoint) if checkpoint else None,
            carried=carried,
            folder=str(folder) if folder else None,
            preprocessing=dict(preprocessing or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "settings": dict(self.settings),
            "outcome": self.outcome,
            "message": self.message,
            "started": self.started,
            "device": self.device,
            "data": self.data,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": [{k: _json_number(v) for k, v in r.as_dict().items()} for r in self.epochs],
            "curve": {
                "steps": [int(s) for s in self.curve_steps],
                "loss": [_json_number(float(v)) for v in self.curve_loss],
            },
            "checkpoint": self.checkpoint,
            "carried": self.carried,
            "folder": self.folder,
            "preprocessing": self.preprocessing,
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord | None:
        """A record from the project file, or None when it is not one this version reads."""
        try:
            epochs = [
                EpochRecord.from_dict({k: _float(v) if k != "epoch" else int(v) for k, v in r.items()})
                for r in data.get("epochs", [])
            ]
            curve = data.get("curve", {})
            return cls(
                number=int(data["number"]),
                settings=dict(data.get("settings", {})),
                outcome=str(data.get("outcome", "finished")),
                message=str(data.get("message", "")),
                started=str(data.get("started", "")),
                device=str(data.get("device", "")),
                data=str(data.get("data", "")),
                steps_per_epoch=max(1, int(data.get("steps_per_epoch", 1))),
                epochs=epochs,
                curve_steps=np.asarray(curve.get("steps", []), np.float64),
                curve_loss=np.asarray([_float(v) for v in curve.get("loss", [])], np.float32),
                checkpoint=data.get("checkpoint"),
                carried=data.get("carried"),
                folder=data.get("folder"),
                preprocessing=dict(data.get("preprocessing") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def read_runs(runs: list[Any]) -> list[RunRecord]:
    return [r for r in (RunRecord.from_dict(d) for d in runs) if r is not None]


def next_number(runs: list[Any]) -> int:
    return max((r.number for r in read_runs(runs)), default=0) + 1


def settings_label(settings: dict[str, Any]) -> str:
    """ "adam, lr 0.002, batch 64, 15 epochs" plus any other setting that is not the default."""
    from nnstudio.training.config import TrainConfig

    try:
        config = TrainConfig.from_settings(settings)
    except ValueError:
        return ", ".join(f"{k} {v}" for k, v in settings.items())
    parts = [
        config.optimizer,
        f"lr {config.lr:g}",
        f"batch {config.batch_size}",
        f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}",
    ]
    extras = config.to_settings()
    for key, value in extras.items():
        if key in _LABEL_KEYS or key in _QUIET_KEYS or key == "dataset":
            continue
        parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)


def thin_curve(points: StepPoints, limit: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` evenly spaced (step, smoothed loss) points, the last one included."""
    n = len(points)
    if n <= limit:
        return points.steps.astype(np.float64), points.smoothed.astype(np.float32)
    keep = np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))
    return points.steps[keep].astype(np.float64), points.smoothed[keep].astype(np.float32)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)
