"""What nnstudio's trainer costs over a bare PyTorch loop, and what fast mode gains.

For the LeNet-5, GoogLeNet-style and LSTM examples, in one run on one device:

- **bare**: a hand-written loop on the same device-resident data: shuffle,
  ``index_select`` a batch, forward, loss, backward, optimizer step; then a
  validation pass with a single read-back per epoch.
- **trainer**: ``Trainer.run`` with everything on, as ``nnstudio train`` and the
  app run it: per-step loss and accuracy, progress reports every 50 ms, events
  to a listener that keeps them, validation and a checkpoint folder.

On a CUDA device it also times the trainer with ``torch.compile``
(reduce-overhead) and in fast mode (the whole step replayed as one CUDA graph).

An epoch costs a fixed part (validation, reports, events, checkpoint, epoch
set-up) plus a part per step, so one epoch length cannot tell them apart: a
short epoch's ratio is mostly the fixed part's. Every variant therefore runs at
two epoch lengths (the longer four times the shorter) and the line through the
two, ``epoch = fixed + steps x per step``, gives the steady-state **ms per
step** and the **fixed ms per epoch** separately; trainer/bare is per step.

How it stays steady on a shared machine:

- Each run times the epochs after its first (the first holds set-up and
  allocator warm-up), from one epoch's end to the next, so a run is seconds of
  work; every variant is run once untimed first.
- Variants run in interleaved rounds (bare, trainer, trainer, bare, ...), each
  round giving one estimate per variant and one trainer/bare ratio; the median
  of the rounds is reported, so drift and a burst of other work hit both sides.
- Both sides use the same number of torch threads (``--threads``, default 1:
  on a loaded machine intra-op threads wait for each other and their times
  swing by 10x).
- Besides wall-clock time it measures the training thread's CPU time
  (``time.thread_time``), which other processes barely move. With one thread
  that is all the work a step does.

The spread printed is (largest - smallest) / median of the rounds' per-step
figures: within 3% the runs agree.

Limits: trainer/bare per step <= 1.05 everywhere; on an H100-class GPU,
bare/fast >= 3 for LeNet-5 and the LSTM.

    python benchmarks/train_overhead.py [--device auto] [--rounds 5] [--epochs 4]
                                        [--seconds 0.25] [--threads 1] [--models lenet5,...]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from nnstudio.api import Graph
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import ModelIO, load_for_graph, resolve_loss
from nnstudio.training.devices import describe, resolve_device
from nnstudio.training.events import EpochEnded
from nnstudio.training.loop import Trainer

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
MODELS = ("lenet5", "googlenet_mini", "lstm_sequence")
OVERHEAD_LIMIT = 1.05
AGREEMENT = 0.03  # rounds within 3% of each other
FAST_TARGET = 3.0  # for lenet5 and lstm_sequence on an H100-class GPU
LONGER = 4  # the longer epoch has this many times the steps of the shorter


class Case:
    """One example with epochs of ``steps`` full batches, ``val`` validation samples
    and a fixed initial model (the training set is repeated when it is too small)."""

    def __init__(self, name: str, steps: int, val: int, epochs: int) -> None:
        self.name = name
        self.graph = Graph.load(EXAMPLES / f"{name}.nnstudio")
        config = TrainConfig.from_settings(self.graph.training)
        self.config = config.with_overrides(epochs=epochs, report_every=0.05)
        data = load_for_graph(self.graph, self.config)
        self.steps = steps
        n = steps * self.config.batch_size
        x, y = data.train.tensors
        copies = math.ceil(n / len(x))
        x, y = (t.repeat(copies, *([1] * (t.dim() - 1)))[:n] for t in (x, y))
        xv, yv = (t[:val] for t in data.val.tensors)
        self.data = dataclasses.replace(data, train=TensorDataset(x, y), val=TensorDataset(xv, yv))
        self.io = ModelIO.of(self.graph)
        self.loss = resolve_loss(self.config.loss, self.data, self.io)
        torch.manual_seed(0)
        self.initial = self.graph.compile()

    def model(self) -> torch.nn.Module:
        return copy.deepcopy(self.initial)


class Clock:
    """Wall-clock and training-thread CPU seconds at each epoch's end."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def mark(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.wall.append(time.perf_counter())
        self.cpu.append(time.thread_time())

    def per_epoch(self) -> tuple[float, float]:
        """(wall, cpu) seconds per epoch, from the first epoch's end to the last's."""
        epochs = len(self.wall) - 1
        return (self.wall[-1] - self.wall[0]) / epochs, (self.cpu[-1] - self.cpu[0]) / epochs


