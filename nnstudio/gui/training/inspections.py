"""The views' numbers, computed on the training thread between two steps.

``LiveInspector`` is called from the trainer's listener, so the model it reads
is never half-way through a step. Each view it feeds (filters, feature maps,
layer statistics, decision boundary, confusion matrix) is computed only while
the GUI shows it, at most every ``interval`` seconds, and less often when it is
expensive: a view that took ``t`` seconds waits at least ``t / budget`` before
the next time, so the views together cost training about one percent.

Imported on the training thread only: it needs torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from nnstudio.gui.training.payloads import (
    MAX_MAPS,
    MAX_POINTS,
    MAX_WRONG,
    Boundary,
    ConfusionResult,
    FeatureMaps,
    Filters,
    Misclassified,
    ViewWants,
    downsample,
)
from nnstudio.gui.training.relay import Relay
from nnstudio.training import inspect as inspection
from nnstudio.training.errors import InspectError
from nnstudio.training.events import EpochEnded, Failed, Finished, LayerStatsReady, PauseChanged, Progress
from nnstudio.training.loop import Trainer

INTERVAL = 1.0  # seconds between two refreshes of one view, at the most often
BUDGET = 0.005  # share of training time one view may take
_PROBE = 256  # validation samples the layer statistics are computed on
_GRID = 90  # decision-boundary resolution
_BROKEN = ("nan", "out_of_memory")  # runs whose model is not worth another look
MAX_IN_CHANNELS = 32  # input channels of a deeper layer's kernels shown per filter


class LiveInspector:
    """Feeds the visible views from the training thread; see the module docstring."""

    def __init__(self, trainer: Trainer, relay: Relay, wants: Callable[[], ViewWants],
                 interval: float = INTERVAL, budget: float = BUDGET) -> None:
        self.trainer = trainer
        self.relay = relay
        self.wants = wants
        self.interval = interval
        self.budget = budget
        self.data = trainer.data
        self._next: dict[str, float] = {}
        self._probe: torch.Tensor | None = None
        self._last_wants: ViewWants | None = None
        self.step = 0
        self.seconds_spent = 0.0

    # --- called by the listener ------------------------------------------------------

    def on_event(self, event: Any) -> None:
        if isinstance(event, Progress):
            self.step = event.step
            self.refresh(force=False)
        elif isinstance(event, EpochEnded):
            if self._due("confusion", time.perf_counter()) or event.record.epoch == event.epochs:
                self._run("confusion", self._confusion, epoch=event.record.epoch)
        elif isinstance(event, PauseChanged) and event.paused:
            self.refresh(force=True)  # a paused run shows where it stands
        elif isinstance(event, Finished) or (isinstance(event, Failed) and event.kind not in _BROKEN):
            self.refresh(force=True)  # the views show the final weights

    def refresh(self, force: bool = True) -> None:
        """Compute every wanted view that is due (all of them with ``force``)."""
        wants = self.wants()
        changed = wants != self._last_wants
        self._last_wants = wants
        now = time.perf_counter()
        due = (lambda name: True) if force or changed else (lambda name: self._due(name, now))
        if wants.stats and due("stats"):
            self._run("stats", self._stats)
        if wants.filters and due("filters"):
            self._run("filters", self._filters, wants=wants)
        if wants.feature_maps and wants.feature_node and due("feature_maps"):
            self._run("feature_maps", self._feature_maps, wants=wants)
        if wants.boundary and self.has_boundary and due("boundary"):
            self._run("boundary", self._boundary)
        if wants.confusion and force and self.has_classes:
            self._run("confusion", self._confusion, epoch=len(self.trainer.history.epochs))

    # --- what this data set allows ---------------------------------------------------------

    @property
    def has_classes(self) -> bool:
        return self.data.task == "classification" and bool(self.data.num_classes)

    @property
    def has_boundary(self) -> bool:
        return self.has_classes and tuple(self.data.sample_shape) == (2,)

    # --- scheduling ----------------------------------------------------------------------

    def _due(self, name: str, now: float) -> bool:
        return now >= self._next.get(name, 0.0)

    def _run(self, name: str, compute: Callable[..., Any], **kwargs: Any) -> None:
        began = time.perf_counter()
        try:
            payload = compute(**kwargs)
        except InspectError as exc:
            payload = str(exc)  # the view shows the sentence
        cost = time.perf_counter() - began
        self.seconds_spent += cost
        self._next[name] = began + max(self.interval, cost / self.budget)
        if isinstance(payload, LayerStatsReady):
            self.relay.put(payload)
        elif payload is not None:
            self.relay.put_view(name, payload)

    # --- the views -------------------------------------------------------------------------

    def _stats(self) -> LayerStatsReady:
        if self._probe is None:
            self._probe = _first_inputs(self.data.val, _PROBE).to(self.trainer.device)
        return LayerStatsReady(self.step, inspection.layer_statistics(self.trainer.model, self._probe))

    def _filters(self, wants: ViewWants) -> Filters | str:
        """The picked convolution's kernels, or the first convolution's."""
        model = self.trainer.model
        first = inspection.first_conv(model)
        node_id, kernels = wants.filter_node, None
        if node_id is not None:
            try:
                kernels = inspection.conv_kernels(model, node_id)
            except InspectError:  # not a convolution (or not trained): show the first one
                node_id = None
        if node_id is None:
            if first is None:
                return "This network has no convolution layer, so it has no filters to show."
            node_id, kernels = first, inspection.conv_kernels(model, first)
        rgb = kernels.ndim == 4 and kernels.shape[1] == 3 and node_id == first
        kernels = kernels[:MAX_MAPS, :MAX_IN_CHANNELS]
        return Filters(node_id, inspection.node_label(model, node_id), kernels, rgb, self.step)

    def _feature_maps(self, wants: ViewWants) -> FeatureMaps:
        model = self.trainer.model
        node_id = wants.feature_node
        index = min(max(0, wants.sample_index), len(self.data.val) - 1)
        x, y = self.data.val[index]
        truth = self._class_name(int(y)) if self.has_classes else ""
        sample = self._raw(x)
        label = inspection.node_label(model, node_id)
        try:
            maps = inspection.feature_maps(model, node_id, x, max_maps=MAX_MAPS)
        except InspectError as exc:
            return FeatureMaps(node_id, label, index, sample, truth, np.zeros(0, np.float32), self.step,
                               len(self.data.val), str(exc))
        if maps.ndim == 3:  # (channels, h, w): cut to what the grid shows
            maps = downsample(maps)
        return FeatureMaps(node_id, label, index, sample, truth, maps.astype(np.float32), self.step,
                           len(self.data.val))

    def _boundary(self) -> Boundary:
        x, y = self.data.val.tensors
        raw = self._raw_all(x)
        train_raw = self._raw_all(self.data.train.tensors[0])
        low, high = train_raw.min(axis=0), train_raw.max(axis=0)
        margin = 0.1 * np.maximum(high - low, 1e-6)
        grid = inspection.predict_grid(
            self.trainer.model,
            (float(low[0] - margin[0]), float(high[0] + margin[0])),
            (float(low[1] - margin[1]), float(high[1] + margin[1])),
            resolution=_GRID,
        )
        shown = slice(0, MAX_POINTS)
        return Boundary(grid.xs, grid.ys, grid.classes, grid.confidence, raw[shown],
                        y[shown].numpy().astype(np.int64), self._class_names(), self.step)

    def _confusion(self, epoch: int) -> ConfusionResult | None:
        if not self.has_classes or not self.wants().confusion:
            return None
        result = inspection.confusion(self.trainer.model, self.data)
        names = self._class_names()
        wrong = []
        for index in result.misclassified[:MAX_WRONG].tolist():
            x, y = self.data.val[index]
            wrong.append(Misclassified(index, self._raw(x), names[int(y)], names[int(result.predicted[index])]))
        return ConfusionResult(result.matrix, names, epoch, tuple(wrong), len(result.misclassified))

    # --- helpers -----------------------------------------------------------------------------

    def _class_names(self) -> tuple[str, ...]:
        k = self.data.num_classes or 0
        names = tuple(self.data.class_names)
        return names if len(names) == k else tuple(str(i) for i in range(k))

    def _class_name(self, index: int) -> str:
        names = self._class_names()
        return names[index] if 0 <= index < len(names) else str(index)

    def _raw(self, x: torch.Tensor) -> np.ndarray:
        """One sample as the data set holds it, for display."""
        return self._raw_all(x.unsqueeze(0))[0]

    def _raw_all(self, x: torch.Tensor) -> np.ndarray:
        return x.detach().float().cpu().numpy()


def _first_inputs(dataset: Any, n: int) -> torch.Tensor:
    if hasattr(dataset, "tensors"):
        return dataset.tensors[0][:n]
    n = min(n // 4, len(dataset))  # decoded from files: fewer
    return torch.stack([dataset[i][0] for i in range(n)])

