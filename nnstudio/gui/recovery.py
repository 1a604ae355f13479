"""Autosave and crash recovery.

Every open window writes its unsaved graph every 30 s to
``<data dir>/recovery/<id>.nnstudio``, with a small JSON sidecar naming the
original file, and holds ``<id>.lock`` (a QLockFile) while it runs. A clean
save or close deletes the copy. After a crash or a kill the lock's owner is
gone, so the next start finds the copy and offers to recover it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QTimer, Signal

from nnstudio.api import Graph
from nnstudio.core import project
from nnstudio.core.graph import GraphModel
from nnstudio.gui import settings
from nnstudio.gui.document import Document

INTERVAL_MS = 30_000


def recovery_dir() -> Path:
    folder = settings.data_dir() / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class RecoveryEntry:
    """An autosaved graph whose window is gone."""

    project_path: Path
    meta_path: Path
    original: str | None
    name: str
    saved_at: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        where = self.original or "never saved"
        return f"{self.name} ({where}), autosaved {when}"

    def load(self) -> GraphModel:
        """The autosaved graph; raises FormatError when the copy is damaged."""
        return project.load(self.project_path, graph_class=Graph)

    def discard(self) -> None:
        for path in (self.project_path, self.meta_path, self.meta_path.with_suffix(".lock")):
            path.unlink(missing_ok=True)

    def set_aside(self) -> None:
        """Keep a copy that could not be loaded, but stop offering it."""
        self.meta_path.rename(self.meta_path.with_suffix(".json.unreadable"))


def _owner_alive(lock_path: Path) -> bool:
    lock = QLockFile(str(lock_path))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
    if lock.tryLock(0):
        lock.unlock()
        return False
    return lock.error() == QLockFile.LockError.LockFailedError


class _BadRecord(ValueError):
    """A sidecar that is not the record the autosaver writes."""


def _read_record(meta_path: Path, project_path: Path) -> tuple[str | None, str, float]:
    """(original, name, saved_at) from a sidecar. Recovery files are untrusted input:
    anything but the shape the autosaver writes raises _BadRecord."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise _BadRecord(f"it is not readable JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise _BadRecord(f"it holds {type(meta).__name__}, not a record")
    original = meta.get("original")
    if original is not None and not (isinstance(original, str) and original and "\0" not in original):
        raise _BadRecord(f"'original' is {original!r}, not a file path")
    name = meta.get("name", project_path.stem)
    if not isinstance(name, str):
        raise _BadRecord(f"'name' is {name!r}, not text")
    saved_at = meta.get("saved_at", project_path.stat().st_mtime)
    if isinstance(saved_at, bool) or not isinstance(saved_at, int | float) or not math.isfinite(saved_at):
        raise _BadRecord(f"'saved_at' is {saved_at!r}, not a time")
    try:
        time.localtime(saved_at)
    except (OverflowError, OSError, ValueError):
        raise _BadRecord(f"'saved_at' {saved_at!r} is not a time this computer can show") from None
    return original, name[:200], float(saved_at)


def _set_aside(meta_path: Path, project_path: Path, reason: str) -> str:
    """Stop offering a damaged autosave, keeping its files; return the notice to show."""
    aside = meta_path.with_suffix(".json.unreadable")
    with contextlib.suppress(OSError):  # else offered and set aside again: never a reason not to start
        meta_path.replace(aside)
    return (
        f"An autosave record could not be used ({reason}); it was set aside as {aside.name}. "
        f"The autosaved copy, if any, is kept at {project_path}."
    )


def leftovers(notices: list[str] | None = None) -> list[RecoveryEntry]:
    """Autosaves whose window did not close cleanly, oldest first. Damaged records are
    set aside, and a sentence about each is appended to ``notices``."""
    entries = []
    try:
        folder = recovery_dir()
    except OSError:
        return []  # no place for autosaves, so none to recover
    for meta_path in sorted(folder.glob("*.json")):
        project_path = meta_path.with_suffix(project.SUFFIX)
        if _owner_alive(meta_path.with_suffix(".lock")):
            continue  # another running nnstudio owns it
        if not project_path.is_file():
            meta_path.unlink(missing_ok=True)
            continue
        try:
            original, name, saved_at = _read_record(meta_path, project_path)
        except (_BadRecord, OSError) as exc:
            notice = _set_aside(meta_path, project_path, str(exc))
            if notices is not None:
                notices.append(notice)
            continue
        entries.append(RecoveryEntry(project_path, meta_path, original, name, saved_at))
    return sorted(entries, key=lambda e: e.saved_at)


class Autosaver(QObject):
    """Writes the document to its recovery file every ``interval_ms`` when it has changed."""

    saved = Signal(Path)

    def __init__(
        self, document: Document, interval_ms: int = INTERVAL_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        key = uuid.uuid4().hex
        try:
            folder = recovery_dir()
        except OSError:
            folder = None  # nowhere to write: editing goes on, without autosave
        self.enabled = folder is not None
        folder = folder or Path(os.devnull).parent
        self.project_path = folder / f"{key}{project.SUFFIX}"
        self.meta_path = folder / f"{key}.json"
        self._lock = QLockFile(str(folder / f"{key}.lock"))
        self._lock.setStaleLockTime(0)
        if self.enabled:
            self._lock.tryLock(0)
        self._revision = 0
        self._saved_revision = -1
        self.document: Document | None = None
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.save_now)
        if self.enabled:
            self.timer.start()
        self.set_document(document)

    def set_document(self, document: Document) -> None:
        if self.document is not None:
            self.document.undo_stack.indexChanged.disconnect(self._on_edited)
        self.document = document
        document.undo_stack.indexChanged.connect(self._on_edited)
        self._revision += 1
        self.discard()

    def _on_edited(self, _index: int) -> None:
        self._revision += 1

    def save_now(self) -> bool:
        """Write the recovery copy if there is unsaved work not yet written; True if written."""
        document = self.document
        if not self.enabled:
            return False
        if document is None or not document.modified:
            self.discard()
            return False
        if self._saved_revision == self._revision and self.project_path.exists():
            return False
        try:
            project.write_atomic(self.project_path, project.dumps(document.graph))
            meta = {
                "original": str(document.path) if document.path else None,
                "name": document.display_name,
                "saved_at": time.time(),
                "pid": os.getpid(),
            }
            project.write_atomic(self.meta_path, json.dumps(meta, indent=1))
        except OSError:
            return False  # a full disk must not interrupt editing; the next tick retries
        self._saved_revision = self._revision
        self.saved.emit(self.project_path)
        return True

    def discard(self) -> None:
        """Delete the recovery copy (after a save, or when there is nothing unsaved)."""
        if not self.enabled:
            return
        self.project_path.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        self._saved_revision = -1

    def close(self) -> None:
        """The window closed cleanly: nothing to recover."""
        self.timer.stop()
        self.discard()
        if self.enabled:
            self._lock.unlock()
        if self.document is not None:
            self.document.undo_stack.indexChanged.disconnect(self._on_edited)
            self.document = None
