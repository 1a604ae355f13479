"""The training recipe: everything nnstudio's trainer and the exported ``train.py`` must agree on.

The built-in data sets, the data files ``train.py`` reads, the split, the
fitting of samples to the network's Input, the choice of task and loss, the
loss and the correct-answer count, the optimizer, the learning-rate schedule,
the order of samples in every epoch, the rule for the last batch, the fitting
of the model's input preprocessing and the validation pass.

The app imports this module (``nnstudio.training.data`` and ``.loop``); the
export writes its source, unchanged, beside ``train.py`` as
``nnstudio_recipe.py``. So it needs only the standard library, numpy and torch
(scikit-learn inside the functions that read its bundled sets), and an
import-linter contract keeps nnstudio imports out of it. Errors are sentences
raised as :class:`RecipeError` (the app turns them into its DataError) or
:class:`MismatchError` (data that does not fit the network).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

Shape = tuple[int, ...]
TASKS = ("classification", "regression", "reconstruction")
LOSSES = ("auto", "cross_entropy", "mse", "bce_with_logits")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "cosine")

PREPROCESS_SAMPLES = 4096  # training samples the input preprocessing is fitted on
IMAGE_PREPROCESS_SAMPLES = 256  # the same, for data decoded file by file (image folders)
EVAL_BATCH = 1024  # validation samples per forward pass, at least


class RecipeError(ValueError):
    """Data that cannot be trained on; the message is a sentence for the user."""


class MismatchError(RecipeError):
    """Data that does not fit the network's Input or Output."""


def format_shape(shape: Sequence[int]) -> str:
    """(6, 28, 28) as the user reads it; a single axis keeps its comma: (3,)."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass(frozen=True)
class NetworkIO:
    """What the recipe needs to know of the network: its Input and the Output the loss is on."""

    input_name: str
    input_shape: Shape
    input_dtype: str  # "float32", or "int64" for token ids
    output_name: str
    output_shape: Shape
    source_name: str  # the node feeding the Output: the layer to resize when classes differ


# --- the built-in data sets: bundled with scikit-learn or generated, never downloaded ---------
#
# Each returns (x, y, class_names): x float32 with the batch first, y int64 class indices. The
# generated sets adapt to the network: ``shapes`` draws images of the Input's channels and size
# with as many classes as the Output has features; ``sequences`` matches (length, features).


def digits(shape: Shape, classes: int | None, seed: int):
    """scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes."""
    table = _digits_table()
    # Pixels are counts 0..16 of a 4x4 block, kept raw as scikit-learn ships them: the
    # Input's preprocessing (inside the model) scales them, so exported models take raw digits.
    x = table[:, :64].astype(np.float32).reshape(-1, 1, 8, 8)
    return x, table[:, 64].astype(np.int64), tuple(str(d) for d in range(10))


def _digits_table() -> np.ndarray:
    """The 1797 x 65 table (pixels, then the digit) shipped inside scikit-learn, read from the
    package's data folder: importing ``sklearn.datasets`` costs seconds, the file milliseconds."""
    spec = importlib.util.find_spec("sklearn")
    if spec and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
        if path.exists():
            return np.loadtxt(path, delimiter=",", dtype=np.float32)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.column_stack([bunch.data, bunch.target]).astype(np.float32)


def circles(shape: Shape, classes: int | None, seed: int):
    """Two noisy concentric circles: no straight line separates them."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=1000, noise=0.08, factor=0.5, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), ("outer", "inner")


def moons(shape: Shape, classes: int | None, seed: int):
    """Two interleaved half-moons: another set a linear model cannot separate."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.15, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), ("upper", "lower")


SEQUENCE_LENGTH = 50
_MAX_SEQUENCE_CLASSES = 8


