"""Undo commands for what the training panel changes in a project: its settings and its runs.

Both are data in the project file, so they change through the undo stack like
every other edit: the document is marked modified, saving writes them, undo
takes them back. The panel re-reads the graph after every undo or redo.
"""

from __future__ import annotations

from typing import Any

from nnstudio.core.graph import GraphModel
from nnstudio.gui.editor.undo import GraphCommand
from nnstudio.training.runs import MAX_RUNS


class SetTrainingSettingsCommand(GraphCommand):
    def __init__(
        self, graph: GraphModel, settings: dict[str, Any], text: str = "Change training settings"
    ) -> None:
        super().__init__(graph, text)
        self.old = dict(graph.training)
        self.new = dict(settings)

    # The data set decides what the Output must give, so a change re-validates the graph.
    def _redo(self) -> None:
        self.graph.training = dict(self.new)
        self.graph.events.changed.emit()

    def _undo(self) -> None:
        self.graph.training = dict(self.old)
        self.graph.events.changed.emit()


class RecordRunCommand(GraphCommand):
    """Add a finished run's record to the project's run history. A resumed run replaces its
    earlier record; beyond MAX_RUNS the oldest records go."""

    def __init__(self, graph: GraphModel, record: dict[str, Any]) -> None:
        super().__init__(graph, f"Record training run {record.get('number', '')}".strip())
        self.old = list(graph.runs)
        number = record.get("number")
        kept = [r for r in graph.runs if not (isinstance(r, dict) and r.get("number") == number)]
        self.new = [*kept, record][-MAX_RUNS:]

    def _redo(self) -> None:
        self.graph.runs = list(self.new)

    def _undo(self) -> None:
        self.graph.runs = list(self.old)
