"""The exported train.py trains like the app: identical per-epoch metrics for every example.

Each case trains 2 epochs with the trainer ``nnstudio train`` uses and with the
exported script (same seed, CPU, one thread) and compares every number of every
epoch to 1e-6. Together the cases use every loss, optimizer and schedule the
settings offer. Large built-in sets are cut to a seeded subset saved as .npz
(which both sides read: the app with its readers, train.py with the recipe), so
the module stays fast.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nnstudio.api import Graph
from nnstudio.compiler.codegen import generate
from nnstudio.compiler.train_script import write_train_script
from nnstudio.training import recipe
from nnstudio.training.config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from nnstudio.training.errors import DataMismatchError
from nnstudio.training.events import Finished
from nnstudio.training.loop import Trainer
from tests.training.conftest import mlp

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
_counter = itertools.count()

# (example, settings, samples kept from its built-in set or None for all of it)
CASES = [
    ("mlp_circles", {"optimizer": "adam", "schedule": "none", "loss": "auto", "lr": 0.05}, None),
    (
        "logistic_circles",
        {"optimizer": "sgd", "schedule": "step", "loss": "bce_with_logits", "lr": 0.1},
        None,
    ),
    ("digits_cnn", {"optimizer": "adamw", "schedule": "cosine", "loss": "cross_entropy"}, 300),
    # 241 samples: 193 to train on, so each epoch's last batch of 32 holds one sample, which a
    # BatchNorm model cannot train on: both sides drop it (recipe.batch_bounds).
    ("resnet_block", {"optimizer": "rmsprop", "schedule": "none", "loss": "auto", "lr": 0.001}, 241),
    ("autoencoder", {"optimizer": "adagrad", "schedule": "step", "loss": "mse"}, 300),
    # The case: a BCE loss on a reconstruction (train.py used to fall back to MSE).
    ("autoencoder", {"optimizer": "adam", "schedule": "cosine", "loss": "bce_with_logits"}, 200),
    ("lstm_sequence", {"optimizer": "adam", "schedule": "cosine", "loss": "auto"}, 160),
    ("lenet5", {"optimizer": "sgd", "schedule": "none", "loss": "auto", "weight_decay": 0.001}, 128),
    ("googlenet_mini", {"optimizer": "adamw", "schedule": "step", "loss": "auto"}, 64),
]


# Every other example trains with its own settings on a small subset of its data.
CASES += [
    (path.stem, {}, 32)
    for path in sorted(EXAMPLES.glob("*.nnstudio"))
    if path.stem not in {case[0] for case in CASES}
]


def test_the_cases_use_every_loss_optimizer_and_schedule():
    used = {key: {case[1].get(key) for case in CASES} for key in ("loss", "optimizer", "schedule")}
    assert used["loss"] >= set(LOSSES) and used["optimizer"] >= set(OPTIMIZERS)
    assert used["schedule"] >= set(SCHEDULES)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _subset(graph: Graph, keep: int, folder: Path) -> str:
    """A seeded subset of the graph's built-in set, as an .npz both sides read."""
    io = recipe.NetworkIO(**_network(graph))
    x, y, _names = recipe.BUILTIN[graph.training.get("dataset", "digits")](
        io.input_shape, recipe.wanted_classes(io), 0
    )
    rows = np.sort(np.random.default_rng(1).choice(len(x), keep, replace=False))
    path = folder / "subset.npz"
    np.savez(path, x=x[rows], y=y[rows])
    return str(path)


def _network(graph: Graph) -> dict:
    from nnstudio.training.data import ModelIO

    io = ModelIO.of(graph)
    return {k: getattr(io, k) for k in recipe.NetworkIO.__dataclass_fields__}


def _import_script(folder: Path):
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"parity_train_{next(_counter)}", folder / "train.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)
        sys.modules.pop("nnstudio_recipe", None)
    assert module.recipe.__file__.startswith(str(folder))  # the copy beside train.py, not nnstudio's
    return module


