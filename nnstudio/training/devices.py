"""Choosing where to train: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from nnstudio.training.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """The device for a ``device`` setting; raises ConfigError when it is not there."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"Device '{name}' was asked for, but this machine has no usable CUDA GPU.")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"Device '{name}' was asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s)."
            )
        return device
    if name == "mps" and not _mps_available():
        raise ConfigError("Device 'mps' was asked for, but Apple's Metal backend is not available here.")
    return torch.device(name)


def describe(device: torch.device) -> str:
    """'cuda:0 (NVIDIA H100 80GB HBM3)', 'cpu (2 threads)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
