"""The exported ``train.py``: a plain-PyTorch training script for a project.

``generate_train_script(graph)`` returns the text written beside ``model.py``;
``write_train_script`` writes it together with ``nnstudio_recipe.py``, an exact
copy of ``nnstudio/training/recipe.py``: the data sets, split, loss, optimizer,
schedule, order of samples and last-batch rule the app itself trains with. So
the script trains like the app by construction, and a parity test holds them
to identical per-epoch metrics.

The script is ``train_template.py`` beside this module, a real Python file
that ruff checks; the project enters it only as validated literals (the
``PROJECT`` dict) and a checked ``from model import Class as Model`` line.

It runs as one process (``python train.py``) or as many under ``torchrun``:
DistributedDataParallel with the gloo backend on CPUs and NCCL on GPUs, across
machines through torchrun's rendezvous options. Rank 0 alone writes checkpoints.
Every process walks the same global batches a one-process run would (the
recipe's ``epoch_order`` and ``batch_bounds``), each taking its equal slice of
every global batch; DDP averages gradients over equal slices, which is the
gradient of the mean over the global batch, so the weights match a
one-process run with the same seed up to float rounding.

Like ``codegen``, this module imports no torch, and nothing from the training
package: the recipe's source is read as a file.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import pprint
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnstudio.compiler.codegen import GENERATED_MARK
from nnstudio.core.errors import GraphError
from nnstudio.core.project import write_atomic
from nnstudio.core.seeds import SEED_MAX, SEED_MIN

if TYPE_CHECKING:
    from nnstudio.compiler.codegen import PythonCode
    from nnstudio.core.graph import GraphModel

SCRIPT_NAME = "train.py"
RECIPE_NAME = "nnstudio_recipe.py"
BUILTIN_DATASETS = ("digits", "circles", "moons", "sequences", "shapes", "token_sequences", "shape_masks")
WEIGHTS_NAME = "weights.pt"
CHECKPOINT_NAME = "checkpoint.pt"
_TEMPLATE = Path(__file__).with_name("train_template.py")
_RECIPE_MODULE = "nnstudio.training.recipe"

# The training settings the script uses, with the app's defaults (TrainConfig's;
# a test keeps the two in step). Other settings (workers, compile, ...) concern
# the app's own trainer and are not carried over.
DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "label_column": None,
    "target": "label",
    "val_split": 0.2,
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
    """The text of ``train.py`` for ``graph``, whose model lives in ``model_module``.py
    (it imports ``nnstudio_recipe`` from beside it: see ``recipe_source``).

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
    if not model_module.isidentifier() or not code.class_name.isidentifier():
        raise TrainScriptError(f"'{model_module}.{code.class_name}' is not a Python module and class name.")
    project = _project_settings(graph, code, settings)
    literal = pprint.pformat(project, sort_dicts=False, width=100)
    if ast.literal_eval(literal) != project:  # a value repr() could not round-trip
        raise TrainScriptError("The training settings hold a value that cannot be written into train.py.")
    text = _TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("@TITLE@", _one_line(graph.name), 1).replace("@MODEL@", model_module, 1)
    text = text.replace("@GENERATED@", GENERATED_MARK, 1)
    text = _replace_line(text, "# @MODEL_IMPORT@", f"from {model_module} import {code.class_name} as Model")
    text = _replace_line(
        text, "# @SEED_MAX@", f"SEED_MAX = {SEED_MAX}  # seeds nnstudio accepts: 0..SEED_MAX"
    )
    return _replace_line(
        text, "# @PROJECT@", f"# The project's settings: defaults of the flags below.\nPROJECT = {literal}"
    )


def recipe_source() -> str:
    """The source of ``nnstudio.training.recipe``, read as a file (nothing is imported)."""
    spec = importlib.util.find_spec(_RECIPE_MODULE)
    candidates = [Path(spec.origin)] if spec is not None and spec.origin else []
    candidates.append(Path(__file__).parents[1] / "training" / "recipe.py")  # the app folder's copy
    for path in candidates:
        if path.suffix == ".py" and path.is_file():
            return path.read_text(encoding="utf-8")
    raise TrainScriptError("The training recipe's source is missing from this nnstudio installation.")


