"""``nnstudio sweep`` end to end: real trials in their own processes, a study Optuna reads back.

Trials train mlp_circles for one to three epochs; most time goes into starting
trial processes, so each test runs as few trials as shows its point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnstudio.cli import main
from nnstudio.core import project
from tests.conftest import EXAMPLES_DIR, ROOT

optuna = pytest.importorskip("optuna", reason="the sweep extra (optuna) is not installed")

CIRCLES = EXAMPLES_DIR / "mlp_circles.nnstudio"
DONE = ("COMPLETE", "PRUNED")


def sweep(tmp_path: Path, *flags: str, study: str = "s", storage: str | None = None) -> int:
    storage = storage or f"sqlite:///{tmp_path}/s.db"
    return main(
        [
            "sweep",
            str(CIRCLES),
            "--storage",
            storage,
            "--study",
            study,
            "--out",
            str(tmp_path / "out"),
            *flags,
        ]
    )


def load(tmp_path: Path, study: str = "s"):
    return optuna.load_study(study_name=study, storage=f"sqlite:///{tmp_path}/s.db")


def sweep_process(tmp_path: Path, *flags: str, study: str = "s") -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "nnstudio",
        "sweep",
        str(CIRCLES),
        "--storage",
        f"sqlite:///{tmp_path}/s.db",
        "--study",
        study,
        "--out",
        str(tmp_path / "out"),
        *flags,
    ]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@pytest.mark.slow
def test_four_trials_two_at_a_time_leave_a_study_optuna_reads(tmp_path: Path, capsys) -> None:
    code = sweep(tmp_path, "--trials", "4", "--jobs", "2", "--epochs", "3", "--param", "lr=0.001..0.1:log")
    out = capsys.readouterr().out
    assert code == 0, out
    study = load(tmp_path)
    done = [t for t in study.trials if t.state.name in DONE]
    assert len(done) == 4
    assert all(set(t.params) == {"lr"} and 0.001 <= t.params["lr"] <= 0.1 for t in done)
    # each trial reported its epochs to Optuna; the table showed every trial end
    assert all(1 <= len(t.intermediate_values) <= 3 for t in done)
    for t in done:
        assert f"\n{t.number:>5}  {t.state.name:<9}" in out
    assert "Best: trial" in out and "Best variant:" in out
    best = project.load(tmp_path / "out" / "s" / "best.nnstudio")
    assert best.training["lr"] == pytest.approx(study.best_params["lr"])
    assert best.training["epochs"] == 30  # the project's own, not the sweep's quick --epochs


@pytest.mark.slow
def test_width_and_lr_with_a_value_that_breaks_the_graph(tmp_path: Path, capsys) -> None:
    """Grid over the hidden width, the lr and a classifier width of which one value breaks the
    Output: those trials fail with the graph's diagnostic, the others train. The grid has four
    points, fewer than --trials: each runs once, also two at a time."""
    code = sweep(
        tmp_path,
        "--trials",
        "6",
        "--jobs",
        "2",
        "--epochs",
        "1",
        "--sampler",
        "grid",
        "--pruner",
        "none",
        "--param",
        "hidden.out_features=4,24",
        "--param",
        "classifier.out_features=2,3",
        "--param",
        "lr=0.05",
    )
    out = capsys.readouterr().out
    assert code == 0, out
    trials = load(tmp_path).trials
    assert len(trials) == 4
    for t in trials:
        assert set(t.params) == {"hidden.out_features", "classifier.out_features", "lr"}
        if t.params["classifier.out_features"] == 3:
            assert t.state.name == "FAIL"
            assert "Output 'scores'" in t.user_attrs["reason"] and "2 class scores" in t.user_attrs["reason"]
        else:
            assert t.state.name == "COMPLETE" and t.value > 0.5
    best = project.load(tmp_path / "out" / "s" / "best.nnstudio")
    assert (
        best.node_by_name("hidden").params["out_features"]
        == load(tmp_path).best_params["hidden.out_features"]
    )
    assert "Parameter importances" in out
    assert out.count("Every point of the grid has a trial") == 1


@pytest.mark.slow
def test_median_pruner_stops_a_deliberately_bad_range_early(tmp_path: Path, capsys) -> None:
    """Two good trials first, then a resumed study with a learning rate far too small:
    the median pruner stops those trials after their first epoch."""
    common = ("--jobs", "2", "--epochs", "3", "--sampler", "random", "--pruner", "median")
    assert sweep(tmp_path, "--trials", "2", *common, "--param", "lr=0.03..0.05") == 0
    assert sweep(tmp_path, "--trials", "4", *common, "--param", "lr=0.000001..0.000002") == 0
    capsys.readouterr()
    bad = [t for t in load(tmp_path).trials if t.params["lr"] < 1e-5]
    assert len(bad) == 2
    assert all(t.state.name == "PRUNED" and len(t.intermediate_values) < 3 for t in bad)


@pytest.mark.slow
def test_an_interrupted_study_resumes(tmp_path: Path) -> None:
    flags = ("--trials", "2", "--jobs", "1", "--epochs", "2", "--pruner", "none", "--param", "lr=0.01..0.1")
    process = sweep_process(tmp_path, *flags)
    seen = []
    for line in process.stdout:  # stop as soon as one trial is complete
        seen.append(line)
        if "COMPLETE" in line:
            process.send_signal(signal.SIGINT)
            break
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 130, "".join(seen) + rest
    assert "finished trials are kept" in rest and "--study s" in rest
    states = [t.state.name for t in load(tmp_path).trials]
    assert states.count("COMPLETE") == 1
    assert (
        main(
            [
                "sweep",
                str(CIRCLES),
                "--storage",
                f"sqlite:///{tmp_path}/s.db",
                "--study",
                "s",
                "--out",
                str(tmp_path / "out"),
                *flags,
            ]
        )
        == 0
    )
    trials = load(tmp_path).trials
    assert [t.state.name for t in trials].count("COMPLETE") == 2
    stopped = [t for t in trials if t.state.name == "FAIL"]
    assert all(
        t.user_attrs.get("interrupted") and "Stopped by the user" in t.user_attrs["reason"] for t in stopped
    )


@pytest.mark.slow
def test_a_killed_trial_process_fails_that_trial_and_the_sweep_goes_on(tmp_path: Path) -> None:
    process = sweep_process(
        tmp_path, "--trials", "2", "--jobs", "1", "--epochs", "2", "--param", "lr=0.01..0.1"
    )
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        found = children(process.pid)
        victim = found[0] if found else None
        time.sleep(0.05)
    assert victim is not None, "no trial process appeared"
    os.kill(victim, signal.SIGKILL)
    out, _ = process.communicate(timeout=240)
    assert process.returncode == 0, out
    first, second = load(tmp_path).trials
    assert first.state.name == "FAIL" and "killed (SIGKILL)" in first.user_attrs["reason"]
    assert second.state.name == "COMPLETE"


@pytest.mark.slow
def test_a_killed_sweep_leaves_a_readable_study_and_the_next_run_fails_its_trial(tmp_path: Path) -> None:
    """The sweep process itself dies: its running trial stops with it (its input closes),
    and the next sweep on the study marks that trial failed instead of leaving it running."""
    flags = ("--trials", "1", "--jobs", "1", "--epochs", "200", "--param", "lr=0.01..0.1")
    process = sweep_process(tmp_path, *flags)
    for line in process.stdout:
        if "RUNNING" in line:
            break
    deadline = time.monotonic() + 60
    while not children(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    trial_pid = children(process.pid)[0]
    process.kill()
    process.wait()
    deadline = time.monotonic() + 60
    while Path(f"/proc/{trial_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{trial_pid}").exists(), "the trial outlived its sweep"
    (trial,) = load(tmp_path).trials
    assert trial.state.name == "RUNNING"
    from nnstudio.experiments.runner import fail_orphans

    assert fail_orphans(load(tmp_path)) == [0]
    (trial,) = load(tmp_path).trials
    assert trial.state.name == "FAIL" and "sweep process ended" in trial.user_attrs["reason"]


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--param", "hidden.out_features=64..8"], "the low end 64 is above the high end 8"),
        (["--param", "hidden.width=8..64"], "has no parameter 'width'"),
        (["--param", "nosuch.out_features=8..64"], "no node named 'nosuch'"),
        (["--param", "lr=fast"], "lr"),
        ([], "nothing to sweep"),
        (["--param", "lr=0.01..0.1", "--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_a_sentence_before_any_trial(tmp_path: Path, capsys, flags, words) -> None:
    assert sweep(tmp_path, "--trials", "2", *flags) == 2
    err = capsys.readouterr().err
    assert words in err and err.startswith("error: ") and err.strip().endswith(".")
    assert not (tmp_path / "s.db").exists() and not (tmp_path / "out").exists()


def test_an_unreachable_storage_is_one_sentence(tmp_path: Path, capsys) -> None:
    url = "postgresql://someone:secret@127.0.0.1:1/optuna"
    assert sweep(tmp_path, "--trials", "1", "--param", "lr=0.01..0.1", storage=url) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Cannot reach the study storage postgresql") and "secret" not in err
    assert len(err.splitlines()) == 1


def test_a_finished_study_says_so_instead_of_running_more(tmp_path: Path, capsys) -> None:
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db", direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"lr": 0.05},
            distributions={"lr": optuna.distributions.FloatDistribution(0.01, 0.1)},
            value=0.9,
        )
    )
    assert sweep(tmp_path, "--trials", "1", "--param", "lr=0.01..0.1") == 0
    out = capsys.readouterr().out
    assert "already holds 1 trials" in out and "Best: trial 0" in out
    assert "Parameter importances need at least two completed trials; this study has 1." in out


def test_a_resumed_study_keeps_the_kind_of_each_range(tmp_path: Path, capsys) -> None:
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db", direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"lr": 0.05},
            distributions={"lr": optuna.distributions.FloatDistribution(0.01, 0.1)},
            value=0.9,
        )
    )
    assert sweep(tmp_path, "--trials", "2", "--param", "lr=0.0001..0.1:log") == 2
    err = capsys.readouterr().err
    assert "already varies lr differently" in err and "new --study" in err


def test_a_study_keeps_its_metric(tmp_path: Path, capsys) -> None:
    optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/s.db", direction="maximize")
    assert sweep(tmp_path, "--trials", "1", "--param", "lr=0.01..0.1", "--metric", "val_loss") == 2
    assert "would minimize instead" in capsys.readouterr().err


@pytest.mark.slow
def test_a_block_instance_repeat_is_swept(tmp_path: Path, capsys) -> None:
    from tests.experiments.test_space import block_graph

    path = tmp_path / "blocks.nnstudio"
    block_graph().save(path)
    code = main(
        [
            "sweep",
            str(path),
            "--trials",
            "2",
            "--jobs",
            "2",
            "--epochs",
            "1",
            "--sampler",
            "grid",
            "--pruner",
            "none",
            "--param",
            "stage.repeat=1,3",
            "--storage",
            f"sqlite:///{tmp_path}/s.db",
            "--study",
            "s",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    trials = load(tmp_path).trials
    assert sorted(t.params["stage.repeat"] for t in trials) == [1, 3]
    assert all(t.state.name == "COMPLETE" for t in trials), [t.user_attrs.get("reason") for t in trials]


def test_without_optuna_the_command_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'optuna' or name.startswith('optuna.'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from nnstudio.cli import main\n"
        f"sys.exit(main(['sweep', {str(CIRCLES)!r}, '--trials', '2', '--param', 'lr=0.01..0.1',"
        f" '--out', {str(tmp_path / 'out')!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert 'pip install "nnstudio[sweep]"' in result.stderr and "Optuna" in result.stderr
    assert not (tmp_path / "out").exists()
