"""Exported == trained, measured on raw data.

Each classification example trains briefly; its run folder's ``predict.py``
then classifies the raw validation samples (as the data set holds them, never
normalised by nnstudio) in a Python that cannot import nnstudio, and must get
exactly the accuracy the app reported for the same weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnstudio.api import Graph
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import ModelIO
from nnstudio.training.loop import Trainer
from nnstudio.training.recipe import BUILTIN
from nnstudio.training.run_folder import export_trained

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
CLASSIFIERS = [
    "logistic_circles", "mlp_circles", "digits_cnn", "lenet5", "googlenet_mini", "lstm_sequence", "resnet_block",
]  # fmt: skip
LARGE = {"shapes": 10, "sequences": 4}  # built-in sets thinned out for speed: every n-th sample

# predict.py run as a user would, but with every import of nnstudio refused.
ISOLATED = r"""
import runpy, sys

class RefuseNnstudio:
    def find_spec(self, name, path=None, target=None):
        if name == "nnstudio" or name.startswith("nnstudio."):
            raise ImportError("nnstudio is not available in this process")

sys.meta_path.insert(0, RefuseNnstudio())
sys.argv = ["predict.py", *sys.argv[1:]]
runpy.run_path("predict.py", run_name="__main__")
"""


@pytest.mark.parametrize("example", CLASSIFIERS)
def test_predict_py_on_raw_validation_data_matches_the_reported_accuracy(
    example: str, tmp_path: Path
) -> None:
    graph = Graph.load(EXAMPLES / f"{example}.nnstudio")
    config = TrainConfig.from_settings(graph.training).with_overrides(epochs=1, device="cpu")
    if config.dataset in LARGE:  # the first samples of the same built-in set, as a file: quicker
        io = ModelIO.of(graph)
        x, y, _ = BUILTIN[config.dataset](io.input_shape, max(2, io.output_shape[0]), 0)
        np.savez(tmp_path / "subset.npz", x=x[:: LARGE[config.dataset]], y=y[:: LARGE[config.dataset]])
        config = config.with_overrides(dataset=str(tmp_path / "subset.npz"))
    trainer = Trainer.for_graph(graph, config, checkpoint_dir=tmp_path / "run", base_dir=EXAMPLES)
    result = trainer.run(lambda event: None)
    reported = result.history.epochs[-1].val_acc

    exported = export_trained(
        graph, trainer.model, tmp_path / "run", trained_on=trainer.data.trained_on(trainer.loss_name)
    )
    assert exported.problem is None, exported.problem
    x, y = (t.numpy() for t in trainer.data.val.tensors)
    np.save(tmp_path / "val.npy", x)

    run = subprocess.run(
        [sys.executable, "-I", "-c", ISOLATED, str(tmp_path / "val.npy"), "--json", "--top", "1"],
        cwd=tmp_path / "run",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    predictions = json.loads(run.stdout)
    predicted = np.array([p["top"][0]["index"] for p in predictions])
    correct = int((predicted == y).sum())
    assert correct == round(reported * len(y)), f"predict.py: {correct}/{len(y)}, the app: {reported:.6f}"
    # and the class names came along with the weights
    assert {p["prediction"] for p in predictions} <= set(trainer.data.class_names or map(str, range(99)))
