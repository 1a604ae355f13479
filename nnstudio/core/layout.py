"""Automatic layered layout, and wires routed around the layers in their way.

Data flows left to right, one column per depth (Sugiyama's method, grown from
a sketch rather than taken from a library, because the parts that matter here
are specific to this editor: nodes of known sizes, long chains folded into
rows that fit a window, wires that stay off every box even after the user
moves one):

1. Layers by longest path from the inputs.
2. Every wire that spans several columns gets a placeholder ("dummy") in each
   column it crosses, so a shortcut reserves its own lane and branches fan out.
3. Barycentre sweeps order each column to reduce crossings.
4. Rows are placed by least-squares alignment with each node's neighbours,
   keeping order and a minimum gap (pool-adjacent-violators).
5. A network deeper than fits the view's width is folded into bands, read
   like lines of text; the wire from a band's end to the next band's start
   runs through the gap between them.

``route_wire`` then finds, for one wire and the boxes currently on the
canvas, either nothing (the plain curve is clear) or corner points of a path
through free space; the editor draws it, so the route follows any later move.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from nnstudio.core.graph import GraphModel, Node

COLUMN_GAP = 260.0  # x step between columns: a box plus room for the wire's shape label
NODE_WIDTH = 160.0  # the editor's box width (nnstudio.gui.editor.node_item.WIDTH)
ROW_CLEARANCE = 34.0  # free space between two boxes in one column
LANE = 28.0  # half the room a wire passing between boxes needs
BAND_GAP = 70.0  # free space between folded bands: the lane for wires to the next band
VIEW = (748.0, 490.0)  # the canvas of a 1280x800 window: a layout should fit it readable
READABLE_ZOOM = 0.6
MAX_BAND_COLUMNS = 16
GOOD_ZOOM = 0.7  # beyond this, a fold that keeps branches whole matters more than zoom

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # left, top, right, bottom


def estimated_height(node: Node) -> float:
    """The editor's box height for ``node``, from its catalog entry (no Qt here)."""
    shown = min(len([p for p in node.spec.key_params if p in node.params]), 6)
    ports = node.spec.max_inputs or 2
    return max(24 + 6 + 16 * shown + 34, ports * 18 + 12)


def node_box(position: Point, size: tuple[float, float]) -> Box:
    """A node's box; its position is the middle of its left side (where the inputs are)."""
    x, y = position
    width, height = size
    return (x, y - height / 2, x + width, y + height / 2)


# --- layout ------------------------------------------------------------------------------


def layered_positions(
    graph: GraphModel,
    sizes: Mapping[str, tuple[float, float]] | None = None,
    view: tuple[float, float] = VIEW,
    sweeps: int = 8,
) -> dict[str, Point]:
    """A position for every node; nodes on loops are placed after the rest.

    ``sizes`` are the boxes the editor draws (estimated from the catalog when
    missing); ``view`` is the window the whole network should fit.
    """
    if not graph.nodes:
        return {}
    size = {
        n: (sizes or {}).get(n) or (NODE_WIDTH, estimated_height(node)) for n, node in graph.nodes.items()
    }
    rank = _ranks(graph)
    columns, edges = _with_dummies(graph, rank)
    _order(columns, edges, sweeps)
    half = {v: size[v][1] / 2 if v in size else LANE for col in columns for v in col}
    y = _rows(columns, edges, half)
    return _fold(graph, rank, y, half, view)


def _ranks(graph: GraphModel) -> dict[str, int]:
    """Longest path from the inputs; loops (only possible behind connect's back) go last."""
    nxg = graph.nx_graph
    acyclic = (
        nxg
        if nx.is_directed_acyclic_graph(nxg)
        else nx.DiGraph((u, v) for u, v in nxg.edges() if not nx.has_path(nxg, v, u))
    )
    rank: dict[str, int] = {}
    for node_id in nx.topological_sort(acyclic) if len(acyclic) else []:
        rank[node_id] = 1 + max((rank[p] for p in acyclic.predecessors(node_id)), default=-1)
    last = max(rank.values(), default=-1)
    for node_id in graph.nodes:  # isolated or cyclic leftovers
        if node_id not in rank:
            last += 1 if node_id not in acyclic else 0
            rank[node_id] = max(last, 0)
    return rank


