"""A placeholder that builds its real widget when first seen or first needed.

The plots import pyqtgraph, which costs half a second; the window must appear
before that, so their docks hold a ``LazyWidget`` until the user looks at them
or a run starts. "Seen" means on screen: Qt keeps a dock whose tab is not
selected "visible" but moves it out of sight, so a show event alone does not
count; the owner also calls ``ensure`` when such a dock's tab is selected.
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
            # After the event, once laid out: the window is painted before the import happens.
            QTimer.singleShot(0, self, self._ensure_if_seen)

    def _ensure_if_seen(self) -> None:
        if self.widget is None and self.isVisible() and not self.visibleRegion().isEmpty():
            self.ensure()
