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
  seconds a model, while the interval of the paired CPU-time ratio (below) is
  wider than ±1.5% (within it, three runs agree within 3%).
- Both sides use the same number of torch threads (``--threads``, default 1:
  on a loaded machine intra-op threads wait for each other and their times
  swing by 10x).
- Besides wall-clock time it measures the training thread's CPU time
  (``time.thread_time``), which other processes move far less. With one thread
  that is all the work a step does.
- Paired steps, the steadiest figure: one more run per round in which a bare
  step runs just before each of the trainer's steps (a forward pre-hook on the
  trainer's model), each side timed whole. The two sides of a pair are
  milliseconds apart, so a burst of other work lands on both; hundreds of pairs
  a run. The ratio of the sums (every step, progress reports included) and the
  median pair's ratio are divided by those of a null run, a bare loop hosting
  bare steps the same way, which measures what the pairing itself adds (the
  hosting side comes out a few percent slower with equal work).

Limits: trainer/bare per step <= 1.05 everywhere; on an H100-class GPU,
bare/fast >= 3 for LeNet-5 and the LSTM.

    python benchmarks/train_overhead.py [--device auto] [--rounds 5] [--max-rounds 7] [--budget 100]
                                        [--epochs 4] [--seconds 0.15] [--val-samples 128]
                                        [--threads 1] [--models lenet5,...]
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
RATIOS = ("sum_wall", "sum_cpu", "median_wall", "median_cpu")  # of a paired run


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


def now(device: torch.device) -> tuple[float, float]:
    """(wall-clock, training-thread CPU) seconds, once the device has done what it was given."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter(), time.thread_time()


class Windows:
    """Wall-clock and training-thread CPU seconds of timed stretches (one per epoch)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._since: tuple[float, float] | None = None

    def _now(self) -> tuple[float, float]:
        return now(self.device)

    def start(self) -> None:
        self._since = self._now()

    def stop(self) -> None:
        """End the stretch started last (nothing when none was)."""
        if self._since is not None:
            (w0, c0), (w1, c1) = self._since, self._now()
            self.wall.append(w1 - w0)
            self.cpu.append(c1 - c0)
        self._since = None

    def per_epoch(self, skip: int = 0) -> tuple[float, float]:
        """Mean (wall, cpu) seconds of the stretches after the first ``skip``."""
        wall, cpu = self.wall[skip:], self.cpu[skip:]
        return sum(wall) / len(wall), sum(cpu) / len(cpu)


class BareSteps:
    """A plain PyTorch loop doing the same work, one step per call: shuffle, ``index_select``
    a batch, forward, loss, backward, optimizer step."""

    def __init__(self, case: Case, device: torch.device) -> None:
        config = case.config
        self.model = case.model().to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.x, self.y = (t.to(device) for t in case.data.train.tensors)
        self.generator = torch.Generator(device=device).manual_seed(0)
        self.bs, self.steps, self.device = config.batch_size, case.steps, device
        self.done = 0
        self.order = torch.zeros(0)

    def step(self) -> None:
        i = self.done % self.steps
        if i == 0:
            self.model.train()
            self.order = torch.randperm(len(self.x), device=self.device, generator=self.generator)
        index = self.order[i * self.bs : (i + 1) * self.bs]
        xb, yb = self.x.index_select(0, index), self.y.index_select(0, index)
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(xb), yb)
        loss.backward()
        self.optimizer.step()
        self.done += 1

    def validate(self, xv: torch.Tensor, yv: torch.Tensor) -> None:
        """A validation pass with a single read-back."""
        self.model.eval()
        total = torch.zeros((), device=self.device)
        right = torch.zeros((), device=self.device)
        with torch.no_grad():
            for a in range(0, len(xv), 1024):
                out = self.model(xv[a : a + 1024])
                total += F.cross_entropy(out, yv[a : a + 1024], reduction="sum")
                right += (out.argmax(dim=1) == yv[a : a + 1024]).sum()
        torch.stack([total, right]).tolist()  # the one read-back, as the trainer does


def bare_epochs(case: Case, device: torch.device) -> Iterator[None]:
    """The bare loop by epochs, pausing after each: its steps, then a validation pass with a
    single read-back."""
    bare = BareSteps(case, device)
    xv, yv = (t.to(device) for t in case.data.val.tensors)
    for _ in range(case.config.epochs):
        for _ in range(case.steps):
            bare.step()
        bare.validate(xv, yv)
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
    bare = bare_epochs(case, device)
    received = []

    def listener(event) -> None:
        received.append(event)
        if isinstance(event, EpochEnded):
            mine.stop()
            theirs.start()
            next(bare)
            theirs.stop()
            mine.start()

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
    return mine, theirs


