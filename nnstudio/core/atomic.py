"""Replace files atomically: a crash at any moment leaves the old file or the new one.

The new text goes to a hidden temporary file beside the target (same folder, so
the final rename cannot cross file systems), is flushed to disk, and is then
renamed over the target. The process umask is never touched: a new file is
created with mode 0666 and the kernel applies the umask itself, an existing
file keeps the mode it had. (Reading the umask means setting it, and a thread
saving at the same moment would then create a world-writable file.)

A save killed outright (``kill -9``, a power cut) leaves its temporary file
behind. The temporary's name carries the writer's process id, so the next save
or open of the same file removes the ones whose writer is gone.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"
# Temporaries of a writer we cannot identify (no process id in the name, or on
# Windows, where a process cannot be probed safely) count as stale after this long.
_ORPHAN_AGE_S = 3600.0
_WRITER = re.compile(r"(\d+)-[0-9a-f]+")

_in_flight: set[Path] = set()  # this process's temporaries still being written
_in_flight_lock = threading.Lock()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically; see ``replace_atomically``."""
    replace_atomically(Path(path), lambda handle: handle.write(text.encode("utf-8")))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    replace_atomically(Path(path), lambda handle: handle.write(data))


def temp_name(path: Path) -> Path:
    """A fresh hidden name beside ``path``: ``.NAME.<pid>-<random>.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temporaries beside ``path`` left by saves that were killed; return them.

    Another writer's temporary is kept while that process lives (it may be saving
    right now), and so is one this process is still writing. Never raises."""
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    try:
        with os.scandir(path.parent if str(path.parent) else ".") as entries:
            names = [e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return []
    for name in names:
        temp = path.with_name(name)
        if _being_written(temp, name[len(prefix) : -len(TEMP_SUFFIX)]):
            continue
        try:
            temp.unlink()
        except OSError:
            continue
        removed.append(temp)
    return removed


def _being_written(temp: Path, tag: str) -> bool:
    match = _WRITER.fullmatch(tag)
    if match is not None and sys.platform != "win32":
        pid = int(match.group(1))
        if pid == os.getpid():
            with _in_flight_lock:
                return temp in _in_flight
        try:
            os.kill(pid, 0)  # signal 0 only asks whether the process exists
        except ProcessLookupError:
            return False
        except OSError:
            return True  # it exists (owned by someone else), or we cannot tell
        return True
    try:
        return time.time() - temp.stat().st_mtime < _ORPHAN_AGE_S
    except OSError:
        return True


def replace_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, fsync, then replace ``path`` with it."""
    path = Path(path)
    existing_mode = _existing_mode(path)
    remove_stale_temps(path)
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
    finally:
        with _in_flight_lock:
            _in_flight.discard(tmp)
    _sync_folder(path.parent)


def _create_temp(path: Path) -> tuple[Path, int]:
    for _ in range(100):
        tmp = temp_name(path)
        with _in_flight_lock:  # registered before it exists, so no cleanup can take it
            _in_flight.add(tmp)
        try:
            # 0o666 & ~umask, applied by the kernel: what a plain open() would give.
            return tmp, os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666
            )
        except FileExistsError:
            with _in_flight_lock:
                _in_flight.discard(tmp)
            continue
        except BaseException:
            with _in_flight_lock:
                _in_flight.discard(tmp)
            raise
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
