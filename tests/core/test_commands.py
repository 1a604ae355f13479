"""``nnstudio validate`` and ``nnstudio info``, run in-process through the CLI's main()."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnstudio.cli import main
from nnstudio.core.graph import GraphModel
from nnstudio.resources import examples_dir

LENET = examples_dir() / "lenet5.nnstudio"


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """LeNet-5 with a residual Add whose inputs do not match."""
    g = GraphModel.load(LENET)
    add = g.add("Add", name="res1")
    g.disconnect(g.node_by_name("fc2").id, g.node_by_name("tanh4").id)
    g.connect(g.node_by_name("fc2").id, add)
    g.connect(g.node_by_name("tanh3").id, add)
    g.connect(add, g.node_by_name("tanh4").id)
    path = tmp_path / "broken.nnstudio"
    g.save(path)
    return path


def test_validate_accepts_an_example(example_path: Path, capsys) -> None:
    assert main(["validate", str(example_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{example_path}: valid, ")


def test_validate_reports_lenets_size(capsys) -> None:
    assert main(["validate", str(LENET)]) == 0
    assert capsys.readouterr().out == f"{LENET}: valid, 14 nodes, 61,706 parameters.\n"


def test_validate_prints_the_diagnostic_and_exits_1(broken: Path, capsys) -> None:
    assert main(["validate", str(broken)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # errors go to stderr, as every command's do
    assert captured.err.splitlines() == [
        "error: Add 'res1': inputs have shapes (84,) and (120,); they must match.",
        f"{broken}: invalid (1 error(s), 0 warning(s)).",
    ]


def test_validate_counts_warnings_without_failing(tmp_path: Path, capsys) -> None:
    g = GraphModel.load(LENET)
    g.connect(g.node_by_name("fc1").id, g.add("Sigmoid", name="unused"))
    path = tmp_path / "warned.nnstudio"
    g.save(path)
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        "warning: Sigmoid 'unused' does not lead to any Output, so it is not part of "
        "the model; connect it onward or delete it."
    )
    assert captured.out.endswith("valid, 15 nodes, 61,706 parameters, 1 warning(s).\n")


def test_validate_refuses_an_empty_project(tmp_path: Path, capsys) -> None:
    path = tmp_path / "empty.nnstudio"
    GraphModel().save(path)
    assert main(["validate", str(path)]) == 1
    assert "has no layers" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["validate", "info"])
def test_a_corrupt_file_exits_2_with_a_clear_message(tmp_path: Path, capsys, command: str) -> None:
    path = tmp_path / "corrupt.nnstudio"
    path.write_text(LENET.read_text()[:500])
    assert main([command, str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path}, line ")
    assert "not valid JSON" in captured.err and "truncated or corrupt" in captured.err


def test_a_missing_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["validate", str(tmp_path / "nope.nnstudio")]) == 2
    assert "Cannot open" in capsys.readouterr().err


def test_info_prints_every_node_and_the_totals(capsys) -> None:
    assert main(["info", str(LENET)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("LeNet-5: ")
    header = next(line for line in lines if line.startswith("Name"))
    assert header.split() == ["Name", "Type", "Output", "shape", "Params", "Mult-adds", "Activations"]
    g = GraphModel.load(LENET)
    rows = {
        line.split()[0]: line
        for line in lines[3:]
        if line and line.split()[0] in {n.name for n in g.nodes.values()}
    }
    assert set(rows) == {n.name for n in g.nodes.values()}
    assert rows["conv1"].split()[:5] == ["conv1", "Conv2d", "(6,", "28,", "28)"]
    assert "156" in rows["conv1"].split() and "48,120" in rows["fc1"].split()
    assert "Total parameters: 61,706 (241.0 KiB as float32)" in lines
    assert "Mult-adds per sample: 416.52k" in lines
    assert any(line.startswith("Activations per sample (forward): ") for line in lines)


def test_info_on_an_invalid_graph_marks_unknowns_and_exits_1(broken: Path, capsys) -> None:
    assert main(["info", str(broken)]) == 1
    captured = capsys.readouterr()
    out = captured.out
    res1 = next(line for line in out.splitlines() if line.startswith("res1 "))
    assert res1.split()[1:] == ["Add", "?", "?", "?", "?"]
    assert f"1 problem(s); run 'nnstudio validate {broken}' for details." in captured.err
