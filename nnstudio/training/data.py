"""Data for training: the built-in sets and the user's files, fitted to a network.

``load_for_graph(graph, config)`` is the one entry point the trainer needs. It
reads the data set named by ``config.dataset`` (a built-in name or a path),
checks it against the graph's Input and Output, splits it into training and
validation with the run's seed, and normalises it with statistics of the
training part only. Whatever does not fit becomes one sentence naming both
shapes, raised as DataMismatchError; unreadable files raise DataError.

Small data sets come back as ``TensorDataset``s, which the trainer moves to the
device whole; an image folder comes back as a ``Dataset`` that decodes files on
demand, which the trainer feeds through a DataLoader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from nnstudio.core.layers import Shape, format_shape
from nnstudio.training import readers
from nnstudio.training.config import TrainConfig
from nnstudio.training.errors import DataError, DataMismatchError
from nnstudio.training.generated import BUILTIN

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel

TASKS = ("classification", "regression", "reconstruction")
_STATS_SAMPLE = 256  # images read to estimate an image folder's normalisation


# --- what the data must fit -----------------------------------------------------------------


@dataclass(frozen=True)
class ModelIO:
    """The graph's Input and the Output the loss is computed on (the first one)."""

    input_id: str
    input_name: str
    input_shape: Shape
    input_dtype: str
    output_id: str
    output_name: str
    output_shape: Shape
    source_name: str  # the node feeding the Output: the layer to resize when classes differ

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


@dataclass(frozen=True)
class Normalization:
    """``(x - shift) / scale``, with shift and scale broadcastable to one sample."""

    kind: str  # "standard", "minmax" or "none"
    shift: np.ndarray
    scale: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return x
        return ((x - self.shift) / self.scale).astype(np.float32)

    @classmethod
    def identity(cls) -> Normalization:
        return cls("none", np.zeros(1, np.float32), np.ones(1, np.float32))


@dataclass
class TrainingData:
    """Training and validation samples, ready for the network."""

    name: str
    train: Dataset
    val: Dataset
    task: str  # classification, regression or reconstruction
    sample_shape: Shape
    target_shape: Shape  # of one target; () for class indices
    num_classes: int | None
    class_names: tuple[str, ...]
    normalization: Normalization

    @property
    def in_memory(self) -> bool:
        """True when every sample is already a tensor (the trainer keeps it on the device)."""
        return isinstance(self.train, TensorDataset) and isinstance(self.val, TensorDataset)

    def __str__(self) -> str:
        kind = f"{self.num_classes} classes" if self.num_classes else self.task
        return (
            f"{self.name}: {len(self.train):,} training and {len(self.val):,} validation samples "
            f"of shape {format_shape(self.sample_shape)}, {kind}"
        )


class ImageFolderDataset(Dataset):
    """An image folder read on demand: decoded, resized and normalised per item."""

    def __init__(self, files: list[Path], labels: np.ndarray, shape: Shape,
                 normalization: Normalization, reconstruct: bool = False) -> None:
        self.files = files
        self.labels = torch.as_tensor(labels)
        self.shape = shape
        self.normalization = normalization
        self.reconstruct = reconstruct

    def __len__(self) -> int:
        return len(self.files)

    def pixels(self, index: int) -> np.ndarray:
        return readers.load_image(self.files[index], self.shape[0], self.shape[1:])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.normalization.apply(self.pixels(index)))
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
    """Read, shape, split and normalise the data set named in ``config``."""
    classes = _wanted_classes(io)
    if config.dataset in BUILTIN:
        x, y, names = BUILTIN[config.dataset](io.input_shape, classes, config.seed)
        raw = readers.ArrayData(x, y, names)
        name = config.dataset
    else:
        path = _find(config.dataset, base_dir)
        raw = readers.read(path, config.label_column)
        name = path.name
    if isinstance(raw, readers.ImageFiles):
        return _image_folder(raw, name, config, io)
    return _arrays(raw, name, config, io)


