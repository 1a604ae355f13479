"""The exported train.py: standalone, faithful to the project, and to the app's data."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nnstudio.api import Graph
from nnstudio.compiler.train_script import DEFAULTS, TrainScriptError, generate_train_script, recipe_source
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import ModelIO, load_for_graph, resolve_loss

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
# Modules a user of the exported script has: the standard library, numpy, torch,
# scikit-learn (digits, circles, moons) and the model.py written beside it.
ALLOWED_IMPORTS = {"numpy", "torch", "sklearn", "model", "nnstudio_recipe"} | set(sys.stdlib_module_names)


def test_defaults_are_the_apps_defaults():
    app = TrainConfig()
    assert {key: getattr(app, key) for key in DEFAULTS} == DEFAULTS


def test_the_script_imports_nothing_from_nnstudio(example_path: Path):
    for source in (generate_train_script(Graph.load(example_path)), recipe_source()):
        assert _imports(source) <= ALLOWED_IMPORTS, _imports(source) - ALLOWED_IMPORTS


def _imports(source: str) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    return imported


def test_the_script_is_clean_python():
    # ruff from the interpreter running the tests; missing, the 'test' extra is not installed: fail.
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed; install the 'test' extra.")
    for name, source in (
        ("train.py", generate_train_script(Graph.load(EXAMPLES / "lenet5.nnstudio"))),
        ("nnstudio_recipe.py", recipe_source()),
    ):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "check",
                "--isolated",
                "--line-length",
                "110",
                "--select",
                "E,F,W,B,UP",
                "--stdin-filename",
                name,
                "-",
            ],
            input=source,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout


def test_flags_default_to_the_projects_settings(tmp_path: Path, export_training, import_script):
    graph = Graph.load(EXAMPLES / "lstm_sequence.nnstudio")
    export_training(graph, tmp_path)
    script = import_script(tmp_path)
    args = script.parse_args([])
    assert (args.epochs, args.batch_size, args.lr, args.data) == (10, 64, 0.005, "sequences")
    args = script.parse_args(["--epochs", "3", "--batch-size", "32", "--lr", "0.1", "--device", "cpu"])
    assert (args.epochs, args.batch_size, args.lr, args.device) == (3, 32, 0.1, "cpu")
    assert script.PROJECT["network"]["input_shape"] == (50, 1)


def test_a_hostile_project_name_stays_a_string(tmp_path: Path, export_training, import_script):
    graph = Graph.load(EXAMPLES / "mlp_circles.nnstudio")
    graph.name = 'Evil """\nimport os; os.system("echo owned")\n"""'
    export_training(graph, tmp_path)
    script = import_script(tmp_path)
    assert script.PROJECT["name"] == graph.name
    assert script.__doc__.startswith("Train Evil ''' import os")


def test_settings_the_script_cannot_act_on_are_refused_by_name():
    graph = Graph.load(EXAMPLES / "mlp_circles.nnstudio")
    graph.training["optimizer"] = "lion"
    with pytest.raises(TrainScriptError, match="Training setting 'optimizer' must be one of"):
        generate_train_script(graph)


def test_networks_with_two_inputs_are_refused():
    graph = Graph(name="two inputs")
    a = graph.add("Input", shape=[4])
    b = graph.add("Input", shape=[4])
    add = graph.add("Add")
    graph.connect(a, add)
    graph.connect(b, add, port=1)
    graph.connect(add, graph.add("Output"))
    with pytest.raises(TrainScriptError, match=r"exactly one Input; this one has 2"):
        generate_train_script(graph)


def _example_graphs():
    yield from sorted(EXAMPLES.glob("*.nnstudio"))
    yield "moons"  # no example uses it: the circles MLP on moons instead


@pytest.mark.parametrize("source", list(_example_graphs()), ids=lambda s: getattr(s, "stem", s))
def test_the_script_trains_on_the_same_samples_as_the_app(
    source, tmp_path: Path, export_training, import_script
):
    """Same split, same raw samples, same targets and loss as nnstudio's own trainer."""
    if source == "moons":
        graph = Graph.load(EXAMPLES / "mlp_circles.nnstudio")
        graph.training["dataset"] = "moons"
    else:
        graph = Graph.load(source)
    export_training(graph, tmp_path)
    script = import_script(tmp_path)
    config = TrainConfig.from_settings(graph.training)
    app = load_for_graph(graph, config)

    samples, loss = script.load_data(config.dataset, config.seed)
    assert samples.task == app.task
    assert samples.num_classes == app.num_classes
    for ours, theirs in (((samples.x, samples.y), app.train), ((samples.x_val, samples.y_val), app.val)):
        for mine, reference in zip(ours, theirs.tensors, strict=True):
            assert mine.dtype == reference.dtype
            assert torch.equal(mine, reference)
    assert loss == resolve_loss(config.loss, app, ModelIO.of(graph))


@pytest.mark.parametrize("schedule", ["none", "step", "cosine"])
def test_learning_rate_schedules_match_the_app(schedule: str, tmp_path: Path, export_training, import_script):
    graph = Graph.load(EXAMPLES / "mlp_circles.nnstudio")
    graph.training["schedule"] = schedule
    export_training(graph, tmp_path)
    script = import_script(tmp_path)
    config = dataclasses.replace(TrainConfig.from_settings(graph.training), epochs=8)
    assert [script.recipe.lr_at(schedule, config.lr, e, 8) for e in range(8)] == pytest.approx(
        [config.lr_at(e) for e in range(8)]
    )


def test_nnstudio_export_train_script_writes_it_beside_model_py(tmp_path: Path, import_script, capsys):
    from nnstudio.cli import main

    project = str(EXAMPLES / "mlp_circles.nnstudio")
    assert main(["export", project, "-o", str(tmp_path), "--train-script", "--class-name", "CirclesNet"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"model.py", "train.py", "nnstudio_recipe.py"}
    script = import_script(tmp_path)
    assert script.Model.__name__ == "CirclesNet"
    # A second export replaces its own train.py ...
    assert main(["export", project, "-o", str(tmp_path), "--train-script"]) == 0
    # ... but never a train.py someone else wrote, unless forced.
    (tmp_path / "train.py").write_text("print('my own training loop')\n")
    assert main(["export", project, "-o", str(tmp_path), "--train-script"]) == 2
    assert "already contains train.py, not written by nnstudio" in capsys.readouterr().err
    assert (tmp_path / "train.py").read_text() == "print('my own training loop')\n"
    assert main(["export", project, "-o", str(tmp_path), "--train-script", "--force"]) == 0
    assert "Generated by nnstudio" in (tmp_path / "train.py").read_text()
