"""The views of what a network learns, fed by the inspector from real (briefly trained) models."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from nnstudio import resources
from nnstudio.api import Graph
from nnstudio.gui.training.boundary import boundary_image
from nnstudio.gui.training.confusion import ConfusionView
from nnstudio.gui.training.feature_maps import FeatureMapView, map_tiles
from nnstudio.gui.training.filters import FilterView
from nnstudio.training.events import LayerStat
from nnstudio.training.health import judge
from nnstudio.training.payloads import ConfusionResult, Misclassified, ViewWants, downsample
from nnstudio.training.relay import Relay

torch = pytest.importorskip("torch")


def _example(name: str) -> Graph:
    return Graph.load(resources.examples_dir() / f"{name}.nnstudio")


def _inspector(graph: Graph, **wants):
    from nnstudio.training.config import TrainConfig
    from nnstudio.training.inspections import LiveInspector
    from nnstudio.training.loop import Trainer

    config = TrainConfig.from_settings(graph.training).with_overrides(device="cpu", epochs=1)
    trainer = Trainer.for_graph(graph, config)
    relay = Relay()
    inspector = LiveInspector(trainer, relay, lambda: ViewWants(**wants))
    return inspector, relay


def _ids(graph: Graph, *names: str) -> list[str]:
    return [graph.node_by_name(n).id for n in names]


def _sizes(images: list[QImage]) -> set[tuple[int, int]]:
    return {(image.width(), image.height()) for image in images}


def test_the_first_convolution_shows_one_grey_tile_per_filter_at_the_kernel_size(qtbot):
    graph = _example("digits_cnn")  # conv1: 16 filters of 3x3 on one channel
    inspector, relay = _inspector(graph, filters=True, stats=False)
    inspector.refresh()
    view = FilterView()
    qtbot.addWidget(view)
    view.show_filters(relay.take().views["filters"])
    assert len(view.grid.images) == 16
    assert _sizes(view.grid.images) == {(3, 3)}
    assert view.grid.images[0].format() == QImage.Format.Format_Grayscale8
    assert "conv1" in view.title.text() and "16 filters of 3×3" in view.title.text()


def test_a_deeper_convolution_shows_each_filter_averaged_over_its_inputs_or_one_filter_per_input(qtbot):
    graph = _example("digits_cnn")
    conv1, conv2 = _ids(graph, "conv1", "conv2")  # conv2: 32 filters over 16 channels
    inspector, relay = _inspector(graph, filters=True, filter_node=conv2, stats=False)
    inspector.refresh()
    view = FilterView()
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    payload = relay.take().views["filters"]
    view.show_filters(payload)
    # Not 512 tiles of 3x3: one per filter, its kernel averaged over the 16 inputs, numbered.
    assert len(view.grid.images) == 32 and view.grid.captions[:2] == ["1", "2"]
    assert _sizes(view.grid.images) == {(3, 3)}
    weight = inspector.trainer.model.conv2.weight.detach().numpy()
    mean = weight.mean(axis=1)[0]
    assert np.sign(payload.kernels[0, 0] - 0.5) == pytest.approx(np.sign(mean))
    assert np.abs(payload.kernels[0, 0] - 0.5).max() == pytest.approx(0.5)  # stretched: readable contrast
    assert "32 filters of 3×3 over 16 input channels" in view.title.text()
    _cols, _rows, side = view.grid.grid()
    assert side >= 24  # readable tiles in a 500x300 view
    # Both convolutions are in the layer box; the channel box offers the average and each filter.
    assert [view.layer_box.itemData(i) for i in range(view.layer_box.count())] == [conv1, conv2]
    assert view.channel_box.isVisibleTo(view) and view.channel_box.count() == 33
    with qtbot.waitSignal(view.wants_changed):
        view.channel_box.setCurrentIndex(6)
        view.channel_box.activated.emit(6)
    assert view.channel == 5
    inspector.wants = lambda: ViewWants(
        filters=True, filter_node=conv2, filter_channel=view.channel, stats=False
    )
    inspector.refresh()
    view.show_filters(relay.take().views["filters"])
    assert len(view.grid.images) == 16 and view.grid.captions[0] == "in 1"
    assert "filter 6 of 32" in view.title.text()
    # Picking the first layer in the box asks for it, averaged again.
    with qtbot.waitSignal(view.wants_changed):
        view.layer_box.setCurrentIndex(0)
        view.layer_box.activated.emit(0)
    assert view.picked_node == conv1 and view.channel is None


def test_colour_images_give_colour_filters(qtbot):
    graph = Graph(name="rgb")
    x = graph.add("Input", shape=(3, 16, 16))
    conv = graph.add("Conv2d", out_channels=4, kernel_size=5)
    flat = graph.add("Flatten")
    fc = graph.add("Linear", out_features=3)
    out = graph.add("Output")
    for a, b in ((x, conv), (conv, flat), (flat, fc), (fc, out)):
        graph.connect(a, b)
    graph.training = {"dataset": "shapes", "epochs": 1}
    inspector, relay = _inspector(graph, filters=True, stats=False)
    inspector.refresh()
    payload = relay.take().views["filters"]
    assert payload.rgb
    view = FilterView()
    qtbot.addWidget(view)
    view.show_filters(payload)
    assert len(view.grid.images) == 4
    assert _sizes(view.grid.images) == {(5, 5)}
    assert view.grid.images[0].format() == QImage.Format.Format_RGB888


def test_feature_maps_of_a_picked_layer_and_sample_show_a_tile_per_channel(qtbot):
    graph = _example("digits_cnn")
    (conv1,) = _ids(graph, "conv1")
    inspector, relay = _inspector(graph, feature_maps=True, feature_node=conv1, sample_index=5, stats=False)
    inspector.refresh()
    payload = relay.take().views["feature_maps"]
    view = FeatureMapView()
    qtbot.addWidget(view)
    view.show_maps(payload)
    assert payload.sample_index == 5 and payload.truth in [str(d) for d in range(10)]
    assert len(view.grid.images) == 16
    assert _sizes(view.grid.images) == {(8, 8)}
    assert _sizes(view.sample_tile.images) == {(8, 8)}  # the digit fed in
    assert view.sample_spin.maximum() == payload.samples - 1
    assert "16 maps of 8×8" in view.title.text()


def test_a_dense_layer_folds_its_units_into_one_square_and_a_node_without_output_says_why(qtbot):
    graph = _example("mlp_circles")
    (hidden,) = _ids(graph, "hidden")
    inspector, relay = _inspector(graph, feature_maps=True, feature_node=hidden, stats=False)
    inspector.refresh()
    payload = relay.take().views["feature_maps"]
    tiles, what = map_tiles(payload.maps)
    assert what == "16 units" and tiles[0].shape == (4, 4, 3)
    view = FeatureMapView()
    qtbot.addWidget(view)
    view.show_maps(payload)
    assert not view.sample_tile.images  # a 2-D point is written out, not drawn
    assert view.sample_text.text().startswith("(")

    graph.add("Linear", name="unwired")  # added after the model was built
    inspector.wants = lambda: ViewWants(feature_maps=True, feature_node=graph.node_by_name("unwired").id)
    inspector.refresh()
    view.show_maps(relay.take().views["feature_maps"])
    assert not view.grid.images
    assert "not part of the trained model" in view.grid.empty_text


def test_big_maps_are_cut_down_before_they_cross_to_the_gui():
    maps = np.random.default_rng(0).random((4, 200, 100), dtype=np.float32)
    small = downsample(maps)
    assert small.shape == (4, 50, 50)
    assert np.isclose(small[0, 0, 0], maps[0, :4, :2].mean())
    assert downsample(maps[:, :64, :64]).shape == (4, 64, 64)  # small enough: untouched


def test_the_decision_boundary_and_the_confusion_matrix_of_a_real_classifier(qtbot):
    graph = _example("mlp_circles")
    inspector, relay = _inspector(graph, boundary=True, confusion=True, stats=False)
    inspector.refresh()
    views = relay.take().views
    boundary, confusion = views["boundary"], views["confusion"]
    assert boundary.classes.shape == boundary.confidence.shape == (len(boundary.ys), len(boundary.xs))
    # The grid spans the data it is drawn under.
    assert boundary.xs[0] <= boundary.points[:, 0].min() and boundary.points[:, 0].max() <= boundary.xs[-1]
    rgb = boundary_image(boundary.classes, boundary.confidence)
    assert rgb.shape == (*boundary.classes.shape, 3) and rgb.dtype == np.uint8
    assert confusion.matrix.sum() == len(inspector.data.val)

    from nnstudio.gui.training.boundary import BoundaryView

    view = BoundaryView()
    qtbot.addWidget(view)
    view.show_boundary(boundary)
    assert view.plane.picture_shape == boundary.classes.shape
    assert view.plane.point_count == len(boundary.points)


def test_uncertain_regions_are_paler_than_certain_ones():
    classes = np.array([[0, 1]])
    unsure, sure = (
        boundary_image(classes, np.array([[0.5, 0.5]])),
        boundary_image(classes, np.array([[1.0, 1.0]])),
    )
    assert (unsure.astype(int).sum(axis=-1) > sure.astype(int).sum(axis=-1)).all()


def test_the_confusion_view_shows_accuracy_and_captions_misclassified_samples(qtbot):
    matrix = np.array([[8, 2], [1, 9]])
    digit = np.zeros((1, 8, 8), np.float32)
    wrong = tuple(Misclassified(i, digit, "a", "b") for i in range(3))
    view = ConfusionView()
    qtbot.addWidget(view)
    view.show_confusion(ConfusionResult(matrix, ("a", "b"), 4, wrong, 3))
    assert "85.0% of 20 samples right, 3 wrong" in view.title.text()
    assert view.wrong.captions == ["a→b"] * 3
    assert _sizes(view.wrong.images) == {(8, 8)}


def _stat(grad: float, dead: float = float("nan")) -> LayerStat:
    return LayerStat(0.0, 1.0, grad, dead)


def test_vanishing_and_exploding_gradients_and_dead_relus_are_named():
    warnings = judge(
        {
            "fine": _stat(0.5),
            "tiny": _stat(1e-6),  # a millionth of the largest
            "huge": _stat(5e3),
            "inf": _stat(float("inf")),
            "relu": _stat(float("nan"), 0.75),
            "ok_relu": _stat(float("nan"), 0.1),
        }
    )
    kinds = {node: [w.kind for w in found] for node, found in warnings.items()}
    assert kinds == {"tiny": ["vanishing"], "huge": ["exploding"], "inf": ["exploding"], "relu": ["dead"]}
    assert "75% of this ReLU's units" in warnings["relu"][0].message


def test_the_filter_layer_comes_from_the_latest_pick_the_layer_box_or_the_canvas(qtbot):
    from nnstudio.gui.training.insights import InsightsTabs

    tabs = InsightsTabs()
    qtbot.addWidget(tabs)
    tabs.setCurrentWidget(tabs.filters)
    assert tabs.wants(True, "conv1", None).filter_node == "conv1"
    tabs.filters.picked_node, tabs.filters.channel = "conv2", 3  # picked in the layer and channel boxes
    wants = tabs.wants(True, "conv1", None)
    assert (wants.filter_node, wants.filter_channel) == ("conv2", 3)
    wants = tabs.wants(True, "conv3", None)  # then a convolution clicked on the canvas
    assert (wants.filter_node, wants.filter_channel) == ("conv3", None)
