"""Issue 13, point 3: the decision boundary of a small 2-D network is live (redrawn several times a
second of training, where it used to wait a second or more), and every hidden neuron of any 2-D
architecture shows what it computes over the plane."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from nnstudio.api import Graph
from nnstudio.gui.training import worker as worker_module
from nnstudio.training import inspections
from nnstudio.training.payloads import MAX_ROW_UNITS, MAX_UNITS, NEURON_SIDE, ViewWants
from nnstudio.training.relay import Relay

from .conftest import RUN_TIMEOUT_MS, wait_for_run

torch = pytest.importorskip("torch")


def _inspector(graph: Graph, wants: list[ViewWants]):
    from nnstudio.training.config import TrainConfig
    from nnstudio.training.loop import Trainer

    config = TrainConfig.from_settings(graph.training).with_overrides(device="cpu", epochs=1)
    trainer = Trainer.for_graph(graph, config)
    relay = Relay()
    return inspections.LiveInspector(trainer, relay, lambda: wants[0]), relay, trainer


def _chain(graph: Graph, *nodes):
    for a, b in itertools.pairwise(nodes):
        graph.connect(a, b)


def _two_layer_net(width: int = 8) -> Graph:
    graph = Graph(name="deep circles")
    x = graph.add("Input", shape=(2,), name="point")
    fc1 = graph.add("Linear", out_features=width, name="fc1")
    tanh = graph.add("Tanh", name="tanh")
    fc2 = graph.add("Linear", out_features=6, name="fc2")
    relu = graph.add("ReLU", name="relu")
    out_fc = graph.add("Linear", out_features=2, name="classifier")
    out = graph.add("Output", name="scores")
    _chain(graph, x, fc1, tanh, fc2, relu, out_fc, out)
    graph.training = {"dataset": "circles", "epochs": 1}
    return graph


BOUNDARY = ViewWants(boundary=True, stats=False)


def test_each_hidden_layer_shows_a_thumbnail_per_unit_of_what_it_computes_over_the_plane():
    inspector, relay, trainer = _inspector(_two_layer_net(), [BOUNDARY])
    inspector.refresh()
    payload = relay.take().views["boundary"]
    # A layer and the activation after it are one row of neurons; the output layer is the boundary.
    assert [label for _, label, _ in payload.layers] == ["fc1 → tanh", "fc2 → relu"]
    assert [(n.label, n.units.shape, n.total) for n in payload.neurons] == [
        ("fc1 → tanh", (8, NEURON_SIDE, NEURON_SIDE), 8),
        ("fc2 → relu", (6, NEURON_SIDE, NEURON_SIDE), 6),
    ]
    tanh_layer = payload.neurons[0]
    assert np.abs(tanh_layer.units).max() == pytest.approx(1.0)
    # A thumbnail's pixel is the unit's real output at that point of the plane (its 3x3 block's mean).
    model = trainer.model.eval()
    xs, ys = payload.xs, payload.ys
    f = len(xs) // NEURON_SIDE  # grid points per thumbnail pixel, each way
    block = np.stack(np.meshgrid(xs[f : 2 * f], ys[2 * f : 3 * f]), axis=-1).reshape(-1, 2).astype(np.float32)
    with torch.no_grad():
        hidden = torch.tanh(model.fc1(model.point_preprocess(torch.from_numpy(block))))
    expected = hidden.mean(dim=0).numpy() / tanh_layer.peak
    assert tanh_layer.units[:, 2, 1] == pytest.approx(expected, abs=1e-4)


def test_any_2d_architecture_gets_neurons_even_layers_without_a_module():
    graph = Graph(name="residual")
    x = graph.add("Input", shape=(2,), name="point")
    fc1 = graph.add("Linear", out_features=8, name="fc1")
    relu = graph.add("ReLU", name="relu")
    fc2 = graph.add("Linear", out_features=8, name="fc2")
    add = graph.add("Add", name="skip")
    head = graph.add("Linear", out_features=2, name="head")
    out = graph.add("Output", name="scores")
    _chain(graph, x, fc1, relu, fc2)
    graph.connect(relu, add)
    graph.connect(fc2, add, 1)
    _chain(graph, add, head, out)
    graph.training = {"dataset": "circles", "epochs": 1}
    inspector, relay, _ = _inspector(graph, [BOUNDARY])
    inspector.refresh()
    payload = relay.take().views["boundary"]
    labels = [n.label for n in payload.neurons]
    assert labels == ["fc1 → relu", "fc2", "skip"]  # the Add has no submodule: the tracer reads it
    assert all(n.units.shape == (8, NEURON_SIDE, NEURON_SIDE) for n in payload.neurons)


def test_a_wide_layer_shows_its_first_units_and_all_of_them_once_picked(qtbot):
    wants = [BOUNDARY]
    inspector, relay, _ = _inspector(_two_layer_net(width=100), wants)
    inspector.refresh()
    overview = relay.take().views["boundary"]
    wide = overview.neurons[0]
    assert wide.units.shape[0] == MAX_ROW_UNITS and wide.total == 100

    from nnstudio.gui.training.boundary import BoundaryView

    view = BoundaryView()
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    view.show_boundary(overview)
    assert view.neurons.thumbnails == MAX_ROW_UNITS + 6
    picker = view.neurons.picker
    assert [picker.itemText(i) for i in range(picker.count())] == [
        "All hidden layers",
        "fc1 → tanh (100 units)",
        "fc2 → relu (6 units)",
    ]
    with qtbot.waitSignal(view.layer_picked) as picked:
        picker.setCurrentIndex(1)
        picker.activated.emit(1)
    assert picked.args == [wide.node_id] and view.neuron_layer == wide.node_id
    wants[0] = ViewWants(boundary=True, stats=False, neuron_layer=view.neuron_layer)
    inspector.refresh()
    full = relay.take().views["boundary"]
    assert full.picked == wide.node_id and [n.units.shape[0] for n in full.neurons] == [MAX_UNITS]
    view.show_boundary(full)
    assert view.neurons.thumbnails == MAX_UNITS and len(view.neurons.tiles.images) == MAX_UNITS


def test_a_network_without_hidden_layers_says_why_it_has_no_neurons(qtbot):
    graph = Graph(name="logistic")
    x = graph.add("Input", shape=(2,))
    fc = graph.add("Linear", out_features=2)
    out = graph.add("Output")
    _chain(graph, x, fc, out)
    graph.training = {"dataset": "circles", "epochs": 1}
    inspector, relay, _ = _inspector(graph, [BOUNDARY])
    inspector.refresh()
    payload = relay.take().views["boundary"]
    assert payload.neurons == () and payload.layers == ()
    from nnstudio.gui.training.boundary import BoundaryView

    view = BoundaryView()
    qtbot.addWidget(view)
    view.show_boundary(payload)
    assert "no hidden layer" in view.neurons.tiles.empty_text


def test_a_cheap_boundary_is_due_again_soon_and_an_expensive_one_waits(monkeypatch):
    inspector, _relay, _ = _inspector(_two_layer_net(), [BOUNDARY])
    inspector.refresh()
    inspector.refresh()  # warmed up: the cost of a pass is what it costs from now on
    assert inspector._next["boundary"] - time.perf_counter() <= inspections.FAST_INTERVAL
    real = inspections.inspection.predict_grid

    def slow(*args, **kwargs):
        spent = time.thread_time() + 0.03  # a network too big to redraw several times a second
        while time.thread_time() < spent:
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(inspections.inspection, "predict_grid", slow)
    inspector.refresh()
    inspector.refresh()
    assert inspector._next["boundary"] - time.perf_counter() > 1.0


def test_the_boundary_of_circles_is_redrawn_at_least_four_times_a_second_of_training(
    train_window, qtbot, monkeypatch
):
    # One torch thread: this shared test machine is busy, and two OpenMP threads fighting over its
    # cores slow a tiny network 50x; the rate measured is the view's, not the machine's.
    monkeypatch.setenv(worker_module.THREADS_ENV, "1")
    window = train_window("mlp_circles", epochs=100_000)
    training = window.training
    training.start()
    training.tabs.setCurrentWidget(training.tabs.boundary_host)
    seen: list[tuple[float, float, object]] = []  # (training seconds, step, payload)

    def on_update(update) -> None:
        if "boundary" in update.views and update.progress is not None:
            seen.append((update.progress.elapsed, update.views["boundary"].step, update.views["boundary"]))

    training.worker.updated.connect(on_update)
    qtbot.waitUntil(lambda: len(seen) >= 2 and seen[-1][0] - seen[0][0] >= 3.0, timeout=RUN_TIMEOUT_MS)
    training.stop()
    wait_for_run(qtbot, training)
    seconds = seen[-1][0] - seen[0][0]
    per_second = (len(seen) - 1) / seconds
    assert per_second >= 4.0, f"{len(seen)} boundaries in {seconds:.2f} s of training"
    assert len({step for _, step, _ in seen}) == len(seen)  # each one a newer network
    first, last = seen[0][2], seen[-1][2]
    assert not np.array_equal(first.confidence, last.confidence)  # it moves as the network learns
    view = training.tabs.boundary
    # Each boundary is drawn in an event of its own: the newest arrives, and (nearly) none is dropped.
    qtbot.waitUntil(lambda: view.payload is seen[-1][2], timeout=5000)
    assert view.updates >= 0.9 * len(seen) and view.neurons.thumbnails == 16
