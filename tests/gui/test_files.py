"""Files: save and reopen, the modified mark, the unsaved-changes prompt, corrupt files,
recent files, examples, files dropped on the window."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, QUrl
from PySide6.QtWidgets import QApplication, QMessageBox

from nnstudio import resources
from nnstudio.core import project
from nnstudio.gui import dialogs, settings
from nnstudio.gui.document import Document
from nnstudio.gui.main_window import open_windows

from .helpers import chain, drop_mime, state


def test_save_close_and_reopen_gives_the_same_graph(make_window, tmp_path, monkeypatch, example_path):
    first = make_window()
    assert first.open_example(example_path)
    graph = first.document.graph
    path = tmp_path / "saved.nnstudio"
    monkeypatch.setattr(dialogs, "ask_save_path", lambda parent, suggested: str(tmp_path / "saved"))
    first.document.add_node("ReLU", (900, 400))  # an edit, so there is something to save
    assert first.windowTitle().startswith(f"{graph.name}[*]") and first.isWindowModified()
    assert first.save()
    assert path.exists() and not first.isWindowModified()
    assert first.windowTitle() == "saved.nnstudio[*] — nnstudio"
    saved = state(graph)
    training = dict(graph.training)
    assert first.close()

    second = make_window()
    assert second.open_path(path)
    assert state(second.document.graph) == saved
    assert second.document.graph.training == training
    assert not second.document.modified
    assert settings.recent_files()[0] == str(path.resolve())


def test_opening_a_corrupt_file_shows_an_error_and_changes_nothing(make_window, tmp_path, monkeypatch):
    window = make_window(Document(chain("Linear", shape=(4,))))
    window.document.add_node("ReLU", (0, 200))
    before = state(window.document.graph)
    corrupt = tmp_path / "broken.nnstudio"
    raw = b'{"app": "nnstudio", "format_version": 2, "nodes": [ {"id": "n1", "type"'
    corrupt.write_bytes(raw)
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: shown.append((title, text)))

    assert not window.open_path(corrupt)

    assert len(shown) == 1
    assert str(corrupt) in shown[0][1] and "not valid JSON" in shown[0][1]
    assert state(window.document.graph) == before and window.document.modified
    assert corrupt.read_bytes() == raw
    assert window.document.path is None


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(make_window, monkeypatch):
    window = make_window()
    window.document.add_node("Input", (0, 0))
    answers = iter(["cancel", "discard"])
    asked = []
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: asked.append(name) or next(answers))
    assert not window.close()
    assert window.isVisible() and window in open_windows()
    assert window.close()
    assert asked == ["Untitled", "Untitled"]
    assert window not in open_windows()


def test_new_asks_before_dropping_unsaved_work_and_save_answer_saves(make_window, tmp_path, monkeypatch):
    window = make_window()
    window.document.add_node("Input", (0, 0))
    monkeypatch.setattr(dialogs, "ask_save_changes", lambda parent, name: "save")
    monkeypatch.setattr(dialogs, "ask_save_path", lambda parent, suggested: str(tmp_path / "first.nnstudio"))
    assert window.new_document()
    assert (tmp_path / "first.nnstudio").exists()
    assert not window.document.graph.nodes and window.document.path is None


def test_a_file_dropped_on_the_window_opens(make_window, tmp_path):
    path = tmp_path / "dropped.nnstudio"
    project.save(chain("Tanh", shape=(3,)), path)
    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop_mime(window.view, mime, QPointF(0, 0))
    QApplication.processEvents()
    assert window.document.path == path
    assert [n.type for n in window.document.graph.nodes.values()] == ["Input", "Tanh", "Output"]


def test_examples_open_as_unsaved_copies_and_save_asks_for_a_new_place(
    make_window, monkeypatch, example_path
):
    window = make_window()
    original = example_path.read_bytes()
    assert window.open_example(example_path)
    assert window.document.path is None
    asked = []
    monkeypatch.setattr(dialogs, "ask_save_path", lambda parent, suggested: asked.append(suggested))
    assert not window.save()  # cancelled in the dialog
    assert asked and Path(asked[0]).resolve() != example_path.resolve()
    assert example_path.read_bytes() == original


def test_the_examples_gallery_lists_every_bundled_example_with_its_description(window, qtbot, monkeypatch):
    from nnstudio.gui.examples import ExamplesDialog

    dialog = ExamplesDialog(window)
    qtbot.addWidget(dialog)
    titles = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert len(titles) == len(resources.example_files())
    row = next(i for i, t in enumerate(titles) if t.startswith("LeNet-5"))
    dialog.list.setCurrentRow(row)
    assert "LeCun" in dialog.details.text()
    assert dialog.selected_path().name == "lenet5.nnstudio"
    monkeypatch.setattr(ExamplesDialog, "exec", lambda self: (self.list.setCurrentRow(row), 1)[1])
    window.act_examples.trigger()
    assert window.document.graph.name == "LeNet-5" and window.document.path is None


def test_recent_files_menu_lists_saved_projects_and_reopens_them(make_window, tmp_path):
    paths = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.nnstudio"
        project.save(chain("ReLU", shape=(2,)), path)
        paths.append(path)
        settings.add_recent_file(path)
    window = make_window()
    window.recent_menu.aboutToShow.emit()
    entries = [a for a in window.recent_menu.actions() if a.toolTip().endswith(".nnstudio")]
    assert [a.toolTip() for a in entries] == [str(p.resolve()) for p in reversed(paths)]
    entries[1].trigger()
    assert window.document.path == paths[0]
    paths[1].unlink()
    assert settings.recent_files() == [str(paths[0].resolve())]  # vanished files drop out