class Pairs:
    """A bare step run just before each step of a host loop (in a forward pre-hook on the
    host's model), and the (host wall, host CPU, bare wall, bare CPU) seconds of each pair:
    the host's step timed from the end of one bare step to the start of the next, that is
    whole, as its loop runs it. The first epoch is left out.

    Across an epoch's end (``end_epoch``, called from within it) the host's stretch holds
    its last step and the epoch's end and start; with ``validate`` the bare loop's
    validation pass runs there too and both are kept in ``boundaries``."""

    def __init__(self, case: Case, device: torch.device, host: torch.nn.Module, validate: bool) -> None:
        self.bare, self.device = BareSteps(case, device), device
        self.val = tuple(t.to(device) for t in case.data.val.tensors) if validate else None
        self.pairs: list[tuple[float, float, float, float]] = []
        self.boundaries: list[tuple[float, float, float, float]] = []  # host, bare validation
        self.since: tuple[float, float] | None = None
        self.crossing: tuple[float, float] | None = None  # an epoch's end is being crossed since
        self.validation = (0.0, 0.0)
        self.epoch = 0
        host.register_forward_pre_hook(self.hook)

    def hook(self, module: torch.nn.Module, args) -> None:
        if not module.training:  # a validation pass
            return
        start = now(self.device)
        self.bare.step()
        end = now(self.device)
        if self.crossing is not None and self.epoch >= 2:
            (w0, c0), (vw, vc) = self.crossing, self.validation
            self.boundaries.append((start[0] - w0 - vw, start[1] - c0 - vc, vw, vc))
        elif self.since is not None and self.epoch >= 1:
            (w0, c0) = self.since
            self.pairs.append((start[0] - w0, start[1] - c0, end[0] - start[0], end[1] - start[1]))
        self.since, self.crossing = end, None

    def end_epoch(self) -> None:
        self.crossing, self.since = self.since, None
        self.epoch += 1
        if self.val is not None:
            start = now(self.device)
            self.bare.validate(*self.val)
            end = now(self.device)
            self.validation = (end[0] - start[0], end[1] - start[1])


def paired_steps(case: Case, device: torch.device) -> Pairs:
    """The full trainer hosting bare steps (see ``Pairs``): its steps reports included.

    Pairs are milliseconds apart, so a burst of other work hits both sides of a pair.
    The bare steps add to the trainer's clock, so it reports a little more often per
    step than alone."""
    model = case.model()
    pairs = Pairs(case, device, model, validate=True)

    def listener(event) -> None:
        if isinstance(event, EpochEnded):
            pairs.end_epoch()

    with tempfile.TemporaryDirectory() as folder:
        config = case.config.with_overrides(device=str(device))
        trainer = Trainer(
            model, case.data, config, output_shape=case.io.output_shape, loss=case.loss, checkpoint_dir=folder
        )
        result = trainer.run(listener)
    if not hasattr(result, "stopped"):
        raise RuntimeError(f"{case.name}: {result.message}")
    return pairs


def paired_null(case: Case, device: torch.device) -> Pairs:
    """A bare loop hosting bare steps: the same work on both sides, so its ratio is what the
    pairing itself adds (the host's step comes out a few percent slower: the order of the
    two within a pair); the trainer's ratio is divided by it."""
    host = BareSteps(case, device)
    pairs = Pairs(case, device, host.model, validate=False)
    for _ in range(case.config.epochs):
        for _ in range(case.steps):
            host.step()
        pairs.end_epoch()
    return pairs


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
    paired: list[dict[str, float]] = []
    paired_steps(cases[1], device)  # warm-up
    paired_null(cases[1], device)
    # At least --rounds rounds; more, up to --max-rounds and while --budget seconds last,
    # while the paired CPU-time ratio's interval is wider than the agreement asked for.
    started = time.perf_counter()
    while len(rounds["bare"]) < args.rounds or (
        len(rounds["bare"]) < args.max_rounds
        and time.perf_counter() - started < args.budget
        and half_width([p["sum_cpu"] for p in paired]) > AGREEMENT / 2
    ):
        for variant, changes in variants.items():
            timed = []
            for case in cases:
                gc.collect()  # every run starts from the same heap
                timed.append(lockstep(case, device, **changes))
            (short, bare_short), (long, bare_long) = timed
            rounds[variant].append(Estimate.of(short.per_epoch(), long.per_epoch(), steps))
            if variant == "trainer":
                # Each bare loop's first epoch ran in the trainer's first listener call: left out.
                bare = (bare_short.per_epoch(skip=1), bare_long.per_epoch(skip=1))
                rounds["bare"].append(Estimate.of(*bare, steps))
        gc.collect()
        trainer = pair_ratios(paired_steps(cases[1], device))
        gc.collect()
        null = pair_ratios(paired_null(cases[1], device))
        paired.append({k: v / null[k] if k in RATIOS else v for k, v in trainer.items()})
    return {"steps": steps, "batch": cases[0].config.batch_size, "rounds": rounds, "paired": paired}


