"""``nnstudio sweep FILE``: search the project's parameters with Optuna, each trial in its own process.

The search space is the project's saved ``sweep`` section plus ``--param``
(which adds a target or replaces a saved one). Trials run until the study holds
``--trials`` of them, so running the same command again with the same ``--study``
finishes an interrupted sweep, and workers on several machines sharing one
``--storage`` stop together. A live table shows each trial; at the end the best
trial, the parameter importances and the best variant, written as a new project.

Exit status: 0 when the sweep ran (some trials may have failed), 1 when no trial
succeeded or the storage cannot be reached, 2 for a bad file or flag (before any
trial runs), 130 when stopped with Ctrl-C (finished trials are kept).
"""

from __future__ import annotations

import argparse
import math
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from nnstudio.commands._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    error,
    load_or_report,
    report_invalid,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sweep",
        help="search parameters and training settings with Optuna, many trials in parallel",
        description="Train many variants of a project, each in its own process, and find the best. "
        "The project file is not changed; the best variant is written as a new project.",
    )
    parser.add_argument("file", help="a .nnstudio project")
    parser.add_argument(
        "--trials",
        type=int,
        required=True,
        metavar="N",
        help="trials the study should hold (those already in a resumed study count)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="J",
        help="trials at once (one GPU each when several are present)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=RANGE",
        help="NODE.PARAM=LOW..HIGH[:log], NODE.PARAM=a,b,c or a training setting "
        "such as lr=0.0001..0.1:log; adds to or replaces the project's saved sweep",
    )
    parser.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe")
    parser.add_argument(
        "--pruner",
        choices=("median", "hyperband", "none"),
        default="median",
        help="stop trials early that do worse than others at the same epoch",
    )
    parser.add_argument(
        "--metric",
        choices=("val_acc", "val_loss"),
        help="what to optimise (default: val_acc for classification, else val_loss)",
    )
    parser.add_argument("--epochs", type=int, metavar="E", help="epochs per trial (default: the project's)")
    parser.add_argument("--device", metavar="DEVICE", help="per trial: auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, help="the sampler's seed, for a repeatable search")
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="sqlite:///FILE, postgresql://USER:PASS@HOST/DB or a journal file path "
        "(default: a journal file in the output folder)",
    )
    parser.add_argument("--study", metavar="NAME", help="study name; an existing study is resumed")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/<project>-sweeps/)")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder that relative data set paths start from (default: the project's folder)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from nnstudio.experiments import space
    from nnstudio.experiments.errors import MissingExtraError, SpaceError, StorageError, SweepError
    from nnstudio.experiments.storage import redact, require_optuna

    try:
        require_optuna()
    except MissingExtraError as exc:
        error(exc)
        return EXIT_FAILED
    graph = load_or_report(args.file)
    if graph is None:
        return EXIT_BAD_INPUT
    invalid = report_invalid(graph, args.file, "sweep")
    if invalid is not None:
        return invalid
    try:
        given = [space.parse_param(text) for text in args.param]
        dimensions = space.merge(space.from_section(graph.sweep), given)
        axes = space.resolve(dimensions, graph)
        settings = _settings(args, graph)
    except (SpaceError, SweepError) as exc:
        error(exc)
        return EXIT_BAD_INPUT

    from nnstudio.experiments import results
    from nnstudio.experiments.runner import SweepRunner
    from nnstudio.experiments.storage import default_url, open_storage
    from nnstudio.experiments.study import METRIC_WORDS, open_study

    project = Path(args.file)
    out = Path(args.out) if args.out else Path("runs") / f"{project.stem}-sweeps"
    name = args.study or f"{project.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = out / _folder_name(name)
    try:
        out.mkdir(parents=True, exist_ok=True)
        storage = open_storage(args.storage, out)
        max_epochs = _max_epochs(axes, settings, graph)
        study = open_study(storage, name, axes, settings, max_epochs)
    except StorageError as exc:
        error(exc)
        return EXIT_FAILED
    except (SweepError, OSError) as exc:
        error(exc)
        return EXIT_BAD_INPUT

    where = redact(args.storage or default_url(out))
    print(
        f"Study '{name}' in {where}: {settings.trials} trials of '{graph.name}', {settings.jobs} at a time, "
        f"{settings.sampler} sampler, {settings.pruner} pruner, best {METRIC_WORDS[settings.metric]}."
    )
    print("Swept: " + "; ".join(a.dimension.describe() for a in axes))
    table = TrialTable(sys.stdout, settings.metric)
    base_dir = Path(args.data_dir) if args.data_dir else project.parent
    runner = SweepRunner(study, graph, axes, settings, folder, base_dir=base_dir, listener=table)

    def on_signal(signum: int, frame: Any) -> None:
        if not runner.stopping:
            print(
                "\nstopping: the running trials end after their current step "
                "(press Ctrl-C again to end them now)...",
                file=sys.stderr,
            )
        runner.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = runner.run()
    except Exception as exc:
        if not _storage_failure(exc):
            raise
        # The server went away mid-sweep: the running trials are gone with this worker (the
        # next worker on the study marks them failed); the finished ones are safe in the study.
        error(f"Lost the study storage {where}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
        return EXIT_FAILED
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if outcome.nothing_to_do:
        print(
            f"The study '{name}' already holds {settings.trials} trials; pass a larger --trials to add more."
        )
    return _summary(study, graph, axes, settings, folder, name, outcome, results)


def _storage_failure(exc: BaseException) -> bool:
    """An error of the database or its driver (not a bug of ours)."""
    return type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "psycopg2", "sqlite3") or (
        type(exc).__name__ == "StorageInternalError"
    )


