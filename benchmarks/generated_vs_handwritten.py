"""Training speed of generated models against the same networks written by hand.

The generated model is what the app trains (``Graph.compile()``); the
hand-written one is plain PyTorch as a person would write it (functional
activations, ``torch.flatten``). Both get the same weights, data and optimizer,
and their training steps (forward, cross-entropy, backward, Adam) are timed in
one process, interleaved round by round so that machine noise hits both
alike. Each model's figure is its fastest round: noise only ever adds time,
so the minimum is the steadiest estimate (as ``timeit`` advises). Prints
ms/step and the ratio generated / hand-written per model; the target is
within 2% (they run the same kernels). Exit status 1 if a ratio is over.

    python benchmarks/generated_vs_handwritten.py [--rounds 25] [--seconds 0.1] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nnstudio.api import Graph

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
LIMIT = 1.02


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


class Inception(nn.Module):
    def __init__(self, c_in: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, proj: int) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(c_in, c1, 1)
        self.b2_reduce = nn.Conv2d(c_in, c3r, 1)
        self.b2 = nn.Conv2d(c3r, c3, 3, padding=1)
        self.b3_reduce = nn.Conv2d(c_in, c5r, 1)
        self.b3 = nn.Conv2d(c5r, c5, 5, padding=2)
        self.b4 = nn.Conv2d(c_in, proj, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                F.relu(self.b1(x), inplace=True),
                F.relu(self.b2(F.relu(self.b2_reduce(x), inplace=True)), inplace=True),
                F.relu(self.b3(F.relu(self.b3_reduce(x), inplace=True)), inplace=True),
                F.relu(self.b4(F.max_pool2d(x, 3, stride=1, padding=1)), inplace=True),
            ],
            dim=1,
        )


class GoogLeNetMini(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.inception3a = Inception(32, 16, 24, 32, 4, 8, 8)
        self.inception3b = Inception(64, 32, 32, 48, 8, 16, 16)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(112, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = self.inception3b(self.inception3a(x))
        x = F.max_pool2d(x, 2).mean(dim=(2, 3))
        return self.classifier(self.dropout(x))


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 32, batch_first=True)
        self.classifier = nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)
        return self.classifier(h_n[-1])


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (downsample declared first, as the block's graph lists it)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet18Cifar(nn.Module):
    """ResNet-18 with the CIFAR stem at the example's widths (16-128), written by hand."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128), classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks, inplanes = [], widths[0]
        for index, planes in enumerate(widths):
            stride = 1 if index == 0 else 2
            blocks += [BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)]
            inplanes = planes
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


CASES: list[tuple[str, str, Callable[[], nn.Module], tuple[int, ...], int]] = [
    # label, example file, hand-written model, input shape, classes
    ("LeNet-5", "lenet5", LeNet5, (1, 32, 32), 10),
    ("GoogLeNet mini", "googlenet_mini", GoogLeNetMini, (3, 32, 32), 10),
    ("LSTM sequence", "lstm_sequence", LSTMClassifier, (50, 1), 2),
    ("ResNet-18 blocks", "resnet18_cifar", ResNet18Cifar, (3, 32, 32), 10),
]


def _copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Same tensors in the same order (the hand-written classes declare them in graph order)."""
    with torch.no_grad():
        pairs = list(zip(source.parameters(), target.parameters(), strict=True))
        for a, b in pairs:
            if a.shape != b.shape:
                raise SystemExit(
                    f"{type(target).__name__} does not match the example: {a.shape} vs {b.shape}"
                )
            b.copy_(a)


def _stepper(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> Callable[[int], float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / steps

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=0.1, help="length of one timing")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest)")
    parser.add_argument("--only", default="", help="time only the models whose label contains this text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(f"{'model':<16} {'generated':>12} {'hand-written':>14} {'ratio':>7}   (limit {LIMIT})")
    over = False
    for label, example, hand_written, shape, classes in CASES:
        if args.only.lower() not in label.lower():
            continue
        generated = Graph.load(EXAMPLES / f"{example}.nnstudio").compile()
        reference = hand_written()
        _copy_weights(generated, reference)
        inputs = torch.randn(args.batch, *shape)
        labels = torch.randint(0, classes, (args.batch,))
        generated.eval(), reference.eval()
        with torch.no_grad():
            torch.testing.assert_close(generated(inputs), reference(inputs))  # the same network
        generated.train(), reference.train()

        runs = {"generated": _stepper(generated, inputs, labels), "hand": _stepper(reference, inputs, labels)}
        for run in runs.values():
            per_step = run(3)  # warm up allocators and kernels
        steps = max(2, round(args.seconds / per_step))
        times: dict[str, list[float]] = {name: [] for name in runs}
        for round_ in range(args.rounds):
            order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
            for name in order:
                times[name].append(runs[name](steps))
        gen, hand = min(times["generated"]), min(times["hand"])
        ratio = gen / hand
        over |= ratio > LIMIT
        verdict = "ok" if ratio <= LIMIT else "OVER"
        print(f"{label:<16} {gen * 1e3:>9.2f} ms {hand * 1e3:>11.2f} ms {ratio:>7.3f}   {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
