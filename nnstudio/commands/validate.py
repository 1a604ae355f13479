"""``nnstudio validate FILE``: list what is wrong; exit 1 when the graph is invalid.

Diagnostics go to stderr like every other command's errors; the verdict for a
valid project goes to stdout."""

from __future__ import annotations

import argparse
import sys

from nnstudio.commands._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    diagnostic_line,
    error,
    load_or_report,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("validate", help="check a project and list what is wrong")
    parser.add_argument("file", help="a .nnstudio project")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = load_or_report(args.file)
    if graph is None:
        return EXIT_BAD_INPUT
    if not graph.nodes:
        error("The project has no layers; add an Input, some layers and an Output.")
        print(f"{args.file}: invalid (empty).", file=sys.stderr)
        return EXIT_FAILED
    diagnostics = graph.validate()
    for d in diagnostics:
        print(diagnostic_line(graph, d), file=sys.stderr)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        print(f"{args.file}: invalid ({errors} error(s), {warnings} warning(s)).", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{args.file}: valid, {len(graph)} nodes, {graph.num_parameters():,} parameters"
        + (f", {warnings} warning(s)." if warnings else ".")
    )
    return EXIT_OK
