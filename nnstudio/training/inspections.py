"""The views' numbers, computed in the run's process between two steps.

``LiveInspector`` is called from the trainer's listener, so the model it reads
is never half-way through a step. Each view it feeds (filters, feature maps,
layer statistics, decision boundary, confusion matrix) is computed only while
the GUI shows it, at most every ``interval`` seconds, and less often when it is
expensive: a view that took ``t`` seconds waits at least ``t / budget`` before
the next time, so the views together cost training about one percent.

The decision boundary of a small 2-D network is the exception: when one pass
(boundary and neuron thumbnails together) costs under ``FAST_COST`` it is
redrawn every ``FAST_INTERVAL`` seconds, so it moves as the network learns,
as in TensorFlow Playground; that is at most a few percent of one core.

Used in the run's process (run_process.py), which sends the payloads to the
window; no Qt here, and torch is imported with this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from nnstudio.core.graph import GraphModel
from nnstudio.core.layers import get_spec
from nnstudio.training import probes as inspection
from nnstudio.training.errors import InspectError
from nnstudio.training.events import EpochEnded, Failed, Finished, LayerStatsReady, PauseChanged, Progress
from nnstudio.training.loop import Trainer
from nnstudio.training.payloads import (
    MAX_MAPS,
    MAX_NEURON_LAYERS,
    MAX_POINTS,
    MAX_ROW_UNITS,
    MAX_UNITS,
    MAX_WRONG,
    NEURON_SIDE,
    Boundary,
    ConfusionResult,
    FeatureMaps,
    Filters,
    Misclassified,
    NeuronLayer,
    ViewWants,
    downsample,
)
from nnstudio.training.relay import Relay

INTERVAL = 1.0  # seconds between two refreshes of one view, at the most often
BUDGET = 0.005  # share of training time one view may take
_PROBE = 256  # validation samples the layer statistics are computed on
_GRID = 64  # decision-boundary resolution (a multiple of NEURON_SIDE: thumbnails average 2x2 blocks)
# Seconds between two pictures of a cheap decision boundary: five a second, a margin over the four a
# learner needs to see it move (issue 13); each more costs training and the window a few ms.
FAST_INTERVAL = 0.2
FAST_COST = 0.005  # seconds one boundary pass may take to be that fast
_BROKEN = ("nan", "out_of_memory")  # runs whose model is not worth another look
MAX_IN_CHANNELS = 32  # input channels of a deeper layer's kernels shown per filter


class LiveInspector:
    """Feeds the visible views from the training thread; see the module docstring."""

    def __init__(
        self,
        trainer: Trainer,
        relay: Relay,
        wants: Callable[[], ViewWants],
        interval: float = INTERVAL,
        budget: float = BUDGET,
    ) -> None:
        self.trainer = trainer
        self.relay = relay
        self.wants = wants
        self.interval = interval
        self.budget = budget
        self.data = trainer.data
        self._next: dict[str, float] = {}
        self._costs: dict[str, float] = {}  # seconds the last pass of each view took
        self._probe: torch.Tensor | None = None
        self._last_wants: ViewWants | None = None
        self.step = 0
        self.seconds_spent = 0.0
        self._hidden: list[tuple[str, str]] | None = None  # the neuron rows, found once per run
        self._unit_counts: dict[str, int] = {}
        self._inner: tuple[int, inspection.Inner] | None = None  # (id of the model, its inner layers)

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
            self._run("boundary", self._boundary, wants=wants)
        if wants.confusion and force and self.has_classes:
            self._run("confusion", self._confusion, epoch=len(self.trainer.history.epochs))

    # --- what this data set allows ---------------------------------------------------------

    @property
    def has_classes(self) -> bool:
        return self.data.task == "classification" and bool(self.data.num_classes)

    @property
    def has_boundary(self) -> bool:
        return self.has_classes and tuple(self.data.sample_shape) == (2,)

    @property
    def inner(self) -> inspection.Inner:
        """The layers inside the model's block instances, by path (found once per model)."""
        model = self.trainer.model
        if self._inner is None or self._inner[0] != id(model):
            record = self.trainer.graph_record
            layers: inspection.Inner = {}
            if record and record.get("blocks"):
                layers = inspection.inner_layers(model, GraphModel.from_dict(record))
            self._inner = (id(model), layers)
        return self._inner[1]

    # --- scheduling ----------------------------------------------------------------------

    def _due(self, name: str, now: float) -> bool:
        return now >= self._next.get(name, 0.0)

    def _run(self, name: str, compute: Callable[..., Any], **kwargs: Any) -> None:
        began, cpu_began = time.perf_counter(), time.thread_time()
        try:
            payload = compute(**kwargs)
        except InspectError as exc:
            payload = str(exc)  # the view shows the sentence
        cost = time.perf_counter() - began
        self.seconds_spent += cost
        if name == "boundary":
            # Computed on this thread alone (see _one_thread): its CPU time is what it takes from
            # training, where wall time on a busy machine also counts the waits for a core.
            cost = time.thread_time() - cpu_began
        # The cheaper of this pass and the one before: the first pass (torch warming up) or one
        # slowed by a busy machine must not hold a view back for seconds.
        judged = min(cost, self._costs.get(name, 0.0 if name == "boundary" else cost))
        self._costs[name] = cost
        wait = max(self.interval, judged / self.budget)
        due = self._next.get(name, began)
        if name == "boundary" and judged < FAST_COST:  # a small 2-D network: live, like Playground
            wait = FAST_INTERVAL
            # From when it was due, not when the step between ended: a steady pace.
            if 0.0 <= began - due < wait:
                began = due
        self._next[name] = began + wait
        if isinstance(payload, LayerStatsReady):
            self.relay.put(payload)
        elif payload is not None:
            self.relay.put_view(name, payload)

    # --- the views -------------------------------------------------------------------------

    def _stats(self) -> LayerStatsReady:
        if self._probe is None:
            self._probe = _first_inputs(self.data.val, _PROBE).to(self.trainer.device)
        return LayerStatsReady(
            self.step, inspection.layer_statistics(self.trainer.model, self._probe, self.inner)
        )

    def _filters(self, wants: ViewWants) -> Filters | str:
        """The picked convolution's kernels, or the first convolution's.

        A first layer (RGB or grey input) shows one tile per filter. A deeper
        one would be filters x inputs tiles (512 for 32 x 16: unreadable), so it
        shows each filter's kernel averaged over its inputs, or, with
        ``filter_channel``, one filter's kernel for each of its inputs."""
        model, inner = self.trainer.model, self.inner
        convs = inspection.conv_nodes(model, inner)
        first = convs[0] if convs else None
        node_id, kernels = wants.filter_node, None
        if node_id is not None:
            try:
                kernels = inspection.conv_kernels(model, node_id, inner)
            except InspectError:  # not a convolution (or not trained): show the first one
                node_id = None
        if node_id is None:
            if first is None:
                return "This network has no convolution layer, so it has no filters to show."
            node_id, kernels = first, inspection.conv_kernels(model, first, inner)
        layers = tuple((n, inspection.node_label(model, n, inner)) for n in convs)
        out, inputs = kernels.shape[:2]
        rgb = kernels.ndim == 4 and inputs == 3 and node_id == first
        common = dict(
            node_id=node_id,
            label=inspection.node_label(model, node_id, inner),
            rgb=rgb,
            step=self.step,
            layers=layers,
            filters=out,
            inputs=inputs,
        )
        if rgb or inputs <= 3 or kernels.ndim != 4:
            return Filters(kernels=kernels[:MAX_MAPS, :MAX_IN_CHANNELS], **common)
        if wants.filter_channel is not None and 0 <= wants.filter_channel < out:
            c = wants.filter_channel
            return Filters(kernels=kernels[c : c + 1, :MAX_MAPS], channel=c, **common)
        return Filters(kernels=_input_averaged(kernels[:MAX_MAPS]), averaged=True, **common)

    def _feature_maps(self, wants: ViewWants) -> FeatureMaps:
        model = self.trainer.model
        node_id = wants.feature_node
        index = min(max(0, wants.sample_index), len(self.data.val) - 1)
        x, y = self.data.val[index]
        truth = self._class_name(int(y)) if self.has_classes else ""
        sample = self._raw(x)
        label = inspection.node_label(model, node_id, self.inner)
        try:
            maps = inspection.feature_maps(model, node_id, x, max_maps=MAX_MAPS, inner=self.inner)
        except InspectError as exc:
            return FeatureMaps(
                node_id,
                label,
                index,
                sample,
                truth,
                np.zeros(0, np.float32),
                self.step,
                len(self.data.val),
                str(exc),
            )
        if maps.ndim == 3:  # (channels, h, w): cut to what the grid shows
            maps = downsample(maps)
        return FeatureMaps(
            node_id, label, index, sample, truth, maps.astype(np.float32), self.step, len(self.data.val)
        )

    def _boundary(self, wants: ViewWants) -> Boundary:
        """The classes over the plane and, from the same forward pass, what each hidden unit
        computes there: every hidden layer's first units, or all units of the picked layer."""
        x, y = self.data.val.tensors
        raw = self._raw_all(x)
        train_raw = self._raw_all(self.data.train.tensors[0])
        low, high = train_raw.min(axis=0), train_raw.max(axis=0)
        margin = 0.1 * np.maximum(high - low, 1e-6)
        layers = self.hidden_layers()
        labels = dict(layers)
        picked = wants.neuron_layer if wants.neuron_layer in labels else None
        node_ids = [picked] if picked else [node_id for node_id, _ in layers[:MAX_NEURON_LAYERS]]
        with _one_thread():  # a few thousand points: OpenMP threads cost more than they bring
            grid = inspection.predict_grid(
                self.trainer.model,
                (float(low[0] - margin[0]), float(high[0] + margin[0])),
                (float(low[1] - margin[1]), float(high[1] + margin[1])),
                resolution=_GRID,
                node_ids=node_ids,
                max_units=MAX_UNITS if picked else MAX_ROW_UNITS,
            )
        self._unit_counts.update(grid.unit_counts)
        neurons = tuple(
            _neuron_layer(n, labels[n], grid.units[n], grid.unit_counts[n])
            for n in node_ids
            if n in grid.units
        )
        shown = slice(0, MAX_POINTS)
        return Boundary(
            grid.xs,
            grid.ys,
            grid.classes,
            grid.confidence,
            raw[shown],
            y[shown].numpy().astype(np.int64),
            self._class_names(),
            self.step,
            neurons,
            tuple((n, label, self._unit_counts.get(n, 0)) for n, label in layers),
            picked,
        )

    def hidden_layers(self) -> list[tuple[str, str]]:
        """(node id, label) of the layers between the input and the output, in forward order.

        A layer whose only consumer is an activation is shown with it, as one row
        ("hidden → relu"): the activation's output is what its units compute. The
        layer that produces the output is the boundary itself and is left out."""
        if self._hidden is not None:
            return self._hidden
        model, record = self.trainer.model, self.trainer.graph_record
        code = getattr(model, "nnstudio_code", None)
        self._hidden = []
        if code is None or not record:
            return self._hidden
        nodes = {n["id"]: n for n in record.get("nodes", [])}
        consumers: dict[str, list[str]] = {}
        for edge in record.get("edges", []):
            consumers.setdefault(edge["source"], []).append(edge["target"])
        outputs = {inspection.output_source(code, o) for o in code.output_ids}

        def spec(node_id: str):
            node = nodes.get(node_id)
            try:
                return get_spec(node["type"]) if node else None
            except (KeyError, ValueError):
                return None

        merged: dict[str, str] = {}  # activation -> the layer it finishes
        for node_id in code.line_of:
            after = consumers.get(node_id, [])
            if len(after) == 1 and (s := spec(after[0])) is not None and s.category == "Activation":
                merged[after[0]] = node_id
        finishing = set(merged.values())
        for node_id in sorted(code.line_of, key=code.line_of.get):
            s = spec(node_id)
            if s is None or s.role in ("input", "output") or node_id in outputs or node_id in finishing:
                continue
            name = nodes[node_id].get("name", node_id)
            if node_id in merged and merged[node_id] in nodes:
                name = f"{nodes[merged[node_id]].get('name', merged[node_id])} → {name}"
            self._hidden.append((node_id, name))
        return self._hidden

    def _confusion(self, epoch: int) -> ConfusionResult | None:
        if not self.has_classes or not self.wants().confusion:
            return None
        result = inspection.confusion(self.trainer.model, self.data)
        names = self._class_names()
        wrong = []
        for index in result.misclassified[:MAX_WRONG].tolist():
            x, y = self.data.val[index]
            wrong.append(
                Misclassified(index, self._raw(x), names[int(y)], names[int(result.predicted[index])])
            )
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


