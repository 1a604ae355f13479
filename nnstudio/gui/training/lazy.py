"""A placeholder that builds its real widget when first shown or first needed.

The plots import pyqtgraph, which costs half a second; the window must appear
before that, so their docks hold a ``LazyWidget`` until the user looks at them
or a run starts.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyWidget(QWidget):
    built = Signal(QWidget)

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self.widget: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def ensure(self) -> QWidget:
        """The real widget, built now if it was not yet."""
        if self.widget is None:
            self.widget = self._factory()
            self._layout.addWidget(self.widget)
            self.built.emit(self.widget)
        return self.widget

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.widget is None:
            # After the event: the window is painted before the import happens.
            QTimer.singleShot(0, self, self.ensure)
