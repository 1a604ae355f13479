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

An epoch costs a fixed part (validation, reports, events, epoch set-up) plus a
part per step. A short epoch (the LSTM's is ~40 ms on two cores) is dominated
by the fixed part, so one epoch length cannot tell the two apart and its ratio
swings from run to run. Each variant therefore runs at two epoch lengths
(``--samples`` and four times as many, the data repeated when the set is
smaller) and the line through the two gives the steady-state **ms per step**
and the **fixed ms per epoch** separately. The spread of the repeats at the
longer length is printed too: runs agree when it is within 3%.

Limits: trainer/bare per step <= 1.05 everywhere; on an H100-class GPU,
bare/fast >= 3 for LeNet-5 and the LSTM.

    python benchmarks/train_overhead.py [--device auto] [--epochs 4] [--repeats 3]
                                        [--samples N] [--batch-size N] [--models lenet5,...]
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
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
        wanted = samples or len(x)
        if wanted > len(x):  # repeat the set to reach the epoch length asked for
            copies = math.ceil(wanted / len(x))
            x, y = x.repeat(copies, *([1] * (x.dim() - 1))), y.repeat(copies, *([1] * (y.dim() - 1)))
        n = wanted // bs * bs
        self.data = TrainingData(
            name=data.name,
            train=TensorDataset(x[:n], y[:n]),
            val=data.val,
            task=data.task,
            sample_shape=data.sample_shape,
            target_shape=data.target_shape,
            num_classes=data.num_classes,
            class_names=data.class_names,
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


def steady_epoch(runs: list[list[float]]) -> float:
    """Seconds per epoch once warm: each run's median epoch (its first left out), best run."""
    return min(statistics.median(epochs[1:]) for epochs in runs)


def spread(runs: list[list[float]]) -> float:
    """How far apart the repeats are: (slowest - fastest) / fastest of their median epochs."""
    medians = [statistics.median(epochs[1:]) for epochs in runs]
    return (max(medians) - min(medians)) / min(medians)


def split_cost(short: float, long: float, steps_short: int, steps_long: int) -> tuple[float, float]:
    """(seconds per step, fixed seconds per epoch) from epochs of two lengths."""
    per_step = (long - short) / (steps_long - steps_short)
    return per_step, short - steps_short * per_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is not timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--samples",
        type=int,
        help="training samples of the shorter epoch; the longer has 4x (default: 1024 on "
        "the CPU, the whole set on a GPU)",
    )
    parser.add_argument("--batch-size", type=int, help="default: each example's own")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")

    device = resolve_device(args.device)
    variants: dict[str, Callable[[Case], list[float]]] = {
        "bare": lambda case: bare_loop(case, device),
        "trainer": lambda case: trainer_run(case, device),
    }
    if device.type == "cuda":
        variants["compile"] = lambda case: trainer_run(case, device, compile=True)
        variants["fast"] = lambda case: trainer_run(case, device, fast=True)

    print(
        f"device: {describe(device)}; torch {torch.__version__}; {args.epochs} epochs per run "
        f"(first not timed), best of {args.repeats}; each at two epoch lengths"
    )
    header = f"{'model':<16}{'samples':>8}{'batch':>6}" + "".join(
        f"{v + ' ms/step':>17}{v + ' fixed ms':>17}" for v in variants
    )
    header += f"{'trainer/bare':>14}{'fixed +ms':>11}{'spread':>8}"
    if device.type == "cuda":
        header += f"{'bare/compile':>14}{'bare/fast':>11}"
    print(header)
    worst = 0.0
    worst_spread = 0.0
    for name in args.models.split(","):
        probe = Case(name, None, args.batch_size, args.epochs)
        short_n = args.samples or (1024 if device.type == "cpu" else len(probe.data.train))
        cases = [Case(name, n, args.batch_size, args.epochs) for n in (short_n, 4 * short_n)]
        steps = [math.ceil(len(c.data.train) / c.config.batch_size) for c in cases]
        runs = {(v, k): [] for v in variants for k in range(2)}
        for case in cases:  # warm-up: caches, cuDNN autotuning, lazy init
            for fn in variants.values():
                sync(device)
                fn(case)
        for _ in range(args.repeats):
            for k, case in enumerate(cases):
                for variant, fn in variants.items():
                    sync(device)
                    runs[variant, k].append(fn(case))
        cost = {v: split_cost(steady_epoch(runs[v, 0]), steady_epoch(runs[v, 1]), *steps) for v in variants}
        ratio = cost["trainer"][0] / cost["bare"][0]
        extra_fixed = cost["trainer"][1] - cost["bare"][1]
        agree = max(spread(runs[v, 1]) for v in variants)
        worst, worst_spread = max(worst, ratio), max(worst_spread, agree)
        line = f"{name:<16}{len(cases[1].data.train):>8}{cases[1].config.batch_size:>6}"
        line += "".join(f"{1000 * cost[v][0]:>17.3f}{1000 * cost[v][1]:>17.1f}" for v in variants)
        line += f"{ratio:>14.3f}{1000 * extra_fixed:>11.1f}{100 * agree:>7.1f}%"
        if device.type == "cuda":
            line += f"{cost['bare'][0] / cost['compile'][0]:>14.2f}{cost['bare'][0] / cost['fast'][0]:>11.2f}"
        print(line, flush=True)
    verdict = "ok" if worst <= OVERHEAD_LIMIT else "OVER THE LIMIT"
    print(f"worst trainer/bare per step: {worst:.3f} (limit {OVERHEAD_LIMIT}): {verdict}")
    print(
        f"largest spread of repeats (longer epochs): {100 * worst_spread:.1f}% "
        f"({'within' if worst_spread <= 0.03 else 'over'} 3%)"
    )
    if device.type == "cuda":
        print(f"target on an H100-class GPU: bare/fast >= {FAST_TARGET} for lenet5 and lstm_sequence")


if __name__ == "__main__":
    main()
