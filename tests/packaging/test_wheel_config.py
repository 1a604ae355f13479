"""What `pip install nnstudio` gets: complete metadata, both entry points, and the
resources inside the wheel. packaging/check_wheel.sh goes further (sdist and wheel
built in isolation, installed into a fresh venv, run from outside the checkout)."""

from __future__ import annotations

import email
import runpy
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import setuptools

import nnstudio

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_metadata_has_urls_a_gui_entry_point_and_an_spdx_license():
    project = PYPROJECT["project"]
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"])
    assert project["scripts"]["nnstudio"] == "nnstudio.cli:main"
    assert project["gui-scripts"]["nnstudio-gui"] == "nnstudio.cli:main"
    assert project["license"] == "MIT"  # PEP 639; the table form and license classifiers are deprecated
    assert not any(c.startswith("License ::") for c in project["classifiers"])
    assert "Environment :: X11 Applications :: Qt" in project["classifiers"]


def test_setup_py_ships_every_resources_folder_inside_the_package(monkeypatch):
    captured: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"))
    assert captured["package_dir"] == {"nnstudio._resources": "resources"}
    folders = {p.name for p in (ROOT / "resources").iterdir() if p.is_dir()}
    assert {f"nnstudio._resources.{f}" for f in folders} <= set(captured["packages"])
    code_packages = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "nnstudio").rglob("__init__.py")
    }
    assert code_packages <= set(captured["packages"])
    # pyproject must not override setup.py's package list.
    assert "packages" not in PYPROJECT.get("tool", {}).get("setuptools", {})


def _source_copy(target: Path) -> None:
    """The files a build reads, copied away from the checkout so it stays clean."""
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, target / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "nnstudio", target / "nnstudio", ignore=ignore)
    shutil.copytree(ROOT / "resources", target / "resources", ignore=ignore)


def test_the_wheel_holds_code_resources_and_entry_points(tmp_path: Path):
    if int(setuptools.__version__.split(".")[0]) < 77:  # the build runs with the installed one
        pytest.skip(
            f"setuptools {setuptools.__version__} predates SPDX license strings; the test extra needs >=77"
        )
    source = tmp_path / "src"
    source.mkdir()
    _source_copy(source)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode and "No module named" in result.stderr:
        pytest.skip(f"cannot build here: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("nnstudio-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"nnstudio-{nnstudio.__version__}.dist-info"
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    for path in (ROOT / "resources").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"nnstudio/_resources/{path.relative_to(ROOT / 'resources').as_posix()}" in names
    for path in (ROOT / "nnstudio").rglob("*.py"):
        assert path.relative_to(ROOT).as_posix() in names
    assert "[gui_scripts]\nnnstudio-gui = nnstudio.cli:main" in entry_points
    assert "[console_scripts]\nnnstudio = nnstudio.cli:main" in entry_points
    assert metadata["License-Expression"] == "MIT"
    assert any(url.startswith("Issues, https://") for url in metadata.get_all("Project-URL"))
