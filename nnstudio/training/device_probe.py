"""What this machine can train on, found once in the background (it needs torch).

``probe`` lists the devices torch reports (CUDA GPUs by name, Apple's MPS, the
CPU) and which speed-ups each supports, so the panel offers only what works:
bf16 mixed precision and fast mode (a CUDA graph per step) need CUDA;
``torch.compile`` needs CUDA or, on the CPU, a C++ compiler.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceInfo:
    choices: tuple[tuple[str, str], ...]  # (setting value, what the user reads)
    cuda: bool = False
    mps: bool = False
    compiler: bool = False  # a C++ compiler for torch.compile on the CPU
    auto: str = "cpu"  # what "auto" picks here

    def supports(self, device: str, feature: str) -> bool:
        """Whether ``feature`` ("precision", "fast", "compile") works on ``device``."""
        kind = self.auto if device == "auto" else device.split(":")[0]
        if feature in ("precision", "fast"):
            return kind == "cuda"
        if feature == "compile":
            return kind == "cuda" or (kind == "cpu" and self.compiler)
        return False


UNPROBED = DeviceInfo(choices=(("auto", "Automatic"), ("cpu", "CPU")))


def probe() -> DeviceInfo:
    """Ask torch what is here (imports torch: call it off the GUI thread)."""
    import torch

    choices = []
    cuda = torch.cuda.is_available()
    if cuda:
        for i in range(torch.cuda.device_count()):
            choices.append((f"cuda:{i}", f"CUDA {i}: {torch.cuda.get_device_name(i)}"))
    backend = getattr(torch.backends, "mps", None)
    mps = bool(backend and backend.is_available())
    if mps:
        choices.append(("mps", "Apple GPU (MPS)"))
    choices.append(("cpu", f"CPU ({torch.get_num_threads()} threads)"))
    auto = "cuda" if cuda else "mps" if mps else "cpu"
    auto_text = {"cuda": choices[0][1] if cuda else "", "mps": "Apple GPU (MPS)", "cpu": "CPU"}[auto]
    compiler = any(shutil.which(c) for c in ("c++", "g++", "clang++", "cl"))
    return DeviceInfo((("auto", f"Automatic: {auto_text}"), *choices), cuda, mps, compiler, auto)


def probe_in_background(done: Callable[[DeviceInfo], None]) -> threading.Thread:
    """Run ``probe`` on a daemon thread and call ``done`` there with the result
    (``done`` should emit a Qt signal, which carries it to the GUI thread)."""

    def run() -> None:
        try:
            info = probe()
        except Exception:  # a broken CUDA install: the CPU is still there
            info = UNPROBED
        done(info)

    thread = threading.Thread(target=run, name="nnstudio-device-probe", daemon=True)
    thread.start()
    return thread
