"""Where nnstudio's bundled files live (examples, icons), in a checkout or a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """The ``resources`` folder: beside the package in a checkout, inside it in a wheel."""
    for candidate in (_PACKAGE_DIR / "_resources", _PACKAGE_DIR.parent / "resources"):
        if (candidate / "examples").is_dir():
            return candidate
    raise FileNotFoundError("nnstudio's resources folder is missing; reinstall nnstudio.")


def examples_dir() -> Path:
    return resources_dir() / "examples"


def example_files() -> list[Path]:
    """The bundled example projects, sorted by name."""
    return sorted(examples_dir().glob("*.nnstudio"))
