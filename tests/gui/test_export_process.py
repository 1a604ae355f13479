"""File › Export keeps the window live: the files are written by ``nnstudio export`` in a child
process (gui/export_worker.py), the same files the command line writes, with progress shown, one
export at a time, errors as sentences, and in the PyInstaller app as well."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QProgressDialog

from nnstudio import resources
from nnstudio.api import Graph
from nnstudio.gui import dialogs, export_action, export_worker
from nnstudio.gui.document import Document
from nnstudio.gui.export_dialog import ExportRequest, TrainedRun

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("export_stall_probe.py")
CLI = (sys.executable, "-m", "nnstudio")
STALL_LIMIT_MS = 500  # on a helper thread, as before: 1.5-1.9 s on the first export with ONNX


class _Answers:
    """Answers File › Export's dialogs with ``request`` and records what the user is shown."""

    def __init__(self, monkeypatch, request: ExportRequest) -> None:
        self.request = request
        self.confirmed: list[tuple[Path, list[str]]] = []
        self.errors: list[tuple[str, str]] = []
        monkeypatch.setattr(dialogs, "ask_export", lambda parent, options: self.request)
        monkeypatch.setattr(
            dialogs,
            "show_exported",
            lambda parent, folder, files, note="": self.confirmed.append((folder, list(files))),
        )
        monkeypatch.setattr(
            dialogs, "show_error", lambda parent, title, text: self.errors.append((title, text))
        )


def _lenet() -> Graph:
    return Graph.load(resources.examples_dir() / "lenet5.nnstudio")


@pytest.mark.slow
def test_the_first_export_with_onnx_keeps_the_window_live(tmp_path):
    if export_action.onnx_problem():
        pytest.skip(export_action.onnx_problem())
    # A fresh interpreter, as a user's first export of a session: torch is not imported yet.
    folder = tmp_path / "out"
    example = resources.examples_dir() / "lenet5.nnstudio"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NNSTUDIO_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, str(PROBE), str(example), str(folder), "--onnx"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == [] and outcome["written"] == ["model.py", "model.onnx"]
    assert (folder / "model.onnx").stat().st_size > 0
    assert outcome["longest_stall_ms"] < STALL_LIMIT_MS, (
        f"the window stalled {outcome['longest_stall_ms']:.0f} ms during a {outcome['export_s']:.1f} s export"
    )


def test_export_code_that_holds_the_gil_cannot_stall_the_window(make_window, tmp_path, monkeypatch):
    # Importing torch and tracing for ONNX hold the GIL for long stretches; stand in for them,
    # deterministically, with a C call that keeps the GIL for 1.5 s wherever the export runs in
    # this process. On a helper thread (as before) the window froze for all of it.
    import ctypes
    import importlib

    compiler_export = importlib.import_module("nnstudio.compiler.export")  # the module, not its function

    real_export = compiler_export.export

    def export_holding_the_gil(*args, **kwargs):
        ctypes.PyDLL(None).usleep(1_500_000)  # PyDLL: the GIL stays held during the call
        return real_export(*args, **kwargs)

    monkeypatch.setattr(compiler_export, "export", export_holding_the_gil)
    window = make_window(Document(_lenet()))
    answers = _Answers(monkeypatch, ExportRequest(tmp_path / "out", None))
    gaps, last = [], [0.0]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    last[0] = time.perf_counter()
    window.act_export.trigger()
    tick()
    timer.stop()
    assert answers.confirmed == [(tmp_path / "out", ["model.py"])]
    # Under the 1.5 s held, with room for a loaded machine and this test process's own pauses
    # (a garbage collection with torch loaded, forking a large process).
    longest = 1000 * max(gaps)
    assert longest < 1000, (
        f"the window stalled {longest:.0f} ms; gaps over 100 ms: {[round(1000 * g) for g in gaps if g > 0.1]}"
    )