def sequences(shape: Shape, classes: int | None, seed: int):
    """Noisy random walks' steps, classified by their hidden drift.

    Each sequence is ``drift + noise`` at every step, with noise (standard
    deviation 1) several times larger than the drift, so no single step and
    no short window tells the class: the network has to accumulate evidence
    over the whole sequence, which is what an LSTM's memory is for. With two
    classes the drift is negative or positive; with more, each class owns a
    band of drifts from -0.6 to 0.6.
    """
    length, features = shape if len(shape) == 2 else (SEQUENCE_LENGTH, 1)
    classes = classes or 2
    if not 2 <= classes <= _MAX_SEQUENCE_CLASSES:
        raise RecipeError(
            f"The sequences data set makes 2 to {_MAX_SEQUENCE_CLASSES} classes, "
            f"but the network's Output gives {classes} values per sample."
        )
    rng = np.random.default_rng(seed)
    per_class = 1000
    y = np.repeat(np.arange(classes), per_class)
    edges = np.linspace(-0.6, 0.6, classes + 1)
    gap = 0.15 * (edges[1] - edges[0])  # a margin between bands keeps the classes apart
    drift = rng.uniform(edges[y] + gap, edges[y + 1] - gap)
    x = drift[:, None, None] + rng.normal(0.0, 1.0, (y.size, length, features))
    if classes == 2:
        names: tuple[str, ...] = ("falling", "rising")
    else:
        names = tuple(f"drift {(edges[k] + edges[k + 1]) / 2:+.2f}" for k in range(classes))
    return x.astype(np.float32), y.astype(np.int64), names


SHAPE_KINDS = (
    "horizontal bar",
    "vertical bar",
    "plus",
    "cross",
    "ring",
    "disc",
    "square",
    "filled square",
    "triangle",
    "diagonal",
)
_SHAPES_PER_CLASS = 500


