"""How long the editor takes to open, lay out and show a 1,000-node graph.

Builds the same deep, valid graph as ``validate_graph.py`` (convolutions,
residual Adds, Concat branches, an MLP head), saves it, then times in one
go what a user waits for: reading the file, building the canvas items,
the automatic layered layout (an undoable command), fit to view, and the
first paint. Prints each step and the total against the 1 s limit.

Run it with ``python benchmarks/editor_open_1000.py [--nodes N] [--runs R]``;
it uses Qt's offscreen platform unless QT_QPA_PLATFORM is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication
from validate_graph import build_graph

from nnstudio.core import project
from nnstudio.gui.app import create_application
from nnstudio.gui.main_window import MainWindow

LIMIT_S = 1.0


def open_once(window: MainWindow, path: Path) -> dict[str, float]:
    """Open ``path`` in ``window``, lay it out, fit it, paint it; seconds per step."""
    steps: dict[str, float] = {}
    start = time.perf_counter()
    assert window.open_path(path)
    steps["open (read + canvas)"] = time.perf_counter() - start
    mark = time.perf_counter()
    window.document.auto_layout()
    steps["auto layout"] = time.perf_counter() - mark
    mark = time.perf_counter()
    window.view.fit_to_view()
    window.minimap.refit()
    steps["fit to view"] = time.perf_counter() - mark
    mark = time.perf_counter()
    QApplication.processEvents()
    window.repaint()  # the first full paint, synchronously
    steps["first paint"] = time.perf_counter() - mark
    steps["total"] = time.perf_counter() - start
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as home:
        os.environ["NNSTUDIO_HOME"] = home  # keep the user's settings and recent files untouched
        app = create_application()
        graph = build_graph(args.nodes)
        path = Path(home) / "big.nnstudio"
        project.save(graph, path)
        window = MainWindow()
        window.resize(1400, 900)
        window.show()
        QApplication.processEvents()

        runs = []
        for _ in range(args.runs):
            runs.append(open_once(window, path))
            window.document.undo_stack.setClean()  # so the next open does not prompt
        window.close()
        app.processEvents()

    print(f"Opening a {len(graph)}-node, {len(graph.edges)}-edge graph (median of {args.runs} runs):")
    for step in runs[0]:
        print(f"  {step:<22} {statistics.median(r[step] for r in runs) * 1000:7.1f} ms")
    total = statistics.median(r["total"] for r in runs)
    print(f"open + layout + fit + paint: {total:.3f} s; limit {LIMIT_S:.1f} s, ratio {total / LIMIT_S:.2f}")
    return 0 if total <= LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