def _input_averaged(kernels: np.ndarray) -> np.ndarray:
    """(out, in, kh, kw) kernels shown 0..1 (0.5 = zero) -> (out, 1, kh, kw): each filter's kernel
    averaged over its input channels, stretched again so its strongest weight is white or black."""
    mean = (kernels - 0.5).mean(axis=1, keepdims=True)
    peak = np.abs(mean).reshape(len(mean), -1).max(axis=1).reshape(-1, 1, 1, 1)
    return (0.5 + 0.5 * mean / np.maximum(peak, 1e-12)).astype(np.float32)


def _neuron_layer(node_id: str, label: str, units: np.ndarray, total: int) -> NeuronLayer:
    """Thumbnails of a layer's units: averaged down to NEURON_SIDE pixels, scaled together so
    a weak unit looks weak beside a strong one."""
    small = downsample(units, NEURON_SIDE)
    finite = np.nan_to_num(small, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.abs(finite).max()) if finite.size else 0.0
    scaled = finite / peak if peak > 1e-12 else finite
    return NeuronLayer(node_id, label, scaled.astype(np.float32), total, peak)


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


def _first_inputs(dataset: Any, n: int) -> torch.Tensor:
    if hasattr(dataset, "tensors"):
        return dataset.tensors[0][:n]
    n = min(n // 4, len(dataset))  # decoded from files: fewer
    return torch.stack([dataset[i][0] for i in range(n)])