def resolve_loss(loss: str, data: TrainingData, io: ModelIO) -> str:
    """The loss to use ("auto" made concrete), after checking the Output can produce the targets."""
    out, source = io.output_shape, io.source_name
    if data.task == "classification":
        k = data.num_classes
        if loss in ("auto", "cross_entropy") and out == (k,):
            return "cross_entropy"
        if loss in ("auto", "bce_with_logits") and out == (1,) and k == 2:
            return "bce_with_logits"
        if loss == "bce_with_logits" and out == (k,):
            return "bce_with_logits"
        wanted = f"{k} values per sample" + (" (or 1 with a BCE loss)" if k == 2 else "")
        raise DataMismatchError(
            f"The {data.name} data set has {k} classes, so the network must output {wanted}, "
            f"but the Output '{io.output_name}' receives shape {format_shape(out)} from '{source}'; "
            f"give '{source}' {k} outputs."
        )
    if loss == "cross_entropy":
        raise DataMismatchError(
            f"The {data.name} data set has number targets, not classes; use the MSE loss for it."
        )
    if out != data.target_shape:
        what = "the input it should reconstruct" if data.task == "reconstruction" else "its targets"
        raise DataMismatchError(
            f"The Output '{io.output_name}' receives shape {format_shape(out)} from '{source}', "
            f"but {what} in {data.name} have shape {format_shape(data.target_shape)}."
        )
    return "mse" if loss == "auto" else loss


# --- assembling arrays ---------------------------------------------------------------------------


def _arrays(raw: readers.ArrayData, name: str, config: TrainConfig, io: ModelIO) -> TrainingData:
    x = _fit_shape(raw.x, name, io)
    x_val = None if raw.x_val is None else _fit_shape(raw.x_val, name, io)
    if raw.pixel_range:
        x = x.astype(np.float32) / raw.pixel_range
        x_val = None if x_val is None else x_val.astype(np.float32) / raw.pixel_range
    task = _task(config, raw.y, name)
    if x_val is None:
        train_rows, val_rows = split_indices(len(x), config.val_split, config.seed)
        x_val, y_val = x[val_rows], (None if raw.y is None else raw.y[val_rows])
        x, y = x[train_rows], (None if raw.y is None else raw.y[train_rows])
    else:
        y, y_val = raw.y, raw.y_val
    num_classes = None
    if task == "classification":
        num_classes = max(len(raw.class_names), int(max(y.max(), y_val.max())) + 1)
        if min(y.min(), y_val.min()) < 0:
            raise DataError(f"The labels of {name} must be class numbers from 0, not negative numbers.")
    if io.input_dtype == "int64":
        # Token ids for an Embedding: whole numbers, never normalised.
        if not np.all(np.equal(np.mod(x, 1), 0)):
            raise DataMismatchError(
                f"The Input '{io.input_name}' takes whole-number token ids (int64), "
                f"but {name} holds fractional values."
            )
        norm = Normalization.identity()
        tx, tv = torch.as_tensor(x, dtype=torch.int64), torch.as_tensor(x_val, dtype=torch.int64)
    else:
        norm = _statistics(x.astype(np.float32, copy=False), config.resolved_normalize())
        tx = torch.from_numpy(norm.apply(x.astype(np.float32, copy=False)))
        tv = torch.from_numpy(norm.apply(x_val.astype(np.float32, copy=False)))
    if task == "reconstruction":
        # The same tensor twice: no copy, and the trainer never gathers it twice.
        train, val, target_shape = TensorDataset(tx, tx), TensorDataset(tv, tv), io.input_shape
    elif task == "classification":
        train = TensorDataset(tx, torch.as_tensor(y, dtype=torch.int64))
        val = TensorDataset(tv, torch.as_tensor(y_val, dtype=torch.int64))
        target_shape = ()
    else:
        y, y_val = y.astype(np.float32), y_val.astype(np.float32)
        if y.ndim == 1:
            y, y_val = y[:, None], y_val[:, None]
        train, val = TensorDataset(tx, torch.from_numpy(y)), TensorDataset(tv, torch.from_numpy(y_val))
        target_shape = tuple(y.shape[1:])
    return TrainingData(
        name=name,
        train=train,
        val=val,
        task=task,
        sample_shape=io.input_shape,
        target_shape=target_shape,
        num_classes=num_classes,
        class_names=raw.class_names if num_classes and len(raw.class_names) == num_classes else (),
        normalization=norm,
    )


