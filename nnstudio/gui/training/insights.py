""" "What it learns": the views of a training network, one tab each.

Filters, feature maps, layer health, the decision boundary (built on first
use: it needs pyqtgraph) and the confusion matrix. The tab widget routes the
worker's payloads to its views and says which of them are on screen, which
is all the training thread computes.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from nnstudio.core.graph import GraphModel
from nnstudio.gui.training.confusion import ConfusionView
from nnstudio.gui.training.feature_maps import FeatureMapView
from nnstudio.gui.training.filters import FilterView
from nnstudio.gui.training.layer_health import LayerHealthView
from nnstudio.gui.training.lazy import LazyWidget
from nnstudio.training.payloads import ViewWants


def _make_boundary() -> QWidget:
    from nnstudio.gui.training.boundary import BoundaryView

    return BoundaryView()


class InsightsTabs(QTabWidget):
    wants_changed = Signal()  # a view asks for something else (a neuron layer, a filter channel)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filters = FilterView()
        self.feature_maps = FeatureMapView()
        self.health = LayerHealthView()
        self.boundary_host = LazyWidget(_make_boundary)
        self.boundary_host.built.connect(lambda view: view.layer_picked.connect(self.wants_changed))
        self.filters.wants_changed.connect(self.wants_changed)
        self._canvas_filter: str | None = None
        self._pending_boundary: Any = None  # shown in an event of its own, see show_payloads
        self.confusion = ConfusionView()
        tabs = (
            (self.filters, "Filters", "The kernels a convolution has learned"),
            (self.feature_maps, "Maps", "Feature maps: what a layer makes of one sample"),
            (self.health, "Health", "Layer health: activations, gradients and dead units of every layer"),
            (
                self.boundary_host,
                "Boundary",
                "The decision boundary of 2-D data, and what each neuron computes",
            ),
            (self.confusion, "Confusion", "The confusion matrix and misclassified samples"),
        )
        for widget, title, tip in tabs:  # short titles: the dock is often narrow
            self.setTabToolTip(self.addTab(widget, title), tip)

    @property
    def boundary(self) -> Any:
        """The decision-boundary view (built now if it was not yet)."""
        return self.boundary_host.ensure()

    def show_payloads(self, views: dict[str, Any]) -> None:
        """The newest payload of each view the worker computed."""
        if "filters" in views:
            self.filters.show_filters(views["filters"])
        if "feature_maps" in views:
            self.feature_maps.show_maps(views["feature_maps"])
        if "boundary" in views:
            # In an event of its own, after this update's plots and panel: the event loop gets a
            # turn in between, so no single event holds it long (a boundary comes often).
            if self._pending_boundary is None:
                QTimer.singleShot(0, self, self._show_pending_boundary)
            self._pending_boundary = views["boundary"]
        if "confusion" in views:
            self.confusion.show_confusion(views["confusion"])

    def _show_pending_boundary(self) -> None:
        payload, self._pending_boundary = self._pending_boundary, None
        if payload is not None:
            self.boundary.show_boundary(payload)

    def clear(self) -> None:
        self._pending_boundary = None
        for view in (self.filters, self.feature_maps, self.health, self.confusion):
            view.clear()
        if self.boundary_host.widget is not None:
            self.boundary_host.widget.clear()

    def prepare_for(self, graph: GraphModel) -> None:
        """A run of ``graph`` starts: empty the views of the last one, pick a fitting tab."""
        for view in (self.filters, self.health, self.confusion):
            view.clear()
        inputs = [n for n in graph.nodes.values() if n.spec.role == "input"]
        two_d = bool(inputs) and list(inputs[0].params.get("shape", [])) == [2]
        has_conv = any(n.spec.shows_filters for n in graph.nodes.values())
        if two_d:  # what a learner most wants to see for 2-D data
            self.setCurrentWidget(self.boundary_host)
            self.boundary_host.ensure()
        elif self.currentWidget() is self.boundary_host:  # no boundary for this data
            self.setCurrentWidget(self.filters if has_conv else self.health)

    def wants(self, on_screen: bool, filter_node: str | None, feature_node: str | None) -> ViewWants:
        """What the training thread should compute: the current tab's view, if it is seen."""
        tab = self.currentWidget() if on_screen else None
        if filter_node != self._canvas_filter:  # a click on the canvas is the latest pick
            self._canvas_filter = filter_node
            self.filters.canvas_picked()
        return ViewWants(
            filters=tab is self.filters,
            filter_node=self.filters.picked_node or filter_node,
            filter_channel=self.filters.channel,
            feature_maps=tab is self.feature_maps,
            feature_node=feature_node,
            sample_index=self.feature_maps.sample_index,
            boundary=tab is self.boundary_host,
            neuron_layer=self.boundary_host.widget.neuron_layer
            if self.boundary_host.widget is not None
            else None,
            confusion=tab is self.confusion,
            stats=True,  # the canvas's layer tags need them whatever the tab
        )


def first_layer(graph: GraphModel) -> str | None:
    """The layer whose activations the feature-map view shows until the user picks one."""
    for node in graph.nodes.values():
        if node.spec.has_feature_maps:
            return node.id
    return None
