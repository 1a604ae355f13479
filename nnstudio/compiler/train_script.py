"""The exported ``train.py``: a plain-PyTorch training script for a project.

``generate_train_script(graph)`` returns the text written beside ``model.py``. The
script imports nothing from nnstudio: it carries its own copies of the built-in
data set generators (the same numbers as ``nnstudio.training.generated`` for the
same seed, which a test checks) and of the app's split, normalisation and loss
rules, and it takes the project's training settings as defaults for its flags.

It runs as one process (``python train.py``) or as many under ``torchrun``:
DistributedDataParallel with the gloo backend on CPUs and NCCL on GPUs, across
machines through torchrun's rendezvous options. Rank 0 alone writes checkpoints.

Every process walks the same global batches a one-process run would: one seeded
shuffle of the whole training set per epoch, identical on every rank, and each
rank takes its equal slice of every global batch. DDP averages gradients over
equal slices, which is the gradient of the mean over the global batch, so the
weights match a single-process run with the same seed and global batch up to
float rounding. ``DistributedSampler`` cannot promise that: it deals indices
out round-robin from its own permutation, so the samples that meet in one
optimiser step depend on the number of processes.

Like ``codegen``, this module imports no torch: nothing from the project file
reaches the text except plain literals checked here.
"""

from __future__ import annotations

import ast
import math
import pprint
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnstudio.compiler.codegen import GENERATED_MARK
from nnstudio.core.errors import GraphError
from nnstudio.core.project import write_atomic

if TYPE_CHECKING:
    from nnstudio.compiler.codegen import PythonCode
    from nnstudio.core.graph import GraphModel

SCRIPT_NAME = "train.py"
BUILTIN_DATASETS = ("digits", "circles", "moons", "sequences", "shapes")
WEIGHTS_NAME = "weights.pt"
CHECKPOINT_NAME = "checkpoint.pt"

# The training settings the script uses, with the app's defaults (TrainConfig's;
# a test keeps the two in step). Other settings (workers, compile, ...) concern
# the app's own trainer and are not carried over.
DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "target": "label",
    "val_split": 0.2,
    "normalize": "auto",
    "optimizer": "adam",
    "lr": 0.001,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "none",
    "batch_size": 64,
    "epochs": 10,
    "loss": "auto",
    "seed": 0,
    "device": "auto",
    "precision": "fp32",
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "target": ("label", "input"),
    "normalize": ("auto", "standard", "minmax", "none"),
    "optimizer": ("sgd", "adam", "adamw", "rmsprop", "adagrad"),
    "schedule": ("none", "step", "cosine"),
    "loss": ("auto", "cross_entropy", "mse", "bce_with_logits"),
    "precision": ("fp32", "bf16"),
}


class TrainScriptError(GraphError):
    """A project whose training cannot be written as a standalone script."""


def generate_train_script(
    graph: GraphModel,
    code: PythonCode | None = None,
    settings: Mapping[str, Any] | None = None,
    model_module: str = "model",
    class_name: str | None = None,
) -> str:
    """The text of ``train.py`` for ``graph``, whose model lives in ``model_module``.py.

    ``code`` is the generated model (generated here, with ``class_name``, when not
    given); ``settings`` replaces the project's ``training`` section (the CLI passes
    its overrides).
    """
    if code is None:
        from nnstudio.compiler.codegen import generate

        code = generate(graph, class_name=class_name)
    if len(code.inputs) != 1:
        names = ", ".join(f"'{graph.nodes[i.node_id].name}'" for i in code.inputs)
        raise TrainScriptError(
            f"train.py trains networks with exactly one Input; this one has {len(code.inputs)} ({names})."
        )
    if not code.output_ids:
        raise TrainScriptError("The network has no Output node, so train.py has nothing to train.")
    if not model_module.isidentifier():
        raise TrainScriptError(f"'{model_module}' is not a Python module name.")
    project = _project_settings(graph, code, settings)
    literal = pprint.pformat(project, sort_dicts=False, width=100)
    if ast.literal_eval(literal) != project:  # a value repr() could not round-trip
        raise TrainScriptError("The training settings hold a value that cannot be written into train.py.")
    title = _one_line(graph.name)
    return (
        _HEADER.replace("@TITLE@", title).replace("@MODEL@", model_module)
        + f"from {model_module} import {code.class_name} as Model\n\n"
        + f"# The project's settings: defaults of the flags below.\nPROJECT = {literal}\n"
        + _BODY
    )


