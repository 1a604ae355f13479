"""The Experiments panel: the open project's search space, a sweep started and stopped, its
trials in a table and three plots, and a trial applied to the project or opened as a new one.

The sweep is ``nnstudio sweep`` in its own process (``SweepProcess``): it writes the study
to a journal file, and the panel reads that file once a second while it runs. So the GUI
thread never trains or samples, a crashing trial cannot touch the editor, and what the
panel shows is exactly what Optuna (or optuna-dashboard) reads from the same file.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core import project
from nnstudio.experiments import space, variants
from nnstudio.experiments.errors import SpaceError, SweepError
from nnstudio.experiments.results import TrialRecord, format_value
from nnstudio.gui import settings as app_settings
from nnstudio.gui import theme
from nnstudio.gui.experiments.plots import MetricScatter, ParallelCoordinates, TrialCurves
from nnstudio.gui.experiments.process import SweepProcess
from nnstudio.gui.experiments.study_reader import StudyReader, StudySnapshot
from nnstudio.gui.experiments.table import NUMBER_ROLE, STATES, TrialFilter, TrialTableModel
from nnstudio.gui.experiments.undo import ApplyTrialCommand, SetSweepCommand

if TYPE_CHECKING:
    from nnstudio.gui.main_window import MainWindow

POLL_MS = 1000
TRIAL_RUN_KEY = 10_000  # trials shown in the Metrics plots get keys above every run number


class ExperimentsPanel(QWidget):
    """See the module docstring."""

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.process = SweepProcess(self)
        self.process.finished.connect(self._on_finished)
        self.process.line.connect(self._on_line)
        self.reader: StudyReader | None = None
        self._sweep_document: Any = None  # the document whose design the shown study sweeps
        self.snapshot: StudySnapshot | None = None
        self.study_folder: Path | None = None
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.refresh)
        self._build()
        self._bound: Any = None
        self.window.document_changed.connect(self._bind)
        self._bind(self.window.document)
        self._update_buttons()

    def _bind(self, document: Any) -> None:
        """Follow the open document's search space, through edits, undo and redo."""
        if self._bound is not None:
            with contextlib.suppress(RuntimeError):  # the old document may be gone already
                self._bound.undo_stack.indexChanged.disconnect(self.show_space)
        self._bound = document
        document.undo_stack.indexChanged.connect(self.show_space)
        self.show_space()
        # An autoencoder has no accuracy: its sweeps minimise the validation loss.
        reconstructs = document.graph.training.get("target") == "input"
        self.metric.setCurrentText("val_loss" if reconstructs else "val_acc")

    # --- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        # Search space: what the project saves; edits are undoable.
        self.space_list = QListWidget()
        self.space_list.setObjectName("sweep_space")
        self.space_list.setMaximumHeight(110)
        self.space_edit = QLineEdit()
        self.space_edit.setObjectName("sweep_param")
        self.space_edit.setPlaceholderText(
            "hidden.out_features=8..64   lr=0.0001..0.1:log   optimizer=adam,sgd"
        )
        self.space_edit.returnPressed.connect(self.add_dimension)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_dimension)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_dimension)
        add_row = QHBoxLayout()
        add_row.addWidget(self.space_edit, 1)
        add_row.addWidget(self.add_button)
        add_row.addWidget(self.remove_button)
        space_box = QGroupBox("Search space (saved in the project)")
        space_layout = QVBoxLayout(space_box)
        space_layout.addWidget(self.space_list)
        space_layout.addLayout(add_row)

        # How to search.
        self.trials = QSpinBox(minimum=1, maximum=100_000, value=20)
        self.jobs = QSpinBox(
            minimum=1, maximum=max(1, os.cpu_count() or 1), value=min(2, os.cpu_count() or 1)
        )
        self.epochs = QSpinBox(minimum=0, maximum=100_000, value=0)
        self.epochs.setSpecialValueText("the project's")
        self.sampler = QComboBox()
        self.sampler.addItems(["tpe", "random", "grid"])
        self.pruner = QComboBox()
        self.pruner.addItems(["median", "hyperband", "none"])
        self.metric = QComboBox()
        self.metric.addItems(["val_acc", "val_loss"])
        form = QFormLayout()
        form.addRow("Trials", self.trials)
        form.addRow("At once", self.jobs)
        form.addRow("Epochs per trial", self.epochs)
        form.addRow("Sampler", self.sampler)
        form.addRow("Pruner", self.pruner)
        form.addRow("Metric", self.metric)
        self.start_button = QPushButton("Start Sweep")
        self.start_button.setObjectName("start_sweep")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        form.addRow(buttons)

        self.status = QLabel("No sweep yet.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(space_box)
        left_layout.addLayout(form)
        left_layout.addWidget(self.status)
        left_layout.addStretch(1)

        # Trials.
        self.model = TrialTableModel()
        self.proxy = TrialFilter()
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setObjectName("trials")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(lambda _: self.show_curves_in_metrics())
        self.state_filter = QComboBox()
        self.state_filter.setObjectName("state_filter")
        self.state_filter.addItem("All trials", [])
        for state in STATES:
            self.state_filter.addItem(state.capitalize(), [state])
        self.state_filter.currentIndexChanged.connect(
            lambda _: self.proxy.set_states(set(self.state_filter.currentData()))
        )
        self.apply_button = QPushButton("Apply to Project")
        self.apply_button.setToolTip("Give the project this trial's values (one undo step).")
        self.apply_button.clicked.connect(self.apply_selected)
        self.open_button = QPushButton("Open as New Project")
        self.open_button.clicked.connect(self.open_selected)
        self.metrics_button = QPushButton("Show in Metrics")
        self.metrics_button.setToolTip("Overlay this trial's curves on the training plots.")
        self.metrics_button.clicked.connect(self.show_curves_in_metrics)
        table_top = QHBoxLayout()
        table_top.addWidget(QLabel("Show"))
        table_top.addWidget(self.state_filter)
        table_top.addStretch(1)
        table_bottom = QHBoxLayout()
        table_bottom.addWidget(self.apply_button)
        table_bottom.addWidget(self.open_button)
        table_bottom.addWidget(self.metrics_button)
        table_bottom.addStretch(1)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addLayout(table_top)
        middle_layout.addWidget(self.table, 1)
        middle_layout.addLayout(table_bottom)

        # Plots.
        self.parallel = ParallelCoordinates()
        self.scatter = MetricScatter()
        self.scatter.trial_clicked.connect(self.select_trial)
        self.curves = TrialCurves()
        self.plots = QTabWidget()
        self.plots.addTab(self.parallel, "Parallel coordinates")
        self.plots.addTab(self.scatter, "Metric vs parameter")
        self.plots.addTab(self.curves, "Per epoch")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(middle)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([300, 520, 520])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    # --- the search space -----------------------------------------------------------------------

    @property
    def document(self) -> Any:
        return self.window.document

    def dimensions(self) -> list[space.Dimension]:
        return space.from_section(self.document.graph.sweep)

    def show_space(self, *_: Any) -> None:
        self.space_list.clear()
        for d in self.dimensions():
            self.space_list.addItem(d.describe())
        if not self.space_list.count():
            self.space_list.addItem(
                "Nothing yet: add NODE.PARAM=LOW..HIGH below, or mark a parameter in the Inspector."
            )
            self.space_list.item(0).setFlags(Qt.ItemFlag.NoItemFlags)

    def add_dimension(self) -> None:
        text = self.space_edit.text().strip()
        if not text:
            return
        try:
            dimension = space.parse_param(text)
            space.resolve([dimension], self.document.graph)
        except SpaceError as exc:
            self._say(str(exc), error=True)
            return
        merged = space.merge(self.dimensions(), [dimension])
        if self.document.push(
            SetSweepCommand(self.document.graph, space.to_section(merged), f"Sweep {dimension.target}")
        ):
            self.space_edit.clear()
            self._say(f"{dimension.describe()} is in the search space.")

    def remove_dimension(self) -> None:
        row = self.space_list.currentRow()
        dims = self.dimensions()
        if not 0 <= row < len(dims):
            return
        gone = dims.pop(row)
        self.document.push(
            SetSweepCommand(self.document.graph, space.to_section(dims), f"Stop sweeping {gone.target}")
        )

    # --- running -----------------------------------------------------------------------------------

    def start(self) -> bool:
        """Start a sweep of the open project as it is now (saved or not)."""
        if self.process.running:
            return False
        graph = self.document.graph
        try:
            space.resolve(self.dimensions(), graph)
        except SpaceError as exc:
            self._say(str(exc), error=True)
            return False
        problems = variants.problems(graph)
        if problems:
            self._say(f"The graph has an error, so it cannot train: {problems[0]}", error=True)
            return False
        stem = self.document.path.stem if self.document.path else (graph.name or "untitled")
        root = app_settings.data_dir() / "sweeps" / _safe(stem)
        name = f"{_safe(stem)}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder = root / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            design = folder / "design.nnstudio"
            project.save(graph, design)  # the sweep trains the design as it is now
        except OSError as exc:
            self._say(f"Cannot write the sweep's folder {folder}: {exc.strerror or exc}.", error=True)
            return False
        data_dir = self.document.path.parent if self.document.path else Path.cwd()
        arguments = [
            str(design),
            "--trials",
            str(self.trials.value()),
            "--jobs",
            str(self.jobs.value()),
            "--sampler",
            self.sampler.currentText(),
            "--pruner",
            self.pruner.currentText(),
            "--metric",
            self.metric.currentText(),
            "--study",
            name,
            "--out",
            str(root),
            "--data-dir",
            str(data_dir),
        ]
        if self.epochs.value():
            arguments += ["--epochs", str(self.epochs.value())]
        self.reader = StudyReader(str(root / "optuna.journal"), name)
        self._sweep_document = self.document
        self.study_folder = folder
        self.snapshot = None
        self.model.set_trials([], [], self.metric.currentText())
        self.process.start(arguments)
        self.timer.start()
        self._say(f"Sweep '{name}' starting: {self.trials.value()} trials, {self.jobs.value()} at a time.")
        self._update_buttons()
        return True

    def stop(self) -> None:
        if self.process.running:
            self.process.stop()
            self._say("Stopping: running trials end after their current step; finished trials are kept.")

    def shutdown(self) -> None:
        """The window closes: stop the sweep and wait for it (finished trials stay in the study)."""
        self.timer.stop()
        if self.process.running:
            self.process.stop()
            if not self.process.wait(20_000):
                self.process.stop()
                self.process.wait(5_000)

    def _on_finished(self, code: int) -> None:
        self.timer.stop()
        self.refresh()
        best = self.snapshot.best() if self.snapshot else None
        if code == 0 and best is not None:
            self._say(
                f"Sweep finished. Best: trial {best.number}, "
                f"{format_value(best.value, self.snapshot.metric)} with {variants.describe_values(best.values)}."
            )
            self.select_trial(best.number)
        elif code == 130:
            self._say("Sweep stopped; its finished trials are kept.")
        else:
            last = next((line for line in reversed(self.process.output) if line.startswith("error:")), None)
            last = last or (self.process.output[-1] if self.process.output else f"exit status {code}")
            self._say(f"The sweep failed: {last.removeprefix('error: ')}", error=True)
        self._update_buttons()

    def _on_line(self, line: str) -> None:
        if line.startswith("error:"):
            self._say(line.removeprefix("error: "), error=True)

    # --- reading the study ---------------------------------------------------------------------------

    def refresh(self) -> None:
        if self.reader is None:
            return
        try:
            snapshot = self.reader.read()
        except (SweepError, OSError) as exc:
            self._say(str(exc), error=True)
            return
        if snapshot is None:
            return
        self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: StudySnapshot) -> None:
        self.snapshot = snapshot
        names = _names(snapshot.trials)
        selected = self.selected_number()
        self.model.set_trials(snapshot.trials, names, snapshot.metric)
        self.parallel.set_trials(snapshot.trials, names, snapshot.metric, snapshot.maximize)
        self.scatter.set_trials(snapshot.trials, names, snapshot.metric)
        self.curves.set_trials(snapshot.trials, snapshot.metric)
        if selected is not None:
            self.select_trial(selected)
        counts = {s: sum(t.state == s for t in snapshot.trials) for s in STATES}
        if self.process.running:
            text = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
            self._say(f"Sweep running: {text or 'starting'}.")
        self._update_buttons()

    # --- trials ----------------------------------------------------------------------------------------

    def selected_number(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(NUMBER_ROLE) if rows else None

    def selected_trial(self) -> TrialRecord | None:
        number = self.selected_number()
        if number is None or self.snapshot is None:
            return None
        return next((t for t in self.snapshot.trials if t.number == number), None)

    def select_trial(self, number: int) -> None:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(NUMBER_ROLE) == number:
                self.table.selectionModel().select(
                    index,
                    QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
                )
                self.table.scrollTo(index)
                return

    def _on_selection(self, *_: Any) -> None:
        number = self.selected_number()
        self.parallel.select(number)
        self.scatter.select(number)
        self.curves.select(number)
        self._update_buttons()

    def _same_project(self) -> bool:
        if self._sweep_document is not None and self._sweep_document is not self.document:
            self._say(
                "These trials belong to the project the sweep was started from; open that one to use them.",
                error=True,
            )
            return False
        return True

    def _trial_axes(self, trial: TrialRecord) -> list[space.Axis]:
        """The trial's values checked against the project as it is now."""
        return space.resolve(
            [space.Dimension(k, choices=(v,)) for k, v in trial.values.items()], self.document.graph
        )

    def apply_selected(self) -> bool:
        trial = self.selected_trial()
        if trial is None or not trial.values or not self._same_project():
            return False
        try:
            axes = self._trial_axes(trial)
        except SpaceError as exc:
            self._say(f"Trial {trial.number} does not fit the project any more: {exc}", error=True)
            return False
        if self.document.push(ApplyTrialCommand(self.document.graph, trial.number, axes, trial.values)):
            self._say(
                f"Applied trial {trial.number}: {variants.describe_values(trial.values)} (undo takes it back)."
            )
            return True
        return False

    def open_selected(self) -> Any:
        trial = self.selected_trial()
        if trial is None or not self._same_project():
            return None
        graph = self.document.graph
        try:
            variant = variants.apply(graph, self._trial_axes(trial), trial.values)
        except (SpaceError, variants.VariantError) as exc:
            self._say(f"Trial {trial.number} does not fit the project any more: {exc}", error=True)
            return None
        variant.name = f"{graph.name} (trial {trial.number})"[:200]
        variant.sweep = None
        window = self.window.open_new_window()
        window.open_graph(variant, modified=True)
        return window

    def show_curves_in_metrics(self) -> bool:
        """Overlay the selected trial's per-epoch figures on the training plots."""
        trial = self.selected_trial()
        if trial is None or not trial.history:
            self._say("Pick a finished trial: its per-epoch figures arrive when it ends.")
            return False
        from nnstudio.training.events import EpochRecord

        epochs = [
            EpochRecord.from_dict({k: math.nan if v is None else v for k, v in row.items()})
            for row in trial.history
        ]
        training = self.window.training
        plots = training.plots_host.ensure()
        plots.add_record(
            _TrialRun(
                TRIAL_RUN_KEY + trial.number,
                f"Trial {trial.number}: {variants.describe_values(trial.values)}",
                trial.steps_per_epoch,
                epochs,
            )
        )
        training.metrics_dock.show()
        training.metrics_dock.raise_()
        return True

    # --- state -------------------------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        running = self.process.running
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        trial = self.selected_trial()
        has_values = trial is not None and bool(trial.values)
        for button in (self.apply_button, self.open_button):
            button.setEnabled(has_values)
        self.metrics_button.setEnabled(trial is not None and bool(trial.history))

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.current().error};" if error else "")


class _TrialRun:
    """A trial in the shape the training plots take a past run in."""

    def __init__(self, number: int, label: str, steps_per_epoch: int, epochs: list[Any]) -> None:
        import numpy as np

        self.number = number
        self.label = label
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.epochs = epochs
        self.curve_steps = np.zeros(0, np.float64)
        self.curve_loss = np.zeros(0, np.float32)


def _names(trials: list[TrialRecord]) -> list[str]:
    names: list[str] = []
    for t in trials:
        for name in t.values:
            if name not in names:
                names.append(name)
    return names


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_").lower() or "untitled"
