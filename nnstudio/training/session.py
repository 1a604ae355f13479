"""The state of one training run: data on the device, the step function, buffers, timers.

A ``Session`` is what ``Trainer.run`` sets up and drops at its end. It is given what
it works with (model, optimizer, objective, data, config, device, where the run
starts) and never reaches back into the trainer; it gives back the epoch's layout
(``bounds``, ``steps_per_epoch``, ``total_steps``), the steps themselves
(``step_by_index``, ``step_by_batch``), the steps' results kept for the next
report (``record``, ``read_back``) and the sums and timers the trainer's reports keep.
Setup notices are collected in ``notices``; what happens mid-run (a failed
capture, torch.compile giving up) goes to the ``notify`` callback at once.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from nnstudio.training import recipe
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import TrainingData
from nnstudio.training.events import History
from nnstudio.training.fast import CudaGraphStep
from nnstudio.training.objective import Objective

_ON_DEVICE_LIMIT = 1 << 30  # bytes of data kept on a GPU whole; more goes through a DataLoader
_PROBE_SAMPLES = 256  # validation samples the layer statistics are computed on

StepResult = tuple[torch.Tensor, torch.Tensor | None]  # the step's loss and correct count, on the device


class Session:
    """One run's state. See the module docstring for what goes in and what comes out."""

    def __init__(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        objective: Objective,
        data: TrainingData,
        config: TrainConfig,
        device: torch.device,
        fast: bool,
        batch_norm: bool,
        step: int,
        epoch_step: int,
        history: History,
        notify: Callable[[str], None],
    ) -> None:
        """``fast``: capture the step as a CUDA graph; ``step`` and ``epoch_step``: where the
        run starts (steps done in all, and in the epoch in progress); ``history`` holds the
        points of an interrupted epoch's first steps."""
        self.model, self.optimizer, self.objective = model, optimizer, objective
        self.data, self.config, self.device = data, config, device
        self._notify = notify
        self.notices: list[str] = []  # said once the run has started
        self.n_train = len(data.train)
        bs = config.batch_size
        if fast and self.n_train < bs:
            self.notices.append(
                f"Fast mode needs at least one full batch; {self.n_train} samples are fewer than the "
                f"batch size {bs}, so training uses ordinary steps."
            )
            fast = False
        self.bounds: list[tuple[int, int]] = recipe.batch_bounds(self.n_train, bs, batch_norm=batch_norm)
        if fast:  # a captured graph replays one batch shape: full batches only
            self.bounds = [(a, b) for a, b in self.bounds if b - a == bs]
        self.steps_per_epoch = len(self.bounds)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.start_step = step
        # The epoch being trained and the step within it it starts at: set by begin_epoch,
        # read by the DataLoader's batch sampler.
        self.epoch = 0
        self.resume_at = epoch_step
        self.on_device = data.in_memory and (device.type == "cpu" or _nbytes(data) <= _ON_DEVICE_LIMIT)
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.loader: DataLoader | None = None
        if self.on_device:
            x, y = data.train.tensors
            self.x = x.to(device)
            # Reconstruction targets: the inputs as the model's preprocessing scales them.
            self.y = (
                recipe.input_targets(model, self.x)
                if objective.reconstruct
                else objective.targets(y.to(device))
            )
        else:
            workers = config.workers if config.workers is not None else _auto_workers(self.n_train)
            self.loader = DataLoader(
                data.train,
                batch_sampler=_EpochBatches(self),
                num_workers=workers,
                pin_memory=device.type == "cuda",
                persistent_workers=workers > 0,
            )
        self.batch_sizes = np.asarray([b - a for a, b in self.bounds], dtype=np.float32)
        # The loss and correct count of each step since the last report, left on the device
        # as the steps returned them: no copy per step; a report stacks and reads them at once.
        self.pending_losses: list[torch.Tensor] = []
        self.pending_corrects: list[torch.Tensor] = []
        self.probe: torch.Tensor | None = _first_samples(data.val, _PROBE_SAMPLES).to(device)
        self.lr = 0.0
        self.train_model = model
        if config.compile and not fast:
            self.train_model = self._compiled()
        elif config.compile:
            self.notices.append(
                "torch.compile is skipped in fast mode: the CUDA graph already removes the overhead."
            )
        self.graph_step: CudaGraphStep | None = None
        if fast:
            self.graph_step = CudaGraphStep(
                self._eager_step,
                self.x if self.on_device else None,
                self.y if self.on_device else None,
                reconstruct=False,  # self.y holds the reconstruction targets
            )
        self.val_tensors: tuple[torch.Tensor, torch.Tensor] | None = (
            None  # in-memory validation, on the device
        )
        self.val_loader: DataLoader | None = None
        # The epoch's sums (host side, filled by the trainer's reports).
        self.epoch_start_step = 0
        self.epoch_started = 0.0
        self.reported = 0
        self.epoch_loss = 0.0
        self.epoch_correct = 0.0
        self.epoch_seen = 0
        # Timers.
        self.started = self.last_report_time = time.perf_counter()
        self.paused = 0.0
        self.next_report = self.started + config.report_every
        self.samples_since = 0
        if epoch_step:
            self._restore_partial_epoch(history, step, epoch_step)

    def _restore_partial_epoch(self, history: History, step: int, done: int) -> None:
        """A run resumed mid-epoch: the epoch's sums so far come from the history."""
        points = history.points
        part = points.steps > step - done
        sizes = self.batch_sizes[:done]
        right = (
            np.rint(points.accuracy[part].astype(np.float64) * sizes) if self.objective.has_accuracy else None
        )
        self.epoch_loss, self.epoch_correct, self.epoch_seen = recipe.epoch_sums(
            points.loss[part], right, sizes
        )
        self.reported = done

    def _compiled(self) -> nn.Module:
        try:
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            return torch.compile(self.model, mode=mode)
        except Exception as exc:  # e.g. no C++ compiler, unsupported Python
            self.notices.append(f"torch.compile is not available here ({_short(exc)}); training without it.")
            return self.model

    # -- per epoch --

    def begin_epoch(self, epoch: int, step: int, done: int) -> None:
        """0-based ``epoch`` starts (``done`` = 0) or continues after ``done`` of its steps;
        ``step`` is the number of steps done in all."""
        self.epoch, self.resume_at = epoch, done
        self.epoch_start_step = step - done
        self.epoch_started = time.perf_counter()
        if done == 0:
            self.reported, self.epoch_loss, self.epoch_correct, self.epoch_seen = 0, 0.0, 0.0, 0

    def epoch_batches(self, order: torch.Tensor) -> Iterator[torch.Tensor]:
        """In-memory data: the indices of each step of the epoch left, cut from ``order``."""
        for start, stop in self.bounds[self.resume_at :]:
            yield order[start:stop]

    def record(self, loss: torch.Tensor, correct: torch.Tensor | None) -> None:
        """Keep a step's results until the next report reads them back."""
        if self.graph_step is not None:
            # A replayed graph's outputs are overwritten by the next replay.
            loss = loss.clone()
            correct = None if correct is None else correct.clone()
        self.pending_losses.append(loss)
        if correct is not None:
            self.pending_corrects.append(correct)

    def read_back(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The kept steps' losses and correct counts (None without classes) on the host,
        in one read-back each; they are forgotten here."""
        losses = torch.stack(self.pending_losses).float().cpu().numpy()
        corrects = torch.stack(self.pending_corrects).float().cpu().numpy() if self.pending_corrects else None
        self.pending_losses, self.pending_corrects = [], []
        return losses, corrects

    def set_lr(self, lr: float) -> None:
        if lr == self.lr:
            return
        self.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.graph_step is not None:
            self.graph_step.invalidate()  # the old rate is baked into the captured kernels

    # -- steps --

    def autocast(self, eval_mode: bool = False) -> contextlib.AbstractContextManager:
        if self.config.precision == "bf16" and self.device.type == "cuda":
            # Graph capture needs autocast's weight cache off.
            return torch.autocast(
                "cuda", dtype=torch.bfloat16, cache_enabled=self.graph_step is None or eval_mode
            )
        return contextlib.nullcontext()

    def _eager_step(self, xb: torch.Tensor, yb: torch.Tensor) -> StepResult:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            out = recipe.first_output(self.train_model(xb))
            loss = self.objective.loss(out, yb)
        loss.backward()
        self.optimizer.step()
        # argmax and comparisons are not differentiable: counting needs no detached copy.
        return loss.detach(), self.objective.correct(out, yb)

    def step_by_index(self, index: torch.Tensor) -> StepResult:
        if self.graph_step is not None:
            try:
                return self.graph_step.by_index(index)
            except torch.OutOfMemoryError:
                raise
            except Exception as exc:
                self._leave_fast_mode(exc)
        xb = self.x.index_select(0, index)
        yb = self.y.index_select(0, index)
        return self._checked_step(xb, yb)

    def step_by_batch(self, xb: torch.Tensor, yb: torch.Tensor) -> StepResult:
        xb = xb.to(self.device, non_blocking=True)
        if self.objective.reconstruct:
            yb = recipe.input_targets(self.model, xb)
        else:
            yb = self.objective.targets(yb.to(self.device, non_blocking=True))
        if self.graph_step is not None:
            try:
                return self.graph_step.by_batch(xb, yb)
            except torch.OutOfMemoryError:
                raise
            except Exception as exc:
                self._leave_fast_mode(exc)
        return self._checked_step(xb, yb)

    def _checked_step(self, xb: torch.Tensor, yb: torch.Tensor) -> StepResult:
        if self.train_model is self.model:
            return self._eager_step(xb, yb)
        try:  # torch.compile compiles on first use; any failure there falls back to eager
            result = self._eager_step(xb, yb)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:
            self._notify(f"torch.compile failed ({_short(exc)}); training without it.")
            self.train_model = self.model
            return self._eager_step(xb, yb)
        return result

    def _leave_fast_mode(self, exc: Exception) -> None:
        self.graph_step = None
        with contextlib.suppress(Exception):
            torch.cuda.synchronize()
        self._notify(
            f"Fast mode could not capture the training step ({_short(exc)}); training continues with ordinary steps."
        )

    # -- validation --

    def val_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        val = self.data.val
        size = recipe.eval_batch_size(self.config.batch_size)
        device, objective = self.device, self.objective
        if self.on_device:
            if self.val_tensors is None:
                x, y = val.tensors
                x = x.to(device)
                y = (
                    recipe.input_targets(self.model, x)
                    if objective.reconstruct
                    else objective.targets(y.to(device))
                )
                self.val_tensors = (x, y)
            x, y = self.val_tensors
            for a in range(0, len(x), size):
                yield x[a : a + size], y[a : a + size]
            return
        if self.val_loader is None:  # made once: starting workers is slow
            workers = self.loader.num_workers
            self.val_loader = DataLoader(
                val,
                batch_size=size,
                num_workers=workers,
                pin_memory=device.type == "cuda",
                persistent_workers=workers > 0,
            )
        for xb, yb in self.val_loader:
            xb = xb.to(device, non_blocking=True)
            if objective.reconstruct:
                yield xb, recipe.input_targets(self.model, xb)
            else:
                yield xb, objective.targets(yb.to(device, non_blocking=True))

    def release(self) -> None:
        """Drop device memory held by this session (after out-of-memory)."""
        self.graph_step = None
        self.x = self.y = self.probe = None
        self.pending_losses, self.pending_corrects = [], []
        self.val_tensors = self.val_loader = None


class _EpochBatches:
    """The DataLoader's batch sampler: the recipe's order of the session's current epoch, cut
    by its bounds, from the step the epoch has reached (so a run stopped mid-epoch and run
    again continues the same epoch, and counts its steps right)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __len__(self) -> int:
        return len(self.session.bounds) - self.session.resume_at

    def __iter__(self) -> Iterator[list[int]]:
        s = self.session
        order = recipe.epoch_order(s.n_train, s.config.seed, s.epoch).tolist()
        for start, stop in s.bounds[s.resume_at :]:
            yield order[start:stop]


def _first_samples(dataset: Any, n: int) -> torch.Tensor:
    if hasattr(dataset, "tensors"):
        return dataset.tensors[0][:n]
    return torch.stack([dataset[i][0] for i in range(min(n, len(dataset)))])


def _nbytes(data: TrainingData) -> int:
    return sum(t.numel() * t.element_size() for part in (data.train, data.val) for t in part.tensors)


def _auto_workers(samples: int) -> int:
    # Starting worker processes costs about a second; only worth it for real folders.
    if samples < 2000:
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
