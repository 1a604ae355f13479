"""Reads a study from its storage for the panel: plain records, never a live Optuna object.

The sweep runs in another process (or on another machine); the panel only
reads what it wrote. Optuna is imported on the first read, not when the app starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnstudio.experiments.results import TrialRecord, trial_records


@dataclass(frozen=True)
class StudySnapshot:
    name: str
    metric: str  # val_acc or val_loss
    maximize: bool
    trials: list[TrialRecord] = field(default_factory=list)

    def best(self) -> TrialRecord | None:
        done = [t for t in self.trials if t.state == "COMPLETE" and t.value is not None]
        if not done:
            return None
        return (max if self.maximize else min)(done, key=lambda t: t.value)


class StudyReader:
    """One study in one storage (a journal file path or a database URL)."""

    def __init__(self, storage: str, name: str) -> None:
        self.storage_url = storage
        self.name = name
        self._storage: Any = None

    def read(self) -> StudySnapshot | None:
        """The study as it is now; None while the sweep has not created it yet."""
        from nnstudio.experiments.storage import open_storage, require_optuna

        optuna = require_optuna()
        if self._storage is None:
            self._storage = open_storage(self.storage_url, Path(self.storage_url).parent)
        try:
            study = optuna.load_study(study_name=self.name, storage=self._storage)
        except KeyError:
            return None
        return StudySnapshot(
            name=self.name,
            metric=str(study.user_attrs.get("metric", "val_acc")),
            maximize=study.direction.name == "MAXIMIZE",
            trials=trial_records(study),
        )
