"""The built-in data sets. They live in ``recipe`` (shared with the exported train.py);
these names stay for the code that imports them from here."""

from nnstudio.training.recipe import (
    BUILTIN,
    SEQUENCE_LENGTH,
    SHAPE_KINDS,
    Builder,
    circles,
    digits,
    moons,
    sequences,
    shapes,
)

__all__ = [
    "BUILTIN",
    "SEQUENCE_LENGTH",
    "SHAPE_KINDS",
    "Builder",
    "circles",
    "digits",
    "moons",
    "sequences",
    "shapes",
]
