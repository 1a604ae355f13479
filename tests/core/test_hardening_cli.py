"""One command line: the README's exit codes in every subcommand (0 done, 1 the run
or graph failed, 2 a bad file or flag), errors on stderr naming a node once, a
mistyped command refused with a suggestion, no run folder left by a refused run."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnstudio.cli import main
from nnstudio.core.graph import GraphModel
from nnstudio.resources import examples_dir

LENET = examples_dir() / "lenet5.nnstudio"


@pytest.fixture
def half_done(tmp_path: Path) -> Path:
    """An Input feeding a Linear 'fc' that leads nowhere: no Output."""
    graph = GraphModel(name="half done")
    graph.connect(graph.add("Input", shape=[4]), graph.add("Linear", name="fc", out_features=2))
    graph.add("ReLU", name="loose")
    path = tmp_path / "half.nnstudio"
    graph.save(path)
    return path


@pytest.fixture
def no_editor(monkeypatch: pytest.MonkeyPatch) -> list:
    """Records what the editor would have been asked to open instead of opening it."""
    opened: list = []
    import nnstudio.gui.app

    monkeypatch.setattr(nnstudio.gui.app, "run_app", lambda argv: opened.append(list(argv)) or 0)
    return opened


def test_a_mistyped_command_is_refused_with_the_closest_one(no_editor, capsys) -> None:
    assert main(["trian", str(LENET)]) == 2
    err = capsys.readouterr().err
    assert "'trian' is neither a command" in err and "Did you mean 'nnstudio train'?" in err
    assert no_editor == []  # the editor never opened


def test_a_word_that_names_a_file_still_opens_the_editor(no_editor, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trian").write_text("{}")
    assert main(["trian"]) == 0
    assert main(["new.nnstudio"]) == 0  # a project still to be found: the editor says so
    assert no_editor == [["trian"], ["new.nnstudio"]]


@pytest.mark.parametrize("command", ["validate", "info", "export", "train"])
def test_an_invalid_graph_exits_1_in_every_command(half_done: Path, tmp_path, capsys, command) -> None:
    extra = {"export": ["-o", str(tmp_path / "out")], "train": ["--out", str(tmp_path / "run")]}
    assert main([command, str(half_done), *extra.get(command, [])]) == 1
    captured = capsys.readouterr()
    assert "error" not in captured.out  # errors go to stderr
    assert "error:" in captured.err or "problem(s)" in captured.err


@pytest.mark.parametrize("command", ["validate", "export", "train"])
def test_messages_name_a_node_once(half_done: Path, tmp_path, capsys, command) -> None:
    extra = {"export": ["-o", str(tmp_path / "out")], "train": ["--out", str(tmp_path / "run")]}
    main([command, str(half_done), *extra.get(command, [])])
    err = capsys.readouterr().err
    assert "error: ReLU 'loose' has no input" in err
    assert "loose: ReLU 'loose'" not in err


def test_a_file_system_error_exits_2_in_export_and_train(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["export", str(LENET), "-o", str(blocker / "out")]) == 2
    assert main(["train", str(LENET), "--out", str(blocker / "run"), "--device", "cpu"]) == 2
    assert capsys.readouterr().err.count("error:") == 2


def test_a_refused_run_leaves_no_run_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip-data")
    assert main(["train", str(LENET), "--dataset", str(bad), "--device", "cpu"]) == 2
    assert main(["train", str(LENET), "--dataset", str(bad), "--out", str(tmp_path / "mine")]) == 2
    assert "Cannot read" in capsys.readouterr().err
    assert not (tmp_path / "mine").exists()
    assert _run_folders(tmp_path) == []


def test_a_refused_distributed_run_leaves_no_run_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    # A batch size that does not split over 3 processes is refused before anything starts.
    assert main(["train", str(LENET), "--nproc", "3", "--batch-size", "64", "--device", "cpu"]) == 2
    assert "does not split evenly" in capsys.readouterr().err
    assert _run_folders(tmp_path) == []


def test_the_exit_codes_are_defined_once() -> None:
    import re

    import nnstudio.commands

    folder = Path(nnstudio.commands.__file__).parent
    for module in folder.glob("*.py"):
        if module.name == "exit_codes.py":
            continue
        source = module.read_text(encoding="utf-8")
        assert not re.search(r"return [0-9]+\b", source), f"{module.name} returns a bare exit code"
        assert not re.search(r"EXIT_\w+(, EXIT_\w+)* = [0-9]", source), f"{module.name} defines exit codes"


def _run_folders(root: Path) -> list[Path]:
    return sorted((root / "runs").glob("*")) if (root / "runs").exists() else []
