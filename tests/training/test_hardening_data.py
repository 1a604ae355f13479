"""Hostile or broken data files give a DataError sentence naming the file, found by
reading only what the file really holds: never a traceback, never a huge allocation."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from nnstudio.training import readers
from nnstudio.training.errors import DataError


def _refused(path: Path, *needles: str) -> str:
    with pytest.raises(DataError) as caught:
        readers.read(path)
    message = str(caught.value)
    assert str(path) in message or path.name in message, message
    for needle in needles:
        assert needle in message, message
    return message


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": descr, "fortran_order": False, "shape": shape})
    return stream.getvalue()


def test_a_corrupt_gzipped_csv_is_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip-data")
    _refused(path, "Cannot read")


def test_a_corrupt_gzipped_idx_file_is_a_sentence(tmp_path: Path) -> None:
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip-data")
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))
    _refused(images, "Cannot read")


def test_an_npz_with_a_single_label_is_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "zero_d.npz"
    np.savez(path, x=np.zeros((10, 1, 8, 8), "float32"), y=np.array(3))
    _refused(path, "one label per sample")


def test_an_npy_header_declaring_terabytes_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npy"
    path.write_bytes(_npy_header((1_000_000, 1_000_000)) + b"\0" * 64)
    _refused(path, "(1000000, 1000000)", "truncated or corrupt")


def test_an_npz_member_declaring_terabytes_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", _npy_header((2_000_000, 2_000_000)) + b"\0" * 64)
        archive.writestr("y.npy", _npy_header((2_000_000,), "<i8") + b"\0" * 64)
    _refused(path, "array 'x'", "truncated or corrupt")


def test_an_idx_header_whose_size_overflows_64_bits_is_a_sentence(tmp_path: Path) -> None:
    images = tmp_path / "train-images-idx3-ubyte"
    # 2**31 * 2**31 * 4 = 2**64: np.prod wrapped it around to 0 bytes, which "matched".
    images.write_bytes(b"\0\0\x08\x03" + struct.pack(">III", 2**31, 2**31, 4))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\0\0\x08\x01" + struct.pack(">I", 0))
    _refused(images, "truncated or corrupt")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_decompression_bomb_in_an_image_folder_is_a_sentence(tmp_path: Path) -> None:
    from PIL import Image

    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        Image.new("L", (8, 8)).save(tmp_path / label / "ok.png")
    # A PNG header claiming 30000 x 30000 pixels (900 million) and no data.
    (tmp_path / "dogs" / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
        + _chunk(b"IEND", b"")
    )
    with pytest.raises(DataError) as caught:
        readers.read(tmp_path)
    assert "bomb.png" in str(caught.value) and "pixels" in str(caught.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_features_in_an_npz_are_named_with_sample_and_column(tmp_path: Path, bad: float) -> None:
    x = np.zeros((20, 3), "float32")
    x[7, 2] = bad
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=np.zeros(20, "int64"))
    _refused(path, "x holds", "sample 7, column 2")


def test_nan_labels_in_npy_files_are_named(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((5, 2), "float32"))
    np.save(tmp_path / "y.npy", np.array([0.5, 1.0, np.nan, 2.0, 3.0], "float32"))
    _refused(tmp_path / "x.npy", "y holds NaN label values", "sample 2")


def test_a_nan_label_in_a_csv_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,target\n1,2,0.5\n3,4,nan\n5,6,1.5\n")
    _refused(path, "line 3", "label column 'target'", "'nan'")


def test_an_infinite_csv_feature_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,target\n1,2,0\n3,inf,1\n")
    _refused(path, "line 3", "column 'b'", "'inf'")


def test_good_files_still_read(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez_compressed(path, x=np.ones((30, 4), "float32"), y=np.arange(30) % 3)
    data = readers.read(path)
    assert data.x.shape == (30, 4) and data.y.tolist()[:4] == [0, 1, 2, 0]
    np.save(tmp_path / "x.npy", np.ones((6, 2), "float64"))
    assert readers.read(tmp_path / "x.npy").x.shape == (6, 2)


def test_an_infinite_label_in_a_csv_is_named_not_turned_into_a_class(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,target\n1,0\n2,inf\n")
    _refused(path, "line 3", "label column 'target'", "'inf'")
