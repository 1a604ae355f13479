"""How long importing a ResNet-50-sized model takes, and opening what it wrote.

Builds ResNet-50 (Bottleneck blocks [3, 4, 6, 3], 25.6M parameters) as
torchvision writes it (``tests/compiler/import_corpus/resnet.py``), imports it
with ``nnstudio.from_torch`` on a batch of two 3x64x64 images (the
verification runs the model twice, so the input size sets most of the time),
saves the project and its weights as ``nnstudio import`` does, then times
opening the project: loading the file and analysing the graph (shapes,
parameter counts), which is what the editor does before it draws. Prints the
median of ``--repeats`` runs against the limits (import < 3 s, open < 0.5 s).

Run it with ``python benchmarks/import_time.py [--repeats N] [--size S] [--threads T] [--export]``;
``--export`` times the torch.export route (a rank check in forward that torch.fx cannot trace).
Measured on this session's shared 2-core machine (load average about 6): 0.4 to 1.3 s
with one thread, 3.3 s with two; opening 0.004 to 0.02 s. The import makes Bottleneck
blocks with repeats, so the project opens as 17 top-level nodes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compiler"))

from import_corpus.resnet import Bottleneck, ResNet

from nnstudio.api import Graph
from nnstudio.commands.import_ import weights_path
from nnstudio.compiler.importer import from_torch

IMPORT_LIMIT_S = 3.0
OPEN_LIMIT_S = 0.5


class ResNet50(ResNet):
    """The corpus ResNet with ResNet-50's four stages and widths."""

    def __init__(self) -> None:
        super().__init__(Bottleneck, [3, 4], num_classes=1000, width=64)
        self.layer3 = self._make_layer(Bottleneck, 256, 6, stride=2)
        self.layer4 = self._make_layer(Bottleneck, 512, 3, stride=2)
        self.fc = torch.nn.Linear(512 * Bottleneck.expansion, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class RankChecked(torch.nn.Module):
    """ResNet-50 behind a rank check torch.fx cannot trace: the import goes through torch.export."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        if x.ndim == 3:
            x = x.unsqueeze(0)
        return self.model(x)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64, help="image height and width")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a busy 2-core machine a second thread waits "
        "for a core and makes these small forward passes several times slower)",
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="time the torch.export route: the model's forward starts with a rank check fx cannot trace",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = RankChecked(ResNet50()).eval() if args.export else ResNet50().eval()
    parameters = sum(p.numel() for p in model.parameters())
    inputs = (torch.randn(2, 3, args.size, args.size),)
    from_torch(model, inputs)  # the first call also imports torch.fx's helpers; not timed

    imports, opens = [], []
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "resnet50.nnstudio"
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = from_torch(model, inputs)
            imports.append(time.perf_counter() - start)
            result.graph.save(project)
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in result.weights.items()}, weights_path(project))
            start = time.perf_counter()
            graph = Graph.load(project)
            graph.shapes()
            counted = graph.num_parameters()
            opens.append(time.perf_counter() - start)
            assert counted == parameters and result.report.verified

    took, opened = statistics.median(imports), statistics.median(opens)
    route = "torch.export" if args.export else "torch.fx"
    print(
        f"ResNet-50: {parameters:,} parameters, {len(graph)} nodes, input 2x3x{args.size}x{args.size}, "
        f"{args.threads} thread(s), traced with {route}"
    )
    print(f"{result.report.verification}")
    print(
        f"import: median {took:.2f} s of {args.repeats} (limit {IMPORT_LIMIT_S:g} s) "
        f"{'OK' if took < IMPORT_LIMIT_S else 'TOO SLOW'}"
    )
    print(
        f"open:   median {opened:.3f} s of {args.repeats} (limit {OPEN_LIMIT_S:g} s) "
        f"{'OK' if opened < OPEN_LIMIT_S else 'TOO SLOW'}"
    )
    return 0 if took < IMPORT_LIMIT_S and opened < OPEN_LIMIT_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