def bare_loop(case: Case, device: torch.device) -> Clock:
    """A plain PyTorch loop doing the same work."""
    config, clock = case.config, Clock(device)
    model = case.model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    x, y = (t.to(device) for t in case.data.train.tensors)
    xv, yv = (t.to(device) for t in case.data.val.tensors)
    generator = torch.Generator(device=device).manual_seed(0)
    bs, n = config.batch_size, len(x)
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(n, device=device, generator=generator)
        for i in range(n // bs):
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
        clock.mark()
    return clock


def trainer_run(case: Case, device: torch.device, **changes) -> Clock:
    """The full trainer; a listener keeps every event, as the app's does."""
    config = case.config.with_overrides(device=str(device), **changes)
    clock = Clock(device)
    received = []

    def listener(event) -> None:
        received.append(event)
        if isinstance(event, EpochEnded):
            clock.mark()

    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            case.model(),
            case.data,
            config,
            output_shape=case.io.output_shape,
            loss=case.loss,
            checkpoint_dir=folder,
        )
        result = trainer.run(listener)
    if not hasattr(result, "stopped"):
        raise RuntimeError(f"{case.name}: {result.message}")
    notices = [e.message for e in received if type(e).__name__ == "Notice"]
    if notices:
        print(f"  note ({case.name}, {changes or 'eager'}): {'; '.join(notices)}")
    return clock


@dataclasses.dataclass
class Estimate:
    """One round's line through the two epoch lengths, for one variant."""

    step_wall: float  # seconds per step
    step_cpu: float
    fixed_wall: float  # seconds per epoch besides the steps
    fixed_cpu: float

    @classmethod
    def of(cls, short: Clock, long: Clock, steps_short: int, steps_long: int) -> Estimate:
        (ws, cs), (wl, cl) = short.per_epoch(), long.per_epoch()
        step_wall, step_cpu = (wl - ws) / (steps_long - steps_short), (cl - cs) / (steps_long - steps_short)
        return cls(step_wall, step_cpu, ws - steps_short * step_wall, cs - steps_short * step_cpu)


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> float:
    """(largest - smallest) / median."""
    middle = statistics.median(values)
    return (max(values) - min(values)) / abs(middle) if middle else math.inf


def calibrate(name: str, seconds: float, val: int, device: torch.device) -> int:
    """Steps of the shorter epoch: about ``seconds`` of the bare loop's training, at least 2."""
    probe = Case(name, 4, val, 2)
    bare_loop(probe, device)  # warm
    probe = Case(name, 4, 0, 3)  # no validation: steps alone
    clock = bare_loop(probe, device)
    per_step = clock.per_epoch()[0] / probe.steps
    return max(2, round(seconds / per_step))


def measure(
    name: str, args: argparse.Namespace, device: torch.device, variants: dict[str, Callable[..., Clock]]
) -> dict:
    steps = calibrate(name, args.seconds, args.val_samples, device)
    cases = [Case(name, s, args.val_samples, args.epochs) for s in (steps, LONGER * steps)]
    for case in cases:  # warm-up: caches, allocator, lazy init, cuDNN autotuning, compile
        for run in variants.values():
            run(case, device)
    rounds: dict[str, list[Estimate]] = {v: [] for v in variants}
    names = list(variants)
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]  # ABBA...: each side goes first as often
        clocks: dict[str, list[Clock]] = {v: [] for v in variants}
        for case in cases:
            for variant in order:
                gc.collect()  # both sides start from the same heap
                clocks[variant].append(variants[variant](case, device))
            order = order[::-1]
        for v in variants:
            rounds[v].append(Estimate.of(*clocks[v], cases[0].steps, cases[1].steps))
    return {"steps": steps, "batch": cases[0].config.batch_size, "rounds": rounds}


