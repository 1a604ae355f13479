"""Helpers shared by the subcommands."""

from __future__ import annotations

import sys

from nnstudio.api import Graph
from nnstudio.core.errors import FormatError


def load_or_report(path: str) -> Graph | None:
    """Load a project, or print why it cannot be loaded and return None."""
    try:
        return Graph.load(path)
    except FormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def human_count(value: int) -> str:
    """1234567 -> '1.23M'; small values stay exact."""
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.2f}{suffix}"
    return str(value)


def human_bytes(value: int) -> str:
    for limit, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= limit:
            return f"{value / limit:.1f} {suffix}"
    return f"{value} B"
