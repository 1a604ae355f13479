"""One accepted range of seeds everywhere (0 to 2**32 - 1, what scikit-learn takes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnstudio.cli import main
from nnstudio.core.seeds import SEED_MAX
from nnstudio.training.config import TrainConfig
from nnstudio.training.errors import ConfigError
from tests.training.conftest import mlp


def test_the_range_is_what_every_consumer_takes() -> None:
    from nnstudio.training import recipe

    assert SEED_MAX == 2**32 - 1
    x, _, _ = recipe.BUILTIN["circles"]((2,), 2, SEED_MAX)  # scikit-learn's limit
    assert len(x) > 0


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, 2**63 - 1])
def test_settings_outside_the_range_are_refused_in_words(seed: int) -> None:
    with pytest.raises(ConfigError, match=f"'seed' must be a whole number from 0 to {SEED_MAX}"):
        TrainConfig.from_settings({"seed": seed})


def test_train_refuses_a_seed_past_the_range_with_exit_2(tmp_path: Path, capsys) -> None:
    project = tmp_path / "circles.nnstudio"
    mlp().save(project)
    assert (
        main(
            ["train", str(project), "--seed", "4294967296", "--device", "cpu", "--out", str(tmp_path / "run")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"0 to {SEED_MAX}" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_the_written_train_script_checks_the_same_range() -> None:
    from nnstudio.compiler.train_script import generate_train_script

    graph = mlp()
    source = generate_train_script(graph)
    assert f"SEED_MAX = {SEED_MAX}" in source and "2**63" not in source
    compile(source, "train.py", "exec")
