"""File › Import PyTorch model…: a model class from a Python file becomes a new project.

The dialog lists the ``nn.Module`` classes a file defines, takes the
constructor arguments and the input shapes, and imports off the GUI thread
(``nnstudio.from_torch`` on a thread of its own, as ``nnstudio import`` does
on the command line). Listing the classes and importing both run the file, and
the dialog says so. The result is written as a project with its weights
beside it (``NAME.weights.safetensors``) and opened; the report goes to the
*Import report* panel, each line that names a layer selecting it on the canvas.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.gui import theme

if TYPE_CHECKING:
    from nnstudio.gui.main_window import MainWindow

WARNING = (
    "Listing the classes and importing both run this Python file, as running it yourself "
    "would. Only use files you trust."
)
NODE_ROLE = Qt.ItemDataRole.UserRole


class _Job(QObject):
    """Runs one function on a worker thread; reports its value or its error as a sentence."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, work) -> None:
        super().__init__()
        self.work = work

    @Slot()
    def run(self) -> None:
        from nnstudio.commands.import_ import SourceError
        from nnstudio.compiler.importer import ModelImportError

        try:
            value = self.work()
        except (SourceError, ModelImportError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # an importer bug must not take the editor down
            self.failed.emit(f"The import stopped unexpectedly: {type(exc).__name__}: {exc}")
        else:
            self.done.emit(value)


def list_classes(path: str) -> list[str]:
    """The nn.Module classes a file defines (runs the file)."""
    from nnstudio.commands.import_ import _load_file, module_classes

    return module_classes(_load_file(Path(path)))


FOREIGN_EXAMPLE = '{"head": [256, 0.1]}'


def constructor_args(text: str) -> tuple[list[Any], dict[str, Any]]:
    """The model's constructor arguments from the dialog's JSON; SourceError with a sentence."""
    from nnstudio.commands.import_ import SourceError, _constructor_args

    try:
        return _constructor_args(text.strip() or None)
    except SourceError as exc:
        text = str(exc).replace("--args is", "The constructor arguments are")
        raise SourceError(text.replace("--args", "The constructor arguments")) from None


def foreign_args(text: str) -> dict[str, list[Any]]:
    """Constructor arguments of submodules kept as foreign modules: a JSON object from module
    path to a list ('head' -> [256, 0.1]), as the command line's --foreign-args; SourceError."""
    from nnstudio.commands.import_ import SourceError
    from nnstudio.core.errors import ParamError
    from nnstudio.core.layers import check_json_args

    if not text.strip():
        return {}
    shape = f"a JSON object from a module's path to the list of its arguments, e.g. {FOREIGN_EXAMPLE}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"The foreign module arguments are not valid JSON ({exc.msg} at character {exc.pos}); give {shape}."
        ) from None
    if not isinstance(value, dict):
        raise SourceError(f"The foreign module arguments must be {shape}.")
    found: dict[str, list[Any]] = {}
    for path, args in value.items():
        if not path.strip() or not isinstance(args, list):
            raise SourceError(
                f"The foreign module arguments for {path!r} must be a list, e.g. {FOREIGN_EXAMPLE}."
            )
        try:
            found[path.strip()] = list(check_json_args(path, args))
        except ParamError as exc:
            raise SourceError(f"The foreign module arguments: {exc}") from None
    return found


def import_model(
    path: str, class_name: str, args_text: str, shapes_text: str, out: str, foreign_text: str = ""
) -> Any:
    """Build, import and write the project; the ImportResult (runs the file)."""
    from nnstudio.commands import import_ as command
    from nnstudio.compiler.importer import ModelImportError, from_torch

    positional, keywords = constructor_args(args_text)
    given = foreign_args(foreign_text)
    shapes = [command._parse_input(part.strip()) for part in shapes_text.split(";") if part.strip()]
    if not shapes:
        raise command.SourceError("Give the shape of each input without the batch, e.g. 3,32,32.")
    factory, label = command.load_factory(f"{path}:{class_name}")
    model = command.build_model(factory, label, positional, keywords)
    try:
        result = from_torch(model, command._example_inputs(model, shapes), foreign_args=given)
    except ModelImportError as exc:  # say where the dialog takes what the command line's hint names
        text = re.sub(
            r"give them with --foreign-args '([^']+)=\[\.\.\.\]' \(from Python: foreign_args\)",
            r'give them under Foreign module arguments, e.g. {"\1": [...]}',
            str(exc),
        )
        raise ModelImportError(text, exc.problems, exc.bad_input) from None
    command._write(result, Path(out), command.weights_path(out))
    return result


