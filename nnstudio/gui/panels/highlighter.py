"""Python syntax colouring for the code preview (keywords, strings, numbers, comments)."""

from __future__ import annotations

import keyword
import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from nnstudio.gui import theme

_COLOURS = {
    "light": {
        "keyword": "#cf222e",
        "builtin": "#8250df",
        "string": "#0a3069",
        "number": "#0550ae",
        "comment": "#6e7781",
        "decorator": "#953800",
        "self": "#953800",
    },
    "dark": {
        "keyword": "#ff7b72",
        "builtin": "#d2a8ff",
        "string": "#a5d6ff",
        "number": "#79c0ff",
        "comment": "#8b949e",
        "decorator": "#ffa657",
        "self": "#ffa657",
    },
}

_RULES = [
    ("keyword", r"\b(?:" + "|".join(keyword.kwlist) + r")\b"),
    ("builtin", r"\b(?:nn|torch|F|super|len|range|print|int|float|tuple|list|dict|isinstance)\b"),
    ("self", r"\bself\b"),
    ("decorator", r"^\s*@\w+(?:\.\w+)*"),
    ("number", r"\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b"),
    ("string", r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'|\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\""),
    ("comment", r"#[^\n]*"),
]
_TRIPLE = re.compile(r'"""|\'\'\'')


class PythonHighlighter(QSyntaxHighlighter):
    """Regex rules per line, plus a block state for triple-quoted docstrings."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._compiled = [(name, re.compile(pattern)) for name, pattern in _RULES]
        self.formats: dict[str, QTextCharFormat] = {}
        self.set_theme(theme.current().name)

    def set_theme(self, name: str) -> None:
        self.formats = {}
        for role, colour in _COLOURS.get(name, _COLOURS["light"]).items():
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(colour))
            if role == "keyword":
                fmt.setFontWeight(QFont.Weight.Bold)
            if role == "comment":
                fmt.setFontItalic(True)
            self.formats[role] = fmt
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        for role, pattern in self._compiled:
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), self.formats[role])
        self._docstrings(text)

    def _docstrings(self, text: str) -> None:
        # State 1: inside a triple-quoted string that started on an earlier line.
        start = 0 if self.previousBlockState() == 1 else -1
        position = 0
        self.setCurrentBlockState(0)
        while True:
            if start < 0:
                match = _TRIPLE.search(text, position)
                if match is None:
                    return
                start = match.start()
                position = match.end()
            end = _TRIPLE.search(text, position)
            if end is None:
                self.setFormat(start, len(text) - start, self.formats["string"])
                self.setCurrentBlockState(1)
                return
            self.setFormat(start, end.end() - start, self.formats["string"])
            position = end.end()
            start = -1
