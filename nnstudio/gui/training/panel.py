"""The training panel: settings, a look at the data, start/pause/stop, progress and messages.

The panel only shows state and asks for things (its ``*_requested`` signals);
the controller owns the run. Progress reads "epoch 3/15 · step 345/1,350 ·
2,345 samples/s · 0:12 left"; messages say what happened in sentences (a
notice, which layers kept their weights, why a run stopped).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from nnstudio.gui import dialogs, theme
from nnstudio.gui.training.images import describe_sample, sample_picture
from nnstudio.gui.training.progress_widgets import ProgressBar, SampleRate, StatusText
from nnstudio.gui.training.settings_form import SettingsForm
from nnstudio.gui.training.tiles import TileGrid
from nnstudio.training.events import Finished, Progress
from nnstudio.training.preview import DataPreview
from nnstudio.training.run_folder import folder_summary

STATES = ("idle", "starting", "running", "paused", "stopping")


def clock(seconds: float) -> str:
    """0:42, 12:05, 1:02:03; "--:--" when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(p: Progress, rate: str | None = None) -> str:
    """``rate``: the speed as SampleRate words it (the last measured rate, "paused")."""
    rate = rate if rate is not None else f"{p.samples_per_second:,.0f} samples/s"
    return f"epoch {p.epoch}/{p.epochs} · step {p.step:,}/{p.total_steps:,} · {rate} · {clock(p.eta)} left"


def finished_text(final: Finished) -> str:
    """ "Finished after 15 epochs in 4.1 s: validation loss 0.0328, accuracy 99.2%." """
    epochs = final.history.epochs
    if not epochs:
        ended = "Stopped before the first epoch ended"
        return f"{ended}; the checkpoint is {final.checkpoint}." if final.checkpoint else f"{ended}."
    last = epochs[-1]
    text = (
        f"{'Stopped' if final.stopped else 'Finished'} after {last.epoch} epoch{'s' if last.epoch != 1 else ''} "
        f"in {final.seconds:.1f} s: validation loss {last.val_loss:.4f}"
    )
    if math.isfinite(last.val_acc):
        text += f", accuracy {100 * last.val_acc:.1f}%"
    text += "."
    if final.stopped and final.checkpoint:
        text += f" Checkpoint: {final.checkpoint}."
    return text


def run_folder_text(outcome: Any) -> str:
    """ "Run folder: /…/digits_cnn-20261201-163005-3 (metrics.csv, model.py, …)." as the
    command line says it, and why the trained model is missing when it is."""
    text = folder_summary(outcome.run_dir)
    if outcome.export_problem:
        text += f" The trained model was not exported there: {outcome.export_problem}"
    return text


