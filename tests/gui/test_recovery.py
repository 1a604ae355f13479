"""Autosave to a recovery file, and recovery after a crash or a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from nnstudio.core import project
from nnstudio.gui import app, dialogs, recovery
from nnstudio.gui.document import Document
from nnstudio.gui.main_window import open_windows

from .helpers import chain, state


def test_unsaved_work_is_autosaved_on_the_timer_and_a_clean_save_removes_it(make_window, qtbot, tmp_path):
    window = make_window(autosave_interval_ms=50)
    saver = window.autosaver
    qtbot.wait(120)
    assert not saver.project_path.exists()  # nothing unsaved, nothing written
    window.document.add_node("Input", (0, 0))
    qtbot.waitUntil(saver.project_path.exists, timeout=2000)
    assert state(project.load(saver.project_path)) == state(window.document.graph)
    window._write(tmp_path / "kept.nnstudio")
    assert not saver.project_path.exists() and not saver.meta_path.exists()


def test_a_clean_close_leaves_nothing_to_recover(make_window, monkeypatch):
    window = make_window()
    window.document.add_node("Input", (0, 0))
    assert window.autosaver.save_now()
    assert window.autosaver.project_path.exists()
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
    window.close()
    assert recovery.leftovers() == []


def test_after_a_simulated_crash_the_next_start_offers_the_work_back(make_window, monkeypatch, tmp_path):
    original = tmp_path / "work.nnstudio"
    project.save(chain("Linear", shape=(4,)), original)
    crashed = make_window()
    crashed.open_path(original)
    crashed.document.add_node("ReLU", (300, 200))
    crashed.autosaver.save_now()
    expected = state(crashed.document.graph)
    # A crash: the lock dies with the process and nothing is cleaned up.
    crashed.autosaver._lock.unlock()
    crashed.autosaver.timer.stop()

    leftovers = recovery.leftovers()
    assert len(leftovers) == 1 and leftovers[0].original == str(original)
    asked = []
    monkeypatch.setattr(dialogs, "ask_recover", lambda parent, items: asked.append(items) or True)
    windows = app.recover_leftovers()

    assert len(asked) == 1 and "work.nnstudio" in asked[0][0]
    assert len(windows) == 1
    recovered = windows[0]
    assert state(recovered.document.graph) == expected
    assert recovered.document.path == original and recovered.document.modified
    assert recovered.windowTitle().startswith("work.nnstudio[*]")
    assert [e.original for e in recovery.leftovers()] == []  # handed over to the new window
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
    for window in (recovered, crashed):
        window.close()


def test_declining_recovery_deletes_the_copies(monkeypatch):
    folder = recovery.recovery_dir()
    project.save(chain("Tanh", shape=(2,)), folder / "abc.nnstudio")
    (folder / "abc.json").write_text('{"original": null, "name": "Untitled"}')
    monkeypatch.setattr(dialogs, "ask_recover", lambda parent, items: False)
    assert app.recover_leftovers() == []
    assert not list(folder.iterdir())


KILLED = textwrap.dedent("""
    import os, signal, sys
    from nnstudio.gui.app import create_application
    from nnstudio.gui.main_window import MainWindow
    app = create_application()
    window = MainWindow()
    window.show()
    window.document.add_node("Input", (0.0, 0.0), shape=[3, 8, 8])
    window.document.add_node("Conv2d", (260.0, 0.0), out_channels=5)
    window.autosaver.save_now()
    print(window.autosaver.project_path, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_work_autosaved_by_a_killed_process_is_recovered(monkeypatch, qapp):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", KILLED], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    leftovers = recovery.leftovers()
    assert [str(e.project_path) for e in leftovers] == [result.stdout.strip()]
    monkeypatch.setattr(dialogs, "ask_recover", lambda parent, items: True)
    windows = app.recover_leftovers()
    graph = windows[0].document.graph
    assert [(n.type, n.params.get("out_channels")) for n in graph.nodes.values()] == [
        ("Input", None),
        ("Conv2d", 5),
    ]
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
    windows[0].close()
    assert not open_windows()


def test_a_running_window_s_autosave_is_not_offered_to_another_instance(make_window):
    window = make_window(Document(chain("ReLU", shape=(3,))))
    window.document.add_node("Tanh", (0, 100))
    assert window.autosaver.save_now()
    assert recovery.leftovers() == []  # its owner is alive


def test_without_a_writable_data_folder_editing_goes_on_without_autosave(make_window, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("NNSTUDIO_HOME", str(blocker))
    assert recovery.leftovers() == []
    window = make_window()
    assert not window.autosaver.enabled
    window.document.add_node("Input", (0, 0))
    assert not window.autosaver.save_now()
    assert window.document.graph.nodes
