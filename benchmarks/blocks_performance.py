"""How fast the editor is with blocks: a ResNet-50 made of Bottleneck instances.

1. Open: read the project file, validate it (shapes and counts recurse into
   every instance) and draw it in the editor window (canvas items, fit, first
   paint). Limit 0.5 s.
2. Edit inside: change a layer inside the Bottleneck block, which the model
   uses 16 times (one instance per block), and re-validate the whole model.
   Limit 50 ms.

Prints the median of ``--runs`` runs of each against its limit; exit status 1
if one is over.

    python benchmarks/blocks_performance.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from nnstudio.api import Graph
from nnstudio.core.block_library import resnet
from nnstudio.gui.app import create_application
from nnstudio.gui.main_window import MainWindow

OPEN_LIMIT_S = 0.5
EDIT_LIMIT_S = 0.050


def resnet50(path: Path) -> None:
    graph = Graph(name="ResNet-50")
    resnet(graph, "Bottleneck", (3, 4, 6, 3), repeat_blocks=False)
    assert graph.blocks.usage_count("Bottleneck", [graph]) == 16
    graph.save(path)


def open_once(window: MainWindow, path: Path) -> float:
    start = time.perf_counter()
    assert window.open_path(path)
    analysis = window.document.graph.analyze()
    assert analysis.ok and analysis.model_parameters() == 25_557_032
    window.view.fit_to_view()
    QApplication.processEvents()
    window.repaint()
    return time.perf_counter() - start


def edit_once(graph: Graph, bias: bool) -> float:
    body = graph.blocks.get("Bottleneck").body
    conv = body.node_by_name("conv2").id
    start = time.perf_counter()
    body.set_param(conv, "bias", bias)
    analysis = graph.analyze()
    elapsed = time.perf_counter() - start
    assert analysis.ok
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    app = create_application([])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resnet50.nnstudio"
        resnet50(path)
        opens = []
        for _ in range(args.runs):
            window = MainWindow()
            window.resize(1400, 900)
            window.show()
            opens.append(open_once(window, path))
            window.document.undo_stack.setClean()
            window.close()
            window.deleteLater()
            app.processEvents()
        graph = Graph.load(path)
        graph.analyze()
        edits = [edit_once(graph, bias=run % 2 == 0) for run in range(args.runs * 4)]
    rows = [
        ("open, validate, draw ResNet-50", statistics.median(opens), OPEN_LIMIT_S),
        ("edit inside a block used 16x", statistics.median(edits), EDIT_LIMIT_S),
    ]
    over = False
    for label, seconds, limit in rows:
        verdict = "ok" if seconds <= limit else "OVER"
        over |= seconds > limit
        print(f"{label:<34} {seconds * 1e3:8.1f} ms   (limit {limit * 1e3:.0f} ms)  {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
