"""A save killed mid-way (kill -9) leaves a hidden temporary file; the next save or
open of that project removes it, and never one that a live writer is still filling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from nnstudio.core import atomic
from nnstudio.core.graph import GraphModel

KILLED_MID_SAVE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from nnstudio.core.atomic import replace_atomically

    def write(handle):
        handle.write(b"half a project")
        handle.flush()
        print("writing", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    replace_atomically(Path(sys.argv[1]), write)
""")


def _temps(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def _kill_during_save(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED_MID_SAVE, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL and result.stdout == "writing\n", result.stderr[-2000:]


def _graph() -> GraphModel:
    graph = GraphModel(name="kept")
    graph.connect(graph.add("Input", shape=[4]), graph.add("Output"))
    return graph


def test_the_next_save_removes_what_a_killed_save_left(tmp_path: Path) -> None:
    path = tmp_path / "model.nnstudio"
    _graph().save(path)
    _kill_during_save(path)
    assert len(_temps(path)) == 1  # the kill left its temporary (and the old file intact)
    assert GraphModel.load(path).name == "kept"
    _kill_during_save(path)
    _graph().save(path)
    assert _temps(path) == []


def test_opening_removes_what_a_killed_save_left(tmp_path: Path) -> None:
    path = tmp_path / "model.nnstudio"
    _graph().save(path)
    _kill_during_save(path)
    GraphModel.load(path)
    assert _temps(path) == []
    other = tmp_path / "model.nnstudio.bak"  # other files' temporaries are not ours to touch
    _kill_during_save(other)
    GraphModel.load(path)
    assert len(_temps(other)) == 1


def test_a_temporary_still_being_written_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "model.nnstudio"
    started, release, failures = threading.Event(), threading.Event(), []

    def slow_write(handle) -> None:
        handle.write(b"{}")
        started.set()
        release.wait(30)

    def first_save() -> None:
        try:
            atomic.replace_atomically(path, slow_write)
        except Exception as exc:
            failures.append(exc)

    writer = threading.Thread(target=first_save)
    writer.start()
    assert started.wait(30)
    _graph().save(path)  # a second save of the same file meanwhile cleans up, but not the live one
    assert len(_temps(path)) == 1
    release.set()
    writer.join(30)
    assert failures == [] and path.read_text() == "{}" and _temps(path) == []


def test_a_live_process_s_temporary_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "model.nnstudio"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        temp = path.with_name(f".{path.name}.{live.pid}-abcd1234{atomic.TEMP_SUFFIX}")
        temp.write_text("someone else's save")
        _graph().save(path)
        assert temp.exists()
    finally:
        live.kill()
        live.wait()
    assert os.path.exists(temp)
    GraphModel.load(path)
    assert not temp.exists()
