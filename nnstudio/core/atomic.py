"""Replace files atomically: a crash at any moment leaves the old file or the new one.

The new text goes to a hidden temporary file beside the target (same folder, so
the final rename cannot cross file systems), is flushed to disk, and is then
renamed over the target. The process umask is never touched: a new file is
created with mode 0666 and the kernel applies the umask itself, an existing
file keeps the mode it had. (Reading the umask means setting it, and a thread
saving at the same moment would then create a world-writable file.)
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically; see ``replace_atomically``."""
    replace_atomically(Path(path), lambda handle: handle.write(text.encode("utf-8")))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    replace_atomically(Path(path), lambda handle: handle.write(data))


def temp_name(path: Path) -> Path:
    """A fresh hidden name beside ``path``: ``.NAME.<random>.tmp``."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def replace_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, fsync, then replace ``path`` with it."""
    path = Path(path)
    existing_mode = _existing_mode(path)
    tmp, fd = _create_temp(path)
    try:
        if existing_mode is not None:
            os.fchmod(fd, existing_mode)  # saving never changes who can read the file
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _create_temp(path: Path) -> tuple[Path, int]:
    for _ in range(100):
        tmp = temp_name(path)
        try:
            # 0o666 & ~umask, applied by the kernel: what a plain open() would give.
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"Cannot create a temporary file beside {path}.")


def _existing_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; not possible on every platform."""
    try:
        dir_fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
