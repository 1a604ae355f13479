"""File › Export's dialogs: what to write and where, a folder already in use, and where it went.

``ExportDialog`` asks for the folder, whose weights (the latest run's by
default; untrained when no run has any) and whether to add ONNX and
``train.py``. ``clash_box`` asks what to do when the folder holds some of the
files already; ``exported_box`` confirms, with a button that opens the folder.
The flow that uses them is export_action.py; dialogs.py runs them modally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.gui import dialogs, theme

MODEL_FILE, WEIGHTS_FILE, PREDICT_FILE = "model.py", "weights.safetensors", "predict.py"
ONNX_FILE, TRAIN_FILE, RECIPE_FILE = "model.onnx", "train.py", "nnstudio_recipe.py"


@dataclass(frozen=True)
class TrainedRun:
    """A run of this project whose trained weights are on disk."""

    number: int
    description: str  # "Run 3: finished after 2 epochs, accuracy 97.8% (adam, lr 0.002, …)"
    weights: Path  # weights.safetensors in its run folder (or an older run's checkpoint.pt)


@dataclass(frozen=True)
class ExportOptions:
    name: str  # the project's name, for the title
    folder: Path  # the folder suggested
    runs: tuple[TrainedRun, ...] = ()  # newest first
    onnx_problem: str | None = None  # why ONNX cannot be written by this installation


@dataclass(frozen=True)
class ExportRequest:
    folder: Path
    run: TrainedRun | None  # None: untrained, the code only
    onnx: bool = False
    train_script: bool = False

    @property
    def files(self) -> list[str]:
        """The files this export writes, in the order they are listed to the user."""
        names = [MODEL_FILE]
        if self.run is not None:
            names += [WEIGHTS_FILE, PREDICT_FILE]
        if self.onnx:
            names.append(ONNX_FILE)
        if self.train_script:
            names += [TRAIN_FILE, RECIPE_FILE]
        return names


class ExportDialog(QDialog):
    """See the module docstring; ``request()`` is what the user chose."""

    def __init__(self, options: ExportOptions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = options
        self.setWindowTitle(f"Export “{options.name}”")
        self.setMinimumWidth(560)

        self.folder_edit = QLineEdit(str(options.folder))
        self.folder_edit.setObjectName("folder")
        self.folder_edit.textChanged.connect(self._update)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        self.weights_combo = QComboBox()
        for run in options.runs:
            self.weights_combo.addItem(run.description, run)
        self.weights_combo.addItem("None: the network's code only, untrained", None)
        self.weights_combo.setEnabled(bool(options.runs))
        self.weights_combo.currentIndexChanged.connect(self._update)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        self.onnx_check = QCheckBox(f"{ONNX_FILE}: ONNX, checked against PyTorch with ONNX Runtime")
        self.onnx_note = QLabel(options.onnx_problem or "")
        self.onnx_note.setWordWrap(True)
        self.onnx_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.onnx_note.setStyleSheet(f"color: {theme.current().warning};")
        self.onnx_note.setVisible(bool(options.onnx_problem))
        self.onnx_check.setEnabled(not options.onnx_problem)
        self.onnx_check.toggled.connect(self._update)
        self.train_check = QCheckBox(
            f"{TRAIN_FILE}: this project's training as a plain PyTorch script (also runs under torchrun)"
        )
        self.train_check.toggled.connect(self._update)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Folder", folder_row)
        form.addRow("Weights", self.weights_combo)
        form.addRow(self.summary)  # across both columns: a wrapped label in one cell gets too tall
        extras = QVBoxLayout()
        extras.addWidget(self.onnx_check)
        extras.addWidget(self.onnx_note)
        extras.addWidget(self.train_check)
        form.addRow("Also write", extras)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._update()

    def request(self) -> ExportRequest:
        return ExportRequest(
            folder=Path(self.folder_edit.text().strip()).expanduser(),
            run=self.weights_combo.currentData(),
            onnx=self.onnx_check.isEnabled() and self.onnx_check.isChecked(),
            train_script=self.train_check.isChecked(),
        )

    def _browse(self) -> None:
        start = Path(self.folder_edit.text().strip() or Path.home()).expanduser()
        while not start.is_dir() and start != start.parent:  # the suggestion may not exist yet
            start = start.parent
        folder = dialogs.ask_folder(self, "Export to folder", str(start))
        if folder:
            self.folder_edit.setText(folder)

    def _update(self, *_: object) -> None:
        request = self.request()
        self.export_button.setEnabled(bool(self.folder_edit.text().strip()))
        if request.run is not None:
            text = (
                f"Writes {MODEL_FILE}, {WEIGHTS_FILE} with run {request.run.number}'s trained weights "
                f"and {PREDICT_FILE}, which runs them on new data."
            )
        elif not self.options.runs:
            text = (
                f"No run of this project has trained weights yet, so this writes {MODEL_FILE} only: the "
                f"network, untrained. Train it (F5) and export again for {WEIGHTS_FILE} and {PREDICT_FILE}."
            )
        else:
            text = f"Writes {MODEL_FILE} only: the network, untrained."
        extras = [n for n in request.files if n in (ONNX_FILE, TRAIN_FILE, RECIPE_FILE)]
        if extras:
            text += f" Also {_listing(extras)}."
        if request.run is None and request.onnx:
            text += f" {ONNX_FILE} then holds random, untrained weights."
        self.summary.setText(text)


class ClashBox(QMessageBox):
    """The export folder holds some of the files already. Files an earlier export wrote may
    be replaced; files nnstudio did not write never are, so then the only way is another folder."""

    def __init__(
        self, parent: QWidget | None, folder: Path, earlier: Sequence[str], foreign: Sequence[str]
    ) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle("Folder already in use")
        self.answers: dict[str, QPushButton] = {}
        if foreign:
            self.setText(f"“{folder}” already holds {_listing(foreign)}, which nnstudio did not write.")
            self.setInformativeText(
                "nnstudio never replaces files it did not write. Choose another "
                "folder, or move those files out of this one first."
            )
        else:
            self.setText(f"“{folder}” already holds an earlier export: {_listing(earlier)}.")
            self.setInformativeText("Replace those files with this export, or choose another folder?")
            self.answers["replace"] = self.addButton("Replace Files", QMessageBox.ButtonRole.DestructiveRole)
        self.answers["another"] = self.addButton("Choose Another Folder…", QMessageBox.ButtonRole.AcceptRole)
        self.answers["cancel"] = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.answers["another"])

    def answer(self) -> str:
        clicked = self.clickedButton()
        return next((name for name, button in self.answers.items() if button is clicked), "cancel")


def clash_box(
    parent: QWidget | None, folder: Path, earlier: Sequence[str], foreign: Sequence[str]
) -> ClashBox:
    return ClashBox(parent, folder, earlier, foreign)


class ExportedBox(QMessageBox):
    """ "Exported to FOLDER", what it holds, and an Open Folder button."""

    def __init__(self, parent: QWidget | None, folder: Path, files: Sequence[str], note: str = "") -> None:
        super().__init__(parent)
        self.folder = folder
        self.setIcon(QMessageBox.Icon.Information)
        self.setWindowTitle("Export finished")
        self.setText(f"Exported to {folder}")
        lines = [f"Written: {', '.join(files)}."]
        if note:
            lines.append(note)
        if PREDICT_FILE in files:
            lines.append("predict.py runs the model on new data: python predict.py --help")
        self.setInformativeText("\n\n".join(lines))
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = self.addButton("Open Folder", QMessageBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(lambda *_: dialogs.open_folder(self.folder))
        self.close_button = self.addButton(QMessageBox.StandardButton.Close)
        self.setDefaultButton(self.close_button)


def exported_box(parent: QWidget | None, folder: Path, files: Sequence[str], note: str = "") -> ExportedBox:
    return ExportedBox(parent, folder, files, note)


def _listing(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