def report(name: str, m: dict, variants: list[str]) -> dict[str, float]:
    rounds: dict[str, list[Estimate]] = m["rounds"]
    steps, batch = m["steps"], m["batch"]
    print(
        f"\n{name}: batch {batch}, epochs of {steps} and {LONGER * steps} steps, {len(rounds['bare'])} rounds"
    )
    print(
        f"  {'':<14}{'ms/step wall':>13}{'cpu':>9}{'fixed ms/epoch wall':>21}{'cpu':>9}"
        f"{'spread/step wall':>18}{'cpu':>7}"
    )
    for v in variants:
        est = rounds[v]
        print(
            f"  {v:<14}{1000 * median([e.step_wall for e in est]):>13.3f}"
            f"{1000 * median([e.step_cpu for e in est]):>9.3f}"
            f"{1000 * median([e.fixed_wall for e in est]):>21.1f}"
            f"{1000 * median([e.fixed_cpu for e in est]):>9.1f}"
            f"{100 * spread([e.step_wall for e in est]):>17.1f}%"
            f"{100 * spread([e.step_cpu for e in est]):>6.1f}%"
        )
    out = {}
    pairs = list(zip(rounds["bare"], rounds["trainer"], strict=True))
    for kind in ("wall", "cpu"):
        ratios = [getattr(t, f"step_{kind}") / getattr(b, f"step_{kind}") for b, t in pairs]
        extra = [getattr(t, f"fixed_{kind}") - getattr(b, f"fixed_{kind}") for b, t in pairs]
        out[kind], out[f"{kind}_spread"] = median(ratios), spread(ratios)
        out[f"{kind}_fixed"] = median(extra)
    print(
        f"  {'trainer/bare':<14}{out['wall']:>13.3f}{out['cpu']:>9.3f}"
        f"{'+' + format(1000 * out['wall_fixed'], '.1f'):>21}{'+' + format(1000 * out['cpu_fixed'], '.1f'):>9}"
        f"{100 * out['wall_spread']:>17.1f}%{100 * out['cpu_spread']:>6.1f}%"
    )
    if "fast" in rounds:
        bare = median([e.step_wall for e in rounds["bare"]])
        for v in ("compile", "fast"):
            print(f"  bare/{v}: {bare / median([e.step_wall for e in rounds[v]]):.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--rounds", "--repeats", type=int, default=5, help="interleaved rounds; the median is kept"
    )
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is not timed")
    parser.add_argument(
        "--seconds", type=float, default=0.25, help="training time of the shorter epoch (sets its steps)"
    )
    parser.add_argument("--val-samples", type=int, default=256, help="validation samples per epoch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for every variant")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    variants: dict[str, Callable[..., Clock]] = {"bare": bare_loop, "trainer": trainer_run}
    if device.type == "cuda":
        variants["compile"] = lambda case, device: trainer_run(case, device, compile=True)
        variants["fast"] = lambda case, device: trainer_run(case, device, fast=True)
    load = os.getloadavg()[0]
    print(
        f"device: {describe(device)}; torch {torch.__version__}, {args.threads} thread(s); "
        f"{os.cpu_count()} cores, load average {load:.2f} at the start"
    )
    print(
        f"{args.epochs} epochs per run (the first not timed), {args.rounds} interleaved rounds, "
        f"median kept; {args.val_samples} validation samples"
    )
    results = {}
    for name in args.models.split(","):
        results[name] = report(name, measure(name, args, device, variants), list(variants))
    print(f"\ntrainer/bare per step (limit {OVERHEAD_LIMIT}), spread of the rounds (limit {AGREEMENT:.0%}):")
    for name, r in results.items():
        verdicts = []
        for kind in ("cpu", "wall"):
            ok = "ok" if r[kind] <= OVERHEAD_LIMIT else "OVER"
            agree = "ok" if r[f"{kind}_spread"] <= AGREEMENT else "OVER"
            verdicts.append(f"{kind} {r[kind]:.3f} {ok}, spread {100 * r[f'{kind}_spread']:.1f}% {agree}")
        print(f"  {name:<16}{';  '.join(verdicts)}")
    end_load = os.getloadavg()[0]
    if max(load, end_load) > 0.5 * (os.cpu_count() or 1):
        print(
            f"load average {end_load:.2f} at the end on {os.cpu_count()} cores: other work shares the machine, "
            "so the wall-clock figures are noisy; the CPU-time figures are the ones to compare"
        )
    if device.type == "cuda":
        print(f"target on an H100-class GPU: bare/fast >= {FAST_TARGET} for lenet5 and lstm_sequence")


if __name__ == "__main__":
    main()
