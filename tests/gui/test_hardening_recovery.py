"""Recovery files are untrusted input: a damaged autosave record is set aside with
a notice and never stops the editor from starting."""

from __future__ import annotations

import pytest

from nnstudio.core import project
from nnstudio.gui import app, dialogs, recovery
from nnstudio.gui.main_window import open_windows

from .helpers import chain


@pytest.mark.parametrize(
    "record",
    [
        '{"saved_at": "yesterday"}',
        "[1]",
        "1e400",
        '{"saved_at": 1e300}',
        '{"original": 5}',
        '{"name": ["x"]}',
        '{"saved_at": true}',
        "{",
        '"text"',
        "null",
    ],
)
def test_a_damaged_record_is_set_aside_and_the_editor_starts(record, monkeypatch, capsys) -> None:
    folder = recovery.recovery_dir()
    copy = folder / f"abc{project.SUFFIX}"
    chain("ReLU", shape=(3,)).save(copy)
    (folder / "abc.json").write_text(record)
    asked: list = []
    monkeypatch.setattr(dialogs, "ask_recover", lambda parent, items: asked.append(items) or True)

    windows = app.open_start_windows([])
    try:
        assert len(windows) == 1 and asked == []
        notice = capsys.readouterr().err
        assert "set aside as abc.json.unreadable" in notice and str(copy) in notice
        assert "set aside" in windows[0].statusBar().currentMessage()
        assert copy.exists() and (folder / "abc.json.unreadable").read_text() == record
        assert recovery.leftovers() == []  # not offered again
    finally:
        monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "discard")
        for window in windows:
            window.close()
    assert not open_windows()


def test_a_good_record_beside_a_damaged_one_is_still_offered(monkeypatch) -> None:
    folder = recovery.recovery_dir()
    for key, record in (
        ("bad", "[1]"),
        ("good", '{"original": null, "name": "Mine", "saved_at": 1700000000}'),
    ):
        chain("ReLU", shape=(3,)).save(folder / f"{key}{project.SUFFIX}")
        (folder / f"{key}.json").write_text(record)
    notices: list[str] = []
    entries = recovery.leftovers(notices)
    assert [e.name for e in entries] == ["Mine"] and len(notices) == 1 and "bad.json" in notices[0]