def write_train_script(
    graph: GraphModel,
    folder: str | Path,
    code: PythonCode | None = None,
    settings: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    class_name: str | None = None,
) -> Path:
    """Write ``train.py`` and ``nnstudio_recipe.py`` into ``folder`` (beside ``model.py``)
    and return the path of ``train.py``.

    Like ``export``, it never replaces files of these names that nnstudio did not
    write, unless ``overwrite``; nothing is written when the settings are refused.
    """
    folder = Path(folder)
    path, recipe_path = folder / SCRIPT_NAME, folder / RECIPE_NAME
    check_writable(folder, overwrite)
    text = generate_train_script(graph, code, settings, class_name=class_name)
    recipe = f"# {GENERATED_MARK}: nnstudio's training recipe, which train.py imports.\n" + recipe_source()
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(recipe_path, recipe)
    write_atomic(path, text)
    return path


def check_writable(folder: str | Path, overwrite: bool = False) -> None:
    """Refuse (TrainScriptError) when ``folder`` holds a train.py or recipe someone else wrote."""
    for name in (SCRIPT_NAME, RECIPE_NAME):
        path = Path(folder) / name
        if not overwrite and path.exists() and not _written_by_nnstudio(path):
            raise TrainScriptError(
                f"{path.parent} already contains {name}, not written by nnstudio; "
                "choose another folder, or overwrite it on purpose (--force)."
            )


def _replace_line(text: str, marker: str, replacement: str) -> str:
    """Replace the one template line ending in ``marker``."""
    pattern = re.compile(rf"^.*{re.escape(marker)}$", re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise TrainScriptError(f"The train.py template has no single line marked {marker!r}.")
    return pattern.sub(lambda _match: replacement, text)


def _written_by_nnstudio(path: Path) -> bool:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.lstrip("# ").startswith(GENERATED_MARK) for line in lines[:40])


# --- the settings literal -----------------------------------------------------------------


def _project_settings(
    graph: GraphModel, code: PythonCode, settings: Mapping[str, Any] | None
) -> dict[str, Any]:
    given = dict(graph.training if settings is None else settings)
    values = {key: given.get(key, default) for key, default in DEFAULTS.items()}
    for key, value in values.items():
        _check(key, value)
    (model_input,) = code.inputs
    output_id = code.output_ids[0]
    sources = graph.inputs_of(output_id)
    source_name = graph.nodes[sources[0].source].name if sources else graph.nodes[output_id].name
    return {
        "name": str(graph.name),
        **values,
        "network": {
            "input_name": str(graph.nodes[model_input.node_id].name),
            "input_shape": tuple(int(d) for d in model_input.shape),
            "input_dtype": str(model_input.dtype),
            "output_name": str(graph.nodes[output_id].name),
            "output_shape": tuple(int(d) for d in code.shape_of[output_id]),
            "source_name": str(source_name),
        },
    }


def _check(key: str, value: Any) -> None:
    """Refuse a value the script could not act on, with a sentence naming the setting.

    ``nnstudio export --train-script`` checks the settings with TrainConfig (the rules of
    ``nnstudio train``) before writing anything; these checks keep every literal safe and
    agree with them where they overlap."""
    if key in _CHOICES:
        ok = value in _CHOICES[key]
        wanted = "one of " + ", ".join(repr(c) for c in _CHOICES[key])
    elif key == "dataset":
        ok = isinstance(value, str) and bool(value.strip())
        wanted = "a non-empty text"
    elif key == "label_column":
        ok = (
            value is None
            or (isinstance(value, str) and bool(value))
            or (isinstance(value, int) and not isinstance(value, bool))
        )
        wanted = "a column name or index"
    elif key == "device":
        ok = isinstance(value, str) and bool(re.fullmatch(r"auto|cpu|cuda|cuda:\d+|mps", value))
        wanted = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    elif key in ("batch_size", "epochs", "seed"):
        low, high = (SEED_MIN, SEED_MAX) if key == "seed" else (1, 2**63 - 1)
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        wanted = f"a whole number from {low} to {high}"
    else:  # lr, momentum, weight_decay, val_split
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and value >= 0
        wanted = "a finite number of at least 0"
    if not ok:
        raise TrainScriptError(f"Training setting '{key}' must be {wanted} to write train.py, not {value!r}.")


def _one_line(text: str) -> str:
    """Text safe inside the script's docstring: one printable line, no quotes that could close it."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    return flat.replace("\\", "/").replace('"""', "'''")[:120] or "Untitled"
