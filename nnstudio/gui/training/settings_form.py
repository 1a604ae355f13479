"""The training settings as a form: data set, optimiser, rate, batch, epochs, loss, device.

The form edits a copy of the project's ``training`` dict and emits the whole
new dict on every change; the panel turns that into an undo command. Settings
the form does not show (seed, validation share, ...) pass through untouched.
Mixed precision, ``torch.compile`` and fast mode appear only where the chosen
device supports them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from nnstudio.training.config import LOSSES, OPTIMIZERS, SCHEDULES, TrainConfig
from nnstudio.training.device_probe import UNPROBED, DeviceInfo
from nnstudio.training.errors import ConfigError

BUILTIN_DATASETS = {
    "digits": "Handwritten digits, 8×8 grey images, 10 classes",
    "shapes": "Generated shapes (circle, square, triangle, ...) in colour or grey",
    "circles": "Two rings of 2-D points, inner and outer",
    "moons": "Two interleaved half-moons of 2-D points",
    "sequences": "Noisy sequences: does the drift go up or down?",
    "token_sequences": "The noisy sequences as token ids (for an Embedding): drift up or down?",
    "shape_masks": "Generated shapes with their masks: draw each shape's pixels (segmentation)",
}
OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
# Names short enough for the dock's width ("Automatic (from the task)" was cut off); the
# details are in each item's tooltip.
LOSS_NAMES = {
    "auto": "Automatic",
    "cross_entropy": "Cross-entropy",
    "mse": "Mean squared error",
    "bce_with_logits": "Binary cross-entropy",
}
LOSS_TIPS = {
    "auto": "Chosen from the task: cross-entropy for classes, mean squared error for numbers "
    "and reconstruction",
    "bce_with_logits": "On logits: one output per sample (yes/no) or per class (several labels)",
}
SCHEDULE_NAMES = {"none": "Constant", "step": "Step decay", "cosine": "Cosine decay"}
SCHEDULE_TIPS = {
    "step": "The learning rate is divided by 10 at 50% and again at 75% of the epochs",
    "cosine": "The learning rate falls along a half cosine to 0 by the last epoch",
}
_WHAT = {
    "dataset": "data set",
    "target": "training target",
    "optimizer": "optimizer",
    "lr": "learning rate",
    "schedule": "learning-rate schedule",
    "batch_size": "batch size",
    "epochs": "epochs",
    "loss": "loss",
    "device": "device",
    "precision": "precision",
    "compile": "torch.compile",
    "fast": "fast mode",
}


class RateBox(QDoubleSpinBox):
    """A learning rate shown as 0.002 or 1e-05, stepping by 10% of its value."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(8)
        self.setRange(1e-7, 10.0)
        self.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()


