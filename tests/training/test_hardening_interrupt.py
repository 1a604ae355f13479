"""Ctrl-C never ends in a KeyboardInterrupt traceback: not a second one during a run,
not one while the command is still starting up."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnstudio.cli import main
from tests.training.conftest import mlp


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "circles.nnstudio"
    mlp().save(path)
    return path


def _train(project: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
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


def _finish(process: subprocess.Popen) -> tuple[str, str]:
    try:
        return process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_second_ctrl_c_quits_at_once_without_a_traceback(project: Path, tmp_path: Path) -> None:
    process = _train(project, tmp_path / "run")
    line = ""
    while not line.startswith("epoch 1/"):  # training is under way
        line = process.stderr.readline()
        assert line, "nnstudio train ended before its first epoch"
    process.send_signal(signal.SIGINT)
    assert process.stderr.readline().strip() == ""
    assert process.stderr.readline().startswith("stopping after this step")
    process.send_signal(signal.SIGINT)  # while the run stops, exports or tears down
    _, err = _finish(process)
    # 130, or killed by the signal itself when it lands after Python has let go of it.
    assert process.returncode in (130, -signal.SIGINT), err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]


@pytest.mark.parametrize("delay", [0.3, 1.0])
def test_ctrl_c_during_start_up_is_not_a_traceback(project: Path, tmp_path: Path, delay: float) -> None:
    # Start-up imports the core, then torch: an interrupt lands somewhere in there.
    process = _train(project, tmp_path / "run")
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = _finish(process)
    assert process.returncode in (130, -signal.SIGINT), err[-3000:]
    assert "Traceback" not in err, err[-3000:]


def test_an_interrupt_inside_any_command_is_exit_130(monkeypatch, capsys) -> None:
    import nnstudio.commands.validate

    def interrupted(args) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(nnstudio.commands.validate, "run", interrupted)
    assert main(["validate", "any.nnstudio"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_importing_the_command_line_loads_almost_nothing() -> None:
    code = "import sys, nnstudio.cli; print(sorted(m for m in ('nnstudio.core', 'pydantic', 'networkx') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
