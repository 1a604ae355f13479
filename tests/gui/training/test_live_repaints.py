"""A live view's new picture repaints the view and lays nothing out again.

During a run the filters come once a second. Each used to re-lay out the whole window and
repaint everything under the tiles twice (the main window, the dock, the tab widget, the view:
about a million pixels a second for LeNet-5): a word-wrapped title's new text asks every
layout up to the window to recompute, and a tile grid that did not say it paints every pixel
had the widgets under it painted first. On a machine whose cores all train, the window's every
millisecond is taken from training."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QRegion
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from nnstudio import resources
from nnstudio.api import Graph
from nnstudio.gui.training.feature_maps import FeatureMapView
from nnstudio.gui.training.filters import FilterView
from nnstudio.training.payloads import ViewWants
from nnstudio.training.relay import Relay

torch = pytest.importorskip("torch")


class _Watch(QObject):
    """Counts layout requests reaching the window and the region painted on the view itself."""

    def __init__(self, window: QMainWindow, view: QWidget) -> None:
        super().__init__()
        self.window, self.view = window, view
        self.layouts = 0
        self.painted = QRegion()
        for widget in (window, view):
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.LayoutRequest:
            self.layouts += 1
        if watched is self.view and event.type() == QEvent.Type.Paint:
            self.painted = self.painted.united(event.region())
        return False


def _views(name: str, **wants) -> dict:
    from nnstudio.training.config import TrainConfig
    from nnstudio.training.inspections import LiveInspector
    from nnstudio.training.loop import Trainer

    graph = Graph.load(resources.examples_dir() / f"{name}.nnstudio")
    config = TrainConfig.from_settings(graph.training).with_overrides(device="cpu", epochs=1)
    relay = Relay()
    inspector = LiveInspector(Trainer.for_graph(graph, config), relay, lambda: ViewWants(**wants))
    inspector.refresh()
    return relay.take().views


def _docked(qtbot, view: QWidget) -> QMainWindow:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setCentralWidget(QWidget())
    dock = QDockWidget("Insights")
    dock.setWidget(view)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    window.resize(900, 700)
    window.show()
    qtbot.waitExposed(window)
    return window


def _later(payload, steps: int):
    return dataclasses.replace(payload, step=payload.step + steps)


def test_new_filters_repaint_the_view_and_lay_nothing_out(qtbot):
    filters = _views("digits_cnn", filters=True, stats=False)["filters"]
    view = FilterView()
    window = _docked(qtbot, view)
    view.show_filters(filters)
    qtbot.wait(50)
    watch = _Watch(window, view)
    for steps in (1_000, 20_000):  # the title's step count grows by digits
        view.show_filters(_later(filters, steps))
        qtbot.wait(50)
    assert "step 20," in view.title.text()
    assert watch.layouts == 0
    assert not watch.painted.intersects(view.grid.geometry())  # the tiles paint every pixel of their own


def test_new_feature_maps_repaint_the_view_and_lay_nothing_out(qtbot):
    conv1 = Graph.load(resources.examples_dir() / "digits_cnn.nnstudio").node_by_name("conv1").id
    maps = _views("digits_cnn", feature_maps=True, stats=False, feature_node=conv1)
    view = FeatureMapView()
    window = _docked(qtbot, view)
    view.show_maps(maps["feature_maps"])
    qtbot.wait(50)
    watch = _Watch(window, view)
    for steps in (1_000, 20_000):
        view.show_maps(_later(maps["feature_maps"], steps))
        qtbot.wait(50)
    assert "step 20," in view.title.text()
    assert watch.layouts == 0
    assert not watch.painted.intersects(view.grid.geometry())
