"""The Experiments panel: sweeps of the open project, run by ``nnstudio sweep`` in its own
process and shown from the study it writes; search-space marks in the inspector."""
