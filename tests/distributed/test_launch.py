"""nnstudio.training.distributed: the run folder torchrun works in, and the launch itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nnstudio.api import Graph
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import load_for_graph
from nnstudio.training.distributed import LaunchError, launch, prepare_run, torchrun_command


def _csv_project(tmp_path: Path) -> Graph:
    """The circles MLP on a CSV file of the user's: a format train.py cannot read itself."""
    rng = np.random.default_rng(7)
    points = rng.normal(size=(300, 2))
    labels = np.where(np.hypot(points[:, 0], points[:, 1]) < 1.0, "inside", "outside")
    rows = ["x,y,where", *(f"{a:.5f},{b:.5f},{c}" for (a, b), c in zip(points, labels, strict=True))]
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    graph = Graph.load(Path(__file__).resolve().parents[2] / "resources/examples/mlp_circles.nnstudio")
    graph.training.update(dataset="points.csv", epochs=2, batch_size=32, seed=5)
    return graph


def test_a_builtin_data_set_is_named_not_copied(tmp_path: Path, tiny_project):
    args = prepare_run(tiny_project, TrainConfig.from_settings(tiny_project.training), tmp_path / "run")
    assert args[:2] == ["--data", "circles"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "model.py",
        "nnstudio_recipe.py",
        "train.py",
    ]


def test_other_data_reaches_the_processes_exactly_as_the_app_prepares_it(tmp_path: Path, import_script):
    graph = _csv_project(tmp_path)
    config = TrainConfig.from_settings(graph.training)
    args = prepare_run(graph, config, tmp_path / "run", base_dir=tmp_path)
    assert args[:2] == ["--data", str(tmp_path / "run" / "data.npz")]

    script = import_script(tmp_path / "run")
    samples, _loss = script.load_data(args[1], config.seed)
    app = load_for_graph(graph, config, base_dir=tmp_path)
    assert (samples.task, samples.num_classes) == (app.task, app.num_classes) == ("classification", 2)
    for ours, theirs in (((samples.x, samples.y), app.train), ((samples.x_val, samples.y_val), app.val)):
        for mine, reference in zip(ours, theirs.tensors, strict=True):
            assert torch.equal(mine, reference)


def test_a_folder_with_someone_elses_train_py_is_refused(tmp_path: Path, tiny_project):
    (tmp_path / "train.py").write_text("# my own\n")
    with pytest.raises(LaunchError, match=r"already contains train\.py, not written by nnstudio"):
        prepare_run(tiny_project, TrainConfig.from_settings(tiny_project.training), tmp_path)
    assert (tmp_path / "train.py").read_text() == "# my own\n"


def test_a_batch_that_does_not_split_is_refused_before_anything_starts(tmp_path: Path, tiny_project):
    config = TrainConfig.from_settings(tiny_project.training).with_overrides(batch_size=63)
    with pytest.raises(LaunchError, match="batch size 63 does not split evenly over 2 processes"):
        launch(tiny_project, config, nproc=2, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_options_the_script_lacks_are_refused_with_nproc(tmp_path: Path, capsys):
    from nnstudio.cli import main

    project = Path(__file__).resolve().parents[2] / "resources/examples/mlp_circles.nnstudio"
    status = main(["train", str(project), "--nproc", "2", "--tensorboard", "--out", str(tmp_path / "run")])
    assert status == 2
    assert "--nproc runs the exported train.py, which has no --tensorboard." in capsys.readouterr().err


def test_the_command_is_torchrun_standalone_on_this_machine():
    command = torchrun_command(4, ["--device", "cpu"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[3:] == ["--standalone", "--nproc_per_node=4", "train.py", "--device", "cpu"]


@pytest.mark.slow
def test_nnstudio_train_nproc_2_trains_the_users_data_like_one_process(tmp_path: Path, import_script, capfd):
    from nnstudio.cli import main

    _csv_project(tmp_path).save(tmp_path / "points.nnstudio")
    status = main(
        [
            "train",
            str(tmp_path / "points.nnstudio"),
            "--nproc",
            "2",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert status == 0
    log = capfd.readouterr().out
    assert "2 process(es) on cpu, global batch 32 (16 per process)" in log
    assert "epoch 2/2" in log
    assert f"--weights {tmp_path / 'run' / 'checkpoints' / 'weights.pt'}" in log

    # The same folder, one process, here: the same weights.
    script = import_script(tmp_path / "run")
    script.main(
        ["--data", str(tmp_path / "run" / "data.npz"), "--device", "cpu", "--out", str(tmp_path / "one")]
    )
    one = torch.load(tmp_path / "one" / "weights.pt", weights_only=True)
    two = torch.load(tmp_path / "run" / "checkpoints" / "weights.pt", weights_only=True)
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=0, atol=1e-5, msg=name)


def test_the_run_folder_is_self_contained(tmp_path: Path, tiny_project):
    """The script's --help works under plain Python: the folder is self-contained."""
    prepare_run(tiny_project, TrainConfig.from_settings(tiny_project.training), tmp_path)
    result = subprocess.run(
        [sys.executable, "train.py", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--batch-size" in result.stdout and "--resume" in result.stdout