class TrainingPanel(QWidget):
    start_requested = Signal()
    continue_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = "idle"
        self.form = SettingsForm()
        settings_box = QGroupBox("Settings")
        QVBoxLayout(settings_box).addWidget(self.form)

        self.preview_text = QLabel("The data set is read when this panel is first shown.")
        self.preview_text.setWordWrap(True)
        self.preview_tiles = TileGrid(min_tile=8)
        self.preview_tiles.setMinimumHeight(70)
        self.preview_tiles.setMaximumHeight(110)
        self.preview_tiles.set_empty_text("")
        data_box = QGroupBox("Data")
        data_layout = QVBoxLayout(data_box)
        data_layout.addWidget(self.preview_text)
        data_layout.addWidget(self.preview_tiles)

        self.start_button = QPushButton("Train")
        self.start_button.setToolTip("Train the network from freshly initialised weights")
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip(
            "Train on from the last run's weights; layers you changed start fresh"
        )
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step and save a checkpoint")
        self.start_button.clicked.connect(self.start_requested)
        self.continue_button.clicked.connect(self.continue_requested)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.stop_button.clicked.connect(self.stop_requested)
        buttons = QGridLayout()  # two by two: the dock is narrow
        buttons.addWidget(self.start_button, 0, 0)
        buttons.addWidget(self.continue_button, 0, 1)
        buttons.addWidget(self.pause_button, 1, 0)
        buttons.addWidget(self.stop_button, 1, 1)

        self.progress = ProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.status = StatusText("Ready to train.")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # Where the last run left its files: a link, and a button for those who miss links.
        self.run_folder: Path | None = None
        self.folder_text = QLabel("")
        self.folder_text.setWordWrap(True)
        self.folder_text.setTextFormat(Qt.TextFormat.RichText)
        self.folder_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.folder_text.linkActivated.connect(lambda *_: self.open_run_folder())
        self.folder_button = QPushButton("Open Run Folder")
        self.folder_button.setToolTip(
            "Show the run's files (metrics, checkpoint, trained model) in the file manager"
        )
        self.folder_button.clicked.connect(self.open_run_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_button)
        folder_row.addStretch(1)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(settings_box)
        layout.addWidget(data_box)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.message)
        layout.addWidget(self.folder_text)
        layout.addLayout(folder_row)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # fit the dock's width
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.can_continue = False
        self.continue_label = "Continue"
        self.rate = SampleRate()
        self._last_progress: Progress | None = None
        self.show_run_folder(None)
        self.set_state("idle")

    # --- state -----------------------------------------------------------------------------

    def set_state(self, state: str) -> None:
        assert state in STATES, state
        self.state = state
        idle = state == "idle"
        self.start_button.setEnabled(idle)
        self.continue_button.setEnabled(idle and self.can_continue)
        self.continue_button.setText(self.continue_label)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(state in ("starting", "running", "paused"))
        self.form.setEnabled(idle)
        if state == "starting":
            self.rate.reset()
            self._last_progress = None
            self.status.setText("Preparing: compiling the network and reading the data…")
        elif state in ("running", "paused") and self._last_progress is not None:
            self.show_progress(self._last_progress)  # "paused" in place of the rate, or the rate again
        elif state == "stopping":
            self.status.setText("Stopping after this step and saving a checkpoint…")

    def set_continue(self, possible: bool, label: str = "Continue", tip: str = "") -> None:
        self.can_continue = possible
        self.continue_label = label
        if tip:
            self.continue_button.setToolTip(tip)
        self.set_state(self.state)

    def _on_pause_clicked(self) -> None:
        if self.state == "paused":
            self.resume_requested.emit()
        else:
            self.pause_requested.emit()

    # --- progress and messages ----------------------------------------------------------------

    def show_progress(self, progress: Progress) -> None:
        self._last_progress = progress
        self.progress.setValue(round(1000 * progress.fraction))
        self.status.setText(progress_text(progress, self.rate.text(progress.samples_per_second, self.state)))

    def show_message(self, text: str, kind: str = "info") -> None:
        """``kind``: "info", "notice" (a yellow note) or "error" (red)."""
        colour = {"error": theme.current().error, "notice": theme.current().warning}.get(kind)
        self.message.setStyleSheet(f"color: {colour};" if colour else "")
        self.message.setText(text)

    def show_run_folder(self, folder: Path | None, text: str = "", kind: str = "info") -> None:
        """Name the run folder (a link) with an Open button; ``None`` hides both."""
        self.run_folder = folder
        self.folder_text.setVisible(folder is not None)
        self.folder_button.setVisible(folder is not None)
        if folder is None:
            self.folder_text.clear()
            return
        colour = theme.current().warning if kind == "notice" else None
        self.folder_text.setStyleSheet(f"color: {colour};" if colour else "")
        shown = html.escape(str(folder))
        self.folder_text.setText(
            html.escape(text).replace(shown, f'<a href="{folder.absolute().as_uri()}">{shown}</a>', 1)
        )

    def open_run_folder(self) -> None:
        if self.run_folder is not None:
            dialogs.open_folder(self.run_folder)

    def add_message(self, text: str, kind: str = "notice") -> None:
        """Append a line to the messages (notices during a run)."""
        current = self.message.text()
        self.show_message(f"{current}\n{text}" if current else text, kind)

    def show_preview(self, preview: DataPreview) -> None:
        if not preview.ok:
            self.preview_text.setStyleSheet(f"color: {theme.current().error};")
            self.preview_text.setText(preview.summary)
            self.preview_tiles.set_empty_text("")
            return
        self.preview_text.setStyleSheet("")
        self.preview_text.setText(f"{preview.summary}. Task: {preview.target}.")
        pictures = [sample_picture(s) for s in preview.samples]
        if pictures and all(p is not None for p in pictures):
            self.preview_tiles.set_tiles(pictures, list(preview.labels), columns=len(pictures))
        else:
            lines = [
                f"{describe_sample(s)}{' → ' + label if label else ''}"
                for s, label in zip(preview.samples[:4], preview.labels[:4], strict=False)
            ]
            self.preview_tiles.set_empty_text("\n".join(lines))
