"""The sweep driver: asks Optuna for trials and runs each in its own process.

The runner is one thread and one loop. It keeps up to ``jobs`` trial processes
running (``python -m nnstudio.experiments.trial``); a reader thread per process
turns its report lines into queue items, and the loop alone talks to Optuna:
it reports each epoch's metric, asks the pruner, and tells the study how each
trial ended. So a trial that crashes, runs out of memory or is killed ends as
one FAILED trial while the others go on, and a value that makes the graph
invalid fails its trial with the graph's diagnostic before any process starts.

``stop()`` (Ctrl-C, or the GUI's Stop) asks the running trials to stop, marks
them failed as "stopped by the user" and keeps every finished trial; a second
``stop()`` kills them at once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from nnstudio.core.graph import GraphModel
from nnstudio.experiments import variants
from nnstudio.experiments.space import Axis
from nnstudio.experiments.storage import HEARTBEAT, require_optuna
from nnstudio.experiments.study import SweepSettings, distributions

TRIAL_MODULE = "nnstudio.experiments.trial"
STOP_GRACE = 10.0  # seconds a trial asked to stop may take before it is killed
_LOG_TAIL = 600  # characters of a crashed trial's log kept as its reason

# User attributes the sweep writes on trials (the GUI reads them back).
ATTR_REASON = "reason"  # why it failed or was pruned, in words
ATTR_HISTORY = "history"  # per-epoch figures, as metrics.csv has them
ATTR_SECONDS = "seconds"
ATTR_STEPS = "steps_per_epoch"
ATTR_WORKER = "worker"  # host:pid of the sweep that ran it
ATTR_FOLDER = "folder"  # its variant, spec and log
ATTR_INTERRUPTED = "interrupted"  # stopped by the user: a resume runs another in its place


# --- what the runner reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrialStarted:
    number: int
    values: dict[str, Any]


@dataclass(frozen=True)
class TrialEpoch:
    number: int
    epoch: int
    value: float


@dataclass(frozen=True)
class TrialEnded:
    number: int
    state: str  # "COMPLETE", "PRUNED" or "FAIL"
    value: float | None
    values: dict[str, Any]
    seconds: float
    reason: str = ""


@dataclass(frozen=True)
class SweepNotice:
    message: str


SweepEvent = TrialStarted | TrialEpoch | TrialEnded | SweepNotice


@dataclass
class SweepOutcome:
    """What ``run`` did: trials this run ended, by state, and whether it was stopped."""

    ended: dict[str, int] = field(default_factory=lambda: {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0})
    interrupted: bool = False
    nothing_to_do: bool = False


# --- one running trial ---------------------------------------------------------------------------------


@dataclass
class _Running:
    trial: Any
    process: subprocess.Popen
    slot: int
    folder: Path
    started: float
    history: list[dict[str, Any]] = field(default_factory=list)
    last_value: float | None = None
    told: bool = False  # the study knows how it ended; later lines are ignored
    stopping_since: float | None = None

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.trial.params)


class SweepRunner:
    """Runs trials of ``study`` until it holds ``settings.trials`` of them. See the module."""

    def __init__(
        self,
        study: Any,
        graph: GraphModel,
        axes: Sequence[Axis],
        settings: SweepSettings,
        folder: Path,
        *,
        base_dir: Path,
        listener: Callable[[SweepEvent], None] | None = None,
    ) -> None:
        self.study = study
        self.graph = graph
        self.axes = list(axes)
        self.settings = settings
        self.folder = Path(folder)
        self.base_dir = Path(base_dir)
        self.listener = listener or (lambda event: None)
        self._distributions = distributions(self.axes)
        self._lines: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._running: dict[int, _Running] = {}
        self._stop_requests = 0
        self._worker = f"{socket.gethostname()}:{os.getpid()}"
        self._gpus = visible_gpus()
        self._threads = max(1, _cores() // settings.jobs)
        self._last_beat = 0.0
        self._grid_done = False
        self.outcome = SweepOutcome()

    # --- control ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop starting trials and stop the running ones; safe from a signal handler."""
        self._stop_requests += 1
        self._lines.put((-1, None))  # wake the loop

    @property
    def stopping(self) -> bool:
        return self._stop_requests > 0

    # --- the loop -----------------------------------------------------------------------------------

    def run(self) -> SweepOutcome:
        fail_orphans(self.study)
        if self._wanted() <= 0:
            self.outcome.nothing_to_do = True
            return self.outcome
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            while True:
                while not self.stopping and len(self._running) < self.settings.jobs and self._wanted() > 0:
                    self._launch()
                if not self._running:
                    break
                self._pump()
                self._beat()
                if self.stopping:
                    self._stop_all()
        finally:
            for run in list(self._running.values()):  # only after an unexpected error
                _kill(run.process)
        self.outcome.interrupted = self.stopping
        return self.outcome

    def _wanted(self) -> int:
        """Trials still to start so that the study holds ``settings.trials``."""
        optuna = require_optuna()
        held = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.state == optuna.trial.TrialState.WAITING:
                continue
            if t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get(ATTR_INTERRUPTED):
                continue  # stopped by the user: a resume runs it again
            held += 1
        wanted = self.settings.trials - held
        sampler = self.study.sampler
        if wanted > 0 and hasattr(sampler, "all_started") and sampler.all_started(self.study):
            if not self._grid_done:
                self._grid_done = True
                self.listener(SweepNotice("Every point of the grid has a trial; no more to start."))
            return 0
        return wanted

    # --- starting a trial ----------------------------------------------------------------------------

    def _launch(self) -> None:
        with warnings.catch_warnings():  # "heartbeats are meant for optimize()": we beat ourselves
            warnings.simplefilter("ignore", UserWarning)
            trial = self.study.ask(self._distributions)
        trial.set_user_attr(ATTR_WORKER, self._worker)
        values = dict(trial.params)
        self.listener(TrialStarted(trial.number, values))
        try:
            variant = variants.apply(self.graph, self.axes, values)
            problems = variants.problems(variant)
        except variants.VariantError as exc:
            problems = [str(exc)]
        if problems:
            self._fail_at_once(trial, values, "The graph is invalid with these values: " + problems[0])
            return
        folder = self.folder / f"trial-{trial.number:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        variant.name = f"{self.graph.name} (trial {trial.number})"[:200]
        project_file = folder / "project.nnstudio"
        variant.save(project_file)
        spec = {
            "project": str(project_file.resolve()),
            "base_dir": str(self.base_dir.resolve()),
            "epochs": None if "epochs" in values else self.settings.epochs,
            "device": self.settings.device,
            "threads": self._threads,
        }
        spec_file = folder / "trial.json"
        spec_file.write_text(json.dumps(spec, indent=2), encoding="utf-8")
        trial.set_user_attr(ATTR_FOLDER, str(folder.resolve()))
        slot = min(set(range(self.settings.jobs)) - {r.slot for r in self._running.values()})
        with open(folder / "trial.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", TRIAL_MODULE, str(spec_file)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._environment(slot),
                # Its own session: the terminal's Ctrl-C reaches the sweep, which stops trials itself.
                start_new_session=True,
            )
        run = _Running(trial, process, slot, folder, time.monotonic())
        self._running[trial.number] = run
        threading.Thread(
            target=_read_lines,
            args=(trial.number, process.stdout, self._lines),
            name=f"trial-{trial.number}-reader",
            daemon=True,
        ).start()

    def _environment(self, slot: int) -> dict[str, str]:
        env = dict(os.environ)
        # One GPU per parallel trial when there are several; with one, trials share it.
        if len(self._gpus) > 1:
            env["CUDA_VISIBLE_DEVICES"] = self._gpus[slot % len(self._gpus)]
        env["OMP_NUM_THREADS"] = str(self._threads)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _fail_at_once(self, trial: Any, values: dict[str, Any], reason: str) -> None:
        optuna = require_optuna()
        trial.set_user_attr(ATTR_REASON, reason)
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.outcome.ended["FAIL"] += 1
        self.listener(TrialEnded(trial.number, "FAIL", None, values, 0.0, reason))

    # --- reports from trials ---------------------------------------------------------------------------

    def _pump(self) -> None:
        """Handle what the trials said in the last moment (waits up to 0.2 s for the first)."""
        try:
            item = self._lines.get(timeout=0.2)
        except queue.Empty:
            self._check_stopping()
            return
        while True:
            number, message = item
            run = self._running.get(number)
            if run is not None:
                if message is None:
                    self._ended(run)
                elif not run.told:
                    self._message(run, message)
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
        self._check_stopping()

    def _message(self, run: _Running, line: str) -> None:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            return
        event = message.get("event")
        if event == "epoch":
            run.history.append({k: v for k, v in message.items() if k != "event"})
            value = message.get(self.settings.metric)
            if value is None or not math.isfinite(value):
                why = (
                    "this task has no classes, so there is no accuracy: sweep it with --metric val_loss"
                    if self.settings.metric == "val_acc"
                    else "the validation loss is not a number"
                )
                self._finish(run, "FAIL", reason=f"Epoch {message.get('epoch')}: {why}.")
                self._ask_to_stop(run)
                return
            run.last_value = float(value)
            epoch = int(message["epoch"])
            run.trial.report(run.last_value, epoch)
            self.listener(TrialEpoch(run.trial.number, epoch, run.last_value))
            if run.trial.should_prune():
                self._finish(run, "PRUNED", reason=f"Pruned after epoch {epoch}.")
                self._ask_to_stop(run)
        elif event == "finished":
            if run.last_value is None:
                self._finish(run, "FAIL", reason="The trial trained no epoch.")
            else:
                self._finish(run, "COMPLETE")
        elif event == "failed":
            self._finish(run, "FAIL", reason=str(message.get("message", "The trial failed.")))

    def _ended(self, run: _Running) -> None:
        """The trial's process closed its output: it ended, one way or another."""
        try:
            code = run.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            _kill(run.process)
            code = run.process.wait()
        if not run.told:
            if self.stopping:
                self._finish(run, "FAIL", reason="Stopped by the user.", interrupted=True)
            else:
                self._finish(run, "FAIL", reason=_crash_reason(code, run.folder / "trial.log"))
        del self._running[run.trial.number]
        if run.process.stdin is not None:
            with contextlib.suppress(OSError):
                run.process.stdin.close()

    def _finish(self, run: _Running, state: str, *, reason: str = "", interrupted: bool = False) -> None:
        optuna = require_optuna()
        seconds = time.monotonic() - run.started
        trial = run.trial
        trial.set_user_attr(ATTR_HISTORY, run.history)
        trial.set_user_attr(ATTR_SECONDS, round(seconds, 3))
        if reason:
            trial.set_user_attr(ATTR_REASON, reason)
        if interrupted:
            trial.set_user_attr(ATTR_INTERRUPTED, True)
        if state == "COMPLETE":
            self.study.tell(trial, run.last_value)
        else:
            self.study.tell(trial, state=getattr(optuna.trial.TrialState, state))
        run.told = True
        self.outcome.ended[state] += 1
        value = run.last_value if state != "FAIL" else None
        self.listener(TrialEnded(trial.number, state, value, run.values, seconds, reason))

    # --- stopping ----------------------------------------------------------------------------------------

    def _ask_to_stop(self, run: _Running) -> None:
        """Close the trial's standard input: it stops after its current step."""
        if run.stopping_since is None:
            run.stopping_since = time.monotonic()
            try:
                if run.process.stdin is not None:
                    run.process.stdin.close()
            except OSError:
                pass

    def _check_stopping(self) -> None:
        now = time.monotonic()
        for run in self._running.values():
            if run.stopping_since is not None and now - run.stopping_since > STOP_GRACE:
                _kill(run.process)

    def _stop_all(self) -> None:
        for run in self._running.values():
            self._ask_to_stop(run)
            if self._stop_requests > 1:  # asked twice: do not wait for anyone
                _kill(run.process)

    def _beat(self) -> None:
        """RDB storages: tell other workers that our running trials are alive."""
        now = time.monotonic()
        if now - self._last_beat < HEARTBEAT / 2:
            return
        self._last_beat = now
        storage = self.study._storage
        if getattr(storage, "heartbeat_interval", None):
            for run in self._running.values():
                if not run.told:
                    storage.record_heartbeat(run.trial._trial_id)


