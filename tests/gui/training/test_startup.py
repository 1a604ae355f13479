"""The training docks cost the editor's start nothing: no torch and no pyqtgraph until needed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    from nnstudio.gui.app import create_application
    from nnstudio.gui.main_window import MainWindow

    app = create_application([])
    window = MainWindow()
    window.show()
    for _ in range(20):
        app.processEvents()
    print("torch", "torch" in sys.modules, "pyqtgraph", "pyqtgraph" in sys.modules,
          "train-menu", "train" in window.menus, "docks", sorted(window.docks))
    window.training.show_panel()  # looking at the panel may start the device probe: torch, later
    window.close()
""")


def test_the_window_opens_with_the_training_docks_but_without_torch_or_pyqtgraph(tmp_path):
    env = {**os.environ, "NNSTUDIO_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[0]
    assert line.startswith("torch False pyqtgraph False train-menu True"), line
    for dock in ("training", "metrics", "insights"):
        assert f"'{dock}'" in line
