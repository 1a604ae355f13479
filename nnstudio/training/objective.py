"""What a run minimises and how it counts correct answers: the recipe's Objective
(shared with the exported train.py), built from the app's TrainingData."""

from __future__ import annotations

from nnstudio.training import recipe
from nnstudio.training.data import TrainingData


class Objective(recipe.Objective):
    """Loss and correct-answer count for one task (see ``recipe.Objective``)."""

    def __init__(self, loss: str, data: TrainingData, output_shape: tuple[int, ...]) -> None:
        super().__init__(loss, data.task, data.num_classes, output_shape)
