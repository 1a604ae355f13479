"""Shared test set-up: Qt runs offscreen, examples are easy to reach."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports Qt: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "resources" / "examples"
EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("*.nnstudio"))


@pytest.fixture(params=EXAMPLE_FILES, ids=lambda p: p.stem)
def example_path(request) -> Path:
    """Each bundled example project in turn."""
    return request.param
