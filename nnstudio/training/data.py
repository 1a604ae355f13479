"""Data for training: the built-in sets and the user's files, fitted to a network.

``load_for_graph(graph, config)`` is the one entry point the trainer needs. It
reads the data set named by ``config.dataset`` (a built-in name or a path),
checks it against the graph's Input and Output and splits it into training
and validation with the run's seed. Samples stay raw (as read, in float32):
scaling them is the model's job, in its generated ``Preprocess`` module, whose
statistics the trainer fits on the training part when a run starts. Whatever
does not fit becomes one sentence naming both shapes, raised as
DataMismatchError; unreadable files raise DataError.

The rules shared with the exported train.py (built-in sets, split, shapes,
task and loss) live in ``recipe``; this module adds the app's readers and the
image folder read on demand.

Small data sets come back as ``TensorDataset``s, which the trainer moves to the
device whole; an image folder comes back as a ``Dataset`` that decodes files on
demand, which the trainer feeds through a DataLoader.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from nnstudio.core.layers import Shape, format_shape
from nnstudio.training import readers, recipe
from nnstudio.training.config import TrainConfig
from nnstudio.training.errors import DataError, DataMismatchError
from nnstudio.training.recipe import BUILTIN, TASKS, NetworkIO

if TYPE_CHECKING:
    from nnstudio.compiler.export import TrainedOn
    from nnstudio.core.graph import GraphModel

__all__ = [
    "TASKS", "ImageFolderDataset", "ModelIO", "TrainingData", "load", "load_for_graph",
    "resolve_loss", "split_indices",
]  # fmt: skip


@contextlib.contextmanager
def app_errors() -> Iterator[None]:
    """The recipe's errors as the app's: DataMismatchError and DataError, same sentences."""
    try:
        yield
    except recipe.MismatchError as exc:
        raise DataMismatchError(str(exc)) from None
    except recipe.RecipeError as exc:
        raise DataError(str(exc)) from None


# --- what the data must fit -----------------------------------------------------------------


@dataclass(frozen=True)
class ModelIO(NetworkIO):
    """The graph's Input and the Output the loss is computed on (the first one)."""

    input_id: str = ""
    output_id: str = ""

    @classmethod
    def of(cls, graph: GraphModel) -> ModelIO:
        """Read the boundary of a graph that has passed validation."""
        inputs = [n for n in graph.nodes.values() if n.spec.role == "input"]
        outputs = [n for n in graph.nodes.values() if n.spec.role == "output"]
        if len(inputs) != 1:
            names = ", ".join(f"'{n.name}'" for n in inputs) or "none"
            raise DataMismatchError(
                f"nnstudio trains networks with exactly one Input; this one has {len(inputs)} ({names})."
            )
        if not outputs:
            raise DataMismatchError("The network has no Output node, so there is nothing to train.")
        shapes = graph.shapes()
        source = graph.inputs_of(outputs[0].id)
        source_name = graph.nodes[source[0].source].name if source else outputs[0].name
        return cls(
            input_id=inputs[0].id,
            input_name=inputs[0].name,
            input_shape=tuple(inputs[0].params["shape"]),
            input_dtype=inputs[0].params.get("dtype", "float32"),
            output_id=outputs[0].id,
            output_name=outputs[0].name,
            output_shape=tuple(shapes[outputs[0].id]),
            source_name=source_name,
        )


# --- the result ------------------------------------------------------------------------------


@dataclass
class TrainingData:
    """Training and validation samples (raw inputs), ready for the network."""

    name: str
    train: Dataset
    val: Dataset
    task: str  # classification, regression or reconstruction
    sample_shape: Shape
    target_shape: Shape  # of one target; () for class indices
    num_classes: int | None
    class_names: tuple[str, ...]
    # The form the raw data came in, for predict.py: {"kind": "arrays" | "csv" | "images"},
    # with a CSV's feature "columns" and "label_index".
    raw_form: dict = field(default_factory=lambda: {"kind": "arrays"})

    def trained_on(self, loss: str) -> TrainedOn:
        """What an export saves with the weights so predict.py reads raw data and names classes."""
        from nnstudio.compiler.export import TrainedOn

        return TrainedOn(task=self.task, loss=loss, class_names=self.class_names, data=self.raw_form)

    @property
    def in_memory(self) -> bool:
        """True when every sample is already a tensor (the trainer keeps it on the device)."""
        return isinstance(self.train, TensorDataset) and isinstance(self.val, TensorDataset)

    def preprocessing_sample(self, seed: int) -> torch.Tensor:
        """The raw training inputs the model's preprocessing is fitted on: up to
        ``recipe.PREPROCESS_SAMPLES`` (seeded), or fewer decoded images from a folder."""
        if isinstance(self.train, TensorDataset):
            x = self.train.tensors[0]
            return x[torch.from_numpy(recipe.preprocessing_rows(len(x), seed))]
        rows = recipe.preprocessing_rows(len(self.train), seed, recipe.IMAGE_PREPROCESS_SAMPLES)
        return torch.stack([self.train[int(i)][0] for i in rows])

    def __str__(self) -> str:
        kind = f"{self.num_classes} classes" if self.num_classes else self.task
        return (
            f"{self.name}: {len(self.train):,} training and {len(self.val):,} validation samples "
            f"of shape {format_shape(self.sample_shape)}, {kind}"
        )


