"""Generated code preview (follows edits), File › Export (folder, weights, clashes, confirmation), a
torch-free start."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QPushButton

from nnstudio.gui import dialogs, export_action
from nnstudio.gui.document import Document
from nnstudio.gui.export_dialog import ExportDialog, ExportOptions, clash_box, exported_box
from nnstudio.gui.panels import code_preview

from .helpers import chain


def _show_code(window, qtbot):
    window.docks["code"].show()
    window.docks["code"].raise_()
    qtbot.waitUntil(lambda: "class" in window.code_preview.code(), timeout=5000)


def test_code_preview_shows_the_generated_model_and_follows_edits(make_window, qtbot, examples_lenet):
    window = make_window()
    window.open_example(examples_lenet)
    _show_code(window, qtbot)
    code = window.code_preview.code()
    assert "nn.Conv2d(1, 6" in code
    conv = window.document.graph.node_by_name("conv1").id
    window.document.set_param(conv, "out_channels", 10)
    qtbot.waitUntil(lambda: "nn.Conv2d(1, 10" in window.code_preview.code(), timeout=5000)
    assert window.code_preview.highlighter.document() is window.code_preview.editor.document()


def test_code_preview_explains_why_there_is_no_code(make_window, qtbot, monkeypatch):
    window = make_window()
    window.document.add_node("Conv2d", (0, 0))  # no Input: cannot compile
    window.docks["code"].show()
    window.docks["code"].raise_()
    window.code_preview.refresh()
    assert window.code_preview.code() == ""
    assert "Input" in window.code_preview.status.text()

    def missing(graph):
        raise ModuleNotFoundError("No module named 'nnstudio.compiler'")

    monkeypatch.setattr(code_preview, "generate_source", missing)
    window.code_preview.refresh()
    assert "not available" in window.code_preview.status.text()


class _Export:
    """Stands in for File › Export's dialogs: answers them and records what they were shown."""

    def __init__(self, monkeypatch, folder, choose=None, clash="cancel", another=None):
        self.options = None
        self.confirmed = []
        self.clashes = []
        self.errors = []
        self.choose = choose or (lambda options: ExportDialog(options).request())
        self.folder, self.clash, self.another = folder, clash, another
        monkeypatch.setattr(dialogs, "ask_export", self._ask)
        monkeypatch.setattr(dialogs, "ask_export_clash", self._ask_clash)
        monkeypatch.setattr(
            dialogs,
            "show_exported",
            lambda parent, folder, files, note="": self.confirmed.append((folder, list(files), note)),
        )
        monkeypatch.setattr(dialogs, "show_error", lambda parent, title, text: self.errors.append(text))
        monkeypatch.setattr(dialogs, "ask_folder", lambda parent, title, directory="": self.another)

    def _ask(self, parent, options):
        self.options = dataclasses.replace(options, folder=self.folder)
        return self.choose(self.options)

    def _ask_clash(self, parent, folder, earlier, foreign):
        self.clashes.append((folder, list(earlier), list(foreign)))
        return self.clash


def test_export_writes_the_code_the_preview_shows(make_window, qtbot, tmp_path, monkeypatch, examples_lenet):
    window = make_window()
    window.open_example(examples_lenet)
    _show_code(window, qtbot)
    _Export(monkeypatch, tmp_path / "out")
    window.act_export.trigger()
    written = (tmp_path / "out" / "model.py").read_text(encoding="utf-8")
    assert written == window.code_preview.code()


def test_export_with_no_run_writes_the_untrained_code_and_says_so(
    make_window, qtbot, tmp_path, monkeypatch, examples_lenet
):
    window = make_window()
    window.open_example(examples_lenet)
    export = _Export(monkeypatch, tmp_path / "out")
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # Ctrl+E, as the README says
    assert export.options.runs == ()
    dialog = ExportDialog(export.options)
    qtbot.addWidget(dialog)
    assert not dialog.weights_combo.isEnabled()
    assert "No run of this project has trained weights yet" in dialog.summary.text()
    assert "Train it (F5)" in dialog.summary.text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.py"]
    ((folder, files, note),) = export.confirmed
    assert folder == tmp_path / "out" and files == ["model.py"] and "untrained" in note


def test_export_of_an_invalid_graph_says_why_and_writes_nothing(window, tmp_path, monkeypatch):
    window.document.add_node("Linear", (0, 0))
    export = _Export(monkeypatch, tmp_path / "out")
    window.act_export.trigger()
    assert export.errors and "Input" in export.errors[0]
    assert export.options is None  # refused before asking anything
    assert not (tmp_path / "out" / "model.py").exists()


def test_a_folder_holding_an_earlier_export_is_replaced_only_when_the_user_says_so(
    window, tmp_path, monkeypatch, examples_lenet
):
    window.open_example(examples_lenet)
    folder = tmp_path / "out"
    export = _Export(monkeypatch, folder, clash="cancel")
    window.act_export.trigger()
    first = (folder / "model.py").stat().st_mtime_ns
    conv = window.document.graph.node_by_name("conv1").id
    window.document.set_param(conv, "out_channels", 10)
    window.act_export.trigger()  # cancelled at the question: the earlier export stays
    assert export.clashes == [(folder, ["model.py"], [])]
    assert "nn.Conv2d(1, 6" in (folder / "model.py").read_text(encoding="utf-8")
    export.clash = "replace"
    window.act_export.trigger()
    assert "nn.Conv2d(1, 10" in (folder / "model.py").read_text(encoding="utf-8")
    assert (folder / "model.py").stat().st_mtime_ns >= first and len(export.confirmed) == 2


