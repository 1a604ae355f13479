"""GUI test set-up: private settings, no real dialogs, no leaked threads or windows."""

from __future__ import annotations

import multiprocessing
import time
import traceback
import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from nnstudio import resources
from nnstudio.gui import collector, dialogs
from nnstudio.gui.document import Document
from nnstudio.gui.editor.edge_item import EdgeItem
from nnstudio.gui.main_window import MainWindow, open_windows


@pytest.fixture(scope="session", autouse=True)
def _gui_thread_collector(qapp):
    """As in the app: garbage (and the widgets in it) is freed on the GUI thread only, or a
    collection on a worker thread can deadlock with the GUI thread (see collector.py)."""
    return collector.install(qapp)


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch) -> Path:
    """Settings, recent files and autosaves go to a temporary folder, never the user's."""
    home = tmp_path / "nnstudio-home"
    monkeypatch.setenv("NNSTUDIO_HOME", str(home))
    return home


def _unexpected(name: str):
    def fail(*args, **kwargs):
        raise AssertionError(f"unexpected dialog: {name}{args[1:3]!r}")

    return fail


@pytest.fixture(autouse=True)
def _no_real_dialogs(monkeypatch):
    """A modal dialog would hang an offscreen test; tests that expect one replace it."""
    for name in ("critical", "warning", "question", "information"):
        monkeypatch.setattr(QMessageBox, name, _unexpected(f"QMessageBox.{name}"))
    for name in ("getOpenFileName", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, _unexpected(f"QFileDialog.{name}"))
    monkeypatch.setattr(dialogs, "ask_save_changes", _unexpected("ask_save_changes"))


@pytest.fixture(autouse=True)
def _dangling_qthreads(monkeypatch, qapp):
    """Fail a test that leaves a QThread running (as napari's conftest does)."""
    started: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    original = QThread.start

    def start(self, *args):
        started[self] = "".join(traceback.format_stack(limit=6)[:-1])
        original(self, *args)

    monkeypatch.setattr(QThread, "start", start)
    yield
    running = [where for thread, where in list(started.items()) if thread.isRunning()]
    if running:
        raise AssertionError("A test left QThreads running; started at:\n" + "\n".join(running))


@pytest.fixture(autouse=True)
def _no_run_processes_left(qapp):
    """Fail a test that leaves a training run's process behind (its window or worker must let
    it go); it gets a few seconds to write its checkpoint and exit."""
    yield
    deadline = time.monotonic() + 20
    while (left := [p for p in multiprocessing.active_children() if p.name == "nnstudio-run"]) and (
        time.monotonic() < deadline
    ):
        QApplication.processEvents()
        time.sleep(0.02)
    for process in left:
        process.kill()
    assert not left, f"{len(left)} training process(es) left running"


@pytest.fixture(autouse=True)
def _no_leaked_windows(qapp):
    """Every window a test opens must be closed by the end of it."""
    yield
    leaked = open_windows()
    for window in leaked:
        window.document.undo_stack.setClean()
        window.close()
    QApplication.processEvents()
    collector.install(qapp).collect_if_due()  # a test may not run the event loop long enough
    assert not leaked, f"{len(leaked)} window(s) left open"


@pytest.fixture
def make_window(qtbot):
    """Build shown MainWindows (closed again at the end of the test, unsaved work discarded)."""
    made: list[MainWindow] = []

    def make(document: Document | None = None, autosave_interval_ms: int = 60_000) -> MainWindow:
        window = MainWindow(document, autosave_interval_ms=autosave_interval_ms)
        window.resize(1300, 850)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()  # so keyboard shortcuts reach it
        qtbot.waitUntil(window.isActiveWindow, timeout=2000)
        made.append(window)
        return window

    yield make
    for window in made:
        if window in open_windows():
            window.document.undo_stack.setClean()
            window.close()
    QApplication.processEvents()


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()


@pytest.fixture
def examples_lenet() -> Path:
    return resources.examples_dir() / "lenet5.nnstudio"


@pytest.fixture
def routed(monkeypatch) -> list[EdgeItem]:
    """Every wire routed (a new path computed), in order."""
    wires: list[EdgeItem] = []
    update_path = EdgeItem.update_path

    def counting(self: EdgeItem) -> None:
        wires.append(self)
        update_path(self)

    monkeypatch.setattr(EdgeItem, "update_path", counting)
    return wires
