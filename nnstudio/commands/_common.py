"""Helpers shared by the subcommands, and the exit codes every one of them uses."""

from __future__ import annotations

import sys

from nnstudio.api import Graph
from nnstudio.commands.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from nnstudio.core.errors import FormatError, GraphError

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "diagnostic_line",
    "error",
    "exit_code_for",
    "human_bytes",
    "human_count",
    "load_or_report",
    "report_invalid",
]


def error(message: object) -> None:
    """Every error goes to stderr, in the same form."""
    print(f"error: {message}", file=sys.stderr)


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error that refused a command before it could run.

    A graph that cannot be built is the graph failing (1); anything else that
    refuses a command (a project, data or weights file, an export folder, a
    setting, the file system) is a bad file or flag (2). A run that would not fit in memory is a
    failed run, as running out of memory mid-run is.
    """
    if isinstance(exc, GraphError) and not isinstance(exc, FormatError):
        from nnstudio.compiler.export import ExportError
        from nnstudio.compiler.train_script import TrainScriptError

        # Export's own refusals are about what was asked: weights that do not fit, a
        # folder holding someone else's files, a train.py this graph cannot have.
        return EXIT_BAD_INPUT if isinstance(exc, ExportError | TrainScriptError) else EXIT_FAILED
    if getattr(exc, "failed_run", False):
        return EXIT_FAILED
    return EXIT_BAD_INPUT


def load_or_report(path: str) -> Graph | None:
    """Load a project, or print why it cannot be loaded and return None."""
    try:
        return Graph.load(path)
    except FormatError as exc:
        error(exc)
        return None


def diagnostic_line(graph: Graph, diagnostic) -> str:
    """A diagnostic as one line that names its node once (messages usually name it already)."""
    node = graph.nodes.get(diagnostic.node) if diagnostic.node else None
    if node is None or f"'{node.name}'" in diagnostic.message:
        return f"{diagnostic.severity}: {diagnostic.message}"
    return f"{diagnostic.severity}: {node.type} '{node.name}': {diagnostic.message}"


def report_invalid(graph: Graph, file: str, verb: str) -> int | None:
    """Print the graph's errors and return EXIT_FAILED, or None when it has none."""
    errors = [d for d in graph.validate() if d.is_error]
    if not errors:
        return None
    for d in errors:
        print(diagnostic_line(graph, d), file=sys.stderr)
    print(f"{file}: cannot {verb}, the graph has {len(errors)} error(s).", file=sys.stderr)
    return EXIT_FAILED


def human_count(value: int) -> str:
    """1234567 -> '1.23M'; small values stay exact."""
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.2f}{suffix}"
    return str(value)


def human_bytes(value: int) -> str:
    for limit, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= limit:
            return f"{value / limit:.1f} {suffix}"
    return f"{value} B"
