"""``nnstudio import``: sources as files, modules and functions; hostile sources get sentences."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nnstudio.api import Graph
from nnstudio.cli import main
from nnstudio.commands.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

SOURCE = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Small(nn.Module):
        def __init__(self, width=8, classes=3):
            super().__init__()
            if width < 1:
                raise ValueError("width must be positive")
            self.conv = nn.Conv2d(1, width, 3, padding=1)
            self.bn = nn.BatchNorm2d(width)
            self.fc = nn.Linear(width, classes)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x)))
            return self.fc(x.mean(dim=(2, 3)))


    class Helper:
        pass


    def make_small():
        return Small(width=4)


    def make_nothing():
        return Helper()


    NOT_A_CLASS = 3
    """
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "mymodel.py"
    path.write_text(SOURCE)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["import", *argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


def test_a_file_becomes_a_project_with_its_weights(source: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out" / "small.nnstudio"
    code, stdout, _ = _run(
        capsys, f"{source}:Small", "-o", str(out), "--input", "1,8,8", "--args", '{"width": 6}'
    )
    assert code == EXIT_OK
    assert stdout.count("importing runs the Python code") == 1
    assert "Verified in eval mode" in stdout and "largest difference" in stdout
    graph = Graph.load(out)
    assert [n.type for n in graph.nodes.values()] == [
        "Input",
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "GlobalAvgPool2d",
        "Linear",
        "Output",
    ]
    model = graph.compile()
    model.load_state_dict(load_file(out.parent / "small.weights.safetensors"), strict=True)
    assert model.conv.out_channels == 6


def test_trained_weights_are_carried_over(source: Path, tmp_path: Path, capsys) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("mymodel_for_weights", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    trained = module.Small()
    with torch.no_grad():
        trained.fc.weight.fill_(0.25)
        trained.bn.running_mean.fill_(0.5)
    for suffix in ("pt", "safetensors"):
        weights = tmp_path / f"trained.{suffix}"
        if suffix == "pt":
            torch.save(trained.state_dict(), weights)
        else:
            save_file(trained.state_dict(), weights)
        out = tmp_path / f"from_{suffix}.nnstudio"
        code, _, _ = _run(
            capsys, f"{source}:Small", "-o", str(out), "--input", "1,8,8", "--weights", str(weights)
        )
        assert code == EXIT_OK
        imported = load_file(tmp_path / f"from_{suffix}.weights.safetensors")
        assert torch.equal(imported["fc.weight"], trained.fc.weight)
        assert torch.equal(imported["bn.running_mean"], trained.bn.running_mean)


def test_a_module_path_and_a_factory_function_are_sources(source: Path, tmp_path: Path, capsys) -> None:
    code, _, _ = _run(
        capsys, "torch.nn:Linear", "-o", str(tmp_path / "linear.nnstudio"), "--input", "5", "--args", "[5, 2]"
    )
    assert code == EXIT_OK
    assert [n.type for n in Graph.load(tmp_path / "linear.nnstudio").nodes.values()] == [
        "Input",
        "Linear",
        "Output",
    ]
    code, _, _ = _run(
        capsys, f"{source}:make_small", "-o", str(tmp_path / "made.nnstudio"), "--input", "1,6,6"
    )
    assert code == EXIT_OK


HOSTILE = [
    (
        ["{source}:Small", "--args", '{"width": 0}'],
        r"building .*Small failed: ValueError: width must be positive \(line \d+ of mymodel\.py\)",
    ),
    (["{source}:NOT_A_CLASS"], r"is a int, not an nn\.Module class or a function"),
    (["{source}:make_nothing"], r"gave a Helper, not a torch\.nn\.Module"),
    (["{source}:Missing"], r"has no 'Missing'\. It defines these nn\.Module classes: Small"),
    (["{source}:Small", "--input", "2,8,8"], r"Small rejects example inputs of shape \(2, 2, 8, 8\)"),
    (["{source}:Small", "--args", "{width: 3}"], r"--args is not valid JSON"),
    (["{source}:Small", "--input", "a,b"], r"--input 'a,b' is not a shape"),
    (["{source}:Small", "--weights", "{missing}"], r"cannot read weights from"),
    (["no_such_package.models:Net"], r"there is no module 'no_such_package'"),
    (["{missing}:Net"], r"does not exist or is not a file"),
    (["just_a_name"], r"is not a model source"),
]


@pytest.mark.parametrize(("argv", "message"), HOSTILE, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_bad_source_gets_a_sentence_and_exit_2(source: Path, tmp_path: Path, capsys, argv, message) -> None:
    filled = [
        a.replace("{source}", str(source)).replace("{missing}", str(tmp_path / "missing.py")) for a in argv
    ]
    if "--input" not in filled:
        filled += ["--input", "1,8,8"]
    code, _, stderr = _run(capsys, *filled, "-o", str(tmp_path / "x.nnstudio"))
    assert code == EXIT_BAD_INPUT
    assert stderr.startswith("error: ")
    import re

    assert re.search(message, stderr), stderr
    assert not (tmp_path / "x.nnstudio").exists()


def test_a_file_that_fails_to_run_is_named_with_its_line(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\n\nraise RuntimeError('no GPU here')\n")
    code, _, stderr = _run(capsys, f"{broken}:Net", "-o", str(tmp_path / "x.nnstudio"), "--input", "3")
    assert code == EXIT_BAD_INPUT
    assert "running" in stderr and "RuntimeError: no GPU here (line 3 of broken.py)" in stderr


def test_weights_that_do_not_fit_are_refused(source: Path, tmp_path: Path, capsys) -> None:
    weights = tmp_path / "other.safetensors"
    save_file({"fc.weight": torch.zeros(2, 2)}, weights)
    code, _, stderr = _run(
        capsys,
        f"{source}:Small",
        "-o",
        str(tmp_path / "x.nnstudio"),
        "--input",
        "1,8,8",
        "--weights",
        str(weights),
    )
    assert code == EXIT_BAD_INPUT and "does not fit the model" in stderr


def test_parts_the_catalog_lacks_exit_1_naming_them(tmp_path: Path, capsys) -> None:
    path = tmp_path / "transformer.py"
    path.write_text(
        textwrap.dedent("""
        from torch import nn

        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.layer = nn.TransformerEncoderLayer(8, 2, batch_first=True)

            def forward(self, x):
                return self.layer(x)
    """)
    )
    code, _, stderr = _run(capsys, f"{path}:Encoder", "-o", str(tmp_path / "t.nnstudio"), "--input", "5,8")
    assert code == EXIT_FAILED
    assert "'layer' (TransformerEncoderLayer) cannot be mapped" in stderr


def test_an_existing_project_is_not_replaced_without_force(source: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "keep.nnstudio"
    out.write_text("mine")
    code, _, stderr = _run(capsys, f"{source}:Small", "-o", str(out), "--input", "1,8,8")
    assert code == EXIT_BAD_INPUT and "already exists" in stderr and out.read_text() == "mine"
    code, _, _ = _run(capsys, f"{source}:Small", "-o", str(out), "--input", "1,8,8", "--force")
    assert code == EXIT_OK


MLP = textwrap.dedent(
    """
    from torch import nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(2, 16)
            self.out = nn.Linear(16, 2)

        def forward(self, x):
            return self.out(self.hidden(x).relu())
    """
)


def test_training_an_imported_project_starts_from_its_weights(tmp_path: Path, capsys) -> None:
    source = tmp_path / "mlp.py"
    source.write_text(MLP)
    project = tmp_path / "mlp.nnstudio"
    assert _run(capsys, f"{source}:MLP", "-o", str(project), "--input", "2")[0] == EXIT_OK
    attached = tmp_path / "mlp.weights.safetensors"
    run = tmp_path / "run"
    code = main(
        [
            "train",
            str(project),
            "--dataset",
            "circles",
            "--epochs",
            "1",
            "--lr",
            "1e-9",
            "--optimizer",
            "sgd",
            "--weights",
            str(attached),
            "--out",
            str(run),
            "--quiet",
        ]
    )
    assert code == EXIT_OK
    start, end = load_file(attached), load_file(run / "weights.safetensors")
    assert start.keys() == end.keys()
    for key in start:  # a learning rate of 1e-9 leaves the imported weights where they were
        torch.testing.assert_close(end[key], start[key], atol=1e-6, rtol=0)

    other = tmp_path / "other.safetensors"
    save_file({"hidden.weight": torch.zeros(3, 3)}, other)
    code = main(
        [
            "train",
            str(project),
            "--dataset",
            "circles",
            "--epochs",
            "1",
            "--weights",
            str(other),
            "--out",
            str(tmp_path / "run2"),
            "--quiet",
        ]
    )
    assert code == EXIT_BAD_INPUT
    assert "does not fit this project's layers" in capsys.readouterr().err


def test_a_module_of_the_current_folder_can_be_named(
    source: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, _ = _run(capsys, "mymodel:Small", "-o", "here.nnstudio", "--input", "1,8,8")
    assert code == EXIT_OK and (tmp_path / "here.weights.safetensors").exists()
