"""``nnstudio sweep`` as a child process of the app (QProcess): the study never runs on the
GUI thread, and a crash of the sweep or of a trial cannot take the editor down."""

from __future__ import annotations

import sys
from collections import deque

from PySide6.QtCore import QObject, QProcess, Signal


class SweepProcess(QObject):
    """Starts, stops and listens to one sweep at a time."""

    line = Signal(str)  # each line the sweep prints
    finished = Signal(int)  # its exit status (130: stopped; see nnstudio.commands.sweep)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.output: deque[str] = deque(maxlen=200)
        self._partial = ""
        self._stops = 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, arguments: list[str]) -> None:
        """Run ``python -m nnstudio sweep ARGUMENTS``."""
        if self.running:
            raise RuntimeError("A sweep is already running.")
        self.output.clear()
        self._partial = ""
        self._stops = 0
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._on_output)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self.process = process
        # The app folder built by PyInstaller is the nnstudio command itself.
        prefix = [] if getattr(sys, "frozen", False) else ["-m", "nnstudio"]
        process.start(sys.executable, [*prefix, "sweep", *arguments])

    def stop(self) -> None:
        """Ask the sweep to stop (its trials end after their current step, finished trials
        are kept); asked twice, the sweep ends its trials at once."""
        if self.running:
            self._stops += 1
            self.process.terminate()  # SIGTERM: the sweep stops cleanly, like Ctrl-C

    def wait(self, msecs: int = 30_000) -> bool:
        return self.process is None or self.process.waitForFinished(msecs)

    def _on_output(self) -> None:
        data = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        text = self._partial + data.replace("\r", "\n")
        *lines, self._partial = text.split("\n")
        for line in lines:
            if line.strip():
                self.output.append(line)
                self.line.emit(line)

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._on_output()
        if self._partial.strip():
            self.output.append(self._partial)
            self.line.emit(self._partial)
            self._partial = ""
        crashed = status == QProcess.ExitStatus.CrashExit
        self.finished.emit(1 if crashed and code == 0 else code)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            message = f"The sweep could not start: {self.process.errorString()}."
            self.output.append(message)
            self.line.emit(message)
            self.finished.emit(1)
