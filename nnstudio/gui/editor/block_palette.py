"""Blocks in the palette: the built-in library, the project's own blocks and the
user's library folder (``<app data>/blocks/*.nnblock``).

A palette entry for a block carries the type ``"Block:<name>"``; adding one makes
sure the project has the definition (from the built-ins or the user's file) and
adds an instance of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnstudio.core import block_files
from nnstudio.core.block_library import BUILTINS, add_builtin
from nnstudio.core.blocks import BLOCK_TYPE, PORT_SPECS, BlockError
from nnstudio.core.graph import GraphModel
from nnstudio.gui import settings

PREFIX = "Block:"


def user_library_dir() -> Path:
    """The user's block library; raises OSError when the app's data folder is unusable."""
    folder = settings.data_dir() / "blocks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _library_files() -> list[Path]:
    try:
        return block_files.library_files(user_library_dir())
    except OSError:  # no writable data folder: the editor works on without a block library
        return []


def entries(graph: GraphModel) -> list[tuple[str, str, str]]:
    """(palette type, label, tooltip) of every block a user can add to ``graph``."""
    found: dict[str, tuple[str, str, str]] = {}
    for definition in graph.blocks:
        found[definition.name] = (
            PREFIX + definition.name,
            definition.name,
            definition.description or "A block of this project.",
        )
    for name, builtin in BUILTINS.items():
        found.setdefault(name, (PREFIX + name, name, builtin.description))
    for path in _library_files():
        found.setdefault(path.stem, (PREFIX + path.stem, path.stem, f"From your block library: {path}"))
    ports = [(PREFIX + name, f"{name} (port)", spec.description) for name, spec in PORT_SPECS.items()]
    return list(found.values()) + (ports if graph.owner is not None else [])


def resolve(graph: GraphModel, type_name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A palette type as (node type, parameters); for a block, its definition is added to
    the project first if it is not there yet. Raises GraphError in words."""
    if not type_name.startswith(PREFIX):
        return type_name, params
    name = type_name[len(PREFIX) :]
    if name in PORT_SPECS:  # a port, inside an opened block
        return name, params
    if name not in graph.blocks:
        if name in BUILTINS:
            add_builtin(graph.blocks, name)
        else:
            found = [p for p in _library_files() if p.stem == name]
            if not found:
                raise BlockError(
                    f"There is no block named '{name}' in the project, the built-in "
                    "blocks or your block library."
                )
            block_files.add_to(graph.blocks, found[0])
    return BLOCK_TYPE, {"block": name, **params}
