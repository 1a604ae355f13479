"""File › Export: the model as files a PyTorch user can take anywhere, as ``nnstudio export`` writes them.

The user picks a folder and whose weights (the latest run's by default, any
earlier run's, or none: the code only), and may add ONNX and ``train.py``. A
folder that holds the files already is a question, in the app's words. The
files are then written by ``nnstudio export`` in a child process
(export_worker.py), so the window stays live while torch loads and ONNX is
traced; a progress window and the status bar say it is busy, and the export
ends with a confirmation naming the folder, with a button to open it. One
export runs at a time.

The editor itself never imports torch; only the child process does.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
from collections.abc import Sequence
from pathlib import Path

import shiboken6
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QMainWindow, QProgressDialog, QWidget

from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel
from nnstudio.gui import dialogs
from nnstudio.gui.export_dialog import (
    MODEL_FILE,
    ONNX_FILE,
    WEIGHTS_FILE,
    ExportOptions,
    ExportRequest,
    TrainedRun,
)
from nnstudio.gui.export_worker import ExportFailed, ExportProcess
from nnstudio.training.run_folder import safe_stem
from nnstudio.training.runs import RunRecord, read_runs, settings_label

BUSY_DELAY_MS = 1000  # quicker exports (model.py alone: about 1 s) show only the status bar message
QUIT_WAIT_MS = 120_000  # an app quitting mid-export lets the export finish first
_running: ExportProcess | None = None  # the export in progress, in any window


def export_graph(parent: QWidget | None, graph: GraphModel, project_path: Path | None = None) -> Path | None:
    """Ask what to export and where, write it, and confirm; report problems in a dialog.
    Returns the folder written, or None when nothing was written."""
    if _refused_while_busy(parent):
        return None
    if not graph.nodes:
        dialogs.show_error(parent, "Nothing to export", "The graph is empty; add some layers first.")
        return None
    try:
        from nnstudio.compiler.codegen import generate

        generate(graph)  # no torch: a graph with a problem is refused before any question
    except GraphError as exc:
        dialogs.show_error(parent, "Cannot export yet", str(exc))
        return None
    options = ExportOptions(
        name=graph.name or "untitled",
        folder=default_folder(graph, project_path),
        runs=tuple(trained_runs(graph)),
        onnx_problem=onnx_problem(),
    )
    request = dialogs.ask_export(parent, options)
    if request is None:
        return None
    folder = _free_folder(parent, request.folder, request.files)
    if folder is None:
        return None
    request = dataclasses.replace(request, folder=folder)
    if _refused_while_busy(parent):  # another window's export began while this one asked
        return None
    try:
        written = _run_export(parent, graph, request)
        parent = parent if _alive(parent) else None  # the window may have closed meanwhile
    except ExportFailed as exc:
        parent = parent if _alive(parent) else None
        dialogs.show_error(parent, *_explained(exc, request))
        return None
    dialogs.show_exported(parent, folder, written, _weights_note(request))
    return folder


# --- what the dialog offers -------------------------------------------------------------------------


def trained_runs(graph: GraphModel) -> list[TrainedRun]:
    """The project's runs whose trained weights are still on disk, newest first."""
    found = []
    for record in reversed(read_runs(graph.runs)):
        weights = _weights_of(record)
        if weights is not None:
            latest = "" if found else " (latest)"
            found.append(
                TrainedRun(record.number, f"Run {record.number}{latest}: {_describe(record)}", weights)
            )
    return found


def _weights_of(record: RunRecord) -> Path | None:
    if record.outcome == "failed":
        return None  # its checkpoint is the last good state, not a result to hand out
    candidates = [Path(record.folder) / WEIGHTS_FILE] if record.folder else []
    if record.checkpoint:
        candidates.append(Path(record.checkpoint))  # runs from before run folders held weights
    return next((p for p in candidates if p.is_file()), None)


def _describe(record: RunRecord) -> str:
    """ "finished after 2 epochs, accuracy 97.8% · adam, lr 0.002, batch 64, 2 epochs" """
    text = record.outcome
    if record.epochs:
        last = record.epochs[-1]
        text += f" after {last.epoch} epoch{'s' if last.epoch != 1 else ''}"
        if math.isfinite(last.val_acc):
            text += f", accuracy {100 * last.val_acc:.1f}%"
        elif math.isfinite(last.val_loss):
            text += f", validation loss {last.val_loss:.4g}"
    return f"{text} · {settings_label(record.settings)}"


def default_folder(graph: GraphModel, project_path: Path | None) -> Path:
    """Beside the project file, else in the home folder: ``<name>-export``."""
    if project_path is not None:
        return project_path.parent / f"{safe_stem(project_path.stem)}-export"
    return Path.home() / f"{safe_stem(graph.name or 'untitled')}-export"


def onnx_problem() -> str | None:
    """Why this installation cannot write ONNX, or None when it can."""
    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"ONNX export needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
        'installed: pip install "nnstudio[onnx]", then restart nnstudio.'
    )


