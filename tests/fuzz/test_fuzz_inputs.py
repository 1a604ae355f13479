"""Fuzzing in the suite: broken project files, data files and checkpoints, built by
hypothesis. Whatever the input, the answer is one of our error types (a sentence)
or a success, never another exception, and the input file is never modified.

Bounded (60 examples a strategy, no deadline) so the module runs in well under 30 s;
set NNSTUDIO_FUZZ_EXAMPLES to fuzz deeper.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import struct
import tempfile
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnstudio.cli import main
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel
from nnstudio.resources import examples_dir
from nnstudio.training import checkpoint, readers
from nnstudio.training.errors import DataError

# NNSTUDIO_FUZZ_EXAMPLES=2000 fuzzes deeper on demand; the suite's default stays fast.
FUZZ = settings(
    max_examples=int(os.environ.get("NNSTUDIO_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _file(name: str, data: bytes):
    """``data`` written to a fresh file called ``name``; checks it is untouched afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        before = _digest(path)
        yield path
        assert _digest(path) == before, f"{name} was modified"


# --- project files ------------------------------------------------------------------------------


@cache
def _example() -> dict[str, Any]:
    return json.loads((examples_dir() / "lenet5.nnstudio").read_text(encoding="utf-8"))


@st.composite
def broken_projects(draw) -> bytes:
    """A real project with one to three fields replaced, removed or truncated."""
    record = json.loads(json.dumps(_example()))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "node", "edge", "params"]))
        if where == "top":
            target = record
        elif where == "node" and record.get("nodes"):
            target = draw(st.sampled_from(record["nodes"])) if isinstance(record["nodes"], list) else record
        elif where == "edge" and record.get("edges"):
            target = draw(st.sampled_from(record["edges"])) if isinstance(record["edges"], list) else record
        elif isinstance(record.get("nodes"), list) and record["nodes"]:
            node = draw(st.sampled_from(record["nodes"]))
            target = (
                node.get("params")
                if isinstance(node, dict) and isinstance(node.get("params"), dict)
                else record
            )
        else:
            target = record
        if not isinstance(target, dict):
            continue
        key = draw(st.sampled_from(sorted(target) or ["x"]) | st.text(max_size=8))
        if draw(st.booleans()):
            target[key] = draw(JSON)
        else:
            target.pop(key, None)
    text = json.dumps(record)
    if draw(st.integers(0, 4)) == 0:  # sometimes cut short, as a crash mid-write would
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8")


@FUZZ
@given(data=broken_projects() | st.binary(max_size=300))
def test_a_broken_project_is_a_sentence_and_never_modified(data: bytes) -> None:
    with _file("fuzzed.nnstudio", data) as path:
        try:
            graph = GraphModel.load(path)
        except GraphError as exc:
            assert str(path) in str(exc)
        else:
            assert isinstance(graph.validate(), list)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["validate", str(path)]) in (0, 1, 2)
            assert main(["info", str(path)]) in (0, 1, 2)


# --- data files ---------------------------------------------------------------------------------

DESCRS = ["<f4", ">f8", "<i8", "|u1", "|b1", "<c8", "|O", "<U3", "<f2", "|V4"]


def _npy(shape: list[int], descr: str, fortran: bool, body: bytes) -> bytes:
    stream = io.BytesIO()
    with contextlib.suppress(ValueError):
        np.lib.format.write_array_header_1_0(
            stream, {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}
        )
    return stream.getvalue() + body


npy_files = st.builds(
    _npy,
    st.lists(st.integers(0, 2**40) | st.integers(0, 6), max_size=4),
    st.sampled_from(DESCRS),
    st.booleans(),
    st.binary(max_size=200),
)


@st.composite
def npz_files(draw) -> bytes:
    stream = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(stream, "w", method) as archive:
        for name in draw(
            st.lists(st.sampled_from(["x", "y", "X", "labels", "junk"]), max_size=3, unique=True)
        ):
            if draw(st.booleans()):
                shape = draw(st.lists(st.integers(0, 5), max_size=3))
                kind = draw(st.sampled_from(["float32", "int64", "bool", "complex64", "uint8"]))
                array = np.zeros(shape, kind)
                if kind == "float32" and array.size and draw(st.booleans()):
                    array.flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
                member = io.BytesIO()
                np.save(member, array)
                archive.writestr(f"{name}.npy", member.getvalue())
            else:
                archive.writestr(f"{name}.npy", draw(npy_files))
    return stream.getvalue()


