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

- Trainer and bare loop alternate epoch by epoch: the trainer's listener runs one
  bare epoch after each of the trainer's own, so whatever else the machine does
  in a given second lands on both (ABAB at the finest grain that leaves both
  loops whole). Both first epochs (set-up, warm-up) are left out, and a warm-up
  run precedes the timed ones.
- Each run is seconds of work (``--seconds`` sets the shorter epoch's length from
  a calibration of the bare step). Each round runs both lengths and gives one
  estimate per variant and one trainer/bare ratio; the medians are reported,
  with a distribution-free 95% interval for the median. At least ``--rounds``
  rounds are run, and more, up to ``--max-rounds`` and within ``--budget``
  seconds a model, while the interval of the CPU-time ratio is wider than
  ±1.5% (within it, three runs agree within 3%).
- Both sides use the same number of torch threads (``--threads``, default 1:
  on a loaded machine intra-op threads wait for each other and their times
  swing by 10x).
- Besides wall-clock time it measures the training thread's CPU time
  (``time.thread_time``), which other processes move far less. With one thread
  that is all the work a step does.
- It also times every training step from its start to the next one's (a forward
  pre-hook on both models) and reports the median: hundreds of samples a run,
  robust to bursts of other work, though it leaves out what happens only every
  few steps (progress reports), which the line through the epochs includes.

Limits: trainer/bare per step <= 1.05 everywhere; on an H100-class GPU,
bare/fast >= 3 for LeNet-5 and the LSTM.

    python benchmarks/train_overhead.py [--device auto] [--rounds 5] [--max-rounds 7] [--budget 150]
                                        [--epochs 4] [--seconds 0.25] [--val-samples 128]
                                        [--threads 1] [--models lenet5,...]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import itertools
import math
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
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