def _app_metrics(graph: Graph) -> list[dict]:
    config = TrainConfig.from_settings(graph.training).with_overrides(device="cpu")
    result = Trainer.for_graph(graph, config).run()
    assert isinstance(result, Finished), getattr(result, "message", result)
    return [
        {k: getattr(r, k) for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")}
        for r in result.history.epochs
    ]


def _script_metrics(graph: Graph, folder: Path) -> list[dict]:
    code = generate(graph)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(code.src, encoding="utf-8")
    write_train_script(graph, folder, code)
    script = _import_script(folder)
    return script.main(["--device", "cpu", "--out", str(folder / "out")])


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-6


@pytest.mark.parametrize(
    ("example", "settings", "keep"), CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_train_py_reports_the_apps_metrics_epoch_by_epoch(example, settings, keep, tmp_path: Path):
    graph = Graph.load(EXAMPLES / f"{example}.nnstudio")
    graph.training.update(settings, epochs=2, batch_size=32 if keep is None or keep > 32 else 8, seed=5)
    if keep is not None and graph.training.get("dataset", "digits") in recipe.BUILTIN:
        graph.training["dataset"] = _subset(graph, keep, tmp_path)
    app = _app_metrics(graph)
    script = _script_metrics(graph, tmp_path / "export")
    assert len(app) == len(script) == 2
    for ours, theirs in zip(script, app, strict=True):
        different = {k: (ours[k], theirs[k]) for k in theirs if not _same(float(ours[k]), float(theirs[k]))}
        assert not different, f"epoch {theirs['epoch']}: train.py vs app {different}"
    assert app[1]["train_loss"] != app[0]["train_loss"]  # it did train


def test_targets_the_output_cannot_produce_are_refused_alike(tmp_path: Path, capsys):
    """Output (3,) with targets (1,): the app refuses, and train.py refuses with the same sentence
    (it used to train on broadcast targets and exit 0)."""
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "numbers.npz",
        x=rng.normal(size=(64, 2)).astype(np.float32),
        y=rng.normal(size=(64, 1)).astype(np.float32),
    )
    graph = mlp(outputs=3)
    graph.training.update(dataset=str(tmp_path / "numbers.npz"), epochs=1)
    with pytest.raises(DataMismatchError) as refused:
        Trainer.for_graph(graph, TrainConfig.from_settings(graph.training).with_overrides(device="cpu"))
    assert "receives shape (3,)" in str(refused.value) and "have shape (1,)" in str(refused.value)
    with pytest.raises(SystemExit) as exited:
        _script_metrics(graph, tmp_path / "export")
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == f"error: {refused.value}"
    assert not (tmp_path / "export" / "out" / "weights.pt").exists()


def test_a_batch_norm_network_leaves_out_a_one_sample_last_batch_on_both_sides(tmp_path: Path):
    """800 training samples in batches of 799: the last batch would hold one sample, which
    BatchNorm1d cannot train on. The app used to fail there while train.py dropped it; the
    recipe's one rule drops it on both sides."""
    graph = Graph(name="BatchNorm MLP")
    chain = [
        graph.add("Input", name="point", shape=[2]),
        graph.add("Linear", name="fc1", out_features=8),
        graph.add("BatchNorm1d", name="bn"),
        graph.add("ReLU", name="act"),
        graph.add("Linear", name="fc2", out_features=2),
        graph.add("Output", name="scores"),
    ]
    for a, b in itertools.pairwise(chain):
        graph.connect(a, b)
    graph.training = {"dataset": "circles", "lr": 0.01, "epochs": 2, "batch_size": 799, "seed": 2}
    app = _app_metrics(graph)
    script = _script_metrics(graph, tmp_path / "export")
    for ours, theirs in zip(script, app, strict=True):
        assert all(_same(float(ours[k]), float(theirs[k])) for k in theirs), (ours, theirs)


def test_a_csv_data_set_trains_alike(tmp_path: Path):
    """A CSV file with named classes in a chosen label column: read by the app's readers and by
    the recipe's reader in train.py, then trained alike."""
    x, y, names = recipe.circles((2,), 2, 0)
    lines = ["kind,px,py"] + [
        f"{names[k]},{a!r},{b!r}" for k, (a, b) in zip(y.tolist(), x.tolist(), strict=True)
    ]
    (tmp_path / "circles.csv").write_text("\n".join(lines[:301]) + "\n", encoding="utf-8")
    graph = Graph.load(EXAMPLES / "mlp_circles.nnstudio")
    graph.training.update(dataset=str(tmp_path / "circles.csv"), label_column="kind", epochs=2, batch_size=32)
    app = _app_metrics(graph)
    script = _script_metrics(graph, tmp_path / "export")
    for ours, theirs in zip(script, app, strict=True):
        assert all(_same(float(ours[k]), float(theirs[k])) for k in theirs), (ours, theirs)