def write_train_script(
    graph: GraphModel,
    folder: str | Path,
    code: PythonCode | None = None,
    settings: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    class_name: str | None = None,
) -> Path:
    """Write ``train.py`` into ``folder`` (beside ``model.py``) and return its path.

    Like ``export``, it never replaces a ``train.py`` that nnstudio did not write,
    unless ``overwrite``.
    """
    path = Path(folder) / SCRIPT_NAME
    if not overwrite and path.exists() and not _written_by_nnstudio(path):
        raise TrainScriptError(
            f"{path.parent} already contains train.py, not written by nnstudio; "
            "choose another folder, or overwrite it on purpose (--force)."
        )
    text = generate_train_script(graph, code, settings, class_name=class_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return path


def _written_by_nnstudio(path: Path) -> bool:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.startswith(GENERATED_MARK) for line in lines)


# --- the settings literal -----------------------------------------------------------------


def _project_settings(
    graph: GraphModel, code: PythonCode, settings: Mapping[str, Any] | None
) -> dict[str, Any]:
    given = dict(graph.training if settings is None else settings)
    values = {key: given.get(key, default) for key, default in DEFAULTS.items()}
    for key, value in values.items():
        _check(key, value)
    (model_input,) = code.inputs
    return {
        "name": graph.name,
        **values,
        "input_shape": tuple(int(d) for d in model_input.shape),
        "input_dtype": model_input.dtype,
        "output_shape": tuple(int(d) for d in code.shape_of[code.output_ids[0]]),
    }


