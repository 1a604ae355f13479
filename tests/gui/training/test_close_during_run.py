"""Closing the window while a network trains: asked, the run stops, its checkpoint is written, the
run is recorded in the project as stopped and the app exits with status 0, without Qt's "QThread:
Destroyed while thread is still running"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from nnstudio import resources

# Runs the real app (run_app) on a project and trains it; "during": closes the window once
# training is under way; "after": once the run is over, clicks a layer (its feature maps are
# computed on a helper thread) and closes the window at once.
SCRIPT = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QTimer
    from nnstudio.gui.app import create_application, run_app
    from nnstudio.gui import dialogs
    from nnstudio.gui.main_window import open_windows
    from nnstudio.gui.training import closing

    # The user's answers: stop the run and close; then save the project (it records the run).
    closing.ask_about_run = lambda parent, state: print("asked about the run", flush=True) or closing.STOP
    dialogs.ask_save_changes = lambda parent, name: "save"
    app = create_application([])
    mode = sys.argv[2]

    def begin():
        window = open_windows()[0]
        training = window.training
        training.start()
        training.tabs.setCurrentWidget(training.tabs.feature_maps)

        def close_when_ready():
            if mode == "during" and training.state == "running" and training.panel.progress.value() > 0:
                print("closing during the run", flush=True)
                window.close()
            elif mode == "after" and training.state == "idle" and training.last_outcome is not None:
                window.scene.select_nodes([window.document.graph.node_by_name("classifier").id])
                window.document.undo_stack.setClean()  # the run's record: no save question
                print("closing after the run", flush=True)
                window.close()
            else:
                QTimer.singleShot(50, close_when_ready)

        QTimer.singleShot(50, close_when_ready)

    QTimer.singleShot(0, begin)
    sys.exit(run_app([sys.argv[1]]))
""")


def _run_app(tmp_path, mode: str, epochs: int):
    data = json.loads((resources.examples_dir() / "mlp_circles.nnstudio").read_text())
    data["training"].update(epochs=epochs, device="cpu")
    project = tmp_path / "circles.nnstudio"
    project.write_text(json.dumps(data))
    home = tmp_path / "home"
    env = {**os.environ, "NNSTUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(project), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"closing {mode} the run" in result.stdout
    assert ("asked about the run" in result.stdout) == (mode == "during")
    for crash in ("QThread", "terminate called", "Aborted", "Traceback"):
        assert crash not in result.stderr, result.stderr[-3000:]
    return data, project, home


@pytest.mark.slow  # a fresh Python that imports Qt and torch: about 7 s
def test_closing_the_window_during_a_run_stops_it_saves_a_checkpoint_records_it_and_exits_cleanly(tmp_path):
    data, project, home = _run_app(tmp_path, "during", epochs=10_000)  # far longer than the test waits
    (checkpoint,) = (home / "data" / "runs").glob("*/checkpoint.pt")
    state = torch.load(checkpoint, weights_only=True)
    assert state["reason"] == "stop" and state["step"] > 0
    saved = json.loads(project.read_text())
    (run,) = saved["runs"]  # the interrupted run is in the project, as stopped, with its checkpoint
    assert run["outcome"] == "stopped" and run["checkpoint"] == str(checkpoint)
    assert [n["id"] for n in saved["nodes"]] == [n["id"] for n in data["nodes"]]  # the same network
    assert saved["training"]["epochs"] == data["training"]["epochs"]


@pytest.mark.slow
def test_closing_right_after_a_run_with_a_layer_just_picked_exits_cleanly(tmp_path):
    _run_app(tmp_path, "after", epochs=2)
