"""What a study found: its trials as plain records, the best one, parameter importances,
and the best variant written as a project file.

``trial_records`` is what the CLI's table and the GUI's panel show; it reads only
the study, so it works for a study another worker or another machine is running.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnstudio.core.graph import GraphModel
from nnstudio.experiments import variants
from nnstudio.experiments.runner import ATTR_HISTORY, ATTR_REASON, ATTR_SECONDS, ATTR_STEPS
from nnstudio.experiments.space import Axis
from nnstudio.experiments.storage import require_optuna

BEST_NAME = "best.nnstudio"


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the tables show it."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING or WAITING
    values: dict[str, Any]
    value: float | None  # the final metric (the last reported one for a pruned or running trial)
    intermediate: dict[int, float]  # metric per epoch
    seconds: float | None
    reason: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch, as metrics.csv
    steps_per_epoch: int = 1


def trial_records(study: Any) -> list[TrialRecord]:
    records = []
    for t in study.get_trials(deepcopy=False):
        value = t.value if t.values else None
        # A pruned trial's figure is its last report; a running one's, its latest so far.
        if value is None and t.intermediate_values and t.state.name in ("PRUNED", "RUNNING"):
            value = t.intermediate_values[max(t.intermediate_values)]
        seconds = t.user_attrs.get(ATTR_SECONDS)
        if seconds is None and t.datetime_start is not None and t.datetime_complete is not None:
            seconds = (t.datetime_complete - t.datetime_start).total_seconds()
        records.append(
            TrialRecord(
                number=t.number,
                state=t.state.name,
                values=dict(t.params),
                value=value,
                intermediate=dict(t.intermediate_values),
                seconds=seconds,
                reason=str(t.user_attrs.get(ATTR_REASON, "")),
                history=list(t.user_attrs.get(ATTR_HISTORY, [])),
                steps_per_epoch=int(t.user_attrs.get(ATTR_STEPS, 1)),
            )
        )
    return records


def best_trial(study: Any) -> Any | None:
    """The best complete trial, or None when no trial completed."""
    try:
        return study.best_trial
    except ValueError:
        return None


def importances(study: Any) -> tuple[dict[str, float], str]:
    """Parameter importances (fANOVA) and, when they cannot be computed, why in words."""
    optuna = require_optuna()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}, (
            f"Parameter importances need at least two completed trials; this study has {len(complete)}."
        )
    try:
        with warnings.catch_warnings():  # "importances will be equal" on tiny studies: they are shown
            warnings.simplefilter("ignore", UserWarning)
            found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as exc:
        return {}, f"Parameter importances could not be computed: {exc}"
    if not found:
        return {}, "Parameter importances could not be computed: the completed trials share no parameter."
    return dict(found), ""


def write_variant(
    graph: GraphModel, axes: Sequence[Axis], values: dict[str, Any], path: Path, name: str
) -> Path:
    """``graph`` with ``values`` applied, saved as a new project at ``path``."""
    variant = variants.apply(graph, axes, values)
    variant.name = name[:200]
    path.parent.mkdir(parents=True, exist_ok=True)
    variant.save(path)
    return path


def format_value(value: float | None, metric: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{100 * value:.1f}%" if metric == "val_acc" else f"{value:.4f}"
