"""What a run minimises and how it counts correct answers.

The loss is chosen once per run (``data.resolve_loss``); targets are put in
the loss's form once per tensor, not once per step, and the correct count
stays a tensor on the device until a report reads it.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from nnstudio.training.data import TrainingData


class Objective:
    """Loss and correct-answer count for one task."""

    def __init__(self, loss: str, data: TrainingData, output_shape: tuple[int, ...]) -> None:
        self.name = loss
        self.reconstruct = data.task == "reconstruction"
        self.classes = data.num_classes if data.task == "classification" else None
        # BCE on a single output scores "is it class 1"; with k outputs, one-hot targets.
        self._one_hot = loss == "bce_with_logits" and self.classes is not None and output_shape != (1,)

    @property
    def has_accuracy(self) -> bool:
        return self.classes is not None

    def targets(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` as the loss wants it; apply once to a whole tensor or to each batch."""
        if self.name == "bce_with_logits" and self.classes is not None:
            if self._one_hot:
                return F.one_hot(y.long(), self.classes).float()
            return y.float().reshape(-1, 1)
        return y

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.name == "cross_entropy":
            return F.cross_entropy(output, target)
        if self.name == "bce_with_logits":
            return F.binary_cross_entropy_with_logits(output, target)
        return F.mse_loss(output, target)

    def correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """How many samples of the batch are classified right (a 0-d tensor), or None."""
        if self.classes is None:
            return None
        if self.name == "cross_entropy":
            return (output.argmax(dim=1) == target).sum()
        if self._one_hot:
            return (output.argmax(dim=1) == target.argmax(dim=1)).sum()
        return ((output > 0) == (target > 0.5)).sum()
