"""File › Export: the model as files a PyTorch user can take anywhere, as ``nnstudio export`` writes them.

The user picks a folder and whose weights (the latest run's by default, any
earlier run's, or none: the code only), and may add ONNX and ``train.py``. A
folder that holds the files already is a question, in the app's words; the
export runs off the GUI thread (the first one imports torch) and ends with a
confirmation naming the folder, with a button to open it.

The compiler, and torch with it, is imported only here, when the user asks
for an export; the editor itself never needs it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from nnstudio.core import project
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel
from nnstudio.gui import dialogs
from nnstudio.gui.export_dialog import (
    MODEL_FILE,
    RECIPE_FILE,
    WEIGHTS_FILE,
    ExportOptions,
    ExportRequest,
    TrainedRun,
)
from nnstudio.training.errors import TrainingError
from nnstudio.training.run_folder import safe_stem
from nnstudio.training.runs import RunRecord, read_runs, settings_label

T = TypeVar("T")
BUSY_DELAY_MS = 400  # an export quicker than this shows no progress window


def export_graph(parent: QWidget | None, graph: GraphModel, project_path: Path | None = None) -> Path | None:
    """Ask what to export and where, write it, and confirm; report problems in a dialog.
    Returns the folder written, or None when nothing was written."""
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
    # The helper thread gets its own copy: the event loop runs meanwhile, and an edit must not
    # change the graph under it (as a training run gets its copy).
    snapshot = project.loads(project.dumps(graph))
    try:
        written = _off_the_gui_thread(parent, "Exporting…", lambda: write_export(snapshot, request))
    except (GraphError, TrainingError) as exc:  # ExportError, OnnxExportError, settings: sentences
        message = str(exc)
        if request.run is not None and "do not fit" in message:
            message = (
                f"Run {request.run.number}'s weights do not fit the network as it is now: it was "
                f"edited after that run. {message} Train it again, or export without weights."
            )
        dialogs.show_error(parent, "Cannot export", message)
        return None
    except OSError as exc:
        dialogs.show_error(parent, "Cannot export", f"Could not write to {folder}: {exc.strerror or exc}.")
        return None
    except Exception as exc:  # e.g. ONNX tooling that fails; say so rather than crash the editor
        dialogs.show_error(parent, "Export failed", f"{type(exc).__name__}: {exc}")
        return None
    dialogs.show_exported(parent, folder, [p.name for p in written], _weights_note(request))
    return folder


def write_export(graph: GraphModel, request: ExportRequest) -> list[Path]:
    """Write what ``request`` asks for, as ``nnstudio export`` does (no Qt: this runs on a helper
    thread); raises GraphError, TrainingError or OSError with a sentence."""
    from nnstudio.compiler.export import export, load_weights, read_trained_on

    if request.train_script:
        # As the command line: whatever could refuse train.py is checked before anything is written.
        from nnstudio.compiler.train_script import check_writable, generate_train_script
        from nnstudio.training.config import TrainConfig

        TrainConfig.from_settings(graph.training)
        generate_train_script(graph)
        check_writable(request.folder)
    weights = trained_on = None
    if request.run is not None:
        weights = load_weights(request.run.weights)
        trained_on = read_trained_on(request.run.weights)  # class names etc. for predict.py
    written = list(
        export(
            graph, request.folder, weights=weights, onnx=request.onnx, overwrite=False, trained_on=trained_on
        )
    )
    if request.train_script:
        from nnstudio.compiler.train_script import write_train_script

        script = write_train_script(graph, request.folder, overwrite=False)
        written += [script, *(p for p in [script.parent / RECIPE_FILE] if p.is_file())]  # train.py imports it
    return written


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


class _Done(QObject):
    finished = Signal()


def _off_the_gui_thread(parent: QWidget | None, label: str, work: Callable[[], T]) -> T:
    """Run ``work`` on a short-lived thread while the window keeps painting (a busy dialog
    after BUSY_DELAY_MS blocks input to it meanwhile); return its result or raise its error."""
    outcome: dict[str, Any] = {}
    done = _Done()
    loop = QEventLoop()
    done.finished.connect(loop.quit, Qt.ConnectionType.QueuedConnection)

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.finished.emit()

    busy = QProgressDialog(label, "", 0, 0, parent)
    busy.setCancelButton(None)  # an export half written is worse than a short wait
    busy.setWindowModality(Qt.WindowModality.WindowModal)
    busy.setMinimumDuration(BUSY_DELAY_MS)
    busy.setValue(0)
    thread = threading.Thread(target=run, name="nnstudio-export", daemon=True)
    thread.start()
    loop.exec()
    thread.join()
    busy.reset()
    busy.deleteLater()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
