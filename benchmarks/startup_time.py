"""How long ``nnstudio`` takes from launch until its window is shown, and that torch
is not imported on the way.

Launches ``python -m nnstudio`` in a fresh process (Qt's offscreen platform,
a throw-away settings folder) with ``NNSTUDIO_STARTUP_PROBE=1``, which makes
the app print one line as soon as the main window is shown and quit. The
time is measured from the launch to that line, so it includes starting
Python and importing Qt. Prints the median of a few launches against the
1.5 s limit, and fails if any launch imported torch.

Run it with ``python benchmarks/startup_time.py [--runs R] [FILE]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

LIMIT_S = 1.5


def launch(extra_args: list[str], home: str) -> tuple[float, str]:
    """Seconds from launch to the 'shown' line, and that line."""
    env = {**os.environ, "NNSTUDIO_STARTUP_PROBE": "1", "NNSTUDIO_HOME": home}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "nnstudio", *extra_args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = ""
    for line in process.stdout:
        if line.startswith("nnstudio-shown"):
            break
    elapsed = time.perf_counter() - start
    process.wait(timeout=60)
    if not line.startswith("nnstudio-shown"):
        raise RuntimeError(f"nnstudio did not report its window: {process.stderr.read()[-2000:]}")
    return elapsed, line.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("file", nargs="?", help="a project to open at startup")
    args = parser.parse_args(argv)

    extra = [args.file] if args.file else []
    timings, torch_seen = [], False
    with tempfile.TemporaryDirectory() as home:
        launch(extra, home)  # warm the disk cache, as a second start of the day would be
        for _ in range(args.runs):
            elapsed, line = launch(extra, home)
            timings.append(elapsed)
            torch_seen |= "torch_imported=True" in line
    median = statistics.median(timings)
    print(
        f"launch -> window shown{' with ' + args.file if args.file else ''}: median {median:.2f} s "
        f"over {args.runs} launches (best {min(timings):.2f} s); limit {LIMIT_S:.1f} s, "
        f"ratio {median / LIMIT_S:.2f}; torch imported at startup: {'YES' if torch_seen else 'no'}"
    )
    return 0 if median <= LIMIT_S and not torch_seen else 1


if __name__ == "__main__":
    sys.exit(main())