class Windows:
    """Wall-clock and training-thread CPU seconds of timed stretches (one per epoch)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._since: tuple[float, float] | None = None
        self._ticks: list[list[tuple[float, float]]] = [[]]  # step starts, per epoch

    def _now(self) -> tuple[float, float]:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter(), time.thread_time()

    def start(self) -> None:
        self._since = self._now()

    def stop(self) -> None:
        """End the stretch started last (nothing when none was)."""
        if self._since is not None:
            (w0, c0), (w1, c1) = self._since, self._now()
            self.wall.append(w1 - w0)
            self.cpu.append(c1 - c0)
        self._since = None

    def tick(self, module: torch.nn.Module, args) -> None:
        """A forward pre-hook: the start of a training step (validation passes are not steps)."""
        if module.training:
            self._ticks[-1].append(self._now_host())

    def next_epoch(self) -> None:
        self._ticks.append([])

    @staticmethod
    def _now_host() -> tuple[float, float]:
        return time.perf_counter(), time.thread_time()

    def step_cycles(self) -> tuple[list[float], list[float]]:
        """(wall, cpu) seconds from one training step's start to the next's, within each epoch
        after the first: the whole of a step as the loop runs it."""
        wall, cpu = [], []
        for ticks in self._ticks[1:]:
            for (w0, c0), (w1, c1) in itertools.pairwise(ticks):
                wall.append(w1 - w0)
                cpu.append(c1 - c0)
        return wall, cpu

    def per_epoch(self, skip: int = 0) -> tuple[float, float]:
        """Mean (wall, cpu) seconds of the stretches after the first ``skip``."""
        wall, cpu = self.wall[skip:], self.cpu[skip:]
        return sum(wall) / len(wall), sum(cpu) / len(cpu)


def bare_epochs(case: Case, device: torch.device, clock: Windows | None = None) -> Iterator[None]:
    """A plain PyTorch loop doing the same work, pausing after each epoch; ``clock`` notes
    the start of each step."""
    config = case.config
    model = case.model().to(device)
    if clock is not None:
        model.register_forward_pre_hook(clock.tick)
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
        yield


def lockstep(case: Case, device: torch.device, **changes) -> tuple[Windows, Windows]:
    """The full trainer, a listener keeping every event as the app's does, and after each
    of its epochs one epoch of the bare loop: (trainer's epochs, bare epochs).

    The two alternate epoch by epoch, so whatever else the machine does in a given second
    lands on both. A trainer epoch is timed from the bare epoch's end to its own end
    (``EpochEnded``); both first epochs (set-up, warm-up) are left out. Bare epochs add to
    the trainer's clock, so it reports and checkpoints a little more often than alone."""
    config = case.config.with_overrides(device=str(device), **changes)
    mine, theirs = Windows(device), Windows(device)
    bare = bare_epochs(case, device, theirs)
    received = []

    def listener(event) -> None:
        received.append(event)
        if isinstance(event, EpochEnded):
            mine.stop()
            theirs.start()
            next(bare)
            theirs.stop()
            theirs.next_epoch()
            mine.next_epoch()
            mine.start()

    model = case.model()
    model.register_forward_pre_hook(mine.tick)  # the same hook as the bare loop's

    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(
            model,
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
    return mine, theirs


@dataclasses.dataclass
class Estimate:
    """One round's line through the two epoch lengths, for one variant."""

    step_wall: float  # seconds per step
    step_cpu: float
    fixed_wall: float  # seconds per epoch besides the steps
    fixed_cpu: float

    @classmethod
    def of(cls, short: tuple[float, float], long: tuple[float, float], steps: int) -> Estimate:
        """``short`` and ``long``: (wall, cpu) seconds of epochs of ``steps`` and LONGER x ``steps``."""
        (ws, cs), (wl, cl) = short, long
        extra = (LONGER - 1) * steps
        step_wall, step_cpu = (wl - ws) / extra, (cl - cs) / extra
        return cls(step_wall, step_cpu, ws - steps * step_wall, cs - steps * step_cpu)


def interval(values: list[float]) -> tuple[float, float, float]:
    """(median, low, high): the median and a distribution-free ~95% interval for it, from
    order statistics (with fewer than 6 values, the smallest and largest: 94% at 5)."""
    x, n = sorted(values), len(values)
    keep = 1  # the r-th smallest and largest bound the interval; coverage 1 - 2 P(B <= r - 1)
    for r in range(2, n // 2 + 1):
        if 2 * sum(math.comb(n, i) for i in range(r)) / 2**n <= 0.05:
            keep = r
    return statistics.median(x), x[keep - 1], x[n - keep]


def half_width(values: list[float]) -> float:
    """The interval's larger side, relative to the median."""
    middle, low, high = interval(values)
    return max(middle - low, high - middle) / abs(middle) if middle else math.inf


def calibrate(name: str, seconds: float, device: torch.device) -> int:
    """Steps of the shorter epoch: about ``seconds`` of the bare loop's training, at least 2."""
    probe = Case(name, 4, 0, 4)  # no validation: steps alone
    clock = Windows(device)
    for _ in bare_epochs(probe, device):
        clock.stop()
        clock.start()
    per_step = clock.per_epoch(skip=1)[0] / probe.steps
    return max(2, round(seconds / per_step))


def ratios(rounds: dict[str, list[Estimate]], kind: str, variant: str = "trainer") -> list[float]:
    """Each round's ``variant``/bare per step, in wall-clock (``kind`` "wall") or CPU time."""
    return [
        getattr(t, f"step_{kind}") / getattr(b, f"step_{kind}")
        for b, t in zip(rounds["bare"], rounds[variant], strict=True)
    ]


def measure(name: str, args: argparse.Namespace, device: torch.device, variants: dict[str, dict]) -> dict:
    steps = calibrate(name, args.seconds, device)
    cases = [Case(name, s, args.val_samples, args.epochs) for s in (steps, LONGER * steps)]
    for case in cases:  # warm-up: caches, allocator, lazy init, cuDNN autotuning, compile
        for changes in variants.values():
            lockstep(case, device, **changes)
    rounds: dict[str, list[Estimate]] = {v: [] for v in ("bare", *variants)}
    cycles: dict[str, list[tuple[float, float]]] = {v: [] for v in ("bare", *variants)}
    # At least --rounds rounds; more, up to --max-rounds and while --budget seconds last,
    # while the CPU-time ratio's interval is wider than the agreement asked for.
    started = time.perf_counter()
    while len(rounds["bare"]) < args.rounds or (
        len(rounds["bare"]) < args.max_rounds
        and time.perf_counter() - started < args.budget
        and half_width(ratios(rounds, "cpu")) > AGREEMENT / 2
    ):
        for variant, changes in variants.items():
            timed = []
            for case in cases:
                gc.collect()  # every run starts from the same heap
                timed.append(lockstep(case, device, **changes))
            (short, bare_short), (long, bare_long) = timed
            rounds[variant].append(Estimate.of(short.per_epoch(), long.per_epoch(), steps))
            cycles[variant].append(median_cycle(short, long))
            if variant == "trainer":
                # Each bare loop's first epoch ran in the trainer's first listener call: left out.
                bare = (bare_short.per_epoch(skip=1), bare_long.per_epoch(skip=1))
                rounds["bare"].append(Estimate.of(*bare, steps))
                cycles["bare"].append(median_cycle(bare_short, bare_long))
    return {"steps": steps, "batch": cases[0].config.batch_size, "rounds": rounds, "cycles": cycles}


def median_cycle(*runs: Windows) -> tuple[float, float]:
    """The median (wall, cpu) step of ``runs``, step start to step start."""
    wall, cpu = [], []
    for run in runs:
        w, c = run.step_cycles()
        wall += w
        cpu += c
    return statistics.median(wall), statistics.median(cpu)


def report(name: str, m: dict, variants: list[str]) -> dict[str, float]:
    rounds: dict[str, list[Estimate]] = m["rounds"]
    steps, batch, n = m["steps"], m["batch"], len(m["rounds"]["bare"])
    print(f"\n{name}: batch {batch}, epochs of {steps} and {LONGER * steps} steps, {n} rounds (medians)")
    print(
        f"  {'':<14}{'ms/step wall':>13}{'cpu':>9}{'fixed ms/epoch wall':>21}{'cpu':>9}"
        f"{'±95% wall':>12}{'cpu':>7}"
    )
    for v in variants:
        est = rounds[v]
        print(
            f"  {v:<14}{1000 * median([e.step_wall for e in est]):>13.3f}"
            f"{1000 * median([e.step_cpu for e in est]):>9.3f}"
            f"{1000 * median([e.fixed_wall for e in est]):>21.1f}"
            f"{1000 * median([e.fixed_cpu for e in est]):>9.1f}"
            f"{100 * half_width([e.step_wall for e in est]):>11.1f}%"
            f"{100 * half_width([e.step_cpu for e in est]):>6.1f}%"
        )
    out = {}
    for kind in ("wall", "cpu"):
        each = ratios(rounds, kind)
        out[kind], out[f"{kind}_low"], out[f"{kind}_high"] = interval(each)
        out[f"{kind}_width"] = half_width(each)
        out[f"{kind}_fixed"] = median(
            [
                getattr(t, f"fixed_{kind}") - getattr(b, f"fixed_{kind}")
                for b, t in zip(rounds["bare"], rounds["trainer"], strict=True)
            ]
        )
        out[f"{kind}_rounds"] = each
    print(
        f"  {'trainer/bare':<14}{out['wall']:>13.3f}{out['cpu']:>9.3f}"
        f"{format(1000 * out['wall_fixed'], '+.1f'):>21}{format(1000 * out['cpu_fixed'], '+.1f'):>9}"
        f"{100 * out['wall_width']:>11.1f}%{100 * out['cpu_width']:>6.1f}%"
    )
    for kind in ("cpu", "wall"):
        print(f"  each round's trainer/bare, {kind}: {' '.join(f'{r:.3f}' for r in out[f'{kind}_rounds'])}")
    # The median step, start to start: robust to bursts of other work, but it leaves out
    # what happens every few steps (progress reports), which the line above includes.
    cycles = m["cycles"]
    step = {v: (median([c[0] for c in cycles[v]]), median([c[1] for c in cycles[v]])) for v in variants}
    for i, kind in enumerate(("wall", "cpu")):
        each = [t[i] / b[i] for b, t in zip(cycles["bare"], cycles["trainer"], strict=True)]
        out[f"median_{kind}"], out[f"median_{kind}_width"] = median(each), half_width(each)
    print(
        "  median step ms (wall, cpu): "
        + ", ".join(f"{v} {1000 * step[v][0]:.3f} {1000 * step[v][1]:.3f}" for v in variants)
        + f"; trainer/bare {out['median_wall']:.3f} (±{100 * out['median_wall_width']:.1f}%)"
        f" {out['median_cpu']:.3f} (±{100 * out['median_cpu_width']:.1f}%)"
    )
    if "fast" in rounds:
        bare = median([e.step_wall for e in rounds["bare"]])
        for v in ("compile", "fast"):
            print(f"  bare/{v}: {bare / median([e.step_wall for e in rounds[v]]):.2f}")
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--rounds", "--repeats", type=int, default=5, help="interleaved rounds at least; the medians are kept"
    )
    parser.add_argument(
        "--max-rounds",
        type=int,
        default=7,
        help="rounds at most: more are run while the CPU-time ratio's 95%% interval is wider than ±1.5%%",
    )
    parser.add_argument(
        "--budget", type=float, default=150.0, help="seconds per model after which no further round starts"
    )
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is not timed")
    parser.add_argument(
        "--seconds", type=float, default=0.25, help="training time of the shorter epoch (sets its steps)"
    )
    parser.add_argument("--val-samples", type=int, default=128, help="validation samples per epoch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for every variant")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not timed")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.max_rounds = max(args.max_rounds, args.rounds)

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    variants: dict[str, dict] = {"trainer": {}}  # each with the TrainConfig changes it makes
    if device.type == "cuda":
        variants["compile"] = {"compile": True}
        variants["fast"] = {"fast": True}
    load = os.getloadavg()[0]
    print(
        f"device: {describe(device)}; torch {torch.__version__}, {args.threads} thread(s); "
        f"{os.cpu_count()} cores, load average {load:.2f} at the start"
    )
    print(
        f"{args.epochs} epochs per run (the first not timed), {args.rounds} to {args.max_rounds} rounds of "
        f"trainer and bare epochs alternating, medians kept; {args.val_samples} validation samples"
    )
    results = {}
    for name in args.models.split(","):
        results[name] = report(name, measure(name, args, device, variants), ["bare", *variants])
    print(
        f"\ntrainer/bare per step, the median of the rounds [its 95% interval], against the limit "
        f"{OVERHEAD_LIMIT}; runs agree within {AGREEMENT:.0%} when the interval is within ±{AGREEMENT / 2:.1%}:"
    )
    for name, r in results.items():
        verdicts = []
        for kind in ("cpu", "wall"):
            ok = "ok" if r[kind] <= OVERHEAD_LIMIT else "OVER"
            agree = "ok" if r[f"{kind}_width"] <= AGREEMENT / 2 else "wider"
            verdicts.append(
                f"{kind} {r[kind]:.3f} [{r[f'{kind}_low']:.3f}, {r[f'{kind}_high']:.3f}] {ok}, "
                f"±{100 * r[f'{kind}_width']:.1f}% {agree}"
            )
        print(f"  {name:<16}{';  '.join(verdicts)}")
        print(
            f"  {'':<16}median step: cpu {r['median_cpu']:.3f} (±{100 * r['median_cpu_width']:.1f}%), "
            f"wall {r['median_wall']:.3f} (±{100 * r['median_wall_width']:.1f}%)"
        )
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
