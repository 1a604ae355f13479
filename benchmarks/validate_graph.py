"""How long validation and shape inference take on a 1,000-node network, and
how long a 100,000-node project takes to open.

The editor re-analyses the graph after every edit, so ``analyze()`` must stay
well below the time a user notices. This script builds a deep, valid graph
that mixes convolutions, pooling, dense layers, residual Adds and Concat
branches, then times ``GraphModel.analyze()`` with its cache cleared before
each run and prints the median against the 100 ms limit.

It then saves a 100,000-node chain (Linear and ReLU, as the hardening
acceptance check builds it) and times loading that file plus one validation,
against a 5 s limit: loading must stay linear in the number of nodes.

Run it with ``python benchmarks/validate_graph.py [--nodes N] [--runs R] [--big N]``
(``--big 0`` skips the large file).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nnstudio.core.graph import GraphModel

LIMIT_MS = 100.0
BIG_LIMIT_S = 5.0


class _Builder:
    """Appends layers to a graph, one current tensor at a time."""

    def __init__(self) -> None:
        self.graph = GraphModel(name="benchmark")
        self.x = self.graph.add("Input", shape=[16, 32, 32])
        self.channels = 16

    def layer(self, type_name: str, source: str | None = None, **params) -> str:
        node = self.graph.add(type_name, **params)
        self.graph.connect(source or self.x, node)
        return node

    def merge(self, type_name: str, sources: list[str]) -> str:
        node = self.graph.add(type_name)
        for source in sources:
            self.graph.connect(source, node)
        return node

    def residual_block(self) -> None:
        """conv-bn-relu-conv-bn, added back to the block's input: 7 nodes."""
        skip = self.x
        h = self.layer("Conv2d", out_channels=self.channels, padding=1, bias=False)
        h = self.layer("BatchNorm2d", h)
        h = self.layer("ReLU", h)
        h = self.layer("Conv2d", h, out_channels=self.channels, padding=1, bias=False)
        h = self.layer("BatchNorm2d", h)
        h = self.merge("Add", [h, skip])
        self.x = self.layer("ReLU", h)

    def branch_block(self) -> None:
        """Two parallel convolutions joined by Concat and squeezed back: 4 nodes."""
        half = self.channels // 2
        a = self.layer("Conv2d", out_channels=half, kernel_size=1)
        b = self.layer("Conv2d", out_channels=half, kernel_size=3, padding=1)
        joined = self.merge("Concat", [a, b])
        self.x = self.layer("Conv2d", joined, out_channels=self.channels, kernel_size=1)

    def downsample(self) -> None:
        self.x = self.layer("MaxPool2d")

    def head(self) -> None:
        """Pool, a residual MLP filled up to the target size, and the Output."""
        self.x = self.layer("GlobalAvgPool2d")
        self.x = self.layer("Linear", out_features=64)
        self.x = self.layer("ReLU")
        while len(self.graph) + 4 <= self.target - 2:
            skip = self.x
            h = self.layer("Linear", out_features=64)
            h = self.layer("Dropout", h, p=0.1)
            h = self.layer("Tanh", h)
            self.x = self.merge("Add", [h, skip])
        while len(self.graph) < self.target - 2:
            self.x = self.layer("GELU")
        self.x = self.layer("Linear", out_features=10)
        self.layer("Output")

    def build(self, target: int) -> GraphModel:
        self.target = target
        body = int(target * 0.9)
        pools = 0
        while len(self.graph) < body:
            self.residual_block()
            self.branch_block()
            if len(self.graph) > (pools + 1) * body // 4 and pools < 3:
                self.downsample()
                pools += 1
        self.head()
        return self.graph


def build_graph(nodes: int = 1000) -> GraphModel:
    """A valid graph of exactly ``nodes`` layers (from about 100 up; smaller ones overshoot)."""
    return _Builder().build(nodes)


def time_analyze(graph: GraphModel, runs: int) -> list[float]:
    """Milliseconds per ``analyze()``, the cache forgotten before each run."""
    timings = []
    for _ in range(runs):
        graph.events.changed.emit()  # what every edit does: forget the cached analysis
        start = time.perf_counter()
        graph.analyze()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def build_chain(nodes: int) -> GraphModel:
    """Input, then Linear and ReLU alternating, then Output: ``nodes`` layers in all."""
    graph = GraphModel(name="chain")
    previous = graph.add("Input", shape=[8])
    for i in range(nodes - 2):
        node = graph.add("ReLU") if i % 2 else graph.add("Linear", out_features=8)
        graph.connect(previous, node)
        previous = node
    graph.connect(previous, graph.add("Output"))
    return graph


def time_load_and_validate(nodes: int) -> tuple[float, float]:
    """Seconds (wall, CPU) to load a saved ``nodes``-layer project and validate it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.nnstudio"
        build_chain(nodes).save(path)
        wall, cpu = time.perf_counter(), time.process_time()
        graph = GraphModel.load(path)
        problems = [d.message for d in graph.validate() if d.is_error]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if problems:
        raise SystemExit(f"The {nodes}-node chain is not valid: {problems[0]}")
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--big", type=int, default=100_000, help="nodes in the file to load (0: skip)")
    args = parser.parse_args(argv)

    graph = build_graph(args.nodes)
    analysis = graph.analyze()
    errors = [d.message for d in analysis.diagnostics]
    if errors:
        print("The benchmark graph is not valid:", *errors[:5], sep="\n  ")
        return 1
    timings = time_analyze(graph, args.runs)
    median = statistics.median(timings)
    print(
        f"analyze() on {len(graph)} nodes, {len(graph.edges)} edges, "
        f"{graph.num_parameters():,} parameters: median {median:.1f} ms over {args.runs} runs "
        f"(best {min(timings):.1f} ms); limit {LIMIT_MS:.0f} ms, ratio {median / LIMIT_MS:.2f}"
    )
    ok = median <= LIMIT_MS
    if args.big:
        wall, cpu = time_load_and_validate(args.big)
        print(
            f"load + validate of a {args.big:,}-node project: {wall:.2f} s ({cpu:.2f} s CPU); "
            f"limit {BIG_LIMIT_S:.0f} s, ratio {wall / BIG_LIMIT_S:.2f}"
        )
        ok = ok and wall <= BIG_LIMIT_S
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
