"""Parts the catalog cannot express are kept whole as foreign modules.

A submodule whose class is importable by path becomes a Foreign node: the
exported code imports its class and builds it from plain-data arguments, its
weights are the module's own state dict, and its shape rule is what the import
measured. A project file stays data: a Foreign node's import path and
arguments are checked at load, so a hostile file is refused with a sentence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from nnstudio.api import Graph
from nnstudio.cli import main
from nnstudio.commands.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from nnstudio.compiler.importer import ModelImportError, from_torch
from nnstudio.core import project
from nnstudio.core.errors import FormatError

from .import_corpus import foreign_gate


def _foreign(graph: Graph) -> list:
    return [n for n in graph.nodes.values() if n.type == "Foreign"]


@pytest.fixture(scope="module")
def gated():
    model = foreign_gate.build().eval()
    inputs = torch.randn(*foreign_gate.INPUTS[0], generator=torch.Generator().manual_seed(1))
    return model, inputs, from_torch(model, inputs)


def test_a_custom_module_the_catalog_lacks_becomes_one_foreign_node(gated) -> None:
    model, inputs, result = gated
    (head,) = _foreign(result.graph)
    assert head.name == "head"
    assert head.params["target"] == f"{foreign_gate.__name__}:SwishGate"
    assert head.params["args"] == (16, 0.25)  # read off the module's attributes
    assert tuple(head.params["in_shape"]) == (16,) and tuple(head.params["out_shape"]) == (16,)
    assert result.graph.num_parameters() == sum(p.numel() for p in model.parameters())
    assert result.report.verified
    assert any("'head' (" in str(line) and "kept as a foreign module" in str(line) for line in result.report)
    assert "not imported" not in str(result.report)  # its own layers belong to it
    compiled = result.graph.compile()
    compiled.load_state_dict(result.weights, strict=True)  # the module's state dict under 'head'
    with torch.no_grad():
        torch.testing.assert_close(compiled.eval()(inputs), model(inputs))


def test_exported_code_imports_the_foreign_class_and_computes_the_same(gated, tmp_path: Path) -> None:
    model, inputs, result = gated
    src = result.graph.to_python()
    module = foreign_gate.__name__.rsplit(".", 1)[0]
    assert f"import {foreign_gate.__name__}\n" in src
    (tmp_path / "model.py").write_text(src)
    save_file({k: v.contiguous() for k, v in result.weights.items()}, tmp_path / "weights.safetensors")
    save_file({"x": inputs, "y": model(inputs).detach()}, tmp_path / "data.safetensors")
    (tmp_path / "check.py").write_text(
        textwrap.dedent("""
        import sys
        import torch
        from safetensors.torch import load_file
        sys.modules["nnstudio"] = None  # the exported code must not need nnstudio
        import model
        net = getattr(model, sys.argv[1])().eval()
        net.load_state_dict(load_file("weights.safetensors"), strict=True)
        data = load_file("data.safetensors")
        with torch.no_grad():
            torch.testing.assert_close(net(data["x"]), data["y"])
        print("same")
        """)
    )
    # The folder that holds the foreign class's package, as a user's PYTHONPATH would.
    root = Path(foreign_gate.__file__).resolve().parents[len(module.split("."))]
    env = {**os.environ, "PYTHONPATH": str(root)}
    class_name = src.split("\nclass ")[1].split("(")[0]
    done = subprocess.run(
        [sys.executable, "check.py", class_name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "same" in done.stdout, done.stderr[-2000:]


def test_a_project_with_a_foreign_node_saves_and_loads(gated, tmp_path: Path) -> None:
    _, _, result = gated
    path = tmp_path / "gated.nnstudio"
    project.save(result.graph, path)
    loaded = project.load(path, Graph)
    (head,) = _foreign(loaded)
    assert head.params == _foreign(result.graph)[0].params
    assert loaded.to_python() == result.graph.to_python()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("target", "os:system", "import path"),
        ("target", "__import__", "import path"),
        ("target", "subprocess:Popen", "not a model module"),
        ("target", "pkg.mod:Cls(); import os", "import path"),
        ("args", {"code": "__import__('os').system('echo hi')"}, "list of constructor arguments"),
        ("args", [{"__reduce__": "os.system"}], "only numbers, text"),
    ],
)
def test_a_hostile_foreign_node_in_a_project_file_is_refused_at_load(
    gated, tmp_path: Path, field: str, value, says: str
) -> None:
    _, _, result = gated
    record = json.loads(project.dumps(result.graph))
    nodes = record["graph"]["nodes"] if "graph" in record else record["nodes"]
    (head,) = [n for n in nodes if n["type"] == "Foreign"]
    head["params"][field] = value
    path = tmp_path / "hostile.nnstudio"
    path.write_text(json.dumps(record))
    with pytest.raises(FormatError, match=says) as refused:
        project.load(path)
    assert str(path) in str(refused.value) or "hostile" in str(refused.value)


def test_a_class_holding_a_foreign_module_stays_as_layers_while_others_become_blocks() -> None:
    model = foreign_gate.GatedStack().eval()
    result = from_torch(model, torch.randn(2, 8))
    assert len(_foreign(result.graph)) == 2 and result.report.verified
    assert list(result.graph.blocks.names()) == ["Plain"]
    text = str(result.report)
    assert "GatedResidual stayed as separate layers: it holds a foreign module" in text
    assert "Block Plain:" in text
    assert result.graph.to_python().count(f"import {foreign_gate.__name__}\n") == 1


def test_a_torch_layer_the_catalog_lacks_is_kept_by_its_torch_nn_path() -> None:
    model = foreign_gate.Upsampler().eval()
    result = from_torch(model, torch.randn(2, 3, 8, 8))
    (shuffle,) = _foreign(result.graph)
    assert shuffle.params["target"] == "torch.nn:PixelShuffle" and shuffle.params["args"] == (2,)
    assert result.graph.shapes()[shuffle.id] == (3, 16, 16)
    assert result.report.verified


def test_a_foreign_module_refuses_other_input_shapes_with_a_sentence(gated) -> None:
    _, _, result = gated
    graph = Graph.from_dict(result.graph.to_dict())
    fc1 = next(n for n in graph.nodes.values() if n.name == "fc1")
    graph.set_param(fc1.id, "out_features", 20)
    problems = [d.message for d in graph.validate() if d.is_error]
    assert any("measured on inputs of shape (16,)" in p and "(20,)" in p for p in problems)


def test_a_class_that_cannot_be_imported_is_refused_saying_why() -> None:
    class Local(nn.Module):  # defined in a function: exported code could not import it
        def forward(self, x):
            return torch.sort(x, dim=-1).values

    model = nn.Sequential(nn.Linear(4, 4), Local())
    with pytest.raises(
        ModelImportError,
        match=r"torch\.sort.*'1' \(Local\) cannot be kept as a foreign module: "
        "its class is defined inside a function",
    ):
        from_torch(model, torch.randn(2, 4))


def test_operations_the_catalog_lacks_stay_refused() -> None:
    class Sorts(nn.Module):
        def forward(self, x):
            return torch.sort(x, dim=-1).values

    with pytest.raises(ModelImportError, match=r"torch\.sort"):
        from_torch(Sorts(), torch.randn(2, 4))


def test_constructor_arguments_can_be_given_where_they_cannot_be_read() -> None:
    model = foreign_gate.build().eval()
    model.head = foreign_gate.RenamedGate(16)
    inputs = torch.randn(2, 12)
    with pytest.raises(
        ModelImportError, match=r"'head' \(RenamedGate\).*give them with --foreign-args 'head=\[\.\.\.\]'"
    ):
        from_torch(model, inputs)
    result = from_torch(model, inputs, foreign_args={"head": [16]})
    assert _foreign(result.graph)[0].params["args"] == (16,) and result.report.verified


def test_the_command_line_takes_a_foreign_modules_arguments(tmp_path: Path, capsys) -> None:
    source = f"{foreign_gate.__name__}:RenamedGatedMLP"
    out = tmp_path / "gated.nnstudio"
    assert main(["import", source, "-o", str(out), "--input", "12"]) == EXIT_FAILED
    assert "--foreign-args 'head=[...]'" in capsys.readouterr().err
    assert (
        main(["import", source, "-o", str(out), "--input", "12", "--foreign-args", "head"]) == EXIT_BAD_INPUT
    )
    assert "must be a module path, '=' and a JSON list" in capsys.readouterr().err
    assert main(["import", source, "-o", str(out), "--input", "12", "--foreign-args", "head=[16]"]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "'head' (" in printed and "kept as a foreign module" in printed
    (head,) = _foreign(project.load(out, Graph))
    assert head.params["target"].endswith("foreign_gate:RenamedGate") and head.params["args"] == (16,)
