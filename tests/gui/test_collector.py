"""Garbage is collected on the GUI thread only: a collection on a worker thread frees widgets
there, and their destructors can deadlock with the GUI thread (see nnstudio/gui/collector.py)."""

from __future__ import annotations

import gc
import threading

from PySide6.QtWidgets import QWidget

from nnstudio.gui import collector
from nnstudio.gui.app import create_application


def test_the_application_collects_on_its_own_thread_only():
    app = create_application([])
    assert not gc.isenabled()
    assert collector.install(app) is collector.install(app)  # one collector, however often asked


def test_garbage_made_while_a_worker_thread_allocates_is_freed_on_the_gui_thread(qtbot):
    freed_on: list[str] = []

    class WindowLike:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it
            self.widget = QWidget()

        def __del__(self) -> None:
            freed_on.append(threading.current_thread().name)

    WindowLike()

    def allocate() -> None:
        kept = [[i] for i in range(20 * gc.get_threshold()[0])]  # crosses the young threshold often
        assert kept

    worker = threading.Thread(target=allocate, name="worker")
    worker.start()
    worker.join()
    assert freed_on == []  # the worker's allocations collected nothing

    kept = [[i] for i in range(2 * gc.get_threshold()[0])]
    qtbot.waitUntil(lambda: bool(freed_on), timeout=3000)
    assert freed_on == ["MainThread"] and kept


def test_nothing_is_collected_below_the_thresholds(qapp):
    gui_collector = collector.install(qapp)
    gc.collect()  # counts start from zero
    assert gui_collector.collect_if_due() is None


def test_a_full_collection_waits_while_a_run_trains_and_runs_when_it_ends(monkeypatch):
    app = create_application([])
    gui_collector = collector.install(app)
    collected: list[int] = []
    monkeypatch.setattr(collector.gc, "collect", lambda generation=2: collected.append(generation) or 0)
    monkeypatch.setattr(collector.gc, "get_count", lambda: (10_000, 100, 100))  # every generation due
    collector.hold_full_collections(app, True)  # the training controller says a run started
    try:
        assert gui_collector.collect_if_due() == 1  # the young ones only: no 100 ms stall mid-run
        assert collected == [1] and gui_collector.full_due
    finally:
        collector.hold_full_collections(app, False)  # the run ended
    assert collected == [1, 2] and not gui_collector.full_due
    assert gui_collector.collect_if_due() == 2


def test_what_lives_when_a_run_starts_is_left_out_of_the_collections_during_it():
    """The first run of a session met a 80-480 ms collection of everything importing torch made."""
    app = create_application([])
    gui_collector = collector.install(app)
    gui_collector.hold_full_collections(False)
    alive = [[i] for i in range(200_000)]  # as a session's modules and data
    gc.collect()
    assert gc.get_freeze_count() == 0
    collector.hold_full_collections(app, True)
    try:
        assert gc.get_freeze_count() >= len(alive)  # not scanned by the collections mid-run
    finally:
        collector.hold_full_collections(app, False)
    assert gc.get_freeze_count() == 0  # back in reach once the run ends
