"""resources.py finds the bundled files in each layout nnstudio ships in."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

import nnstudio.resources as resources

ROOT = Path(__file__).resolve().parents[2]


def _load_copy(package_dir: Path):
    """nnstudio/resources.py as if imported from ``package_dir`` (an installed nnstudio)."""
    target = package_dir / "resources.py"
    shutil.copy(resources.__file__, target)
    spec = importlib.util.spec_from_file_location("nnstudio_resources_copy", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_checkout_uses_the_top_level_resources_folder():
    assert resources.resources_dir() == ROOT / "resources"
    assert [p.name for p in resources.example_files()] == sorted(
        p.name for p in (ROOT / "resources" / "examples").glob("*.nnstudio")
    )


def test_a_wheel_or_app_folder_uses_the_resources_inside_the_package(tmp_path: Path):
    # The wheel and the PyInstaller bundle both place resources/ at nnstudio/_resources.
    package = tmp_path / "site-packages" / "nnstudio"
    package.mkdir(parents=True)
    shutil.copytree(ROOT / "resources", package / "_resources")
    installed = _load_copy(package)
    assert installed.resources_dir() == package / "_resources"
    assert installed.example_files()[0].parent == package / "_resources" / "examples"
    assert installed.app_icon(64) == package / "_resources" / "icons" / "nnstudio-64.png"


def test_a_broken_install_says_to_reinstall(tmp_path: Path):
    package = tmp_path / "site-packages" / "nnstudio"
    package.mkdir(parents=True)
    installed = _load_copy(package)
    with pytest.raises(FileNotFoundError, match="reinstall nnstudio"):
        installed.resources_dir()
