"""'About this network': an example's description is in view, and a user's own note is
edited as undoable steps and saved with the project."""

from __future__ import annotations

from nnstudio.api import Graph
from nnstudio.gui.document import Document
from nnstudio.resources import examples_dir


def test_an_opened_example_shows_its_description_beside_the_canvas(window):
    path = examples_dir() / "resnet_block.nnstudio"
    assert window.open_example(path)
    about = window.about
    assert about.text.toPlainText() == Graph.load(path).description
    assert about.title.text() == f"About this network: {window.document.graph.name}"
    assert about.isVisible()  # its tab is the one raised
    assert not window.document.modified  # showing it changed nothing


def test_a_users_note_is_one_undo_step_and_saved(make_window, qtbot, tmp_path):
    graph = Graph(name="mine")
    graph.add("Input", shape=(4,))
    window = make_window(Document(graph))
    about = window.about
    window.docks["about"].raise_()
    assert about.text.toPlainText() == ""
    about.text.setFocus()
    qtbot.keyClicks(about.text, "Try a wider layer.")
    about.commit()  # the pause after typing (or leaving the box) ends the edit
    assert graph.description == "Try a wider layer."
    assert window.document.modified
    assert window.document.undo_stack.undoText() == "Edit the network's description"

    window.document.undo_stack.undo()
    assert graph.description == ""
    assert about.text.toPlainText() == ""
    window.document.undo_stack.redo()
    assert about.text.toPlainText() == "Try a wider layer."

    path = tmp_path / "mine.nnstudio"
    assert window._write(path)
    assert Graph.load(path).description == "Try a wider layer."


def test_typing_then_saving_at_once_keeps_the_note(make_window, qtbot, tmp_path):
    window = make_window(Document(Graph(name="quick")))
    window.docks["about"].raise_()
    window.about.text.setFocus()
    qtbot.keyClicks(window.about.text, "Saved before the pause")
    path = tmp_path / "quick.nnstudio"
    assert window._write(path)  # Ctrl+S right after typing
    assert Graph.load(path).description == "Saved before the pause"


def test_the_note_cannot_change_while_training(make_window):
    window = make_window(Document(Graph(name="locked")))
    window.set_editing_locked(True)
    assert window.about.text.isReadOnly()
    window.set_editing_locked(False)
    assert not window.about.text.isReadOnly()