def _with_dummies(graph: GraphModel, rank: dict[str, int]) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """Columns of nodes (insertion order as a stable first guess) and the edges between
    neighbouring columns, with a dummy in each column a longer edge crosses."""
    columns: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    for node_id in graph.nodes:
        columns[rank[node_id]].append(node_id)
    edges: list[tuple[str, str]] = []
    for k, edge in enumerate(graph.edges):
        a, b = rank[edge.source], rank[edge.target]
        if b <= a:
            continue  # a loop's back edge: left to the router
        previous = edge.source
        for r in range(a + 1, b):
            dummy = f"\0{k}:{r}"
            columns[r].append(dummy)
            edges.append((previous, dummy))
            previous = dummy
        edges.append((previous, edge.target))
    return columns, edges


def _order(columns: list[list[str]], edges: list[tuple[str, str]], sweeps: int) -> None:
    """Barycentre sweeps, alternately down and up the columns, keeping the best order seen."""
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for a, b in edges:
        succs.setdefault(a, []).append(b)
        preds.setdefault(b, []).append(a)
    index = {v: i for col in columns for i, v in enumerate(col)}

    def crossings() -> int:
        total = 0
        for col in columns[:-1]:
            pairs = sorted((index[a], index[b]) for a in col for b in succs.get(a, ()))
            if len(pairs) > 1:  # a deep chain's columns hold one wire: nothing to cross
                total += _inversions([b for _, b in pairs])
        return total

    best, best_count = [list(c) for c in columns], crossings()
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        near_of = preds if forward else succs

        def barycentre(v: str, near_of: dict[str, list[str]] = near_of) -> float:
            near = near_of.get(v)
            return sum(index[n] for n in near) / len(near) if near else index[v]

        for col in columns[1:] if forward else columns[-2::-1]:
            if len(col) < 2:
                continue  # one node: one order
            col.sort(key=barycentre)
            for i, v in enumerate(col):
                index[v] = i
        count = crossings()
        if count < best_count:
            best, best_count = [list(c) for c in columns], count
    columns[:] = best


def _inversions(values: list[int]) -> int:
    """Pairs i < j with values[j] < values[i]: the wires between two columns that cross
    (n log n; counting pair by pair took most of a 1,000-node layout)."""
    seen: list[int] = []
    total = 0
    for v in values:
        total += len(seen) - bisect.bisect_right(seen, v)
        bisect.insort(seen, v)
    return total


def _rows(columns: list[list[str]], edges: list[tuple[str, str]], half: dict[str, float]) -> dict[str, float]:
    """y of every node and dummy: each column in its order, with room between boxes, as near
    as it can be to the mean of its neighbours' y (so chains run straight)."""
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for a, b in edges:
        succs.setdefault(a, []).append(b)
        preds.setdefault(b, []).append(a)
    y: dict[str, float] = {}
    for col in columns:
        _place(col, [0.0] * len(col), half, y)
    for sweep in range(6):
        forward = sweep % 2 == 0
        for col in columns[1:] if forward else columns[-2::-1]:
            wanted = []
            for v in col:
                near = (preds if forward else succs).get(v, [])
                other = (succs if forward else preds).get(v, [])
                ys = [y[n] for n in near] or [y[n] for n in other] or [y[v]]
                wanted.append(sum(ys) / len(ys))
            _place(col, wanted, half, y)
    return y


def _place(col: list[str], wanted: list[float], half: dict[str, float], y: dict[str, float]) -> None:
    """Least-squares positions near ``wanted`` in the column's order with minimum gaps:
    pool adjacent violators over blocks of nodes packed tight."""
    if len(col) == 1:  # most columns of a deep network: where its neighbours want it
        y[col[0]] = wanted[0]
        return
    offsets = [0.0]
    for a, b in itertools.pairwise(col):
        offsets.append(offsets[-1] + half[a] + half[b] + ROW_CLEARANCE)
    blocks: list[list[float]] = []  # [first index, last index, sum of (wanted - offset), count]
    for i, w in enumerate(wanted):
        blocks.append([i, i, w - offsets[i], 1])
        while len(blocks) > 1 and blocks[-2][2] / blocks[-2][3] > blocks[-1][2] / blocks[-1][3]:
            last = blocks.pop()
            blocks[-1][1] = last[1]
            blocks[-1][2] += last[2]
            blocks[-1][3] += last[3]
    for first, last, total, count in blocks:
        base = total / count
        for i in range(int(first), int(last) + 1):
            y[col[i]] = base + offsets[i]


