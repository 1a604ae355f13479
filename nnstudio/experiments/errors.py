"""Errors of the experiments package. Each message is a sentence a user can act on."""

from __future__ import annotations


class SweepError(Exception):
    """Something stops a sweep before its first trial."""


class SpaceError(SweepError, ValueError):
    """A search space that cannot be used: a bad range, a parameter that does not exist."""


class StorageError(SweepError):
    """A study storage that cannot be opened or reached."""


class MissingExtraError(SweepError):
    """Optuna or a storage driver is not installed."""


OPTUNA_HINT = 'pip install "nnstudio[sweep]"'