class ImportDialog(QDialog):
    """Pick a file and a class, give arguments and input shapes, import."""

    imported = Signal(object, str)  # ImportResult, project path

    def __init__(self, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Import PyTorch Model")
        self.setMinimumWidth(560)
        self.start_dir = start_dir
        self._thread: QThread | None = None
        self._job: _Job | None = None

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("path/to/model.py")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.list_button = QPushButton("List classes")
        self.list_button.clicked.connect(self.list_classes)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)
        file_row.addWidget(self.list_button)

        self.class_combo = QComboBox()
        self.class_combo.setEnabled(False)
        self.args_edit = QLineEdit()
        self.args_edit.setPlaceholderText('{"num_classes": 10}  (JSON; empty for none)')
        self.args_edit.setObjectName("constructor_args")
        self.foreign_edit = QLineEdit()
        self.foreign_edit.setObjectName("foreign_args")
        self.foreign_edit.setPlaceholderText(f"{FOREIGN_EXAMPLE}  (JSON; only where the import asks)")
        self.foreign_edit.setToolTip(
            "Constructor arguments of submodules the catalog lacks, which are kept whole as foreign "
            "modules, where the import cannot read them off the module: the module's path in the model "
            "and the list of its arguments (the command line's --foreign-args)."
        )
        self.args_problem = QLabel("")
        self.args_problem.setObjectName("args_problem")
        self.args_problem.setWordWrap(True)
        self.args_problem.setVisible(False)
        self.args_edit.textChanged.connect(self._check_arguments)
        self.foreign_edit.textChanged.connect(self._check_arguments)
        self.shape_edit = QLineEdit()
        self.shape_edit.setPlaceholderText("3,32,32  (one sample, no batch; several inputs: 3,32,32; 10)")
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("where to save the project (.nnstudio)")

        warning = QLabel(WARNING)
        warning.setWordWrap(True)
        warning.setObjectName("importWarning")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: an import has no steps to count
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Python file:", file_row)
        form.addRow("Model class:", self.class_combo)
        form.addRow("Constructor arguments:", self.args_edit)
        form.addRow("Foreign module arguments:", self.foreign_edit)
        form.addRow("", self.args_problem)
        form.addRow("Input shape:", self.shape_edit)
        form.addRow("Save project as:", self.out_edit)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.start_import)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(warning)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    # -- steps ----------------------------------------------------------------------------

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Python file with the model", self.start_dir, "Python files (*.py)"
        )
        if path:
            self.path_edit.setText(path)
            self.list_classes()

    def list_classes(self) -> None:
        path = self.path_edit.text().strip()
        if not path:
            self.status.setText("Choose the Python file that defines the model first.")
            return
        self._run(lambda: list_classes(path), self._show_classes, "Running the file to find its models…")

    def _show_classes(self, names: list[str]) -> None:
        self.class_combo.clear()
        self.class_combo.addItems(names)
        self.class_combo.setEnabled(bool(names))
        self._update_import_button()
        if not self.out_edit.text() and names:
            source = Path(self.path_edit.text().strip())
            self.out_edit.setText(str(source.with_name(f"{names[0]}.nnstudio")))
        self.status.setText(
            f"Found {len(names)} model class(es)." if names else "The file defines no nn.Module class."
        )

    def start_import(self) -> None:
        path, name = self.path_edit.text().strip(), self.class_combo.currentText()
        out = self.out_edit.text().strip() or str(Path(path).with_name(f"{name}.nnstudio"))
        if self._check_arguments():
            return
        args, shapes, given = self.args_edit.text(), self.shape_edit.text(), self.foreign_edit.text()
        self._run(
            lambda: import_model(path, name, args, shapes, out, given),
            lambda result: self._imported(result, out),
            f"Importing {name}…",
        )

    def _check_arguments(self) -> str:
        """Check both JSON fields as they are typed; the sentence shown (and Import off) or ''."""
        from nnstudio.commands.import_ import SourceError

        problem = ""
        try:
            constructor_args(self.args_edit.text())
            foreign_args(self.foreign_edit.text())
        except SourceError as exc:
            problem = str(exc)
        self.args_problem.setText(problem)
        self.args_problem.setStyleSheet(f"color: {theme.current().error};")
        self.args_problem.setVisible(bool(problem))
        self._update_import_button()
        return problem

    def _update_import_button(self, busy: bool | None = None) -> None:
        busy = self.busy if busy is None else busy
        self.import_button.setEnabled(
            not busy and self.class_combo.count() > 0 and not self.args_problem.text()
        )

    def _imported(self, result: Any, out: str) -> None:
        self.status.setText(result.report.verification)
        self.imported.emit(result, out)
        self.accept()

    # -- the worker thread ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def _run(self, work, on_done, message: str) -> None:
        if self.busy:
            return
        self._set_busy(True, message)
        thread, job = QThread(self), _Job(work)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        job.done.connect(on_done)
        job.failed.connect(self.status.setText)
        job.done.connect(thread.quit)
        job.failed.connect(thread.quit)
        thread.finished.connect(self._finished)
        self._thread, self._job = thread, job
        thread.start()

    def _finished(self) -> None:
        if self._thread is not None:
            self._thread.wait()
            self._thread.deleteLater()
        self._thread = None
        self._job = None
        self._set_busy(False)

    def _set_busy(self, busy: bool, message: str = "") -> None:
        self.progress.setVisible(busy)
        self.list_button.setEnabled(not busy)
        self._update_import_button(busy)
        if message:
            self.status.setText(message)

    def reject(self) -> None:
        if self.busy:  # the file is running; closing now would leave its thread behind
            self.status.setText("Wait for the file to finish running, then close.")
            return
        super().reject()


