"""Readers for the user's own data files. Nothing here runs code from a file.

Each reader turns one kind of file into plain arrays (or, for an image folder,
a list of files read on demand) and raises DataError with a sentence naming
the file and the problem: a corrupt or foreign file never ends in a traceback.

- CSV: one row per sample; the label column is chosen by name or index.
- NumPy: an ``.npz`` with arrays ``x`` and ``y``, or ``x.npy`` with ``y.npy`` beside it.
- An image folder: one sub-folder per class (read with Pillow).
- MNIST / Fashion-MNIST IDX files (optionally gzipped).
- CIFAR-10/100 "python version" batches, unpickled with a loader that only
  allows NumPy arrays and plain containers.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import pickle
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nnstudio.training.errors import DataError

# The most a deflate stream can expand (about 1032:1): a zip member that claims
# more than this many times its compressed size cannot hold real data.
_DEFLATE_MAX_RATIO = 1100

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


@dataclass
class ArrayData:
    """Samples as arrays. ``y`` is None when the file has no labels.

    ``x_val``/``y_val`` are set when the files come with their own test split
    (MNIST's t10k files, CIFAR's test batch).
    """

    x: np.ndarray
    y: np.ndarray | None
    class_names: tuple[str, ...] = ()
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    pixel_range: float | None = None  # images: the value of white (255), to scale to 0..1
    columns: tuple[str, ...] = ()  # CSV: the feature columns' names, in order
    label_index: int | None = None  # CSV: where the label column sits among all columns


@dataclass
class ImageFiles:
    """An image folder: files and their class index, decoded on demand."""

    files: list[Path]
    labels: np.ndarray
    class_names: tuple[str, ...]
    root: Path = field(default=Path("."))


def read(path: Path, label_column: str | int | None = None) -> ArrayData | ImageFiles:
    """Read the data at ``path``, choosing the reader from what is there."""
    if not path.exists():
        raise DataError(f"The data set {path} does not exist.")
    if path.is_dir():
        if _idx_files(path):
            return read_idx(path)
        if _cifar_batches(path):
            return read_cifar(path)
        return read_image_folder(path)
    name = path.name.lower()
    suffix = Path(name.removesuffix(".gz")).suffix
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv(path, label_column)
    if suffix == ".npz":
        return read_npz(path)
    if suffix == ".npy":
        return read_npy(path)
    if "idx" in name or "ubyte" in name:
        return read_idx(path)
    if _looks_like_cifar_batch(path):
        return read_cifar(path)
    raise DataError(
        f"nnstudio cannot tell what kind of data {path} holds. Use a CSV file, an .npz or .npy file, "
        "a folder of images (one sub-folder per class), MNIST IDX files or CIFAR python batches."
    )


# --- CSV ---------------------------------------------------------------------------------


def read_csv(path: Path, label_column: str | int | None = None) -> ArrayData:
    """Numeric feature columns and one label column (numbers or class names)."""
    text = _read_text(path)
    rows = _csv_rows(text, path)
    if not rows:
        raise DataError(f"{path} is empty.")
    header = None
    if any(not _is_number(cell) for cell in rows[0]):
        header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    if not rows:
        raise DataError(f"{path} has a header but no rows of data.")
    width = len(rows[0])
    names = header or [str(i) for i in range(width)]
    if len(names) != width:
        raise DataError(f"{path}: the header has {len(names)} columns but the first row has {width}.")
    if width < 2:
        raise DataError(f"{path} has one column; it needs feature columns and a label column.")
    label = _label_index(label_column, names, path)
    features = [i for i in range(width) if i != label]
    x = np.empty((len(rows), len(features)), dtype=np.float32)
    labels: list[str] = []
    for r, row in enumerate(rows):
        line = r + (2 if header else 1)
        if len(row) != width:
            raise DataError(f"{path}, line {line}: expected {width} columns, found {len(row)}.")
        for c, column in enumerate(features):
            try:
                x[r, c] = float(row[column])
            except ValueError:
                raise DataError(
                    f"{path}, line {line}, column '{names[column]}': {row[column]!r} is not a number."
                ) from None
        labels.append(row[label].strip())
    if not np.isfinite(x).all():
        r, c = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise DataError(
            f"{path}, line {r + (2 if header else 1)}, column '{names[features[c]]}': "
            f"{rows[r][features[c]].strip()!r} is not a finite number; fill or drop such values first."
        )
    y, class_names = _labels_from_text(labels)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        r = int(np.argwhere(~np.isfinite(y))[0, 0])
        raise DataError(
            f"{path}, line {r + (2 if header else 1)}, label column '{names[label]}': "
            f"{labels[r]!r} is not a finite number; fill or drop such rows first."
        )
    return ArrayData(x, y, class_names, columns=tuple(names[i] for i in features), label_index=label)


def _csv_rows(text: str, path: Path) -> list[list[str]]:
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t ")
    except csv.Error:
        dialect = csv.excel
    try:
        return [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV file ({exc}).") from None


def _label_index(label_column: str | int | None, names: list[str], path: Path) -> int:
    if label_column is None:
        return len(names) - 1
    if isinstance(label_column, int):
        if not -len(names) <= label_column < len(names):
            raise DataError(
                f"{path} has {len(names)} columns, so there is no column {label_column} for the labels."
            )
        return label_column % len(names)
    if label_column in names:
        return names.index(label_column)
    raise DataError(f"{path} has no column named '{label_column}'; its columns are {', '.join(names)}.")


def _labels_from_text(labels: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Whole numbers stay numbers; anything else names classes, sorted."""
    if all(_is_number(v) for v in labels):
        values = np.array([float(v) for v in labels])
        if np.isfinite(values).all() and np.all(values == np.round(values)) and values.min() >= 0:
            return values.astype(np.int64), ()
        return values.astype(np.float32), ()
    names = tuple(sorted(set(labels)))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in labels], dtype=np.int64), names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- NumPy ------------------------------------------------------------------------------

