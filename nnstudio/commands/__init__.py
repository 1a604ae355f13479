"""Subcommands of the ``nnstudio`` CLI, one module each."""