class SettingsForm(QWidget):
    changed = Signal(dict, str)  # the new settings, and what changed (for the undo text)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings: dict[str, Any] = {}
        self._devices = UNPROBED
        self._filling = False

        self.dataset = QComboBox()
        self.dataset.setEditable(True)
        for name, description in BUILTIN_DATASETS.items():
            self.dataset.addItem(name)
            self.dataset.setItemData(self.dataset.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self.dataset.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.dataset.setToolTip(
            "A built-in data set, or the path of a CSV, .npz/.npy, MNIST IDX, CIFAR or image folder"
        )
        self.file_button = QPushButton("File…")
        self.file_button.setToolTip("Train on a CSV, .npz/.npy, MNIST IDX or CIFAR file")
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Train on a folder of images, one sub-folder per class")
        self.target = QComboBox()
        self.target.addItem("Predict the labels", "label")
        self.target.addItem("Reconstruct the input", "input")
        self.optimizer = QComboBox()
        for key in OPTIMIZERS:
            self.optimizer.addItem(OPTIMIZER_NAMES.get(key, key), key)
        self.lr = RateBox()
        self.schedule = QComboBox()
        for key in SCHEDULES:
            self.schedule.addItem(SCHEDULE_NAMES.get(key, key), key)
            self.schedule.setItemData(
                self.schedule.count() - 1, SCHEDULE_TIPS.get(key), Qt.ItemDataRole.ToolTipRole
            )
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 65536)
        self.batch_size.setKeyboardTracking(False)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100_000)
        self.epochs.setKeyboardTracking(False)
        self.loss = QComboBox()
        for key in LOSSES:
            self.loss.addItem(LOSS_NAMES.get(key, key), key)
        for key, tip in LOSS_TIPS.items():
            self.loss.setItemData(self.loss.findData(key), tip, Qt.ItemDataRole.ToolTipRole)
        self.device = QComboBox()
        self.precision = QComboBox()
        self.precision.addItem("float32", "fp32")
        self.precision.addItem("bf16 mixed precision", "bf16")
        self.compile = QCheckBox("torch.compile the model")
        self.fast = QCheckBox("Fast mode: replay each step as one CUDA graph")

        for combo in (
            self.dataset,
            self.target,
            self.optimizer,
            self.schedule,
            self.loss,
            self.device,
            self.precision,
        ):
            # Long item texts must not make the dock wide: the combo shrinks, the popup does not.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        browse = QHBoxLayout()
        browse.setContentsMargins(0, 0, 0, 0)
        browse.addWidget(self.file_button)
        browse.addWidget(self.folder_button)
        browse.addStretch(1)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Data set", self.dataset)
        self.form.addRow("", browse)
        self.form.addRow("Task", self.target)
        self.form.addRow("Optimizer", self.optimizer)
        self.form.addRow("Learning rate", self.lr)
        self.form.addRow("Schedule", self.schedule)
        self.form.addRow("Batch size", self.batch_size)
        self.form.addRow("Epochs", self.epochs)
        self.form.addRow("Loss", self.loss)
        self.form.addRow("Device", self.device)
        self.form.addRow("Precision", self.precision)
        self.form.addRow("", self.compile)
        self.form.addRow("", self.fast)
        self.set_devices(UNPROBED)

        self.dataset.activated.connect(lambda *_: self._emit("dataset"))
        self.dataset.lineEdit().editingFinished.connect(lambda: self._emit("dataset"))
        self.file_button.clicked.connect(self._choose_file)
        self.folder_button.clicked.connect(self._choose_folder)
        for key, combo in (
            ("target", self.target),
            ("optimizer", self.optimizer),
            ("schedule", self.schedule),
            ("loss", self.loss),
            ("device", self.device),
            ("precision", self.precision),
        ):
            combo.currentIndexChanged.connect(lambda *_, k=key: self._emit(k))
        self.lr.valueChanged.connect(lambda *_: self._emit("lr"))
        self.batch_size.valueChanged.connect(lambda *_: self._emit("batch_size"))
        self.epochs.valueChanged.connect(lambda *_: self._emit("epochs"))
        self.compile.toggled.connect(lambda *_: self._emit("compile"))
        self.fast.toggled.connect(lambda *_: self._emit("fast"))

    # --- model -> form ---------------------------------------------------------------------

    def set_settings(self, settings: dict[str, Any]) -> None:
        """Show ``settings`` (the project's dict); unknown or bad values show as defaults."""
        self._settings = dict(settings)
        try:
            config = TrainConfig.from_settings(settings)
        except ConfigError:
            config = TrainConfig()
        self._filling = True
        try:
            self.dataset.setEditText(config.dataset)
            _select(self.target, config.target)
            _select(self.optimizer, config.optimizer)
            self.lr.setValue(config.lr)
            _select(self.schedule, config.schedule)
            self.batch_size.setValue(config.batch_size)
            self.epochs.setValue(config.epochs)
            _select(self.loss, config.loss)
            self._fill_devices(config.device)
            _select(self.precision, config.precision)
            self.compile.setChecked(config.compile)
            self.fast.setChecked(config.fast)
        finally:
            self._filling = False
        self._update_rows()

    def set_devices(self, info: DeviceInfo) -> None:
        self._devices = info
        self._filling = True
        try:
            self._fill_devices(self._settings.get("device", "auto"))
        finally:
            self._filling = False
        self._update_rows()

    @property
    def devices(self) -> DeviceInfo:
        return self._devices

    def _fill_devices(self, wanted: str) -> None:
        self.device.clear()
        for value, text in self._devices.choices:
            self.device.addItem(text, value)
        if self.device.findData(wanted) < 0:  # from a project made on another machine
            self.device.addItem(f"{wanted} (not found here)", wanted)
        _select(self.device, wanted)

    def _update_rows(self) -> None:
        device = self.device.currentData() or "auto"
        self.form.setRowVisible(self.precision, self._devices.supports(device, "precision"))
        self.form.setRowVisible(self.compile, self._devices.supports(device, "compile"))
        self.form.setRowVisible(self.fast, self._devices.supports(device, "fast"))

    # --- form -> model ---------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The settings as the form shows them, merged onto those it does not show."""
        shown = {
            "dataset": self.dataset.currentText().strip() or "digits",
            "target": self.target.currentData(),
            "optimizer": self.optimizer.currentData(),
            "lr": float(self.lr.value()),
            "schedule": self.schedule.currentData(),
            "batch_size": int(self.batch_size.value()),
            "epochs": int(self.epochs.value()),
            "loss": self.loss.currentData(),
            "device": self.device.currentData() or "auto",
            "precision": self.precision.currentData(),
            "compile": self.compile.isChecked(),
            "fast": self.fast.isChecked(),
        }
        merged = {**self._settings, **shown}
        try:
            return TrainConfig.from_settings(merged).to_settings()
        except ConfigError:
            return merged

    def _emit(self, key: str) -> None:
        if self._filling:
            return
        self._update_rows()
        new = self.values()
        if new != self._settings:
            self._settings = dict(new)
            self.changed.emit(new, f"Change {_WHAT.get(key, key)}")

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a data file", "", "Data files (*.csv *.npz *.npy *.idx *-ubyte *.gz);;All files (*)"
        )
        if path:
            self.dataset.setEditText(path)
            self._emit("dataset")

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose an image folder (one sub-folder per class)")
        if path:
            self.dataset.setEditText(path)
            self._emit("dataset")


def _select(combo: QComboBox, value: Any) -> None:
    index = combo.findData(value)
    if index < 0:
        index = combo.findText(str(value))
    if index >= 0:
        combo.setCurrentIndex(index)
