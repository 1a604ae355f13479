"""Run exported models in a separate Python that cannot import nnstudio.

The proof that "the code you export is the model you trained": the in-app
module's outputs are saved next to the exported ``model.py`` and its weights;
one fresh interpreter (``python -I``, with an import hook that refuses
``nnstudio`` even through the editable install) loads every exported file by
path, runs the same inputs, and must produce bit-identical outputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from nnstudio.compiler.build import example_inputs
from nnstudio.compiler.codegen import PythonCode

RUNNER = r'''
import importlib.util
import json
import sys


class RefuseNnstudio:
    """Any import of nnstudio fails, whatever sys.path or .pth files say."""

    def find_spec(self, name, path=None, target=None):
        if name == "nnstudio" or name.startswith("nnstudio."):
            raise ImportError("nnstudio is not available in this process")
        return None


sys.meta_path.insert(0, RefuseNnstudio())
try:
    import nnstudio  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("nnstudio could be imported; the check would prove nothing")

import torch
from safetensors.torch import load_file


def identical(a, b):
    return (
        a.dtype == b.dtype and a.shape == b.shape
        and torch.equal(a.isnan(), b.isnan())
        and torch.equal(a.nan_to_num(), b.nan_to_num())
    )


cases = json.loads(open(sys.argv[1]).read())
torch.set_num_threads(int(sys.argv[2]))
failures = []
for index, case in enumerate(cases):
    spec = importlib.util.spec_from_file_location(f"exported_{index}", case["model"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, case["class_name"])()
    model.load_state_dict(load_file(case["weights"]))
    model.eval()
    data = load_file(case["data"])
    # Fresh, aligned copies: tensors read from a file may sit at any offset,
    # and CPU matrix kernels round differently on unaligned memory.
    inputs = [data[f"input{i}"].clone() for i in range(case["inputs"])]
    with torch.no_grad():
        outputs = model(*inputs)
    if not isinstance(outputs, tuple):
        outputs = (outputs,)
    expected = [data[f"output{i}"] for i in range(case["outputs"])]
    if len(outputs) != len(expected) or not all(map(identical, outputs, expected)):
        failures.append(case["model"])
assert not any(name.startswith("nnstudio") for name in sys.modules)
print(json.dumps({"checked": len(cases), "failures": failures}))
'''


@dataclass
class ExportedCase:
    """An exported model plus the inputs and the outputs the in-app module gave."""

    model: Path
    class_name: str
    weights: Path
    data: Path
    inputs: int
    outputs: int


def record_outputs(model: torch.nn.Module, code: PythonCode, folder: Path, weights: Path) -> ExportedCase:
    """Run ``model`` (eval mode) on random inputs; save inputs and outputs beside ``weights``."""
    model.eval()
    inputs = example_inputs(code, batch=3)
    with torch.no_grad():
        outputs = model(*inputs)
    if not isinstance(outputs, tuple):
        outputs = (outputs,)
    tensors = {f"input{i}": t for i, t in enumerate(inputs)}
    # A fresh copy: an output may be an input itself, or a view that is not contiguous.
    tensors |= {f"output{i}": t.clone(memory_format=torch.contiguous_format) for i, t in enumerate(outputs)}
    data = folder / "data.safetensors"
    save_file(tensors, data)
    return ExportedCase(folder / "model.py", code.class_name, weights, data, len(inputs), len(outputs))


def randomize_buffers(model: torch.nn.Module) -> None:
    """Give BatchNorm running statistics values other than their 0 and 1 defaults."""
    generator = torch.Generator().manual_seed(0)
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            buffer.copy_(torch.randn(buffer.shape, generator=generator) * 0.1)
        elif name.endswith("running_var"):
            buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)


def check_in_isolation(cases: list[ExportedCase], workdir: Path) -> None:
    """Fail unless every exported model reproduces its recorded outputs bit for bit."""
    runner = workdir / "check_exports.py"
    runner.write_text(RUNNER)
    listing = workdir / "cases.json"
    listing.write_text(
        json.dumps(
            [
                {**vars(c), "model": str(c.model), "weights": str(c.weights), "data": str(c.data)}
                for c in cases
            ]
        )
    )
    result = subprocess.run(
        [sys.executable, "-I", str(runner), str(listing), str(torch.get_num_threads())],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["checked"] == len(cases)
    assert not report["failures"], f"exported code differs from the compiled module: {report['failures']}"
