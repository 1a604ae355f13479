"""The desktop editor (PySide6). The only package that imports Qt.

``nnstudio.gui.app.run_app`` opens it; nothing here imports torch at import
time, so the window appears before torch is loaded.
"""

from nnstudio.gui import _pyside_fix

# Before any widget exists: see _pyside_fix for the PySide6 bug this guards against.
_pyside_fix.apply()
