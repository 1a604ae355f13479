"""Generated code preview (follows edits), export from the File menu, and a torch-free start."""

from __future__ import annotations

import os
import subprocess
import sys

from nnstudio.gui import dialogs
from nnstudio.gui.panels import code_preview


def _show_code(window, qtbot):
    window.docks["code"].show()
    window.docks["code"].raise_()
    qtbot.waitUntil(lambda: "class" in window.code_preview.code(), timeout=5000)


def test_code_preview_shows_the_generated_model_and_follows_edits(make_window, qtbot, examples_lenet):
    window = make_window()
    window.open_example(examples_lenet)
    _show_code(window, qtbot)
    code = window.code_preview.code()
    assert "nn.Conv2d(1, 6" in code
    conv = window.document.graph.node_by_name("conv1").id
    window.document.set_param(conv, "out_channels", 10)
    qtbot.waitUntil(lambda: "nn.Conv2d(1, 10" in window.code_preview.code(), timeout=5000)
    assert window.code_preview.highlighter.document() is window.code_preview.editor.document()


def test_code_preview_explains_why_there_is_no_code(make_window, qtbot, monkeypatch):
    window = make_window()
    window.document.add_node("Conv2d", (0, 0))  # no Input: cannot compile
    window.docks["code"].show()
    window.docks["code"].raise_()
    window.code_preview.refresh()
    assert window.code_preview.code() == ""
    assert "Input" in window.code_preview.status.text()

    def missing(graph):
        raise ModuleNotFoundError("No module named 'nnstudio.compiler'")

    monkeypatch.setattr(code_preview, "generate_source", missing)
    window.code_preview.refresh()
    assert "not available" in window.code_preview.status.text()


def test_export_writes_the_code_the_preview_shows(make_window, qtbot, tmp_path, monkeypatch, examples_lenet):
    window = make_window()
    window.open_example(examples_lenet)
    _show_code(window, qtbot)
    monkeypatch.setattr(dialogs, "ask_folder", lambda parent, title, directory="": str(tmp_path / "out"))
    window.act_export.trigger()
    written = (tmp_path / "out" / "model.py").read_text(encoding="utf-8")
    assert written == window.code_preview.code()


def test_export_of_an_invalid_graph_says_why_and_writes_nothing(window, tmp_path, monkeypatch):
    window.document.add_node("Linear", (0, 0))
    errors = []
    monkeypatch.setattr(dialogs, "ask_folder", lambda parent, title, directory="": str(tmp_path / "out"))
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text: errors.append(text))
    window.act_export.trigger()
    assert errors and "Input" in errors[0]
    assert not (tmp_path / "out" / "model.py").exists()


def test_the_window_appears_without_importing_torch(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NNSTUDIO_STARTUP_PROBE": "1",
           "NNSTUDIO_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "nnstudio"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nnstudio-shown" in result.stdout
    assert "torch_imported=False" in result.stdout


def test_the_app_opens_a_file_given_on_the_command_line(tmp_path, examples_lenet):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NNSTUDIO_STARTUP_PROBE": "1",
           "NNSTUDIO_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "nnstudio", str(examples_lenet)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "window=lenet5.nnstudio" in result.stdout
