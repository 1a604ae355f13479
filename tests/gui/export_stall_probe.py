"""Measure how long File › Export keeps the GUI thread from its event loop.

Run in a fresh interpreter, as a user's first export of a session is (torch not
yet imported): ``python export_stall_probe.py PROJECT FOLDER [--onnx]``. Opens
the project in a main window (offscreen), answers the export dialog with FOLDER,
ticks a 5 ms timer throughout and prints one JSON line: the longest gap between
ticks, the export's wall time and what it wrote or which error it showed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from nnstudio.gui import dialogs
from nnstudio.gui.export_dialog import ExportRequest
from nnstudio.gui.main_window import MainWindow


def main() -> None:
    project_file, folder = Path(sys.argv[1]), Path(sys.argv[2])
    onnx = "--onnx" in sys.argv[3:]
    app = QApplication([])
    outcome: dict = {"written": [], "errors": []}
    dialogs.ask_export = lambda parent, options: ExportRequest(folder, None, onnx=onnx)
    dialogs.show_exported = lambda parent, folder, files, note="": outcome["written"].extend(files)
    dialogs.show_error = lambda parent, title, text: outcome["errors"].append(f"{title}: {text}")
    window = MainWindow()
    window.open_example(project_file)
    window.show()
    for _ in range(50):  # let the window settle before measuring
        app.processEvents()
        time.sleep(0.002)

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    app.processEvents()
    last[0] = began = time.perf_counter()
    window.act_export.trigger()
    took = time.perf_counter() - began
    tick()  # the gap up to the export's end counts too
    timer.stop()
    outcome.update(longest_stall_ms=1000 * max(gaps), export_s=took, ticks=len(gaps))
    print(json.dumps(outcome))
    window.document.undo_stack.setClean()
    window.close()


if __name__ == "__main__":
    main()