def test_files_nnstudio_did_not_write_are_never_replaced_the_user_picks_another_folder(
    window, tmp_path, monkeypatch, examples_lenet
):
    window.open_example(examples_lenet)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.py").write_text("# my own model\n", encoding="utf-8")
    export = _Export(monkeypatch, mine, clash="another", another=str(tmp_path / "other"))
    window.act_export.trigger()
    assert export.clashes == [(mine, [], ["model.py"])]
    assert (mine / "model.py").read_text(encoding="utf-8") == "# my own model\n"
    assert (tmp_path / "other" / "model.py").is_file()
    assert export.confirmed[0][0] == tmp_path / "other"


def test_the_clash_question_speaks_to_a_gui_user(qtbot, tmp_path):
    earlier = clash_box(None, tmp_path, ["model.py", "weights.safetensors"], [])
    foreign = clash_box(None, tmp_path, [], ["model.py"])
    for box in (earlier, foreign):
        qtbot.addWidget(box)
        words = box.text() + box.informativeText() + " ".join(b.text() for b in box.buttons())
        assert "--force" not in words and "overwrite" not in words.lower()
        assert str(tmp_path) in box.text()
    assert "earlier export" in earlier.text() and "Replace Files" in [b.text() for b in earlier.buttons()]
    assert "did not write" in foreign.text() and "replace" not in foreign.answers  # never offered
    foreign.answers["another"].click()
    assert foreign.answer() == "another"


def test_the_confirmation_names_the_folder_and_opens_it(qtbot, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(dialogs, "open_folder", lambda folder: opened.append(folder) or True)
    box = exported_box(None, tmp_path, ["model.py", "weights.safetensors", "predict.py"], "Weights: run 2's.")
    qtbot.addWidget(box)
    assert str(tmp_path) in box.text()
    assert "weights.safetensors" in box.informativeText() and "run 2" in box.informativeText()
    box.open_button.click()
    assert opened == [tmp_path]


def test_onnx_is_offered_only_where_it_can_be_written(qtbot, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a)
    )
    problem = export_action.onnx_problem()
    assert problem and 'pip install "nnstudio[onnx]"' in problem
    dialog = ExportDialog(ExportOptions("net", tmp_path, onnx_problem=problem))
    qtbot.addWidget(dialog)
    assert not dialog.onnx_check.isEnabled() and dialog.onnx_note.text() == problem
    assert dialog.train_check.isEnabled()
    dialog.onnx_check.setChecked(True)  # a disabled box cannot be ticked; even so, it is not asked for
    assert not dialog.request().onnx


def test_the_window_appears_without_importing_torch(tmp_path):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "NNSTUDIO_STARTUP_PROBE": "1",
        "NNSTUDIO_HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "nnstudio"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "nnstudio-shown" in result.stdout
    assert "torch_imported=False" in result.stdout


def test_the_app_opens_a_file_given_on_the_command_line(tmp_path, examples_lenet):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "NNSTUDIO_STARTUP_PROBE": "1",
        "NNSTUDIO_HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "nnstudio", str(examples_lenet)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "window=lenet5.nnstudio" in result.stdout


def test_the_real_dialogs_run_modally_and_return_what_the_user_chose(qtbot, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(dialogs, "open_folder", lambda folder: opened.append(folder) or True)

    def click(name):
        QTimer.singleShot(0, lambda: getattr(QApplication.activeModalWidget(), name).click())

    click("export_button")
    request = dialogs.ask_export(None, ExportOptions("net", tmp_path / "net-export"))
    assert request.folder == tmp_path / "net-export" and request.run is None
    click("open_button")
    dialogs.show_exported(None, tmp_path, ["model.py"], "")
    assert opened == [tmp_path]


def test_weights_of_a_run_before_an_edit_are_refused_with_a_sentence(make_window, tmp_path, monkeypatch):
    from nnstudio.compiler.codegen import compile_graph
    from nnstudio.training.run_folder import export_trained

    graph = chain("Flatten", "Linear", shape=(1, 4, 4))
    run_folder = tmp_path / "run1"
    assert export_trained(graph, compile_graph(graph), run_folder).problem is None
    graph.runs = [{"number": 1, "settings": {}, "outcome": "finished", "folder": str(run_folder)}]
    window = make_window(Document(graph))
    linear = next(n.id for n in graph.nodes.values() if n.type == "Linear")
    window.document.set_param(linear, "out_features", 7)  # edited after run 1
    export = _Export(monkeypatch, tmp_path / "out")
    window.act_export.trigger()
    assert [r.number for r in export.options.runs] == [1]
    (error,) = export.errors
    assert (
        "Run 1's weights do not fit the network as it is now" in error and "export without weights" in error
    )
    assert not (tmp_path / "out" / "weights.safetensors").exists()


def test_browse_starts_in_the_nearest_existing_folder_and_takes_the_choice(qtbot, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(
        dialogs,
        "ask_folder",
        lambda parent, title, directory="": asked.append(directory) or str(tmp_path / "picked"),
    )
    dialog = ExportDialog(ExportOptions("net", tmp_path / "not" / "yet" / "there"))
    qtbot.addWidget(dialog)
    browse = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Browse…")
    browse.click()
    assert asked == [str(tmp_path)]
    assert dialog.request().folder == tmp_path / "picked"
