"""How many torch threads a run trains on: one for a network too small to share a step.

Its tensors are below what torch splits between threads, yet each step still
meets every thread. On a busy machine (or in the app, where the training
threads run below the window's priority) each step then waits for the slowest
of them: mlp_circles trained 10x slower on two threads of a busy machine, and
no slower on one thread of an idle one. The app and ``nnstudio train`` use the
same rule, so a run is equally fast in both.
"""

from __future__ import annotations

import os
from typing import Any

SMALL_NETWORK_MACS = 1_000_000  # multiply-adds of a batch's forward pass below which one thread trains it


def threads_for(graph: Any, batch_size: int | None = None) -> int | None:
    """1 for a small network, None (torch's default: every core) for any other.
    ``graph`` is a GraphModel; ``batch_size`` defaults to its training settings'."""
    batch = graph.training.get("batch_size", 32) if batch_size is None else batch_size
    if not isinstance(batch, int) or isinstance(batch, bool):
        return None
    macs = sum(f.macs for f in graph.analyze().figures.values())
    return 1 if macs * batch < SMALL_NETWORK_MACS else None


def usable_cores() -> int:
    """The cores this process may run on (fewer than the machine's in a container or under taskset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