def _shape_mask(kind: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Boolean (n, H, W) masks of shape ``kind`` centred where dx = dy = 0."""
    ax, ay = np.abs(dx), np.abs(dy)
    half = t / 2
    if kind == 0:
        return (ay <= half) & (ax <= r)
    if kind == 1:
        return (ax <= half) & (ay <= r)
    if kind == 2:
        return ((ay <= half) & (ax <= r)) | ((ax <= half) & (ay <= r))
    inner = (ax <= 0.75 * r) & (ay <= 0.75 * r)
    if kind == 3:
        return inner & ((np.abs(dx - dy) <= 0.7 * t) | (np.abs(dx + dy) <= 0.7 * t))
    radius = np.hypot(dx, dy)
    if kind == 4:
        return np.abs(radius - r) <= half
    if kind == 5:
        return radius <= r
    box = np.maximum(ax, ay)
    if kind == 6:
        return (box <= r) & (box >= r - t)
    if kind == 7:
        return box <= 0.85 * r
    if kind == 8:
        return (ay <= r) & (ax <= (dy + r) / 2)
    return inner & (np.abs(dx - dy) <= 0.7 * t)


def shapes(shape: Shape, classes: int | None, seed: int):
    """Bars, crosses, rings, discs, squares and triangles at random places, sizes
    and colours on a noisy background, drawn at the Input's (channels, height,
    width). Class = kind of shape; up to 10 kinds."""
    x, y, _ = _shape_images(shape, classes, seed, "shapes")
    return x, y, SHAPE_KINDS[: int(y.max()) + 1]


def shape_masks(shape: Shape, classes: int | None, seed: int):
    """The shapes images with, as targets, each image's mask: 1 on the shape's pixels,
    0 elsewhere, of shape (1, height, width). A segmentation task: the network draws
    the mask (per-pixel binary cross-entropy on logits, or MSE)."""
    x, _, mask = _shape_images(shape, None, seed, "shape_masks")
    return x, mask[:, None].astype(np.float32), ("background", "shape")


def _shape_images(shape: Shape, classes: int | None, seed: int, name: str):
    """(images, kinds, boolean masks) of the shapes data set."""
    if len(shape) != 3:
        raise RecipeError(
            f"The {name} data set makes images (channels, height, width), "
            f"but the network's Input takes {format_shape(shape)}."
        )
    channels, height, width = shape
    classes = classes or len(SHAPE_KINDS)
    if not 2 <= classes <= len(SHAPE_KINDS):
        raise RecipeError(
            f"The shapes data set makes 2 to {len(SHAPE_KINDS)} classes, "
            f"but the network's Output gives {classes} values per sample."
        )
    if min(height, width) < 8:
        raise RecipeError(f"The {name} data set needs images of at least 8x8, not {height}x{width}.")
    rng = np.random.default_rng(seed)
    n = classes * _SHAPES_PER_CLASS
    y = np.repeat(np.arange(classes), _SHAPES_PER_CLASS)
    side = min(height, width)
    r = rng.uniform(0.2, 0.38, n) * side
    t = np.maximum(1.0, r / rng.uniform(3.0, 4.5, n))
    cx = rng.uniform(r + 1, width - r - 1)
    cy = rng.uniform(r + 1, height - r - 1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    rr, tt = r[:, None, None], t[:, None, None]
    mask = np.zeros((n, height, width), dtype=bool)
    for kind in range(classes):
        rows = y == kind
        mask[rows] = _shape_mask(kind, dx[rows], dy[rows], rr[rows], tt[rows])
    # Colour varies by sample (and by channel in colour images); the class is the shape alone.
    colour = rng.uniform(0.5, 1.0, (n, channels, 1, 1))
    background = rng.uniform(0.0, 0.25, (n, channels, 1, 1))
    x = background + mask[:, None] * (colour - background)
    x += rng.normal(0.0, 0.06, x.shape)
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return x, y.astype(np.int64), mask


TOKEN_LEVELS = 16  # token ids of the token_sequences data set: 0..15


def token_sequences(shape: Shape, classes: int | None, seed: int):
    """The sequences task in words: every step of the drifting walk becomes one of
    16 token ids (its value, quantised), for networks that start with an Embedding.
    One sample is (length,) int64 ids; the class is the hidden drift."""
    length = shape[0] if len(shape) == 1 else SEQUENCE_LENGTH
    x, y, names = sequences((length, 1), classes, seed)
    ids = np.floor((x[..., 0] + 2.0) / 4.0 * TOKEN_LEVELS)
    return np.clip(ids, 0, TOKEN_LEVELS - 1).astype(np.int64), y, names


Builder = Callable[[Shape, "int | None", int], tuple[np.ndarray, np.ndarray, tuple[str, ...]]]
BUILTIN: dict[str, Builder] = {
    "digits": digits,
    "circles": circles,
    "moons": moons,
    "sequences": sequences,
    "shapes": shapes,
    "token_sequences": token_sequences,
    "shape_masks": shape_masks,
}


def wanted_classes(io: NetworkIO) -> int | None:
    """Classes a generated set should make: the Output's features (1 means yes/no)."""
    if len(io.output_shape) != 1:
        return None
    return max(2, io.output_shape[0])


# --- the data files train.py reads itself -------------------------------------------------------
# (The app reads many more kinds through nnstudio.training.readers; ``nnstudio train --nproc``
# hands those to train.py as an .npz of raw samples in the x_train/x_val form.)

_X_KEYS = ("x", "X", "inputs", "data", "images", "features")
_Y_KEYS = ("y", "Y", "labels", "targets", "label", "target")


