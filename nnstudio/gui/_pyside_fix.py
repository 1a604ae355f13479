"""A guard against a PySide6 reference-counting bug that crashes Python 3.11.

PySide6 6.12.0 returns ``None`` from every void method (``setPos``,
``painter.setPen``, ``QTimer.start``...) without taking a reference to it.
From Python 3.12 on ``None`` is immortal (PEP 683) and nothing happens; on
3.11 each call drops one of None's ~5,000 references, and the interpreter
aborts with "none_dealloc: deallocating None" once they run out, which a
single repaint of a large graph can do.

The guard measures whether one void call loses a reference; only then does
it give None (and the bools, for symmetry) so many references that they can
never run out, which is what Python 3.12 does for them by design.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QPoint

_PLENTY = 1 << 48


def void_calls_leak_none() -> bool:
    """Whether a void PySide6 call loses a reference to None (always False on 3.12+)."""
    probe = QPoint()
    before = sys.getrefcount(None)
    for _ in range(8):
        probe.setX(1)
    return sys.getrefcount(None) < before


def apply() -> bool:
    """Make None effectively immortal when this PySide6 needs it; True if it did."""
    if sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):
        return False  # immortal already; or a debug build, whose object layout differs
    if not void_calls_leak_none():
        return False
    for constant in (None, True, False):
        # ob_refcnt is the first field of every object in CPython 3.11 release builds.
        ctypes.c_ssize_t.from_address(id(constant)).value += _PLENTY
    return True
