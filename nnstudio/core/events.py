"""A minimal signal: the core's way to tell listeners (the editor) what changed.

Plain callbacks keep the core free of Qt; the GUI connects its slots to these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """A list of callbacks called in order with the emitted arguments."""

    def __init__(self) -> None:
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> Callable[..., Any]:
        if slot not in self._slots:
            self._slots.append(slot)
        return slot

    def disconnect(self, slot: Callable[..., Any]) -> None:
        if slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        for slot in list(self._slots):
            slot(*args)


class GraphEvents:
    """The past-tense events of a GraphModel; each fires only on a real change.

    - ``node_added(node_id)``, ``node_removed(node_id)``
    - ``edge_added(edge)``, ``edge_removed(edge)``
    - ``param_changed(node_id, name, value)``, ``node_renamed(node_id, name)``
    - ``node_moved(node_id, (x, y))``
    - ``changed()``: after any edit that can change the model (not moves), so
      listeners re-validate once per edit.
    """

    def __init__(self) -> None:
        self.node_added = Signal()
        self.node_removed = Signal()
        self.edge_added = Signal()
        self.edge_removed = Signal()
        self.param_changed = Signal()
        self.node_renamed = Signal()
        self.node_moved = Signal()
        self.changed = Signal()
