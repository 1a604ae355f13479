"""Screenshots of live training, for looking at: plots, filters, feature maps, layer health,
the decision boundary and the confusion matrix, taken while the run goes on.

Meant for a real (virtual) display::

    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/training_screenshots.py

Trains digits_cnn (filters of the first and of a deeper convolution,
feature maps of a picked layer, layer health, confusion matrix) and
mlp_circles (decision boundary with the neuron thumbnails, and one layer
picked) from the training panel, in the light and the dark theme, and writes
``screenshots/training-<theme>-<example>-<view>.png``: the whole window
mid-run, plus each view's dock on its own and the metrics plots. With
``--only resnet`` (or ``all``) it trains resnet18_cifar and, mid-run, opens
the block instance layer1 (two copies) as a double-click does: feature maps of
a layer of its second copy, its filters and its layers' health, with the summary tree open at
that instance (``training-<theme>-resnet18_cifar-inside-<view>.png``), and the
top level with the health tags on the instances. Settings and runs go to a
throw-away folder.

    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/training_screenshots.py [--theme dark]
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


def start_run(app: QApplication, example: str, mode: str, epochs: int):
    """A 1600x960 window in theme ``mode`` with ``example`` open, training for ``epochs``."""
    from nnstudio import resources
    from nnstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.set_theme_mode(mode)
    window.resize(1600, 960)
    window.show()
    window.open_example(resources.examples_dir() / f"{example}.nnstudio")
    window.training.panel.form.epochs.setValue(epochs)  # as a user types it: an undoable settings edit
    window.training.show_panel()
    settle(app, 0.5)
    window.training.start()
    return window


def shoot(
    app: QApplication, example: str, folder: Path, views: list[str], pick: str | None, epochs: int, mode: str
) -> list[Path]:
    window = start_run(app, example, mode, epochs)
    graph, training = window.document.graph, window.training
    deadline = time.perf_counter() + 60
    while training.state != "running" and time.perf_counter() < deadline:
        settle(app, 0.1)
    written = []
    settle(app, 1.5)
    prefix = f"training-{mode}-{example}"
    for view in views:
        name = view
        tabs = training.tabs
        if view == "feature_maps" and pick is not None:  # a click on the canvas picks the layer
            window.scene.select_nodes([graph.node_by_name(pick).id])
        if view == "filters_deep" and pick is not None:  # a deeper convolution, picked on the canvas
            window.scene.select_nodes([graph.node_by_name(pick).id])
            view = "filters"
        if view == "neurons_picked":  # all units of the first hidden layer
            panel = tabs.boundary.neurons
            panel.pick(panel.picker.itemData(1))
            view = "boundary"
        tabs.setCurrentWidget(getattr(tabs, view) if view != "boundary" else tabs.boundary_host)
        settle(app, 1.0)
        path = folder / f"{prefix}-{name}.png"
        window.grab().save(str(path))
        training.views_dock.grab().save(str(folder / f"{prefix}-{name}-dock.png"))
        written.append(path)
    training.metrics_dock.grab().save(str(folder / f"{prefix}-plots.png"))
    training.stop()  # the rest of the run is not needed: "done" shows a stopped run's window
    while training.state != "idle":
        settle(app, 0.2)
    path = folder / f"{prefix}-done.png"
    window.grab().save(str(path))
    written.append(path)
    window.document.undo_stack.setClean()
    window.close()
    return written


def shoot_inside_block(
    app: QApplication, folder: Path, mode: str, instance: str = "layer1", layer: str = "layer1.1/conv2"
) -> list[Path]:
    """resnet18_cifar mid-run, with the block ``instance`` opened and ``layer`` inside it (a path:
    ``layer1`` repeats, ``.1`` is its second copy) picked in the feature maps' layer box."""
    example = "resnet18_cifar"
    window = start_run(app, example, mode, epochs=2)
    graph, training = window.document.graph, window.training
    deadline = time.perf_counter() + 120
    while training.tabs.health.table.rowCount() == 0 and time.perf_counter() < deadline:
        settle(app, 0.2)  # until the first layer statistics arrive
    prefix = f"training-{mode}-{example}"
    written = []
    window.docks["summary"].raise_()
    settle(app, 0.5)
    path = folder / f"{prefix}-top-health.png"
    window.grab().save(str(path))
    written.append(path)
    window.block_editing.open_instance(graph.node_by_name(instance).id)
    tabs = training.tabs
    box = tabs.feature_maps.layer_box  # picked as a user does, in the layer box
    box.setCurrentIndex(box.findData(layer))
    box.activated.emit(box.currentIndex())
    for view in ("feature_maps", "filters", "health"):
        tabs.setCurrentWidget(getattr(tabs, view))
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            settle(app, 0.3)
            payload = getattr(tabs.feature_maps if view == "feature_maps" else tabs.filters, "payload", None)
            if view == "health" or (payload is not None and "/" in payload.node_id):
                break
        settle(app, 0.5)
        path = folder / f"{prefix}-inside-{view}.png"
        window.grab().save(str(path))
        training.views_dock.grab().save(str(folder / f"{prefix}-inside-{view}-dock.png"))
        written.append(path)
    training.stop()
    while training.state != "idle":
        settle(app, 0.2)
    window.document.undo_stack.setClean()
    window.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("--theme", choices=("light", "dark", "both"), default="both")
    parser.add_argument("--only", choices=("digits", "circles", "both", "resnet", "all"), default="both")
    args = parser.parse_args(argv)
    os.environ.setdefault("NNSTUDIO_HOME", tempfile.mkdtemp(prefix="nnstudio-shots-"))
    from nnstudio.gui.app import create_application

    app = create_application([])
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for mode in ("light", "dark") if args.theme == "both" else (args.theme,):
        if args.only in ("resnet", "all"):
            written += shoot_inside_block(app, folder, mode)
        if args.only in ("digits", "both", "all"):
            written += shoot(
                app,
                "digits_cnn",
                folder,
                ["filters", "feature_maps", "filters_deep", "health", "confusion"],
                "conv2",
                epochs=80,
                mode=mode,
            )
        if args.only in ("circles", "both", "all"):
            written += shoot(
                app, "mlp_circles", folder, ["boundary", "neurons_picked"], None, epochs=2000, mode=mode
            )
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
