"""Where the editor keeps its settings and recovery files.

Normally ``QSettings("nnstudio", "nnstudio")`` and Qt's per-user app-data
folder. Setting ``NNSTUDIO_HOME`` puts both in that folder instead, which is
how the tests (and a portable install) keep away from the user's real settings.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

HOME_ENV = "NNSTUDIO_HOME"
ORGANIZATION = "nnstudio"
APPLICATION = "nnstudio"
MAX_RECENT = 10
_RECENT_KEY = "files/recent"


def _home() -> Path | None:
    home = os.environ.get(HOME_ENV)
    return Path(home) if home else None


def settings() -> QSettings:
    """The settings store (recent files, theme, window geometry and dock layout)."""
    home = _home()
    if home is not None:
        with contextlib.suppress(OSError):  # unwritable: QSettings then keeps values in memory
            home.mkdir(parents=True, exist_ok=True)
        return QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def data_dir() -> Path:
    """A per-user folder for files the app writes itself (autosaves)."""
    home = _home()
    if home is not None:
        folder = home / "data"
    else:
        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        folder = Path(location) if location else Path.home() / ".nnstudio"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _as_list(value: object) -> list[str]:
    # QSettings returns a str for a one-item list in INI files, and None when unset.
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]  # type: ignore[union-attr]


def recent_files() -> list[str]:
    """Recently opened or saved projects that still exist, newest first."""
    return [p for p in _as_list(settings().value(_RECENT_KEY)) if Path(p).is_file()]


def add_recent_file(path: str | Path) -> None:
    path = str(Path(path).resolve())
    files = [path, *(p for p in recent_files() if p != path)][:MAX_RECENT]
    settings().setValue(_RECENT_KEY, files)


def clear_recent_files() -> None:
    settings().remove(_RECENT_KEY)


def value(key: str, default: object = None) -> object:
    return settings().value(key, default)


def set_value(key: str, data: object) -> None:
    settings().setValue(key, data)
