"""Copy and paste of nodes through the system clipboard.

The data is ``graph.to_dict(selected_ids)`` as JSON, under our own MIME type
and as plain text, so paste works between windows and between processes.
Pasted data is untrusted: it is checked with the project file's schema, and
the nodes get fresh ids, unique names and offset positions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QMimeData

from nnstudio.core import project
from nnstudio.core.errors import FormatError
from nnstudio.core.graph import Edge, GraphModel
from nnstudio.gui.editor.undo import NodeRecord, Position, fresh_ids

MIME_TYPE = "application/x-nnstudio-nodes"


def to_mime(graph: GraphModel, node_ids: Iterable[str]) -> QMimeData:
    data = graph.to_dict(node_ids)
    text = json.dumps(
        {
            "nnstudio_nodes": 1,
            "nodes": data["nodes"],
            "edges": data["edges"],
            "blocks": data.get("blocks", []),
        },
        indent=1,
    )
    mime = QMimeData()
    mime.setData(MIME_TYPE, text.encode("utf-8"))
    mime.setText(text)
    return mime


def from_mime(mime: QMimeData | None) -> dict[str, Any] | None:
    """The nodes and edges on the clipboard, checked; None when there are none."""
    if mime is None:
        return None
    if mime.hasFormat(MIME_TYPE):
        text = bytes(mime.data(MIME_TYPE).data()).decode("utf-8", errors="replace")
    elif mime.hasText() and '"nnstudio_nodes"' in mime.text():
        text = mime.text()
    else:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not data.get("nodes"):
        return None
    record = {
        "format_version": project.FORMAT_VERSION,
        "nodes": data["nodes"],
        "edges": data.get("edges", []),
        "blocks": data.get("blocks", []),
    }  # the definitions of copied block instances
    try:
        parsed = project.parse(json.dumps(record), source="The clipboard")
    except FormatError:
        return None
    return {
        "nodes": [n.model_dump() for n in parsed.nodes],
        "edges": [e.model_dump() for e in parsed.edges],
        "blocks": [b.model_dump() for b in parsed.blocks],
    }


def _unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    match = re.fullmatch(r"(.*?)(\d+)", name)
    stem, number = (match.group(1), int(match.group(2))) if match and match.group(1) else (name, 1)
    number += 1
    while f"{stem}{number}" in taken:
        number += 1
    return f"{stem}{number}"


def prepare_paste(
    graph: GraphModel,
    data: dict[str, Any],
    offset: Position = (40.0, 40.0),
    anchor: Position | None = None,
) -> tuple[list[NodeRecord], list[Edge]]:
    """Records for the pasted nodes: fresh ids, unique names, moved by ``offset``
    (or placed so their top-left corner is at ``anchor``). Edges that leave the
    pasted set are dropped. Block definitions that come along and that ``graph``'s
    project lacks are added to it (one of the same name is kept as it is)."""
    missing = [r for r in data.get("blocks", []) if r["name"] not in graph.blocks]
    if missing:
        graph.blocks.load_records(missing)
    nodes = data["nodes"]
    ids = fresh_ids(graph, len(nodes))
    id_map = {record["id"]: new for record, new in zip(nodes, ids, strict=True)}
    if anchor is not None:
        left = min(r["position"][0] for r in nodes)
        top = min(r["position"][1] for r in nodes)
        offset = (anchor[0] - left, anchor[1] - top)
    taken = {n.name for n in graph.nodes.values()}
    records = []
    for record in nodes:
        name = _unique_name(record["name"], taken)
        taken.add(name)
        x, y = record["position"]
        records.append(
            NodeRecord(
                id_map[record["id"]],
                record["type"],
                name,
                dict(record["params"]),
                (x + offset[0], y + offset[1]),
                # A condition means something only inside a block; pasted into the model, on.
                record.get("enabled", True) if graph.owner is not None else True,
            )
        )
    edges = [
        Edge(id_map[e["source"]], id_map[e["target"]], e["port"])
        for e in data["edges"]
        if e["source"] in id_map and e["target"] in id_map
    ]
    return records, edges