def _weights_note(request: ExportRequest) -> str:
    if request.run is not None:
        return f"Weights: run {request.run.number}'s trained weights."
    note = "No trained weights: model.py holds the network's code, untrained."
    if request.onnx:
        note += " model.onnx holds random, untrained weights."
    return note


# --- a folder that holds the files already ---------------------------------------------------------------


def clashes(folder: Path, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(files an earlier export wrote, files nnstudio did not write) among ``names`` in ``folder``.

    As the compiler's export decides: a ``.py`` file is nnstudio's when it carries the
    generated mark; weights and ONNX belong to the export whose ``model.py`` is nnstudio's."""
    existing = [n for n in names if (folder / n).exists()]
    model_is_ours = _written_by_nnstudio(folder / MODEL_FILE)
    foreign = [
        n for n in existing if not (_written_by_nnstudio(folder / n) if n.endswith(".py") else model_is_ours)
    ]
    return [n for n in existing if n not in foreign], foreign


def _written_by_nnstudio(path: Path) -> bool:
    from nnstudio.compiler.codegen import GENERATED_MARK

    try:
        with path.open(encoding="utf-8") as handle:
            return any(line.startswith(GENERATED_MARK) for line in handle)
    except (OSError, UnicodeDecodeError):
        return False


def _free_folder(parent: QWidget | None, folder: Path, names: Sequence[str]) -> Path | None:
    """``folder``, or another the user picks, where the export replaces nothing but files an
    earlier export wrote (and those only when the user says so). None: cancelled."""
    while True:
        earlier, foreign = clashes(folder, names)
        if not earlier and not foreign:
            return folder
        answer = dialogs.ask_export_clash(parent, folder, earlier, foreign)
        if answer == "replace" and not foreign:
            return folder
        if answer != "another":
            return None
        chosen = dialogs.ask_folder(parent, "Export to another folder", str(folder.parent))
        if chosen is None:
            return None
        folder = Path(chosen)


# --- running it ----------------------------------------------------------------------------------------------


def export_running() -> bool:
    """Whether an export is being written now (File › Export then says so and waits)."""
    return _running is not None


def _refused_while_busy(parent: QWidget | None) -> bool:
    if _running is None:
        return False
    dialogs.show_error(
        parent,
        "Export already running",
        f"An export to {_running.request.folder} is still being written; "
        "wait for it to finish, then export again.",
    )
    return True


def _run_export(parent: QWidget | None, graph: GraphModel, request: ExportRequest) -> list[str]:
    """Write the export in a child process while the event loop runs on (a progress window
    after BUSY_DELAY_MS keeps input from this window meanwhile); return the names written
    or raise ExportFailed."""
    global _running
    process = ExportProcess(graph, request)
    loop = QEventLoop()
    process.finished.connect(loop.quit)
    progress = _Progress(parent, request)
    _running = process
    try:
        process.start()
        if not process.done:  # a program that cannot start has ended already
            loop.exec()
        if not process.done:  # the app is quitting: let the export finish rather than cut it
            process.wait(QUIT_WAIT_MS)
    finally:
        _running = None
        progress.close()
    if process.failure is not None:
        raise process.failure
    return process.written


class _Progress:
    """A busy window (after BUSY_DELAY_MS) that counts the seconds, and a status bar message."""

    def __init__(self, parent: QWidget | None, request: ExportRequest) -> None:
        self.parent = parent
        self.started = time.monotonic()
        self.text = f"Exporting to {request.folder}…"
        if request.onnx:
            self.text += f"\nTracing {ONNX_FILE} and checking it with ONNX Runtime."
        self.dialog = QProgressDialog(self.text, "", 0, 0, parent)
        self.dialog.setWindowTitle("Exporting")
        self.dialog.setCancelButton(None)  # an export half written is worse than a short wait
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(BUSY_DELAY_MS)
        self.dialog.setValue(0)
        self.clock = QTimer()
        self.clock.setInterval(1000)
        self.clock.timeout.connect(self._tick)
        self.clock.start()
        self._say(self.text.splitlines()[0])

    def _tick(self) -> None:
        seconds = round(time.monotonic() - self.started)
        if shiboken6.isValid(self.dialog):
            self.dialog.setLabelText(f"{self.text}\n{seconds} s")

    def _say(self, message: str) -> None:
        window = self.parent.window() if _alive(self.parent) else None
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(message)

    def close(self) -> None:
        self.clock.stop()
        if shiboken6.isValid(self.dialog):  # gone with its parent if the window closed meanwhile
            self.dialog.reset()
            self.dialog.deleteLater()
        self._say("")


def _alive(widget: QWidget | None) -> bool:
    return widget is not None and shiboken6.isValid(widget)


def _explained(failure: ExportFailed, request: ExportRequest) -> tuple[str, str]:
    """(title, sentence) for the error dialog."""
    message = str(failure)
    if failure.kind == "os":
        return "Cannot export", f"Could not write to {request.folder}: {failure.reason}."
    if failure.kind == "crashed":
        return "Export failed", message
    if request.run is not None and "do not fit" in message:
        message = (
            f"Run {request.run.number}'s weights do not fit the network as it is now: it was "
            f"edited after that run. {message} Train it again, or export without weights."
        )
    return "Cannot export", message
