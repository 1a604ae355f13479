"""The training thread and its rate-limited line to the GUI.

``TrainingWorker`` lives on the GUI thread and owns a ``QThread`` that builds
the trainer (compiling the graph, reading the data, carrying weights over) and
runs it. The trainer's listener runs on that thread and only merges events
into a ``Relay``; a 100 ms timer on the GUI thread takes what has gathered and
emits it as one ``updated`` signal. So the event loop receives at most ten
compact payloads a second whatever the step rate, and no signal is ever
emitted per step (a flood of queued signals freezes the UI and has crashed
PySide6 at exit).

Controls (pause, resume, stop, what the views want) may be given at any time,
also before the trainer exists; they take effect between two steps. ``stop``
writes a checkpoint; ``wait`` blocks until the thread has ended, which
``closeEvent`` uses so no QThread is destroyed while running.

torch is imported on the training thread, never here at import time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from nnstudio.training.payloads import ViewWants
from nnstudio.training.relay import Relay, Update
from nnstudio.training.run_folder import (
    METRICS_FILE,
    MetricsWriter,
    export_trained,
    preprocessing_statistics,
)

if TYPE_CHECKING:
    from nnstudio.training.carry_over import WeightSnapshot
    from nnstudio.training.events import Failed, Finished

# At most ten updates a second reach the GUI: smooth enough for a progress bar, and every
# millisecond the GUI thread spends on them is taken from training (which uses every core).
UPDATE_INTERVAL_MS = 100
THREADS_ENV = "NNSTUDIO_TRAIN_THREADS"
TRAINING_NICE = 10  # Linux: how much the training threads yield to the GUI (0 is normal, 19 the least)


def default_threads() -> int:
    """torch's intra-op threads for a run in the app: every core, as ``nnstudio train``
    uses, so a run in the window is as fast as the same run on the command line.
    ``NNSTUDIO_TRAIN_THREADS`` overrides it (e.g. to keep a core free on a busy machine).

    Measured on two cores (benchmarks/gui_responsiveness.py, LeNet-5): with both cores
    the 10 ms timer's lateness stayed under p99 16 ms and the window trained at 0.97x the
    command line's speed (median of 14 pairs); leaving the GUI a core gave 0.60x. The
    training threads run at a lower priority (TRAINING_NICE), so the GUI thread still wins."""
    wanted = os.environ.get(THREADS_ENV, "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class RunRequest:
    """Everything the training thread needs; copies, so later edits cannot reach it."""

    graph: dict[str, Any]  # GraphModel.to_dict()
    settings: dict[str, Any]  # the training settings
    run_dir: Path  # checkpoints go here
    base_dir: Path | None = None  # the project's folder: relative data paths start there
    resume_from: Path | None = None  # a checkpoint to continue exactly
    weights: WeightSnapshot | None = None  # trained weights to carry over to an edited graph
    threads: int | None = None  # torch intra-op threads; None: default_threads()


@dataclass(frozen=True)
class Outcome:
    """How a run ended, and what the next one can start from."""

    final: Finished | Failed
    weights: WeightSnapshot | None  # per-node weights after the run (None after NaN or a setup failure)
    graph: dict[str, Any]  # the graph the run trained
    inspection_seconds: float = 0.0  # spent computing the views on the training thread
    run_dir: Path | None = None  # the run folder, as `nnstudio train` leaves it (None: none was made)
    written: tuple[Path, ...] = ()  # the trained model exported there: model.py, weights, predict.py
    export_problem: str | None = None  # why the trained model was not exported, if it was not
    preprocessing: dict[str, Any] | None = None  # per Input node id: its statistics (run_folder)


class _Thread(QThread):
    def __init__(self, job, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = job
        self.outcome: Outcome | None = None

    def run(self) -> None:
        self.outcome = self._job()


class TrainingWorker(QObject):
    """Runs one training run at a time off the GUI thread; see the module docstring."""

    updated = Signal(object)  # Update
    finished = Signal(object)  # Outcome
    _refreshed = Signal()  # from a view-refresh thread: its payloads wait in the relay

    def __init__(self, parent: QObject | None = None, interval_ms: int = UPDATE_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.relay = Relay()
        self._lock = threading.Lock()
        self._thread: _Thread | None = None
        self._trainer: Any = None  # nnstudio.training.loop.Trainer once built
        self._inspector: Any = None
        self._stop_asked = False
        self._pause_asked = False
        self._wants = ViewWants()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)
        self._refresh_thread: threading.Thread | None = None
        self._refresh_again = False
        # A views pass is under way until its _refreshed is handled here (is_alive() stays true a
        # moment after the thread signals, and a pass asked for in that moment was lost).
        self._refreshing = False
        self._closed = False
        self._refreshed.connect(self._on_refreshed)
        self.updates_sent = 0

    # --- state ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @property
    def trainer(self) -> Any:
        """The trainer of the current or last run (None before the first one is built)."""
        return self._trainer

    # --- control (GUI thread) ---------------------------------------------------------------

    def start(self, request: RunRequest) -> None:
        if self._closed:
            raise RuntimeError("This worker was closed.")
        if self.running:
            raise RuntimeError("A training run is already going; stop it first.")
        with self._lock:
            self._trainer = self._inspector = None
            self._stop_asked = self._pause_asked = False
        self.relay = Relay()
        # No Qt parent: the thread object lives exactly as long as this worker refers to it
        # (the previous run's, long finished, goes now), never deleted under a running thread
        # by a parent's destructor; closeEvent waits for the run to end first.
        self._thread = _Thread(lambda: self._job(request))
        self._thread.finished.connect(self._on_thread_finished)
        self._timer.start()
        self._thread.start()

    def pause(self) -> None:
        with self._lock:
            self._pause_asked = True
            if self._trainer is not None:
                self._trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._pause_asked = False
            if self._trainer is not None:
                self._trainer.resume()

    def close(self) -> None:
        """No more work: stop a run (``wait`` for it) and start no more view refreshes."""
        self._closed = True
        self.stop()

    def stop(self) -> None:
        """End the run after the current step; the trainer writes a checkpoint first."""
        with self._lock:
            self._stop_asked = True
            if self._trainer is not None and self.running:
                self._trainer.stop()

    def wait(self, seconds: float) -> bool:
        """Block until the training thread (and a view refresh) has ended (True) or
        ``seconds`` passed (False)."""
        began = time.perf_counter()
        if self._thread is not None and not self._thread.wait(max(1, int(seconds * 1000))):
            return False
        if self._refresh_thread is not None:
            self._refresh_thread.join(max(0.0, seconds - (time.perf_counter() - began)))
            return not self._refresh_thread.is_alive()
        return True

    def set_wants(self, wants: ViewWants) -> None:
        """What the views show now; read by the training thread at its next report."""
        changed = wants != self._wants
        self._wants = wants  # one reference swap: atomic for the reading thread
        if changed:
            self.refresh_views()

    def refresh_views(self) -> None:
        """Recompute the visible views now: between two steps while a run goes on (or is
        paused); on a short-lived thread once the run is over.

        Never on the GUI thread: besides blocking the window, torch work on a long-lived
        thread leaves OpenMP workers behind that slow every later run down (measured:
        LeNet-5 epochs 0.41 s, then 0.69 s, then 0.98 s), while a thread that ends takes
        its workers with it."""
        inspector, trainer = self._inspector, self._trainer
        if inspector is None or trainer is None or self._closed:
            return
        # Queued only while the run takes requests (checked and queued under the trainer's
        # lock): a run that ends meanwhile serves it on its own thread, never on this one.
        if self.running and trainer.submit_if_running(lambda _model: inspector.refresh(force=True)):
            return
        if self._refreshing:
            self._refresh_again = True  # one more pass when this one is done
            return

        def refresh() -> None:
            try:
                inspector.refresh(force=True)
            finally:
                with contextlib.suppress(RuntimeError):  # the window went meanwhile
                    self._refreshed.emit()

        self._refresh_thread = threading.Thread(target=refresh, name="nnstudio-views", daemon=True)
        self._refreshing = True
        self._refresh_thread.start()

    def _on_refreshed(self) -> None:
        self._refreshing = False
        self._drain()
        if self._refresh_again:
            self._refresh_again = False
            self.refresh_views()

    # --- the training thread -------------------------------------------------------------------

    def _job(self, request: RunRequest) -> Outcome:
        try:
            return self._train(request)
        except Exception as exc:  # a setup problem ends the run with its sentence; the app goes on
            with contextlib.suppress(OSError):
                request.run_dir.rmdir()  # a new run's folder, still empty: nothing to show
            final = _setup_failure(exc)
            self.relay.put(final)
            return Outcome(final, None, request.graph)

    def _train(self, request: RunRequest) -> Outcome:
        # Imported here, on the training thread: the window never waits for torch.
        import torch

        from nnstudio.training.events import Failed

        _lower_priority()  # before torch starts its compute threads: they inherit it
        torch.set_num_threads(request.threads or default_threads())
        trainer, graph = self._build(request)
        from nnstudio.gui.training.inspections import LiveInspector

        inspector = LiveInspector(trainer, self.relay, lambda: self._wants)
        with self._lock:
            self._trainer, self._inspector = trainer, inspector
            if self._pause_asked:
                trainer.pause()
            if self._stop_asked:
                trainer.stop()

        metrics = MetricsWriter(request.run_dir / METRICS_FILE)

        def listener(event: Any) -> None:
            self.relay.put(event)
            inspector.on_event(event)
            metrics(event)

        final = trainer.run(listener)
        weights = None
        if not (isinstance(final, Failed) and final.kind in ("nan", "out_of_memory")):
            from nnstudio.training.carry_over import snapshot

            weights = snapshot(graph, trainer.model)
        outcome = Outcome(final, weights, request.graph, inspector.seconds_spent, run_dir=request.run_dir)
        if isinstance(final, Failed):
            return outcome  # the folder keeps the last good checkpoint and the metrics so far
        # As `nnstudio train` does, here on the training thread: the window never waits for it.
        exported = export_trained(
            graph, trainer.model, request.run_dir, trained_on=trainer.data.trained_on(trainer.loss_name)
        )
        return dataclasses.replace(
            outcome,
            written=exported.written,
            export_problem=exported.problem,
            preprocessing=preprocessing_statistics(graph, trainer.model.state_dict()),
        )

    def _build(self, request: RunRequest) -> tuple[Any, Any]:
        import torch

        from nnstudio.api import Graph
        from nnstudio.compiler.codegen import compile_graph
        from nnstudio.training.carry_over import carry_over
        from nnstudio.training.config import TrainConfig
        from nnstudio.training.loop import Trainer

        graph = Graph.from_dict(request.graph, training=request.settings)
        config = TrainConfig.from_settings(request.settings)
        model = None
        if request.weights is not None and request.resume_from is None:
            torch.manual_seed(config.seed)  # layers that start fresh start as a first run would
            model = compile_graph(graph)
            self.relay.put_carried(carry_over(request.weights, graph, model).describe())
        trainer = Trainer.for_graph(
            graph,
            config,
            checkpoint_dir=request.run_dir,
            base_dir=request.base_dir,
            resume_from=request.resume_from,
            model=model,
        )
        return trainer, graph

    # --- back on the GUI thread ------------------------------------------------------------------

    def _drain(self) -> None:
        update: Update | None = self.relay.take()
        if update is not None:
            self.updates_sent += 1
            self.updated.emit(update)

    def _on_thread_finished(self) -> None:
        thread = self._thread
        self._timer.stop()
        self._drain()
        if thread is not None and thread.outcome is not None:
            self.finished.emit(thread.outcome)


def _lower_priority() -> None:
    """Let the GUI thread win every contest for a core: training runs at a lower priority.

    With every core busy training, the event loop otherwise waits for a time slice and
    the window stutters. A lower priority costs training nothing while the GUI is idle.
    On Linux a thread's nice value is its own and threads it starts inherit it (torch's
    OpenMP workers are started by the first parallel op on this thread); elsewhere Qt's
    thread priority does the same job."""
    thread = QThread.currentThread()
    if thread is not None:
        thread.setPriority(QThread.Priority.LowPriority)
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICE)


def _setup_failure(exc: BaseException) -> Failed:
    from nnstudio.core.errors import GraphError
    from nnstudio.training.errors import TrainingError
    from nnstudio.training.events import Failed, History

    if isinstance(exc, TrainingError | GraphError):
        message = str(exc)
    else:
        message = f"Training could not start: {type(exc).__name__}: {exc}"
    return Failed(message, "setup", 0, None, History())
