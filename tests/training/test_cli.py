"""``nnstudio train``: a run folder with checkpoint, metrics and model; clear exits on trouble."""

from __future__ import annotations

import csv
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pytest

from nnstudio.cli import main
from nnstudio.commands.train import ProgressPrinter
from nnstudio.training import events
from tests.training.conftest import mlp


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "circles.nnstudio"
    mlp().save(path)
    return path


def train(*args: str) -> int:
    return main(["train", *args, "--device", "cpu"])


def test_a_run_writes_checkpoint_metrics_and_the_trained_model(project, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert train(str(project), "--epochs", "2", "--out", str(out)) == 0
    assert {p.name for p in out.iterdir()} >= {
        "checkpoint.pt",
        "metrics.csv",
        "model.py",
        "weights.safetensors",
        "predict.py",
    }
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[-1]["lr"]) == 0.05
    captured = capsys.readouterr()
    assert "Trained 2 epoch(s)" in captured.out and "accuracy" in captured.out
    # Not a terminal: one line per epoch, no carriage returns.
    assert "epoch 2/2: train loss" in captured.err and "\r" not in captured.err


def test_flags_override_the_project_for_this_run_only(project, tmp_path) -> None:
    before = project.read_text()
    assert (
        train(
            str(project), "--epochs", "1", "--lr", "0.01", "--optimizer", "sgd", "--out", str(tmp_path / "r")
        )
        == 0
    )
    assert project.read_text() == before
    rows = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[5] == "0.01"


def test_resume_continues_the_epochs_and_the_metrics(project, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert train(str(project), "--epochs", "1", "--out", str(out)) == 0
    assert train(str(project), "--epochs", "2", "--resume", str(out / "checkpoint.pt")) == 0
    assert "resuming after epoch 1" in capsys.readouterr().err
    assert len((out / "metrics.csv").read_text().splitlines()) == 3


def test_the_default_run_folder_is_under_runs(project, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert train(str(project), "--epochs", "1", "--quiet") == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("circles-") and (folder / "checkpoint.pt").exists()


def test_a_dataset_that_does_not_fit_exits_2_with_the_shapes(project, tmp_path, capsys) -> None:
    assert train(str(project), "--dataset", "digits", "--out", str(tmp_path / "r")) == 2
    assert "samples of shape (1, 8, 8), but the Input 'point' takes (2,)" in capsys.readouterr().err


def test_bad_files_and_settings_exit_2(tmp_path, project, capsys) -> None:
    broken = tmp_path / "broken.nnstudio"
    broken.write_text("{ not json")
    assert train(str(broken)) == 2
    assert train(str(project), "--epochs", "0", "--out", str(tmp_path / "r")) == 2
    assert "'epochs' must be a whole number from 1" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed")
def test_tensorboard_without_the_package_says_how_to_get_it(project, tmp_path, capsys) -> None:
    assert train(str(project), "--tensorboard", "--out", str(tmp_path / "r")) == 2
    assert "pip install 'nnstudio[tensorboard]'" in capsys.readouterr().err


def test_a_training_fault_exits_1_with_the_message(project, tmp_path, capsys, monkeypatch) -> None:
    from nnstudio.training.objective import Objective

    real = Objective.loss
    monkeypatch.setattr(Objective, "loss", lambda self, out, target: real(self, out, target) * float("nan"))
    assert train(str(project), "--out", str(tmp_path / "r")) == 1
    assert "error: The loss became NaN at step 1 (epoch 1)" in capsys.readouterr().err


def test_the_progress_bar_redraws_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    printer = ProgressPrinter(stream)
    points = events.StepPoints.empty()
    printer(
        events.Progress(
            epoch=2,
            epochs=4,
            step=30,
            total_steps=60,
            points=points,
            lr=0.01,
            samples_per_second=1234.0,
            elapsed=3.0,
            eta=75.0,
        )
    )
    record = events.EpochRecord(2, 0.5, 0.8, 0.4, 0.85, 0.01, 1.5)
    printer(events.EpochEnded(record, 4))
    text = stream.getvalue()
    assert text.startswith("\repoch 2/4 [############............]  50% 1,234 samples/s ETA 1:15")
    assert "epoch 2/4: train loss 0.5000 acc 80.0% | val loss 0.4000 acc 85.0% | lr 0.01 | 1.5 s\n" in text


def test_help_and_parsing_do_not_import_torch() -> None:
    code = "import sys; from nnstudio.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_ctrl_c_stops_after_the_step_and_leaves_a_checkpoint_to_resume(project, tmp_path) -> None:
    import signal
    import time

    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnstudio",
            "train",
            str(project),
            "--epochs",
            "100000",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while not line.startswith("epoch 2/"):  # training is under way
            line = process.stderr.readline()
            assert line, "nnstudio train ended before its second epoch"
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            time.sleep(0.1)
    assert process.returncode == 130
    assert f"--resume {out / 'checkpoint.pt'}" in stdout
    from nnstudio.training import checkpoint

    assert checkpoint.load(out / "checkpoint.pt")["reason"] == "stop"


def test_tensorboard_events_when_the_package_is_there(project, tmp_path, monkeypatch) -> None:
    import types

    written: list[tuple[str, float, int]] = []

    class SummaryWriter:
        def __init__(self, log_dir: str) -> None:
            self.log_dir = log_dir

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            written.append((tag, value, step))

        def close(self) -> None:
            written.append(("closed", 0.0, 0))

    monkeypatch.setitem(
        sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=SummaryWriter)
    )
    assert train(str(project), "--epochs", "2", "--tensorboard", "--out", str(tmp_path / "r")) == 0
    tags = {tag for tag, _, _ in written}
    assert {"loss/train_step", "epoch/train_loss", "epoch/val_acc", "epoch/lr", "closed"} <= tags
    assert [step for tag, _, step in written if tag == "epoch/val_loss"] == [1, 2]
