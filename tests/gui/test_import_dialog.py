"""File › Import PyTorch model…: list a file's models, import one off the GUI thread, open it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from safetensors.torch import load_file

from nnstudio.gui.import_dialog import WARNING, ImportDialog, show_imported

MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
            self.bn = nn.BatchNorm2d(channels)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)) + x)


    class TinyNet(nn.Module):
        def __init__(self, width=4, classes=3):
            super().__init__()
            if width > 64:
                raise ValueError("width is too large for this demo")
            self.stem = nn.Conv2d(1, width, 3, padding=1)
            self.blocks = nn.Sequential(Block(width), Block(width))
            self.head = nn.Linear(width, classes)

        def forward(self, x):
            x = self.blocks(self.stem(x))
            return self.head(x.mean(dim=(2, 3)))
    """
)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(MODEL)
    return path


def _list(qtbot, dialog: ImportDialog, path: Path) -> None:
    dialog.path_edit.setText(str(path))
    dialog.list_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20000)


def test_the_dialog_says_it_runs_the_file_and_lists_its_models(qtbot, model_file: Path) -> None:
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    assert any(WARNING in label.text() for label in dialog.findChildren(type(dialog.status)))
    _list(qtbot, dialog, model_file)
    assert [dialog.class_combo.itemText(i) for i in range(dialog.class_combo.count())] == ["Block", "TinyNet"]
    assert dialog.import_button.isEnabled()
    assert dialog.out_edit.text().endswith("Block.nnstudio")


def test_an_import_opens_as_a_project_with_its_weights_and_a_linked_report(
    qtbot, window, model_file: Path, tmp_path: Path
) -> None:
    dialog = ImportDialog(window)
    qtbot.addWidget(dialog)
    dialog.imported.connect(lambda result, out: show_imported(window, result, out))
    _list(qtbot, dialog, model_file)
    dialog.class_combo.setCurrentText("TinyNet")
    dialog.args_edit.setText('{"width": 6}')
    dialog.shape_edit.setText("1,8,8")
    out = tmp_path / "tiny_net.nnstudio"
    dialog.out_edit.setText(str(out))
    with qtbot.waitSignal(dialog.imported, timeout=30000):
        dialog.import_button.click()
        assert dialog.busy and dialog.progress.isVisibleTo(dialog)  # the work runs on its own thread
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)

    assert window.document.path == out
    graph = window.document.graph
    blocks = [n for n in graph.nodes.values() if n.type == "Block"]
    assert len(blocks) == 1 and blocks[0].params["repeat"] == 2
    assert "stem.weight" in load_file(tmp_path / "tiny_net.weights.safetensors")

    panel = window.import_report
    texts = [panel.item(i).text() for i in range(panel.count())]
    assert texts[0].startswith("Imported TinyNet")  # then whether the outputs match, in the open
    assert texts[1].startswith("Verified in eval mode") and panel.item(1).font().bold()
    linked = next(panel.item(i) for i in range(panel.count()) if "'stem'" in panel.item(i).text())
    panel.itemClicked.emit(linked)
    assert [graph.nodes[n].name for n in window.selected_node_ids()] == ["stem"]

    # Continue trains on from the imported weights (layers edited since start fresh).
    assert window.training.act_continue.isEnabled()
    carried = window.training.last_outcome.weights
    stem = graph.node_by_name("stem").id
    assert carried.weights[stem]["weight"].equal(
        load_file(tmp_path / "tiny_net.weights.safetensors")["stem.weight"]
    )


def test_a_constructor_that_raises_is_a_sentence_and_the_dialog_stays(qtbot, model_file: Path) -> None:
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    _list(qtbot, dialog, model_file)
    dialog.class_combo.setCurrentText("TinyNet")
    dialog.args_edit.setText('{"width": 100}')
    dialog.shape_edit.setText("1,8,8")
    dialog.out_edit.setText(str(model_file.with_name("never.nnstudio")))
    dialog.import_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)
    assert "ValueError: width is too large for this demo" in dialog.status.text()
    assert dialog.isVisible() or dialog.result() == 0
    assert not model_file.with_name("never.nnstudio").exists()


MLP = textwrap.dedent(
    """
    from torch import nn


    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(2, 16)
            self.out = nn.Linear(16, 2)

        def forward(self, x):
            return self.out(self.hidden(x).relu())
    """
)


def test_continue_trains_an_imported_model_on_from_its_weights(qtbot, window, tmp_path: Path) -> None:
    from nnstudio.gui.import_dialog import import_model

    source = tmp_path / "mlp.py"
    source.write_text(MLP)
    out = str(tmp_path / "mlp.nnstudio")
    result = import_model(str(source), "MLP", "", "2", out)
    show_imported(window, result, out)
    window.document.graph.training.update({"dataset": "circles", "epochs": 1, "device": "cpu"})
    controller = window.training
    with qtbot.waitSignal(controller.run_finished, timeout=60000) as finished:
        assert controller.continue_training()
    outcome = finished.args[0]
    assert outcome.weights is not None and not getattr(outcome.final, "message", "")