@dataclass
class Arrays:
    """Samples as read: ``y`` is None without labels; ``x_val`` set for a fixed split."""

    x: np.ndarray
    y: np.ndarray | None
    class_names: tuple[str, ...] = ()
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def read_npz(path: Path) -> Arrays:
    """Arrays x and y (or x_train, y_train, x_val, y_val for a fixed split) of an .npz file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise RecipeError(f"{path} is not a readable .npz file ({exc}).") from None
    if "x_train" in arrays:
        if "x_val" not in arrays:
            raise RecipeError(f"{path} has x_train but no x_val; save both, or the whole set as x.")
        return Arrays(arrays["x_train"], arrays.get("y_train"), (), arrays["x_val"], arrays.get("y_val"))
    x_key = next((k for k in _X_KEYS if k in arrays), None)
    if x_key is None:
        raise RecipeError(
            f"{path} has no array named x (it holds {', '.join(arrays) or 'nothing'}); "
            "save the inputs as x and the labels as y."
        )
    y_key = next((k for k in _Y_KEYS if k in arrays), None)
    return Arrays(arrays[x_key], arrays[y_key] if y_key else None)


def read_csv(path: Path, label_column: str | int | None = None) -> Arrays:
    """Numeric feature columns and one label column (numbers or class names), read as the
    app reads a CSV file: a header when a cell of the first row is not a number, the
    label in the last column unless ``label_column`` names one (by name or index)."""
    try:
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise RecipeError(f"{path} is not a readable CSV file ({exc}).") from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t ")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise RecipeError(f"{path} is not a readable CSV file ({exc}).") from None
    header = None
    if rows and any(not _is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    if not rows:
        raise RecipeError(f"{path} has no rows of data.")
    width = len(rows[0])
    names = header or [str(i) for i in range(width)]
    if len(names) != width or width < 2:
        raise RecipeError(f"{path} needs feature columns and a label column of equal length in every row.")
    label = _label_index(label_column, names, path)
    features = [i for i in range(width) if i != label]
    x = np.empty((len(rows), len(features)), dtype=np.float32)
    labels: list[str] = []
    for r, row in enumerate(rows):
        line = r + (2 if header else 1)
        if len(row) != width:
            raise RecipeError(f"{path}, line {line}: expected {width} columns, found {len(row)}.")
        for c, column in enumerate(features):
            try:
                x[r, c] = float(row[column])
            except ValueError:
                raise RecipeError(
                    f"{path}, line {line}, column '{names[column]}': {row[column]!r} is not a number."
                ) from None
        labels.append(row[label].strip())
    if not np.isfinite(x).all():
        raise RecipeError(f"{path} holds empty, infinite or NaN feature values; fill or drop them first.")
    if all(_is_number(v) for v in labels):
        values = np.array([float(v) for v in labels])
        if np.all(values == np.round(values)) and values.min() >= 0:
            return Arrays(x, values.astype(np.int64))
        return Arrays(x, values.astype(np.float32))
    classes = tuple(sorted(set(labels)))
    index = {name: i for i, name in enumerate(classes)}
    return Arrays(x, np.array([index[v] for v in labels], dtype=np.int64), classes)


def _label_index(label_column: str | int | None, names: list[str], path: Path) -> int:
    if label_column is None:
        return len(names) - 1
    if isinstance(label_column, int):
        if not -len(names) <= label_column < len(names):
            raise RecipeError(
                f"{path} has {len(names)} columns, so there is no column {label_column} for the labels."
            )
        return label_column % len(names)
    if label_column in names:
        return names.index(label_column)
    raise RecipeError(f"{path} has no column named '{label_column}'; its columns are {', '.join(names)}.")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- fitting the data to the network --------------------------------------------------------------


def split_indices(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle cut into (training rows, validation rows); both non-empty."""
    if n < 2:
        raise RecipeError(f"A data set needs at least two samples to split; this one has {n}.")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_split)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fit_shape(x: np.ndarray, name: str, io: NetworkIO) -> np.ndarray:
    """Samples in the Input's shape: equal, or the same values rearranged (64 -> 1x8x8)."""
    sample = tuple(x.shape[1:])
    if sample == tuple(io.input_shape):
        return x
    if math.prod(sample) == math.prod(io.input_shape):
        return x.reshape(len(x), *io.input_shape)
    raise MismatchError(
        f"The {name} data set has samples of shape {format_shape(sample)}, but the Input "
        f"'{io.input_name}' takes {format_shape(io.input_shape)}; change the Input's shape "
        f"to {format_shape(sample)}."
    )


