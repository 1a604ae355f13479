"""The window paints on its own thread only. Qt's raster engine otherwise hands every fill of 96
or more rows to a pool of helper threads and waits for them: in a LeNet-5 run that was 80
hand-offs a second (the progress bar, the tab frame, the filter tiles), each waking a thread
that takes a core from training, which on a machine whose cores all train costs far more than
the fill itself (a 100 Hz waker slowed LeNet-5 by 8-14%)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os
    from PySide6.QtWidgets import QProgressBar
    from nnstudio.gui.app import create_application

    app = create_application([])
    bar = QProgressBar()
    bar.resize(1200, 400)  # tall enough that Qt would split its fills between threads
    for value in range(0, 100, 5):
        bar.setValue(value)
        bar.grab()
    names = [open(f"/proc/self/task/{tid}/comm").read().strip() for tid in os.listdir("/proc/self/task")]
    print(sum(name == "Thread (pooled)" for name in names))
""")


def test_painting_a_large_widget_starts_no_helper_threads(tmp_path):
    env = {**os.environ, "NNSTUDIO_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("QT_NO_GUI_THREADPOOL", None)  # what the app sets, not the test
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "0", f"{result.stdout.strip()} of Qt's painting helper threads started"
