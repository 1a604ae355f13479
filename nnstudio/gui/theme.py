"""Light and dark themes: the widgets' palette and the canvas colours.

The mode is "system" (follow the desktop's colour scheme, Qt 6.5+), "light"
or "dark". Widgets use Fusion with our palette so both themes look the same
on every platform; canvas items read their colours from ``current()`` and
repaint when ``manager().changed`` fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

MODES = ("system", "light", "dark")


@dataclass(frozen=True)
class Theme:
    """The canvas colours of one theme (hex strings, turned into QColor on use)."""

    name: str
    canvas: str
    grid: str
    grid_major: str
    node_body: str
    node_border: str
    text: str
    text_dim: str
    header_text: str
    edge: str
    label_bg: str
    label_text: str
    selection: str
    error: str
    warning: str
    valid: str
    port: str
    categories: dict[str, str] = field(default_factory=dict)
    # Plots (metrics, decision boundary): their background, text, axis lines and grid.
    plot_background: str = "#ffffff"
    plot_text: str = "#333333"
    plot_axis: str = "#999999"
    plot_grid: str = "#d0d4da"

    @property
    def dark(self) -> bool:
        return self.name == "dark"

    def color(self, role: str) -> QColor:
        return QColor(getattr(self, role))

    def category_color(self, category: str) -> QColor:
        return QColor(self.categories.get(category, self.node_border))


LIGHT = Theme(
    name="light",
    canvas="#f4f5f7",
    grid="#e4e7eb",
    grid_major="#d5d9df",
    node_body="#ffffff",
    node_border="#a3abb5",
    text="#1f2328",
    text_dim="#57606a",
    header_text="#ffffff",
    edge="#6e7781",
    label_bg="#ffffff",
    label_text="#24292f",
    selection="#0969da",
    error="#cf222e",
    warning="#bf8700",
    valid="#1a7f37",
    port="#ffffff",
    categories={
        "Input/Output": "#2f7d4f",
        "Dense": "#2f62a8",
        "Convolution": "#b4531c",
        "Pooling": "#247373",
        "Activation": "#8a6412",
        "Recurrent": "#6544b3",
        "Attention": "#a42c6f",
        "Composite": "#7d4f1a",
        "Merge": "#4a5568",
        "Tensor": "#5b6b2f",
        "Blocks": "#2c7a7b",
    },
)

DARK = Theme(
    name="dark",
    canvas="#1b1e23",
    grid="#23272e",
    grid_major="#2c313a",
    node_body="#2a2f37",
    node_border="#4c5562",
    text="#e6edf3",
    text_dim="#a0aab6",
    header_text="#ffffff",
    edge="#8c96a3",
    label_bg="#2a2f37",
    label_text="#e6edf3",
    selection="#58a6ff",
    error="#ff6b61",
    warning="#e3b341",
    valid="#3fb950",
    port="#1b1e23",
    categories={
        "Input/Output": "#2f6e47",
        "Dense": "#2d5a96",
        "Convolution": "#9c4a1c",
        "Pooling": "#21666a",
        "Activation": "#7a5a14",
        "Recurrent": "#5a3ea0",
        "Attention": "#922a64",
        "Composite": "#6e4618",
        "Merge": "#465063",
        "Tensor": "#55632c",
        "Blocks": "#2a6f70",
    },
    plot_background="#1e2126",
    plot_text="#c9d1d9",
    plot_axis="#6e7681",
    plot_grid="#3a4049",
)


def _dark_palette() -> QPalette:
    palette = QPalette()
    window, base, text = QColor("#262a31"), QColor("#1e2126"), QColor("#e6edf3")
    disabled = QColor("#7d8590")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#2a2f37"),
        QPalette.ColorRole.ToolTipBase: QColor("#30363d"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: disabled,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#2d333b"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff7b72"),
        QPalette.ColorRole.Light: QColor("#3d444d"),
        QPalette.ColorRole.Midlight: QColor("#343a42"),
        QPalette.ColorRole.Mid: QColor("#22262c"),
        QPalette.ColorRole.Dark: QColor("#16191d"),
        QPalette.ColorRole.Shadow: QColor("#000000"),
        QPalette.ColorRole.Highlight: QColor("#2f6fd0"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Link: QColor("#58a6ff"),
        QPalette.ColorRole.LinkVisited: QColor("#bc8cff"),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def _light_palette() -> QPalette:
    palette = QApplication.style().standardPalette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#2f6fd0"))
    palette.setColor(QPalette.ColorRole.Link, QColor("#0969da"))
    return palette


def system_prefers_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


class ThemeManager(QObject):
    """Owns the current mode and theme; emits ``changed(Theme)`` when it switches."""

    changed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._mode = "system"
        self._theme = LIGHT
        self._watching = False

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def theme(self) -> Theme:
        return self._theme

    def set_mode(self, mode: str) -> None:
        """Switch to ``mode`` ("system", "light" or "dark") and restyle the application."""
        if mode not in MODES:
            mode = "system"
        self._mode = mode
        if not self._watching and QGuiApplication.instance() is not None:
            QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_scheme_changed)
            self._watching = True
        self._apply()

    def _on_system_scheme_changed(self, _scheme: object) -> None:
        if self._mode == "system":
            self._apply()

    def _apply(self) -> None:
        dark = self._mode == "dark" or (self._mode == "system" and system_prefers_dark())
        theme = DARK if dark else LIGHT
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setStyle("Fusion")
            app.setPalette(_dark_palette() if dark else _light_palette())
        changed = theme is not self._theme
        self._theme = theme
        if changed:
            self.changed.emit(theme)


_manager: ThemeManager | None = None


def manager() -> ThemeManager:
    """The application's one ThemeManager (created on first use)."""
    global _manager
    if _manager is None:
        _manager = ThemeManager()
    return _manager


def current() -> Theme:
    return manager().theme
