"""The desktop editor (PySide6). The only package that imports Qt.

``nnstudio.gui.app.run_app`` opens it; nothing here imports torch at import
time, so the window appears before torch is loaded.
"""
