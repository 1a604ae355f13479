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

import contextlib
import dataclasses
import os
import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from nnstudio.training.payloads import ViewWants
from nnstudio.training.relay import Relay, Update
from nnstudio.training.run_process import Outcome, RunProcess, RunRequest, crashed
from nnstudio.training.threads import usable_cores

__all__ = ["Outcome", "RunRequest", "TrainingWorker", "default_threads"]

# At most ten updates a second reach the GUI: smooth enough for a progress bar, and every
# millisecond the GUI thread spends on them is taken from training (which uses every core).
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


class TrainingWorker(QObject):
    """Runs one training run at a time in its own process; see the module docstring."""

    updated = Signal(object)  # Update
    finished = Signal(object)  # Outcome
    _ended = Signal(object)  # from the receiving thread: the run's Outcome
    _refreshed = Signal()  # from the receiving thread: a refresh's payloads wait in the relay

    def __init__(self, parent: QObject | None = None, interval_ms: int = UPDATE_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.relay = Relay()
        self._process: RunProcess | None = None
        self._receiver: threading.Thread | None = None
        self._reported = threading.Event()  # the current run has sent its outcome (or gone)
        self._reported.set()
        self._wants = ViewWants()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)
        self._closed = False
        self._ended.connect(self._on_ended)
        self._refreshed.connect(self._drain)
        self.updates_sent = 0

    # --- state ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A run is going: started and not yet reported how it ended."""
        return not self._reported.is_set()

    @property
    def process_id(self) -> int | None:
        """The current or last run's process (None before the first run or once it was let go)."""
        return self._process.pid if self._process is not None else None

    # --- control (GUI thread) ---------------------------------------------------------------

    def start(self, request: RunRequest) -> None:
        if self._closed:
            raise RuntimeError("This worker was closed.")
        if self.running:
            raise RuntimeError("A training run is already going; stop it first.")
        self._let_go()  # the last run's process, kept for its views
        self.relay = Relay()
        self._reported.clear()
        self._process = RunProcess(dataclasses.replace(request, threads=request.threads or default_threads()))
        self._process.send(("wants", self._wants))
        self._receiver = threading.Thread(
            target=self._receive,
            args=(self._process, self.relay, request),
            name="nnstudio-run-receiver",
            daemon=True,
        )
        self._timer.start()
        self._receiver.start()

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
        return self._reported.wait(max(0.001, seconds))

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
        if not self._closed:
            self._send(("refresh",))

    def _send(self, message: tuple) -> None:
        if self._process is not None:
            self._process.send(message)

    def _let_go(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None

    # --- the receiving thread ----------------------------------------------------------------

    def _receive(self, process: RunProcess, relay: Relay, request: RunRequest) -> None:
        """Merge what the run reports into ``relay`` until its process ends."""
        outcome = None
        while (message := process.receive()) is not None:
            kind = message[0]
            if kind == "update":
                relay.put_update(message[1])
            elif kind == "outcome":
                outcome = message[1]
                self._report(outcome)
            elif kind == "refreshed":
                self._signal(self._refreshed)
        process.join(5.0)
        if outcome is None:  # the process died without a word: a crash, or killed
            outcome = crashed(request, process.exit_code)
            relay.put(outcome.final)
            self._report(outcome)

    def _report(self, outcome: Outcome) -> None:
        self._reported.set()  # before the signal: its handler must find the run over
        self._signal(self._ended, outcome)

    @staticmethod
    def _signal(signal: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the window went meanwhile
            signal.emit(*args)

    # --- back on the GUI thread ------------------------------------------------------------------

    def _drain(self) -> None:
        update: Update | None = self.relay.take()
        if update is not None:
            self.updates_sent += 1
            self.updated.emit(update)

    def _on_ended(self, outcome: Outcome) -> None:
        self._timer.stop()
        self._drain()
        self.finished.emit(outcome)
