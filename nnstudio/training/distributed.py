"""``nnstudio train --nproc N``: the project's training on N local processes, through torchrun.

Scale-out uses PyTorch's own engine, not one of ours: the run folder gets the
same ``model.py`` and ``train.py`` that ``nnstudio export --train-script``
writes, and ``python -m torch.distributed.run --standalone --nproc_per_node N
train.py`` runs them (DistributedDataParallel; gloo on CPUs, NCCL on GPUs).
What runs here is exactly what a user takes to a cluster.

The exported script reads the built-in data sets and ``.npz`` files itself. Any
other data the app can read into memory (CSV, NumPy, MNIST, CIFAR) is read here
by the app's own loader, split (samples stay raw), and handed over as ``data.npz``,
so the processes train on the samples an in-app run would use.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnstudio.compiler.codegen import GENERATED_MARK, generate
from nnstudio.compiler.train_script import BUILTIN_DATASETS, write_train_script
from nnstudio.core.graph import GraphModel
from nnstudio.core.project import write_atomic
from nnstudio.training.config import TrainConfig
from nnstudio.training.data import load_for_graph
from nnstudio.training.errors import DataError, TrainingError

DATA_FILE = "data.npz"
CHECKPOINT_DIR = "checkpoints"


class LaunchError(TrainingError):
    """A distributed run that cannot be started as asked."""


def prepare_run(
    graph: GraphModel, config: TrainConfig, run_dir: Path, base_dir: Path | None = None
) -> list[str]:
    """Write ``model.py``, ``train.py`` (and ``data.npz`` when needed) into ``run_dir``.

    Returns the arguments for ``train.py``. Relative data paths are read from
    ``base_dir`` (the project's folder).
    """
    _claim(run_dir)
    data_arg, config = _hand_over_data(graph, config, run_dir, base_dir)
    code = generate(graph)
    write_atomic(run_dir / "model.py", code.src)
    write_train_script(graph, run_dir, code, settings=config.to_settings(), overwrite=True)
    return ["--data", data_arg, "--out", str(run_dir / CHECKPOINT_DIR), "--device", config.device]


def torchrun_command(nproc: int, script_args: Sequence[str]) -> list[str]:
    """The torchrun invocation for ``nproc`` processes on this machine."""
    return [
        sys.executable, "-m", "torch.distributed.run",
        "--standalone", f"--nproc_per_node={nproc}",
        "train.py", *script_args,
    ]  # fmt: skip


def launch(
    graph: GraphModel,
    config: TrainConfig,
    nproc: int,
    run_dir: str | Path,
    base_dir: Path | None = None,
) -> int:
    """Run the training on ``nproc`` local processes; their output streams to ours.

    Returns torchrun's exit status (0 when every process finished).
    """
    _check_launchable(config, nproc)
    run_dir = Path(run_dir).resolve()
    args = prepare_run(graph, config, run_dir, base_dir)
    env = dict(os.environ)
    # torchrun would pin every process to one thread (and say so); share the cores instead.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env.setdefault("PYTHONUNBUFFERED", "1")  # lines appear as the processes print them
    process = subprocess.Popen(torchrun_command(nproc, args), cwd=run_dir, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # torchrun received the same Ctrl+C and stops its workers; let it finish doing so,
        # or they would outlive it.
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.terminate()
            return process.wait()


def _check_launchable(config: TrainConfig, nproc: int) -> None:
    if nproc < 1:
        raise LaunchError(f"--nproc must be at least 1, not {nproc}.")
    if getattr(sys, "frozen", False):
        raise LaunchError(
            "The nnstudio app folder has no Python for torchrun to start processes with. "
            "Export the training with 'nnstudio export FILE -o DIR --train-script' and run "
            "'torchrun --nproc_per_node=N train.py' there, or install nnstudio with pip."
        )
    if config.batch_size % nproc:
        raise LaunchError(
            f"The batch size {config.batch_size} does not split evenly over {nproc} processes; "
            f"use a multiple of {nproc} (--batch-size)."
        )
    import torch

    wants_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    if wants_cuda and nproc > 1 and torch.cuda.device_count() < nproc:
        raise LaunchError(
            f"{nproc} processes need {nproc} GPUs (NCCL runs one process per GPU), but this machine "
            f"has {torch.cuda.device_count()}; use --nproc {torch.cuda.device_count()}, or --device cpu."
        )
    if config.device == "mps" and nproc > 1:
        raise LaunchError("Apple's MPS backend runs in one process; use --nproc 1 or --device cpu.")


def _claim(run_dir: Path) -> None:
    """Make ``run_dir`` ready, refusing a folder holding files of these names that nnstudio
    did not write (``data.npz`` counts as ours when ``model.py`` is)."""
    run_dir.mkdir(parents=True, exist_ok=True)

    def ours(path: Path) -> bool:
        return GENERATED_MARK in path.read_text(encoding="utf-8", errors="replace")

    foreign = [run_dir / name for name in ("model.py", "train.py") if (run_dir / name).exists()]
    foreign = [path for path in foreign if not ours(path)]
    model = run_dir / "model.py"
    if (run_dir / DATA_FILE).exists() and not (model.exists() and ours(model)):
        foreign.append(run_dir / DATA_FILE)
    if foreign:
        raise LaunchError(
            f"{run_dir} already contains {', '.join(p.name for p in foreign)}, not written by "
            "nnstudio; choose another run folder."
        )


def _hand_over_data(
    graph: GraphModel, config: TrainConfig, run_dir: Path, base_dir: Path | None
) -> tuple[str, TrainConfig]:
    """The ``--data`` argument for train.py, and the settings it should run with."""
    if config.dataset in BUILTIN_DATASETS:
        return config.dataset, config
    path = Path(config.dataset).expanduser()
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    if path.suffix.lower() == ".npz" and path.exists():
        return str(path.resolve()), config
    # Anything else: read and split it as the app does, and hand the result over.
    data = load_for_graph(graph, config, base_dir=base_dir)
    if not data.in_memory:
        raise DataError(
            f"{data.name} is read from disk image by image, which train.py cannot do; "
            "save it as arrays with numpy.savez(FILE.npz, x=images, y=labels) and train on that."
        )
    arrays = {"x_train": data.train.tensors[0].numpy(), "x_val": data.val.tensors[0].numpy()}
    if data.task != "reconstruction":
        arrays |= {"y_train": data.train.tensors[1].numpy(), "y_val": data.val.tensors[1].numpy()}
    target = run_dir / DATA_FILE
    np.savez(target, **arrays)
    # Raw samples, split as the app splits them: train.py fits the model's preprocessing to them.
    return str(target), config


def launch_and_report(
    graph: GraphModel, config: TrainConfig, nproc: int, run_dir: Path, project: Path
) -> int:
    """``nnstudio train --nproc``: launch, then say where the result is and how to use it."""
    status = launch(graph, config, nproc, run_dir, base_dir=project.parent)
    weights = Path(run_dir) / CHECKPOINT_DIR / "weights.pt"
    if status == 0 and weights.exists():
        print(f"Run folder: {run_dir} (model.py, train.py, {CHECKPOINT_DIR}/weights.pt)")
        print(f"For predict.py: nnstudio export {project} -o DIR --weights {weights}")
    elif status != 0:
        print(
            f"error: the distributed run ended with status {status}; its output above says why.",
            file=sys.stderr,
        )
    return status
