"""A look at the data set before training: what it yields and a few of its samples.

``load_preview`` reads the data set exactly as a run would (fitted to the
graph's Input and Output, split, normalised) and returns a one-line summary
with shapes and a few samples, or the sentence saying why the data does not
fit. It needs torch and may read files, so the panel calls it on a daemon
thread (``preview_in_background``); a newer request makes older results moot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SAMPLES = 8


@dataclass(frozen=True)
class DataPreview:
    summary: str  # what the data set yields, or why it cannot be used
    ok: bool
    samples: tuple[np.ndarray, ...] = field(default=())  # before normalisation
    labels: tuple[str, ...] = field(default=())
    target: str = ""  # "10 classes", "reconstruct the input", "targets of shape (1,)"


def load_preview(
    graph: dict[str, Any], settings: dict[str, Any], base_dir: Path | None, count: int = SAMPLES
) -> DataPreview:
    from nnstudio.api import Graph
    from nnstudio.core.errors import GraphError
    from nnstudio.core.layers import format_shape
    from nnstudio.training.config import TrainConfig
    from nnstudio.training.data import load_for_graph
    from nnstudio.training.errors import TrainingError

    try:
        model = Graph.from_dict(graph, training=settings)
        config = TrainConfig.from_settings(settings)
        data = load_for_graph(model, config, base_dir=base_dir)
    except (TrainingError, GraphError) as exc:
        return DataPreview(str(exc), ok=False)
    n = min(count, len(data.train))
    samples, labels = [], []
    for i in range(n):
        x, y = data.train[i]
        samples.append(x.float().numpy().astype(np.float32))
        if data.task == "classification":
            k = int(y)
            labels.append(data.class_names[k] if k < len(data.class_names) else str(k))
        else:
            labels.append("")
    if data.task == "classification":
        target = f"{data.num_classes} classes"
    elif data.task == "reconstruction":
        target = "reconstruct the input"
    else:
        target = f"targets of shape {format_shape(data.target_shape)}"
    return DataPreview(str(data), True, tuple(samples), tuple(labels), target)


def preview_in_background(
    graph: dict[str, Any],
    settings: dict[str, Any],
    base_dir: Path | None,
    done: Callable[[DataPreview], None],
) -> threading.Thread:
    def run() -> None:
        try:
            result = load_preview(graph, settings, base_dir)
        except Exception as exc:  # an unreadable file of a kind no reader expected
            result = DataPreview(f"The data set could not be read: {type(exc).__name__}: {exc}", ok=False)
        done(result)

    thread = threading.Thread(target=run, name="nnstudio-data-preview", daemon=True)
    thread.start()
    return thread
