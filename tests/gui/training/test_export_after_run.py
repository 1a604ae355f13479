"""File › Export after training: the latest run's weights with predict.py, predicting like the app's model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file

from nnstudio.compiler.codegen import compile_graph, generate
from nnstudio.gui import dialogs
from nnstudio.gui.export_dialog import ExportDialog
from nnstudio.training.carry_over import carry_over

from .conftest import wait_for_run

# Runs the exported files where nnstudio cannot be imported, as a user's machine would.
_OUTSIDE = textwrap.dedent("""
    import sys
    sys.modules["nnstudio"] = None  # any import of nnstudio fails here
    import numpy as np, torch
    from safetensors.torch import load_file
    import model
    net = getattr(model, sys.argv[1])()
    net.load_state_dict(load_file("weights.safetensors"))
    with torch.no_grad():
        np.save("outputs.npy", net.eval()(torch.from_numpy(np.load("inputs.npy"))).numpy())
""")


def _answer_export(monkeypatch, folder, pick=0, train_script=False):
    """Answer File › Export's dialog with the real dialog's defaults (the latest run), or run ``pick``."""
    seen = {}

    def ask(parent, options):
        seen["options"] = options
        dialog = ExportDialog(options)
        dialog.folder_edit.setText(str(folder))
        dialog.weights_combo.setCurrentIndex(pick)
        dialog.train_check.setChecked(train_script)
        seen["summary"] = dialog.summary.text()
        request = dialog.request()
        dialog.deleteLater()
        return request

    monkeypatch.setattr(dialogs, "ask_export", ask)
    monkeypatch.setattr(
        dialogs,
        "show_exported",
        lambda parent, folder, files, note="": seen.setdefault("confirmed", (folder, files, note)),
    )
    return seen


def test_export_after_runs_writes_the_chosen_runs_weights_and_predict_py_that_predicts_like_the_app(
    train_window, qtbot, monkeypatch, tmp_path
):
    window = train_window("mlp_circles", epochs=2)
    training = window.training
    training.start()
    wait_for_run(qtbot, training)
    first_weights = load_file(training.last_outcome.run_dir / "weights.safetensors")
    training.start()
    wait_for_run(qtbot, training)
    # The app's trained model: its graph with the weights the run sent back from its process.
    trained = compile_graph(window.document.graph)
    assert carry_over(training.last_outcome.weights, window.document.graph, trained).fresh == {}
    trained.eval()

    folder = tmp_path / "export"
    seen = _answer_export(monkeypatch, folder, train_script=True)
    window.act_export.trigger()
    runs = seen["options"].runs
    assert [r.number for r in runs] == [2, 1] and "(latest)" in runs[0].description
    assert "run 2's trained weights" in seen["summary"]
    assert {"model.py", "weights.safetensors", "predict.py"} <= {p.name for p in folder.iterdir()}
    confirmed_folder, files, note = seen["confirmed"]
    assert confirmed_folder == folder and "run 2" in note
    assert files == ["model.py", "weights.safetensors", "predict.py", "train.py", "nnstudio_recipe.py"]
    # What the run saved with its weights (class names, task: predict.py reads them) travels along.
    with (
        safe_open(str(training.last_outcome.run_dir / "weights.safetensors"), "numpy") as run_file,
        safe_open(str(folder / "weights.safetensors"), "numpy") as exported_file,
    ):
        assert exported_file.metadata() == run_file.metadata()
        assert sorted(json.loads(exported_file.metadata()["classes"])) == ["inner", "outer"]

    # Outside nnstudio, the exported model gives the trained model's outputs on raw inputs.
    inputs = np.random.default_rng(1).normal(scale=2.0, size=(32, 2)).astype(np.float32)
    np.save(folder / "inputs.npy", inputs)
    class_name = generate(window.document.graph).class_name
    result = subprocess.run(
        [sys.executable, "-c", _OUTSIDE, class_name], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with torch.no_grad():
        expected = trained(torch.from_numpy(inputs)).numpy()
    np.testing.assert_array_equal(np.load(folder / "outputs.npy"), expected)
    # predict.py names the classes with the trained model's probabilities.
    predicted = subprocess.run(
        [sys.executable, "predict.py", "inputs.npy", "--json", "--top", "2"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    results = json.loads(predicted.stdout)
    probabilities = torch.softmax(torch.from_numpy(expected), dim=1).numpy()
    assert len(results) == len(inputs)
    for result, row in zip(results, probabilities, strict=True):
        assert result["top"][0]["index"] == row.argmax() and result["prediction"] in ("inner", "outer")
        np.testing.assert_allclose([c["probability"] for c in result["top"]], np.sort(row)[::-1], atol=1e-6)

    # An earlier run may be picked instead of the latest.
    older = tmp_path / "run1"
    _answer_export(monkeypatch, older, pick=1)
    window.act_export.trigger()
    exported = load_file(older / "weights.safetensors")
    assert exported.keys() == first_weights.keys()
    assert all(np.array_equal(exported[k], first_weights[k]) for k in exported)
