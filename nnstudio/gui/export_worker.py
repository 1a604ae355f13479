"""File › Export's writing, done by ``nnstudio export`` in a child process.

Why a process and not a thread: an export imports torch (the first time in a
session) and, for ONNX, traces the model and checks it with ONNX Runtime. Both
hold the GIL for stretches of a second and more, so on a helper thread the
window still froze. A child process shares nothing with the GUI thread, and
``nnstudio export`` is the command line's own code: what the app writes is what
the CLI writes, file for file.

The graph goes to the child as a project file snapshot taken when the export
starts, so edits made while it runs do not change what is written.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from nnstudio.core import project
from nnstudio.core.graph import GraphModel
from nnstudio.gui.export_dialog import RECIPE_FILE, TRAIN_FILE, ExportRequest
from nnstudio.training.run_folder import safe_stem

_OS_ERROR = re.compile(r"\[Errno -?\d+\] (?P<reason>[^:]+)")  # how the CLI prints an OSError


class ExportFailed(Exception):
    """The export did not finish. ``kind`` says how: "refused" (the export's own sentence:
    weights that do not fit, settings train.py cannot have), "os" (the file system; ``reason``
    is its word for it, e.g. "Permission denied") or "crashed" (anything else)."""

    def __init__(self, kind: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason


def nnstudio_command(arguments: list[str]) -> tuple[str, list[str]]:
    """Program and arguments that run ``nnstudio ARGUMENTS`` with this installation.

    The PyInstaller app folder has no ``python -m``: its executable is the nnstudio
    command itself (packaging/nnstudio_app.py hands its arguments to nnstudio.cli).
    Elsewhere it is this very Python with ``-m nnstudio``, so a virtual environment's
    nnstudio runs, not whichever is first on PATH."""
    prefix = [] if getattr(sys, "frozen", False) else ["-m", "nnstudio"]
    return sys.executable, [*prefix, *arguments]


def export_arguments(project_file: Path, request: ExportRequest) -> list[str]:
    """``export`` and the flags that write what ``request`` asks for. No ``--force``: the
    dialog has already asked about files an earlier export wrote, and files nnstudio did
    not write are never replaced."""
    arguments = ["export", str(project_file), "-o", str(request.folder)]
    if request.run is not None:
        arguments += ["--weights", str(request.run.weights)]
    if request.onnx:
        arguments.append("--onnx")
    if request.train_script:
        arguments.append("--train-script")
    return arguments


class ExportProcess(QObject):
    """One export, run by a child process. After ``finished``: ``written`` holds the names
    of the files written, or ``failure`` says why there are none."""

    finished = Signal()

    def __init__(self, graph: GraphModel, request: ExportRequest, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self.written: list[str] = []
        self.failure: ExportFailed | None = None
        self.done = False
        self._snapshot = project.dumps(graph)  # now, before any later edit
        self._name = safe_stem(graph.name or "untitled")
        self._temp: Path | None = None
        self._process: QProcess | None = None

    def start(self) -> None:
        try:
            self._temp = Path(tempfile.mkdtemp(prefix="nnstudio-export-"))
            project_file = self._temp / f"{self._name}.nnstudio"
            project_file.write_text(self._snapshot, encoding="utf-8")
        except OSError as exc:
            self.failure = ExportFailed(
                "crashed",
                f"nnstudio could not write the copy of the project its export process reads, in "
                f"{tempfile.gettempdir()}: {exc.strerror or exc}.",
            )
            self._end()
            return
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONIOENCODING", "utf-8")  # folder names in any language
        process.setProcessEnvironment(environment)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        program, arguments = nnstudio_command(export_arguments(project_file, self.request))
        process.start(program, arguments)

    def wait(self, msecs: int) -> bool:
        """Block until the child ends (only for an app quitting mid-export: a half-written
        export is worse than a short wait)."""
        if self._process is not None and not self.done:
            self._process.waitForFinished(msecs)
        return self.done

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        out = bytes(self._process.readAllStandardOutput()).decode("utf-8", "replace")
        err = bytes(self._process.readAllStandardError()).decode("utf-8", "replace")
        if status == QProcess.ExitStatus.NormalExit and code == 0:
            self.written = _written(out)
        else:
            self.failure = _failure(code, status == QProcess.ExitStatus.CrashExit, err)
        self._end()

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:  # no finished signal follows
            self.failure = ExportFailed(
                "crashed",
                f"nnstudio could not start its export process ({self._process.program()}): "
                f"{self._process.errorString()}.",
            )
            self._end()

    def _end(self) -> None:
        if self.done:
            return
        self.done = True
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
        self.finished.emit()


def _written(stdout: str) -> list[str]:
    """File names from the CLI's "wrote PATH" lines; train.py's recipe beside it, which
    the CLI writes without a line of its own."""
    names = [Path(line[len("wrote ") :]).name for line in stdout.splitlines() if line.startswith("wrote ")]
    if TRAIN_FILE in names:
        names.append(RECIPE_FILE)
    return names


def _failure(code: int, crashed: bool, stderr: str) -> ExportFailed:
    """What went wrong, from how the CLI ended and what it printed on stderr."""
    lines = stderr.rstrip().splitlines()
    if crashed:
        return ExportFailed("crashed", "The export process stopped unexpectedly before it finished.")
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        return ExportFailed("crashed", lines[-1].strip())  # "SomeError: what", as Python ends it
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    if not starts:
        detail = lines[-1].strip() if lines else f"exit status {code}"
        return ExportFailed("crashed", f"The export ended with exit status {code}: {detail}")
    message = "\n".join(lines[starts[-1] :])[len("error: ") :].strip()  # a message may span lines
    os_error = _OS_ERROR.match(message)
    if os_error:
        return ExportFailed("os", message, os_error["reason"].strip())
    return ExportFailed("refused", message)
