"""``nnstudio train FILE``: train a project headless, with a progress bar.

The project's training settings are the defaults; flags override them for
this run only (the project file is not changed). The run folder (``--out``,
by default ``runs/<project>-<time>/``) receives ``checkpoint.pt`` after
every epoch, ``metrics.csv`` (one row per epoch), the trained model as
``model.py`` + ``weights.safetensors`` + ``predict.py``, and with
``--tensorboard`` TensorBoard event files.

Exit status: 0 when training finished, 1 when it stopped on a fault (NaN loss,
out of memory, ...), 2 for a bad file or argument, 130 when interrupted with
Ctrl-C (a checkpoint is written first; ``--resume`` continues from it).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from nnstudio.commands._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    error,
    exit_code_for,
    load_or_report,
    report_invalid,
)
from nnstudio.core.seeds import SEED_MAX, SEED_MIN
from nnstudio.training.run_folder import MetricsWriter, folder_summary

EXIT_FAULT = EXIT_FAILED  # a run that stopped on a fault (NaN loss, out of memory, ...)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a project on its data set and write checkpoints, metrics and the model",
        description="Train a project headless. Flags override the project's training settings "
        "for this run; the project file is not changed.",
    )
    parser.add_argument("file", help="a .nnstudio project")
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        metavar="NAME|PATH",
        help="digits, circles, moons, sequences, shapes, or a CSV/.npz/.npy file, "
        "an image folder, MNIST IDX or CIFAR batches",
    )
    data.add_argument("--label-column", metavar="COLUMN", help="CSV: the label column's name or index")
    data.add_argument("--val-split", type=float, metavar="FRACTION", help="share held out for validation")
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=int, metavar="N")
    optim.add_argument("--batch-size", type=int, metavar="N")
    optim.add_argument("--lr", type=float, metavar="RATE", help="learning rate")
    optim.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop", "adagrad"))
    optim.add_argument("--schedule", choices=("none", "step", "cosine"), help="learning rate per epoch")
    optim.add_argument("--loss", choices=("auto", "cross_entropy", "mse", "bce_with_logits"))
    optim.add_argument("--seed", type=int, help=f"random seed, {SEED_MIN} to {SEED_MAX}")
    run_group = parser.add_argument_group("execution")
    run_group.add_argument("--device", metavar="DEVICE", help="auto (default), cpu, cuda, cuda:N or mps")
    run_group.add_argument("--precision", choices=("fp32", "bf16"), help="bf16: mixed precision on CUDA")
    run_group.add_argument("--compile", action="store_true", default=None, help="use torch.compile")
    run_group.add_argument(
        "--fast",
        action="store_true",
        default=None,
        help="CUDA: replay the whole training step as one CUDA graph",
    )
    run_group.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train on N processes of this machine with torchrun (DDP), "
        "running the exported train.py in the run folder",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="DIR", help="run folder (default: runs/<project>-<time>/)")
    output.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint.pt")
    output.add_argument(
        "--weights",
        metavar="FILE",
        help="start from these weights (.safetensors or a state dict), e.g. the "
        "OUT.weights.safetensors that 'nnstudio import' writes beside the project",
    )
    output.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files")
    output.add_argument("--quiet", action="store_true", help="print only the final result")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = load_or_report(args.file)
    if graph is None:
        return EXIT_BAD_INPUT
    invalid = report_invalid(graph, args.file, "train")
    if invalid is not None:
        return invalid

    # torch is imported only now: --help and bad files answer at once.
    from nnstudio.core.errors import GraphError
    from nnstudio.training.config import TrainConfig
    from nnstudio.training.errors import TrainingError
    from nnstudio.training.loop import Trainer

    project = Path(args.file)
    out: Path | None = None
    kept = _planned_folder_exists(args)  # a refused run removes only a folder it made
    try:
        config = TrainConfig.from_settings(graph.training).with_overrides(
            dataset=args.dataset,
            label_column=_column(args.label_column),
            val_split=args.val_split,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            schedule=args.schedule,
            loss=args.loss,
            seed=args.seed,
            device=args.device,
            precision=args.precision,
            compile=args.compile,
            fast=args.fast,
        )
        if args.nproc is not None:
            from nnstudio.training.distributed import launch_and_report

            others = [f for f in ("resume", "weights", "tensorboard", "compile", "fast") if getattr(args, f)]
            if others:
                raise TrainingError(f"--nproc runs the exported train.py, which has no --{others[0]}.")
            out = _run_folder(args, project)
            status = launch_and_report(graph, config, args.nproc, out, project)
            if status != EXIT_OK and not kept:
                _remove_if_empty(out)
            return status
        out = _run_folder(args, project)
        tensorboard = _tensorboard(out) if args.tensorboard else None
        _choose_threads(graph, config.batch_size)
        trainer = Trainer.for_graph(
            graph,
            config,
            checkpoint_dir=out,
            base_dir=project.parent,
            resume_from=args.resume,
            model=_with_weights(graph, args) if args.weights else None,
        )
    except (TrainingError, GraphError, OSError) as exc:
        if out is not None and not kept:
            _remove_if_empty(out)
        error(exc)
        return exit_code_for(exc)

    printer = ProgressPrinter(sys.stderr, quiet=args.quiet)
    listeners = [printer, MetricsWriter(out / "metrics.csv")]
    if tensorboard is not None:
        listeners.append(tensorboard)

    def listener(event: Any) -> None:
        for each in listeners:
            each(event)

    interrupted = False

    def on_interrupt(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        trainer.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C ends at once
        print("\nstopping after this step (Ctrl-C again to quit now)...", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        result = trainer.run(listener)
    finally:
        signal.signal(signal.SIGINT, previous)
        if tensorboard is not None:
            tensorboard.close()
    return _finish(result, trainer, graph, out, interrupted)


def _finish(result: Any, trainer: Any, graph: Any, out: Path, interrupted: bool) -> int:
    from nnstudio.training.events import Failed

    if isinstance(result, Failed):
        print(f"error: {result.message}", file=sys.stderr)
        if result.checkpoint:
            print(f"The last good checkpoint is {result.checkpoint}.", file=sys.stderr)
        return EXIT_FAULT
    _export(graph, trainer, out)  # says why when the trained model could not be written
    epochs = result.history.epochs
    summary = f"Trained {len(epochs)} epoch(s) in {result.seconds:.1f} s"
    if epochs:
        last = epochs[-1]
        summary += f": validation loss {last.val_loss:.4f}"
        if not math.isnan(last.val_acc):
            summary += f", accuracy {100 * last.val_acc:.1f}%"
    print(f"{summary}.")
    print(folder_summary(out))
    if result.stopped:
        print(f"Stopped early; continue with: nnstudio train ... --resume {result.checkpoint}")
        return EXIT_INTERRUPTED if interrupted else EXIT_OK
    return EXIT_OK


def _export(graph: Any, trainer: Any, out: Path) -> list[Path]:
    """model.py, weights and predict.py beside the checkpoint: what the run produced."""
    from nnstudio.training.run_folder import export_trained

    exported = export_trained(
        graph, trainer.model, out, trained_on=trainer.data.trained_on(trainer.loss_name)
    )
    if exported.problem:  # the run itself succeeded; say why the export did not
        print(f"warning: the trained model was not exported: {exported.problem}", file=sys.stderr)
    return list(exported.written)


def _with_weights(graph: Any, args: argparse.Namespace) -> Any:
    """The compiled model holding ``--weights`` (every layer's, nothing else), read safely."""
    from nnstudio.compiler.codegen import compile_graph
    from nnstudio.compiler.export import load_weights
    from nnstudio.training.errors import TrainingError

    if args.resume:
        raise TrainingError("--weights and --resume both choose where to start; give one of them.")
    try:
        state = load_weights(args.weights)
    except Exception as exc:
        raise TrainingError(f"cannot read weights from {args.weights}: {exc}") from None
    model = compile_graph(graph)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).strip().splitlines()[:3])
        raise TrainingError(f"{args.weights} does not fit this project's layers: {detail}") from None
    return model


