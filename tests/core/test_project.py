"""Project files: lossless round trips, migrations, and bad files refused without harm."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from nnstudio.core import atomic, project
from nnstudio.core.errors import FormatError, UnsupportedFormatVersionError
from nnstudio.core.graph import GraphModel


def _small_graph() -> GraphModel:
    g = GraphModel(name="tiny", description="Two lines\nof description.")
    x = g.add("Input", name="x", shape=[3, 8, 8], position=(0, 0))
    conv = g.add("Conv2d", name="conv", out_channels=4, padding=1, bias=False, position=(260, 0))
    pool = g.add("GlobalAvgPool2d", name="pool", position=(520, 0))
    out = g.add("Output", name="scores", position=(780, 0))
    g.connect(x, conv)
    g.connect(conv, pool)
    g.connect(pool, out)
    g.training = {"dataset": "shapes", "optimizer": "adam", "lr": 0.001, "batch_size": 32, "epochs": 2}
    g.runs = [{"finished": "2024-05-01T10:00:00", "final_loss": 0.25, "accuracy": [0.5, 0.75]}]
    return g


def _assert_same(a: GraphModel, b: GraphModel) -> None:
    assert b.to_dict() == a.to_dict()
    assert b.shapes() == a.shapes()
    assert b.validate() == a.validate()
    assert (b.training, b.runs) == (a.training, a.runs)


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    g = _small_graph()
    path = tmp_path / "tiny.nnstudio"
    g.save(path)
    loaded = GraphModel.load(path)
    _assert_same(g, loaded)
    assert loaded.description == "Two lines\nof description."
    loaded.save(tmp_path / "again.nnstudio")
    assert (tmp_path / "again.nnstudio").read_text() == path.read_text()


def test_every_example_round_trips(example_path: Path, tmp_path: Path) -> None:
    original = GraphModel.load(example_path)
    copy_path = tmp_path / example_path.name
    original.save(copy_path)
    _assert_same(original, GraphModel.load(copy_path))
    # The bundled files are exactly what nnstudio writes, so saving one unchanged
    # does not make a noisy diff.
    assert json.loads(copy_path.read_text()) == json.loads(example_path.read_text())


def test_the_file_is_readable_json_with_version_and_app(tmp_path: Path) -> None:
    path = tmp_path / "tiny.nnstudio"
    _small_graph().save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["app"] == "nnstudio" and data["format_version"] == project.FORMAT_VERSION
    assert data["nodes"][1] == {
        "id": "n2",
        "type": "Conv2d",
        "name": "conv",
        "params": {
            "out_channels": 4,
            "kernel_size": 3,
            "stride": 1,
            "padding": 1,
            "dilation": 1,
            "bias": False,
            "groups": 1,
        },
        "position": [260.0, 0.0],
    }


def test_version_1_files_migrate(tmp_path: Path) -> None:
    data = json.loads(project.dumps(_small_graph()))
    del data["training"], data["runs"]
    data["format_version"] = 1
    path = tmp_path / "old.nnstudio"
    path.write_text(json.dumps(data))
    loaded = GraphModel.load(path)
    assert loaded.to_dict() == _small_graph().to_dict()
    assert (loaded.training, loaded.runs) == ({}, [])
    assert json.loads(project.dumps(loaded))["format_version"] == project.FORMAT_VERSION


def test_unicode_names_and_a_byte_order_mark_are_fine(tmp_path: Path) -> None:
    g = _small_graph()
    g.rename("n2", "Faltung α")
    path = tmp_path / "unicode.nnstudio"
    path.write_bytes(b"\xef\xbb\xbf" + project.dumps(g).encode("utf-8"))
    assert GraphModel.load(path).node("n2").name == "Faltung α"


# --- bad files: refused with a sentence naming the file, and never touched ----------------------


def _valid_record() -> dict:
    return json.loads(project.dumps(_small_graph()))


def _with(change) -> str:
    data = _valid_record()
    change(data)
    return json.dumps(data)


def _set_param(name: str, value) -> callable:
    return lambda d: d["nodes"][1]["params"].__setitem__(name, value)


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "newer-version": (
        _with(lambda d: d.__setitem__("format_version", 99)).encode(),
        rf"was written by a newer nnstudio \(format 99; this version reads up to {project.FORMAT_VERSION}\)\. Update nnstudio",
    ),
    "truncated": (project.dumps(_small_graph())[:300].encode(), r", line \d+, column \d+: not valid JSON"),
    "empty": (b"", r", line 1, column 1: not valid JSON"),
    "foreign-json": (b'{"name": "my-package", "version": "1.0.0"}', r"is not an nnstudio project"),
    "json-list": (b"[1, 2, 3]", r"is not an nnstudio project"),
    "other-app": (
        _with(lambda d: d.__setitem__("app", "netron")).encode(),
        r"was written by 'netron', not nnstudio",
    ),
    "binary": (bytes(range(256)) * 4, r"is not a text file"),
    "zip": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\xfd", r"is not a text file"),
    "version-text": (
        _with(lambda d: d.__setitem__("format_version", "2")).encode(),
        r"'format_version' must be a positive whole number",
    ),
    "unknown-layer": (
        _with(lambda d: d["nodes"][1].__setitem__("type", "Conv5d")).encode(),
        r"Unknown layer type 'Conv5d'",
    ),
    "name-with-newline": (
        _with(lambda d: d["nodes"][1].__setitem__("name", "conv\nimport os")).encode(),
        r"A node's name must be one line",
    ),
    "name-with-escape": (
        _with(lambda d: d["nodes"][1].__setitem__("name", "conv\x1b[2J")).encode(),
        r"A node's name must be one line",
    ),
    "string-for-int": (
        _with(_set_param("out_channels", "16")).encode(),
        r"Conv2d 'conv': 'out_channels' must be a whole number, not '16'\.",
    ),
    "code-as-param": (
        _with(_set_param("kernel_size", "__import__('os').system('echo pwned')")).encode(),
        r"Conv2d 'conv': 'kernel_size' must be a whole number, not \"__import__",
    ),
    "code-as-shape": (
        _with(lambda d: d["nodes"][0]["params"].__setitem__("shape", "__import__('os')")).encode(),
        r"Input 'x': 'shape' must be a list of sizes",
    ),
    "code-as-choice": (
        _with(lambda d: d["nodes"][0]["params"].__setitem__("dtype", "__import__('os')")).encode(),
        r"Input 'x': 'dtype' must be one of 'float32', 'int64'",
    ),
    "param-named-like-add-keyword": (
        _with(_set_param("node_id", "n1")).encode(),
        r"Conv2d 'conv': Conv2d has no parameter 'node_id'",
    ),
    "huge-int": (
        _with(_set_param("out_channels", 10**30)).encode(),
        r"'out_channels' must be at most 8192, not 1000000000000000000000000000000\.",
    ),
    "nan-position": (
        _with(lambda d: d["nodes"][1].__setitem__("position", "NaN")).encode().replace(b'"NaN"', b"[NaN, 0]"),
        r"at 'nodes\.1\.position\.0'",
    ),
    "deeply-nested": (b"[" * 100_000, r"is nested too deeply"),
    "lone-surrogate": (
        _with(lambda d: d.__setitem__("description", "ok")).encode().replace(b'"ok"', b'"\\ud800"'),
        r"contains text that is not valid Unicode",
    ),
    "port-as-bool": (
        _with(lambda d: d["edges"][0].__setitem__("port", True)).encode(),
        r"at 'edges\.0\.port': Input should be a valid integer",
    ),
    "extra-field": (
        _with(lambda d: d.__setitem__("macro", "rm -rf /")).encode(),
        r"at 'macro': Extra inputs",
    ),
    "missing-nodes": (_with(lambda d: d.pop("nodes")).encode(), r"at 'nodes': Field required"),
    "edge-to-nowhere": (
        _with(lambda d: d["edges"].append({"source": "n3", "target": "n77", "port": 0})).encode(),
        r"A connection refers to node 'n77', which does not exist\.",
    ),
    "duplicate-id": (
        _with(lambda d: d["nodes"].append({**d["nodes"][1], "name": "other"})).encode(),
        r"A node with id 'n2' already exists",
    ),
    "duplicate-name": (
        _with(lambda d: d["nodes"][2].__setitem__("name", "conv")).encode(),
        r"Another node is already named 'conv'",
    ),
    "second-wire": (
        _with(lambda d: d["edges"].append({"source": "n1", "target": "n3", "port": 0})).encode(),
        r"already fed by",
    ),
    "duplicate-edge": (
        _with(lambda d: d["edges"].append(dict(d["edges"][0]))).encode(),
        r"Input 'x' is already connected to Conv2d 'conv'",
    ),
    "cycle": (
        _with(
            lambda d: (
                d["nodes"].append(
                    {"id": "n5", "type": "Add", "name": "mix", "params": {}, "position": [0, 0]}
                ),
                d["edges"].__setitem__(0, {"source": "n1", "target": "n5", "port": 0}),
                d["edges"].append({"source": "n5", "target": "n2", "port": 0}),
                d["edges"].append({"source": "n2", "target": "n5", "port": 1}),
            )
        ).encode(),
        r"would make a loop \('mix' -> 'conv' -> 'mix'\)",
    ),
}


@pytest.mark.parametrize("content, pattern", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_are_refused_naming_the_file_and_left_untouched(
    tmp_path: Path, content: bytes, pattern: str
) -> None:
    path = tmp_path / "bad.nnstudio"
    path.write_bytes(content)
    before = path.stat()
    with pytest.raises(FormatError) as refused:
        GraphModel.load(path)
    message = str(refused.value)
    assert str(path) in message
    assert __import__("re").search(pattern, message), message
    assert path.read_bytes() == content
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_newer_file_has_its_own_error_type(tmp_path: Path) -> None:
    path = tmp_path / "future.nnstudio"
    path.write_text(_with(lambda d: d.__setitem__("format_version", project.FORMAT_VERSION + 1)))
    with pytest.raises(UnsupportedFormatVersionError):
        GraphModel.load(path)


def test_missing_file_and_folder_are_format_errors(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"Cannot open .*nothing\.nnstudio: No such file"):
        GraphModel.load(tmp_path / "nothing.nnstudio")
    with pytest.raises(FormatError, match="Cannot open"):
        GraphModel.load(tmp_path)


def test_loads_names_its_source() -> None:
    with pytest.raises(FormatError, match=r"^clipboard, line 1, column 2: not valid JSON"):
        project.loads("{nodes", source="clipboard")


# --- saving is atomic ---------------------------------------------------------------------------


def test_a_crash_while_replacing_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "work.nnstudio"
    _small_graph().save(path)
    old = path.read_bytes()
    changed = _small_graph()
    changed.rename("n2", "renamed")

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        changed.save(path)
    assert path.read_bytes() == old
    assert sorted(tmp_path.iterdir()) == [path], "a temporary file was left behind"


def test_a_crash_while_writing_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "work.nnstudio"
    _small_graph().save(path)
    old = path.read_bytes()

    def crash(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", crash)
    with pytest.raises(OSError, match="Input/output error"):
        _small_graph().save(path)
    assert path.read_bytes() == old
    assert sorted(tmp_path.iterdir()) == [path]


def test_an_unserialisable_setting_fails_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "work.nnstudio"
    g = _small_graph()
    g.save(path)
    old = path.read_bytes()
    g.training["callback"] = object()
    with pytest.raises(TypeError):
        g.save(path)
    assert path.read_bytes() == old
    assert sorted(tmp_path.iterdir()) == [path]


def test_saving_keeps_the_files_permissions(tmp_path: Path) -> None:
    path = tmp_path / "shared.nnstudio"
    _small_graph().save(path)
    os.chmod(path, 0o644)
    _small_graph().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_new_file_is_not_private(tmp_path: Path) -> None:
    """mkstemp makes 0600 files; a saved project must be as readable as any new file."""
    path = tmp_path / "new.nnstudio"
    _small_graph().save(path)
    probe = tmp_path / "probe"
    probe.write_text("")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(probe.stat().st_mode)


# --- format 3: normalisation moved from the training settings onto the Input ----------------------


def _version_2(training: dict, input_params: dict) -> str:
    data = _valid_record()
    data["format_version"] = 2
    data["training"] = training
    data["nodes"][0]["params"] = input_params
    return json.dumps(data)


@pytest.mark.parametrize(
    ("training", "dtype", "expected"),
    [
        ({}, "float32", "standard"),  # "auto" meant standardise ...
        ({"normalize": "auto", "target": "input"}, "float32", "minmax"),  # ... or min-max to reconstruct
        ({"normalize": "minmax"}, "float32", "minmax"),
        ({"normalize": "none"}, "float32", "none"),
        ({"normalize": "standard"}, "int64", "none"),  # token ids were never normalised
    ],
)
def test_version_2_normalisation_moves_onto_the_input(tmp_path: Path, training, dtype, expected) -> None:
    path = tmp_path / "old.nnstudio"
    path.write_text(_version_2(training, {"shape": [1, 8, 8], "dtype": dtype}))
    loaded = GraphModel.load(path)
    params = loaded.node("n1").params
    assert params["normalize"] == expected and params["normalize_per"] == "auto"
    assert "normalize" not in loaded.training


def test_saving_never_touches_the_process_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the umask means setting it: a thread saving meanwhile made a world-writable file."""

    def refuse(*args):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", refuse)
    graph = _small_graph()
    graph.save(tmp_path / "new.nnstudio")  # a new file
    graph.save(tmp_path / "new.nnstudio")  # and an existing one
    assert GraphModel.load(tmp_path / "new.nnstudio").to_dict() == graph.to_dict()


def test_concurrent_saves_keep_the_umask_and_private_bits(tmp_path: Path) -> None:
    import threading

    graph = _small_graph()
    old = os.umask(0o022)
    try:

        def work(k: int) -> None:
            for i in range(150):
                graph.save(tmp_path / f"t{k}_{i}.nnstudio")

        threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {0o644}
