"""A training run's folder: what ``nnstudio train`` and a run in the app both leave behind.

    <run folder>/checkpoint.pt          after epochs, at most every 2 s, the last and a stop (the trainer)
                 metrics.csv            one row per epoch (``MetricsWriter``)
                 model.py               the trained model, taking raw inputs (``export_trained``)
                 weights.safetensors
                 predict.py

The command line and the app's training worker both use this module, so a run
leaves the same files whichever started it. No Qt here, and torch only inside
the functions that need it: the editor imports this module to read run records.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from nnstudio.core.atomic import write_atomic

if TYPE_CHECKING:
    import torch

    from nnstudio.compiler.export import TrainedOn
    from nnstudio.core.graph import GraphModel

METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = "checkpoint.pt"  # the trainer's CHECKPOINT_NAME
WEIGHTS_FILE = "weights.safetensors"  # the compiler's export.WEIGHTS_FILE
RUN_FILES = (METRICS_FILE, "model.py", WEIGHTS_FILE, "predict.py", CHECKPOINT_FILE)  # in the order named


# --- the folder ------------------------------------------------------------------------------------


def safe_stem(text: str) -> str:
    """A project or graph name as a folder name: letters, digits, '-' and '_' only."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_").lower()
    return stem or "untitled"


def new_run_folder(root: str | Path, stem: str, number: int | None = None) -> Path:
    """Create and return ``root/<stem>-<time>[-<number>]/``; never one that already exists."""
    name = f"{safe_stem(stem)}-{time.strftime('%Y%m%d-%H%M%S')}" + (f"-{number}" if number else "")
    folder = Path(root) / name
    extra = 1
    while folder.exists():  # two runs in the same second (or a clock set back)
        extra += 1
        folder = Path(root) / f"{name}.{extra}"
    folder.mkdir(parents=True)
    return folder


def folder_summary(folder: Path) -> str:
    """ "Run folder: DIR (metrics.csv, model.py, weights.safetensors, predict.py, checkpoint.pt)."
    with the run's files that are there: the same words from the command line and the app."""
    present = [name for name in RUN_FILES if (Path(folder) / name).exists()]
    return f"Run folder: {folder}" + (f" ({', '.join(present)})." if present else ".")


# --- metrics.csv ---------------------------------------------------------------------------------------


class MetricsWriter:
    """A training listener that keeps ``metrics.csv`` (one row per epoch) up to date.

    When a run starts, the file is written whole, atomically: a resumed run's file holds
    the epochs from before the resume too. Each epoch then appends its row. Rewriting the
    file (and flushing it to disk) after every epoch cost mlp_circles 17% of its training
    time at 400 epochs, more with every epoch."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: TextIO | None = None  # open for appending from the run's start to its end

    def __call__(self, event: Any) -> None:
        from nnstudio.training import events

        if isinstance(event, events.RunStarted):
            self._start(event.history.epochs)
        elif isinstance(event, events.EpochEnded):
            if self._file is None:
                self._start([])
            self._file.write(_row(event.record))
            self._file.flush()  # to the system at once: a crash loses no epoch
        elif isinstance(event, events.Finished | events.Failed):
            self.close()

    def _start(self, earlier: list[Any]) -> None:
        from nnstudio.training.events import EpochRecord

        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        header = _csv_line(EpochRecord.CSV_COLUMNS)
        write_atomic(self.path, header + "".join(_row(record) for record in earlier))
        self._file = self.path.open("a", encoding="utf-8", newline="")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _row(record: Any) -> str:
    return _csv_line([_cell(v) for v in record.as_dict().values()])


def _csv_line(cells: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def _cell(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return "" if math.isnan(value) else f"{value:.6g}"


# --- the trained model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedRun:
    """What ``export_trained`` wrote, or why it wrote nothing (the run itself succeeded)."""

    written: tuple[Path, ...] = ()
    problem: str | None = None


def export_trained(
    graph: GraphModel, model: torch.nn.Module, folder: Path, trained_on: TrainedOn | None = None
) -> ExportedRun:
    """``model.py``, ``weights.safetensors`` and ``predict.py`` of the trained ``model`` into the
    run folder, as ``nnstudio export`` writes them. Never raises: a run that trained well is not
    failed by its export; ``problem`` says why nothing was written."""
    try:
        from nnstudio.compiler.export import export
    except ImportError as exc:
        return ExportedRun(problem=f"this installation cannot export: {exc}")
    try:
        written = export(graph, folder, weights=model, overwrite=False, trained_on=trained_on)
    except Exception as exc:  # e.g. a full disk, or someone's model.py in --out
        return ExportedRun(problem=str(exc) or type(exc).__name__)
    return ExportedRun(tuple(written))


# --- the Input's preprocessing statistics -----------------------------------------------------------------

SHIFT, SCALE = "shift", "scale"  # the generated Preprocess module's buffers: (x - shift) / scale
_KEPT_VALUES = 8  # per-channel values kept in a run record; beyond that only their range


def preprocessing_statistics(graph: GraphModel, state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per Input node id, a small JSON-safe summary of its preprocessing buffers in ``state``
    (a state dict): ``{"count": n, "shift": [...], "scale": [...]}``, values rounded, at most a
    few of them (then ``shift`` and ``scale`` hold ``[min, max]`` and ``"range": True``).
    Inputs without such buffers (old graphs, preprocessing "none") are left out."""
    try:
        from nnstudio.compiler.codegen import generate

        attr_of = generate(graph).attr_of
    except Exception:  # nothing to say about a graph that does not compile
        return {}
    found: dict[str, dict[str, Any]] = {}
    for node in graph.nodes.values():
        if node.spec.role != "input":
            continue
        prefix = attr_of.get(node.id)
        shift, scale = state.get(f"{prefix}.{SHIFT}"), state.get(f"{prefix}.{SCALE}")
        if prefix and shift is not None and scale is not None:
            found[node.id] = _summary(_floats(shift), _floats(scale))
        elif _input_count(graph) == 1 and (only := _only_buffers(state)) is not None:
            found[node.id] = _summary(*only)  # one Input, one Preprocess: whatever its attribute
    return found