def _fold(
    graph: GraphModel,
    rank: dict[str, int],
    y: dict[str, float],
    half: dict[str, float],
    view: tuple[float, float],
) -> dict[str, Point]:
    """Cut the columns into bands that fit ``view`` best and stack the bands downwards.

    Bands are cut where one wire alone crosses (a neck), so a branch and its merge
    stay in one band, unless only splitting a wide block makes the network readable;
    the router then takes the branch's wire through the gap between the bands.
    """
    depth = max(rank.values()) + 1
    extent = [(math.inf, -math.inf) for _ in range(depth)]  # (top, bottom) of each column
    for v, value in y.items():
        r = rank[v] if v in rank else int(v.split(":")[1])
        top, bottom = extent[r]
        extent[r] = (min(top, value - half[v]), max(bottom, value + half[v]))
    crossing = [0] * (depth + 1)  # wires between column r - 1 and column r
    for edge in graph.edges:
        for r in range(rank[edge.source] + 1, rank[edge.target] + 1):
            crossing[r] += 1
    necks = [r for r in range(1, depth) if crossing[r] == 1]

    def bands(width: int, at_necks: bool) -> list[tuple[int, int]]:
        out, start = [], 0
        while start < depth:
            if depth - start <= width:
                end = depth
            elif not at_necks:
                end = start + width
            else:  # the last neck within the width, else the first one beyond it
                last = bisect.bisect_right(necks, start + width) - 1
                if last >= 0 and necks[last] > start:
                    end = necks[last]
                else:
                    beyond = bisect.bisect_right(necks, start)
                    end = necks[beyond] if beyond < len(necks) else depth
            out.append((start, end))
            start = end
        return out

    @functools.cache
    def band_height(a: int, b: int) -> tuple[float, float]:  # the same bands recur in many cuts
        return min(extent[r][0] for r in range(a, b)), max(extent[r][1] for r in range(a, b))

    def heights(cut: list[tuple[int, int]]) -> list[tuple[float, float]]:
        return [band_height(a, b) for a, b in cut]

    def zoom(cut: list[tuple[int, int]]) -> float:
        w = max(b - a for a, b in cut) * COLUMN_GAP - (COLUMN_GAP - NODE_WIDTH)
        h = sum(bottom - top for top, bottom in heights(cut)) + BAND_GAP * (len(cut) - 1)
        return min(view[0] / (w + 80), view[1] / (h + 80))

    def merit(c: list[tuple[int, int]]) -> tuple:
        # Readable first; then cuts that split no branch (a shortcut then stays in its
        # band); then the larger zoom; then fewer bands.
        split = sum(1 for a, _ in c[1:] if a not in neck_set)
        fit = round(zoom(c), 2)
        return (min(fit, GOOD_ZOOM), -split, fit, -len(c))

    neck_set = set(necks)
    cut = bands(depth, True)
    if depth > 2 and zoom(cut) < READABLE_ZOOM:  # fold only what does not fit: one row reads best
        widths = range(min(depth, MAX_BAND_COLUMNS), 1, -1)  # wider bands never fit a window
        cut = max((bands(k, n) for k in widths for n in (True, False)), key=merit)
    # The first band keeps the y computed (the inputs near the origin); the others follow below.
    offset: dict[int, tuple[float, int]] = {}
    previous_bottom: float | None = None
    for (first, last), (top, bottom) in zip(cut, heights(cut), strict=True):
        dy = 0.0 if previous_bottom is None else previous_bottom + BAND_GAP - top
        for r in range(first, last):
            offset[r] = (dy, r - first)
        previous_bottom = bottom + dy
    positions: dict[str, Point] = {}
    for node_id in graph.nodes:
        dy, column = offset[rank[node_id]]
        positions[node_id] = (column * COLUMN_GAP, round(y[node_id] + dy, 1))
    return positions


def apply_layout(graph: GraphModel, sizes: Mapping[str, tuple[float, float]] | None = None) -> None:
    """Move every node to its layered position (emits node_moved for each)."""
    for node_id, (x, y) in layered_positions(graph, sizes).items():
        graph.move(node_id, x, y)


# --- routing -----------------------------------------------------------------------------

