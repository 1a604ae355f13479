"""PySide6 6.12.0 drops a reference to None on every void call (setPos,
setPen, QTimer.start...), which aborts Python 3.11 ("none_dealloc") after a
few thousand calls; pyproject.toml keeps 3.11 below 6.12. This test fails if
a broken combination is installed again."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
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
