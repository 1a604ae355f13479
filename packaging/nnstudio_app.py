"""Entry point of the PyInstaller app folder: the same ``nnstudio`` command as a pip install.

With no arguments (or a project file) it opens the editor; ``validate``, ``info``,
``export`` and ``train`` work as on the command line.
"""

import multiprocessing
import sys

from nnstudio.cli import main

if __name__ == "__main__":
    # A frozen app has no separate Python to start worker processes with; this makes
    # DataLoader workers started by "spawn" re-enter here and run their task instead.
    multiprocessing.freeze_support()
    sys.exit(main())
