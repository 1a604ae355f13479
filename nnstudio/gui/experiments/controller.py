"""The Experiments dock wired into the main window.

The panel imports pyqtgraph and, once a sweep is read, Optuna; neither should
cost the editor's start, so the dock holds a ``LazyWidget`` until first seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from nnstudio.gui.training.lazy import LazyWidget

if TYPE_CHECKING:
    from nnstudio.gui.experiments.panel import ExperimentsPanel
    from nnstudio.gui.main_window import MainWindow


class ExperimentsController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.host = LazyWidget(self._make_panel)
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        # Hidden until asked for (Train › Experiments, View › Panels); it joins the bottom
        # tabs only then, since the tab added last comes to the front and would build the
        # panel while the editor starts.
        self.dock = window.add_dock(self.host, "Experiments", "experiments", bottom)
        self.dock.hide()
        self._placed = False
        self.dock.toggleViewAction().triggered.connect(self._place)
        self.act_show = QAction("&Experiments (Sweeps)…", window)
        self.act_show.setStatusTip("Search parameters and training settings: many trainings, the best kept.")
        self.act_show.triggered.connect(self.show_panel)
        menu = window.menus.get("train")
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.act_show)

    def _make_panel(self) -> QWidget:
        from nnstudio.gui.experiments.panel import ExperimentsPanel

        return ExperimentsPanel(self.window)

    @property
    def panel(self) -> ExperimentsPanel:
        return self.host.ensure()  # type: ignore[return-value]

    def show_panel(self) -> ExperimentsPanel:
        self._place()
        self.dock.show()
        self.dock.raise_()
        return self.panel

    def _place(self, *_: object) -> None:
        """Among the bottom tabs, beside Metrics, the first time it is shown."""
        if self._placed or self.window.dockWidgetArea(self.dock) != Qt.DockWidgetArea.BottomDockWidgetArea:
            return
        self._placed = True
        anchor = self.window.docks.get("metrics") or self.window.docks.get("code")
        if anchor is not None and anchor.isVisible():
            self.window.tabifyDockWidget(anchor, self.dock)

    def shutdown(self) -> None:
        """The window closes: a running sweep stops; its finished trials stay in the study."""
        if self.host.widget is not None:
            self.host.widget.shutdown()