def task_of(target: str, loss: str, y: np.ndarray | None, name: str) -> str:
    """classification, regression or reconstruction, from the settings and the labels."""
    if target == "input":
        return "reconstruction"
    if y is None:
        raise RecipeError(
            f"{name} has no labels. Add them, or set the training target to 'input' "
            "to train the network to reconstruct its input."
        )
    if y.dtype.kind in "iub" and loss != "mse":
        return "classification"
    return "regression"


@dataclass
class Samples:
    """Training and validation tensors of raw samples, and what they are for."""

    x: torch.Tensor
    y: torch.Tensor  # the same tensor as x when reconstructing
    x_val: torch.Tensor
    y_val: torch.Tensor
    task: str
    num_classes: int | None
    target_shape: Shape  # of one target; () for class indices


def prepare(
    data: Arrays, name: str, io: NetworkIO, *, target: str, loss: str, val_split: float, seed: int
) -> Samples:
    """Shape, split and convert samples read into memory. Inputs stay raw: the model's own
    preprocessing (fitted by ``fit_preprocessing``) scales them."""
    x = fit_shape(data.x, name, io)
    x_val = None if data.x_val is None else fit_shape(data.x_val, name, io)
    task = task_of(target, loss, data.y, name)
    if x_val is None:
        train_rows, val_rows = split_indices(len(x), val_split, seed)
        x_val, y_val = x[val_rows], (None if data.y is None else data.y[val_rows])
        x, y = x[train_rows], (None if data.y is None else data.y[train_rows])
    else:
        y, y_val = data.y, data.y_val
        if task != "reconstruction" and y_val is None:
            raise RecipeError(f"{name} has labels for its training samples but none for validation.")
    num_classes = None
    if task == "classification":
        num_classes = max(len(data.class_names), int(max(y.max(), y_val.max())) + 1)
        if min(y.min(), y_val.min()) < 0:
            raise RecipeError(f"The labels of {name} must be class numbers from 0, not negative numbers.")
    if io.input_dtype == "int64":
        # Token ids for an Embedding: whole numbers, never scaled.
        if not (np.all(np.equal(np.mod(x, 1), 0)) and np.all(np.equal(np.mod(x_val, 1), 0))):
            raise MismatchError(
                f"The Input '{io.input_name}' takes whole-number token ids (int64), "
                f"but {name} holds fractional values."
            )
        tx, tv = torch.as_tensor(x, dtype=torch.int64), torch.as_tensor(x_val, dtype=torch.int64)
    else:
        tx = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        tv = torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32))
    if task == "reconstruction":
        # The same tensor twice: no copy, and the trainer never gathers it twice.
        return Samples(tx, tx, tv, tv, task, None, tuple(io.input_shape))
    if task == "classification":
        ty, tyv = torch.as_tensor(y, dtype=torch.int64), torch.as_tensor(y_val, dtype=torch.int64)
        return Samples(tx, ty, tv, tyv, task, num_classes, ())
    y, y_val = np.asarray(y, np.float32), np.asarray(y_val, np.float32)
    if y.ndim == 1:
        y, y_val = y[:, None], y_val[:, None]
    return Samples(tx, torch.from_numpy(y), tv, torch.from_numpy(y_val), task, None, tuple(y.shape[1:]))