def pair_ratios(run: Pairs) -> dict[str, float]:
    """trainer/bare of one paired run: of the sums (every step's cost, reports included) and
    the median pair (a typical step), in wall-clock and CPU time; and the epoch's fixed
    cost, each side's stretch across an epoch's end less a typical step of its own."""
    tw, tc, bw, bc = zip(*run.pairs, strict=True)
    out = {
        "sum_wall": sum(tw) / sum(bw),
        "sum_cpu": sum(tc) / sum(bc),
        "median_wall": statistics.median(t / b for t, b in zip(tw, bw, strict=True)),
        "median_cpu": statistics.median(t / b for t, b in zip(tc, bc, strict=True)),
        "trainer_cpu": statistics.median(tc),
        "bare_cpu": statistics.median(bc),
        "pairs": len(run.pairs),
    }
    if run.boundaries:
        hw, hc, vw, vc = (statistics.median(column) for column in zip(*run.boundaries, strict=True))
        out["fixed_wall"] = hw - statistics.median(tw)
        out["fixed_cpu"] = hc - statistics.median(tc)
        out["bare_fixed_wall"], out["bare_fixed_cpu"] = vw, vc
    return out


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
    # Paired steps: each trainer step beside a bare step milliseconds away.
    paired = m["paired"]
    for key in ("sum_cpu", "sum_wall", "median_cpu", "median_wall"):
        each = [p[key] for p in paired]
        out[f"paired_{key}"], out[f"paired_{key}_low"], out[f"paired_{key}_high"] = interval(each)
        out[f"paired_{key}_width"] = half_width(each)
    print(
        f"  paired steps ({paired[0]['pairs']} pairs a round): median step cpu ms bare "
        f"{1000 * median([p['bare_cpu'] for p in paired]):.3f}, trainer "
        f"{1000 * median([p['trainer_cpu'] for p in paired]):.3f}; trainer/bare"
        + "".join(
            f", {label} {out[f'paired_{key}']:.3f} (±{100 * out[f'paired_{key}_width']:.1f}%)"
            for label, key in (
                ("all cpu", "sum_cpu"),
                ("all wall", "sum_wall"),
                ("typical cpu", "median_cpu"),
                ("typical wall", "median_wall"),
            )
        )
    )
    for kind in ("cpu", "wall"):
        out[f"paired_fixed_{kind}"] = median([p[f"fixed_{kind}"] - p[f"bare_fixed_{kind}"] for p in paired])
    print(
        "  paired epoch ends, fixed ms per epoch (cpu, wall): trainer "
        f"{1000 * median([p['fixed_cpu'] for p in paired]):.1f} {1000 * median([p['fixed_wall'] for p in paired]):.1f}"
        f", bare (its validation) {1000 * median([p['bare_fixed_cpu'] for p in paired]):.1f} "
        f"{1000 * median([p['bare_fixed_wall'] for p in paired]):.1f}; trainer minus bare "
        f"{1000 * out['paired_fixed_cpu']:+.1f} {1000 * out['paired_fixed_wall']:+.1f}"
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
        help="rounds at most: more while the paired CPU-time ratio's 95%% interval is wider than ±1.5%%",
    )
    parser.add_argument(
        "--budget", type=float, default=100.0, help="seconds per model after which no further round starts"
    )
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is not timed")
    parser.add_argument(
        "--seconds", type=float, default=0.15, help="training time of the shorter epoch (sets its steps)"
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
        f"\ntrainer/bare per step against the limit {OVERHEAD_LIMIT} (ok: its whole 95% interval below), the "
        f"median of the rounds and how far the interval reaches (runs agree within {AGREEMENT:.0%} when that "
        f"is within ±{AGREEMENT / 2:.1%}); paired steps are the steady figure, the epoch line includes all:"
    )
    print(
        f"  {'':<16}{'paired steps, cpu':<26}{'paired steps, wall':<26}{'epoch line, cpu':<26}{'epoch line, wall'}"
    )

    def verdict(r: dict[str, float], key: str) -> str:
        """ok / OVER when the whole interval is below / above the limit, else a guess with '?'."""
        value, low, high, width = (r[key + part] for part in ("", "_low", "_high", "_width"))
        if high <= OVERHEAD_LIMIT or low > OVERHEAD_LIMIT:
            ok = "ok" if high <= OVERHEAD_LIMIT else "OVER"
        else:
            ok = "ok?" if value <= OVERHEAD_LIMIT else "over?"
        agree = "agrees" if width <= AGREEMENT / 2 else "wide"
        return f"{value:.3f} {ok} ±{100 * width:.1f}% {agree}"

    for name, r in results.items():
        cells = [verdict(r, key) for key in ("paired_sum_cpu", "paired_sum_wall", "cpu", "wall")]
        print(f"  {name:<16}" + "".join(f"{c:<26}" for c in cells))
    print(
        "fixed cost per epoch, trainer minus bare (paired epoch ends, medians): "
        + ", ".join(
            f"{name} {1000 * r['paired_fixed_cpu']:+.1f} ms cpu, {1000 * r['paired_fixed_wall']:+.1f} ms wall"
            for name, r in results.items()
        )
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
