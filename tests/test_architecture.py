"""The house plan, checked: imports flow one way, and the core loads without torch or Qt."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "PySide6", "pyqtgraph")


def test_import_contracts_are_kept() -> None:
    """The import-linter contracts in pyproject.toml (layers, no Qt below the GUI,
    no torch in the core) hold for the code as it is now.

    Run through the interpreter running the tests (import-linter has no ``-m`` entry,
    so its console command is called from ``-c``): a venv whose bin is not on PATH
    still checks, and a missing 'test' extra fails rather than skips."""
    if importlib.util.find_spec("importlinter") is None:
        pytest.fail("import-linter is not installed; install the 'test' extra.")
    command = (
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    )
    result = subprocess.run(
        [sys.executable, "-c", command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "BROKEN" not in report and "0 broken" in report


def _modules_loaded_by(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it imported."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        heavy = {HEAVY!r}
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_core_and_the_package_load_without_torch_or_qt() -> None:
    """The editor window appears before torch is imported, so the core, the public
    package and every CLI command module must load and work without it."""
    loaded = _modules_loaded_by("""
        import importlib, pkgutil
        import nnstudio, nnstudio.core, nnstudio.commands, nnstudio.api, nnstudio.cli, nnstudio.resources
        for package in (nnstudio.core, nnstudio.commands):
            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{package.__name__}.{module.name}")
        from nnstudio.core import layout, project
        from nnstudio.resources import example_files
        for path in example_files():
            graph = nnstudio.Graph.load(path)
            graph.validate(); graph.num_parameters(); layout.apply_layout(graph); project.dumps(graph)
        nnstudio.cli.build_parser()
    """)
    assert loaded == []


def test_validate_and_info_run_without_torch_or_qt() -> None:
    loaded = _modules_loaded_by("""
        import contextlib, io
        from nnstudio.cli import main
        from nnstudio.resources import example_files
        with contextlib.redirect_stdout(io.StringIO()):
            for path in example_files():
                assert main(["validate", str(path)]) == 0
                assert main(["info", str(path)]) == 0
    """)
    assert loaded == []
