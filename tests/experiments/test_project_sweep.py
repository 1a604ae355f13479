"""The project file's optional ``sweep`` section: plain data, schema-checked, saved only when set."""

from __future__ import annotations

import json

import pytest

from nnstudio.core import project
from nnstudio.core.errors import FormatError
from nnstudio.experiments import space
from tests.conftest import EXAMPLES_DIR

SECTION = {
    "params": [
        {"target": "lr", "low": 0.001, "high": 0.1, "log": True},
        {"target": "hidden.out_features", "low": 4, "high": 64},
        {"target": "optimizer", "choices": ["adam", "sgd"]},
    ]
}


def test_a_saved_sweep_loads_back_as_the_same_dimensions(tmp_path) -> None:
    graph = project.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    assert graph.sweep is None and "sweep" not in project.to_record(graph)
    graph.sweep = SECTION
    graph.save(tmp_path / "p.nnstudio")
    loaded = project.load(tmp_path / "p.nnstudio")
    assert loaded.sweep == SECTION
    dims = space.from_section(loaded.sweep)
    assert [d.describe() for d in dims] == [
        "lr=0.001..0.1:log",
        "hidden.out_features=4..64",
        "optimizer=adam,sgd",
    ]
    assert isinstance(dims[1].low, int)  # whole numbers stay whole


@pytest.mark.parametrize(
    "param, words",
    [
        ({"target": "lr", "low": 0.1}, "'lr' needs a range"),
        ({"target": "lr", "low": 0.1, "high": 1, "step": 2}, "sweep.params.0.step"),
        ({"target": "", "choices": [1]}, "sweep.params.0.target"),
        ({"target": "optimizer", "choices": []}, "sweep.params.0.choices"),
        ({"target": "optimizer", "choices": [{"code": "x"}]}, "sweep.params.0.choices"),
    ],
)
def test_a_malformed_sweep_section_is_a_format_error(param, words) -> None:
    data = json.loads((EXAMPLES_DIR / "mlp_circles.nnstudio").read_text())
    data["sweep"] = {"params": [param]}
    with pytest.raises(FormatError, match=words):
        project.loads(json.dumps(data), source="p.nnstudio")