_X_KEYS = ("x", "X", "inputs", "data", "images", "features")
_Y_KEYS = ("y", "Y", "labels", "targets", "label", "target")


def read_npz(path: Path) -> ArrayData:
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({_reason(exc)}).") from None
    x_key = next((k for k in _X_KEYS if k in arrays), None)
    if x_key is None:
        raise DataError(
            f"{path} has no array named x (it holds {', '.join(arrays) or 'nothing'}); "
            "save the inputs as x and the labels as y."
        )
    y_key = next((k for k in _Y_KEYS if k in arrays), None)
    return _arrays(path, arrays[x_key], arrays[y_key] if y_key else None)


def read_npy(path: Path) -> ArrayData:
    x = _load_npy(path)
    labels = _sibling_labels(path)
    return _arrays(path, x, _load_npy(labels) if labels else None)


def _sibling_labels(path: Path) -> Path | None:
    """x.npy -> y.npy, X_train.npy -> y_train.npy, train_x.npy -> train_y.npy."""
    pattern = re.compile(r"(^|[_\-.])[xX]([_\-.]|$)")
    stem = path.name[: -len(".npy")]
    if not pattern.search(stem):
        return None
    for letter in ("y", "Y"):
        candidate = path.with_name(pattern.sub(rf"\g<1>{letter}\g<2>", stem, count=1) + ".npy")
        if candidate.exists():
            return candidate
    return None


def _load_npy(path: Path) -> np.ndarray:
    try:
        with path.open("rb") as stream:
            _check_npy_size(stream, path.stat().st_size, str(path))
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy file ({_reason(exc)}).") from None


def _check_npy_size(stream: BinaryIO, size: int, name: str) -> None:
    """Refuse an .npy whose header promises more data than the file holds, before
    NumPy allocates it (a 160-byte file can declare terabytes)."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return  # a newer header: NumPy checks it
    except (ValueError, TypeError, SyntaxError) as exc:
        raise DataError(f"{name} is not a readable .npy file ({_reason(exc)}).") from None
    if dtype.hasobject:
        return  # refused by np.load(allow_pickle=False) without allocating
    needed = math.prod(shape) * dtype.itemsize
    held = size - stream.tell()
    if needed > held:
        raise DataError(
            f"{name} declares an array of shape {tuple(shape)} ({needed:,} bytes) but holds only "
            f"{max(held, 0):,} bytes of data; it is truncated or corrupt."
        )


def _check_npz_sizes(path: Path) -> None:
    """Check each array of an .npz against the size its archive entry really has."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            where = f"{path} (array '{info.filename[:-4]}')"
            if info.compress_type != zipfile.ZIP_STORED and (
                info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 4096
            ):
                raise DataError(
                    f"{where} claims {info.file_size:,} bytes from {info.compress_size:,} "
                    "compressed ones, more than compression allows; the file is corrupt."
                )
            with archive.open(info) as member:
                _check_npy_size(member, info.file_size, where)


