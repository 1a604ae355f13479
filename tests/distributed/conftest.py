"""Helpers for the tests of the exported train.py: write it for a project, import it."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import pytest

from nnstudio.api import Graph
from nnstudio.compiler.codegen import generate
from nnstudio.compiler.train_script import write_train_script

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
_counter = itertools.count()


def export_training(graph: Graph, folder: Path, settings: dict | None = None) -> Path:
    """model.py and train.py for ``graph`` in ``folder``, as ``nnstudio export --train-script`` writes."""
    folder.mkdir(parents=True, exist_ok=True)
    code = generate(graph)
    (folder / "model.py").write_text(code.src, encoding="utf-8")
    return write_train_script(graph, folder, code, settings)


def import_script(folder: Path) -> ModuleType:
    """The generated train.py as a module (its ``from model import ...`` resolved in ``folder``)."""
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"exported_train_{next(_counter)}", folder / "train.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)  # the next test's model.py is another network
        sys.modules.pop("nnstudio_recipe", None)  # and the recipe is read from beside it
    return module


@pytest.fixture
def tiny_project() -> Graph:
    """The MLP on two circles, cut to a run of a few seconds."""
    graph = Graph.load(EXAMPLES / "mlp_circles.nnstudio")
    graph.training.update(epochs=2, batch_size=64, lr=0.05, seed=3)
    return graph


@pytest.fixture(name="export_training")
def _export_training():
    return export_training


@pytest.fixture(name="import_script")
def _import_script():
    return import_script