def _choose_threads(graph: Any, batch_size: int) -> None:
    """One torch thread for a small network, as the app does (training/threads.py), unless
    the user set OMP_NUM_THREADS."""
    from nnstudio.training.threads import threads_for

    threads = threads_for(graph, batch_size)
    if threads is not None and not os.environ.get("OMP_NUM_THREADS", "").strip():
        import torch

        torch.set_num_threads(threads)


def _run_folder(args: argparse.Namespace, project: Path) -> Path:
    if args.out:
        out = Path(args.out)
    elif args.resume:
        out = Path(args.resume).parent
    else:
        from nnstudio.training.run_folder import new_run_folder

        return new_run_folder("runs", project.stem)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _planned_folder_exists(args: argparse.Namespace) -> bool:
    if args.out:
        return Path(args.out).exists()
    return bool(args.resume)  # a resumed run writes beside its checkpoint


def _remove_if_empty(folder: Path) -> None:
    """A refused run leaves no empty run folder behind."""
    with contextlib.suppress(OSError):  # anything written into it keeps it
        folder.rmdir()


def _column(value: str | None) -> str | int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


# --- listeners ---------------------------------------------------------------------------------


class ProgressPrinter:
    """A one-line progress bar redrawn with ``\\r`` on a terminal; one line per epoch otherwise."""

    WIDTH = 24

    def __init__(self, stream: TextIO, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.live = stream.isatty()
        self._loss = math.nan
        self._acc = math.nan
        self._drawn = False

    def __call__(self, event: Any) -> None:
        from nnstudio.training import events

        if self.quiet:
            return
        if isinstance(event, events.RunStarted):
            resumed = f", resuming after epoch {event.start_epoch}" if event.start_step else ""
            self._line(f"Training on {event.device}: {event.data}; {event.loss} loss{resumed}.")
        elif isinstance(event, events.Progress):
            if len(event.points):
                self._loss = float(event.points.smoothed[-1])
                self._acc = float(event.points.accuracy[-1])
            if self.live:
                self._draw(event)
        elif isinstance(event, events.EpochEnded):
            self._line(_epoch_line(event.record, event.epochs))
        elif isinstance(event, events.Notice):
            self._line(f"note: {event.message}")
        elif isinstance(event, events.PauseChanged):
            self._line("paused" if event.paused else "resumed")
        elif isinstance(event, events.Finished | events.Failed) and self._drawn:
            self._clear()

    def _draw(self, p: Any) -> None:
        filled = int(self.WIDTH * p.fraction)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        text = (
            f"epoch {p.epoch}/{p.epochs} [{bar}] {100 * p.fraction:3.0f}% "
            f"{p.samples_per_second:,.0f} samples/s ETA {_clock(p.eta)} loss {self._loss:.4f}"
        )
        if not math.isnan(self._acc):
            text += f" acc {100 * self._acc:.1f}%"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def _line(self, text: str) -> None:
        if self._drawn:
            self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        self.stream.write("\r\x1b[K")
        self._drawn = False


def _epoch_line(record: Any, epochs: int) -> str:
    text = f"epoch {record.epoch}/{epochs}: train loss {record.train_loss:.4f}"
    if not math.isnan(record.train_acc):
        text += f" acc {100 * record.train_acc:.1f}%"
    text += f" | val loss {record.val_loss:.4f}"
    if not math.isnan(record.val_acc):
        text += f" acc {100 * record.val_acc:.1f}%"
    return text + f" | lr {record.lr:g} | {record.seconds:.1f} s"


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _TensorBoard:
    """Scalars for TensorBoard: per-step loss and per-epoch metrics."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def __call__(self, event: Any) -> None:
        from nnstudio.training import events

        if isinstance(event, events.Progress):
            for step, loss in zip(event.points.steps.tolist(), event.points.loss.tolist(), strict=True):
                self.writer.add_scalar("loss/train_step", loss, step)
        elif isinstance(event, events.EpochEnded):
            r = event.record
            for name, value in r.as_dict().items():
                if name != "epoch" and not math.isnan(value):
                    self.writer.add_scalar(f"epoch/{name}", value, r.epoch)

    def close(self) -> None:
        self.writer.close()


def _tensorboard(out: Path) -> _TensorBoard:
    from nnstudio.training.errors import ConfigError

    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "--tensorboard needs the tensorboard package: pip install 'nnstudio[tensorboard]'."
        ) from None
    return _TensorBoard(SummaryWriter(log_dir=str(out / "tensorboard")))
