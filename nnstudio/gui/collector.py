"""Python's garbage collector, run on the GUI thread only.

The collector runs on whichever thread happens to allocate when a threshold
is crossed. In the app that is often a background thread (the training
thread, the data preview, a view refresh), and a cycle it frees may hold Qt
widgets, whose C++ destructors then run on that thread. A destructor takes
Qt's connection lock and then waits for the GIL; if the GUI thread holds
the GIL and waits for that lock (it disconnects a signal, say), both wait
forever. That froze the window once in a benchmark's ten runs.

So, as long as the application lives, automatic collection is off and a
timer on the GUI thread collects instead, by the same thresholds: the
cheap young generation once they are crossed, older ones as rarely as
Python would collect them. While a run trains, a full collection (over
100 ms with the heap of a training session, far past a frame) waits until
the run pauses or ends; the young generations are still collected, and the
objects alive when the run started are frozen out of their scans.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Turns automatic collection off and collects from a timer on this (the GUI) thread."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_if_due)
        self._timer.start()
        self.destroyed.connect(_restore(was_enabled))
        self.full_held = False
        self.full_due = False  # a full collection was put off while held

    def collect_if_due(self) -> int | None:
        """Collect the generations whose thresholds are crossed; the generation, or None."""
        young, middle, old = gc.get_count()
        first, second, third = self.thresholds
        if young < first:
            return None
        generation = 0
        if middle >= second:
            generation = 1
            if old >= third:
                generation = 2
        if generation == 2 and self.full_held:
            generation, self.full_due = 1, True
        gc.collect(generation)
        return generation

    def hold_full_collections(self, hold: bool) -> None:
        """Put full collections off (a run is training) or let a put-off one run now.

        While held, what was alive when the run started (torch's modules, the model, the
        data) is frozen out of the collector's scans: the first run of a session otherwise
        met a 80-480 ms middle-generation collection of everything importing torch made."""
        if hold and not self.full_held:
            gc.freeze()
        elif not hold and self.full_held:
            gc.unfreeze()
        self.full_held = hold
        if not hold and self.full_due:
            self.full_due = False
            gc.collect(2)


def hold_full_collections(app: QObject | None, hold: bool) -> None:
    """Tell ``app``'s collector, if it has one, whether a run is training."""
    collector = app.findChild(GuiThreadCollector) if app is not None else None
    if collector is not None:
        collector.hold_full_collections(hold)


def _restore(enabled: bool):
    def restore(*_args: object) -> None:
        if enabled:
            gc.enable()

    return restore


def install(app: QObject) -> GuiThreadCollector:
    """Give ``app`` a GUI-thread collector, once; returns it."""
    existing = app.findChild(GuiThreadCollector)
    return existing if existing is not None else GuiThreadCollector(app)
