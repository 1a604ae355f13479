"""Closing the window while a network trains: ask, and never lose the run.

``CloseGuard.may_close()`` is the window's first question in ``closeEvent``.
With no run going it says yes. During a run it asks the user:

- **Stop and close**: the run stops after its current step and writes its
  checkpoint; once it has ended it is recorded in the project as *stopped*
  (an undoable edit, so the usual "save changes?" question follows) and the
  window closes.
- **Keep training**: the window stays while the run goes on, and closes by
  itself when the run ends (recorded as any finished run).
- **Cancel**: nothing changes.

The window never blocks while the step finishes: it closes on the
controller's ``run_finished``, after the run has been recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

if TYPE_CHECKING:
    from nnstudio.gui.training.controller import TrainingController

STOP, KEEP, CANCEL = "stop", "keep", "cancel"


def ask_about_run(parent: QWidget, state: str) -> str:
    """STOP, KEEP or CANCEL, from a question the user can answer without reading twice."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Training is running")
    doing = "is paused" if state == "paused" else "is still training"
    box.setText(f"The network {doing}. Stop the run and close the window?")
    box.setInformativeText(
        "Stopping saves a checkpoint and records the run in the project as stopped, so "
        "you can resume it later. Or keep training: the window closes when the run ends."
    )
    stop = box.addButton("Stop and Close", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep Training", QMessageBox.ButtonRole.ActionRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(stop)
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    return STOP if clicked is stop else KEEP if clicked is keep else CANCEL


class CloseGuard(QObject):
    """See the module docstring; ``window.close()`` is called again once the run has ended."""

    def __init__(self, window: QWidget, training: TrainingController) -> None:
        super().__init__(window)
        self.window = window
        self.training = training
        self.close_when_done = False
        training.run_finished.connect(self._on_run_finished)

    @property
    def run_going(self) -> bool:
        return self.training.state != "idle" or self.training.running

    def may_close(self) -> bool:
        """True when the window may close now; False keeps it (a run goes on or ends first)."""
        if not self.run_going:
            return True
        if self.close_when_done:  # asked already: the window is waiting for the run to end
            self._say_waiting()
            return False
        choice = ask_about_run(self.window, self.training.state)
        if choice == CANCEL:
            return False
        self.close_when_done = True
        if choice == STOP:
            self.training.stop()
        self._say_waiting()
        return False

    def _say_waiting(self) -> None:
        status = getattr(self.window, "statusBar", None)
        if status is not None:
            text = (
                "Stopping the run; the window closes once its checkpoint is saved."
                if self.training.state == "stopping"
                else "The window closes when the run ends."
            )
            status().showMessage(text, 10_000)

    def _on_run_finished(self, _outcome: object) -> None:
        if self.close_when_done:
            self.close_when_done = False
            # After the handlers of this signal: the run is recorded, the editor unlocked.
            QTimer.singleShot(0, self.window.close)
