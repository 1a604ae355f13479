"""The run folder shared by `nnstudio train` and the app: names, metrics.csv, the Input's statistics."""

from __future__ import annotations

import csv
import math

import torch

from nnstudio.api import Graph
from nnstudio.training import events
from nnstudio.training.run_folder import (
    MetricsWriter,
    describe_preprocessing,
    export_trained,
    new_run_folder,
    preprocessing_statistics,
)


def _mlp(**input_params) -> Graph:
    graph = Graph(name="net")
    ids = [
        graph.add("Input", name="point", shape=(2,), **input_params),
        graph.add("Linear", out_features=3),
        graph.add("Output"),
    ]
    graph.connect(ids[0], ids[1])
    graph.connect(ids[1], ids[2])
    return graph


def test_run_folders_are_new_every_time_and_named_after_the_project(tmp_path):
    first = new_run_folder(tmp_path, "My Net!", 3)
    second = new_run_folder(tmp_path, "My Net!", 3)  # the same second
    assert first.is_dir() and second.is_dir() and first != second
    assert first.name.startswith("my_net-") and first.name.endswith("-3")


def _started(history: events.History) -> events.RunStarted:
    return events.RunStarted(
        config=None,
        device="cpu",
        data="",
        loss="mse",
        steps_per_epoch=1,
        total_steps=2,
        start_epoch=1,
        start_step=1,
        history=history,
    )


def test_metrics_csv_holds_one_row_per_epoch_including_those_before_a_resume(tmp_path):
    path = tmp_path / "run" / "metrics.csv"
    writer = MetricsWriter(path)
    before = events.EpochRecord(1, 0.9, 0.5, 0.8, 0.6, 0.01, 1.5)
    history = events.History()
    history.epochs.append(before)
    writer(_started(history))
    writer(events.EpochEnded(record=events.EpochRecord(2, 0.5, math.nan, 0.4, math.nan, 0.01, 1.0), epochs=2))
    writer.close()
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[1]["train_acc"] == "" and rows[1]["val_loss"] == "0.4"


def test_each_epoch_adds_its_row_without_writing_the_file_again(tmp_path, monkeypatch):
    # Rewriting the whole file (and flushing it to disk) after every epoch took mlp_circles 17% of
    # its training time at 400 epochs, and grew with every epoch of its 2,000.
    from nnstudio.training import run_folder

    rewrites = []
    write_atomic = run_folder.write_atomic
    monkeypatch.setattr(run_folder, "write_atomic", lambda *a: (rewrites.append(a), write_atomic(*a)))
    path = tmp_path / "run" / "metrics.csv"
    writer = MetricsWriter(path)
    writer(_started(events.History()))
    for epoch in range(1, 201):
        writer(
            events.EpochEnded(
                record=events.EpochRecord(epoch, 1 / epoch, 0.5, 0.8, 0.6, 0.01, 0.008), epochs=200
            )
        )
    writer.close()
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 201))
    assert rows[-1]["train_loss"] == "0.005"
    assert len(rewrites) == 1  # the header (and a resumed run's earlier epochs), once


def test_the_trained_model_is_exported_beside_the_checkpoint_and_a_failure_is_a_sentence(tmp_path):
    from nnstudio.compiler.codegen import compile_graph

    graph = _mlp()
    model = compile_graph(graph)
    exported = export_trained(graph, model, tmp_path)
    assert exported.problem is None
    assert [p.name for p in exported.written][:3] == ["model.py", "weights.safetensors", "predict.py"]
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / "model.py").write_text("# someone's model\n")
    refused = export_trained(graph, model, foreign)
    assert refused.written == () and "model.py" in refused.problem
    assert (foreign / "model.py").read_text() == "# someone's model\n"


def test_the_inputs_statistics_are_read_from_the_preprocess_buffers_and_described(tmp_path):
    from nnstudio.compiler.codegen import compile_graph, generate

    graph = _mlp(normalize="standard")
    model = compile_graph(graph)
    state = model.state_dict()
    prefix = generate(graph).attr_of[graph.node_by_name("point").id]
    state[f"{prefix}.shift"] = torch.tensor([4.884, -1.0])
    state[f"{prefix}.scale"] = torch.tensor([6.016, 2.0])
    stats = preprocessing_statistics(graph, state)
    input_id = graph.node_by_name("point").id
    assert stats == {input_id: {"count": 2, "shift": [4.884, -1.0], "scale": [6.016, 2.0]}}
    graph.runs = [{"number": 1}, {"number": 3, "preprocessing": stats}, {"number": 4, "outcome": "failed"}]
    assert describe_preprocessing(graph, input_id) == (
        "Standardised per feature with the training split's statistics (run 3): mean 4.88, -1, std 6.02, 2."
    )


def test_many_statistics_are_summarised_and_old_or_odd_records_show_nothing():
    graph = _mlp(normalize="minmax", normalize_per="element")
    input_id = graph.node_by_name("point").id
    assert describe_preprocessing(graph, input_id) == ""  # never trained
    graph.runs = [{"number": 1, "epochs": []}, "not a record"]  # runs from before the statistics
    assert describe_preprocessing(graph, input_id) == ""
    many = {"shift": [float(i) for i in range(20)], "scale": [1.0 + i for i in range(20)]}
    summary = preprocessing_statistics(
        graph, {"p.shift": torch.tensor(many["shift"]), "p.scale": torch.tensor(many["scale"])}
    )
    graph.runs = [{"number": 2, "preprocessing": summary}]
    assert describe_preprocessing(graph, input_id) == (
        "Scaled to 0–1 per element with the training split's statistics (run 2): "
        "min 0 to 19, range 1 to 20 over 20 values."
    )
    graph.runs = [{"number": 2, "preprocessing": {input_id: {"count": "x"}}}]
    assert describe_preprocessing(graph, input_id) == ""


def test_the_folder_is_named_with_the_run_files_that_are_there(tmp_path):
    from nnstudio.training.run_folder import folder_summary

    assert folder_summary(tmp_path) == f"Run folder: {tmp_path}."
    for name in ("checkpoint.pt", "metrics.csv", "notes.txt"):
        (tmp_path / name).write_text("")
    assert folder_summary(tmp_path) == f"Run folder: {tmp_path} (metrics.csv, checkpoint.pt)."