def _only_buffers(state: Mapping[str, Any]) -> tuple[list[float], list[float]] | None:
    """The one pair of ``*.shift``/``*.scale`` buffers in ``state``, when there is exactly one."""
    prefixes = {k[: -len(SHIFT) - 1] for k in state if k.endswith("." + SHIFT)}
    pairs = [p for p in prefixes if f"{p}.{SCALE}" in state]
    if len(pairs) != 1:
        return None
    return _floats(state[f"{pairs[0]}.{SHIFT}"]), _floats(state[f"{pairs[0]}.{SCALE}"])


def _input_count(graph: GraphModel) -> int:
    return sum(1 for n in graph.nodes.values() if n.spec.role == "input")


def _floats(values: Any) -> list[float]:
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    if hasattr(values, "ravel"):
        values = values.ravel().tolist()
    elif not isinstance(values, list | tuple):
        values = [values]
    return [float(v) for v in values]


def _summary(shift: list[float], scale: list[float]) -> dict[str, Any]:
    def rounded(values: list[float]) -> list[float]:
        return [float(f"{v:.4g}") if math.isfinite(v) else 0.0 for v in values]

    if len(shift) <= _KEPT_VALUES and len(scale) <= _KEPT_VALUES:
        return {"count": max(len(shift), len(scale)), SHIFT: rounded(shift), SCALE: rounded(scale)}
    return {
        "count": max(len(shift), len(scale)),
        "range": True,
        SHIFT: rounded([min(shift), max(shift)]),
        SCALE: rounded([min(scale), max(scale)]),
    }


_WAYS = {  # the Input's ``normalize`` setting -> (sentence start, name of shift, name of scale)
    "standard": ("Standardised", "mean", "std"),
    "minmax": ("Scaled to 0–1", "min", "range"),
}


def describe_preprocessing(graph: GraphModel, node_id: str) -> str:
    """One sentence on the statistics the latest run with any computed for this Input, e.g.
    "Standardised per channel with the training split's statistics (run 3): mean 4.88, std 6.02."
    Empty when no run recorded any (old runs, never trained, preprocessing off)."""
    node = graph.nodes.get(node_id)
    if node is None:
        return ""
    for record in reversed(graph.runs):
        stats = record.get("preprocessing", {}).get(node_id) if isinstance(record, dict) else None
        if not isinstance(stats, dict):
            continue
        try:
            return _sentence(node.params, int(record.get("number", 0)), stats)
        except (KeyError, TypeError, ValueError):
            return ""
    return ""


def _sentence(params: Mapping[str, Any], number: int, stats: Mapping[str, Any]) -> str:
    from nnstudio.core.layers import preprocessing

    way, per = preprocessing(params) or (str(params.get("normalize", "")), "")
    start, shift_name, scale_name = _WAYS.get(way, ("Normalised", "shift", "scale"))
    per_text = f" per {per}" if per in ("channel", "feature", "element") else ""
    count = int(stats["count"])

    def values(key: str) -> str:
        numbers = [float(v) for v in stats[key]]
        if stats.get("range"):
            return f"{numbers[0]:.3g} to {numbers[1]:.3g}"
        return ", ".join(f"{v:.3g}" for v in numbers)

    run = f" (run {number})" if number else ""
    over = f" over {count:,} values" if stats.get("range") else ""
    return (
        f"{start}{per_text} with the training split's statistics{run}: "
        f"{shift_name} {values(SHIFT)}, {scale_name} {values(SCALE)}{over}."
    )
