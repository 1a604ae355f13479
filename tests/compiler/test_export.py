"""Export to a folder: model.py, weights, predict.py; the CLI; never clobbering a user's files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nnstudio import export as api_export
from nnstudio.api import Graph
from nnstudio.cli import main
from nnstudio.compiler.export import ExportError, TrainedOn, export, load_weights

from .graphs import EXAMPLES_DIR

LENET = EXAMPLES_DIR / "lenet5.nnstudio"


def test_without_weights_only_model_py_is_written(tmp_path: Path) -> None:
    graph = Graph.load(LENET)
    written = api_export(graph, tmp_path / "new" / "folder")
    assert written == [tmp_path / "new" / "folder" / "model.py"]
    assert written[0].read_text() == graph.to_python()
    assert written[0].stat().st_mode & 0o444 == 0o444  # readable like any file the user makes


def test_weights_are_saved_with_safetensors_and_predict_py_uses_them(tmp_path: Path) -> None:
    graph = Graph.load(LENET)
    model = graph.compile()
    written = export(graph, tmp_path, weights=model.state_dict())
    assert [p.name for p in written] == ["model.py", "weights.safetensors", "predict.py"]
    with safe_open(tmp_path / "weights.safetensors", framework="pt") as weights:
        meta = weights.metadata()
        assert (meta["generator"], meta["class"]) == ("nnstudio", "LeNet5")
        assert json.loads(meta["inputs"]) == [{"name": "image", "dtype": "float32", "shape": [1, 32, 32]}]
        assert set(weights.keys()) == set(model.state_dict())

    sample = np.random.default_rng(0).random((1, 32, 32))  # one sample, float64, no batch
    np.save(tmp_path / "digit.npy", sample)
    result = subprocess.run(
        [sys.executable, "predict.py", "digit.npy"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "scores: shape (1, 10)"  # untrained: no task, raw outputs
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(sample.astype(np.float32))[None])
    printed = " ".join(result.stdout.splitlines()[1:])
    assert f"{expected[0, 0].item():.4f}" in printed

    wrong = subprocess.run(
        [sys.executable, "predict.py", "digit.npy", "notes.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2 and "notes.txt" in wrong.stderr and "Traceback" not in wrong.stderr


def _classifier_export(tmp_path: Path, class_names=("outer", "inner"), data=None) -> torch.nn.Module:
    graph = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    model = graph.compile().eval()
    torch.manual_seed(0)
    model.point_preprocess.fit(torch.randn(100, 2) * 3 + 5)  # statistics as a run sets them
    trained_on = TrainedOn("classification", "cross_entropy", tuple(class_names), data or {"kind": "arrays"})
    export(graph, tmp_path, weights=model, trained_on=trained_on)
    return model


def test_predict_names_the_top_classes_with_probabilities_of_raw_samples(tmp_path: Path) -> None:
    model = _classifier_export(tmp_path)
    points = np.array([[5.0, 5.0], [1.0, 9.0], [8.0, 2.0]], dtype=np.float32)  # raw, never standardised
    np.save(tmp_path / "points.npy", points)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(points)), dim=1)
    run = subprocess.run(
        [sys.executable, "predict.py", "points.npy", "--json", "--top", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert [r["source"] for r in results] == ["points.npy[0]", "points.npy[1]", "points.npy[2]"]
    for result, probabilities in zip(results, expected, strict=True):
        best = int(probabilities.argmax())
        assert result["top"] == [
            {
                "class": ("outer", "inner")[best],
                "index": best,
                "probability": pytest.approx(float(probabilities[best])),
            }
        ]
    text = subprocess.run(
        [sys.executable, "predict.py", "points.npy"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    ).stdout.splitlines()
    assert len(text) == 3 and all(line.startswith("points.npy[") and "%" in line for line in text)
    assert "outer" in text[0] and "inner" in text[0]  # both classes, best first


def test_predict_reads_a_csv_with_the_training_columns_in_any_order(tmp_path: Path) -> None:
    model = _classifier_export(
        tmp_path, ("no", "yes"), {"kind": "csv", "columns": ["a", "b"], "label_index": 2}
    )
    (tmp_path / "rows.csv").write_text("label,b,a\nno,9.0,1.0\nyes,2.0,8.0\n")
    run = subprocess.run(
        [sys.executable, "predict.py", "rows.csv", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    with torch.no_grad():
        expected = model(torch.tensor([[1.0, 9.0], [8.0, 2.0]])).argmax(1).tolist()
    assert [r["top"][0]["index"] for r in json.loads(run.stdout)] == expected
    missing = tmp_path / "missing.csv"
    missing.write_text("a,c\n1,2\n")
    refused = subprocess.run(
        [sys.executable, "predict.py", "missing.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "lacks the column(s) b" in refused.stderr


def test_predict_py_is_the_same_whatever_the_model_is_called(tmp_path: Path) -> None:
    """Names from the project never reach predict.py, so none can shadow its own (Path, HERE, ...)."""
    for name in ("Path", "HERE", "INPUTS", "OUTPUTS", "json"):
        graph = Graph.load(LENET)
        graph.name = name
        export(graph, tmp_path / name, weights=graph.compile())
        run = subprocess.run(
            [sys.executable, "predict.py"], cwd=tmp_path / name, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, (name, run.stderr)


def test_weights_that_do_not_fit_the_graph_are_refused(tmp_path: Path) -> None:
    other = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio").compile()
    with pytest.raises(
        ExportError,
        match=r"do not fit this graph: missing image_preprocess\.shift, image_preprocess\.scale, conv1\.weight",
    ):
        export(Graph.load(LENET), tmp_path, weights=other)
    assert not (tmp_path / "weights.safetensors").exists()

    graph = Graph.load(LENET)
    trained = graph.compile().state_dict()
    graph.set_param(graph.node_by_name("fc3").id, "out_features", 3)
    with pytest.raises(ExportError, match=r"fc3\.weight is \(10, 84\) but the graph needs \(3, 84\)"):
        export(graph, tmp_path, weights=trained)


def test_a_folder_with_someone_elses_model_py_is_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / "model.py"
    mine.write_text("# my own work\n")
    with pytest.raises(ExportError, match="not written by nnstudio"):
        export(Graph.load(LENET), tmp_path)
    assert mine.read_text() == "# my own work\n"
    export(Graph.load(LENET), tmp_path, overwrite=True)
    assert "class LeNet5(nn.Module):" in mine.read_text()


def test_an_earlier_export_is_replaced_whole(tmp_path: Path) -> None:
    lenet = Graph.load(LENET)
    export(lenet, tmp_path, weights=lenet.compile())
    mlp = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    export(mlp, tmp_path, weights=mlp.compile())
    assert "class MLPOnTwoCircles" in (tmp_path / "model.py").read_text()
    with safe_open(tmp_path / "weights.safetensors", framework="pt") as weights:
        assert weights.metadata()["class"] == "MLPOnTwoCircles"  # what predict.py loads


def test_weights_files_load_safely(tmp_path: Path) -> None:
    state = Graph.load(LENET).compile().state_dict()
    save_file(state, tmp_path / "w.safetensors")
    torch.save({"model": state, "epoch": 3}, tmp_path / "checkpoint.pt")
    torch.save(state, tmp_path / "plain.pt")
    for name in ("w.safetensors", "checkpoint.pt", "plain.pt"):
        loaded = load_weights(tmp_path / name)
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state)


class Payload:
    """Unpickling this would run code; weights_only=True must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pickled_objects_in_a_weights_file_are_refused(tmp_path: Path, capsys) -> None:
    torch.save({"conv1.weight": torch.zeros(1), "extra": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ExportError, match="cannot be read as weights"):
        load_weights(tmp_path / "evil.pt")
    assert "unpickled!" not in capsys.readouterr().out
    with pytest.raises(ExportError, match="no weights file"):
        load_weights(tmp_path / "missing.safetensors")


# --- the command line -------------------------------------------------------------------------------


def test_cli_exports_an_example_with_weights(tmp_path: Path, capsys) -> None:
    state = Graph.load(LENET).compile().state_dict()
    save_file(state, tmp_path / "trained.safetensors")
    out = tmp_path / "out"
    assert (
        main(["export", str(LENET), "-o", str(out), "--weights", str(tmp_path / "trained.safetensors")]) == 0
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"wrote {out / name}" for name in ("model.py", "weights.safetensors", "predict.py")]
    assert main(["export", str(LENET), "-o", str(out), "--class-name", "Net"]) == 0
    assert "class Net(nn.Module):" in (out / "model.py").read_text()


def test_cli_refuses_an_invalid_graph_with_its_diagnostics(tmp_path: Path, capsys) -> None:
    graph = Graph(name="half done")
    graph.connect(graph.add("Input", shape=[4]), graph.add("Linear", name="fc"))
    graph.save(tmp_path / "half.nnstudio")
    assert main(["export", str(tmp_path / "half.nnstudio"), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "error: The graph has no Output node" in err
    assert "cannot export, the graph has 1 error(s)" in err
    assert not (tmp_path / "out").exists()


def test_cli_reports_unusable_weights_and_folders(tmp_path: Path, capsys) -> None:
    (tmp_path / "model.py").write_text("print('mine')\n")
    assert main(["export", str(LENET), "-o", str(tmp_path)]) == 2
    assert "not written by nnstudio" in capsys.readouterr().err
    assert (
        main(["export", str(LENET), "-o", str(tmp_path / "x"), "--weights", str(tmp_path / "none.pt")]) == 2
    )
    assert "There is no weights file" in capsys.readouterr().err


def test_exporting_a_runs_weights_again_keeps_its_class_names(tmp_path: Path) -> None:
    _classifier_export(tmp_path / "run")
    graph_file = tmp_path / "mlp.nnstudio"
    Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio").save(graph_file)
    assert (
        main(
            [
                "export",
                str(graph_file),
                "-o",
                str(tmp_path / "again"),
                "--weights",
                str(tmp_path / "run" / "weights.safetensors"),
            ]
        )
        == 0
    )
    with safe_open(tmp_path / "again" / "weights.safetensors", framework="pt") as weights:
        meta = weights.metadata()
    assert json.loads(meta["classes"]) == ["outer", "inner"] and meta["task"] == "classification"