def _arrays(path: Path, x: np.ndarray, y: np.ndarray | None) -> ArrayData:
    if x.dtype.kind not in "fiub":
        raise DataError(f"{path}: the inputs must be numbers, not {x.dtype}.")
    if x.ndim < 2:
        raise DataError(f"{path}: the inputs need one row per sample, but x has shape {x.shape}.")
    _check_finite(x, path, "x", "input")
    class_names: tuple[str, ...] = ()
    if y is not None:
        if y.ndim == 0:
            raise DataError(f"{path}: y is a single value ({y.shape}); it needs one label per sample of x.")
        if len(y) != len(x):
            raise DataError(f"{path}: x has {len(x)} samples but y has {len(y)} labels.")
        if y.dtype.kind in "US":
            y, class_names = _labels_from_text([str(v) for v in y])
        elif y.dtype.kind not in "fiub":
            raise DataError(f"{path}: the labels must be numbers or names, not {y.dtype}.")
        elif y.dtype.kind in "iub":
            y = y.astype(np.int64)
        _check_finite(y, path, "y", "label")
    pixel_range = 255.0 if x.dtype == np.uint8 else None
    return ArrayData(np.asarray(x), y, class_names, pixel_range=pixel_range)


def _check_finite(values: np.ndarray, path: Path, name: str, what: str) -> None:
    """NaN or infinity in the data would surface mid-run as a diverging loss: name it now."""
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return
    where = tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])
    value = values[where]
    column = f", column {where[1]}" if values.ndim == 2 else (f", at {where[1:]}" if values.ndim > 2 else "")
    raise DataError(
        f"{path}: {name} holds {'NaN' if np.isnan(value) else 'infinite'} {what} values "
        f"(the first in sample {where[0]}{column}); fill or drop them before training."
    )


# --- image folder --------------------------------------------------------------------------


def read_image_folder(path: Path) -> ImageFiles:
    """One sub-folder per class; every image is checked to open before training."""
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for folder in classes:
        images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            continue
        names.append(folder.name)
        files.extend(images)
        labels.extend([len(names) - 1] * len(images))
    if len(names) < 2:
        raise DataError(
            f"{path} is not an image data set: it needs one sub-folder of images per class "
            f"(at least two), and has {len(names)}."
        )
    for file in files:  # reads headers only: cheap, and a bad file is named now, not mid-run
        try:
            with _no_bombs(), Image.open(file) as image:
                image.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            raise DataError(f"The image {file} cannot be read ({_reason(exc)}).") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DataError(_too_big(file)) from None
    return ImageFiles(files, np.array(labels, dtype=np.int64), tuple(names), path)


def load_image(file: Path, channels: int, size: tuple[int, int]) -> np.ndarray:
    """One image as float32 (channels, height, width) in 0..1, resized to ``size``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with _no_bombs(), Image.open(file) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"The image {file} cannot be read ({_reason(exc)}).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(_too_big(file)) from None
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


@contextmanager
def _no_bombs() -> Iterator[None]:
    """Pillow only warns between its pixel limit and twice that; treat both as refusals."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _too_big(file: Path) -> str:
    from PIL import Image

    return (
        f"The image {file} declares more than {Image.MAX_IMAGE_PIXELS:,} pixels; nnstudio refuses "
        "images that large (they may be decompression bombs). Resize it first."
    )


