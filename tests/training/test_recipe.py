"""The training recipe shared with train.py, and the trainer bugs it helped fix."""

from __future__ import annotations

import ast
import gc
import itertools
import math
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nnstudio.training import recipe
from nnstudio.training.data import load_for_graph
from nnstudio.training.events import Failed, Finished
from nnstudio.training.loop import Trainer
from tests.training.conftest import mlp

ALLOWED = {"numpy", "torch", "sklearn"} | set(sys.stdlib_module_names)


def test_the_recipe_imports_only_the_standard_library_numpy_and_torch():
    tree = ast.parse(Path(recipe.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    }
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= ALLOWED, imported - ALLOWED


# --- the model's preprocessing ----------------------------------------------------------------


class Preprocess(nn.Module):
    """The interface of the generated module: buffers shift and scale, fit(raw samples)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(features))
        self.register_buffer("scale", torch.ones(features))
        self.fitted_on = 0

    def fit(self, x: torch.Tensor) -> None:
        self.shift.copy_(x.mean(0))
        self.scale.copy_(x.std(0, correction=0))
        self.fitted_on = len(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


def test_fit_preprocessing_fits_every_preprocess_module_and_nothing_else():
    model = nn.Sequential(Preprocess(2), nn.Linear(2, 2))
    x = torch.randn(500, 2) * 3 + 7
    assert recipe.fit_preprocessing(model, x) == 1
    torch.testing.assert_close(model[0].shift, x.mean(0))
    torch.testing.assert_close(recipe.input_targets(model, x).mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    plain = nn.Sequential(nn.Linear(2, 2))
    before = {k: v.clone() for k, v in plain.state_dict().items()}
    assert recipe.fit_preprocessing(plain, x) == 0  # no preprocessing: nothing happens
    assert all(torch.equal(before[k], v) for k, v in plain.state_dict().items())
    assert recipe.input_targets(plain, x) is x


def test_preprocessing_is_fitted_on_a_seeded_sample_of_the_training_split():
    rows = recipe.preprocessing_rows(10_000, seed=3)
    assert len(rows) == recipe.PREPROCESS_SAMPLES and np.array_equal(
        rows, recipe.preprocessing_rows(10_000, 3)
    )
    assert np.array_equal(recipe.preprocessing_rows(100, 3), np.arange(100))


def _with_preprocess(monkeypatch):
    """compile_graph as the trainer calls it, with a Preprocess module added to the model."""
    from nnstudio.compiler import codegen

    original = codegen.compile_graph

    def compile_with_preprocess(graph, *args, **kwargs):
        model = original(graph, *args, **kwargs)
        model.add_module("extra_preprocess", Preprocess(2))
        return model

    monkeypatch.setattr(codegen, "compile_graph", compile_with_preprocess)


def test_a_fresh_run_fits_the_preprocessing_and_a_resumed_one_keeps_it(
    circles_graph, quick, tmp_path, monkeypatch
):
    _with_preprocess(monkeypatch)
    config = quick(circles_graph, epochs=1)
    trainer = Trainer.for_graph(circles_graph, config, checkpoint_dir=tmp_path)
    train_x = load_for_graph(circles_graph, config).train.tensors[0]
    module = trainer.model.extra_preprocess
    assert module.fitted_on == len(train_x)
    torch.testing.assert_close(module.shift, train_x.mean(0))
    assert isinstance(trainer.run(), Finished)
    resumed = Trainer.for_graph(
        circles_graph, config.with_overrides(epochs=2), resume_from=trainer.last_checkpoint
    )
    assert resumed.model.extra_preprocess.fitted_on == 0  # the statistics come from the checkpoint
    torch.testing.assert_close(resumed.model.extra_preprocess.shift, module.shift)


def test_continuing_with_carried_weights_keeps_fitted_statistics_and_fits_fresh_ones(circles_graph, quick):
    from nnstudio.compiler.codegen import compile_graph

    model = compile_graph(circles_graph)
    model.add_module("kept", Preprocess(2))
    model.add_module("fresh", Preprocess(2))  # e.g. its Input's normalisation was changed
    with torch.no_grad():
        model.kept.shift.fill_(3.0)
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph), model=model)
    assert trainer.model.kept.fitted_on == 0 and float(trainer.model.kept.shift[0]) == 3.0
    assert trainer.model.fresh.fitted_on > 0


# --- the last batch ----------------------------------------------------------------------------


def test_the_last_batch_rule():
    assert recipe.batch_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert recipe.batch_bounds(9, 4) == [(0, 4), (4, 8), (8, 9)]
    assert recipe.batch_bounds(9, 4, batch_norm=True) == [(0, 4), (4, 8)]  # one sample: no batch norm
    assert recipe.batch_bounds(11, 4, world_size=2) == [(0, 4), (4, 8), (8, 10)]  # equal slices
    assert recipe.batch_bounds(3, 8) == [(0, 3)]


def test_a_batch_norm_model_trains_when_the_last_batch_holds_one_sample(quick):
    from nnstudio.api import Graph

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
    graph.training = {"dataset": "circles", "lr": 0.01}
    # circles: 800 training samples, so batches of 799 leave one sample for a last batch.
    trainer = Trainer.for_graph(graph, quick(graph, epochs=1, batch_size=799))
    result = trainer.run()
    assert isinstance(result, Finished), getattr(result, "message", "")
    assert trainer.step == 1  # the one-sample batch was left out, not fed to BatchNorm


# --- faults ----------------------------------------------------------------------------------


class _InfWhenEvaluating(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        out = self.inner(x)
        return out if self.training else out * math.inf


def test_an_infinite_validation_loss_fails_the_run_and_keeps_the_last_good_checkpoint(
    circles_graph, quick, tmp_path
):
    from nnstudio.compiler.codegen import compile_graph

    config = quick(circles_graph, epochs=2)
    data = load_for_graph(circles_graph, config)
    model = _InfWhenEvaluating(compile_graph(circles_graph))
    trainer = Trainer(model, data, config, output_shape=(2,), loss="cross_entropy", checkpoint_dir=tmp_path)
    result = trainer.run()
    assert isinstance(result, Failed) and result.kind == "nan"
    assert result.message.startswith(
        "The validation loss became NaN after epoch 1"
    ) or result.message.startswith("The validation loss became infinite after epoch 1")
    assert result.checkpoint is None and not result.history.epochs  # no epoch of inf weights recorded


def test_out_of_memory_collects_no_garbage_on_the_training_thread(circles_graph, quick, monkeypatch):
    from nnstudio.compiler.codegen import compile_graph

    class OutOfMemory(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = compile_graph(circles_graph)

        def forward(self, x):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    collected = []
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(threading.current_thread().name) or 0)
    config = quick(circles_graph, epochs=1)
    trainer = Trainer(OutOfMemory(), load_for_graph(circles_graph, config), config, output_shape=(2,))
    assert trainer.run().kind == "out_of_memory"
    assert collected == []  # the GUI's collector collects, on the GUI thread only


def test_a_request_is_never_run_on_the_callers_thread_once_a_run_ended(circles_graph, quick):
    trainer = Trainer.for_graph(circles_graph, quick(circles_graph, epochs=1))
    called = []
    assert trainer.submit_if_running(lambda model: called.append(1)) is None and called == []
    threads = []
    done = threading.Event()

    def listener(event):
        if isinstance(event, Finished | Failed):
            done.set()
        elif not threads:
            future = trainer.submit_if_running(lambda model: threading.current_thread())
            threads.append(future)

    runner = threading.Thread(target=trainer.run, args=(listener,), name="training")
    runner.start()
    runner.join(60)
    assert done.is_set() and threads and threads[0].result(5).name == "training"


# --- resuming a DataLoader-fed run ---------------------------------------------------------------


def test_an_image_folder_run_stopped_mid_epoch_continues_where_it_stopped(tmp_path, quick):
    from tests.training.test_data import _image_folder

    graph = mlp(inputs=(1, 8, 8))
    graph.training["dataset"] = str(_image_folder(tmp_path / "images", per_class=20))
    config = quick(graph, epochs=2, batch_size=4, report_every=0.0)
    straight = Trainer.for_graph(graph, config).run()

    trainer = Trainer.for_graph(graph, config)

    def stop_early(event):
        if getattr(event, "step", 0) >= 3 and not isinstance(event, Finished | Failed):
            trainer.stop()

    first = trainer.run(stop_early)
    assert isinstance(first, Finished) and first.stopped and trainer.step == 3
    second = trainer.run()
    assert isinstance(second, Finished) and not second.stopped, getattr(second, "message", "")
    steps = second.history.points.steps
    np.testing.assert_array_equal(steps, np.arange(1, len(steps) + 1))
    np.testing.assert_allclose(second.history.points.loss, straight.history.points.loss, rtol=1e-6)
    assert [round(e.val_loss, 6) for e in second.history.epochs] == [
        round(e.val_loss, 6) for e in straight.history.epochs
    ]


@pytest.mark.parametrize("settings", [{"device": "tpu"}, {"seed": 2**64}])
def test_export_train_script_refuses_what_train_refuses_before_writing_anything(tmp_path, settings, capsys):
    from nnstudio.api import Graph
    from nnstudio.cli import main
    from tests.conftest import EXAMPLES_DIR

    graph = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    graph.training.update(settings)
    project = tmp_path / "p.nnstudio"
    graph.save(project)
    out = tmp_path / "out"
    refused = main(["train", str(project), "--out", str(tmp_path / "run")])
    said = capsys.readouterr().err
    assert refused != 0 and "Training setting" in said
    assert main(["export", str(project), "-o", str(out), "--train-script"]) == refused
    assert capsys.readouterr().err == said  # the same sentence
    assert not out.exists() or not any(out.iterdir())  # and nothing written


# --- CSV files: train.py reads them as the app does ------------------------------------------


@pytest.mark.parametrize(
    ("text", "label_column"),
    [
        ("a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n", None),
        ("1;2;0\n3;4;1\n5.5;6;1\n", None),
        ("kind\tx\ty\nhigh\t0.5\t1\nlow\t0.1\t2\n", "kind"),
        ("x,y,target\n1,2,0.5\n3,4,1.25\n", -1),
        ("x,target,y\n1,7,2\n3,8,4\n", 1),
    ],
)
def test_the_recipes_csv_reader_reads_what_the_apps_reads(tmp_path, text, label_column):
    from nnstudio.training import readers

    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    ours, theirs = recipe.read_csv(path, label_column), readers.read_csv(path, label_column)
    np.testing.assert_array_equal(ours.x, theirs.x)
    assert ours.y.dtype == theirs.y.dtype
    np.testing.assert_array_equal(ours.y, theirs.y)
    assert ours.class_names == theirs.class_names


def test_a_csv_problem_is_a_sentence_naming_the_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,label\n1,2,cat\n3,oops,dog\n", encoding="utf-8")
    with pytest.raises(recipe.RecipeError, match=r"data\.csv, line 3, column 'b': 'oops' is not a number"):
        recipe.read_csv(path)
    with pytest.raises(recipe.RecipeError, match="no column named 'kind'; its columns are a, b, label"):
        recipe.read_csv(path, "kind")
