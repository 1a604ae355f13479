"""The guard that keeps PySide6's void calls from wearing None out on Python 3.11."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
import nnstudio.gui
from PySide6.QtCore import QPoint
point = QPoint()
for _ in range(200_000):  # far more void calls than None has references on 3.11
    point.setX(1)
gc.collect()
print("survived")
"""


def test_many_void_qt_calls_do_not_crash_the_interpreter():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "survived" in result.stdout
