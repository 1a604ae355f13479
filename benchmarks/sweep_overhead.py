"""What a sweep costs over training the same variants by hand.

Times K trainings of mlp_circles (K learning rates, E epochs each) three ways:

1. serially, one ``nnstudio train`` process after another (what a user would script);
2. ``nnstudio sweep --jobs 1`` over the same K learning rates (grid sampler, no pruner);
3. ``nnstudio sweep --jobs 2``.

and prints the sweep's overhead per trial against (1), which should stay under 5%, and the
time of (3) against (1), which should be at most 0.6 on two cores for a small model. Each
measurement is repeated ``--repeat`` times in alternating order and the median taken, since
a shared machine's speed drifts between runs.

    python benchmarks/sweep_overhead.py [--trials 4] [--epochs 20] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "resources" / "examples" / "mlp_circles.nnstudio"


def learning_rates(k: int) -> list[float]:
    return [round(0.005 * (i + 1), 4) for i in range(k)]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return elapsed


def serial(k: int, epochs: int, folder: Path) -> float:
    total = 0.0
    for i, lr in enumerate(learning_rates(k)):
        total += timed(
            [
                sys.executable,
                "-m",
                "nnstudio",
                "train",
                str(PROJECT),
                "--epochs",
                str(epochs),
                "--lr",
                str(lr),
                "--out",
                str(folder / f"train-{i}"),
                "--quiet",
            ]
        )
    return total


def sweep(k: int, epochs: int, jobs: int, folder: Path) -> float:
    choices = ",".join(str(lr) for lr in learning_rates(k))
    return timed(
        [
            sys.executable,
            "-m",
            "nnstudio",
            "sweep",
            str(PROJECT),
            "--trials",
            str(k),
            "--jobs",
            str(jobs),
            "--epochs",
            str(epochs),
            "--sampler",
            "grid",
            "--pruner",
            "none",
            "--param",
            f"lr={choices}",
            "--study",
            "bench",
            "--out",
            str(folder),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="K trainings")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per training")
    parser.add_argument("--repeat", type=int, default=1, help="measurements of each way (median taken)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    times: dict[str, list[float]] = {"serial": [], "sweep1": [], "sweep2": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            order = ["serial", "sweep1", "sweep2"] if r % 2 == 0 else ["sweep2", "sweep1", "serial"]
            for name in order:
                folder = Path(tmp) / f"{name}-{r}"
                if name == "serial":
                    t = serial(args.trials, args.epochs, folder)
                else:
                    t = sweep(args.trials, args.epochs, 1 if name == "sweep1" else 2, folder)
                times[name].append(t)
                print(f"  {name:<7} run {r + 1}: {t:6.1f} s", flush=True)
    s, one, two = (statistics.median(times[n]) for n in ("serial", "sweep1", "sweep2"))
    print(
        f"{args.trials} trainings of {PROJECT.stem}, {args.epochs} epochs each, {cores} cores, "
        f"median of {args.repeat}:"
    )
    print(f"  nnstudio train, one after another: {s:6.1f} s ({s / args.trials:.1f} s per training)")
    print(
        f"  nnstudio sweep --jobs 1:           {one:6.1f} s; overhead per trial {100 * (one / s - 1):+.1f}% "
        "(target: under 5%)"
    )
    print(
        f"  nnstudio sweep --jobs 2:           {two:6.1f} s; {two / s:.2f}x the serial time (target: at most 0.6x)"
    )


if __name__ == "__main__":
    main()