# --- helpers ------------------------------------------------------------------------------------------


def fail_orphans(study: Any) -> list[int]:
    """Mark failed the running trials whose worker is gone: on a server, those whose
    heartbeat stopped; on this machine, those whose worker process has ended.
    Returns their numbers."""
    optuna = require_optuna()
    if getattr(study._storage, "heartbeat_interval", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    host = socket.gethostname()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker_host, _, pid = str(t.user_attrs.get(ATTR_WORKER, "")).rpartition(":")
        if worker_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        storage = study._storage
        try:
            storage.set_trial_user_attr(t._trial_id, ATTR_REASON, "Its sweep process ended while it ran.")
            storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
            failed.append(t.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker got there first
    return failed


def visible_gpus() -> list[str]:
    """The GPU ids trials may be pinned to, without importing torch."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (ended, not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _read_lines(number: int, stream: IO[bytes], lines: queue.SimpleQueue) -> None:
    try:
        for raw in stream:
            lines.put((number, raw.decode("utf-8", "replace")))
    except (OSError, ValueError):
        pass
    lines.put((number, None))


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.kill()


def _crash_reason(code: int, log: Path) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = f"The trial's process was killed ({name})"
        if -code == signal.SIGKILL:
            why += "; the system may have run out of memory"
    else:
        why = f"The trial's process ended with exit status {code} without reporting a result"
    try:
        tail = log.read_text(encoding="utf-8", errors="replace").strip()[-_LOG_TAIL:]
    except OSError:
        tail = ""
    last = tail.splitlines()[-1] if tail else ""
    return f"{why}." + (f" Its log ends: {last}" if last else f" See {log}.")
