"""``nnstudio validate FILE``: print the diagnostics; exit 1 when invalid."""

from __future__ import annotations

import argparse

from nnstudio.commands._common import load_or_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("validate", help="check a project and list what is wrong")
    parser.add_argument("file", help="a .nnstudio project")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = load_or_report(args.file)
    if graph is None:
        return 2
    if not graph.nodes:
        print("error: The project has no layers; add an Input, some layers and an Output.")
        print(f"{args.file}: invalid (empty).")
        return 1
    diagnostics = graph.validate()
    for d in diagnostics:  # every message names its node already
        print(f"{d.severity}: {d.message}")
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        print(f"{args.file}: invalid ({errors} error(s), {warnings} warning(s)).")
        return 1
    print(f"{args.file}: valid, {len(graph)} nodes, {graph.num_parameters():,} parameters"
          + (f", {warnings} warning(s)." if warnings else "."))
    return 0