STUB = 22.0  # a wire leaves and enters its ports straight for this long
CLEARANCE = 14.0  # how far a routed wire keeps from the boxes it passes
MAX_OBSTACLES = 80  # routing costs lanes x boxes: beyond this many boxes near a wire, draw it plain
MAX_LANES = 16


@dataclass(frozen=True)
class Curve:
    """The editor's plain wire: a cubic with horizontal tangents at both ends."""

    start: Point
    end: Point

    @property
    def controls(self) -> tuple[Point, Point]:
        (sx, sy), (ex, ey) = self.start, self.end
        dx = ex - sx
        reach = max(abs(dx) * 0.5, 40.0) if dx >= 0 else max(80.0, abs(ey - sy) * 0.5 + 60)
        return (sx + reach, sy), (ex - reach, ey)

    def points(self, count: int = 24) -> list[Point]:
        (c1x, c1y), (c2x, c2y) = self.controls
        (sx, sy), (ex, ey) = self.start, self.end
        out = []
        for i in range(count + 1):
            t = i / count
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t**3
            out.append((a * sx + b * c1x + c * c2x + d * ex, a * sy + b * c1y + c * c2y + d * ey))
        return out


def segment_hits_box(p: Point, q: Point, box: Box) -> bool:
    """Whether the segment p-q passes through the inside of ``box`` (Liang-Barsky clipping)."""
    left, top, right, bottom = box
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for edge_p, edge_q in ((-dx, x0 - left), (dx, right - x0), (-dy, y0 - top), (dy, bottom - y0)):
        if edge_p == 0:
            if edge_q <= 0:
                return False
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 >= t1:
            return False
    return True


def polyline_hits(points: Sequence[Point], boxes: Sequence[Box]) -> bool:
    """Whether any segment of ``points`` passes through any of ``boxes``."""
    if len(boxes) > 4:  # only boxes overlapping the whole line can stop one of its segments
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        left, right, top, bottom = min(xs) - 1, max(xs) + 1, min(ys) - 1, max(ys) + 1
        boxes = [b for b in boxes if b[0] < right and b[2] > left and b[1] < bottom and b[3] > top]
        if not boxes:
            return False
    for p, q in itertools.pairwise(points):
        left, right = min(p[0], q[0]), max(p[0], q[0])
        top, bottom = min(p[1], q[1]), max(p[1], q[1])
        for b in boxes:  # the cheap overlap test first: most boxes are nowhere near
            if (
                b[0] < right + 1
                and b[2] > left - 1
                and b[1] < bottom + 1
                and b[3] > top - 1
                and segment_hits_box(p, q, b)
            ):
                return True
    return False


class BoxIndex:
    """Boxes by key in a uniform grid of cells, so "which boxes touch this rectangle"
    looks only at the cells it covers, not at every box on the canvas; boxes can be
    put, moved and taken out one at a time (a drag moves one node, not all).

    ``checks`` counts the boxes looked at by queries: tests use it to see that
    an edit costs work near it, not work proportional to the whole graph.
    """

    def __init__(self, cell: float = 400.0) -> None:
        self.cell = cell
        self.checks = 0
        self._boxes: dict[object, Box] = {}
        self._cells: dict[tuple[int, int], set[object]] = {}

    def __len__(self) -> int:
        return len(self._boxes)

    def __contains__(self, key: object) -> bool:
        return key in self._boxes

    def get(self, key: object) -> Box | None:
        return self._boxes.get(key)

    def _span(self, box: Box) -> tuple[range, range]:
        c = self.cell
        return (
            range(math.floor(box[0] / c), math.floor(box[2] / c) + 1),
            range(math.floor(box[1] / c), math.floor(box[3] / c) + 1),
        )

    def put(self, key: object, box: Box) -> Box | None:
        """Index ``key`` at ``box`` (replacing where it was); returns its previous box."""
        old = self._boxes.get(key)
        if old == box:
            return old
        if old is not None:
            self._unlink(key, old)
        self._boxes[key] = box
        columns, rows = self._span(box)
        for i in columns:
            for j in rows:
                self._cells.setdefault((i, j), set()).add(key)
        return old

    def remove(self, key: object) -> Box | None:
        old = self._boxes.pop(key, None)
        if old is not None:
            self._unlink(key, old)
        return old

    def _unlink(self, key: object, box: Box) -> None:
        columns, rows = self._span(box)
        for i in columns:
            for j in rows:
                cell = self._cells.get((i, j))
                if cell is not None:
                    cell.discard(key)
                    if not cell:
                        del self._cells[(i, j)]

    def query(self, rect: Box, skip: Collection[object] = (), limit: int | None = None) -> dict[object, Box]:
        """The boxes overlapping ``rect`` by key, but those in ``skip``; at most ``limit`` + 1."""
        left, top, right, bottom = rect
        columns, rows = self._span(rect)
        if len(columns) * len(rows) > len(self._cells):  # a huge rectangle: walk the filled cells
            cells = [keys for (i, j), keys in self._cells.items() if i in columns and j in rows]
        else:
            cells = [self._cells[(i, j)] for i in columns for j in rows if (i, j) in self._cells]
        found: dict[object, Box] = {}
        seen: set[object] = set()  # a box spanning several cells is looked at once
        for keys in cells:
            for key in keys:
                if key in seen or key in skip:
                    continue
                seen.add(key)
                self.checks += 1
                box = self._boxes[key]
                if box[0] < right and box[2] > left and box[1] < bottom and box[3] > top:
                    found[key] = box
                    if limit is not None and len(found) > limit:
                        return found
        return found


