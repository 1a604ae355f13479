"""The progress bar and status line change ten times a second: they must not paint at once or
make the panel lay itself out again, yet must show what they are given."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QVBoxLayout, QWidget

from nnstudio.gui.training.progress_widgets import ProgressBar, StatusText

LONG = "epoch 3/10 · step 1,200/5,000 · 7,000 samples/s · 0:05 left, and some more words to wrap"


class _Counter(QObject):
    def __init__(self, kinds: tuple[QEvent.Type, ...]) -> None:
        super().__init__()
        self.kinds = kinds
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in self.kinds:
            self.count += 1
        return False


def _shown(qtbot, *widgets: QWidget) -> QWidget:
    host = QWidget()
    layout = QVBoxLayout(host)
    for widget in widgets:
        layout.addWidget(widget)
    qtbot.addWidget(host)
    host.resize(240, 120)
    host.show()
    qtbot.waitExposed(host)
    qtbot.wait(50)  # let the first layout and paint settle
    return host


def test_a_new_value_is_painted_with_the_next_frame_not_at_once(qtbot):
    bar = ProgressBar()
    bar.setRange(0, 1000)
    host = _shown(qtbot, bar)
    paints = _Counter((QEvent.Type.Paint,))
    bar.installEventFilter(paints)

    bar.setValue(500)
    assert bar.value() == 500 and bar.text() == "50%"
    assert paints.count == 0  # QProgressBar would have repainted synchronously here
    qtbot.waitUntil(lambda: paints.count >= 1, timeout=2000)
    assert bar.updatesEnabled() and host.isVisible()


def test_new_status_text_repaints_the_line_without_a_new_layout(qtbot):
    status = StatusText("Ready to train.")
    host = _shown(qtbot, status)
    height = status.height()
    layouts = _Counter((QEvent.Type.LayoutRequest,))
    host.installEventFilter(layouts)
    paints = _Counter((QEvent.Type.Paint,))
    status.installEventFilter(paints)

    status.setText(LONG)
    qtbot.waitUntil(lambda: paints.count >= 1, timeout=2000)
    assert status.text() == LONG and status.toolTip() == LONG
    assert status.height() == height == 2 * status.fontMetrics().lineSpacing() + 2
    assert layouts.count == 0


def test_the_status_line_draws_its_text(qtbot):
    status = StatusText("")
    host = _shown(qtbot, status)
    blank = status.grab().toImage()
    status.setText(LONG)
    written = status.grab().toImage()
    assert written != blank and host.isVisible()
