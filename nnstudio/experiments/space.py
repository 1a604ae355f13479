"""The search space: which values a sweep may give each parameter, as plain data.

A ``Dimension`` names its target the way the user sees it, ``NODE.PARAM`` for a
node's parameter (``hidden.out_features``, ``drop.p``, a block instance's
``repeat``) or a bare training setting (``lr``, ``batch_size``, ``optimizer``),
and holds either a range ``low..high`` (linear or log) or a list of choices.
Whether a range is whole numbers or real ones comes from the target itself.

``resolve`` checks a space against a graph before any trial runs and returns
``Axis`` records (a dimension with its kind and what it points at); every problem
is a ``SpaceError`` whose sentence names the target. Dimensions are saved in the
project file's ``sweep`` section through ``to_record`` / ``from_record``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nnstudio.core.errors import ParamError
from nnstudio.core.graph import GraphModel
from nnstudio.experiments.errors import SpaceError
from nnstudio.training.config import OPTIMIZERS, SCHEDULES, TrainConfig
from nnstudio.training.errors import ConfigError

# Training settings a sweep may vary, with their kind. The data set, the split and the
# device stay fixed: trials compared on different data or hardware compare nothing.
SETTINGS: dict[str, str] = {
    "lr": "float",
    "weight_decay": "float",
    "momentum": "float",
    "batch_size": "int",
    "epochs": "int",
    "optimizer": "choice",
    "schedule": "choice",
    "seed": "int",
}
_SETTING_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES}
_ALIASES = {"learning_rate": "lr", "batch": "batch_size", "epoch": "epochs", "optim": "optimizer"}
GRID_POINTS = 5  # values a grid search tries along a real-valued range

Value = bool | int | float | str


@dataclass(frozen=True)
class Dimension:
    """One swept target: a range (``low``..``high``, maybe ``log``) or ``choices``."""

    target: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Value, ...] = ()

    @property
    def is_range(self) -> bool:
        return not self.choices

    def describe(self) -> str:
        """The ``--param`` text that gives this dimension."""
        if self.is_range:
            return f"{self.target}={_num(self.low)}..{_num(self.high)}" + (":log" if self.log else "")
        return f"{self.target}=" + ",".join(_text(c) for c in self.choices)

    def to_record(self) -> dict[str, Any]:
        if self.is_range:
            record: dict[str, Any] = {"target": self.target, "low": self.low, "high": self.high}
            if self.log:
                record["log"] = True
            return record
        return {"target": self.target, "choices": list(self.choices)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Dimension:
        if record.get("choices") is not None:
            return cls(str(record["target"]), choices=tuple(record["choices"]))
        return cls(
            str(record["target"]), record.get("low"), record.get("high"), bool(record.get("log", False))
        )


@dataclass(frozen=True)
class Axis:
    """A dimension checked against a graph: its kind and the node or setting it sets."""

    dimension: Dimension
    kind: str  # "int", "float" or "choice"
    node_id: str | None  # None for a training setting
    param: str  # the node's parameter, or the training setting's name

    @property
    def name(self) -> str:
        """The parameter's name in the study (what Optuna shows)."""
        return self.dimension.target

    def grid_values(self) -> list[Value]:
        """The values a grid search tries: every choice, every whole number of a short
        integer range, else ``GRID_POINTS`` evenly spaced (log-spaced for ``log``) values."""
        d = self.dimension
        if not d.is_range:
            return list(d.choices)
        low, high = float(d.low), float(d.high)  # type: ignore[arg-type]
        if self.kind == "int" and high - low + 1 <= 2 * GRID_POINTS and not d.log:
            return list(range(int(low), int(high) + 1))
        if d.log:
            points = [
                math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (GRID_POINTS - 1))
                for i in range(GRID_POINTS)
            ]
        else:
            points = [low + (high - low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
        if self.kind == "int":
            return sorted({round(p) for p in points})
        return sorted({float(f"{p:.6g}") for p in points})


# --- parsing ------------------------------------------------------------------------------------

_RANGE = re.compile(r"^(?P<low>[^.][^ ]*?)\.\.(?P<high>[^:]+?)(?::(?P<scale>\w+))?$")


def parse_param(text: str) -> Dimension:
    """``NODE.PARAM=LOW..HIGH[:log]``, ``NODE.PARAM=a,b,c`` or ``SETTING=...``."""
    target, sep, spec = text.partition("=")
    target, spec = target.strip(), spec.strip()
    if not sep or not target or not spec:
        raise SpaceError(
            f"--param {text!r}: write NAME=LOW..HIGH, NAME=LOW..HIGH:log or NAME=a,b,c, "
            "for example hidden.out_features=8..64 or lr=0.0001..0.1:log."
        )
    match = _RANGE.match(spec)
    if match:
        low, high = _number(match["low"], text), _number(match["high"], text)
        scale = (match["scale"] or "linear").lower()
        if scale not in ("log", "linear"):
            raise SpaceError(
                f"--param {text!r}: ':{match['scale']}' is not a scale; write ':log' or nothing."
            )
        return Dimension(target, low, high, log=scale == "log")
    choices = tuple(_value(part.strip()) for part in spec.split(","))
    if any(c == "" for c in choices):
        raise SpaceError(f"--param {text!r}: a choice is empty; separate choices by single commas.")
    return Dimension(target, choices=choices)


def merge(saved: Iterable[Dimension], given: Iterable[Dimension]) -> list[Dimension]:
    """The saved dimensions with ``given`` added; a given target replaces a saved one."""
    result = {d.target: d for d in saved}
    for d in given:
        result[d.target] = d
    return list(result.values())


def from_section(section: Mapping[str, Any] | None) -> list[Dimension]:
    """The dimensions of a project's ``sweep`` section (None: no sweep saved)."""
    if not section:
        return []
    return [Dimension.from_record(r) for r in section.get("params", [])]


def to_section(dimensions: Sequence[Dimension]) -> dict[str, Any] | None:
    """The ``sweep`` section holding ``dimensions``; None when there are none."""
    return {"params": [d.to_record() for d in dimensions]} if dimensions else None


# --- checking against a graph ------------------------------------------------------------------


def resolve(dimensions: Sequence[Dimension], graph: GraphModel) -> list[Axis]:
    """Check every dimension against ``graph``; raises SpaceError naming the first bad one."""
    if not dimensions:
        raise SpaceError(
            "There is nothing to sweep: mark parameters as swept in the inspector or pass "
            "--param, for example --param lr=0.0001..0.1:log."
        )
    return [_resolve(d, graph) for d in dimensions]


def _resolve(d: Dimension, graph: GraphModel) -> Axis:
    node_name, dot, param_name = d.target.rpartition(".")
    if not dot:
        return _setting_axis(d)
    node = _find_node(graph, node_name, d.target)
    try:
        param = node.spec.param(param_name)
    except ParamError:
        names = ", ".join(p.name for p in node.spec.params) or "none"
        raise SpaceError(
            f"{d.target}: {node.type} '{node.name}' has no parameter '{param_name}' "
            f"(its parameters: {names})."
        ) from None
    if param.kind == "shape":
        raise SpaceError(f"{d.target}: '{param_name}' is a shape; a sweep varies numbers or choices.")
    kind = param.kind if param.kind in ("int", "float") else "choice"
    if d.is_range and kind == "choice":
        allowed = ", ".join(_text(c) for c in (param.choices or (True, False)))
        raise SpaceError(f"{d.target} takes choices, not a range: write {d.target}={allowed}.")

    def check(value: Any) -> Any:
        try:
            return param.coerce(value)
        except ParamError as exc:
            if isinstance(value, int | float) and not isinstance(value, bool) and kind == "choice":
                try:  # "--param act.mode=1,2" where the choices are the strings "1", "2"
                    return param.coerce(_text(value))
                except ParamError:
                    pass
            raise SpaceError(f"{d.target}: {exc}") from None

    return _checked(d, kind, node.id, param_name, check)


def _setting_axis(d: Dimension) -> Axis:
    name = d.target
    if name not in SETTINGS:
        close = [_ALIASES[name]] if name in _ALIASES else difflib.get_close_matches(name, list(SETTINGS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise SpaceError(
            f"'{name}' is neither a node's parameter (write NODE.PARAM) nor a training setting a "
            f"sweep can vary.{hint} Settings: {', '.join(SETTINGS)}."
        )
    kind = SETTINGS[name]
    if d.is_range and kind == "choice":
        raise SpaceError(
            f"{name} takes choices, not a range: write {name}={','.join(_SETTING_CHOICES[name])}."
        )

    def check(value: Any) -> Any:
        if kind != "choice" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SpaceError(f"{name}: must be a number, not {_text(value)!r}.")
        if kind == "int" and not float(value).is_integer():
            raise SpaceError(f"{name}: must be a whole number, not {_text(value)}.")
        value = int(value) if kind == "int" else float(value) if kind == "float" else value
        try:
            TrainConfig().with_overrides(**{name: value})
        except ConfigError as exc:
            raise SpaceError(f"{name}: {exc}") from None
        return value

    return _checked(d, kind, None, name, check)


def _checked(d: Dimension, kind: str, node_id: str | None, param: str, check: Any) -> Axis:
    if not d.is_range:
        choices = tuple(check(c) for c in d.choices)
        if len(set(map(repr, choices))) != len(choices):
            raise SpaceError(f"{d.describe()}: a choice is given twice.")
        return Axis(Dimension(d.target, choices=choices), kind, node_id, param)
    if d.low is None or d.high is None:
        raise SpaceError(f"{d.target}: a range needs both ends, low..high.")
    if d.low > d.high:
        raise SpaceError(
            f"{d.describe()}: the low end {_num(d.low)} is above the high end {_num(d.high)}; "
            f"write {d.target}={_num(d.high)}..{_num(d.low)}."
        )
    if d.log and d.low <= 0:
        raise SpaceError(f"{d.describe()}: a log range must start above 0, not at {_num(d.low)}.")
    low, high = check(d.low), check(d.high)
    return Axis(Dimension(d.target, low, high, d.log), kind, node_id, param)


def _find_node(graph: GraphModel, name: str, target: str) -> Any:
    try:
        return graph.node_by_name(name)
    except Exception:
        names = [n.name for n in graph.nodes.values()]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise SpaceError(
            f"{target}: there is no node named '{name}'.{hint} Nodes: {', '.join(names)}."
        ) from None


# --- small helpers ---------------------------------------------------------------------------------


def _number(text: str, whole: str) -> int | float:
    value = _value(text.strip())
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpaceError(f"--param {whole!r}: '{text.strip()}' is not a number.")
    return value


def _value(text: str) -> Value:
    """'64' -> 64, '0.5' / '1e-3' -> float, 'true'/'false' -> bool, anything else stays text."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