CELLS = st.sampled_from(
    ["0", "1", "2.5", "-3", "nan", "inf", "-inf", "", "1e400", "cat", "dog", " ", '"', "x,y"]
)
csv_text = st.lists(st.lists(CELLS, min_size=1, max_size=4), max_size=8).map(
    lambda rows: "\n".join(",".join(row) for row in rows).encode("utf-8")
)


def _idx(kind: int, dims: list[int], body: bytes) -> bytes:
    return b"\0\0" + bytes([kind, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


idx_files = st.builds(
    _idx,
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x01]),
    st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 4), max_size=4),
    st.binary(max_size=64),
)

DATA_FILES = st.one_of(
    st.tuples(st.just("x.npy"), npy_files),
    st.tuples(st.just("data.npz"), npz_files() | st.binary(max_size=200)),
    st.tuples(st.just("data.csv"), csv_text),
    st.tuples(
        st.just("data.csv.gz"),
        csv_text.map(gzip.compress) | st.binary(max_size=60).map(lambda b: b"\x1f\x8b" + b),
    ),
    st.tuples(st.just("train-images-idx3-ubyte"), idx_files),
)


@FUZZ
@given(named=DATA_FILES)
def test_a_broken_data_file_is_a_sentence_and_never_modified(named: tuple[str, bytes]) -> None:
    name, data = named
    with _file(name, data) as path:
        if name.startswith("train-images"):  # an IDX pair needs its labels beside it
            path.with_name("train-labels-idx1-ubyte").write_bytes(_idx(0x08, [1], b"\0"))
        try:
            read = readers.read(path)
        except DataError:
            return
        assert isinstance(read, readers.ArrayData | readers.ImageFiles)


# --- checkpoints --------------------------------------------------------------------------------


@cache
def _checkpoint() -> dict[str, Any]:
    from nnstudio.training.config import TrainConfig
    from nnstudio.training.loop import Trainer
    from tests.training.conftest import mlp

    graph = mlp(hidden=4)
    config = TrainConfig.from_settings(graph.training).with_overrides(device="cpu", epochs=1)
    trainer = Trainer.for_graph(graph, config)
    state = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, **trainer.checkpoint_state("stop")}
    return torch.load(io.BytesIO(_saved(state)), weights_only=True)  # as a file would hold it


TENSORS = st.builds(
    lambda shape, dtype: torch.zeros(shape, dtype=dtype),
    st.lists(st.integers(0, 3), max_size=3),
    st.sampled_from([torch.float32, torch.int64, torch.bool, torch.uint8, torch.complex64]),
)


@pytest.fixture(scope="module", autouse=True)
def _trained_once() -> None:
    """The checkpoint the strategy breaks is trained before hypothesis starts drawing."""
    _checkpoint()


@st.composite
def broken_checkpoints(draw) -> dict[str, Any]:
    state = dict(_checkpoint())
    state["history"] = {**state["history"], "points": dict(state["history"]["points"])}
    for _ in range(draw(st.integers(1, 3))):
        history = state.get("history")
        points = history.get("points") if isinstance(history, dict) else None
        target = draw(st.sampled_from([state, history, points, state]))
        if not isinstance(target, dict):
            continue  # an earlier change replaced it
        key = draw(st.sampled_from(sorted(target) or ["x"]) | st.text(max_size=6))
        if draw(st.booleans()):
            target[key] = draw(JSON | TENSORS)
        else:
            target.pop(key, None)
    return state


def _saved(state: dict[str, Any]) -> bytes:
    stream = io.BytesIO()
    torch.save(state, stream)
    return stream.getvalue()


@FUZZ
@given(data=broken_checkpoints().map(_saved) | st.binary(max_size=200))
def test_a_broken_checkpoint_is_a_sentence_and_never_modified(data: bytes) -> None:
    with _file("checkpoint.pt", data) as path:
        try:
            state = checkpoint.load(path)
        except checkpoint.CheckpointError as exc:
            assert str(path) in str(exc)
        else:
            assert isinstance(state, dict)


@pytest.mark.parametrize("strategy", ["project", "data", "checkpoint"])
def test_the_strategies_do_reach_both_outcomes(strategy: str) -> None:
    """Guard against strategies that only ever produce garbage (or only valid files)."""
    if strategy == "project":
        with _file("ok.nnstudio", json.dumps(_example()).encode()) as path:
            assert len(GraphModel.load(path)) > 0
    elif strategy == "data":
        with _file("data.csv", b"1,2,0\n3,4,1\n") as path:
            assert readers.read(path).x.shape == (2, 2)
    else:
        with _file("checkpoint.pt", _saved(_checkpoint())) as path:
            assert checkpoint.load(path)["epoch"] == 0