def _image_folder(raw: readers.ImageFiles, name: str, config: TrainConfig, io: ModelIO) -> TrainingData:
    shape = io.input_shape
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise DataMismatchError(
            f"The image folder {name} gives images, so the Input '{io.input_name}' must take "
            f"(channels, height, width) with 1 or 3 channels, not {format_shape(shape)}."
        )
    task = _task(config, raw.labels, name)
    train_rows, val_rows = split_indices(len(raw.files), config.val_split, config.seed)
    sample = ImageFolderDataset(raw.files, raw.labels, shape, Normalization.identity())
    rng = np.random.default_rng(config.seed)
    picked = rng.permutation(train_rows)[:_STATS_SAMPLE]
    norm = _statistics(np.stack([sample.pixels(i) for i in picked]), config.resolved_normalize())
    reconstruct = task == "reconstruction"

    def part(rows: np.ndarray) -> ImageFolderDataset:
        return ImageFolderDataset([raw.files[i] for i in rows], raw.labels[rows], shape, norm, reconstruct)

    return TrainingData(
        name=name,
        train=part(train_rows),
        val=part(val_rows),
        task=task,
        sample_shape=shape,
        target_shape=shape if reconstruct else (),
        num_classes=None if reconstruct else len(raw.class_names),
        class_names=() if reconstruct else raw.class_names,
        normalization=norm,
    )


def split_indices(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle cut into (training rows, validation rows); both non-empty."""
    if n < 2:
        raise DataError(f"A data set needs at least two samples to split; this one has {n}.")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_split)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _task(config: TrainConfig, y: np.ndarray | None, name: str) -> str:
    if config.target == "input":
        return "reconstruction"
    if y is None:
        raise DataError(
            f"{name} has no labels. Add them, or set the training target to 'input' "
            "to train the network to reconstruct its input."
        )
    if y.dtype.kind in "iub" and config.loss != "mse":
        return "classification"
    return "regression"


def _fit_shape(x: np.ndarray, name: str, io: ModelIO) -> np.ndarray:
    """Samples in the Input's shape: equal, or the same values rearranged (64 -> 1x8x8)."""
    sample = tuple(x.shape[1:])
    if sample == io.input_shape:
        return x
    if math.prod(sample) == math.prod(io.input_shape):
        return x.reshape(len(x), *io.input_shape)
    raise DataMismatchError(
        f"The {name} data set has samples of shape {format_shape(sample)}, but the Input "
        f"'{io.input_name}' takes {format_shape(io.input_shape)}; change the Input's shape "
        f"to {format_shape(sample)}."
    )


def _statistics(x: np.ndarray, kind: str) -> Normalization:
    """Per-channel (images) or per-feature statistics of the training samples."""
    if kind == "none":
        return Normalization.identity()
    # Reduce over every axis except the channel (images) or the feature (vectors, sequences).
    keep = 1 if x.ndim == 4 else x.ndim - 1
    axes = tuple(a for a in range(x.ndim) if a != keep)
    if kind == "standard":
        shift = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        scale = x.std(axis=axes, keepdims=True, dtype=np.float64)
    else:
        shift = x.min(axis=axes, keepdims=True).astype(np.float64)
        scale = x.max(axis=axes, keepdims=True) - shift
    scale = np.where(scale > 1e-8, scale, 1.0)  # a constant feature stays as it is
    return Normalization(kind, shift[0].astype(np.float32), scale[0].astype(np.float32))


def _wanted_classes(io: ModelIO) -> int | None:
    """Classes a generated set should make: the Output's features (1 means yes/no)."""
    if len(io.output_shape) != 1:
        return None
    return max(2, io.output_shape[0])


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
