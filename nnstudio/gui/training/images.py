"""NumPy arrays made into QImages for the views: scaling, colour maps, sample pictures."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

# A perceptually ordered dark-to-bright ramp (after matplotlib's "magma"), for activations.
_MAGMA = np.array(
    [
        (0.001, 0.000, 0.014),
        (0.173, 0.067, 0.376),
        (0.447, 0.122, 0.506),
        (0.716, 0.215, 0.475),
        (0.945, 0.376, 0.365),
        (0.996, 0.690, 0.471),
        (0.987, 0.991, 0.750),
    ],
    dtype=np.float32,
)


def unit_range(values: np.ndarray) -> np.ndarray:
    """``values`` stretched to 0..1 (a constant array becomes 0.5); NaN becomes 0."""
    values = np.nan_to_num(values.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.full(values.shape, 0.5, np.float32)
    return (values - low) / (high - low)


def colorize(values: np.ndarray) -> np.ndarray:
    """0..1 values (h, w) to RGB (h, w, 3) along the magma ramp."""
    position = np.clip(values, 0.0, 1.0) * (len(_MAGMA) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(_MAGMA) - 1)
    t = (position - low)[..., None]
    return (_MAGMA[low] * (1 - t) + _MAGMA[high] * t).astype(np.float32)


def to_qimage(pixels: np.ndarray) -> QImage:
    """A 0..1 greyscale (h, w) or RGB (h, w, 3) array as a QImage that owns its memory."""
    data = np.ascontiguousarray(np.clip(pixels, 0.0, 1.0) * 255 + 0.5, dtype=np.float32).astype(np.uint8)
    h, w = data.shape[:2]
    if data.ndim == 2:
        image = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the NumPy buffer, which goes away


def sample_picture(sample: np.ndarray) -> np.ndarray | None:
    """How to draw one input sample: (h, w) grey or (h, w, 3) colour in 0..1, or None when
    the sample is not image-like (a point, a feature vector, a sequence)."""
    if sample.ndim == 3 and sample.shape[0] in (1, 3):
        picture = sample[0] if sample.shape[0] == 1 else np.transpose(sample, (1, 2, 0))
    elif sample.ndim == 2 and min(sample.shape) > 2 and sample.shape[1] > 4:
        picture = sample  # (h, w) grey
    else:
        return None
    low, high = float(picture.min()), float(picture.max())
    if low >= 0.0 and high <= 1.0:
        return picture.astype(np.float32)  # already pixels: keep their brightness
    return unit_range(picture)


def describe_sample(sample: np.ndarray, limit: int = 6) -> str:
    """A short text for samples that are not pictures: "(0.42, -1.3)"."""
    flat = sample.reshape(-1)
    values = ", ".join(f"{v:.3g}" for v in flat[:limit])
    return f"({values}{', …' if flat.size > limit else ''})"
