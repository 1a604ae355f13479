"""train.py under torchrun: two CPU processes (gloo) end where one process ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_two_processes_end_with_the_weights_of_one(
    tmp_path: Path, tiny_project, export_training, import_script
):
    folder = export_training(tiny_project, tmp_path / "export").parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    two = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "train.py",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "two"),
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # The one-process reference runs here meanwhile, in this process.
    import_script(folder).main(["--device", "cpu", "--out", str(tmp_path / "one")])
    log, _ = two.communicate(timeout=240)
    assert two.returncode == 0, log

    assert "2 process(es) on cpu, global batch 64 (32 per process)" in log
    assert log.count("epoch 2/2") == 1  # rank 0 alone reports
    one, both = _weights(tmp_path / "one" / "weights.pt"), _weights(tmp_path / "two" / "weights.pt")
    assert one.keys() == both.keys()
    for name in one:
        torch.testing.assert_close(both[name], one[name], rtol=0, atol=1e-5, msg=name)
    assert not torch.equal(one["hidden.weight"], _initial_weights(folder, import_script)["hidden.weight"])
    # Rank 0 alone writes: one checkpoint, no per-rank copies or leftovers.
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "checkpoint.pt",
        "metrics.csv",
        "weights.pt",
    ]


def _initial_weights(folder: Path, import_script) -> dict[str, torch.Tensor]:
    script = import_script(folder)
    torch.manual_seed(script.PROJECT["seed"])
    return script.Model().state_dict()


def test_resuming_from_a_checkpoint_continues_the_same_run(
    tmp_path: Path, tiny_project, export_training, import_script
):
    folder = export_training(tiny_project, tmp_path / "export").parent
    script = import_script(folder)
    script.main(["--device", "cpu", "--out", str(tmp_path / "straight")])
    script.main(["--device", "cpu", "--epochs", "1", "--out", str(tmp_path / "halves")])
    checkpoint = torch.load(tmp_path / "halves" / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 1
    script.main(
        [
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "halves"),
            "--resume",
            str(tmp_path / "halves" / "checkpoint.pt"),
        ]
    )
    straight, halves = (
        _weights(tmp_path / "straight" / "weights.pt"),
        _weights(tmp_path / "halves" / "weights.pt"),
    )
    for name in straight:
        torch.testing.assert_close(halves[name], straight[name], rtol=0, atol=1e-6, msg=name)


def test_the_trained_weights_load_into_the_exported_model(
    tmp_path: Path, tiny_project, export_training, import_script
):
    folder = export_training(tiny_project, tmp_path).parent
    script = import_script(folder)
    script.main(["--device", "cpu", "--epochs", "1", "--out", str(tmp_path / "out")])
    model = script.Model()
    model.load_state_dict(_weights(tmp_path / "out" / "weights.pt"))
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0]])  # centre (inner circle) and on the outer ring
    assert model(points).shape == (2, 2)


def test_a_global_batch_that_does_not_split_evenly_is_refused(
    tmp_path: Path, tiny_project, export_training, import_script, monkeypatch, capsys
):
    folder = export_training(tiny_project, tmp_path).parent
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun would set it, read when train.py is imported
    script = import_script(folder)
    with pytest.raises(SystemExit) as stopped:
        script.main(["--device", "cpu", "--batch-size", "63"])
    assert stopped.value.code == 1
    assert (
        "--batch-size 63 does not split evenly over 2 processes; use a multiple of 2."
        in capsys.readouterr().err
    )
