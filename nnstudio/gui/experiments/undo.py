"""Undo commands of the Experiments panel: the saved search space, and a trial applied.

Both change project data, so both go through the undo stack: one step each,
the document is marked modified, undo takes the change back whole.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel
from nnstudio.experiments.space import Axis
from nnstudio.gui.editor.undo import GraphCommand


class SetSweepCommand(GraphCommand):
    """Replace the project's ``sweep`` section (None: no sweep saved)."""

    def __init__(self, graph: GraphModel, section: dict[str, Any] | None, text: str = "Change sweep") -> None:
        super().__init__(graph, text)
        self.old = copy.deepcopy(graph.sweep)
        self.new = copy.deepcopy(section)

    def _redo(self) -> None:
        self.graph.sweep = copy.deepcopy(self.new)

    def _undo(self) -> None:
        self.graph.sweep = copy.deepcopy(self.old)


class ApplyTrialCommand(GraphCommand):
    """Give the project a trial's values: node parameters and training settings, one step."""

    def __init__(self, graph: GraphModel, number: int, axes: Sequence[Axis], values: dict[str, Any]) -> None:
        super().__init__(graph, f"Apply sweep trial {number}")
        self.node_values = [(a.node_id, a.param, values[a.name]) for a in axes if a.node_id is not None]
        self.settings = {a.param: values[a.name] for a in axes if a.node_id is None}
        self.old_params = {(n, p): graph.node(n).params[p] for n, p, _ in self.node_values}
        self.old_training = dict(graph.training)

    def _redo(self) -> None:
        done = []
        try:
            for node_id, param, value in self.node_values:
                self.graph.set_param(node_id, param, value)
                done.append((node_id, param))
        except GraphError:
            for node_id, param in reversed(done):  # all or nothing
                self.graph.set_param(node_id, param, self.old_params[(node_id, param)])
            raise
        if self.settings:
            self.graph.training = {**self.old_training, **self.settings}
            self.graph.events.changed.emit()

    def _undo(self) -> None:
        for (node_id, param), value in self.old_params.items():
            self.graph.set_param(node_id, param, value)
        if self.settings:
            self.graph.training = dict(self.old_training)
            self.graph.events.changed.emit()
