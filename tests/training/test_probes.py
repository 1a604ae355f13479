"""What the GUI's views show: filters, feature maps, layer statistics, boundaries, confusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nnstudio.api import Graph
from nnstudio.training import probes as inspect
from nnstudio.training.config import TrainConfig
from nnstudio.training.errors import InspectError
from nnstudio.training.loop import Trainer
from tests.conftest import EXAMPLES_DIR


def compiled(name: str) -> tuple[Graph, nn.Module]:
    graph = Graph.load(EXAMPLES_DIR / f"{name}.nnstudio")
    torch.manual_seed(0)
    return graph, graph.compile()


def node_id(graph: Graph, name: str) -> str:
    return graph.node_by_name(name).id


def test_first_layer_filters_are_scaled_so_zero_is_grey() -> None:
    graph, model = compiled("digits_cnn")
    with torch.no_grad():
        model.conv1.weight[0, 0, 0, 0] = 0.0
    found, kernels = inspect.first_layer_filters(model)
    assert found == node_id(graph, "conv1")
    assert kernels.shape == (16, 1, 3, 3) and kernels.dtype == np.float32
    assert kernels[0, 0, 0, 0] == 0.5
    flat = kernels.reshape(16, -1)
    # Each filter's strongest weight reaches the end of the range; the sign is kept.
    assert np.all((np.isclose(flat.max(axis=1), 1.0)) | np.isclose(flat.min(axis=1), 0.0))
    assert flat.min() >= 0.0 and flat.max() <= 1.0


def test_kernels_of_a_deeper_convolution_and_of_a_layer_without_any() -> None:
    graph, model = compiled("digits_cnn")
    assert inspect.conv_kernels(model, node_id(graph, "conv2")).shape == (32, 16, 3, 3)
    with pytest.raises(InspectError, match="Linear 'fc1' is not a convolution"):
        inspect.conv_kernels(model, node_id(graph, "fc1"))
    _, lstm = compiled("lstm_sequence")
    assert inspect.first_layer_filters(lstm) is None


def test_feature_maps_of_layers_with_and_without_a_module() -> None:
    graph, model = compiled("resnet_block")
    model.train()
    sample = torch.randn(1, 8, 8)
    maps = inspect.feature_maps(model, node_id(graph, "stem"), sample)
    assert maps.shape == (16, 8, 8)
    with torch.no_grad():
        expected = model.eval().stem(sample[None])[0].numpy()
    model.train()
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)
    # Add has no module: its value is read from the generated forward.
    shortcut = inspect.feature_maps(model, node_id(graph, "shortcut"), sample)
    assert shortcut.shape == (16, 8, 8)
    assert inspect.feature_maps(model, node_id(graph, "image"), sample).shape == (1, 8, 8)
    scores = inspect.feature_maps(model, node_id(graph, "scores"), sample)
    with torch.no_grad():
        np.testing.assert_allclose(scores, model.eval()(sample[None])[0].numpy(), rtol=1e-5, atol=1e-6)
    assert model.training is False  # left as found: we put it in eval above
    assert inspect.feature_maps(model, node_id(graph, "stem"), sample, max_maps=4).shape == (4, 8, 8)


def test_inspection_leaves_training_mode_and_gradients_alone() -> None:
    graph, model = compiled("digits_cnn")
    model.train()
    inspect.feature_maps(model, node_id(graph, "relu1"), torch.randn(1, 8, 8))
    assert model.training and all(p.grad is None for p in model.parameters())


def test_hand_built_models_use_their_children_as_nodes() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))
    assert inspect.feature_maps(model, "1", torch.randn(2)).shape == (4,)
    with pytest.raises(InspectError, match="no layer named 'fc9'"):
        inspect.feature_maps(model, "fc9", torch.randn(2))


def test_layer_statistics_show_dead_relus_and_gradients() -> None:
    graph, model = compiled("mlp_circles")
    names = {node.name: node.id for node in graph.nodes.values()}
    hidden = next(n for n in graph.nodes.values() if n.type == "Linear")
    relu = next(n for n in graph.nodes.values() if n.type == "ReLU")
    probe = torch.randn(64, 2)
    model(probe).sum().backward()
    with torch.no_grad():
        getattr(model, model.nnstudio_code.attr_of[hidden.id]).bias.fill_(-100.0)  # every unit off
    stats = inspect.layer_statistics(model, probe)
    assert set(stats) == {n for n in names.values() if graph.nodes[n].spec.role == ""}
    assert stats[relu.id].dead_fraction == 1.0 and stats[relu.id].mean == 0.0
    assert stats[hidden.id].grad_norm > 0 and np.isnan(stats[hidden.id].dead_fraction)


@pytest.fixture(scope="module")
def trained_circles():
    graph = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    config = TrainConfig.from_settings(graph.training).with_overrides(device="cpu", epochs=5)
    trainer = Trainer.for_graph(graph, config)
    result = trainer.run()
    return trainer, result


def test_grid_predictions_draw_the_circles_boundary(trained_circles) -> None:
    trainer, _ = trained_circles
    grid = inspect.predict_grid(trainer.model, (-1.5, 1.5), (-1.5, 1.5), 41)
    assert grid.classes.shape == grid.confidence.shape == (41, 41)
    inner = trainer.data.class_names.index("inner")
    assert grid.classes[20, 20] == inner  # the centre is the inner circle
    assert grid.classes[0, 0] != inner and grid.classes[40, 40] != inner
    assert ((grid.confidence >= 0.5) & (grid.confidence <= 1.0)).all()


def test_confusion_matrix_and_misclassified_samples(trained_circles) -> None:
    trainer, result = trained_circles
    confusion = inspect.confusion(trainer.model, trainer.data)
    labels = trainer.data.val.tensors[1].numpy()
    assert confusion.matrix.shape == (2, 2) and confusion.matrix.sum() == len(labels)
    assert confusion.accuracy == pytest.approx(result.history.epochs[-1].val_acc)
    np.testing.assert_array_equal(confusion.misclassified, np.flatnonzero(confusion.predicted != labels))


def test_confusion_needs_classes() -> None:
    graph = Graph.load(EXAMPLES_DIR / "autoencoder.nnstudio")
    trainer = Trainer.for_graph(graph, TrainConfig.from_settings(graph.training).with_overrides(device="cpu"))
    with pytest.raises(InspectError, match="needs classes, but digits is a reconstruction task"):
        inspect.confusion(trainer.model, trainer.data)
