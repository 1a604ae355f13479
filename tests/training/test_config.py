"""TrainConfig reads and writes a project's training section, and refuses bad values by name."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from nnstudio.training.config import TrainConfig
from nnstudio.training.errors import ConfigError


def test_every_example_round_trips_its_training_section_unchanged(example_path: Path) -> None:
    settings = json.loads(example_path.read_text())["training"]
    assert TrainConfig.from_settings(settings).to_settings() == settings


def test_missing_settings_take_defaults_and_are_not_written_back() -> None:
    config = TrainConfig.from_settings({"dataset": "moons"})
    assert config.optimizer == "adam" and config.loss == "auto" and config.device == "auto"
    assert config.to_settings() == {
        "dataset": "moons",
        "optimizer": "adam",
        "lr": 0.001,
        "batch_size": 64,
        "epochs": 10,
    }


def test_a_changed_setting_is_written_back() -> None:
    settings = TrainConfig(schedule="cosine", seed=7).to_settings()
    assert settings["schedule"] == "cosine" and settings["seed"] == 7
    assert "precision" not in settings


def test_unknown_setting_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"Unknown training setting 'learning_rate'.*Did you mean"):
        TrainConfig.from_settings({"learning_rate": 0.1})


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("lr", -0.1, "'lr' must be a number greater than 0"),
        ("lr", "fast", "'lr' must be a number"),
        ("batch_size", 0, "'batch_size' must be a whole number from 1"),
        ("epochs", 2.5, "'epochs' must be a whole number"),
        ("optimizer", "lbfgs", "'optimizer' must be one of 'sgd', 'adam'"),
        ("device", "tpu", "'device' must be 'auto', 'cpu'"),
        ("fast", "yes", "'fast' must be true or false"),
        ("val_split", 1.0, "'val_split' must be a number greater than 0 and at most 0.9"),
    ],
)
def test_bad_values_are_refused_with_a_sentence_naming_the_setting(key, value, words) -> None:
    with pytest.raises(ConfigError, match=words):
        TrainConfig.from_settings({key: value})


def test_overrides_are_checked_and_none_means_keep() -> None:
    config = TrainConfig(epochs=5)
    assert config.with_overrides(epochs=None, lr=0.01).epochs == 5
    with pytest.raises(ConfigError):
        config.with_overrides(epochs=0)
    with pytest.raises(ConfigError, match="Unknown training setting 'lrr'"):
        config.with_overrides(lrr=1)


def test_schedules_per_epoch() -> None:
    assert [TrainConfig(lr=1.0, epochs=4).lr_at(e) for e in range(4)] == [1.0] * 4
    step = [TrainConfig(lr=1.0, epochs=4, schedule="step").lr_at(e) for e in range(4)]
    assert step == pytest.approx([1.0, 1.0, 0.1, 0.01])
    cosine = [TrainConfig(lr=1.0, epochs=5, schedule="cosine").lr_at(e) for e in range(5)]
    assert cosine[0] == 1.0 and cosine[-1] == pytest.approx(0.01)
    assert all(a > b for a, b in itertools.pairwise(cosine))


def test_the_settings_offer_what_the_recipe_can_do() -> None:
    from nnstudio.training import config, recipe

    assert (config.OPTIMIZERS, config.SCHEDULES, config.LOSSES) == (
        recipe.OPTIMIZERS,
        recipe.SCHEDULES,
        recipe.LOSSES,
    )


def test_input_normalisation_is_no_longer_a_training_setting() -> None:
    # It is the Input node's setting now (the model preprocesses raw inputs itself).
    with pytest.raises(ConfigError, match="Unknown training setting 'normalize'"):
        TrainConfig.from_settings({"normalize": "standard"})


def test_settings_and_events_load_without_torch() -> None:
    """The editor reads and edits training settings before torch is imported."""
    import subprocess
    import sys

    code = (
        "import sys; from nnstudio.training import TrainConfig; import nnstudio.training.events; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
