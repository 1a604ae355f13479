"""Live training wired into the main window: docks, the Train menu, runs, locking, closing.

``TrainingController(window)`` adds three docks (the training panel; the
metrics plots; "What it learns" with filters, feature maps, layer health,
decision boundary and confusion matrix) and a Train menu. It owns the
``TrainingWorker`` and, per run:

- locks the editor against model changes (pan, zoom, select still work),
- routes each rate-limited update to the panel, the plots and the views,
- tells the worker which views are on screen, so only those are computed,
- on the end of the run unlocks the editor, says how it ended and records the
  run in the project (an undoable edit), keeping the trained weights so the
  user may edit the graph and continue: unchanged layers keep their weights.

``shutdown`` (called by the window's closeEvent) stops a run, lets it write
its checkpoint and waits for the thread, so the app exits cleanly.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

from nnstudio.core.blocks import PORT_IN
from nnstudio.gui import collector
from nnstudio.gui import settings as app_settings
from nnstudio.gui.training.block_scope import BlockScope
from nnstudio.gui.training.insights import InsightsTabs, first_layer
from nnstudio.gui.training.layer_health import HealthOverlay, canvas_health
from nnstudio.gui.training.lazy import LazyWidget
from nnstudio.gui.training.panel import TrainingPanel, finished_text, run_folder_text
from nnstudio.gui.training.undo import RecordRunCommand, SetTrainingSettingsCommand
from nnstudio.gui.training.worker import THREADS_ENV, Outcome, RunRequest, TrainingWorker
from nnstudio.training.device_probe import DeviceInfo, probe_in_background
from nnstudio.training.payloads import ViewWants
from nnstudio.training.preview import DataPreview, preview_in_background
from nnstudio.training.relay import Update
from nnstudio.training.run_folder import new_run_folder
from nnstudio.training.runs import RunRecord, next_number, read_runs, settings_label
from nnstudio.training.threads import threads_for as small_network_threads

if TYPE_CHECKING:
    from nnstudio.gui.document import Document
    from nnstudio.gui.main_window import MainWindow

SHUTDOWN_WAIT_S = 30.0  # a step longer than this is not a CPU run anyone waits for
# The plots are the GUI's largest cost while a run goes on (pyqtgraph: 10-20 ms a redraw), and
# every millisecond of the GUI thread is taken from training: its Python holds the GIL, and its
# core is one a training thread waits for. So they redraw at most once a second, and less often
# when a redraw costs more than PLOT_BUDGET of the time (issue 13: the window trains at 95% of
# the command line's speed), but at least every PLOT_LONGEST_S.
PLOT_INTERVAL_S = 1.0
PLOT_BUDGET = 0.005
PLOT_LONGEST_S = 4.0
MIN_PLOT_HEIGHT = 340  # pixels the bottom docks get when a run starts, so the plots are readable
LOCK_REASON = "Training: the model is locked until the run stops (pan, zoom and inspect freely)."


def threads_for(graph: Any) -> int | None:
    """The torch threads a run in the window gets (None: the worker's default): one for a
    small network, as ``nnstudio train`` (training/threads.py), unless the user chose."""
    if os.environ.get(THREADS_ENV, "").strip():
        return None  # the user's (or a benchmark's) choice
    return small_network_threads(graph)


def plot_interval(redraw_seconds: float) -> float:
    """Seconds between two redraws of the plots during a run (see PLOT_BUDGET)."""
    return min(PLOT_LONGEST_S, max(PLOT_INTERVAL_S, redraw_seconds / PLOT_BUDGET))


def _model_shape(graph_record: dict[str, Any]) -> tuple:
    """What decides the trained module's state: nodes, names, parameters and wires."""
    nodes = tuple(
        sorted(
            (n["id"], n["type"], n["name"], repr(sorted(n.get("params", {}).items())))
            for n in graph_record["nodes"]
        )
    )
    edges = tuple(sorted((e["source"], e["target"], e.get("port", 0)) for e in graph_record["edges"]))
    return nodes, edges


class _Signals(QObject):
    """Carries results of the background helpers (device probe, data preview) to this thread."""

    devices = Signal(object)
    preview = Signal(object, int)


class TrainingController(QObject):
    """See the module docstring."""

    run_finished = Signal(object)  # Outcome, after the window has been updated

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.worker = TrainingWorker(self)
        self.panel = TrainingPanel()
        self.plots_host = LazyWidget(self._make_plots)
        self.tabs = InsightsTabs()
        self.overlay = HealthOverlay()
        self.scope = BlockScope(window)  # the block open on the canvas, as instance paths
        self._last_stats: Any = None  # LayerStatsReady, shown again when the canvas changes level
        self._signals = _Signals(self)
        self._signals.devices.connect(self._on_devices)
        self._signals.preview.connect(self._on_preview)
        self._devices_probed = False
        self._preview_generation = 0
        self._preview_shown = False
        # The run in progress or the last one.
        self.state = "idle"
        self._closing = False
        self._run_number = 0
        self.run_started: Any = None  # RunStarted
        self._run_began = ""  # local time, for the run's record
        self._carried: str | None = None
        self._last_checkpoint: Path | None = None
        self.last_outcome: Outcome | None = None
        self._feature_node: str | None = None
        self._filter_node: str | None = None
        self._views_seen = False
        self._plots_dirty = False
        self._plots_drawn = 0.0

        self._build_docks()
        self._build_menu()
        self._connect()
        self.set_document(window.document)

    # --- building -----------------------------------------------------------------------------

    def _build_docks(self) -> None:
        w = self.window
        right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.panel_dock = w.add_dock(self.panel, "Training", "training", right, tabify_with="inspector")
        self.metrics_dock = w.add_dock(self.plots_host, "Metrics", "metrics", bottom, tabify_with="code")
        # Beside the bottom tabs rather than among them: plots and views side by side.
        self.views_dock = QDockWidget("What it learns", w)
        self.views_dock.setObjectName("dock_insights")
        self.views_dock.setWidget(self.tabs)
        w.addDockWidget(bottom, self.views_dock, Qt.Orientation.Horizontal)
        w.docks["insights"] = self.views_dock
        if "panels" in w.menus:
            w.menus["panels"].addAction(self.views_dock.toggleViewAction())
        self.views_dock.hide()  # until the first run
        w.docks["inspector"].raise_()
        w.docks["diagnostics"].raise_()

    def _build_menu(self) -> None:
        menu = self.window.add_menu("&Train", "train")
        self.act_start = QAction("&Train", self.window)
        self.act_start.setShortcut(QKeySequence("F5"))
        self.act_start.setStatusTip("Train the network from fresh weights with the panel's settings.")
        self.act_continue = QAction("&Continue Training", self.window)
        self.act_continue.setShortcut(QKeySequence("Ctrl+F5"))
        self.act_pause = QAction("&Pause", self.window)
        self.act_pause.setShortcut(QKeySequence("F6"))
        self.act_stop = QAction("&Stop", self.window)
        self.act_stop.setShortcut(QKeySequence("Shift+F5"))
        self.act_show = QAction("Show Training &Panel", self.window)
        self.act_start.triggered.connect(lambda *_: self.start())
        self.act_continue.triggered.connect(lambda *_: self.continue_training())
        self.act_pause.triggered.connect(lambda *_: self.toggle_pause())
        self.act_stop.triggered.connect(lambda *_: self.stop())
        self.act_show.triggered.connect(lambda *_: self.show_panel())
        for action in (self.act_start, self.act_continue, self.act_pause, self.act_stop):
            menu.addAction(action)
            self.window.addAction(action)
        menu.addSeparator()
        menu.addAction(self.act_show)
        self._update_actions()

    def _make_plots(self) -> QWidget:
        from nnstudio.gui.training.plots import MetricsPlots

        plots = MetricsPlots()
        self._load_past_runs(plots)
        return plots

    def _connect(self) -> None:
        p = self.panel
        p.start_requested.connect(self.start)
        p.continue_requested.connect(self.continue_training)
        p.pause_requested.connect(self.pause)
        p.resume_requested.connect(self.resume)
        p.stop_requested.connect(self.stop)
        p.form.changed.connect(self._on_settings_edited)
        self.worker.updated.connect(self._on_update)
        self.worker.finished.connect(self._on_finished)
        self.window.document_changed.connect(self.set_document)
        self.tabs.currentChanged.connect(lambda *_: self._send_wants())
        self.views_dock.visibilityChanged.connect(self._on_views_visibility)
        self.metrics_dock.visibilityChanged.connect(lambda visible: visible and self.plots_host.ensure())
        self.panel_dock.visibilityChanged.connect(self._on_panel_visibility)
        self.tabs.feature_maps.sample_changed.connect(lambda *_: self._send_wants())
        self.tabs.wants_changed.connect(lambda *_: self._send_wants())
        self.tabs.health.node_activated.connect(self._show_layer)
        self.tabs.feature_maps.layer_picked.connect(self._on_feature_layer_picked)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # --- the document ---------------------------------------------------------------------------

    def set_document(self, document: Document) -> None:
        """Another project is shown (only between runs: opening files is locked during one)."""
        self.document = document
        self.panel.form.set_settings(document.graph.training)
        document.undo_stack.indexChanged.connect(self._on_undo_index)
        document.analysis_changed.connect(self._on_analysis_changed)
        scene = self.window.scene
        if scene is not None:
            scene.selectionChanged.connect(lambda: self._on_selection_changed(scene))
        self.overlay.clear()
        self._last_stats = None
        self.last_outcome = None
        self._last_checkpoint = None
        self.panel.show_run_folder(None)
        self._feature_node = self._filter_node = None
        self.tabs.clear()
        if self.plots_host.widget is not None:  # the runs shown are the new project's only
            self.plots_host.widget.clear()
            self._load_past_runs(self.plots_host.widget)
        self._update_continue()
        if self._preview_shown:
            self.refresh_preview()

    def _on_undo_index(self, *_: Any) -> None:
        graph = self.document.graph
        if self.panel.form.values() != graph.training:
            self.panel.form.set_settings(graph.training)
            self.refresh_preview()
        plots = self.plots_host.widget
        if plots is not None and self.state == "idle":
            known = {r.number for r in read_runs(graph.runs)}
            shown = {k for k, r in plots.runs.items() if not r.live}
            if known != shown:
                for key in shown - known:
                    plots.remove_run(key)
                self._load_past_runs(plots, skip=shown)

    def _on_analysis_changed(self, *_: Any) -> None:
        if self.state == "idle":
            self.overlay.clear()  # the statistics were of the network before this edit
            self._last_stats = None  # not shown again on another level either
            self._update_continue()

    def _on_settings_edited(self, settings: dict, text: str) -> None:
        if not self.document.push(SetTrainingSettingsCommand(self.document.graph, settings, text)):
            self.panel.form.set_settings(self.document.graph.training)
            return
        self.refresh_preview()

    def _load_past_runs(self, plots: Any, skip: set[int] = frozenset()) -> None:
        for record in read_runs(self.document.graph.runs):
            if record.number not in skip and record.number not in plots.runs:
                plots.add_record(record)

    # --- the panel's helpers ------------------------------------------------------------------------

    def show_panel(self) -> None:
        self.panel_dock.show()
        self.panel_dock.raise_()

    def _on_panel_visibility(self, visible: bool) -> None:
        if not visible:
            return
        if not self._devices_probed:
            self._devices_probed = True
            signals = self._signals
            probe_in_background(lambda info: _emit_safely(signals.devices, info))
        if not self._preview_shown:
            self._preview_shown = True
            self.refresh_preview()

    def _on_devices(self, info: DeviceInfo) -> None:
        self.panel.form.set_devices(info)

    def refresh_preview(self) -> None:
        """Read the data set again (in the background) and show what it yields."""
        if not self._preview_shown:
            return
        self._preview_generation += 1
        generation, signals = self._preview_generation, self._signals
        graph = self.document.graph
        self.panel.preview_text.setText("Reading the data set…")
        preview_in_background(
            graph.to_dict(),
            dict(graph.training),
            self._base_dir(),
            lambda result: _emit_safely(signals.preview, result, generation),
        )

    def _on_preview(self, preview: DataPreview, generation: int) -> None:
        if generation == self._preview_generation:
            self.panel.show_preview(preview)

    # --- runs --------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.worker.running

    def start(self) -> bool:
        """Train from fresh weights; False (with a message) when that cannot start now."""
        return self._start(weights=None, resume_from=None)

    def continue_training(self) -> bool:
        """Train on from the last run: exactly where it stopped when the network is unchanged
        and the run was cut short, else a new run that keeps every unchanged layer's weights."""
        outcome = self.last_outcome
        if outcome is None or outcome.weights is None:
            self.panel.show_message("There is no trained network to continue from; press Train.", "notice")
            return False
        if self._can_resume():
            return self._start(weights=None, resume_from=self._last_checkpoint, number=self._run_number)
        return self._start(weights=outcome.weights, resume_from=None)

    def _start(self, weights: Any, resume_from: Path | None, number: int | None = None) -> bool:
        if self.worker.running or self.state != "idle":
            return False
        graph = self.document.graph
        errors = [d for d in graph.validate() if d.is_error]
        if errors:
            where = graph.nodes[errors[0].node].name + ": " if errors[0].node in graph.nodes else ""
            self.panel.show_message(
                f"The graph has {len(errors)} problem{'s' if len(errors) != 1 else ''} to fix before it can "
                f"train. {where}{errors[0].message}",
                "error",
            )
            self.show_panel()
            return False
        self._run_number = number or next_number(graph.runs)
        self.run_started, self._carried = None, None
        self._run_began = time.strftime("%Y-%m-%dT%H:%M:%S")
        request = RunRequest(
            graph=graph.to_dict(),
            settings=dict(graph.training),
            run_dir=self._run_dir(resume_from),
            base_dir=self._base_dir(),
            resume_from=resume_from,
            weights=weights,
            threads=threads_for(graph),
        )
        self._set_state("starting")
        self.window.set_editing_locked(True, LOCK_REASON)
        self.overlay.clear()
        self.panel.progress.setValue(0)
        self.panel.show_message("")
        self.panel.show_run_folder(None)
        self._prepare_views()
        plots = self.plots_host.widget
        if plots is not None:  # its curves now: the run's first update must not wait for them
            plots.prepare_run(
                self._run_number, self._run_label(graph.training), lr=_starting_lr(graph.training)
            )
        self._send_wants()
        self.worker.start(request)
        return True

    def pause(self) -> None:
        if self.state == "running":
            self.worker.pause()

    def resume(self) -> None:
        if self.state == "paused":
            self.worker.resume()

    def toggle_pause(self) -> None:
        self.resume() if self.state == "paused" else self.pause()

    def stop(self) -> None:
        if self.worker.running:
            self._set_state("stopping")
            self.worker.stop()

    def shutdown(self, timeout: float = SHUTDOWN_WAIT_S) -> bool:
        """Stop a run (it writes its checkpoint) and wait for its thread; True when none is left."""
        self._closing = True
        self.worker.close()
        if self.worker.wait(timeout):
            return True
        # Never let Qt destroy a running thread: keep waiting, but say why the window lingers.
        print("nnstudio: waiting for the training step to finish before closing…", file=sys.stderr)
        while not self.worker.wait(5.0):
            pass
        return True

    def _set_state(self, state: str) -> None:
        self.state = state
        # A full garbage collection can stall the window for 100+ ms: not while training.
        collector.hold_full_collections(QApplication.instance(), state in ("starting", "running", "stopping"))
        self.panel.set_state(state)
        self._update_actions()

    def _update_actions(self) -> None:
        idle = self.state == "idle"
        self.act_start.setEnabled(idle)
        self.act_continue.setEnabled(idle and self.panel.can_continue)
        self.act_continue.setText(f"&{self.panel.continue_label} Training")
        self.act_pause.setEnabled(self.state in ("running", "paused"))
        self.act_pause.setText("&Resume" if self.state == "paused" else "&Pause")
        self.act_stop.setEnabled(self.state in ("starting", "running", "paused"))

    def _run_dir(self, resume_from: Path | None) -> Path:
        """The run folder: the same files as `nnstudio train --out`, in the app's data folder."""
        if resume_from is not None:
            return resume_from.parent
        stem = self.document.path.stem if self.document.path else (self.document.graph.name or "untitled")
        return new_run_folder(app_settings.data_dir() / "runs", stem, self._run_number)

    def _base_dir(self) -> Path | None:
        return self.document.path.parent if self.document.path else None

    def _can_resume(self) -> bool:
        """The last run stopped early, its checkpoint is there and the network is unchanged."""
        outcome = self.last_outcome
        from_checkpoint = self._last_checkpoint is not None and self._last_checkpoint.exists()
        stopped = outcome is not None and getattr(outcome.final, "stopped", False)
        return bool(
            stopped
            and from_checkpoint
            and _model_shape(outcome.graph) == _model_shape(self.document.graph.to_dict())
        )

    def _update_continue(self) -> None:
        outcome = self.last_outcome
        if outcome is None or outcome.weights is None:
            self.panel.set_continue(False)
        elif self._can_resume():
            self.panel.set_continue(True, "Resume", "Resume the stopped run exactly where it stopped")
        else:
            self.panel.set_continue(
                True, "Continue", "Train on from the last run's weights; layers you changed start fresh"
            )
        self._update_actions()

    # --- updates from the worker --------------------------------------------------------------------

    def _on_update(self, update: Update) -> None:
        plots = self.plots_host.widget
        if update.started is not None:
            self._on_started(update.started)
        if update.carried:
            self._carried = update.carried
            self.panel.add_message(update.carried, "info")
        if plots is not None:
            if len(update.points):
                plots.add_points(update.points)
            if update.epochs:
                plots.add_epochs(update.epochs)
            self._plots_dirty |= bool(len(update.points) or update.epochs)
            # A repaint of the plots is the GUI's largest cost: at most once a second, and at once
            # when the run pauses or ends so the curves never lag behind what the panel says.
            now = time.perf_counter()
            settled = update.paused is not None or update.final is not None
            due = self._plots_drawn + plot_interval(plots.redraw_seconds)
            if self._plots_dirty and (settled or now >= due):
                plots.refresh()
                self._plots_dirty, self._plots_drawn = False, now
        if update.progress is not None:
            self.panel.show_progress(update.progress)
        for notice in update.notices:
            self.panel.add_message(notice, "notice")
        if update.paused is not None and self.state in ("running", "paused"):
            self._set_state("paused" if update.paused else "running")
        if update.checkpoint is not None:
            self._last_checkpoint = update.checkpoint.path
        if update.stats is not None:
            self._last_stats = update.stats
            self._show_stats()
        self.tabs.show_payloads(update.views)

    def _on_started(self, started: Any) -> None:
        self.run_started = started
        if self.state == "starting":
            self._set_state("running")
        label = self._run_label(started.config.to_settings())
        plots = self.plots_host.widget
        if plots is not None:
            resumed = started.history if started.start_step else None
            plots.begin_run(
                self._run_number,
                label,
                started.steps_per_epoch,
                resumed,
                started.total_steps,
                lr=started.config.lr,
            )
        resumed_text = f", resuming after step {started.start_step:,}" if started.start_step else ""
        self.panel.add_message(
            f"Training on {started.device}: {started.data}; {started.loss} loss{resumed_text}.", "info"
        )

    def _run_label(self, settings: dict[str, Any]) -> str:
        return f"Run {self._run_number}: {settings_label(settings)}"

    def _on_finished(self, outcome: Outcome) -> None:
        from nnstudio.training.events import Failed

        self.last_outcome = outcome
        final = outcome.final
        self._set_state("idle")
        if self._closing:
            return
        self.window.set_editing_locked(False, "Training ended; the model can be edited again.")
        if isinstance(final, Failed):
            text = final.message
            if final.checkpoint:
                text += f" The last good checkpoint is {final.checkpoint}."
            self.panel.show_message(text, "error")
            self.panel.status.setText("Training stopped on an error.")
        else:
            self.panel.add_message(finished_text(final), "info")
            self.panel.status.setText("Stopped." if final.stopped else "Done.")
            if not final.stopped:
                self.panel.progress.setValue(self.panel.progress.maximum())
        if outcome.run_dir is not None and outcome.run_dir.is_dir():
            self.panel.show_run_folder(
                outcome.run_dir, run_folder_text(outcome), "notice" if outcome.export_problem else "info"
            )
        if self.run_started is not None:
            self._record(outcome)
        elif self.plots_host.widget is not None:
            self.plots_host.widget.drop_prepared()
        self._update_continue()
        self.run_finished.emit(outcome)

    def _record(self, outcome: Outcome) -> None:
        record = RunRecord.of_run(
            self._run_number,
            self.run_started,
            outcome.final,
            started_at=self._run_began,
            checkpoint=self._last_checkpoint,
            carried=self._carried,
            folder=outcome.run_dir,
            preprocessing=outcome.preprocessing,
        )
        self.document.push(RecordRunCommand(self.document.graph, record.to_dict()))

    # --- which views to compute -----------------------------------------------------------------------

    def _prepare_views(self) -> None:
        """Build the plots and show the views a user wants to watch during a run."""
        self.plots_host.ensure()
        self.metrics_dock.show()
        self.metrics_dock.raise_()
        if self.views_dock.isHidden():
            self.views_dock.show()
        if self.metrics_dock.height() < MIN_PLOT_HEIGHT:  # the editor's bottom panels are short
            self.window.resizeDocks([self.metrics_dock], [MIN_PLOT_HEIGHT], Qt.Orientation.Vertical)
        graph = self.document.graph
        self.tabs.prepare_for(graph)
        self._last_stats = None
        offered = [key for key, _label in self.scope.feature_layers()]  # inside an open block: its layers
        if self.scope.names and offered and self._feature_node not in offered:
            self._feature_node = offered[0]
        elif self._feature_node is None or (
            self._feature_node not in graph.nodes and self._feature_node not in offered
        ):
            self._feature_node = first_layer(graph)
        self._update_feature_layers()

    def _on_selection_changed(self, scene: Any) -> None:
        if self._closing or not shiboken6.isValid(scene) or scene is not self.window.scene:
            return  # a scene on its way out (another file opened, the window closing)
        ids = scene.selected_node_ids()
        if len(ids) != 1:
            return
        node = scene.document.graph.nodes.get(ids[0])  # the model's, or an opened block's
        key = self.scope.key_of(ids[0], self._feature_node)
        if node is None or key is None or node.spec.role == "input" or node.type == PORT_IN:
            return
        copy_changed = key.rpartition("/")[0] != (self._feature_node or "").rpartition("/")[0]
        self._feature_node = key
        if node.spec.shows_filters:
            self._filter_node = key
        self._update_feature_layers()
        if copy_changed:
            self._show_stats()  # the canvas tags follow the copy looked at
        self._send_wants()

    # --- blocks opened on the canvas ----------------------------------------------------------------

    def on_level_changed(self) -> None:
        """The canvas shows another level (a block opened or left): its nodes get their tags,
        and the views' pickers offer its layers."""
        scene = self.window.scene
        if self._closing or scene is None:
            return
        scene.selectionChanged.connect(lambda: self._on_selection_changed(scene))
        offered = {key for key, _label in self.scope.feature_layers()}
        if self._feature_node not in offered:  # the views turn to a layer of this level
            self._feature_node = self.scope.default_key() or self._feature_node
        if self._filter_node is not None and self._filter_node not in offered:
            self._filter_node = self.scope.default_key(filters=True)
        self.tabs.filters.set_scope(self.scope.prefixes)
        self._update_feature_layers()
        self._show_stats()
        self._send_wants()

    def _show_stats(self) -> None:
        stats = self._last_stats
        if stats is None:
            return
        prefixes = self.scope.prefixes
        self.tabs.health.show_stats(stats, self.document.graph, prefixes)
        if self.scope.names and not prefixes:
            return  # an opened instance that is gone
        # The canvas shows the numbers of the copy the views look at (the first by default).
        key = self._feature_node or ""
        looked_at = [p for p in prefixes if key.startswith(p + "/")]
        ordered = looked_at + [p for p in prefixes if p not in looked_at]
        shown, warnings = canvas_health(self.scope.canvas, ordered, stats.stats, self.tabs.health.warnings)
        self.overlay.show(self.window.scene, shown, warnings)

    def _update_feature_layers(self) -> None:
        self.tabs.feature_maps.set_layers(self.scope.feature_layers(), self._feature_node)

    def _on_feature_layer_picked(self, key: str) -> None:
        copy_changed = key.rpartition("/")[0] != (self._feature_node or "").rpartition("/")[0]
        self._feature_node = key
        if copy_changed:
            self._show_stats()  # the canvas tags follow the copy looked at
        node_id = self.scope.node_of(key)
        scene = self.window.scene
        if node_id is not None and scene is not None:
            scene.select_nodes([node_id])  # the selection keeps the copy picked (see key_of)
        self._send_wants()

    def _show_layer(self, key: str) -> None:
        """A row of the health table: show its node, opening the block it lies in if needed."""
        node_id = self.scope.node_of(key)
        if node_id is not None:
            self.window.show_node(node_id)
        elif key in self.document.graph.nodes:  # a top-level layer, seen from inside a block
            self.window.block_editing.go_to(0)
            self.window.show_node(key)
        else:
            self.window.block_editing.show_path(key)

    def _on_views_visibility(self, visible: bool) -> None:
        # Qt's word, not isVisible(): a dock behind another tab stays "visible", out of sight.
        self._views_seen = visible
        self._send_wants()

    def wants(self) -> ViewWants:
        return self.tabs.wants(self._views_seen, self._filter_node, self._feature_node)

    def _send_wants(self) -> None:
        if not self._closing:  # a closing window hides its docks: that asks for nothing
            self.worker.set_wants(self.wants())


def _starting_lr(settings: dict[str, Any]) -> float | None:
    """The learning rate a run with these settings starts at (None: they are not valid)."""
    from nnstudio.training.config import TrainConfig

    try:
        return TrainConfig.from_settings(settings).lr
    except ValueError:
        return None


def _emit_safely(signal: Any, *args: Any) -> None:
    """Emit from a helper thread; the receiver may have gone with its window meanwhile."""
    with contextlib.suppress(RuntimeError):
        signal.emit(*args)
