"""A training run of the app, in a process of its own.

A small network trains at Python's pace: each of its steps is mostly
interpreter work, and in one process every line of Python the window runs
(painting the boundary, the plots, the progress bar) holds the GIL the
training thread is waiting for. In a process of its own the run has its own
interpreter and trains as fast as ``nnstudio train``; a crash inside torch
ends that process, not the window and the user's unsaved edits.

``RunProcess`` is the window's side: it starts the run, sends it controls and
receives what it reports, one message at a time. ``serve`` is the run's side.
Messages are tuples pickled with the standard pickler (tensors by value, so a
message never depends on the process that sent it still being there):

    to the run:   ("pause",) ("resume",) ("stop",) ("wants", ViewWants) ("refresh",) ("exit",)
    from the run: ("update", relay.Update) ("outcome", Outcome)
                  ("refreshed", how many asks for a refresh one pass served)

After its outcome the run waits, keeping its trained model, and computes views
on request (a tab opened after training shows the final weights) until it is
told to exit or the window's end of the pipe closes: a run never outlives its
window. Processes fork from a server that has imported torch already
(``forkserver``), so pressing Train does not wait seconds for an import; where
there is no fork (Windows) they start fresh (``spawn``).

No Qt here: the window's worker (gui/training/worker.py) adds the signals.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnstudio.training.relay import Relay

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from nnstudio.training.carry_over import WeightSnapshot
    from nnstudio.training.events import Failed, Finished

# Seconds between two updates sent to the window. Each wakes the window, which repaints the
# progress and the X server, and a run on every core pays for each: it gets four a second, enough
# for a progress bar; a run that leaves the window a core gets ten (the live decision boundary).
FLUSH_S = 0.1
BUSY_FLUSH_S = 0.25
TRAINING_NICE = 10  # how much a run on every core yields to the window (0 is normal, 19 the least)
# What every run imports (torch's compiler stack through the optimizers, scikit-learn's data
# sets): imported once in the process server, a run starts training in a fraction of a second
# instead of after four seconds of imports.
_PRELOAD = [
    "torch",
    "torch._dynamo",
    "sklearn.datasets",
    "nnstudio.api",
    "nnstudio.compiler.codegen",
    "nnstudio.training.carry_over",
    "nnstudio.training.inspections",
    "nnstudio.training.loop",
    "nnstudio.training.run_folder",
]


@dataclass(frozen=True)
class RunRequest:
    """Everything a run needs; copies, so later edits cannot reach it."""

    graph: dict[str, Any]  # GraphModel.to_dict()
    settings: dict[str, Any]  # the training settings
    run_dir: Path  # checkpoints go here
    base_dir: Path | None = None  # the project's folder: relative data paths start there
    resume_from: Path | None = None  # a checkpoint to continue exactly
    weights: WeightSnapshot | None = None  # trained weights to carry over to an edited graph
    threads: int | None = None  # torch intra-op threads; None: torch's default


@dataclass(frozen=True)
class Outcome:
    """How a run ended, and what the next one can start from."""

    final: Finished | Failed
    weights: WeightSnapshot | None  # per-node weights after the run (None after NaN or a setup failure)
    graph: dict[str, Any]  # the graph the run trained
    inspection_seconds: float = 0.0  # spent computing the views during training
    run_dir: Path | None = None  # the run folder, as `nnstudio train` leaves it (None: none was made)
    written: tuple[Path, ...] = ()  # the trained model exported there: model.py, weights, predict.py
    export_problem: str | None = None  # why the trained model was not exported, if it was not
    preprocessing: dict[str, Any] | None = None  # per Input node id: its statistics (run_folder)


# --- the window's side --------------------------------------------------------------------------


class RunProcess:
    """One run's process and the pipe to it. ``send`` from one thread, ``receive`` from
    another (the pipe's two directions are independent)."""

    def __init__(self, request: RunRequest) -> None:
        context = _context()
        self._conn, child_end = context.Pipe(duplex=True)
        self._process = context.Process(target=serve, args=(child_end,), name="nnstudio-run", daemon=True)
        self._process.start()
        child_end.close()  # ours is closed: when the run's end goes, receive() sees the end
        self._send_lock = threading.Lock()
        self.send(("request", request))

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        return self._process.exitcode

    def send(self, message: tuple) -> bool:
        """False when the run has gone (its end of the pipe is closed)."""
        return _write(self._conn, self._send_lock, message)

    def receive(self) -> tuple | None:
        """The run's next message; None once it has ended (or crashed)."""
        return _read(self._conn)

    def join(self, seconds: float | None = None) -> bool:
        self._process.join(seconds)
        return not self._process.is_alive()

    def close(self) -> None:
        """Tell the run to exit (it stops training first); it goes when it has."""
        self.send(("exit",))


def _write(conn: Connection, lock: threading.Lock, message: tuple) -> bool:
    """Send one message (see the module docstring); False when the other end has gone."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # the slow part, outside the lock
    with lock:
        try:
            conn.send_bytes(data)
        except (OSError, ValueError):
            return False
    return True


def _read(conn: Connection) -> tuple | None:
    """The next message; None once the other end has gone."""
    try:
        return pickle.loads(conn.recv_bytes())
    except (EOFError, OSError, ValueError):
        return None


def prestart() -> None:
    """Start the process server now (it imports torch: seconds), so the first Train is quick."""
    context = _context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


# --- the run's side --------------------------------------------------------------------------------


class _Outbox:
    """What the trainer's listener and the views report, merged as in the window (a Relay)
    and sent as one update every ``FLUSH_S`` or at once when the window must know now.

    One message per event cost a tiny network 2.4% of its speed in pickling and sending
    (mlp_circles ends an epoch every 8 ms); merged, it is ten messages a second."""

    def __init__(self, conn: Connection, interval: float = FLUSH_S) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.relay = Relay()
        self._interval = interval
        self._next = 0.0

    def put(self, event: Any) -> None:
        self.relay.put(event)

    def put_view(self, name: str, payload: Any) -> None:
        self.relay.put_view(name, payload)

    def put_carried(self, sentence: str) -> None:
        self.relay.put_carried(sentence)

    def flush(self, urgent: bool = True) -> None:
        """Send what has gathered: always when ``urgent``, else only once the interval has passed."""
        now = time.perf_counter()
        if not urgent and now < self._next:
            return
        self._next = now + self._interval
        update = self.relay.take()
        if update is not None:
            self.send(("update", update))

    def send(self, message: tuple) -> None:
        _write(self._conn, self._lock, message)  # False: the window went, and we stop soon


class _Run:
    """The run's state as its control thread sees it: controls given before the trainer
    exists are kept and applied once it does."""

    def __init__(self, outbox: _Outbox) -> None:
        from nnstudio.training.payloads import ViewWants

        self.outbox = outbox
        self.lock = threading.Lock()
        self.trainer: Any = None
        self.inspector: Any = None
        self.wants = ViewWants()
        self.pause_asked = self.stop_asked = False
        self.after_run: queue.Queue[str] = queue.Queue()  # "refresh" and "exit", once the run is over

    def control(self, message: tuple) -> None:
        kind = message[0]
        with self.lock:
            trainer = self.trainer
            if kind == "wants":
                self.wants = message[1]
            elif kind == "pause":
                self.pause_asked = True
            elif kind == "resume":
                self.pause_asked = False
            elif kind in ("stop", "exit"):
                self.stop_asked = True
        if kind == "pause" and trainer is not None:
            trainer.pause()
        elif kind == "resume" and trainer is not None:
            trainer.resume()
        elif kind in ("stop", "exit") and trainer is not None:
            trainer.stop()
        if kind == "exit":
            self.after_run.put("exit")
        elif kind == "refresh":
            inspector = self.inspector
            if inspector is None or trainer is None:
                return  # not built yet: the first reports bring the views asked for
            # Between two steps while the run goes on; after it, on the run's main thread.
            if not trainer.submit_if_running(lambda _model: self.refresh(inspector)):
                self.after_run.put("refresh")

    def refresh(self, inspector: Any) -> None:
        inspector.refresh(force=True)
        self.outbox.flush()


def serve(conn: Connection) -> None:
    """The run's process: train the request that comes first, then serve view refreshes."""
    first = _read(conn)  # ("request", RunRequest), always first
    if first is None:
        return  # the window went before it said what to train
    request = first[1]
    _lower_priority(request.threads)
    outbox = _Outbox(conn, update_interval(request.threads))
    run = _Run(outbox)

    def read_controls() -> None:
        while True:
            message = _read(conn) or ("exit",)  # None: the window went; stop, and go
            run.control(message)
            if message[0] == "exit":
                return

    threading.Thread(target=read_controls, name="nnstudio-run-controls", daemon=True).start()
    try:
        outcome = _train(request, outbox, run)
    except Exception as exc:  # a setup problem ends the run with its sentence; the window goes on
        with contextlib.suppress(OSError):
            request.run_dir.rmdir()  # a new run's folder, still empty: nothing to show
        final = setup_failure(exc)
        outbox.put(final)
        outcome = Outcome(final, None, request.graph)
    outbox.flush()
    outbox.send(("outcome", outcome))
    while run.after_run.get() != "exit":
        served = 1
        while not run.after_run.empty():  # several asks in a row: one pass serves them all
            if run.after_run.get() == "exit":
                return _exit()
            served += 1
        try:
            run.refresh(run.inspector)
        finally:  # answered even when a view failed, so the window stops waiting
            outbox.send(("refreshed", served))
    _exit()


def _exit() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is reported; torch's worker threads can hold up interpreter teardown.
    os._exit(0)


def _train(request: RunRequest, outbox: _Outbox, run: _Run) -> Outcome:
    import torch

    from nnstudio.training.events import EpochEnded, Failed, Progress
    from nnstudio.training.inspections import LiveInspector
    from nnstudio.training.run_folder import (
        METRICS_FILE,
        MetricsWriter,
        export_trained,
        preprocessing_statistics,
    )

    if request.threads:
        torch.set_num_threads(request.threads)
    trainer, graph = _build(request, outbox)
    inspector = LiveInspector(trainer, outbox, lambda: run.wants)
    with run.lock:
        run.trainer, run.inspector = trainer, inspector
        if run.pause_asked:
            trainer.pause()
        if run.stop_asked:
            trainer.stop()
    metrics = MetricsWriter(request.run_dir / METRICS_FILE)

    def listener(event: Any) -> None:
        outbox.put(event)
        inspector.on_event(event)
        metrics(event)
        outbox.flush(urgent=not isinstance(event, Progress | EpochEnded))

    final = trainer.run(listener)
    weights = None
    if not (isinstance(final, Failed) and final.kind in ("nan", "out_of_memory")):
        from nnstudio.training.carry_over import snapshot

        weights = snapshot(graph, trainer.model)
    outcome = Outcome(final, weights, request.graph, inspector.seconds_spent, run_dir=request.run_dir)
    if isinstance(final, Failed):
        return outcome  # the folder keeps the last good checkpoint and the metrics so far
    # As `nnstudio train` does, so the run folder holds the trained model ready to use.
    exported = export_trained(
        graph, trainer.model, request.run_dir, trained_on=trainer.data.trained_on(trainer.loss_name)
    )
    return dataclasses.replace(
        outcome,
        written=exported.written,
        export_problem=exported.problem,
        preprocessing=preprocessing_statistics(graph, trainer.model.state_dict()),
    )


def _build(request: RunRequest, outbox: _Outbox) -> tuple[Any, Any]:
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
        outbox.put_carried(carry_over(request.weights, graph, model).describe())
    trainer = Trainer.for_graph(
        graph,
        config,
        checkpoint_dir=request.run_dir,
        base_dir=request.base_dir,
        resume_from=request.resume_from,
        model=model,
    )
    return trainer, graph


def on_every_core(threads: int | None) -> bool:
    """Does a run with this many torch threads leave the window no core of its own?"""
    from nnstudio.training.threads import usable_cores

    return (threads or 0) >= usable_cores()


def update_interval(threads: int | None) -> float:
    """Seconds between two updates of a run with this many threads (see ``BUSY_FLUSH_S``)."""
    return BUSY_FLUSH_S if on_every_core(threads) else FLUSH_S


def _lower_priority(threads: int | None) -> None:
    """A run on every core lets the window win each contest for one: its event loop would
    otherwise wait for a time slice and stutter. A run that leaves a core free keeps the
    normal priority: the window has a core anyway, and a lower priority only let the
    scheduler stop training whenever the window and the X server ran at once (mlp_circles
    on one of two cores trained at 0.93x the command line's speed at nice 10, 0.99x at 0;
    benchmarks/gui_responsiveness.py). Threads started later (torch's) inherit it."""
    if hasattr(os, "nice") and on_every_core(threads):
        with contextlib.suppress(OSError):
            os.nice(TRAINING_NICE)


def setup_failure(exc: BaseException) -> Failed:
    from nnstudio.core.errors import GraphError
    from nnstudio.training.errors import TrainingError
    from nnstudio.training.events import Failed, History

    if isinstance(exc, TrainingError | GraphError):
        message = str(exc)
    else:
        message = f"Training could not start: {type(exc).__name__}: {exc}"
    return Failed(message, "setup", 0, None, History())


def crashed(request: RunRequest, exit_code: int | None) -> Outcome:
    """The outcome of a run whose process ended without reporting one."""
    from nnstudio.training.events import Failed, History

    if exit_code is None or exit_code == 0:
        how = "without saying how the run went"
    else:
        how = f"with exit code {exit_code}" if exit_code > 0 else f"by signal {-exit_code}"
    message = (
        f"The training process ended unexpectedly ({how}). Your project is untouched, and the "
        "metrics and checkpoints written so far stay in the run folder. If memory ran out, try "
        "a smaller batch size."
    )
    return Outcome(Failed(message, "error", 0, None, History()), None, request.graph, run_dir=request.run_dir)
