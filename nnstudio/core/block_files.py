"""Block files (``.nnblock``): one block definition, with the blocks it uses, shared as a file.

A user's block library is a folder of these files; the editor lists them in
its palette. Like a project, a block file is data: it is parsed and checked
(recursion, missing blocks) before anything is built, and a bad file is a
FormatError naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nnstudio.core.atomic import write_atomic
from nnstudio.core.blocks import BlockLibrary
from nnstudio.core.errors import FormatError, GraphError

SUFFIX = ".nnblock"
KIND = "nnstudio-block"
FORMAT_VERSION = 1


def dumps(library: BlockLibrary, name: str) -> str:
    """The file text for block ``name`` and every block it uses."""
    library.get(name)
    data = {
        "app": KIND,
        "format_version": FORMAT_VERSION,
        "block": name,
        "blocks": library.to_records([name]),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def save(library: BlockLibrary, name: str, path: str | Path) -> Path:
    path = Path(path)
    write_atomic(path, dumps(library, name))
    return path


def read(path: str | Path) -> tuple[str, list[dict[str, Any]]]:
    """(block name, definition records) from a block file; checked by loading them into a
    scratch library first, so a bad file changes nothing."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"Cannot read the block file {path}: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from None
    if not isinstance(data, dict) or data.get("app") != KIND:
        raise FormatError(f"{path} is not an nnstudio block file.")
    if data.get("format_version") != FORMAT_VERSION:
        raise FormatError(
            f"{path} has block file format {data.get('format_version')!r}; "
            f"this nnstudio reads format {FORMAT_VERSION}."
        )
    name, records = data.get("block"), data.get("blocks")
    if not isinstance(name, str) or not isinstance(records, list):
        raise FormatError(f"{path} names no block or lists no definitions.")
    try:
        BlockLibrary().load_records(records)
    except (GraphError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FormatError(f"{path}: {exc}") from None
    if name not in {r.get("name") for r in records}:
        raise FormatError(f"{path} does not define the block '{name}' it names.")
    return name, records


def add_to(library: BlockLibrary, path: str | Path) -> str:
    """Add a block file's definitions to ``library`` (those it already has are kept as
    they are); returns the block's name."""
    name, records = read(path)
    library.load_records([r for r in records if r["name"] not in library])
    return name


def library_files(folder: str | Path) -> list[Path]:
    """The block files of a user library folder, by name."""
    folder = Path(folder)
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