# --- MNIST IDX -------------------------------------------------------------------------------

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx_file(path: Path) -> np.ndarray:
    """One IDX file (the MNIST format): magic, big-endian sizes, then the values."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (its first bytes are not an IDX magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path} is truncated: its header is incomplete.")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = math.prod(dims) * dtype.itemsize  # Python ints: np.prod would wrap around 2**64
    if len(raw) - header != expected:
        raise DataError(
            f"{path} is truncated or corrupt: its header promises {expected:,} bytes of data "
            f"for shape {dims}, but it holds {len(raw) - header:,}."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_files(folder: Path) -> dict[str, tuple[Path, Path]]:
    """{'train': (images, labels), 't10k': (...)} for the IDX pairs in ``folder``."""
    pairs = {}
    for images in sorted(folder.iterdir()):
        name = images.name.lower()
        if "images" not in name or "idx3" not in name:
            continue
        labels = images.with_name(images.name.replace("images", "labels").replace("idx3", "idx1"))
        if labels.exists():
            pairs["t10k" if name.startswith(("t10k", "test")) else "train"] = (images, labels)
    return pairs


def read_idx(path: Path) -> ArrayData:
    """An MNIST-style folder (train and, if present, t10k as validation) or one images file."""
    if path.is_dir():
        pairs = _idx_files(path)
        if "train" not in pairs:
            raise DataError(f"{path} has no train-images/train-labels IDX files.")
    else:
        labels = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
        if labels == path or not labels.exists():
            raise DataError(f"Found no labels for {path}; expected {labels.name} beside it.")
        pairs = {"train": (path, labels)}
    x, y = _idx_pair(*pairs["train"])
    data = ArrayData(x, y, pixel_range=255.0)
    if "t10k" in pairs:
        data.x_val, data.y_val = _idx_pair(*pairs["t10k"])
    return data


def _idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx_file(images), read_idx_file(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(
            f"{images.name} ({x.shape}) and {labels.name} ({y.shape}) do not form an image set: "
            "expected N images of HxW and N labels."
        )
    return x[:, None], y.astype(np.int64)


# --- CIFAR python batches ---------------------------------------------------------------------


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and plain containers; refuses anything that could run code."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(path: Path) -> Any:
    try:
        return _ArraysOnly(io.BytesIO(_read_bytes(path)), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{path} is not a CIFAR python batch ({_reason(exc)}).") from None


def _cifar_batches(folder: Path) -> dict[str, list[Path]]:
    train = sorted(folder.glob("data_batch_*")) or sorted(folder.glob("train"))
    test = sorted(folder.glob("test_batch")) or sorted(folder.glob("test"))
    if not train and (folder / "cifar-10-batches-py").is_dir():
        return _cifar_batches(folder / "cifar-10-batches-py")
    return {"train": train, "test": test} if train else {}


def _looks_like_cifar_batch(path: Path) -> bool:
    return path.name.startswith(("data_batch", "test_batch")) or path.name in ("train", "test")


def read_cifar(path: Path) -> ArrayData:
    """The CIFAR-10 (or -100) python batches: ``data_batch_*`` for training, ``test_batch``
    for validation, ``batches.meta`` for the class names; or a single batch file."""
    if path.is_dir():
        batches = _cifar_batches(path)
        if path.name != "cifar-10-batches-py" and (path / "cifar-10-batches-py").is_dir():
            path = path / "cifar-10-batches-py"
    else:
        batches = {"train": [path], "test": []}
    x, y = _cifar_join(batches["train"])
    data = ArrayData(x, y, _cifar_names(path), pixel_range=255.0)
    if batches["test"]:
        data.x_val, data.y_val = _cifar_join(batches["test"])
    return data


def _cifar_join(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for file in files:
        batch = _unpickle(file)
        if not isinstance(batch, dict):
            raise DataError(f"{file} is not a CIFAR python batch (it holds no dictionary).")
        data = batch.get(b"data", batch.get("data"))
        labels = next(
            (batch[k] for k in (b"labels", "labels", b"fine_labels", "fine_labels") if k in batch), None
        )
        if not isinstance(data, np.ndarray) or labels is None:
            raise DataError(f"{file} is not a CIFAR python batch (no 'data' array and 'labels').")
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
            raise DataError(
                f"{file} is not a CIFAR python batch: 'data' has shape {data.shape} "
                f"and there are {len(labels)} labels; expected N x 3072 and N labels."
            )
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(labels, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def _cifar_names(folder: Path) -> tuple[str, ...]:
    meta = folder / "batches.meta" if folder.is_dir() else folder.with_name("batches.meta")
    if not meta.exists():
        return ()
    try:
        meta_dict = _unpickle(meta)
        names = meta_dict.get(b"label_names", meta_dict.get("label_names", []))
    except (DataError, AttributeError):
        return ()
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


# --- helpers ----------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"Cannot read {path} ({_reason(exc)}).") from None
    return raw


def _read_text(path: Path) -> str:
    raw = _read_bytes(path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text file, so it cannot be read as CSV.") from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.rstrip(".")
