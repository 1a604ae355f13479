"""Screenshots of live training, for looking at: plots, filters, feature maps, layer health,
the decision boundary and the confusion matrix, taken while the run goes on.

Meant for a real (virtual) display::

    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/training_screenshots.py

Trains digits_cnn (filters, feature maps of a picked layer, layer health,
confusion matrix) and mlp_circles (decision boundary) from the training
panel and writes ``screenshots/training-<example>-<view>.png``: the whole
window mid-run, plus each view's dock on its own. Settings and runs go to a
throw-away folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def settle(app: QApplication, seconds: float) -> None:
    """Let the event loop run (the run goes on meanwhile) for ``seconds``."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def shoot(app: QApplication, example: str, folder: Path, views: list[str], pick: str | None,
          epochs: int) -> list[Path]:
    from nnstudio import resources
    from nnstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1600, 960)
    window.show()
    window.open_example(resources.examples_dir() / f"{example}.nnstudio")
    graph = window.document.graph
    training = window.training
    training.panel.form.epochs.setValue(epochs)  # as a user types it: an undoable settings edit
    training.show_panel()
    settle(app, 0.5)
    training.start()
    deadline = time.perf_counter() + 60
    while training.state != "running" and time.perf_counter() < deadline:
        settle(app, 0.1)
    written = []
    settle(app, 1.5)
    for view in views:
        if view == "feature_maps" and pick is not None:  # a click on the canvas picks the layer
            window.scene.select_nodes([graph.node_by_name(pick).id])
        tabs = training.tabs
        tabs.setCurrentWidget(getattr(tabs, view) if view != "boundary" else tabs.boundary_host)
        settle(app, 1.0)
        path = folder / f"training-{example}-{view}.png"
        window.grab().save(str(path))
        training.views_dock.grab().save(str(folder / f"training-{example}-{view}-dock.png"))
        written.append(path)
    training.metrics_dock.grab().save(str(folder / f"training-{example}-plots.png"))
    while training.state != "idle":
        settle(app, 0.2)
    path = folder / f"training-{example}-done.png"
    window.grab().save(str(path))
    written.append(path)
    window.document.undo_stack.setClean()
    window.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="screenshots")
    args = parser.parse_args(argv)
    os.environ.setdefault("NNSTUDIO_HOME", tempfile.mkdtemp(prefix="nnstudio-shots-"))
    from nnstudio.gui.app import create_application

    app = create_application([])
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    written = shoot(app, "digits_cnn", folder, ["filters", "feature_maps", "health", "confusion"], "conv2",
                    epochs=80)
    written += shoot(app, "mlp_circles", folder, ["boundary"], None, epochs=2000)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