def _inflate(box: Box, by: float) -> Box:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def curve_hits(start: Point, end: Point, obstacles: Sequence[Box]) -> bool:
    """Whether the plain curve from ``start`` to ``end`` runs through any of ``obstacles``."""
    return polyline_hits(Curve(start, end).points(), [_inflate(b, 2.0) for b in obstacles])


def route_wire(start: Point, end: Point, obstacles: Sequence[Box], ends: Sequence[Box] = ()) -> list[Point]:
    """Corner points of a wire from an output port at ``start`` to an input port at ``end``
    that passes through no box in ``obstacles`` (the boxes of nodes other than its two
    ends), or [] when the plain curve is already clear.

    The detour leaves straight, turns into a horizontal lane above or below the boxes in
    the way (the lane nearest to both ends that is free), and comes back in straight.
    ``ends`` are the wire's own two boxes: its lane must not run back through them either.
    """
    if len(obstacles) > MAX_OBSTACLES:
        return []  # a pile of overlapping layers (never laid out): no lane to find, keep it cheap
    backwards = end[0] < start[0] + 2 * STUB  # to the next band, or against the flow
    if not backwards and not curve_hits(start, end, obstacles):
        return []
    near = [_inflate(b, 2.0) for b in obstacles]
    (sx, sy), (ex, ey) = start, end
    x1, x2 = sx + STUB, ex - STUB
    lo, hi = min(x1, x2), max(x1, x2)
    in_span = [b for b in obstacles if b[2] > lo - CLEARANCE and b[0] < hi + CLEARANCE]
    lanes = {sy, ey}
    for _, top, _, bottom in in_span:
        lanes.update((top - CLEARANCE - 2, bottom + CLEARANCE + 2))
    wide = [_inflate(b, CLEARANCE) for b in obstacles]
    own = [_inflate(b, 4.0) for b in ends]
    for _, top, _, bottom in ends:
        lanes.update((top - CLEARANCE - 2, bottom + CLEARANCE + 2))
    fallback: list[Point] = []
    for lane in sorted(lanes, key=lambda v: abs(v - sy) + abs(v - ey))[:MAX_LANES]:
        route = [start, (x1, sy), (x1, lane), (x2, lane), (x2, ey), end]
        if not polyline_hits(route, wide) and not polyline_hits(route[1:-1], own):
            return _simplify(route)
        if not fallback and not polyline_hits(route, near):
            fallback = route  # clear, if closer to a box than it should be
    return _simplify(fallback) if fallback else []


def _simplify(points: list[Point]) -> list[Point]:
    """Drop repeated and collinear corners (a lane at the port's own height)."""
    out: list[Point] = []
    for p in points:
        if out and math.isclose(out[-1][0], p[0]) and math.isclose(out[-1][1], p[1]):
            continue
        if len(out) >= 2:
            (ax, ay), (bx, by) = out[-2], out[-1]
            if (math.isclose(ax, bx) and math.isclose(bx, p[0])) or (
                math.isclose(ay, by) and math.isclose(by, p[1])
            ):
                out[-1] = p
                continue
        out.append(p)
    return out
