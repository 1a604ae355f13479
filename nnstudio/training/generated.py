"""The built-in data sets: bundled with scikit-learn or generated, never downloaded.

Each builder returns ``(x, y, class_names)`` as NumPy arrays (x float32 with
the batch first, y int64 class indices). The generated sets adapt to the
network that will learn them: ``shapes`` draws images of the Input's channels
and size with as many classes as the Output has features, ``sequences``
matches the Input's (length, features).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nnstudio.core.layers import format_shape
from nnstudio.training.errors import DataError

Builder = Callable[[tuple[int, ...], int | None, int], tuple[np.ndarray, np.ndarray, tuple[str, ...]]]


def digits(shape: tuple[int, ...], classes: int | None, seed: int):
    """scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes."""
    table = _digits_table()
    # Pixels are counts 0..16 of a 4x4 block, kept raw as scikit-learn ships them: the
    # Input's preprocessing (inside the model) scales them, so exported models take raw digits.
    x = table[:, :64].astype(np.float32).reshape(-1, 1, 8, 8)
    return x, table[:, 64].astype(np.int64), tuple(str(d) for d in range(10))


def _digits_table() -> np.ndarray:
    """The 1797 x 65 table (pixels, then the digit) shipped inside scikit-learn.

    Read straight from the package's data folder: importing ``sklearn.datasets``
    costs seconds, the file itself milliseconds.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
        if path.exists():
            return np.loadtxt(path, delimiter=",", dtype=np.float32)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.column_stack([bunch.data, bunch.target]).astype(np.float32)


def circles(shape: tuple[int, ...], classes: int | None, seed: int):
    """Two noisy concentric circles: no straight line separates them."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=1000, noise=0.08, factor=0.5, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), ("outer", "inner")


def moons(shape: tuple[int, ...], classes: int | None, seed: int):
    """Two interleaved half-moons: another set a linear model cannot separate."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.15, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), ("upper", "lower")


SEQUENCE_LENGTH = 50
_MAX_SEQUENCE_CLASSES = 8


def sequences(shape: tuple[int, ...], classes: int | None, seed: int):
    """Noisy random walks' steps, classified by their hidden drift.

    Each sequence is ``drift + noise`` at every step, with noise (standard
    deviation 1) several times larger than the drift, so no single step and
    no short window tells the class: the network has to accumulate evidence
    over the whole sequence, the sign (and size) of a long sum, which is what
    an LSTM's memory is for. With two classes the drift is negative or
    positive; with more, each class owns a band of drifts from -0.6 to 0.6.
    """
    length, features = (shape if len(shape) == 2 else (SEQUENCE_LENGTH, 1))
    classes = classes or 2
    if not 2 <= classes <= _MAX_SEQUENCE_CLASSES:
        raise DataError(
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


# --- shapes: generated images --------------------------------------------------------------

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


def shapes(shape: tuple[int, ...], classes: int | None, seed: int):
    """Bars, crosses, rings, discs, squares and triangles at random places, sizes
    and colours on a noisy background, drawn at the Input's (channels, height,
    width). Class = kind of shape; up to 10 kinds."""
    if len(shape) != 3:
        raise DataError(
            "The shapes data set makes images (channels, height, width), "
            f"but the network's Input takes {format_shape(shape)}."
        )
    channels, height, width = shape
    classes = classes or len(SHAPE_KINDS)
    if not 2 <= classes <= len(SHAPE_KINDS):
        raise DataError(
            f"The shapes data set makes 2 to {len(SHAPE_KINDS)} classes, "
            f"but the network's Output gives {classes} values per sample."
        )
    if min(height, width) < 8:
        raise DataError(f"The shapes data set needs images of at least 8x8, not {height}x{width}.")
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
    return x, y.astype(np.int64), SHAPE_KINDS[:classes]


BUILTIN: dict[str, Builder] = {
    "digits": digits,
    "circles": circles,
    "moons": moons,
    "sequences": sequences,
    "shapes": shapes,
}
