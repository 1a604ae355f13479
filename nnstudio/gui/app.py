"""Start the editor: ``nnstudio [FILE ...]`` ends up in ``run_app``.

Startup imports Qt and the core only (never torch), offers to recover work
autosaved before a crash, then opens one window per file (or an empty one).
Setting ``NNSTUDIO_STARTUP_PROBE=1`` makes the app print one line once the
window is shown and quit: the startup benchmark uses it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from nnstudio import __version__, resources
from nnstudio.core.errors import FormatError
from nnstudio.gui import collector, dialogs, recovery, settings, theme
from nnstudio.gui.main_window import MainWindow
from nnstudio.training.run_process import prestart as prestart_runs

PROBE_ENV = "NNSTUDIO_STARTUP_PROBE"
# Qt's raster engine hands every fill of 96 or more rows to helper threads and waits for them.
# During a run each hand-off wakes a thread that takes a core from training (80 a second with
# LeNet-5 on screen), which costs a run on every core more than the fill: paint serially.
SERIAL_PAINTING_ENV = "QT_NO_GUI_THREADPOOL"
PRESTART_DELAY_MS = 1000


def create_application(argv: Sequence[str] = ()) -> QApplication:
    """The QApplication, named so settings and app data land in nnstudio's folders."""
    os.environ.setdefault(SERIAL_PAINTING_ENV, "1")  # read by Qt at its first large fill
    app = QApplication.instance()
    if app is None:
        # Fractional scale factors (150 %) render crisply instead of being rounded.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0] if sys.argv else "nnstudio", *argv])
    app.setOrganizationName(settings.ORGANIZATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationDisplayName("nnstudio")
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName(resources.APP_ID)
    with contextlib.suppress(FileNotFoundError):  # an icon is never a reason not to start
        app.setWindowIcon(QIcon(str(resources.app_icon())))
    theme.manager().set_mode(str(settings.value("view/theme", "system")))
    collector.install(app)  # Qt objects must be freed on this thread: see collector.py
    return app


def recover_leftovers(notices: list[str] | None = None) -> list[MainWindow]:
    """Offer autosaved work from a session that ended abruptly; open what the user keeps.
    Sentences about damaged autosave records, set aside, go to ``notices``."""
    entries = recovery.leftovers(notices)
    if not entries:
        return []
    if not dialogs.ask_recover(None, [e.describe() for e in entries]):
        for entry in entries:
            entry.discard()
        return []
    windows = []
    for entry in entries:
        try:
            graph = entry.load()
        except FormatError as exc:
            entry.set_aside()
            dialogs.show_error(
                None, "Cannot recover", f"{exc}\nThe autosaved copy is kept at {entry.project_path}."
            )
            continue
        window = MainWindow()
        window.open_graph(graph, path=entry.original, modified=True)
        window.show()
        entry.discard()  # the new window has written its own recovery copy
        windows.append(window)
    return windows


def open_start_windows(files: Sequence[str]) -> list[MainWindow]:
    notices: list[str] = []
    windows = recover_leftovers(notices)
    for path in files:
        window = MainWindow()
        window.show()
        window.open_path(path)
        windows.append(window)
    if not windows:
        window = MainWindow()
        window.show()
        windows.append(window)
    for notice in notices:  # a damaged record never stops the start: say so and go on
        print(f"nnstudio: {notice}", file=sys.stderr)
        windows[0].statusBar().showMessage(notice, 15000)
    return windows


def _probe(app: QApplication, windows: Sequence[MainWindow]) -> None:
    shown = time.perf_counter()
    names = ",".join(w.document.display_name for w in windows)
    print(
        f"nnstudio-shown perf_counter={shown:.6f} torch_imported={'torch' in sys.modules} window={names}",
        flush=True,
    )
    app.quit()


def run_app(argv: Sequence[str] = ()) -> int:
    """Open the editor with the project files in ``argv``; return the exit status."""
    app = create_application([a for a in argv if a.startswith("-")])  # Qt's own options
    files = [a for a in argv if not a.startswith("-")]
    windows = open_start_windows(files)
    # The training runs' process server imports torch (seconds) while the user edits, so the
    # first Train starts training at once; after the window is up, not before it.
    QTimer.singleShot(PRESTART_DELAY_MS, prestart_runs)
    if os.environ.get(PROBE_ENV):
        QTimer.singleShot(0, lambda: _probe(app, windows))
    _close_on_interrupt(app)
    return app.exec()


def _close_on_interrupt(app: QApplication) -> None:
    """Ctrl-C in the terminal closes the windows as their close buttons would (asking
    about unsaved work) instead of raising KeyboardInterrupt inside some Qt callback."""
    signal.signal(signal.SIGINT, lambda signum, frame: QTimer.singleShot(0, app.closeAllWindows))
    # Python runs signal handlers only between bytecodes; while Qt waits for events no
    # Python runs, so a timer lets the interpreter look now and then.
    wake = QTimer(app, interval=250)
    wake.timeout.connect(lambda: None)
    wake.start()