class ImageFolderDataset(Dataset):
    """An image folder read on demand: decoded and resized per item, values 0..1."""

    def __init__(
        self, files: list[Path], labels: np.ndarray, shape: Shape, reconstruct: bool = False
    ) -> None:
        self.files = files
        self.labels = torch.as_tensor(labels)
        self.shape = shape
        self.reconstruct = reconstruct

    def __len__(self) -> int:
        return len(self.files)

    def pixels(self, index: int) -> np.ndarray:
        return readers.load_image(self.files[index], self.shape[0], self.shape[1:])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.pixels(index))
        return x, (x if self.reconstruct else self.labels[index])


# --- entry points ------------------------------------------------------------------------------


def load_for_graph(graph: GraphModel, config: TrainConfig, base_dir: Path | None = None) -> TrainingData:
    """The data set of ``config`` fitted to ``graph``; raises DataError or DataMismatchError.

    Relative file paths are read from ``base_dir`` (the project's folder) first.
    """
    io = ModelIO.of(graph)
    data = load(config, io, base_dir=base_dir)
    resolve_loss(config.loss, data, io)  # refuses targets the Output cannot produce
    return data


def load(config: TrainConfig, io: ModelIO, base_dir: Path | None = None) -> TrainingData:
    """Read, shape and split the data set named in ``config``."""
    with app_errors():
        if config.dataset in BUILTIN:
            x, y, names = BUILTIN[config.dataset](io.input_shape, recipe.wanted_classes(io), config.seed)
            raw: readers.ArrayData | readers.ImageFiles = readers.ArrayData(x, y, names)
            name = config.dataset
        else:
            path = _find(config.dataset, base_dir)
            raw = readers.read(path, config.label_column)
            name = path.name
        if isinstance(raw, readers.ImageFiles):
            return _image_folder(raw, name, config, io)
        return _arrays(raw, name, config, io)


def resolve_loss(loss: str, data: TrainingData, io: NetworkIO) -> str:
    """The loss to use ("auto" made concrete), after checking the Output can produce the targets."""
    with app_errors():
        return recipe.resolve_loss(loss, data.task, data.num_classes, data.target_shape, data.name, io)


def split_indices(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle cut into (training rows, validation rows); both non-empty."""
    with app_errors():
        return recipe.split_indices(n, val_split, seed)


# --- assembling -------------------------------------------------------------------------------------


def _arrays(raw: readers.ArrayData, name: str, config: TrainConfig, io: ModelIO) -> TrainingData:
    arrays = recipe.Arrays(raw.x, raw.y, raw.class_names, raw.x_val, raw.y_val)
    s = recipe.prepare(
        arrays, name, io, target=config.target, loss=config.loss, val_split=config.val_split, seed=config.seed
    )
    num_classes = s.num_classes
    return TrainingData(
        name=name,
        train=TensorDataset(s.x, s.y),
        val=TensorDataset(s.x_val, s.y_val),
        task=s.task,
        sample_shape=io.input_shape,
        target_shape=s.target_shape,
        num_classes=num_classes,
        class_names=raw.class_names if num_classes and len(raw.class_names) == num_classes else (),
        raw_form=(
            {"kind": "csv", "columns": list(raw.columns), "label_index": raw.label_index}
            if raw.columns
            else {"kind": "arrays"}
        ),
    )


def _image_folder(raw: readers.ImageFiles, name: str, config: TrainConfig, io: ModelIO) -> TrainingData:
    shape = io.input_shape
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise DataMismatchError(
            f"The image folder {name} gives images, so the Input '{io.input_name}' must take "
            f"(channels, height, width) with 1 or 3 channels, not {format_shape(shape)}."
        )
    task = recipe.task_of(config.target, config.loss, raw.labels, name)
    train_rows, val_rows = recipe.split_indices(len(raw.files), config.val_split, config.seed)
    reconstruct = task == "reconstruction"

    def part(rows: np.ndarray) -> ImageFolderDataset:
        return ImageFolderDataset([raw.files[i] for i in rows], raw.labels[rows], shape, reconstruct)

    return TrainingData(
        name=name,
        train=part(train_rows),
        val=part(val_rows),
        task=task,
        sample_shape=shape,
        target_shape=shape if reconstruct else (),
        num_classes=None if reconstruct else len(raw.class_names),
        class_names=() if reconstruct else raw.class_names,
        raw_form={"kind": "images"},
    )


def _find(dataset: str, base_dir: Path | None) -> Path:
    path = Path(dataset).expanduser()
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        return base_dir / path
    if path.exists():
        return path
    raise DataError(
        f"There is no built-in data set '{dataset}' and no file or folder at {path}. "
        f"Built-in data sets: {', '.join(BUILTIN)}."
    )