class ImportReportPanel(QListWidget):
    """The import report, one line per sentence; a line naming a layer selects it."""

    node_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("import_report")
        self.setWordWrap(True)
        # Wrapped lines get their height again whenever the panel is resized (no clipped words).
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.setSpacing(1)
        self.itemActivated.connect(self._activate)
        self.itemClicked.connect(self._activate)

    def show_report(self, report: Any) -> None:
        self.clear()
        colours = theme.current()
        # What to read first on top: the summary, whether the outputs match, what was kept whole,
        # notes; then what became what (the command line prints the verification last).
        first = ("summary", "verification", "foreign", "note")
        ordered = sorted(
            report, key=lambda line: first.index(line.kind) if line.kind in first else len(first)
        )
        for line in ordered:
            item = QListWidgetItem(line.text)
            font = item.font()
            if line.node_id:
                item.setData(NODE_ROLE, line.node_id)
                item.setToolTip("Click to select this layer on the canvas.")
            if line.kind in ("foreign", "summary"):  # the lines to read first
                font.setBold(True)
            if line.kind == "note":  # context rather than a layer: set back a little
                font.setItalic(True)
            if line.kind == "verification":
                font.setBold(True)
                verified = getattr(report, "verified", True)
                item.setForeground(QColor(colours.valid if verified else colours.error))
            item.setFont(font)
            self.addItem(item)

    def _activate(self, item: QListWidgetItem) -> None:
        node_id = item.data(NODE_ROLE)
        if node_id:
            self.node_activated.emit(node_id)


def open_import_dialog(window: MainWindow) -> ImportDialog:
    """Show the dialog for ``window``; a finished import opens in it with its report."""
    dialog = ImportDialog(window, str(Path.home()))
    dialog.imported.connect(lambda result, out: show_imported(window, result, out))
    dialog.open()
    return dialog


def show_imported(window: MainWindow, result: Any, out: str) -> None:
    """Open the written project in ``window`` and fill the Import report panel."""
    if not window.open_path(out):
        return
    panel = getattr(window, "import_report", None)
    if panel is None:
        panel = window.import_report = ImportReportPanel()
        panel.node_activated.connect(window.show_node)
        # beside the other bottom panels, where its sentences have the window's width
        tab_with = next((n for n in ("about", "code", "summary", "diagnostics") if n in window.docks), None)
        window.add_dock(panel, "Import report", "import_report", tabify_with=tab_with)
    # The opened project has the same node ids as the imported graph.
    panel.show_report(result.report)
    attach_weights(window, result.weights)
    window.docks["import_report"].show()
    window.docks["import_report"].raise_()


def attach_weights(window: MainWindow, weights: Any) -> bool:
    """Let the window's Continue train on from imported weights, as from a finished run.

    The training controller keeps the last run's weights per node and *Continue*
    starts from them (layers edited since start fresh); an imported project is
    given the same starting point. False when the controller cannot take it.
    """
    controller = getattr(window, "training", None)
    if controller is None or not hasattr(controller, "last_outcome"):
        return False
    from nnstudio.compiler.codegen import compile_graph
    from nnstudio.gui.training.worker import Outcome
    from nnstudio.training.carry_over import snapshot

    graph = window.document.graph
    model = compile_graph(graph, check_shapes=False)
    model.load_state_dict(weights, strict=True)
    # No run produced these weights, so there is no run result (final) and nothing to resume.
    controller.last_outcome = Outcome(final=None, weights=snapshot(graph, model), graph=graph.to_dict())
    controller._update_continue()
    return True
