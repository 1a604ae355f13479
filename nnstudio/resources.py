"""Where nnstudio's bundled files live (examples, icons, desktop files).

Three layouts, one answer:

- a checkout or an editable install: the top-level ``resources/`` beside the package;
- a wheel: ``setup.py`` ships that folder as the data-only package ``nnstudio._resources``;
- the PyInstaller app folder: ``packaging/nnstudio.spec`` copies it to the same
  ``nnstudio/_resources`` place inside the bundle, where this module's ``__file__`` points.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent

# The reverse-DNS id shared by the .desktop file, the AppStream metainfo and the
# icon name; Qt's ``setDesktopFileName`` takes it so Wayland docks match the window.
APP_ID = "io.github.nnstudio.nnstudio"
MIME_TYPE = "application/x-nnstudio"


def resources_dir() -> Path:
    """The ``resources`` folder: inside the package when installed, beside it in a checkout."""
    for candidate in (_PACKAGE_DIR / "_resources", _PACKAGE_DIR.parent / "resources"):
        if (candidate / "examples").is_dir():
            return candidate
    raise FileNotFoundError("nnstudio's resources folder is missing; reinstall nnstudio.")


def examples_dir() -> Path:
    return resources_dir() / "examples"


def example_files() -> list[Path]:
    """The bundled example projects, sorted by name."""
    return sorted(examples_dir().glob("*.nnstudio"))


def icons_dir() -> Path:
    return resources_dir() / "icons"


def app_icon(size: int | None = None) -> Path:
    """The app icon: the SVG, or with ``size`` the smallest rendered PNG at least that large
    (the largest one when none is)."""
    if size is None:
        return icons_dir() / "nnstudio.svg"
    rendered = sorted((int(p.stem.rsplit("-", 1)[1]), p) for p in icons_dir().glob("nnstudio-*.png"))
    if not rendered:
        raise FileNotFoundError(f"No rendered app icons in {icons_dir()}; reinstall nnstudio.")
    return next((path for px, path in rendered if px >= size), rendered[-1][1])


def desktop_dir() -> Path:
    """The freedesktop files: ``APP_ID``.desktop, .metainfo.xml and the MIME type (.mime.xml)."""
    return resources_dir() / "desktop"