def _check(key: str, value: Any) -> None:
    """Refuse a value the script could not act on, with a sentence naming the setting."""
    if key in _CHOICES:
        ok = value in _CHOICES[key]
        wanted = "one of " + ", ".join(repr(c) for c in _CHOICES[key])
    elif key in ("dataset", "device"):
        ok = isinstance(value, str) and bool(value.strip())
        wanted = "a non-empty text"
    elif key in ("batch_size", "epochs", "seed"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= (0 if key == "seed" else 1)
        wanted = "a whole number" + (" from 0" if key == "seed" else " from 1")
    else:  # lr, momentum, weight_decay, val_split
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and value >= 0
        wanted = "a finite number of at least 0"
    if not ok:
        raise TrainScriptError(f"Training setting '{key}' must be {wanted} to write train.py, not {value!r}.")


def _one_line(text: str) -> str:
    """Text safe inside the script's docstring: one line, no quotes that could close it."""
    flat = " ".join(str(text).split())
    return flat.replace("\\", "/").replace('"""', "'''")[:120] or "Untitled"


# --- the script ---------------------------------------------------------------------------

_HEADER = f'''"""Train @TITLE@ (the network in @MODEL@.py) with plain PyTorch.

{GENERATED_MARK} from the project's training settings, which the flags
below override. One process (a GPU when there is one, else the CPU):

    python train.py
    python train.py --epochs 20 --batch-size 256 --lr 0.001 --device cuda

Many processes with torchrun, on one machine or several:

    torchrun --standalone --nproc_per_node=4 train.py
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \\
        --rdzv_endpoint=HOST:29400 --rdzv_id=JOB train.py      # run on every machine

--batch-size is the global batch: each of N processes takes batch/N samples of
every step. All processes walk the same seeded shuffle of the training set and
each takes its own slice of each global batch, so a run on N processes computes
the same steps as a run on one, and ends with the same weights (up to float
rounding; dropout masks and, on CPUs, BatchNorm statistics are per process).
The last incomplete batch of each epoch is skipped, for any number of processes.

Rank 0 alone prints and writes --out/checkpoint.pt after every epoch (resume
with --resume) and --out/weights.pt at the end, a state_dict for the model:
model.load_state_dict(torch.load("weights.pt", weights_only=True)).
`nnstudio export PROJECT -o DIR --weights weights.pt` adds predict.py for it.

Data: the built-in sets digits, circles, moons, sequences and shapes (generated
exactly as in nnstudio), or --data FILE.npz holding arrays x and y (or x_train,
y_train, x_val, y_val for a fixed split). Needs numpy and torch, and
scikit-learn for digits, circles and moons.
"""

import argparse
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

'''

_BODY = r'''

# --- the built-in data sets (the same generators as nnstudio's) ---------------------------


def digits(shape, classes, seed):
    """scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    return x, bunch.target.astype(np.int64), tuple(str(d) for d in range(10))


def circles(shape, classes, seed):
    """Two noisy concentric circles."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=1000, noise=0.08, factor=0.5, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), ("outer", "inner")


def moons(shape, classes, seed):
    """Two interleaved half-moons."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.15, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64), ("upper", "lower")


def sequences(shape, classes, seed):
    """Noisy steps of random walks, classified by their hidden drift (the sign and size
    of a long sum); each class owns a band of drifts from -0.6 to 0.6."""
    length, features = shape if len(shape) == 2 else (50, 1)
    classes = classes or 2
    if not 2 <= classes <= 8:
        fail(f"The sequences data set makes 2 to 8 classes, but the network outputs {classes} values.")
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), 1000)
    edges = np.linspace(-0.6, 0.6, classes + 1)
    gap = 0.15 * (edges[1] - edges[0])
    drift = rng.uniform(edges[y] + gap, edges[y + 1] - gap)
    x = drift[:, None, None] + rng.normal(0.0, 1.0, (y.size, length, features))
    if classes == 2:
        return x.astype(np.float32), y.astype(np.int64), ("falling", "rising")
    names = tuple(f"drift {(edges[k] + edges[k + 1]) / 2:+.2f}" for k in range(classes))
    return x.astype(np.float32), y.astype(np.int64), names


SHAPE_KINDS = ("horizontal bar", "vertical bar", "plus", "cross", "ring", "disc", "square",
               "filled square", "triangle", "diagonal")


def _shape_mask(kind, dx, dy, r, t):
    ax, ay = np.abs(dx), np.abs(dy)
    half = t / 2
    if kind == 0:
        return (ay <= half) & (ax <= r)
    if kind == 1:
        return (ax <= half) & (ay <= r)
    if kind == 2:
        return ((ay <= half) & (ax <= r)) | ((ax <= half) & (ay <= r))
    inner = (ax <= 0.75 * r) & (ay <= 0.75 * r)
    if kind == 3:
        return inner & ((np.abs(dx - dy) <= 0.7 * t) | (np.abs(dx + dy) <= 0.7 * t))
    radius = np.hypot(dx, dy)
    if kind == 4:
        return np.abs(radius - r) <= half
    if kind == 5:
        return radius <= r
    box = np.maximum(ax, ay)
    if kind == 6:
        return (box <= r) & (box >= r - t)
    if kind == 7:
        return box <= 0.85 * r
    if kind == 8:
        return (ay <= r) & (ax <= (dy + r) / 2)
    return inner & (np.abs(dx - dy) <= 0.7 * t)


def shapes(shape, classes, seed):
    """Bars, crosses, rings, discs, squares and triangles on a noisy background."""
    if len(shape) != 3:
        fail(f"The shapes data set makes images (channels, height, width), but the Input takes {shape}.")
    channels, height, width = shape
    classes = classes or len(SHAPE_KINDS)
    if not 2 <= classes <= len(SHAPE_KINDS) or min(height, width) < 8:
        fail(f"The shapes data set makes 2 to 10 classes of images of 8x8 or more, not {classes} of {shape}.")
    rng = np.random.default_rng(seed)
    n = classes * 500
    y = np.repeat(np.arange(classes), 500)
    side = min(height, width)
    r = rng.uniform(0.2, 0.38, n) * side
    t = np.maximum(1.0, r / rng.uniform(3.0, 4.5, n))
    cx = rng.uniform(r + 1, width - r - 1)
    cy = rng.uniform(r + 1, height - r - 1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    rr, tt = r[:, None, None], t[:, None, None]
    mask = np.zeros((n, height, width), dtype=bool)
    for kind in range(classes):
        rows = y == kind
        mask[rows] = _shape_mask(kind, dx[rows], dy[rows], rr[rows], tt[rows])
    colour = rng.uniform(0.5, 1.0, (n, channels, 1, 1))
    background = rng.uniform(0.0, 0.25, (n, channels, 1, 1))
    x = background + mask[:, None] * (colour - background)
    x += rng.normal(0.0, 0.06, x.shape)
    return np.clip(x, 0.0, 1.0).astype(np.float32), y.astype(np.int64), SHAPE_KINDS[:classes]


BUILTIN = {"digits": digits, "circles": circles, "moons": moons, "sequences": sequences, "shapes": shapes}


# --- data: read, split, normalise (the app's rules) ---------------------------------------


def read_npz(path):
    """Arrays x and y (the app's names), or x_train, y_train, x_val, y_val for a fixed split."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        fail(f"{path} is not a readable .npz file ({exc}).")
    if "x_train" in arrays:
        if "x_val" not in arrays:
            fail(f"{path} has x_train but no x_val; save both, or the whole set as x.")
        return arrays["x_train"], arrays.get("y_train"), arrays["x_val"], arrays.get("y_val")
    x_key = next((k for k in ("x", "X", "inputs", "data", "images", "features") if k in arrays), None)
    if x_key is None:
        fail(f"{path} has no array named x (it holds {', '.join(arrays) or 'nothing'}).")
    y_key = next((k for k in ("y", "Y", "labels", "targets", "label", "target") if k in arrays), None)
    return arrays[x_key], arrays.get(y_key), None, None


def split_indices(n, val_split, seed):
    """A seeded shuffle cut into (training rows, validation rows)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, round(n * val_split)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def fit_shape(x, name):
    """Samples in the Input's shape: equal, or the same values rearranged (64 -> 1x8x8)."""
    wanted = PROJECT["input_shape"]
    if tuple(x.shape[1:]) == wanted:
        return x
    if math.prod(x.shape[1:]) == math.prod(wanted):
        return x.reshape(len(x), *wanted)
    fail(f"The {name} data set has samples of shape {tuple(x.shape[1:])}, but the Input takes {wanted}.")


def normalization(x, kind):
    """(shift, scale) per channel (images) or per feature, from the training samples."""
    if kind == "none":
        return np.float32(0.0), np.float32(1.0)
    keep = 1 if x.ndim == 4 else x.ndim - 1
    axes = tuple(a for a in range(x.ndim) if a != keep)
    if kind == "standard":
        shift = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        scale = x.std(axis=axes, keepdims=True, dtype=np.float64)
    else:
        shift = x.min(axis=axes, keepdims=True).astype(np.float64)
        scale = x.max(axis=axes, keepdims=True) - shift
    scale = np.where(scale > 1e-8, scale, 1.0)
    return shift[0].astype(np.float32), scale[0].astype(np.float32)


def load_data(name, seed):
    """Training and validation tensors, the task and the number of classes."""
    output = PROJECT["output_shape"]
    classes = max(2, output[0]) if len(output) == 1 else None
    x_val = y_val = None
    if name in BUILTIN:
        x, y, class_names = BUILTIN[name](PROJECT["input_shape"], classes, seed)
    elif name.lower().endswith(".npz"):
        x, y, x_val, y_val = read_npz(Path(name).expanduser())
        class_names = ()
    else:
        fail(f"train.py reads the built-in data sets ({', '.join(BUILTIN)}) and .npz files, not {name}; "
             "save the data with numpy.savez(path, x=inputs, y=labels) and pass --data path.")
    x = fit_shape(x, name)
    x_val = None if x_val is None else fit_shape(x_val, name)
    if x.dtype == np.uint8:  # pixels: white is 255
        x = x.astype(np.float32) / 255.0
        x_val = None if x_val is None else x_val.astype(np.float32) / 255.0
    if PROJECT["target"] == "input":
        task = "reconstruction"
    elif y is None:
        fail(f"{name} has no labels; save them as y, or train to reconstruct the input.")
    else:
        task = "classification" if y.dtype.kind in "iub" and PROJECT["loss"] != "mse" else "regression"
    if x_val is None:
        if len(x) < 2:
            fail(f"A data set needs at least two samples to split; {name} has {len(x)}.")
        train_rows, val_rows = split_indices(len(x), PROJECT["val_split"], seed)
        x_val, y_val = x[val_rows], (None if y is None else y[val_rows])
        x, y = x[train_rows], (None if y is None else y[train_rows])
    num_classes = None
    if task == "classification":
        num_classes = max(len(class_names), int(max(y.max(), y_val.max())) + 1)
    if PROJECT["input_dtype"] == "int64":  # token ids for an Embedding: never normalised
        tx, tv = torch.as_tensor(x, dtype=torch.int64), torch.as_tensor(x_val, dtype=torch.int64)
    else:
        kind = PROJECT["normalize"]
        if kind == "auto":
            kind = "minmax" if task == "reconstruction" else "standard"
        x, x_val = x.astype(np.float32, copy=False), x_val.astype(np.float32, copy=False)
        shift, scale = normalization(x, kind)
        tx = torch.from_numpy(((x - shift) / scale).astype(np.float32))
        tv = torch.from_numpy(((x_val - shift) / scale).astype(np.float32))
    if task == "reconstruction":
        ty, tyv = tx, tv
    elif task == "classification":
        ty, tyv = torch.as_tensor(y, dtype=torch.int64), torch.as_tensor(y_val, dtype=torch.int64)
    else:
        y, y_val = np.asarray(y, np.float32), np.asarray(y_val, np.float32)
        ty = torch.from_numpy(y[:, None] if y.ndim == 1 else y)
        tyv = torch.from_numpy(y_val[:, None] if y_val.ndim == 1 else y_val)
    return (tx, ty), (tv, tyv), task, num_classes


def resolve_loss(task, num_classes):
    """The loss ("auto" made concrete), after checking the Output can produce the targets."""
    loss, out = PROJECT["loss"], PROJECT["output_shape"]
    if task == "classification":
        k = num_classes
        if loss in ("auto", "cross_entropy") and out == (k,):
            return "cross_entropy"
        if loss in ("auto", "bce_with_logits") and out == (1,) and k == 2:
            return "bce_with_logits"
        if loss == "bce_with_logits" and out == (k,):
            return "bce_with_logits"
        fail(f"The data has {k} classes, but the network outputs shape {out}; give it {k} outputs.")
    if loss == "cross_entropy":
        fail("The data has number targets, not classes; use the MSE loss for it.")
    return "mse"


def loss_value(kind, out, target):
    if kind == "cross_entropy":
        return F.cross_entropy(out, target)
    if kind == "bce_with_logits":
        if out.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(out[:, 0], target.float())
        return F.binary_cross_entropy_with_logits(out, F.one_hot(target, out.shape[1]).float())
    return F.mse_loss(out, target)


def correct(out, target):
    predicted = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(1)
    return (predicted == target).sum()


# --- optimisation ---------------------------------------------------------------------------


def make_optimizer(params, lr):
    name, wd, momentum = PROJECT["optimizer"], PROJECT["weight_decay"], PROJECT["momentum"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)


def lr_at(epoch, lr, epochs):
    """The learning rate of 0-based ``epoch`` under the project's schedule."""
    if PROJECT["schedule"] == "step":  # x0.1 at half and at three quarters of the run
        return lr * 0.1 ** sum(epoch >= math.ceil(m * epochs) for m in (0.5, 0.75))
    if PROJECT["schedule"] == "cosine" and epochs > 1:  # down to 1% of the starting rate
        floor = 0.01 * lr
        return floor + 0.5 * (lr - floor) * (1 + math.cos(math.pi * epoch / (epochs - 1)))
    return lr


# --- processes ------------------------------------------------------------------------------

RANK = int(os.environ.get("RANK", "0"))
WORLD_SIZE = int(os.environ.get("WORLD_SIZE", "1"))
LOCAL_RANK = int(os.environ.get("LOCAL_RANK", "0"))


def fail(message):
    """Stop with a sentence; under torchrun every rank stops, rank 0 says why."""
    if RANK == 0:
        print(f"error: {message}", file=sys.stderr)
    if dist.is_initialized():
        dist.destroy_process_group()
    sys.exit(1)


def log(message):
    if RANK == 0:
        print(message, flush=True)


def pick_device(name):
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            fail(f"--device {name} was asked for, but this machine has no usable CUDA GPU.")
        if WORLD_SIZE > 1:  # torchrun starts one process per GPU: each takes its own
            return torch.device("cuda", LOCAL_RANK % torch.cuda.device_count())
    if name == "mps" and WORLD_SIZE > 1:
        fail("Apple's MPS backend runs in one process; start train.py without torchrun, or use --device cpu.")
    return torch.device(name)


def atomic_save(obj, path):
    """Write beside ``path`` and rename over it: a crash mid-save keeps the old file whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def first_output(out):
    return out[0] if isinstance(out, tuple) else out


def evaluate(model, data, loss_kind, task, device, batch):
    """Mean validation loss (and accuracy), each rank scoring every WORLD_SIZE-th sample."""
    x, y = data
    rows = torch.arange(RANK, len(x), WORLD_SIZE)
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, samples
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            part = rows[start:start + batch]
            xb, yb = x[part].to(device), y[part].to(device)
            out = first_output(model(xb)).float()
            totals[0] += loss_value(loss_kind, out, yb).double() * len(part)
            if task == "classification":
                totals[1] += correct(out, yb)
            totals[2] += len(part)
    if WORLD_SIZE > 1:
        dist.all_reduce(totals)
    loss, hits, count = totals.tolist()
    return loss / count, (hits / count if task == "classification" else None)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=f"Train {PROJECT['name']} (model.py); flags default to the project's settings.")
    parser.add_argument("--epochs", type=int, default=PROJECT["epochs"])
    parser.add_argument("--batch-size", type=int, default=PROJECT["batch_size"],
                        help="samples per step over all processes (default %(default)s)")
    parser.add_argument("--lr", type=float, default=PROJECT["lr"], help="learning rate (default %(default)s)")
    parser.add_argument("--device", default=PROJECT["device"],
                        help="auto, cpu, cuda or mps (default %(default)s); under torchrun, "
                             "each process takes the GPU of its LOCAL_RANK")
    parser.add_argument("--data", default=PROJECT["dataset"],
                        help=f"one of {', '.join(BUILTIN)}, or an .npz file (default %(default)s)")
    parser.add_argument("--seed", type=int, default=PROJECT["seed"])
    parser.add_argument("--out", default="checkpoints", help="folder for checkpoint.pt and weights.pt")
    parser.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint.pt")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        parser.error("--epochs and --batch-size must be at least 1, and --lr above 0.")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.batch_size % WORLD_SIZE:
        fail(f"--batch-size {args.batch_size} does not split evenly over {WORLD_SIZE} processes; "
             f"use a multiple of {WORLD_SIZE}.")
    device = pick_device(args.device)
    if WORLD_SIZE > 1:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    train, val, task, num_classes = load_data(args.data, args.seed)
    loss_kind = resolve_loss(task, num_classes)
    n = len(train[0])
    batch = args.batch_size
    if batch > n:  # a small data set: one step per epoch, still split evenly
        batch = n - n % WORLD_SIZE
    local = batch // WORLD_SIZE
    steps = n // batch

    torch.manual_seed(args.seed)  # the same initial weights in every process
    model = Model().to(device)
    if WORLD_SIZE > 1 and device.type == "cuda":
        # Normalise over the global batch, as the one-process run does.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = make_optimizer(model.parameters(), args.lr)
    torch.manual_seed(args.seed + RANK)  # dropout masks differ between processes, as between batches
    start_epoch = 0
    if args.resume:
        state = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"]
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if WORLD_SIZE > 1 else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) \
        if PROJECT["precision"] == "bf16" and device.type == "cuda" else nullcontext()

    out_dir = Path(args.out)
    if RANK == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    log(f"{PROJECT['name']}: {n:,} training and {len(val[0]):,} validation samples from {args.data}, "
        f"{WORLD_SIZE} process(es) on {device.type}, global batch {batch} ({local} per process), "
        f"{steps} steps per epoch, {loss_kind} loss")
    for epoch in range(start_epoch, args.epochs):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch, args.lr, args.epochs)
        # One shuffle of the whole set, the same in every process; rank r takes
        # slice r of every global batch.
        order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed + epoch))
        net.train()
        total = torch.zeros((), device=device)
        for step in range(steps):
            rows = order[step * batch + RANK * local: step * batch + (RANK + 1) * local]
            xb = train[0][rows].to(device, non_blocking=True)
            yb = train[1][rows].to(device, non_blocking=True)
            with autocast:
                out = first_output(net(xb))
            loss = loss_value(loss_kind, out.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        if WORLD_SIZE > 1:
            dist.all_reduce(total)
        train_loss = total.item() / (steps * WORLD_SIZE)
        val_loss, accuracy = evaluate(model, val, loss_kind, task, device, max(local, 256))
        score = f"  val accuracy {accuracy:.3f}" if accuracy is not None else ""
        log(f"epoch {epoch + 1}/{args.epochs}  loss {train_loss:.4f}  val loss {val_loss:.4f}{score}"
            f"  ({time.perf_counter() - started:.1f} s)")
        if RANK == 0:
            atomic_save({"epoch": epoch + 1, "model": model.state_dict(),
                         "optimizer": optimizer.state_dict()}, out_dir / "checkpoint.pt")
    if RANK == 0:
        atomic_save(model.state_dict(), out_dir / "weights.pt")
        log(f"Saved the trained weights to {out_dir / 'weights.pt'}.")
    if WORLD_SIZE > 1:
        # Every rank waits for rank 0's save before the group goes away.
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
    if WORLD_SIZE > 1:
        # Everything is saved and the process group is gone, but torch's C++ threads can still
        # be joinable when the interpreter tears down, which aborts the rank ("terminate called
        # without an active exception") and fails the whole torchrun. Leave without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
'''