def _settings(args: argparse.Namespace, graph: Any) -> Any:
    from nnstudio.experiments.study import SweepSettings
    from nnstudio.training.config import TrainConfig

    metric = args.metric
    if metric is None:
        try:
            reconstructs = TrainConfig.from_settings(graph.training).target == "input"
        except ValueError:
            reconstructs = False
        metric = "val_loss" if reconstructs else "val_acc"
    return SweepSettings(
        trials=args.trials,
        jobs=args.jobs,
        sampler=args.sampler,
        pruner=args.pruner,
        metric=metric,
        epochs=args.epochs,
        device=args.device,
        seed=args.seed,
    )


def _max_epochs(axes: Any, settings: Any, graph: Any) -> int:
    for axis in axes:
        if axis.name == "epochs":
            d = axis.dimension
            return int(d.high if d.is_range else max(d.choices))
    return settings.epochs or int(graph.training.get("epochs", 10))


def _folder_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "study"


def _summary(
    study: Any, graph: Any, axes: Any, settings: Any, folder: Path, name: str, outcome: Any, results: Any
) -> int:
    from nnstudio.experiments import space
    from nnstudio.experiments.variants import describe_values

    records = results.trial_records(study)
    counts: dict[str, int] = {}
    for r in records:
        counts[r.state] = counts.get(r.state, 0) + 1
    print("Study holds " + ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items())) + ".")
    best = results.best_trial(study)
    if best is not None:
        print(
            f"Best: trial {best.number}, {METRIC_LABEL[settings.metric]} "
            f"{results.format_value(best.value, settings.metric)} with {describe_values(best.params)}."
        )
        found, why = results.importances(study)
        if found:
            print("Parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in found.items()) + ".")
        else:
            print(why)
        try:
            # The best trial's own values, checked against the project: a resumed study may
            # hold trials of targets this run's --param no longer names.
            best_axes = space.resolve(
                [space.Dimension(k, choices=(v,)) for k, v in best.params.items()], graph
            )
            path = results.write_variant(
                graph,
                best_axes,
                dict(best.params),
                folder / results.BEST_NAME,
                f"{graph.name} (best of {name})",
            )
            print(f"Best variant: {path}")
        except (OSError, ValueError) as exc:  # SpaceError is a ValueError
            print(f"warning: the best variant was not written: {exc}", file=sys.stderr)
    else:
        print("No trial completed, so there is no best variant.")
        failed = [r for r in records if r.state == "FAIL" and r.reason]
        if failed:
            print(f"Trial {failed[-1].number} failed: {failed[-1].reason}")
    if outcome.interrupted:
        print(f"Stopped; the finished trials are kept. Continue with the same command and --study {name}.")
        return EXIT_INTERRUPTED
    if not any(r.state in ("COMPLETE", "PRUNED") for r in records):
        return EXIT_FAILED
    return EXIT_OK


METRIC_LABEL = {"val_acc": "validation accuracy", "val_loss": "validation loss"}


class TrialTable:
    """The live table: a row when a trial starts and one when it ends; on a terminal, a
    status line with each running trial's latest epoch."""

    def __init__(self, stream: TextIO, metric: str) -> None:
        self.stream = stream
        self.metric = metric
        self.live = stream.isatty()
        self._epochs: dict[int, tuple[int, float]] = {}
        self._header = False
        self._status = False

    def __call__(self, event: Any) -> None:
        from nnstudio.experiments import runner
        from nnstudio.experiments.results import format_value
        from nnstudio.experiments.variants import describe_values

        if isinstance(event, runner.TrialStarted):
            self._epochs[event.number] = (0, math.nan)
            self._row(event.number, "RUNNING", "-", "-", describe_values(event.values))
        elif isinstance(event, runner.TrialEpoch):
            self._epochs[event.number] = (event.epoch, event.value)
            self._draw_status()
        elif isinstance(event, runner.TrialEnded):
            self._epochs.pop(event.number, None)
            self._row(
                event.number,
                event.state,
                format_value(event.value, self.metric),
                f"{event.seconds:.1f}s",
                describe_values(event.values),
            )
            if event.reason and event.state == "FAIL":
                self._line(f"      {event.reason}")
            self._draw_status()
        elif isinstance(event, runner.SweepNotice):
            self._line(f"note: {event.message}")

    def _row(self, number: int, state: str, value: str, seconds: str, values: str) -> None:
        if not self._header:
            self._header = True
            self._line(f"{'trial':>5}  {'state':<9} {self.metric:>8} {'time':>7}  parameters")
        self._line(f"{number:>5}  {state:<9} {value:>8} {seconds:>7}  {values}")

    def _line(self, text: str) -> None:
        if self._status:
            self.stream.write("\r\x1b[K")
            self._status = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw_status(self) -> None:
        if not self.live:
            return
        from nnstudio.experiments.results import format_value

        parts = [
            f"#{n} epoch {e} {format_value(v, self.metric)}"
            for n, (e, v) in sorted(self._epochs.items())
            if e
        ]
        self.stream.write("\r" + ("running: " + ", ".join(parts) if parts else "") + "\x1b[K")
        self.stream.flush()
        self._status = bool(parts)
