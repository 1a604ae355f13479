"""A progress bar and a status line that change ten times a second without costing training.

While a run goes on, every millisecond the GUI thread works is taken from a
training thread (the app trains on every core), so these two widgets, which
change with every update from the worker, must be cheap:

- ``QProgressBar.setValue`` repaints synchronously whenever the shown
  percentage moves. ``ProgressBar`` turns that into an ordinary ``update``,
  which Qt merges with the rest of the frame.
- ``QLabel.setText`` asks the layout to recompute, and a word-wrapped label
  lays its text out again to find its height; the request climbs every
  layout up to the window, which lays out and repaints its docks again.
  ``StatusText`` has a fixed height of two lines, so new text is only a
  repaint of itself. The live views' titles ("conv1: ... · step 1,200")
  use it too, with rich text.

Measured on LeNet-5, two cores: the two together took about 2% of the GUI
thread's time as QProgressBar and QLabel, next to nothing now.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QResizeEvent, QStaticText
from PySide6.QtWidgets import QProgressBar, QSizePolicy, QWidget

STATUS_LINES = 2


class ProgressBar(QProgressBar):
    """A QProgressBar whose ``setValue`` schedules a repaint instead of painting at once."""

    def setValue(self, value: int) -> None:
        self.setUpdatesEnabled(False)  # QProgressBar.setValue calls repaint(); this makes it a no-op
        try:
            super().setValue(value)
        finally:
            self.setUpdatesEnabled(True)  # ... and this schedules the update instead


class StatusText(QWidget):
    """Two lines of word-wrapped text; a new text repaints this widget and nothing else.
    ``rich``: the text is Qt rich text (``<b>conv1</b>: ...``)."""

    def __init__(self, text: str = "", parent: QWidget | None = None, rich: bool = False) -> None:
        super().__init__(parent)
        self._text = text
        self._rich = rich
        self._laid_out: QStaticText | None = None  # rich text laid out for the current width
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(STATUS_LINES * self.fontMetrics().lineSpacing() + 2)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self._laid_out = None
            self.setToolTip(text)  # the whole text, should two lines not hold it
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(200, self.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._laid_out = None
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))  # rich text's colour too
        if self._rich:
            if self._laid_out is None:
                self._laid_out = QStaticText(self._text)
                self._laid_out.setTextFormat(Qt.TextFormat.RichText)
                self._laid_out.setTextWidth(self.width())
            painter.setClipRect(self.rect())
            painter.drawStaticText(0, 0, self._laid_out)
            return
        flags = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap
        painter.drawText(QRect(0, 0, self.width(), self.height()), flags, self._text)


class SampleRate:
    """What the status line says for speed: the newest measured samples/s while a run goes on.

    The trainer reports 0 samples/s whenever a report has no new steps (at an
    epoch's end, when it pauses, while it stops); a learner reads that as
    "stuck". Such a report keeps the last measured rate; a paused or stopping
    run says so instead of a rate."""

    def __init__(self) -> None:
        self.last = math.nan

    def reset(self) -> None:
        self.last = math.nan

    def text(self, samples_per_second: float, state: str) -> str:
        if math.isfinite(samples_per_second) and samples_per_second > 0:
            self.last = samples_per_second
        if state == "paused":
            return "paused"
        if state == "stopping":
            return "stopping"
        if math.isnan(self.last):
            return "measuring speed…"
        return f"{self.last:,.0f} samples/s"
