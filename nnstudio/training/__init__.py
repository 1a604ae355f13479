"""Training: data sets, settings, the trainer and the inspection views' numbers.

Imports flow gui -> training -> compiler -> core; nothing here imports Qt.
``config`` and ``events`` need no torch, so the editor can read and edit
training settings before torch is loaded; the names below load their module
on first use for the same reason.

    from nnstudio.training import Trainer, TrainConfig
    trainer = Trainer.for_graph(graph, TrainConfig.from_settings(graph.training))
    result = trainer.run(listener)          # listener(event) for each event
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Trainer": "nnstudio.training.loop",
    "TrainConfig": "nnstudio.training.config",
    "TrainListener": "nnstudio.training.events",
    "TrainingData": "nnstudio.training.data",
    "load_for_graph": "nnstudio.training.data",
    "ConfigError": "nnstudio.training.errors",
    "DataError": "nnstudio.training.errors",
    "DataMismatchError": "nnstudio.training.errors",
    "TrainingError": "nnstudio.training.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nnstudio.training' has no attribute '{name}'")
