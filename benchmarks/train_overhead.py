"""What nnstudio's trainer costs over a bare PyTorch loop, and what fast mode gains.

For the LeNet-5, GoogLeNet-style and LSTM examples, in one run on one device:

- **bare**: a hand-written loop on the same device-resident data: shuffle,
  ``index_select`` a batch, forward, loss, backward, optimizer step; then a
  validation pass with a single read-back per epoch.
- **trainer**: ``Trainer.run`` with everything on: per-step loss and accuracy
  buffers, reports every 50 ms, events to a listener, validation per epoch.

On a CUDA device it also times the trainer with ``torch.compile``
(reduce-overhead) and in fast mode (the whole step replayed as one CUDA graph).

Every variant trains the same number of epochs from the same initial weights
on the same samples (a multiple of the batch size, so fast mode drops
nothing); the first epoch (allocator, cuDNN, compile and capture warm-up) is
left out of the timings. Variants alternate and the best of ``--repeats`` is
kept, which matters on a shared machine.

Limits: trainer/bare <= 1.05 everywhere; on an H100-class GPU, bare/fast >= 3
for LeNet-5 and the LSTM.

    python benchmarks/train_overhead.py [--device auto] [--epochs 3] [--repeats 3]
                                        [--samples N] [--batch-size N] [--models lenet5,...]
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from nnstudio.api import Graph
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import ModelIO, TrainingData, load_for_graph, resolve_loss
from nnstudio.training.devices import describe, resolve_device
from nnstudio.training.loop import Trainer

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
MODELS = ("lenet5", "googlenet_mini", "lstm_sequence")
OVERHEAD_LIMIT = 1.05
FAST_TARGET = 3.0  # for lenet5 and lstm_sequence on an H100-class GPU


class Case:
    """One example: its graph, data cut to ``samples``, and a fixed initial model."""

    def __init__(self, name: str, samples: int | None, batch_size: int | None, epochs: int) -> None:
        self.name = name
        self.graph = Graph.load(EXAMPLES / f"{name}.nnstudio")
        config = TrainConfig.from_settings(self.graph.training)
        self.config = config.with_overrides(epochs=epochs, batch_size=batch_size, report_every=0.05)
        data = load_for_graph(self.graph, self.config)
        bs = self.config.batch_size
        x, y = data.train.tensors
        n = min(len(x), samples or len(x)) // bs * bs
        self.data = TrainingData(
            name=data.name, train=TensorDataset(x[:n], y[:n]), val=data.val, task=data.task,
            sample_shape=data.sample_shape, target_shape=data.target_shape,
            num_classes=data.num_classes, class_names=data.class_names,
        )
        self.io = ModelIO.of(self.graph)
        self.loss = resolve_loss(self.config.loss, self.data, self.io)
        torch.manual_seed(0)
        self.initial = self.graph.compile()

    def model(self) -> torch.nn.Module:
        return copy.deepcopy(self.initial)


def bare_loop(case: Case, device: torch.device) -> list[float]:
    """Seconds per epoch of a plain PyTorch loop doing the same work."""
    config = case.config
    model = case.model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x, y = (t.to(device) for t in case.data.train.tensors)
    xv, yv = (t.to(device) for t in case.data.val.tensors)
    generator = torch.Generator(device=device).manual_seed(0)
    bs, n = config.batch_size, len(x)
    seconds = []
    for _ in range(config.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n, device=device, generator=generator)
        for i in range(math.ceil(n / bs)):
            index = order[i * bs : (i + 1) * bs]
            xb, yb = x.index_select(0, index), y.index_select(0, index)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        total = torch.zeros((), device=device)
        right = torch.zeros((), device=device)
        with torch.no_grad():
            for a in range(0, len(xv), 1024):
                out = model(xv[a : a + 1024])
                total += F.cross_entropy(out, yv[a : a + 1024], reduction="sum")
                right += (out.argmax(dim=1) == yv[a : a + 1024]).sum()
        torch.stack([total, right]).tolist()  # the one read-back, as the trainer does
        seconds.append(time.perf_counter() - start)
    return seconds


def trainer_run(case: Case, device: torch.device, **changes) -> list[float]:
    """Seconds per epoch of the full trainer, events going to a listener."""
    config = case.config.with_overrides(device=str(device), **changes)
    trainer = Trainer(case.model(), case.data, config, output_shape=case.io.output_shape, loss=case.loss)
    received = []
    result = trainer.run(received.append)
    if not hasattr(result, "stopped"):
        raise RuntimeError(f"{case.name}: {result.message}")
    notices = [e.message for e in received if type(e).__name__ == "Notice"]
    if notices:
        print(f"  note ({case.name}, {changes or 'eager'}): {'; '.join(notices)}")
    return [r.seconds for r in result.history.epochs]


def best_steady(runs: list[list[float]]) -> float:
    """The fastest run's time without its first epoch."""
    return min(sum(epochs[1:]) for epochs in runs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first is not timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, help="training samples (default: 1024 on the CPU, all on a GPU)")
    parser.add_argument("--batch-size", type=int, help="default: each example's own")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()

    device = resolve_device(args.device)
    samples = args.samples or (1024 if device.type == "cpu" else None)
    variants: dict[str, Callable[[Case], list[float]]] = {
        "bare": lambda case: bare_loop(case, device),
        "trainer": lambda case: trainer_run(case, device),
    }
    if device.type == "cuda":
        variants["compile"] = lambda case: trainer_run(case, device, compile=True)
        variants["fast"] = lambda case: trainer_run(case, device, fast=True)

    print(f"device: {describe(device)}; torch {torch.__version__}; {args.epochs} epochs per run "
          f"(first not timed), best of {args.repeats}")
    header = f"{'model':<16}{'samples':>8}{'batch':>6}" + "".join(f"{v + ' s':>11}" for v in variants)
    header += f"{'trainer/bare':>14}"
    if device.type == "cuda":
        header += f"{'bare/compile':>14}{'bare/fast':>11}"
    print(header)
    worst = 0.0
    for name in args.models.split(","):
        case = Case(name, samples, args.batch_size, args.epochs)
        runs: dict[str, list[list[float]]] = {v: [] for v in variants}
        for fn in variants.values():  # warm-up: caches, cuDNN autotuning, lazy init
            sync(device)
            fn(case)
        for _ in range(args.repeats):
            for variant, fn in variants.items():
                sync(device)
                runs[variant].append(fn(case))
        t = {v: best_steady(r) for v, r in runs.items()}
        ratio = t["trainer"] / t["bare"]
        worst = max(worst, ratio)
        line = f"{name:<16}{len(case.data.train):>8}{case.config.batch_size:>6}"
        line += "".join(f"{t[v]:>11.3f}" for v in variants) + f"{ratio:>14.3f}"
        if device.type == "cuda":
            line += f"{t['bare'] / t['compile']:>14.2f}{t['bare'] / t['fast']:>11.2f}"
        print(line)
    verdict = "ok" if worst <= OVERHEAD_LIMIT else "OVER THE LIMIT"
    print(f"worst trainer/bare: {worst:.3f} (limit {OVERHEAD_LIMIT}): {verdict}")
    if device.type == "cuda":
        print(f"target on an H100-class GPU: bare/fast >= {FAST_TARGET} for lenet5 and lstm_sequence")


if __name__ == "__main__":
    main()
