"""``nnstudio info FILE``: a per-node summary table, like torchinfo's."""

from __future__ import annotations

import argparse
import sys

from nnstudio.commands._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    human_bytes,
    human_count,
    load_or_report,
)
from nnstudio.core.blocks import type_label
from nnstudio.core.layers import format_shape


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("info", help="show every layer's shape, parameters and cost")
    parser.add_argument("file", help="a .nnstudio project")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = load_or_report(args.file)
    if graph is None:
        return EXIT_BAD_INPUT
    analysis = graph.analyze()
    header = ("Name", "Type", "Output shape", "Params", "Mult-adds", "Activations")
    rows = []
    # Data-flow order, then anything the order leaves out (layers on a loop).
    placed = set(analysis.order)
    ordered = analysis.order + [n for n in graph.nodes if n not in placed]
    for node_id in ordered:
        node = graph.nodes[node_id]
        fig = analysis.figures.get(node_id)
        rows.append(
            (
                node.name,
                type_label(node),  # an instance: its block and repeat
                format_shape(analysis.shapes.get(node_id)),
                f"{fig.parameters:,}" if fig else "?",
                human_count(fig.macs) if fig else "?",
                human_bytes(fig.activation_bytes) if fig else "?",
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

    def line(row) -> str:
        cells = [
            str(c).ljust(w) if i < 3 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells)

    print(f"{graph.name}" + (f": {graph.description.splitlines()[0]}" if graph.description else ""))
    print(rule)
    print(line(header))
    print(rule)
    for row in rows:
        print(line(row))
    print(rule)
    figures = analysis.model_figures()
    params = sum(f.parameters for f in figures)
    print(f"Total parameters: {params:,} ({human_bytes(4 * params)} as float32)")
    print(f"Mult-adds per sample: {human_count(sum(f.macs for f in figures))}")
    print(f"Activations per sample (forward): {human_bytes(sum(f.activation_bytes for f in figures))}")
    errors = [d for d in analysis.diagnostics if d.is_error]
    if errors:
        print(
            f"\n{len(errors)} problem(s); run 'nnstudio validate {args.file}' for details.", file=sys.stderr
        )
        return EXIT_FAILED
    return EXIT_OK
