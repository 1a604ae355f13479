"""The trainer: a model, its data and a config in; a stream of small events out.

``Trainer.run(listener)`` trains on the calling thread and reports through
``listener`` (see events.py): the CLI's progress bar and the GUI's worker
thread are both thin listeners. ``stop``, ``pause``, ``resume``, ``submit``
and ``request_layer_stats`` may be called from any other thread; they take
effect between two steps.

The hot loop is kept lean, because small networks are limited by per-step
overhead rather than arithmetic:

- In-memory data sits on the device whole and is shuffled there; a batch is
  one ``index_select``. No DataLoader, no host copies.
- Each step's loss and correct count stay on the device as the step returned
  them; they are stacked and read back only when reporting (every
  ``report_every`` seconds and at each epoch's end), never once per step.
- Pause, stop and requests from other threads raise one flag that the loop
  checks between steps.

What one run sets up (data on the device, the step function, buffers, timers)
is a ``Session`` (session.py); the optimizer, the learning-rate schedule, the
order of samples and the evaluation pass are the recipe's (recipe.py), the
same code the exported train.py runs.

Checkpoints are written at the end of an epoch, but not within
``CHECKPOINT_SECONDS`` of the previous one: a run of 40 ms epochs would
otherwise spend more time saving (serialising, fsync) than training. The last
epoch and a stop always write one, so at most a few seconds of training are
ever behind the file.

Faults end the run with a ``Failed`` event that says what to do (NaN loss,
out of memory, a layer that fails, unreadable data); the process goes on and
the last good checkpoint stays where it is.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from nnstudio.training import checkpoint, faults, recipe
from nnstudio.training import probes as inspection
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import ModelIO, TrainingData, load_for_graph, resolve_loss
from nnstudio.training.devices import describe, resolve_device
from nnstudio.training.errors import TrainingError
from nnstudio.training.events import (
    CheckpointWritten,
    EpochEnded,
    EpochRecord,
    Event,
    Failed,
    Finished,
    History,
    LayerStatsReady,
    Notice,
    PauseChanged,
    Progress,
    RunStarted,
    Smoother,
    StepPoints,
)
from nnstudio.training.objective import Objective
from nnstudio.training.session import Session

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]
CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_SECONDS = 2.0  # the least time between two epoch checkpoints (the last epoch's always)


class Trainer:
    """Trains one model on one data set as ``config`` says. See the module docstring."""

    def __init__(
        self,
        model: nn.Module,
        data: TrainingData,
        config: TrainConfig,
        *,
        output_shape: tuple[int, ...] | None = None,
        loss: str | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        """``loss`` is the concrete loss; without it, cross-entropy for classes and MSE
        otherwise (``for_graph`` resolves it against the graph's Output). Epoch checkpoints
        are at least ``checkpoint_seconds`` apart (0: one after every epoch)."""
        self.config = config
        self.data = data
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        if loss is None:
            loss = (
                config.loss
                if config.loss != "auto"
                else ("cross_entropy" if data.task == "classification" else "mse")
            )
        self.loss_name = loss
        self.objective = Objective(loss, data, output_shape or ())
        self.checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
        self.last_checkpoint: Path | None = None
        self.checkpoint_seconds = checkpoint_seconds
        self._checkpoint_due = 0.0  # perf_counter time from which an epoch's end writes one
        self.graph_record: dict[str, Any] | None = None  # saved into checkpoints
        self.history = History()
        self.epochs_done = 0
        self.step = 0
        self._epoch_step = 0  # steps done in the epoch in progress
        self._smoother = Smoother()
        self._rng_state: dict[str, Any] | None = None  # from a checkpoint, applied when run starts
        self._notices: list[str] = []
        self._fast_wanted = config.fast and self.device.type == "cuda"
        self._batch_norm = recipe.has_batch_norm(self.model)
        self.optimizer = _build_optimizer(self.model, config, capturable=self._fast_wanted)
        # Control from other threads: flags, and one "look up" event the loop checks per step.
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._wake = threading.Event()
        self._attention = threading.Event()
        self._requests: queue.SimpleQueue[tuple[Callable[[nn.Module], Any], Future]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._stats_every: int | None = None
        self._emit: Listener = _ignore
        self.graph_captures = 0  # fast mode: CUDA graphs captured in the last run (0: eager steps)

    # --- building -------------------------------------------------------------------------

    @classmethod
    def for_graph(
        cls,
        graph: GraphModel,
        config: TrainConfig | None = None,
        *,
        checkpoint_dir: str | Path | None = None,
        base_dir: Path | None = None,
        resume_from: str | Path | None = None,
        model: nn.Module | None = None,
    ) -> Trainer:
        """Compile ``graph``, load its data and build a trainer; raises GraphError,
        DataError, ConfigError or CheckpointError with a sentence when that fails.

        ``model`` replaces the freshly compiled module, e.g. one compiled from this
        graph that already carries weights from an earlier run. A fresh module's input
        preprocessing is fitted to the training data here; a module that carries weights,
        or continues a checkpoint, keeps the statistics it was trained with."""
        from nnstudio.compiler.codegen import compile_graph
        from nnstudio.core.validation import require_valid

        require_valid(graph)  # shapes are known from here on
        config = config or TrainConfig.from_settings(graph.training)
        faults.check_memory(graph, config, resolve_device(config.device))  # before allocating
        data = load_for_graph(graph, config, base_dir=base_dir)
        io = ModelIO.of(graph)
        fresh = model is None
        if model is None:
            torch.manual_seed(config.seed)  # the same seed, the same initial weights
            model = compile_graph(graph)
        if resume_from is None:
            # A fresh model's preprocessing is fitted; a model carrying an earlier run's weights
            # (Continue after an edit) keeps its statistics, except a Preprocess that starts
            # fresh (its Input changed): still at its initial values, it is fitted too.
            unfitted = [m for m in recipe.preprocessing_of(model) if fresh or _never_fitted(m)]
            if unfitted:
                sample = data.preprocessing_sample(config.seed)
                for module in unfitted:
                    recipe.fit_preprocessing(module, sample)
        trainer = cls(
            model,
            data,
            config,
            output_shape=io.output_shape,
            loss=resolve_loss(config.loss, data, io),
            checkpoint_dir=checkpoint_dir,
        )
        trainer.graph_record = graph.to_dict()
        if resume_from is not None:
            trainer.restore(resume_from)
        return trainer

    # --- control from any thread ----------------------------------------------------------------

    def stop(self) -> None:
        """Finish the current step, write a checkpoint and end the run."""
        self._stop.set()
        self._wake.set()
        self._attention.set()

    def pause(self) -> None:
        self._pause.set()
        self._attention.set()

    def resume(self) -> None:
        self._pause.clear()
        self._wake.set()
        self._attention.set()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    @property
    def running(self) -> bool:
        return self._running

    def submit(self, fn: Callable[[nn.Module], Any]) -> Future:
        """Run ``fn(model)`` between two steps on the training thread (at once, on the calling
        thread, when no run is going on); its result or exception arrives through the Future."""
        future = self.submit_if_running(fn)
        if future is None:
            future = Future()
            _fulfil(fn, self.model, future)
        return future

    def submit_if_running(self, fn: Callable[[nn.Module], Any]) -> Future | None:
        """Like ``submit`` while a run goes on; None, without calling ``fn``, when none does.

        Checking and queueing happen under one lock, and a run drains the queue on its own
        thread after it stops taking requests: ``fn`` never runs on the caller's thread (the
        GUI's), however a run's end and this call interleave."""
        future: Future = Future()
        with self._lock:
            if not self._running:
                return None
            self._requests.put((fn, future))
            self._attention.set()
            self._wake.set()
        return future

    def request_layer_stats(self, every: int | None) -> None:
        """Send ``LayerStatsReady`` every ``every`` steps (None or 0: stop sending)."""
        self._stats_every = every or None

    # --- checkpoints -----------------------------------------------------------------------------

    def restore(self, path: str | Path) -> None:
        """Continue from a checkpoint: weights, optimizer, progress, history and RNG state."""
        state = checkpoint.load(Path(path))
        try:
            self.model.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as exc:
            raise checkpoint.CheckpointError(
                f"{path} holds the weights of a different network, so it cannot be resumed here "
                f"({str(exc).splitlines()[0]})."
            ) from None
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError):
            self._notices.append(
                "The checkpoint's optimizer state does not fit this optimizer; it starts afresh."
            )
        self.history = History.from_state(state["history"])
        self.epochs_done, self.step = int(state["epoch"]), int(state["step"])
        self._epoch_step = int(state["epoch_step"])
        self._smoother = Smoother(value=float(state["smoother"][0]), count=int(state["smoother"][1]))
        self._rng_state = state.get("rng")
        saved = TrainConfig.from_settings(state.get("settings", {}))
        if self._epoch_step and saved.batch_size != self.config.batch_size:
            # The interrupted epoch cannot continue where it stopped: repeat it from its start.
            # (Its order of samples depends only on the seed and the epoch: recipe.epoch_order.)
            self.step -= self._epoch_step
            self.history.truncate(self.step)
            self._epoch_step = 0
        self.last_checkpoint = Path(path)

    def checkpoint_state(self, reason: str) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "settings": self.config.to_settings(),
            "epoch": self.epochs_done,
            "step": self.step,
            "epoch_step": self._epoch_step,
            "history": checkpoint.history_state(self.history),
            "smoother": [self._smoother.value, self._smoother.count],
            "rng": rng,
            "graph": self.graph_record,
            "reason": reason,
        }

    def _write_checkpoint(self, reason: str) -> None:
        if self.checkpoint_path is None:
            return
        self.last_checkpoint = checkpoint.save(self.checkpoint_state(reason), self.checkpoint_path)
        self._checkpoint_due = time.perf_counter() + self.checkpoint_seconds
        self._emit(CheckpointWritten(self.last_checkpoint, self.epochs_done, self.step, reason))

    # --- the run ----------------------------------------------------------------------------------

    def run(self, listener: Listener | None = None) -> Finished | Failed:
        """Train until the last epoch, a stop request or a fault; return the final event."""
        self._emit = listener or _ignore
        with self._lock:
            self._running = True
        started = time.perf_counter()
        self._checkpoint_due = started + self.checkpoint_seconds
        session: Session | None = None
        try:
            session = self._start()
            self._emit(
                RunStarted(
                    config=self.config,
                    device=describe(self.device),
                    data=str(self.data),
                    loss=self.loss_name,
                    steps_per_epoch=session.steps_per_epoch,
                    total_steps=session.total_steps,
                    start_epoch=self.epochs_done,
                    start_step=self.step,
                    history=self.history.copy(),
                    class_names=self.data.class_names,
                )
            )
            for message in self._notices:
                self._emit(Notice(message))
            self._notices.clear()
            while self.epochs_done < self.config.epochs:
                if not self._train_epoch(session):
                    break
                self._end_epoch(session)
            stopped = self.epochs_done < self.config.epochs
            if stopped:
                self._report(session)
                self._write_checkpoint("stop")
            result: Finished | Failed = Finished(
                self.history.copy(), stopped, self.last_checkpoint, time.perf_counter() - started
            )
        except Exception as exc:  # every fault becomes a Failed event; the process goes on
            result = self._failure(exc, session)
        finally:
            with self._lock:
                self._running = False
            self._stop.clear()  # honoured; the next run starts afresh
            self._serve_requests()
            if session is not None and session.graph_step is not None:
                self.graph_captures = session.graph_step.captures
        if isinstance(result, Failed) and result.kind == "out_of_memory" and self.device.type == "cuda":
            # The failed step's tensors went with the exception's frames; hand the cached
            # blocks back. No gc.collect() here: collection happens on the GUI thread only
            # (gui/collector.py), as a collection here can free Qt objects on this thread.
            torch.cuda.empty_cache()
        try:
            self._emit(result)
        except Exception:
            log.exception("A training listener failed on the final event")
        return result

    def _failure(self, exc: Exception, session: Session | None) -> Failed:
        # The step being taken when it failed (a NaN names its own, found in the read-back).
        step = getattr(exc, "step", self.step + 1)
        kind, message = faults.describe(exc, self.model, step, self.config.batch_size, self.device)
        if kind == "error":
            log.debug("Training failed", exc_info=exc)
        if session is not None:
            session.release()
        exc.__traceback__ = None  # its frames hold the failed step's tensors
        return Failed(message, kind, step, self.last_checkpoint, self.history.copy())

    def _start(self) -> Session:
        if self.epochs_done >= self.config.epochs:
            self._notices.append(
                f"All {self.config.epochs} epochs are already done; raise the number of epochs to train on."
            )
        if self._rng_state is None:
            torch.manual_seed(self.config.seed)  # dropout draws the same numbers in every run
        else:
            torch.set_rng_state(self._rng_state["torch"])
            if "cuda" in self._rng_state and self.device.type == "cuda":
                with contextlib.suppress(RuntimeError):
                    torch.cuda.set_rng_state(self._rng_state["cuda"], self.device)
        self._rng_state = None
        if self.config.fast and not self._fast_wanted:
            self._notices.append(
                f"Fast mode needs a CUDA GPU; training on the {self.device.type.upper()} with ordinary steps."
            )
        if self.config.precision == "bf16" and self.device.type != "cuda":
            self._notices.append("bf16 mixed precision is used on CUDA GPUs only; training in float32.")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
        session = Session(
            model=self.model,
            optimizer=self.optimizer,
            objective=self.objective,
            data=self.data,
            config=self.config,
            device=self.device,
            fast=self._fast_wanted,
            batch_norm=self._batch_norm,
            step=self.step,
            epoch_step=self._epoch_step,
            history=self.history,
            notify=self._notice,
        )
        self._notices += session.notices
        if self._pause.is_set() or self._stop.is_set():  # asked for before the run began
            self._attention.set()
        return session

    # --- one epoch ------------------------------------------------------------------------------

    def _train_epoch(self, s: Session) -> bool:
        """Train the rest of the current epoch; False when stopped."""
        epoch = self.epochs_done
        s.set_lr(recipe.lr_at(self.config.schedule, self.config.lr, epoch, self.config.epochs))
        s.begin_epoch(epoch, self.step, self._epoch_step)
        self.model.train()
        if s.on_device:
            order = recipe.epoch_order(s.n_train, self.config.seed, epoch).to(self.device)
            batches: Iterator[Any] = s.epoch_batches(order)
        else:
            batches = iter(s.loader)  # its batch sampler starts at the step the epoch is at
        for batch in batches:
            if self._attention.is_set() and not self._attend(s):
                return False
            if s.on_device:
                loss, correct = s.step_by_index(batch)
            else:
                loss, correct = s.step_by_batch(*batch)
            s.record(loss, correct)
            self._epoch_step += 1
            self.step += 1
            if self._stats_every and self.step % self._stats_every == 0:
                self._layer_stats(s)
            if time.perf_counter() >= s.next_report:
                self._report(s)
        return True

    def _end_epoch(self, s: Session) -> None:
        self._report(s)
        val_loss, val_acc = self._evaluate(s)
        if not math.isfinite(val_loss):
            # Weights that score inf or NaN are no result: fail like a NaN training loss,
            # before this epoch's checkpoint replaces the last good one.
            raise faults.NonFiniteLoss(self.step, self.epochs_done + 1, val_loss, s.lr, validation=True)
        self.epochs_done += 1
        record = EpochRecord(
            epoch=self.epochs_done,
            train_loss=s.epoch_loss / max(1, s.epoch_seen),
            train_acc=s.epoch_correct / s.epoch_seen
            if self.objective.has_accuracy and s.epoch_seen
            else math.nan,
            val_loss=val_loss,
            val_acc=val_acc,
            lr=s.lr,
            seconds=time.perf_counter() - s.epoch_started,
        )
        self.history.epochs.append(record)
        self._epoch_step = 0
        self._emit(EpochEnded(record, self.config.epochs))
        if self.epochs_done == self.config.epochs or time.perf_counter() >= self._checkpoint_due:
            self._write_checkpoint("epoch")

    def _evaluate(self, s: Session) -> tuple[float, float]:
        """Validation loss and accuracy (the recipe's pass), accumulated on the device, read once."""
        with inspection.evaluating(self.model), s.autocast(eval_mode=True):
            totals = recipe.evaluate(self.model, s.val_batches(), self.objective, self.device)
        return recipe.mean_metrics(totals.tolist(), self.objective.has_accuracy)

    # --- reporting --------------------------------------------------------------------------------

    def _report(self, s: Session) -> None:
        """Read back the steps since the last report, check them, send Progress."""
        first, last = s.reported, self._epoch_step
        now = time.perf_counter()
        if last > first:
            losses, correct = s.read_back()
            sizes = s.batch_sizes[first:last]
            bad = ~np.isfinite(losses)
            if bad.any():
                at = int(np.argmax(bad))
                raise faults.NonFiniteLoss(
                    s.epoch_start_step + first + at + 1, self.epochs_done + 1, float(losses[at]), s.lr
                )
            if correct is not None:
                accuracy = (correct / sizes).astype(np.float32)
            else:
                accuracy = np.full(last - first, np.nan, np.float32)
            loss_sum, right, seen = recipe.epoch_sums(losses, correct, sizes)
            s.epoch_loss += loss_sum
            s.epoch_correct += right
            s.epoch_seen += seen
            steps = np.arange(s.epoch_start_step + first + 1, s.epoch_start_step + last + 1, dtype=np.int64)
            points = StepPoints(steps, losses, self._smoother(losses), accuracy)
            self.history.add_points(points)
            s.reported = last
            s.samples_since += int(sizes.sum())
        else:
            points = StepPoints.empty()
        elapsed = now - s.started - s.paused
        window = now - s.last_report_time
        rate = s.samples_since / window if window > 0 else 0.0
        done = self.step - s.start_step
        left = s.total_steps - self.step
        eta = left * elapsed / done if done else math.nan
        self._emit(
            Progress(
                epoch=self.epochs_done + 1,
                epochs=self.config.epochs,
                step=self.step,
                total_steps=s.total_steps,
                points=points,
                lr=s.lr,
                samples_per_second=rate,
                elapsed=elapsed,
                eta=eta,
            )
        )
        s.last_report_time, s.samples_since = now, 0
        s.next_report = time.perf_counter() + self.config.report_every

    def _layer_stats(self, s: Session) -> None:
        stats = inspection.layer_statistics(self.model, s.probe)
        self._emit(LayerStatsReady(self.step, stats))

    # --- between steps ------------------------------------------------------------------------------

    def _attend(self, s: Session) -> bool:
        """Serve requests and honour pause; False when the run must stop."""
        self._attention.clear()
        self._serve_requests()
        if self._pause.is_set() and not self._stop.is_set():
            self._report(s)
            self._emit(PauseChanged(True, self.step))
            began = time.perf_counter()
            while self._pause.is_set() and not self._stop.is_set():
                self._wake.wait(0.1)
                self._wake.clear()
                self._serve_requests()
            s.paused += time.perf_counter() - began
            s.last_report_time = time.perf_counter()
            self._emit(PauseChanged(False, self.step))
        return not self._stop.is_set()

    def _notice(self, message: str) -> None:
        self._emit(Notice(message))

    def _serve_requests(self) -> None:
        while True:
            try:
                fn, future = self._requests.get_nowait()
            except queue.Empty:
                return
            _fulfil(fn, self.model, future)


# --- helpers ------------------------------------------------------------------------------------------


def _never_fitted(module: nn.Module) -> bool:
    shift, scale = getattr(module, "shift", None), getattr(module, "scale", None)
    if not isinstance(shift, torch.Tensor) or not isinstance(scale, torch.Tensor):
        return False
    return bool((shift == 0).all() and (scale == 1).all())


def _build_optimizer(model: nn.Module, config: TrainConfig, capturable: bool) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("The network has no trainable parameters, so there is nothing to train.")
    return recipe.make_optimizer(
        params, config.optimizer, config.lr, config.momentum, config.weight_decay, capturable=capturable
    )


def _fulfil(fn: Callable[[nn.Module], Any], model: nn.Module, future: Future) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn(model))
    except Exception as exc:
        future.set_exception(exc)


def _ignore(event: Event) -> None:
    pass
