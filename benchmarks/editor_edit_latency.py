"""How long one edit takes on a 1,000-node graph, from the keystroke to the repaint.

Opens the benchmark graph of ``validate_graph.py`` at a readable zoom,
selects a Linear layer in the middle of its residual MLP head, and changes
``out_features`` through the inspector's spin box, as a user would. Each
edit is timed from the spin box's new value until the canvas has painted
the result: the undo command, re-validation, the changed shapes pushed to
the items that show them, and the repaint. Prints the median and the worst
against the 50 ms limit.

Run it with ``python benchmarks/editor_edit_latency.py [--nodes N] [--edits E]``;
it uses Qt's offscreen platform unless QT_QPA_PLATFORM is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication
from validate_graph import build_graph

from nnstudio.gui.app import create_application
from nnstudio.gui.document import Document
from nnstudio.gui.main_window import MainWindow

LIMIT_MS = 50.0


class PaintCounter(QObject):
    """Counts paint events of the canvas, so a measurement ends at a real repaint."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as home:
        os.environ["NNSTUDIO_HOME"] = home
        app = create_application()
        graph = build_graph(args.nodes)
        window = MainWindow(Document(graph))
        window.resize(1400, 900)
        window.show()
        window.docks["summary"].show()  # the summary table follows edits too
        window.document.auto_layout()
        linears = [n for n in graph.nodes.values() if n.type == "Linear" and n.params["out_features"] == 64]
        target = linears[len(linears) // 2]
        window.view.reset_zoom()
        window.view.center_on_node(target.id)
        window.scene.select_nodes([target.id])
        spin = window.inspector.editors["out_features"]
        counter = PaintCounter()
        window.view.viewport().installEventFilter(counter)
        for _ in range(3):
            QApplication.processEvents()

        timings = []
        for index in range(args.edits):
            value = 65 if index % 2 == 0 else 64  # changes the shapes downstream, stays valid
            paints = counter.paints
            start = time.perf_counter()
            spin.setValue(value)
            deadline = start + 5.0
            while counter.paints == paints and time.perf_counter() < deadline:
                QApplication.processEvents()
            timings.append((time.perf_counter() - start) * 1000)
            assert graph.nodes[target.id].params["out_features"] == value
        problems = [d for d in graph.validate() if d.is_error]
        window.document.undo_stack.setClean()
        window.close()
        app.processEvents()

    median, worst = statistics.median(timings), max(timings)
    print(
        f"Edit -> re-validate -> repaint on {len(graph)} nodes ({args.edits} edits through the inspector): "
        f"median {median:.1f} ms, worst {worst:.1f} ms; limit {LIMIT_MS:.0f} ms, "
        f"ratio {median / LIMIT_MS:.2f}"
    )
    if problems:
        print("warning: the edits made the graph invalid:", problems[0].message)
    return 0 if median <= LIMIT_MS else 1


if __name__ == "__main__":
    sys.exit(main())
