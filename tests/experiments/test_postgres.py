"""Two sweep workers share one study on a real PostgreSQL server (the README's recipe).

The server is the Debian ``postgresql`` package's, started in a temporary folder on a
free port. PostgreSQL refuses to run as root, so as root (CI) it runs as the package's
``postgres`` user. Skipped, with the reason, only where the binaries are not installed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES_DIR, ROOT

optuna = pytest.importorskip("optuna", reason="the sweep extra (optuna) is not installed")
pytest.importorskip("psycopg", reason="the sweep extra (psycopg) is not installed")

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _as_server_user(command: list[str]) -> list[str]:
    if os.getuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    return ["runuser", "-u", "postgres", "--", *command]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, stop) -> None:
        self.url = url
        self.stop = stop


@pytest.fixture
def postgres_server():
    if not BINARIES:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    bin_dir = Path(BINARIES[-1]).parent
    folder = Path(
        tempfile.mkdtemp(prefix="nnstudio-pg-")
    )  # not under pytest's private tmp: the server user reads it
    folder.chmod(0o777)
    data, port = folder / "data", _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    try:
        subprocess.run(
            _as_server_user(
                [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]
            ),
            **run,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-w",
                    "-l",
                    str(folder / "server.log"),
                    "start",
                ]
            ),
            **run,
        )
    except subprocess.CalledProcessError as exc:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {exc.stderr}{exc.stdout}{log}")

    def stop() -> None:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )

    try:
        yield Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", stop)
    finally:
        stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_one_study_on_postgresql(postgres_server: Server, tmp_path: Path) -> None:
    postgres_url = postgres_server.url

    def worker(index: int) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nnstudio",
                "sweep",
                str(EXAMPLES_DIR / "mlp_circles.nnstudio"),
                "--storage",
                postgres_url,
                "--study",
                "shared",
                "--trials",
                "4",
                "--jobs",
                "1",
                "--epochs",
                "1",
                "--pruner",
                "none",
                "--param",
                "lr=0.01..0.1:log",
                "--param",
                "hidden.out_features=4..32",
                "--out",
                str(tmp_path / f"worker{index}"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    workers = [worker(0), worker(1)]
    outputs = [w.communicate(timeout=400)[0] for w in workers]
    for w, out in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out
    study = optuna.load_study(
        study_name="shared", storage=postgres_url.replace("postgresql://", "postgresql+psycopg://")
    )
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    # Each worker stops once the study holds 4 trials; two asking at the same moment may make a fifth.
    assert 4 <= len(done) <= 5 and len(done) == len(study.trials)
    assert all(set(t.params) == {"lr", "hidden.out_features"} for t in done)
    assert len({t.user_attrs["worker"] for t in done}) == 2, "both workers ran trials of the one study"


@pytest.mark.slow
def test_a_server_lost_mid_sweep_ends_it_with_one_sentence(postgres_server: Server, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnstudio",
            "sweep",
            str(EXAMPLES_DIR / "mlp_circles.nnstudio"),
            "--storage",
            postgres_server.url,
            "--study",
            "lost",
            "--trials",
            "2",
            "--epochs",
            "500",
            "--param",
            "lr=0.01..0.1",
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if "RUNNING" in line:
            break
    postgres_server.stop()
    _, err = process.communicate(timeout=120)  # the next heartbeat finds the server gone
    assert process.returncode == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Lost the study storage postgresql://"), err
