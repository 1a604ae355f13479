"""Opening a study: its direction from the metric, its sampler and its pruner.

``--study NAME`` loads the study if the storage holds it (a resume, or another
worker joining), else creates it. The metric decides the direction once; a
study created to maximise accuracy cannot be resumed to minimise loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nnstudio.experiments.errors import SweepError
from nnstudio.experiments.space import Axis
from nnstudio.experiments.storage import require_optuna

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
METRICS = {"val_acc": "maximize", "val_loss": "minimize"}
METRIC_WORDS = {"val_acc": "validation accuracy", "val_loss": "validation loss"}


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep searches: the study's size, parallel trials, sampler, pruner, metric."""

    trials: int
    jobs: int = 1
    sampler: str = "tpe"
    pruner: str = "median"
    metric: str = "val_acc"
    epochs: int | None = None  # per trial; None: the project's setting
    device: str | None = None  # per trial; None: the project's setting
    seed: int | None = None  # the sampler's seed

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise SweepError(f"--trials must be at least 1, not {self.trials}.")
        if self.jobs < 1:
            raise SweepError(f"--jobs must be at least 1, not {self.jobs}.")
        if self.epochs is not None and self.epochs < 1:
            raise SweepError(f"--epochs must be at least 1, not {self.epochs}.")
        for name, value, allowed in (
            ("sampler", self.sampler, SAMPLERS),
            ("pruner", self.pruner, PRUNERS),
            ("metric", self.metric, METRICS),
        ):
            if value not in allowed:
                raise SweepError(f"--{name} must be one of {', '.join(allowed)}, not '{value}'.")


def distributions(axes: Sequence[Axis]) -> dict[str, Any]:
    """Optuna distributions, one per axis, named as the user names the target."""
    optuna = require_optuna()
    dists: dict[str, Any] = {}
    for axis in axes:
        d = axis.dimension
        if not d.is_range:
            dists[axis.name] = optuna.distributions.CategoricalDistribution(list(d.choices))
        elif axis.kind == "int":
            dists[axis.name] = optuna.distributions.IntDistribution(int(d.low), int(d.high), log=d.log)
        else:
            dists[axis.name] = optuna.distributions.FloatDistribution(float(d.low), float(d.high), log=d.log)
    return dists


def open_study(
    storage: Any, name: str, axes: Sequence[Axis], settings: SweepSettings, max_epochs: int
) -> Any:
    """Create the study ``name`` in ``storage`` or load it when it exists."""
    optuna = require_optuna()
    direction = METRICS[settings.metric]
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            sampler=_sampler(axes, settings),
            pruner=_pruner(settings, max_epochs),
            direction=direction,
            load_if_exists=True,
        )
    except ValueError as exc:  # a study of the name with several objectives, for one
        raise SweepError(f"Cannot use the study '{name}': {exc}") from None
    if study.direction.name.lower() != direction:
        held = study.user_attrs.get("metric", "another metric")
        raise SweepError(
            f"The study '{name}' was started to {study.direction.name.lower()} {held}; "
            f"--metric {settings.metric} would {direction} instead. Use the same metric or a new --study."
        )
    _check_compatible(study, name, axes)
    if "metric" not in study.user_attrs:
        study.set_user_attr("metric", settings.metric)
    return study


def _check_compatible(study: Any, name: str, axes: Sequence[Axis]) -> None:
    """A resumed study may change a range, but not its kind: Optuna keeps one kind of
    distribution (log or linear, whole or real, choices) per parameter and study."""
    optuna = require_optuna()
    ours = distributions(axes)
    seen: set[str] = set()
    for trial in study.get_trials(deepcopy=False):
        for param, old in trial.distributions.items():
            if param in ours and param not in seen:
                seen.add(param)
                try:
                    optuna.distributions.check_distribution_compatibility(old, ours[param])
                except ValueError as exc:
                    raise SweepError(
                        f"The study '{name}' already varies {param} differently ({exc}); "
                        "keep the kind of range it had, or start a new --study."
                    ) from None


def _sampler(axes: Sequence[Axis], settings: SweepSettings) -> Any:
    optuna = require_optuna()
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    if settings.sampler == "grid":
        return _grid_sampler_class()({a.name: a.grid_values() for a in axes}, seed=settings.seed)
    # Few random trials before the model takes over, so that small sweeps still search;
    # the constant liar keeps parallel trials from all asking for the same point.
    startup = min(10, max(2, settings.trials // 3))
    return optuna.samplers.TPESampler(
        seed=settings.seed, n_startup_trials=startup, constant_liar=settings.jobs > 1
    )


def _pruner(settings: SweepSettings, max_epochs: int) -> Any:
    optuna = require_optuna()
    if settings.pruner == "median":
        # Two complete trials give a median to compare with; from the first epoch on.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max(1, max_epochs), reduction_factor=3
        )
    return optuna.pruners.NopPruner()


def _grid_sampler_class() -> type:
    optuna = require_optuna()

    class GridSampler(optuna.samplers.GridSampler):
        """Optuna's grid, without its call to ``study.stop()`` when the grid is done: that works
        only inside ``study.optimize``, and the runner checks ``is_exhausted`` itself."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

        def all_started(self, study: Any) -> bool:
            """Every point has a trial, finished or running. (Optuna's ``is_exhausted`` waits
            for the running ones to finish, and meanwhile hands out running points again.)"""
            try:
                started = {
                    t.system_attrs["grid_id"]
                    for t in study._storage.get_all_trials(study._study_id, deepcopy=False)
                    if "grid_id" in t.system_attrs
                    and self._same_search_space(t.system_attrs["search_space"])
                    and (t.state.is_finished() or t.state.name == "RUNNING")
                }
                return started >= set(range(self._n_min_trials))
            except (AttributeError, KeyError):  # another Optuna's internals
                return self.is_exhausted(study)

    return GridSampler
