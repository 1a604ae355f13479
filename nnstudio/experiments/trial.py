"""One trial, in its own process: ``python -m nnstudio.experiments.trial SPEC.json``.

The sweep writes the trial's variant as a project file and a small spec beside
it, then starts this module. It trains the variant with the ordinary Trainer and
reports on its standard output, one JSON object a line:

    {"event": "started", "steps_per_epoch": 47}
    {"event": "epoch", "epoch": 1, "train_loss": ..., "val_loss": ..., "val_acc": ...}
    {"event": "finished", "seconds": 3.2}
    {"event": "failed", "message": "...", "kind": "out_of_memory"}

Whatever else would reach standard output goes to standard error, which the
sweep keeps in the trial's log. When standard input closes (the sweep asks the
trial to stop, or the sweep itself is gone) the trial stops after its current
step, so a trial never outlives its sweep. A crash or a kill simply ends the
process; the sweep sees no "finished" line and marks the trial failed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_STOPPED = 0, 1, 3


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    channel = _take_stdout()
    threads = int(spec.get("threads") or 0)

    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    from nnstudio.core import project
    from nnstudio.core.errors import GraphError
    from nnstudio.training import events
    from nnstudio.training.config import TrainConfig
    from nnstudio.training.errors import TrainingError
    from nnstudio.training.loop import Trainer

    def send(**message: Any) -> None:
        channel.write(json.dumps(message, allow_nan=True) + "\n")
        channel.flush()

    try:
        graph = project.load(spec["project"])
        config = TrainConfig.from_settings(graph.training).with_overrides(
            epochs=spec.get("epochs"), device=spec.get("device"), report_every=1.0
        )
        trainer = Trainer.for_graph(graph, config, base_dir=Path(spec["base_dir"]))
    except (TrainingError, GraphError, OSError) as exc:
        send(event="failed", message=str(exc), kind="setup")
        return EXIT_FAILED

    stopped = threading.Event()

    def watch_stdin() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.buffer.read()  # returns at end of file: the sweep closed the pipe or died
        stopped.set()
        trainer.stop()

    threading.Thread(target=watch_stdin, name="trial-stdin", daemon=True).start()

    def listener(event: Any) -> None:
        if isinstance(event, events.RunStarted):
            send(event="started", steps_per_epoch=event.steps_per_epoch)
        elif isinstance(event, events.EpochEnded):
            send(event="epoch", **{k: _plain(v) for k, v in event.record.as_dict().items()})

    result = trainer.run(listener)
    if isinstance(result, events.Failed):
        send(event="failed", message=result.message, kind=result.kind)
        return EXIT_FAILED
    if result.stopped or stopped.is_set():
        send(event="stopped", seconds=result.seconds)
        return EXIT_STOPPED
    send(event="finished", seconds=result.seconds)
    return EXIT_OK


def _take_stdout() -> TextIO:
    """Keep the real standard output for the report lines; send anything else printed
    to standard error, so that a stray print cannot break the channel."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Torch's worker threads can hold up interpreter teardown; everything is reported.
    os._exit(code)
