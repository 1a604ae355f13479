"""Experiments: sweeps of a design's parameters and training settings, on Optuna.

A sweep asks "which values of these parameters train best?". Its pieces:

- ``space``: the search space as plain data (ranges and choices per node parameter
  or training setting), parsed from ``--param`` text and from the project file's
  ``sweep`` section, checked against the graph before any trial runs;
- ``variants``: a trial's values applied to a copy of the project;
- ``storage`` / ``study``: Optuna studies in a journal file, SQLite or PostgreSQL;
- ``runner``: drives a study, each trial in its own process (``trial``), reporting
  per-epoch figures to Optuna so that bad trials are pruned early.

Nothing here imports Qt; only ``trial`` (the child process) imports torch, and
Optuna is imported only where a study is opened, since it is an optional extra.
"""
