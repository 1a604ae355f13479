"""The hand-over between a training run and the GUI: one lock, one merged update.

What the run's process reports (run_process.py) arrives on the window's
receiving thread, which calls ``Relay.put`` for every event; that only merges the event into a pending ``Update`` under a
lock (step points are appended as arrays, the latest progress, statistics and
images replace older ones). The GUI takes the whole pending update at most
ten times a second (``Relay.take``), so however fast the trainer reports, the
event loop sees a bounded number of compact payloads and never a backlog.

No Qt and no torch here: plain data crosses the threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nnstudio.training.events import (
    CheckpointWritten,
    EpochEnded,
    EpochRecord,
    Failed,
    Finished,
    LayerStatsReady,
    Notice,
    PauseChanged,
    Progress,
    RunStarted,
    StepPoints,
)


@dataclass
class Update:
    """Everything that happened since the GUI last looked; fields left None did not change."""

    started: RunStarted | None = None
    carried: str | None = None  # which layers kept their weights (a sentence)
    points: StepPoints = field(default_factory=StepPoints.empty)
    epochs: list[EpochRecord] = field(default_factory=list)
    progress: Progress | None = None  # the latest, its points moved to ``points``
    notices: list[str] = field(default_factory=list)
    paused: bool | None = None
    checkpoint: CheckpointWritten | None = None
    stats: LayerStatsReady | None = None
    views: dict[str, Any] = field(default_factory=dict)  # view name -> its latest payload
    final: Finished | Failed | None = None
    events: int = 0  # how many trainer events were merged into this update

    @property
    def empty(self) -> bool:
        return self.events == 0 and not self.views and self.carried is None


class Relay:
    """A lock-protected, merging buffer from the training thread to the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = Update()
        self._chunks: list[StepPoints] = []  # joined once per take, not once per event

    def put(self, event: Any) -> None:
        """Merge one trainer event (called on the training thread)."""
        with self._lock:
            if isinstance(event, Progress) and len(event.points):
                self._chunks.append(event.points)
            _merge(self._pending, event)

    def put_view(self, name: str, payload: Any) -> None:
        """A view's newest payload (filters, feature maps, ...) replaces the older one."""
        with self._lock:
            self._pending.views[name] = payload

    def put_carried(self, sentence: str) -> None:
        with self._lock:
            self._pending.carried = sentence

    def put_update(self, update: Update) -> None:
        """Merge an update another relay took: a run's process sends what its relay merged."""
        with self._lock:
            if len(update.points):
                self._chunks.append(update.points)
            pending = self._pending
            pending.events += update.events
            pending.epochs.extend(update.epochs)
            pending.notices.extend(update.notices)
            pending.views.update(update.views)
            for name in ("started", "carried", "progress", "paused", "checkpoint", "stats", "final"):
                if getattr(update, name) is not None:  # the newer one wins, as for single events
                    setattr(pending, name, getattr(update, name))

    def take(self) -> Update | None:
        """The pending update, or None when nothing happened (called on the GUI thread)."""
        with self._lock:
            if self._pending.empty:
                return None
            update, self._pending = self._pending, Update()
            chunks, self._chunks = self._chunks, []
        if chunks:
            columns = zip(*(c.arrays() for c in chunks), strict=True)
            update.points = StepPoints(*(np.concatenate(column) for column in columns))
        if update.progress is not None and len(update.progress.points):
            # Its points are in ``update.points``; stripped here, once a take, not once an event.
            update.progress = replace(update.progress, points=StepPoints.empty())
        return update


def _merge(update: Update, event: Any) -> None:
    update.events += 1
    if isinstance(event, Progress):  # its points wait in the relay's chunks (see take)
        update.progress = event
    elif isinstance(event, EpochEnded):
        update.epochs.append(event.record)
    elif isinstance(event, RunStarted):
        update.started = event
    elif isinstance(event, Notice):
        update.notices.append(event.message)
    elif isinstance(event, PauseChanged):
        update.paused = event.paused
    elif isinstance(event, CheckpointWritten):
        update.checkpoint = event
    elif isinstance(event, LayerStatsReady):
        update.stats = event
    elif isinstance(event, Finished | Failed):
        update.final = event
