"""Closing the window while a network trains: the run stops, its checkpoint is written and the
app exits with status 0, without Qt's "QThread: Destroyed while thread is still running"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from nnstudio import resources

# Runs the real app (run_app) on a project; once training is under way it closes the window.
SCRIPT = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QTimer
    from nnstudio.gui.app import create_application, run_app
    from nnstudio.gui.main_window import open_windows

    app = create_application([])

    def begin():
        window = open_windows()[0]
        window.training.start()

        def close_once_training():
            if window.training.state == "running" and window.training.panel.progress.value() > 0:
                print("closing during the run", flush=True)
                window.close()
            else:
                QTimer.singleShot(50, close_once_training)

        QTimer.singleShot(50, close_once_training)

    QTimer.singleShot(0, begin)
    sys.exit(run_app([sys.argv[1]]))
""")


@pytest.mark.slow  # a fresh Python that imports Qt and torch: about 7 s
def test_closing_the_window_during_a_run_stops_it_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    data = json.loads((resources.examples_dir() / "mlp_circles.nnstudio").read_text())
    data["training"].update(epochs=10_000, device="cpu")  # far longer than the test waits
    project = tmp_path / "circles.nnstudio"
    project.write_text(json.dumps(data))
    home = tmp_path / "home"
    env = {**os.environ, "NNSTUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(project)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "closing during the run" in result.stdout
    assert "QThread" not in result.stderr, result.stderr[-3000:]
    (checkpoint,) = (home / "data" / "runs").glob("*/checkpoint.pt")
    state = torch.load(checkpoint, weights_only=True)
    assert state["reason"] == "stop" and state["step"] > 0
    assert json.loads(project.read_text()) == data  # the project file is left as it was
