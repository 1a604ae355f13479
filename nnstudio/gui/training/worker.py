"""The window's side of a training run, and its rate-limited line to the GUI.

``TrainingWorker`` lives on the GUI thread. Each run trains in a process of its
own (training/run_process.py: a small network's Python would otherwise contend
with the window's for the GIL); a receiving thread here merges what the run
reports into a ``Relay``, and a 100 ms timer on the GUI thread takes what has
gathered and emits it as one ``updated`` signal. So the event loop receives at
most ten compact payloads a second whatever the step rate, and no signal is
ever emitted per step (a flood of queued signals freezes the UI and has
crashed PySide6 at exit).

Controls (pause, resume, stop, what the views want) may be given at any time,
also before the run's trainer exists; they take effect between two steps.
``stop`` writes a checkpoint; ``wait`` blocks until the run has reported how it
ended, which ``closeEvent`` uses. After a run its process keeps the trained
model and computes the views asked for, until the next run starts or the window
closes.
"""

from __future__ import annotations

import dataclasses
import os
import threading

from PySide6.QtCore import QObject, QTimer, Signal

from nnstudio.training.payloads import ViewWants
from nnstudio.training.relay import Relay, Update
from nnstudio.training.run_process import (
    Outcome,
    RunProcess,
    RunRequest,
    crashed,
    setup_failure,
    update_interval,
)
from nnstudio.training.threads import usable_cores

__all__ = ["Outcome", "RunRequest", "TrainingWorker", "default_threads"]

# At most ten updates a second reach the GUI (four from a run on every core, which pays for each
# wake-up of the window: run_process.update_interval); the run sends them at the same pace.
UPDATE_INTERVAL_MS = 100
THREADS_ENV = "NNSTUDIO_TRAIN_THREADS"


