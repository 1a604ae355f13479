"""Where a study lives: a journal file by default, SQLite, or a shared PostgreSQL server.

The default is Optuna's journal file in the sweep's folder: no server to start,
and several processes may append to it at once. ``sqlite:///path`` and
``postgresql://user:pass@host/db`` URLs go through Optuna's RDB storage; with
PostgreSQL, workers on many machines share one study. Every failure to open a
storage is one StorageError sentence that names the URL (without its password).
"""

from __future__ import annotations

import importlib.util
import random
import re
import time
import warnings
from pathlib import Path
from typing import Any

from nnstudio.experiments.errors import OPTUNA_HINT, MissingExtraError, StorageError

JOURNAL_NAME = "optuna.journal"
# Workers on RDB storages beat every HEARTBEAT seconds; a running trial silent for
# GRACE seconds belonged to a worker that died, and the next worker marks it failed.
HEARTBEAT, GRACE = 20, 120


def require_optuna() -> Any:
    """Import optuna, or raise MissingExtraError saying what to install."""
    try:
        import optuna
    except ImportError:
        raise MissingExtraError(f"Sweeps need Optuna, which is not installed: {OPTUNA_HINT}.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_url(folder: Path) -> str:
    return str(Path(folder) / JOURNAL_NAME)


def open_storage(url: str | None, folder: Path) -> Any:
    """The storage at ``url`` (None: the journal file in ``folder``)."""
    optuna = require_optuna()
    url = url or default_url(folder)
    if "://" not in url:  # a plain path: a journal file
        path = Path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise StorageError(f"Cannot open the study journal {path}: {exc.strerror or exc}.") from None
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        url = _postgres_driver(url)
    elif scheme.startswith("sqlite"):
        _make_sqlite_folder(url)
    for attempt in range(_SCHEMA_ATTEMPTS):
        try:
            return _rdb_storage(optuna, url)
        except ImportError as exc:
            raise MissingExtraError(
                f"The storage {redact(url)} needs the '{exc.name}' package: {OPTUNA_HINT}."
            ) from None
        except Exception as exc:  # SQLAlchemy's errors carry pages of detail; keep the cause
            # Workers started together on an empty database race to create Optuna's tables;
            # the loser finds them half made. A moment later they are there.
            if attempt + 1 < _SCHEMA_ATTEMPTS and _schema_race(exc):
                time.sleep(1.0 + random.random() * (attempt + 1))
                continue
            raise StorageError(f"Cannot reach the study storage {redact(url)}: {_first_line(exc)}.") from None
    raise AssertionError("unreachable")


_SCHEMA_ATTEMPTS = 4


def _rdb_storage(optuna: Any, url: str) -> Any:
    with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, engine_kwargs=_engine_kwargs(url), heartbeat_interval=HEARTBEAT, grace_period=GRACE
        )


def _schema_race(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", None) or exc).lower()
    return "already exists" in text or "duplicate key" in text or "unique constraint" in text


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _postgres_driver(url: str) -> str:
    """SQLAlchemy's plain ``postgresql://`` means psycopg2; use psycopg 3 when that is what
    is installed (it is what the sweep extra installs)."""
    scheme, rest = url.split("://", 1)
    if "+" in scheme or importlib.util.find_spec("psycopg2") is not None:
        return url
    if importlib.util.find_spec("psycopg") is None:
        raise MissingExtraError(f"PostgreSQL storage needs the psycopg package: {OPTUNA_HINT}.")
    return f"postgresql+psycopg://{rest}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        # An unreachable server should answer in seconds, not after the TCP timeout.
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {}


def _make_sqlite_folder(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    line = re.sub(r"^\([\w.]+\)\s*", "", line)  # "(psycopg.OperationalError) ..." -> "..."
    return line.rstrip(".")
