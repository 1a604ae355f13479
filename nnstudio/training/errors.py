"""Errors of the training package. Each message is a sentence a user can act on."""

from __future__ import annotations


class TrainingError(Exception):
    """Base class: something stops a run before or while it trains."""


class ConfigError(TrainingError, ValueError):
    """A training setting that is unknown or has a bad value."""


class DataError(TrainingError):
    """A data set that cannot be found, read or understood."""


class DataMismatchError(DataError):
    """Data that does not fit the network: input shape, classes or targets."""


class InspectError(TrainingError):
    """A view that cannot be computed for the node asked about."""
