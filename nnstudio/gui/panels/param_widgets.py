"""One editor widget per catalog parameter kind.

int -> spin box with the catalog's range, float -> double spin box, bool ->
check box, choice -> combo box, shape -> line edit that parses "1, 28, 28".
Each emits ``edited(value)`` for a value the user chose, ``invalid(message)`` for
text it cannot read and ``valid()`` once its text reads again (so a complaint
shown for the earlier text goes away), and ``set_value`` updates it from the
model without echoing back.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from nnstudio.core.layers import Param
from nnstudio.gui.text import param_text, parse_shape

_INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int


class IntEditor(QSpinBox):
    edited = Signal(object)
    invalid = Signal(str)
    valid = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        low = int(param.minimum) if param.minimum is not None else -_INT_LIMIT
        high = int(param.maximum) if param.maximum is not None else _INT_LIMIT
        self.setRange(max(low, -_INT_LIMIT), min(high, _INT_LIMIT))
        self.setKeyboardTracking(False)  # typing "128" is one edit, not 1, 12, 128
        self.setAccelerated(True)
        self.valueChanged.connect(self.edited.emit)

    def set_value(self, value: Any) -> None:
        self.blockSignals(True)
        self.setValue(int(value))
        self.blockSignals(False)


class FloatEditor(QDoubleSpinBox):
    edited = Signal(object)
    invalid = Signal(str)
    valid = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        low = param.minimum if param.minimum is not None else -1e9
        high = param.maximum if param.maximum is not None else 1e9
        self.setDecimals(4)
        self.setRange(low, high)
        self.setSingleStep(0.01 if high - low <= 2 else 0.1)
        self.setKeyboardTracking(False)
        self.valueChanged.connect(self.edited.emit)

    def set_value(self, value: Any) -> None:
        self.blockSignals(True)
        self.setValue(float(value))
        self.blockSignals(False)


class BoolEditor(QCheckBox):
    edited = Signal(object)
    invalid = Signal(str)
    valid = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggled.connect(self.edited.emit)

    def set_value(self, value: Any) -> None:
        self.blockSignals(True)
        self.setChecked(bool(value))
        self.blockSignals(False)


class ChoiceEditor(QComboBox):
    edited = Signal(object)
    invalid = Signal(str)
    valid = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        for choice in param.choices:
            self.addItem(str(choice), choice)
        self.activated.connect(lambda index: self.edited.emit(self.itemData(index)))

    def set_value(self, value: Any) -> None:
        index = self.findData(value)
        self.blockSignals(True)
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)


class ShapeEditor(QLineEdit):
    edited = Signal(object)
    invalid = Signal(str)
    valid = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("e.g. 1, 28, 28")
        self._value: tuple[int, ...] = ()
        self.editingFinished.connect(self._on_editing_finished)

    def set_value(self, value: Any) -> None:
        self._value = tuple(value)
        self.blockSignals(True)
        self.setText(param_text(value))
        self.blockSignals(False)

    def _on_editing_finished(self) -> None:
        try:
            shape = parse_shape(self.text())
        except ValueError as exc:
            self.invalid.emit(str(exc))
            return
        self.valid.emit()
        if shape != self._value:
            self.edited.emit(shape)


class ExpressionEditor(QLineEdit):
    """Inside a block: a value, or an expression over the block's parameters ("$width * 4")."""

    edited = Signal(object)
    invalid = Signal(str)
    valid = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.setPlaceholderText("a value, or $name / $name * 2")
        self._text = ""
        self.editingFinished.connect(self._on_editing_finished)

    def set_value(self, value: Any) -> None:
        self._text = value if isinstance(value, str) and "$" in value else param_text(value)
        self.blockSignals(True)
        self.setText(self._text)
        self.blockSignals(False)

    def _on_editing_finished(self) -> None:
        text = self.text().strip()
        if text == self._text:
            self.valid.emit()
            return
        if "$" in text:
            self.edited.emit(text)
            return
        try:
            value = {"int": int, "float": float}.get(self.param.kind, str)(text)
        except ValueError:
            self.invalid.emit(f"'{self.param.name}' takes a value or an expression like $name * 2.")
            return
        self.valid.emit()
        if self.param.kind == "bool":
            value = text.lower() in ("true", "1", "yes", "on")
        self.edited.emit(value)


EDITORS = {
    "int": IntEditor,
    "float": FloatEditor,
    "bool": BoolEditor,
    "choice": ChoiceEditor,
    "shape": ShapeEditor,
}


def make_editor(param: Param, parent: QWidget | None = None, expressions: bool = False) -> QWidget:
    """The widget for ``param``, showing its default until ``set_value``; with
    ``expressions`` (inside a block) a text field that also takes "$name" expressions."""
    editor = (ExpressionEditor if expressions and param.kind != "shape" else EDITORS[param.kind])(
        param, parent
    )
    editor.set_value(param.default)
    editor.setToolTip(param.doc)
    editor.setObjectName(f"param_{param.name}")
    return editor