def resolve_loss(
    loss: str, task: str, num_classes: int | None, target_shape: Shape, name: str, io: NetworkIO
) -> str:
    """The loss to use ("auto" made concrete), after checking the Output can produce the targets."""
    out, source = tuple(io.output_shape), io.source_name
    if task == "classification":
        k = num_classes
        if loss in ("auto", "cross_entropy") and out == (k,):
            return "cross_entropy"
        if loss in ("auto", "bce_with_logits") and out == (1,) and k == 2:
            return "bce_with_logits"
        if loss == "bce_with_logits" and out == (k,):
            return "bce_with_logits"
        wanted = f"{k} values per sample" + (" (or 1 with a BCE loss)" if k == 2 else "")
        raise MismatchError(
            f"The {name} data set has {k} classes, so the network must output {wanted}, "
            f"but the Output '{io.output_name}' receives shape {format_shape(out)} from '{source}'; "
            f"give '{source}' {k} outputs."
        )
    if loss == "cross_entropy":
        raise MismatchError(f"The {name} data set has number targets, not classes; use the MSE loss for it.")
    if out != tuple(target_shape):
        what = "the input it should reconstruct" if task == "reconstruction" else "its targets"
        raise MismatchError(
            f"The Output '{io.output_name}' receives shape {format_shape(out)} from '{source}', "
            f"but {what} in {name} have shape {format_shape(target_shape)}."
        )
    return "mse" if loss == "auto" else loss


# --- what a run minimises and counts -----------------------------------------------------------------


class Objective:
    """Loss and correct-answer count for one task and a resolved loss.

    Targets are put in the loss's form once per tensor (``targets``), not once
    per step, and the correct count stays a tensor on the device.
    """

    def __init__(self, loss: str, task: str, num_classes: int | None, output_shape: Shape) -> None:
        self.name = loss
        self.reconstruct = task == "reconstruction"
        self.classes = num_classes if task == "classification" else None
        # BCE on a single output scores "is it class 1"; with k outputs, one-hot targets.
        self._one_hot = loss == "bce_with_logits" and self.classes is not None and tuple(output_shape) != (1,)

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


def first_output(output: Any) -> torch.Tensor:
    """The output the loss is computed on: the first, when the network has several."""
    return output[0] if isinstance(output, tuple | list) else output


# --- optimisation ------------------------------------------------------------------------------------


def make_optimizer(
    params: Iterable[nn.Parameter],
    name: str,
    lr: float,
    momentum: float,
    weight_decay: float,
    capturable: bool = False,
) -> torch.optim.Optimizer:
    """The optimizer ``name``; ``capturable`` for a step replayed as a CUDA graph."""
    wd = weight_decay
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, capturable=capturable)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, capturable=capturable)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd, capturable=capturable)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    raise RecipeError(f"There is no optimizer '{name}'; use one of {', '.join(OPTIMIZERS)}.")


