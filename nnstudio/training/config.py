"""Training settings: the project file's ``training`` section given meaning.

A project stores its training settings as a plain dict (``GraphModel.training``),
for example ``{"dataset": "digits", "optimizer": "adam", "lr": 0.002,
"batch_size": 64, "epochs": 15}``. :class:`TrainConfig` reads exactly that
dict, fills in a default for every missing key, and rejects unknown keys and
bad values with a sentence naming the setting. ``to_settings`` writes the
dict back: the five settings every project shows, plus any other that differs
from its default, so a loaded project saves unchanged.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from nnstudio.core.seeds import SEED_MAX, SEED_MIN
from nnstudio.training.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "cosine")
LOSSES = ("auto", "cross_entropy", "mse", "bce_with_logits")
TARGETS = ("label", "input")
PRECISIONS = ("fp32", "bf16")

# Written by to_settings even when they hold their default: they are what a
# reader of the project file expects to see.
_ALWAYS_WRITTEN = ("dataset", "optimizer", "lr", "batch_size", "epochs")
# Names people write for a setting, other than its own: for "did you mean".
_ALIASES = {
    "learning_rate": "lr",
    "batch": "batch_size",
    "batchsize": "batch_size",
    "epoch": "epochs",
    "optim": "optimizer",
    "scheduler": "schedule",
    "loss_fn": "loss",
    "criterion": "loss",
    "data": "dataset",
    "amp": "precision",
    "cuda_graphs": "fast",
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a run trains. Immutable; use ``replace``."""

    # data
    dataset: str = "digits"  # a built-in name (see data.BUILTIN) or a file/folder path
    label_column: str | int | None = None  # CSV: column name or index; default: the last
    target: str = "label"  # "input": reconstruct the input (autoencoders)
    val_split: float = 0.2
    workers: int | None = None  # DataLoader workers for file-backed data; None: automatic
    # optimisation
    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.9  # SGD and RMSprop
    weight_decay: float = 0.0
    schedule: str = "none"  # learning rate per epoch: none, step (x0.1 at 50% and 75%), cosine
    batch_size: int = 64
    epochs: int = 10
    loss: str = "auto"  # auto: MSE for reconstruction/regression, else cross-entropy
    seed: int = 0
    # execution
    device: str = "auto"  # auto: CUDA, then Apple MPS, then CPU
    precision: str = "fp32"  # bf16: autocast on CUDA
    compile: bool = False  # torch.compile the model
    fast: bool = False  # CUDA: capture the whole step as one CUDA graph
    report_every: float = 0.05  # seconds between progress reports

    def __post_init__(self) -> None:
        for f in fields(self):
            _CHECKS[f.name](f.name, getattr(self, f.name))

    # --- the project file's dict ---------------------------------------------------

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> TrainConfig:
        """Read a project's ``training`` dict; raises ConfigError with a sentence."""
        settings = dict(settings or {})
        known = [f.name for f in fields(cls)]
        for key in settings:
            if key not in known:
                close = (
                    [_ALIASES[key]] if key in _ALIASES else difflib.get_close_matches(str(key), known, n=1)
                )
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ConfigError(
                    f"Unknown training setting '{key}'.{hint} Known settings: {', '.join(known)}."
                )
        return cls(**settings)

    def to_settings(self) -> dict[str, Any]:
        """The ``training`` dict to save: the usual five plus every non-default value."""
        values = asdict(self)
        return {
            f.name: values[f.name]
            for f in fields(self)
            if f.name in _ALWAYS_WRITTEN or values[f.name] != f.default
        }

    def with_overrides(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (None values are ignored), checked again."""
        changes = {k: v for k, v in changes.items() if v is not None}
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"Unknown training setting '{sorted(unknown)[0]}'.")
        return replace(self, **changes)

    # --- derived choices ----------------------------------------------------------------

    def lr_at(self, epoch: int) -> float:
        """Learning rate for 0-based ``epoch`` under the schedule (the recipe's rule, shared
        with the exported train.py; imported here, as it needs torch and this module does not)."""
        from nnstudio.training.recipe import lr_at

        return lr_at(self.schedule, self.lr, epoch, self.epochs)


# --- value checks, one per setting -------------------------------------------------------


def _fail(name: str, wanted: str, value: Any) -> None:
    raise ConfigError(f"Training setting '{name}' must be {wanted}, not {value!r}.")


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            _fail(name, "one of " + ", ".join(repr(c) for c in choices), value)

    return check


def _number(low: float, high: float, *, low_open: bool = False) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > low if low_open else value >= low) and value <= high
        if not ok:
            bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
            _fail(name, f"a number {bound} and at most {high:g}", value)

    return check


def _whole(low: int, high: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            _fail(name, f"a whole number from {low} to {high}", value)

    return check


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(name, "true or false", value)


def _text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        _fail(name, "a data set name or a file path", value)


def _label_column(name: str, value: Any) -> None:
    if (
        value is None
        or (isinstance(value, str) and value)
        or (isinstance(value, int) and not isinstance(value, bool))
    ):
        return
    _fail(name, "a column name or index", value)


def _workers(name: str, value: Any) -> None:
    if value is not None:
        _whole(0, 64)(name, value)


def _device(name: str, value: Any) -> None:
    if not isinstance(value, str) or not (
        value in ("auto", "cpu", "cuda", "mps") or (value.startswith("cuda:") and value[5:].isdigit())
    ):
        _fail(name, "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'", value)


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "dataset": _text,
    "label_column": _label_column,
    "target": _choice(TARGETS),
    "val_split": _number(0.0, 0.9, low_open=True),
    "workers": _workers,
    "optimizer": _choice(OPTIMIZERS),
    "lr": _number(0.0, 10.0, low_open=True),
    "momentum": _number(0.0, 0.999),
    "weight_decay": _number(0.0, 1.0),
    "schedule": _choice(SCHEDULES),
    "batch_size": _whole(1, 65536),
    "epochs": _whole(1, 100_000),
    "loss": _choice(LOSSES),
    "seed": _whole(SEED_MIN, SEED_MAX),
    "device": _device,
    "precision": _choice(PRECISIONS),
    "compile": _flag,
    "fast": _flag,
    "report_every": _number(0.0, 60.0),
}