def default_threads() -> int:
    """torch's intra-op threads for a run in the app: every core, as ``nnstudio train``
    uses, so a run in the window is as fast as the same run on the command line.
    ``NNSTUDIO_TRAIN_THREADS`` overrides it (e.g. to keep a core free on a busy machine).

    Measured on two cores (benchmarks/gui_responsiveness.py, LeNet-5): with both cores
    the 10 ms timer's lateness stayed under p99 16 ms and the window trained at 0.97x the
    command line's speed (median of 14 pairs); leaving the GUI a core gave 0.60x. The
    run's process has a lower priority (run_process.TRAINING_NICE), so the GUI thread
    still wins."""
    wanted = os.environ.get(THREADS_ENV, "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return usable_cores()


class _RunLink:
    """One run's process as the window sees it: controls to it, reports from it.

    No Qt: the receiving thread touches only this object, never the worker. A QObject
    whose last reference that thread dropped would be destroyed off the GUI thread (a crash)."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.relay = Relay()
        self.reported = threading.Event()  # the run has said how it ended (or its process is gone)
        self.outcome: Outcome | None = None
        self.delivered = False  # the worker has emitted the outcome (GUI thread only)
        self.gone = False  # the process has ended
        self.refreshes_asked = 0  # after the run, by the GUI thread
        self.refreshes_done = 0  # answered, counted by the receiving thread
        self._lock = threading.Lock()
        self._process: RunProcess | None = None
        self._waiting: list[tuple] | None = []  # controls given while the process starts

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def send(self, message: tuple) -> None:
        with self._lock:
            if self._waiting is not None:  # the process is starting: it gets them first
                self._waiting.append(message)
                return
            process = self._process
        if process is not None:
            process.send(message)

    def receive(self) -> None:
        """Start the run's process, then merge what it reports into the relay until it ends.

        Started here, not on the GUI thread: until the process server has imported torch
        (seconds after the app opens) a start waits for it."""
        try:
            process = RunProcess(self.request)
        except Exception as exc:  # no process could start: the run fails with the reason
            self._end(Outcome(setup_failure(exc), None, self.request.graph), told=False)
            self.gone = True
            return
        with self._lock:
            self._process = process
            controls, self._waiting = self._waiting or [], None
        for message in controls:
            process.send(message)
        while (message := process.receive()) is not None:
            kind = message[0]
            if kind == "update":
                self.relay.put_update(message[1])
            elif kind == "outcome":
                self._end(message[1], told=True)
            elif kind == "refreshed":
                self.refreshes_done += message[1]
        process.join(5.0)
        if self.outcome is None:  # the process died without a word: a crash, or killed
            self._end(crashed(self.request, process.exit_code), told=False)
        self.gone = True

    def _end(self, outcome: Outcome, told: bool) -> None:
        if not told:  # the run could not say it: the window learns it as the run's last event
            self.relay.put(outcome.final)
        self.outcome = outcome
        self.reported.set()


class TrainingWorker(QObject):
    """Runs one training run at a time in its own process; see the module docstring."""

    updated = Signal(object)  # Update
    finished = Signal(object)  # Outcome

    def __init__(self, parent: QObject | None = None, interval_ms: int | None = None) -> None:
        """``interval_ms``: how often the window takes the run's news; None: at the run's pace."""
        super().__init__(parent)
        self._interval_ms = interval_ms
        self.relay = Relay()
        self._link: _RunLink | None = None
        self._wants = ViewWants()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms or UPDATE_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)
        self._closed = False
        self.updates_sent = 0

    # --- state ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A run is going: started and not yet reported how it ended."""
        return self._link is not None and not self._link.reported.is_set()

    @property
    def process_id(self) -> int | None:
        """The current or last run's process (None before the first run, or while it starts)."""
        return self._link.pid if self._link is not None else None

    # --- control (GUI thread) ---------------------------------------------------------------

    def start(self, request: RunRequest) -> None:
        if self._closed:
            raise RuntimeError("This worker was closed.")
        if self.running:
            raise RuntimeError("A training run is already going; stop it first.")
        self._let_go()  # the last run's process, kept for its views
        link = _RunLink(dataclasses.replace(request, threads=request.threads or default_threads()))
        link.send(("wants", self._wants))
        self._link, self.relay = link, link.relay
        self._timer.setInterval(self._interval_ms or round(1000 * update_interval(link.request.threads)))
        self._timer.start()
        threading.Thread(target=link.receive, name="nnstudio-run-receiver", daemon=True).start()

    def pause(self) -> None:
        self._send(("pause",))

    def resume(self) -> None:
        self._send(("resume",))

    def stop(self) -> None:
        """End the run after the current step; the trainer writes a checkpoint first."""
        if self.running:
            self._send(("stop",))

    def close(self) -> None:
        """No more work: a run stops (``wait`` for it to report) and its process goes."""
        self._closed = True
        self._let_go()

    def wait(self, seconds: float) -> bool:
        """Block until the run has reported how it ended (True) or ``seconds`` passed (False)."""
        return self._link is None or self._link.reported.wait(max(0.001, seconds))

    def set_wants(self, wants: ViewWants) -> None:
        """What the views show now; the run computes them from its next report on."""
        changed = wants != self._wants
        self._wants = wants
        self._send(("wants", wants))
        if changed:
            self.refresh_views()

    def refresh_views(self) -> None:
        """Recompute the visible views now: between two steps while a run goes on (or is
        paused); from the trained model once it is over."""
        link = self._link
        if self._closed or link is None:
            return
        if not self.running:  # the timer brings the answer, then rests
            link.refreshes_asked += 1
            self._timer.start()
        link.send(("refresh",))

    def _send(self, message: tuple) -> None:
        if self._link is not None:
            self._link.send(message)

    def _let_go(self) -> None:
        """The run's process exits (after stopping the run, if one goes on)."""
        self._send(("exit",))

    # --- on the GUI thread, at the run's pace while there is news to wait for -------------------

    def _drain(self) -> None:
        link = self._link
        outcome = link.outcome if link is not None else None  # read first: its last update is in
        update: Update | None = self.relay.take()
        if update is not None:
            self.updates_sent += 1
            self.updated.emit(update)
        if link is None:
            self._timer.stop()
            return
        if outcome is not None and not link.delivered:
            link.delivered = True
            self.finished.emit(outcome)
        if link.delivered and (link.gone or link.refreshes_done >= link.refreshes_asked):
            self._timer.stop()
