"""The generated source: readable, standalone, deterministic, and never injectable."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from nnstudio.api import Graph
from nnstudio.compiler.codegen import CodegenError, generate
from nnstudio.core.errors import FormatError, GraphError
from nnstudio.core.layers import CATALOG

from .graphs import EXAMPLE_FILES, EXAMPLES_DIR


def _lines(src: str) -> list[str]:
    return [line.strip() for line in src.splitlines()]


def test_lenet5_reads_like_hand_written_pytorch() -> None:
    src = Graph.load(EXAMPLES_DIR / "lenet5.nnstudio").to_python()
    lines = _lines(src)
    assert "class LeNet5(nn.Module):" in lines
    assert "self.conv1 = nn.Conv2d(1, 6, kernel_size=5)" in lines  # PyTorch's defaults left out
    assert "self.pool1 = nn.AvgPool2d(kernel_size=2, stride=2)" in lines
    assert "def forward(self, image: torch.Tensor) -> torch.Tensor:" in lines
    forward = lines[lines.index("def forward(self, image: torch.Tensor) -> torch.Tensor:") + 1 :]
    assert forward[:5] == [
        "x = self.image_preprocess(image)  # (1, 32, 32)",  # raw pixels in, as trained
        "x = self.conv1(x)  # (6, 28, 28)",
        "x = self.tanh1(x)  # (6, 28, 28)",
        "x = self.pool1(x)  # (6, 14, 14)",
        "x = self.conv2(x)  # (16, 10, 10)",
    ]
    assert "return x  # scores (10,)" in forward
    imports = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert {alias.name for n in imports for alias in n.names} == {"torch", "nn"}
    assert all(getattr(n, "module", "torch") == "torch" for n in imports)


def test_a_value_read_twice_gets_the_name_of_its_node() -> None:
    src = Graph.load(EXAMPLES_DIR / "resnet_block.nnstudio").to_python()
    lines = _lines(src)
    assert "stem_relu = self.stem_relu(x)  # (16, 8, 8)" in lines
    assert "x = self.res_conv1(stem_relu)  # (16, 8, 8)" in lines
    assert "x = x + stem_relu  # (16, 8, 8)" in lines
    assert "x = x.mean(dim=(2, 3))  # (16,)" in lines


def test_composite_layers_come_as_small_classes_in_the_same_file() -> None:
    src = Graph.load(EXAMPLES_DIR / "googlenet_mini.nnstudio").to_python()
    classes = [n.name for n in ast.parse(src).body if isinstance(n, ast.ClassDef)]
    assert classes == ["Preprocess", "Inception", "GoogLeNetMini"]
    assert "self.inception3a = Inception(32, 16, 24, 32, 4, 8, 8)" in _lines(src)


def _two_headed() -> Graph:
    g = Graph(name="two heads")
    tokens = g.add("Input", name="tokens", shape=[6], dtype="int64")
    extra = g.add("Input", name="extra", shape=[6, 4])
    embed = g.add("Embedding", name="embed", num_embeddings=30, embedding_dim=4)
    add = g.add("Add", name="mix")
    lstm = g.add("LSTM", name="lstm", hidden_size=5)
    unused = g.add("ReLU", name="unused")  # leads to no Output: not part of the model
    g.connect(tokens, embed)
    g.connect(embed, unused)
    g.connect(embed, add)
    g.connect(extra, add)
    g.connect(add, lstm)
    g.connect(add, g.add("Output", name="features"))
    g.connect(lstm, g.add("Output", name="summary"))
    return g


def test_several_inputs_and_outputs_keep_the_graph_order() -> None:
    g = _two_headed()
    code = generate(g)
    lines = _lines(code.src)
    assert (
        "def forward(self, tokens: torch.Tensor, extra: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:"
        in lines
    )
    assert [i.name for i in code.inputs] == ["tokens", "extra"]
    assert code.output_names == ("features", "summary")
    assert "return mix, x  # features (6, 4), summary (5,)" in lines
    assert "unused" not in code.src
    assert "torch.randint(0, 30, (batch_size, 6))," in lines  # token ids below num_embeddings
    model = g.compile()
    features, summary = model(torch.randint(0, 30, (2, 6)), torch.randn(2, 6, 4))
    assert features.shape == (2, 6, 4) and summary.shape == (2, 5)


def test_generation_is_deterministic_and_needs_no_torch() -> None:
    script = (
        "import sys, nnstudio\n"
        f"g = nnstudio.Graph.load({str(EXAMPLES_DIR / 'googlenet_mini.nnstudio')!r})\n"
        "a, b = g.to_python(), g.to_python()\n"
        "assert a == b\n"
        "assert 'torch' not in sys.modules, 'generate imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_an_invalid_graph_is_refused_with_its_problems() -> None:
    g = Graph(name="broken")
    g.add("Linear", name="orphan")
    with pytest.raises(GraphError, match="'orphan' has no input"):
        g.to_python()


def test_generated_files_pass_ruff(tmp_path: Path) -> None:
    for path in EXAMPLE_FILES:
        (tmp_path / f"{path.stem}.py").write_text(Graph.load(path).to_python())
    (tmp_path / "two_heads.py").write_text(_two_headed().to_python())
    # ruff's default rules, then the broader set this project uses itself.
    for extra in ([], ["--select", "E,F,W,I,B,UP,SIM,RUF,N", "--ignore", "E501"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", *extra, "."],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_running_model_py_prints_a_summary_of_a_forward_pass(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(Graph.load(EXAMPLES_DIR / "googlenet_mini.nnstudio").to_python())
    (tmp_path / "tokens.py").write_text(_two_headed().to_python())
    script = "import runpy; runpy.run_path('model.py', run_name='__main__'); runpy.run_path('tokens.py', run_name='__main__')"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(
        line.split()[:2] == ["inception3a", "Inception"] and "(2, 64, 16, 16)" in line for line in lines
    )
    assert "Total parameters: 34,302" in lines
    assert "Output: (2, 10) torch.float32" in lines
    assert "Output: (2, 6, 4) torch.float32" in lines and "Output: (2, 5) torch.float32" in lines


# --- what the generator leaves out must really be PyTorch's default --------------------------------

# Positional arguments to build each layer that declares ``torch_defaults`` (a new one must be added here).
_CONSTRUCTOR_ARGS: dict[str, tuple[Any, ...]] = {
    "nn.Linear": (4, 3),
    "nn.Conv1d": (2, 3, 3),
    "nn.Conv2d": (2, 3, 3),
    "nn.ConvTranspose2d": (2, 3, 3),
    "nn.MaxPool1d": (2,),
    "nn.MaxPool2d": (2,),
    "nn.AvgPool1d": (2,),
    "nn.AvgPool2d": (2,),
    "nn.Dropout": (),
    "nn.LayerNorm": (4,),
    "nn.LeakyReLU": (),
    "nn.LSTM": (4, 3),
    "nn.GRU": (4, 3),
    "nn.RNN": (4, 3),
    "nn.MultiheadAttention": (4, 2),
    "nn.BatchNorm1d": (4,),
    "nn.BatchNorm2d": (4,),
}


def _public_state(module: nn.Module) -> dict[str, Any]:
    state = {k: v for k, v in vars(module).items() if not k.startswith("_")}
    state["parameters"] = [(n, tuple(p.shape)) for n, p in module.named_parameters()]
    return state


_SPECS_WITH_DEFAULTS = sorted(t for t, spec in CATALOG.items() if spec.torch_defaults)


def test_every_torch_nn_layer_in_the_table_declares_its_defaults_in_the_catalog() -> None:
    callees = {CATALOG[t].module_template(CATALOG[t].defaults()).split("(")[0] for t in _SPECS_WITH_DEFAULTS}
    assert callees == set(_CONSTRUCTOR_ARGS)


@pytest.mark.parametrize("layer_type", _SPECS_WITH_DEFAULTS)
def test_omitted_arguments_are_torchs_defaults(layer_type: str) -> None:
    spec = CATALOG[layer_type]
    callee = spec.module_template(spec.defaults()).split("(")[0]  # e.g. "nn.Conv2d"
    assert callee.startswith("nn."), f"{layer_type}'s torch_defaults must belong to a torch.nn constructor"
    cls = getattr(nn, callee.removeprefix("nn."))
    args = _CONSTRUCTOR_ARGS[callee]
    explicit = cls(*args, **spec.torch_defaults)
    implicit = cls(*args)
    assert _public_state(explicit) == _public_state(implicit)


# --- hostile project files ------------------------------------------------------------------------

HOSTILE = [
    "__import__('pathlib').Path('PWNED').touch()",
    '"""); __import__("pathlib").Path("PWNED").touch(); ("""',
    "x = 1; import pathlib; pathlib.Path('PWNED').touch() #",
    "ünïcode → import pathlib; pathlib.Path('PWNED').touch()",
    "self",
    "forward",
    "\\",
]


def _hostile_graph() -> Graph:
    g = Graph(name=HOSTILE[1], description="\n".join(HOSTILE) + '\n"""\nimport os\n')
    tail = g.add("Input", name=HOSTILE[0], shape=[4])
    for index, name in enumerate(HOSTILE[1:]):
        node = g.add("Linear", name=name, out_features=4) if index % 2 else g.add("ReLU", name=name)
        g.connect(tail, node)
        tail = node
    g.connect(tail, g.add("Output", name=HOSTILE[2] + "!"))
    return g


def _names_and_calls(src: str) -> tuple[set[str], set[str]]:
    tree = ast.parse(src)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    return names, imports


def test_hostile_names_yield_harmless_code(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    g = _hostile_graph()
    src = g.to_python(class_name="Evil\nimport os")
    names, imports = _names_and_calls(src)
    assert imports == {"torch", "nn"}
    assert not names & {"__import__", "pathlib", "os", "eval", "exec", "open"}
    model = g.compile()
    model(torch.randn(2, 4))
    (tmp_path / "model.py").write_text(src)
    result = subprocess.run(
        [sys.executable, "model.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "PWNED").exists()
    # Free text ends up in docstrings only, escaped: the docstring ends where it should.
    body = ast.parse(src).body
    assert "PWNED" in ast.get_docstring(ast.parse(src))
    assert isinstance(body[1], ast.Import) and body[1].names[0].name == "torch"


def test_names_changed_behind_the_graphs_back_are_still_made_safe() -> None:
    """The graph refuses multi-line names, but the generator does not rely on it."""
    g = Graph(name="ok")
    layer = g.add("ReLU")
    g.connect(g.add("Input", shape=[3]), layer)
    g.connect(layer, g.add("Output"))
    g.nodes[layer].name = "a\nimport os\nos.system('x')  #"
    g.name = 'x"""\nimport os\n"""'
    src = g.to_python()
    names, imports = _names_and_calls(src)
    assert imports == {"torch", "nn"} and "os" not in names
    assert "self.a_import_os_os_system_x = nn.ReLU()" in _lines(src)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("out_features", "1); import os; os.system('x'); (1"),
        ("out_features", 2.5),
        ("out_features", float("nan")),
        ("bias", "True or __import__('os')"),
    ],
)
def test_hostile_parameters_in_a_project_file_are_refused(tmp_path: Path, param: str, value: Any) -> None:
    path = tmp_path / "evil.nnstudio"
    g = Graph(name="evil")
    g.connect(g.add("Input", shape=[3]), g.add("Linear", name="fc", out_features=2))
    g.connect(g.node_by_name("fc").id, g.add("Output"))
    g.save(path)
    data = json.loads(path.read_text())
    data["nodes"][1]["params"][param] = value
    path.write_text(json.dumps(data))
    with pytest.raises(FormatError, match="fc"):
        Graph.load(path)


@pytest.mark.parametrize(
    ("type_name", "param", "value"),
    [
        ("Linear", "out_features", "4); import os; (4"),
        ("Linear", "bias", "__import__('os')"),
        ("RNN", "nonlinearity", "tanh') or __import__('os') or ('"),
        ("Dropout", "p", float("inf")),
        ("Reshape", "shape", ("2, __import__('os')",)),
    ],
)
def test_parameters_edited_behind_the_graphs_back_are_checked_again(type_name, param, value) -> None:
    """Even a params dict changed without set_param cannot put code into the file."""
    g = Graph(name="sneaky")
    shape = {"RNN": [3, 2], "Reshape": [4]}.get(type_name, [4])
    extra = {"shape": [2, 2]} if type_name == "Reshape" else {}
    layer = g.add(type_name, name="target", **extra)
    g.connect(g.add("Input", shape=shape), layer)
    g.connect(layer, g.add("Output"))
    g.nodes[layer].params[param] = value
    g.events.changed.emit()  # forget the cached analysis, as an edit would
    with pytest.raises(GraphError, match="target"):
        g.to_python()


def test_codegen_errors_are_graph_errors() -> None:
    assert issubclass(CodegenError, GraphError)


def test_the_preprocess_class_comes_only_with_an_input_that_normalises() -> None:
    graph = Graph.load(EXAMPLES_DIR / "mlp_circles.nnstudio")
    assert "class Preprocess(nn.Module):" in _lines(graph.to_python())
    graph.set_param(graph.node_by_name("point").id, "normalize", "none")
    src = graph.to_python()
    assert "Preprocess" not in src
    assert "def forward(self, point: torch.Tensor) -> torch.Tensor:" in _lines(src)
