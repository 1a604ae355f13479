"""What a project's training task asks of the network's ends, without torch.

The validator checks the Input and the Output against the task while the user
edits, so a network that cannot train is flagged before the first run. The
facts about the built-in data sets live here, as plain data, because the
generators that make them (nnstudio.training.generated) need torch's world;
a test keeps the two in agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nnstudio.core.layers import Shape

CLASSIFICATION = "classification"
RECONSTRUCTION = "reconstruction"


@dataclass(frozen=True)
class BuiltinData:
    """One built-in data set: its classes and the shape of one sample.

    ``classes`` is a range: generated sets make as many classes as the Output
    asks for, within it. ``sample_shape`` is None where the set is drawn at the
    Input's own shape (of ``min_rank`` to ``max_rank`` dimensions); any Input
    holding the same number of values also takes it (digits' 64 pixels as 1x8x8).
    """

    classes: tuple[int, int]
    sample_shape: Shape | None = None
    min_rank: int = 1
    max_rank: int = 4
    targets: str = "classes"  # or "masks": one target per pixel (segmentation), not a class

    @property
    def fixed_classes(self) -> int | None:
        low, high = self.classes
        return low if low == high else None


# Kept equal to nnstudio.training.generated.BUILTIN by tests/core/test_task_check.py.
BUILTIN_DATA: dict[str, BuiltinData] = {
    "digits": BuiltinData(classes=(10, 10), sample_shape=(1, 8, 8)),
    "circles": BuiltinData(classes=(2, 2), sample_shape=(2,)),
    "moons": BuiltinData(classes=(2, 2), sample_shape=(2,)),
    "sequences": BuiltinData(classes=(2, 8), min_rank=2, max_rank=2),
    "shapes": BuiltinData(classes=(2, 10), min_rank=3, max_rank=3),
    "token_sequences": BuiltinData(classes=(2, 8), min_rank=1, max_rank=1),
    "shape_masks": BuiltinData(classes=(2, 2), min_rank=3, max_rank=3, targets="masks"),
}


@dataclass(frozen=True)
class Task:
    """The task a project trains for, as far as it is known before any data is read."""

    dataset: str
    kind: str  # CLASSIFICATION or RECONSTRUCTION
    data: BuiltinData | None  # None: a user's file, whose classes are unknown until read
    loss: str = "auto"

    @property
    def title(self) -> str:
        return f"the {self.dataset} task"

    def accepts_output(self, shape: Shape) -> bool:
        """Whether a classifier's Output of ``shape`` fits this task's classes."""
        assert self.data is not None
        low, high = self.data.classes
        if len(shape) != 1:
            return False
        if shape == (1,):  # one logit: two classes with a binary cross-entropy loss
            return low <= 2 <= high and self.loss in ("auto", "bce_with_logits")
        return low <= shape[0] <= high

    def wanted_scores(self) -> str:
        """'10 class scores' or '2 to 8 class scores' (per sample)."""
        assert self.data is not None
        low, high = self.data.classes
        count = str(low) if low == high else f"{low} to {high}"
        return f"{count} class scores"


def task_of(training: Mapping[str, Any] | None) -> Task | None:
    """The task named by a project's training settings, or None where it is not known.

    Only settings that name a data set count: a new project's empty settings
    say nothing about what it will learn, so nothing is checked against them.
    """
    settings = dict(training or {})
    dataset = settings.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        return None
    loss = settings.get("loss", "auto")
    if settings.get("target") == "input":
        return Task(dataset, RECONSTRUCTION, BUILTIN_DATA.get(dataset), str(loss))
    data = BUILTIN_DATA.get(dataset)
    if data is None or loss == "mse" or data.targets != "classes":
        return None  # a user's file, or number targets: only the data itself can tell
    return Task(dataset, CLASSIFICATION, data, str(loss))
