"""A run in the app leaves the run folder `nnstudio train` leaves, and the panel says where it is."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from nnstudio.api import Graph
from nnstudio.gui import dialogs, settings
from nnstudio.gui.document import Document
from nnstudio.training.events import Failed, Finished

from .conftest import wait_for_run

RUN_FILES = {"metrics.csv", "model.py", "weights.safetensors", "predict.py", "checkpoint.pt"}


def test_a_finished_run_writes_the_cli_run_folder_and_the_panel_names_it(train_window, qtbot, monkeypatch):
    opened: list[Path] = []
    monkeypatch.setattr(dialogs, "open_folder", lambda folder: opened.append(Path(folder)) or True)
    window = train_window("mlp_circles", epochs=2)
    training, panel = window.training, window.training.panel
    assert not panel.folder_button.isVisible()  # no run yet, no folder to show
    training.start()
    outcome = wait_for_run(qtbot, training)
    assert isinstance(outcome.final, Finished)

    folder = outcome.run_dir
    assert folder.parent.name == "runs" and folder.name.endswith("-1")  # run 1
    assert {p.name for p in folder.iterdir()} >= RUN_FILES
    with (folder / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {p.name for p in outcome.written} == {"model.py", "weights.safetensors", "predict.py"}
    assert outcome.export_problem is None

    # The panel names the folder and what it holds, and opens it.
    assert str(folder) in panel.folder_text.text() and "weights.safetensors" in panel.folder_text.text()
    assert panel.folder_button.isVisible()
    qtbot.mouseClick(panel.folder_button, Qt.MouseButton.LeftButton)
    assert opened == [folder]
    # The project's record of the run knows its folder (File › Export offers its weights).
    (record,) = window.document.graph.runs
    assert Path(record["folder"]) == folder

    # The inspector shows the statistics the Input's preprocessing was fitted with, from this run.
    graph = window.document.graph
    (input_id,) = [n.id for n in graph.nodes.values() if n.type == "Input"]
    window.scene.select_nodes([input_id])
    inspector = window.inspector
    qtbot.waitUntil(lambda: inspector.node_id == input_id, timeout=5000)
    stats = inspector.preprocessing.text()
    assert stats.startswith("Standardised per feature with the training split's statistics (run 1): mean ")
    assert ", std " in stats and not inspector.preprocessing.isHidden()
    window.scene.select_nodes([n.id for n in graph.nodes.values() if n.type == "Linear"][:1])
    qtbot.waitUntil(lambda: inspector.node_id != input_id, timeout=5000)
    assert inspector.preprocessing.isHidden()

    # A new run hides the old run's folder until it has its own.
    training.start()
    assert not panel.folder_button.isVisible()
    second = wait_for_run(qtbot, training)
    assert second.run_dir != folder and (second.run_dir / "weights.safetensors").is_file()
    assert str(second.run_dir) in panel.folder_text.text()


def test_a_failed_run_names_the_folder_that_keeps_its_checkpoint_and_exports_nothing(
    make_window, qtbot, tmp_path
):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 2))
    data = tmp_path / "regression.csv"
    np.savetxt(data, np.column_stack([x, 1000 * x[:, 0]]), delimiter=",", header="a,b,target", comments="")
    graph = Graph(name="diverges")
    ids = [
        graph.add("Input", shape=(2,)),
        graph.add("Linear", out_features=16),
        graph.add("ReLU"),
        graph.add("Linear", out_features=1),
        graph.add("Output"),
    ]
    for a, b in itertools.pairwise(ids):
        graph.connect(a, b)
    graph.training = {
        "dataset": str(data),
        "optimizer": "sgd",
        "lr": 1.0,
        "batch_size": 32,
        "epochs": 3,
        "device": "cpu",
    }
    window = make_window(Document(graph))
    window.training.start()
    outcome = wait_for_run(qtbot, window.training)
    assert isinstance(outcome.final, Failed)
    assert outcome.written == () and not (outcome.run_dir / "weights.safetensors").exists()
    assert str(outcome.run_dir) in window.training.panel.folder_text.text()


def test_a_run_that_cannot_start_leaves_no_empty_folder_behind(train_window, qtbot, tmp_path):
    window = train_window("mlp_circles", dataset=str(tmp_path / "missing.csv"))
    window.training.start()
    outcome = wait_for_run(qtbot, window.training)
    assert isinstance(outcome.final, Failed) and outcome.final.kind == "setup"
    runs = settings.data_dir() / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    assert not window.training.panel.folder_button.isVisible()
