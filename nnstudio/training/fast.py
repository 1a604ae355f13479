"""Fast mode: the whole training step captured once as a CUDA graph and replayed.

Small networks on a big GPU are limited by kernel launches, not arithmetic:
LeNet-5's step is a few hundred tiny kernels, each costing the CPU several
microseconds to launch. Captured as one CUDA graph (forward, loss, backward
and the optimizer update), the step becomes a single launch.

What capture requires, and how this module provides it:

- Fixed addresses and shapes: the batch lives in static buffers that each
  step overwrites; the last partial batch of an epoch is dropped. With the
  data on the device the graph even gathers the batch itself from the whole
  data set through a static index buffer, so a step is one small copy and one
  replay.
- A warm-up: a few eager steps on a side stream first, so cuDNN/cuBLAS
  handles, lazily created optimizer state and autograd's buffers exist before
  capture. The same stream is used for warm-up and capture (library handles
  are cached per stream), and these are real training steps on real batches.
- Optimizers that keep their step count on the device (``capturable=True``;
  the trainer builds Adam, AdamW and RMSprop that way in fast mode).
- A learning rate baked into the captured kernels: when the schedule changes
  it, ``invalidate`` drops the graph and the next step captures a new one.

Anything that cannot be captured raises from ``step``; the trainer then falls
back to eager steps and says why.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]

WARMUP_STEPS = 3


class CudaGraphStep:
    """A training step (``step_fn(x, y) -> (loss, correct)``) replayed as a CUDA graph.

    With ``source_x``/``source_y`` (the whole data set on the device) call
    ``by_index(indices)``; otherwise call ``by_batch(x, y)``.
    """

    def __init__(
        self,
        step_fn: StepFn,
        source_x: torch.Tensor | None = None,
        source_y: torch.Tensor | None = None,
        reconstruct: bool = False,
    ) -> None:
        self.step_fn = step_fn
        self.source_x, self.source_y = source_x, source_y
        self.reconstruct = reconstruct
        self.stream = torch.cuda.Stream()
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed = 0
        self.captures = 0
        self._index: torch.Tensor | None = None
        self._x: torch.Tensor | None = None
        self._y: torch.Tensor | None = None
        self._outputs: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def invalidate(self) -> None:
        """Drop the graph (the learning rate changed); the next step captures anew."""
        self.graph = None
        self._outputs = None

    def by_index(self, index: torch.Tensor):
        """One step on the samples ``source[index]``."""
        if self.graph is None:
            if self.warmed < WARMUP_STEPS:
                return self._warm_up(*self._gather(index))
            self._index = index.clone()
            self._capture(lambda: self._gather(self._index))
        else:
            self._index.copy_(index)
        self.graph.replay()
        return self._outputs

    def by_batch(self, x: torch.Tensor, y: torch.Tensor):
        """One step on a batch that arrived from elsewhere (a DataLoader)."""
        if self.graph is None:
            if self.warmed < WARMUP_STEPS:
                return self._warm_up(x, y)
            self._x, self._y = x.clone(), y.clone()
            self._capture(lambda: (self._x, self._y))
        else:
            self._x.copy_(x, non_blocking=True)
            self._y.copy_(y, non_blocking=True)
        self.graph.replay()
        return self._outputs

    def _gather(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.source_x.index_select(0, index)
        return x, (x if self.reconstruct else self.source_y.index_select(0, index))

    def _warm_up(self, x: torch.Tensor, y: torch.Tensor):
        current = torch.cuda.current_stream()
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            outputs = self.step_fn(x, y)
        current.wait_stream(self.stream)
        self.warmed += 1
        return outputs

    def _capture(self, batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]) -> None:
        graph = torch.cuda.CUDAGraph()
        # thread_local: a DataLoader's pin-memory thread may allocate while we capture.
        with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
            # step_fn starts with zero_grad(set_to_none=True): the gradients are then
            # allocated inside the graph's memory pool and overwritten by each replay.
            self._outputs = self.step_fn(*batch())
        self.graph = graph
        self.captures += 1