@pytest.mark.slow
def test_the_app_writes_the_files_the_command_line_writes(make_window, tmp_path, monkeypatch):
    from safetensors import safe_open

    from nnstudio.compiler.codegen import compile_graph
    from nnstudio.compiler.export import TrainedOn
    from nnstudio.training.run_folder import export_trained

    graph = _lenet()
    run_folder = tmp_path / "run1"
    trained_on = TrainedOn("classification", "cross_entropy", tuple(f"digit {i}" for i in range(10)))
    assert export_trained(graph, compile_graph(graph), run_folder, trained_on).problem is None
    weights = run_folder / "weights.safetensors"
    graph.runs = [{"number": 1, "settings": {}, "outcome": "finished", "folder": str(run_folder)}]
    window = make_window(Document(graph))
    request = ExportRequest(tmp_path / "app", TrainedRun(1, "Run 1", weights), train_script=True)
    answers = _Answers(monkeypatch, request)
    window.act_export.trigger()
    assert answers.errors == []
    ((folder, names),) = answers.confirmed
    expected = ["model.py", "weights.safetensors", "predict.py", "train.py", "nnstudio_recipe.py"]
    assert folder == tmp_path / "app" and names == expected

    project_file = tmp_path / "lenet5.nnstudio"
    graph.save(project_file)
    cli = tmp_path / "cli"
    subprocess.run(
        [*CLI, "export", str(project_file), "-o", str(cli), "--weights", str(weights), "--train-script"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert sorted(p.name for p in cli.iterdir()) == sorted(p.name for p in folder.iterdir())
    for name in expected:
        if name == "weights.safetensors":  # safetensors orders its metadata differently each process
            with safe_open(folder / name, "pt") as app, safe_open(cli / name, "pt") as by_cli:
                assert app.metadata() == by_cli.metadata() and "digit 3" in app.metadata()["classes"]
                assert sorted(app.keys()) == sorted(by_cli.keys())
                assert all(app.get_tensor(k).equal(by_cli.get_tensor(k)) for k in app.keys())  # noqa: SIM118 (not a dict)
        else:
            assert (folder / name).read_bytes() == (cli / name).read_bytes(), name


def test_progress_shows_and_a_second_export_waits_for_the_first(make_window, tmp_path, monkeypatch):
    monkeypatch.setattr(export_action, "BUSY_DELAY_MS", 0)  # show the progress window at once
    window = make_window(Document(_lenet()))
    answers = _Answers(monkeypatch, ExportRequest(tmp_path / "first", None))
    seen: dict[str, object] = {}

    def during() -> None:  # polled while the first export runs, until its progress window shows
        progress = [d.labelText() for d in window.findChildren(QProgressDialog) if d.isVisible()]
        if seen or not progress:
            return
        seen.update(running=export_action.export_running(), progress=progress)
        seen["status"] = window.statusBar().currentMessage()
        answers.request = ExportRequest(tmp_path / "second", None)
        window.act_export.trigger()  # as the shortcut would: refused while the first runs

    poll = QTimer()
    poll.timeout.connect(during)
    poll.start(10)
    window.act_export.trigger()
    poll.stop()
    assert seen["running"] is True
    assert seen["status"] == f"Exporting to {tmp_path / 'first'}…"
    assert any(str(tmp_path / "first") in text for text in seen["progress"])
    (title, text) = answers.errors[0]
    assert title == "Export already running" and "wait for it to finish" in text
    assert answers.confirmed == [(tmp_path / "first", ["model.py"])]
    assert not (tmp_path / "second").exists()
    assert not export_action.export_running() and window.statusBar().currentMessage() == ""
    assert not [d for d in window.findChildren(QProgressDialog) if d.isVisible()]

    answers.errors.clear()
    window.act_export.trigger()  # once the first has finished, the next one runs
    assert answers.errors == [] and answers.confirmed[-1] == (tmp_path / "second", ["model.py"])


def test_a_folder_that_cannot_be_made_is_a_sentence(make_window, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("a file, not a folder", encoding="utf-8")
    folder = tmp_path / "notes.txt" / "export"
    window = make_window(Document(_lenet()))
    answers = _Answers(monkeypatch, ExportRequest(folder, None))
    window.act_export.trigger()
    assert answers.errors == [("Cannot export", f"Could not write to {folder}: Not a directory.")]
    assert answers.confirmed == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("raise RuntimeError('the ONNX tooling broke')", "RuntimeError: the ONNX tooling broke"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "stopped unexpectedly"),
    ],
)
def test_an_export_process_that_fails_is_told_not_crashed(make_window, tmp_path, monkeypatch, code, expected):
    monkeypatch.setattr(export_worker, "nnstudio_command", lambda arguments: (sys.executable, ["-c", code]))
    window = make_window(Document(_lenet()))
    answers = _Answers(monkeypatch, ExportRequest(tmp_path / "out", None))
    window.act_export.trigger()
    ((title, text),) = answers.errors
    assert title == "Export failed" and expected in text
    assert answers.confirmed == [] and not export_action.export_running()
    window.act_export.trigger()  # the editor is still usable, and so is export
    assert len(answers.errors) == 2


def test_no_room_for_the_project_copy_is_a_sentence(make_window, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_worker.tempfile, "mkdtemp", full)
    window = make_window(Document(_lenet()))
    answers = _Answers(monkeypatch, ExportRequest(tmp_path / "out", None))
    window.act_export.trigger()
    ((title, text),) = answers.errors
    assert title == "Export failed" and text.endswith(": No space left on device.")
    assert not export_action.export_running()


def test_the_pyinstaller_app_runs_itself_as_the_export_command(make_window, tmp_path, monkeypatch):
    # The app folder's executable has no -m: it is packaging/nnstudio_app.py, frozen. Stand in for
    # it with a program that runs that very file, and say we are frozen as PyInstaller does.
    app = tmp_path / "nnstudio"
    app.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{REPO / "packaging" / "nnstudio_app.py"}" "$@"\n')
    app.chmod(app.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app))
    assert export_worker.nnstudio_command(["export", "x"]) == (str(app), ["export", "x"])

    from nnstudio.compiler.codegen import generate

    graph = _lenet()
    window = make_window(Document(graph))
    answers = _Answers(monkeypatch, ExportRequest(tmp_path / "out", None))
    window.act_export.trigger()
    assert answers.errors == [] and answers.confirmed == [(tmp_path / "out", ["model.py"])]
    assert (tmp_path / "out" / "model.py").read_text(encoding="utf-8") == generate(graph).src