def lr_at(schedule: str, lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of 0-based ``epoch``: constant, x0.1 at half and at three
    quarters of the run ("step"), or a cosine down to 1% of ``lr`` ("cosine")."""
    if schedule == "step":
        factor = 1.0
        for milestone in (0.5, 0.75):
            if epoch >= math.ceil(milestone * epochs):
                factor *= 0.1
        return lr * factor
    if schedule == "cosine" and epochs > 1:
        # Ends at 1% of the starting rate rather than at zero: the last epoch still learns.
        floor = 0.01 * lr
        return floor + 0.5 * (lr - floor) * (1 + math.cos(math.pi * epoch / (epochs - 1)))
    return lr


# --- the order of samples --------------------------------------------------------------------------------


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffle of ``n`` training samples for 0-based ``epoch``: made on the CPU from
    ``seed`` and the epoch alone, so every process, every device and a resumed run agree."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))


def batch_bounds(
    n: int, batch_size: int, world_size: int = 1, batch_norm: bool = False
) -> list[tuple[int, int]]:
    """(start, stop) of each step's samples in the epoch's order.

    Full batches, then the rest as a smaller last batch, with two exceptions:
    the rest is cut to a multiple of ``world_size``, so that every process
    takes an equal slice (which is what makes N processes compute the steps of
    one); and a rest of one sample per process is dropped when the model has
    batch normalisation, which cannot normalise a single sample in training.
    """
    full, rest = divmod(n, batch_size)
    rest -= rest % world_size
    if batch_norm and rest == world_size:
        rest = 0
    bounds = [(i * batch_size, (i + 1) * batch_size) for i in range(full)]
    if rest:
        bounds.append((full * batch_size, full * batch_size + rest))
    return bounds


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


# --- the model's input preprocessing ----------------------------------------------------------------------


def preprocessing_rows(n: int, seed: int, limit: int = PREPROCESS_SAMPLES) -> np.ndarray:
    """The training rows the preprocessing statistics come from: all of them, or a seeded
    sample of ``limit`` when there are more."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def fit_preprocessing(model: nn.Module, samples: torch.Tensor) -> int:
    """Fit every ``Preprocess`` module of ``model`` (the generated input normalisation, with
    buffers ``shift`` and ``scale``) to raw training ``samples``; returns how many it fitted.

    Call it when training starts, never when continuing from a checkpoint: the
    statistics are part of the weights from then on.
    """
    modules = preprocessing_of(model)
    with torch.no_grad():
        for module in modules:
            buffer = getattr(module, "shift", None)
            device = buffer.device if isinstance(buffer, torch.Tensor) else samples.device
            module.fit(samples.to(device))
    return len(modules)


def preprocessing_of(model: nn.Module) -> list[nn.Module]:
    return [
        m for m in model.modules() if type(m).__name__ == "Preprocess" and callable(getattr(m, "fit", None))
    ]


def input_targets(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What a network trained to reconstruct its input should output for raw inputs ``x``:
    the input as its own preprocessing scales it (``x`` itself when it has none), so that a
    Sigmoid can reach min-max scaled pixels whatever their raw range."""
    modules = preprocessing_of(model)
    if len(modules) != 1:
        return x
    with torch.no_grad():
        return modules[0](x)


# --- measuring ------------------------------------------------------------------------------------------


def eval_batch_size(batch_size: int) -> int:
    return max(EVAL_BATCH, batch_size)


def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    objective: Objective,
    device: torch.device,
) -> torch.Tensor:
    """[loss sum, correct count, samples] over ``batches`` (inputs, targets in the loss's form),
    summed on ``device`` in float32 and read by the caller once. The caller sets eval mode."""
    totals = torch.zeros(3, device=device)
    with torch.no_grad():
        for xb, yb in batches:
            out = first_output(model(xb)).float()
            totals[0] += objective.loss(out, yb).float() * len(xb)
            correct = objective.correct(out, yb)
            if correct is not None:
                totals[1] += correct
            totals[2] += len(xb)
    return totals


def mean_metrics(totals: Sequence[float], has_accuracy: bool) -> tuple[float, float]:
    """(mean loss, accuracy or NaN) from ``evaluate``'s sums."""
    loss, right, count = (float(v) for v in totals)
    return loss / max(1.0, count), (right / count if has_accuracy and count else math.nan)


def epoch_sums(
    losses: np.ndarray, corrects: np.ndarray | None, sizes: np.ndarray
) -> tuple[float, float, int]:
    """(loss x samples, correct, samples) of training steps, summed in float64 so that the
    grouping of steps (reports in the app, one epoch in train.py) changes nothing."""
    sizes64 = np.asarray(sizes, dtype=np.float64)
    loss = float((np.asarray(losses, dtype=np.float64) * sizes64).sum())
    right = 0.0 if corrects is None else float(np.asarray(corrects, dtype=np.float64).sum())
    return loss, right, int(sizes64.sum())


def nonfinite_sentence(what: str, value: float, where: str, lr: float) -> str:
    """'The loss became NaN at step 7 (epoch 1), so training stopped. ...'"""
    kind = "NaN" if value != value else "infinite"
    return (
        f"The {what} became {kind} {where}, so training stopped. "
        f"The learning rate {lr:g} is probably too high; try {lr / 10:g}."
    )