def test_the_report_panel_sets_a_foreign_module_line_apart_and_it_selects_the_node(qtbot) -> None:
    import torch
    from torch import nn

    from nnstudio.compiler.importer import from_torch
    from nnstudio.gui.import_dialog import ImportReportPanel

    result = from_torch(
        nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)), torch.randn(2, 3, 8, 8)
    )
    panel = ImportReportPanel()
    qtbot.addWidget(panel)
    panel.show_report(result.report)
    lines = [panel.item(i) for i in range(panel.count())]
    (foreign,) = [item for item in lines if "kept as a foreign module" in item.text()]
    assert foreign.font().bold() and not any(item.font().bold() for item in lines if "became" in item.text())
    assert lines.index(foreign) == 2  # read right after the summary and the verification
    with qtbot.waitSignal(panel.node_activated) as chosen:
        panel.itemClicked.emit(foreign)
    assert result.graph.nodes[chosen.args[0]].type == "Foreign"


GATE_LIBRARY = textwrap.dedent(
    """
    import torch
    from torch import nn


    class WidthGate(nn.Module):
        \"\"\"A clamped gate (no catalog layer); its width is stored under another name.\"\"\"

        def __init__(self, width):
            super().__init__()
            self.gate = nn.Linear(width, width)

        def forward(self, x):
            return x * torch.sigmoid(self.gate(x)).clamp(min=0.25)
    """
)

GATED = textwrap.dedent(
    """
    import torch
    from torch import nn

    from dialog_gate_library import WidthGate


    class TinyGatedMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 16)
            self.head = WidthGate(16)

        def forward(self, x):
            return self.head(torch.relu(self.fc(x)))
    """
)


@pytest.mark.parametrize(
    ("field", "text", "says"),
    [
        ("args_edit", "{width: 6}", "The constructor arguments are not valid JSON"),
        ("args_edit", "6", "The constructor arguments must be a JSON object of keywords or a JSON list"),
        ("foreign_edit", "head=[16]", "The foreign module arguments are not valid JSON"),
        ("foreign_edit", "[16]", "must be a JSON object from a module's path to the list of its arguments"),
        ("foreign_edit", '{"head": 16}', "The foreign module arguments for 'head' must be a list"),
        ("foreign_edit", '{"head": [{"x": 1}]}', "only numbers, text, true/false, null"),
    ],
)
def test_argument_fields_are_checked_as_typed_with_a_sentence(
    qtbot, model_file: Path, field: str, text: str, says: str
) -> None:
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    _list(qtbot, dialog, model_file)
    assert dialog.import_button.isEnabled() and not dialog.args_problem.isVisibleTo(dialog)
    getattr(dialog, field).setText(text)
    assert says in dialog.args_problem.text() and dialog.args_problem.isVisibleTo(dialog)
    assert not dialog.import_button.isEnabled()
    getattr(dialog, field).setText("")  # fixed: the complaint goes, Import comes back
    assert not dialog.args_problem.isVisibleTo(dialog) and dialog.import_button.isEnabled()


def test_foreign_module_arguments_from_the_dialog_reach_the_import(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    from nnstudio.api import Graph
    from nnstudio.core import project

    # The gate's class lives in an importable module, so the exported code can import it.
    (tmp_path / "dialog_gate_library.py").write_text(GATE_LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "gated.py"
    source.write_text(GATED)
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    _list(qtbot, dialog, source)
    dialog.class_combo.setCurrentText("TinyGatedMLP")
    dialog.shape_edit.setText("12")
    out = tmp_path / "gated.nnstudio"
    dialog.out_edit.setText(str(out))
    dialog.import_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30000)
    asked = dialog.status.text()  # the gate's width cannot be read off it: the dialog says where to give it
    assert (
        "'head' (WidthGate)" in asked
        and 'give them under Foreign module arguments, e.g. {"head": [...]}' in asked
    )
    assert "--foreign-args" not in asked and not out.exists()

    dialog.foreign_edit.setText('{"head": [16]}')
    with qtbot.waitSignal(dialog.imported, timeout=30000):
        dialog.import_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
    (head,) = [n for n in project.load(out, Graph).nodes.values() if n.type == "Foreign"]
    assert head.params["target"] == "dialog_gate_library:WidthGate" and head.params["args"] == (16,)


FLEXIBLE = textwrap.dedent(
    """
    import torch.nn.functional as F
    from torch import nn


    class Flexible(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            if x.ndim == 3:  # torch.fx cannot take this branch; torch.export can
                x = x.unsqueeze(1)
            return self.fc(F.relu(self.conv(x)).mean(dim=(2, 3)))
    """
)


def test_a_model_fx_cannot_trace_imports_through_torch_export_off_the_gui_thread(
    qtbot, window, tmp_path: Path
) -> None:
    source = tmp_path / "flexible.py"
    source.write_text(FLEXIBLE)
    dialog = ImportDialog(window)
    qtbot.addWidget(dialog)
    dialog.imported.connect(lambda result, out: show_imported(window, result, out))
    _list(qtbot, dialog, source)
    dialog.shape_edit.setText("8,8")
    dialog.out_edit.setText(str(tmp_path / "flexible.nnstudio"))
    with qtbot.waitSignal(dialog.imported, timeout=60000):
        dialog.import_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)
    panel = window.import_report
    texts = [panel.item(i).text() for i in range(panel.count())]
    assert texts[1].startswith("Verified in eval mode") and "outputs match" in texts[1]
    assert any(t.startswith("Flexible was traced with torch.export because torch.fx failed") for t in texts)
    assert {n.type for n in window.document.graph.nodes.values()} >= {"Conv2d", "Reshape", "Linear"}
