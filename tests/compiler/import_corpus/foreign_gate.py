"""A small MLP whose gate is a custom module the catalog cannot express.

``SwishGate`` clamps its gate (``clamp`` has no catalog layer), so an import
keeps it whole as a foreign module; its class lives in this importable module,
so the exported code can import it. ``PixelMix`` is a torch.nn layer the
catalog lacks (``nn.PixelShuffle``), kept the same way.
"""

import torch
from torch import nn


class SwishGate(nn.Module):
    def __init__(self, features: int, floor: float = 0.0) -> None:
        super().__init__()
        self.features = features
        self.floor = floor
        self.gate = nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.gate(x)).clamp(min=self.floor)


class RenamedGate(SwishGate):
    """Its constructor's argument is stored under another name: it cannot be read back."""

    def __init__(self, width: int) -> None:
        super().__init__(width, 0.25)


class GatedMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.act = nn.ReLU()
        self.head = SwishGate(16, 0.25)
        self.out = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.head(self.act(self.fc1(x))))


class RenamedGatedMLP(GatedMLP):
    def __init__(self) -> None:
        super().__init__()
        self.head = RenamedGate(16)


class Upsampler(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class GatedResidual(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(features, features)
        self.gate = SwishGate(features, 0.25)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gate(self.fc(x))


class Plain(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


class GatedStack(nn.Module):
    """Classes used twice: one holding a foreign module, one made of catalog layers only."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(GatedResidual(8), GatedResidual(8), Plain(8), Plain(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build() -> nn.Module:
    torch.manual_seed(0)
    return GatedMLP()


INPUTS = ((2, 12),)
