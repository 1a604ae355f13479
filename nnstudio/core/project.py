"""The ``.nnstudio`` project file: versioned JSON, parsed as data, saved atomically.

Loading never executes anything from the file: the JSON is checked against a
schema (pydantic) and migrated to the current version before any live object
is built. Every failure is a FormatError naming the file and the problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, StrictBool, ValidationError, model_validator

from nnstudio.core.atomic import remove_stale_temps, replace_atomically, write_atomic
from nnstudio.core.errors import FormatError, GraphError, UnsupportedFormatVersionError
from nnstudio.core.graph import GraphModel, paused_gc

__all__ = ["FORMAT_VERSION", "dumps", "load", "loads", "parse", "replace_atomically", "save", "write_atomic"]

SUFFIX = ".nnstudio"
FORMAT_VERSION = 4
APP_TAG = "nnstudio"

_Id = Field(min_length=1, max_length=64)


class NodeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = _Id
    type: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = {}
    position: tuple[FiniteFloat, FiniteFloat] = (0.0, 0.0)
    # Inside a block only: false or a condition ("$norm_first") switches the node off per
    # instance. Optional, so format 4 files without it read unchanged (no new version).
    enabled: StrictBool | Annotated[str, Field(min_length=1, max_length=200)] = True


class EdgeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = _Id
    target: str = _Id
    port: int = Field(0, ge=0, le=1024, strict=True)


class BlockRecord(BaseModel):
    """One block definition: declared parameters and a body (see nnstudio.core.blocks)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=20_000)
    params: list[dict[str, Any]] = []
    nodes: list[NodeRecord]
    edges: list[EdgeRecord]


class SweepParamRecord(BaseModel):
    """One swept target (``NODE.PARAM`` or a training setting): a range or choices."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(min_length=1, max_length=200)
    low: int | FiniteFloat | None = None
    high: int | FiniteFloat | None = None
    log: bool = False
    choices: list[bool | int | FiniteFloat | str] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _range_or_choices(self) -> SweepParamRecord:
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError(f"'{self.target}' needs a range (low and high) or choices")
        return self


class SweepRecord(BaseModel):
    """The search space of ``nnstudio sweep`` and the Experiments panel."""

    model_config = ConfigDict(extra="forbid")

    params: list[SweepParamRecord] = Field(default_factory=list, max_length=1000)


class ProjectRecord(BaseModel):
    """The whole file. ``training`` holds settings; ``runs`` the history of runs."""

    model_config = ConfigDict(extra="forbid")

    app: str = APP_TAG
    format_version: int
    name: str = Field("Untitled", max_length=200)
    description: str = Field("", max_length=20_000)
    nodes: list[NodeRecord]
    edges: list[EdgeRecord]
    training: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    blocks: list[BlockRecord] = []
    sweep: SweepRecord | None = None


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added the training settings and the run history."""
    return {**data, "format_version": 2, "training": {}, "runs": []}


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 moved input normalisation from the training settings onto each Input node.

    It happens inside the model now (so exported models take raw data). Each float
    Input gets the normalisation the old setting gave it: "auto" meant min-max for a
    network trained to reconstruct its input and standardisation otherwise.
    """
    training = data.get("training")
    training = dict(training) if isinstance(training, dict) else training
    old = training.pop("normalize", "auto") if isinstance(training, dict) else "auto"
    if old not in ("standard", "minmax", "none"):
        reconstructs = isinstance(training, dict) and training.get("target") == "input"
        old = "minmax" if reconstructs else "standard"
    nodes = []
    for node in data.get("nodes") or []:
        if isinstance(node, dict) and node.get("type") == "Input" and isinstance(node.get("params"), dict):
            params = dict(node["params"])
            float_input = params.get("dtype", "float32") == "float32"
            params.setdefault("normalize", old if float_input else "none")
            params.setdefault("normalize_per", "auto")
            node = {**node, "params": params}
        nodes.append(node)
    return {**data, "format_version": 3, "training": training, "nodes": nodes}


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """Version 4 added block definitions (reusable sub-networks); older files have none."""
    return {**data, "format_version": 4, "blocks": []}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}


def to_record(graph: GraphModel) -> dict[str, Any]:
    data = graph.to_dict()
    return {
        "app": APP_TAG,
        "format_version": FORMAT_VERSION,
        "name": data["name"],
        "description": data["description"],
        "nodes": data["nodes"],
        "edges": data["edges"],
        "training": graph.training,
        "runs": graph.runs,
        "blocks": graph.blocks.to_records(),
        **({"sweep": graph.sweep} if graph.sweep else {}),
    }


def dumps(graph: GraphModel) -> str:
    return json.dumps(to_record(graph), indent=2, ensure_ascii=False) + "\n"


def save(graph: GraphModel, path: str | Path) -> None:
    """Write the project atomically: a crash mid-save leaves the old file intact."""
    write_atomic(Path(path), dumps(graph))


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # \ud800 to \udfff


def parse(text: str, source: str = "<project>") -> ProjectRecord:
    """Parse and migrate project JSON; raises FormatError naming ``source``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{source}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); "
            "the file may be truncated or corrupt."
        ) from None
    except RecursionError:
        raise FormatError(f"{source} is nested too deeply to be an nnstudio project.") from None
    # JSON may spell lone surrogates ("\ud800") that no file can store; a project holding one
    # would load but could never be saved again. Only an escape can spell one (decoded UTF-8
    # holds none), so the document is encoded again only when the text has such an escape:
    # that costs a 100,000-node project a third of a second.
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError(f"{source} contains text that is not valid Unicode.") from None
    if not isinstance(data, dict) or "format_version" not in data:
        raise FormatError(f"{source} is not an nnstudio project (it has no 'format_version').")
    if data.get("app", APP_TAG) != APP_TAG:
        raise FormatError(f"{source} was written by '{data.get('app')}', not nnstudio.")
    version = data["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"{source}: 'format_version' must be a positive whole number, not {version!r}.")
    if version > FORMAT_VERSION:
        raise UnsupportedFormatVersionError(
            f"{source} was written by a newer nnstudio (format {version}; this version reads up "
            f"to {FORMAT_VERSION}). Update nnstudio to open it."
        )
    while version < FORMAT_VERSION:
        data = MIGRATIONS[version](data)
        version = data["format_version"]
    try:
        return ProjectRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise FormatError(f"{source}: at '{where}': {first['msg']}.") from None


def loads(text: str, source: str = "<project>", graph_class: type[GraphModel] = GraphModel) -> GraphModel:
    record = parse(text, source)
    try:
        graph = graph_class.from_dict(record.model_dump(), training=record.training)
    except GraphError as exc:
        raise FormatError(f"{source}: {exc}") from None
    if record.sweep is not None and record.sweep.params:
        graph.sweep = record.sweep.model_dump(exclude_defaults=True)
    return graph


def load(path: str | Path, graph_class: type[GraphModel] = GraphModel) -> GraphModel:
    """Read a project file; any problem raises FormatError naming the file."""
    path = Path(path)
    remove_stale_temps(path)  # what a save killed mid-way left beside it
    with paused_gc():  # a large project builds millions of objects and no garbage cycles
        return _load(path, graph_class)


def _load(path: Path, graph_class: type[GraphModel]) -> GraphModel:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"Cannot open {path}: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError:
        raise FormatError(f"{path} is not a text file, so it cannot be an nnstudio project.") from None
    return loads(text, str(path), graph_class)
