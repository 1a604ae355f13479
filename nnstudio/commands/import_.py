"""``nnstudio import SOURCE -o OUT.nnstudio``: a PyTorch model as an editable project.

SOURCE names a model class (or a function returning a module) as
``path/to/file.py:ClassName`` or ``package.module:ClassName``. The model is
built with ``--args``, optionally given trained weights (``--weights``, read
safely), imported with ``nnstudio.from_torch`` on a random batch shaped by
``--input``, and written as ``OUT.nnstudio`` plus ``OUT.weights.safetensors``.

Importing runs the Python file that defines the model; the command says so
before it does. Exit status: 0 when imported and verified, 1 when the model
has parts the catalog cannot express (each is named) or the check fails, 2 for
a bad source, class, argument, weights file or input shape.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from nnstudio.commands._common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, error

WEIGHTS_SUFFIX = ".weights.safetensors"
CHECK_BATCH = 2


class SourceError(Exception):
    """A bad SOURCE, argument, weights file or shape: a sentence for the user (exit 2)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import",
        help="turn a PyTorch model (a .py file or an importable module) into an editable project",
        description="Import a PyTorch nn.Module as an nnstudio project with its weights. "
        "This runs the Python code that defines the model, so import only code you trust.",
    )
    parser.add_argument(
        "source",
        metavar="SOURCE",
        help="path/to/file.py:ClassName or package.module:ClassName (or a function returning a module)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nnstudio", help="project to write")
    parser.add_argument(
        "--input",
        action="append",
        metavar="SHAPE",
        default=[],
        help="one sample's shape per forward argument, without the batch, e.g. 3,224,224; "
        "token ids as 12:int (ids drawn below the smallest Embedding's size)",
    )
    parser.add_argument(
        "--args",
        metavar="JSON",
        default=None,
        help='constructor arguments: a JSON object of keywords ({"num_classes": 10}) '
        "or a JSON list of positional arguments",
    )
    parser.add_argument(
        "--foreign-args",
        action="append",
        metavar="PATH=JSON",
        default=[],
        help="constructor arguments of a submodule kept as a foreign module, where the import cannot "
        "read them off it: its path in the model and a JSON list, e.g. head=[256, 0.1]",
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="trained weights for the model: a .safetensors file or a state dict saved "
        "with torch.save (read with weights_only=True)",
    )
    parser.add_argument("--name", metavar="NAME", help="the project's name (default: the class name)")
    parser.add_argument("--force", action="store_true", help="replace OUT and its weights file if they exist")
    parser.set_defaults(run=run)


def weights_path(project: str | Path) -> Path:
    """Where a project's attached weights live: ``resnet.nnstudio`` -> ``resnet.weights.safetensors``."""
    project = Path(project)
    return project.with_name(project.stem + WEIGHTS_SUFFIX)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    attached = weights_path(out)
    if not args.force:
        existing = [p for p in (out, attached) if p.exists()]
        if existing:
            error(f"{existing[0]} already exists; choose another -o or add --force to replace it.")
            return EXIT_BAD_INPUT
    print(
        f"Note: importing runs the Python code of {args.source.rsplit(':', 1)[0]}, "
        "as running it yourself would; import only code you trust."
    )
    try:
        positional, keywords = _constructor_args(args.args)
        foreign_args = dict(_foreign_args(text) for text in args.foreign_args)
        shapes = [_parse_input(text) for text in args.input]
        if not shapes:
            raise SourceError("give the shape of each forward argument with --input, e.g. --input 3,224,224.")
        factory, label = load_factory(args.source)
        model = build_model(factory, label, positional, keywords)
        if args.weights:
            _load_weights(model, args.weights)
        inputs = _example_inputs(model, shapes)
    except SourceError as exc:
        error(exc)
        return EXIT_BAD_INPUT

    from nnstudio.compiler.importer import ModelImportError, from_torch

    try:
        result = from_torch(model, inputs, name=args.name, foreign_args=foreign_args)
    except ModelImportError as exc:
        error(exc)
        return EXIT_BAD_INPUT if exc.bad_input else EXIT_FAILED
    try:
        _write(result, out, attached)
    except OSError as exc:
        error(f"cannot write {out}: {exc.strerror or exc}.")
        return EXIT_BAD_INPUT
    for line in result.report:
        print(line.text)
    print(f"Wrote {out} and its weights {attached}.")
    return EXIT_OK if result.report.verified else EXIT_FAILED


# --- the source --------------------------------------------------------------------------------


def load_factory(source: str) -> tuple[Any, str]:
    """The class or function SOURCE names, and how to call it in messages."""
    where, sep, name = source.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise SourceError(
            f"'{source}' is not a model source; write path/to/file.py:ClassName or package.module:ClassName."
        )
    module = (
        _load_file(Path(where))
        if where.endswith(".py") or "/" in where or "\\" in where
        else _load_module(where)
    )
    if not hasattr(module, name):
        found = module_classes(module)
        hint = (
            f" It defines these nn.Module classes: {', '.join(found)}."
            if found
            else (" It defines no nn.Module class.")
        )
        raise SourceError(f"{where} has no '{name}'.{hint}")
    return getattr(module, name), f"{where}:{name}"


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise SourceError(f"{path} does not exist or is not a file.")
    module_name = f"nnstudio_import_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SourceError(f"{path} cannot be loaded as Python.")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # so the file's own sibling imports work
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # the user's code may raise anything, even SystemExit
        sys.modules.pop(module_name, None)
        raise SourceError(f"running {path} failed: {_describe(exc, path)}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _load_module(dotted: str) -> Any:
    here = str(Path.cwd())
    added = here not in sys.path
    if added:  # as `python -m` would: modules of the current folder can be named
        sys.path.insert(0, here)
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        raise SourceError(f"there is no module '{exc.name}' to import for '{dotted}'.") from None
    except BaseException as exc:
        raise SourceError(f"importing {dotted} failed: {_describe(exc, None)}") from None
    finally:
        if added:
            sys.path.remove(here)


def module_classes(module: Any) -> list[str]:
    """Names of the nn.Module subclasses a loaded module defines (not those it imports)."""
    from torch import nn

    return sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__
    )


def build_model(factory: Any, label: str, positional: list[Any], keywords: dict[str, Any]) -> Any:
    from torch import nn

    if not callable(factory):
        raise SourceError(f"{label} is a {type(factory).__name__}, not an nn.Module class or a function.")
    try:
        model = factory(*positional, **keywords)
    except BaseException as exc:
        raise SourceError(f"building {label} failed: {_describe(exc, None)}") from None
    if not isinstance(model, nn.Module):
        raise SourceError(f"{label} gave a {type(model).__name__}, not a torch.nn.Module.")
    return model


def _describe(exc: BaseException, path: Path | None) -> str:
    """'ValueError: bad width (line 12 of model.py)': the error and where in the user's code."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "nnstudio" not in Path(f.filename).parts] or frames
    if own:
        last = own[-1]
        text += f" (line {last.lineno} of {Path(last.filename).name})"
    return text + ("" if text.endswith(".") else ".")


# --- arguments, weights, inputs ------------------------------------------------------------------


def _constructor_args(text: str | None) -> tuple[list[Any], dict[str, Any]]:
    if text is None:
        return [], {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"--args is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    if isinstance(value, dict):
        return [], value
    if isinstance(value, list):
        return value, {}
    raise SourceError('--args must be a JSON object of keywords or a JSON list, e.g. {"num_classes": 10}.')


def _foreign_args(text: str) -> tuple[str, list[Any]]:
    """'head=[256, 0.1]' -> ('head', [256, 0.1]); the importer checks the values are plain data."""
    path, sep, value = text.partition("=")
    try:
        parsed = json.loads(value) if sep and path.strip() else None
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, list):
        raise SourceError(
            f"--foreign-args {text!r} must be a module path, '=' and a JSON list, e.g. head=[256, 0.1]."
        )
    return path.strip(), parsed


def _parse_input(text: str) -> tuple[tuple[int, ...], bool]:
    shape_text, _, kind = text.partition(":")
    try:
        shape = tuple(int(part) for part in shape_text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape) or kind not in ("", "int", "float"):
        raise SourceError(
            f"--input '{text}' is not a shape; write sizes without the batch, e.g. 3,32,32 (or 12:int for token ids)."
        )
    return shape, kind == "int"


def _load_weights(model: Any, path: str) -> None:
    from nnstudio.compiler.export import load_weights

    try:
        state = load_weights(path)
    except Exception as exc:
        raise SourceError(f"cannot read weights from {path}: {exc}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise SourceError(
            f"{path} does not fit the model: {' '.join(line.strip() for line in first[:3])}"
        ) from None


def _example_inputs(model: Any, shapes: list[tuple[tuple[int, ...], bool]]) -> tuple[Any, ...]:
    import torch
    from torch import nn

    vocab = min((m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)), default=2)
    generator = torch.Generator().manual_seed(0)
    return tuple(
        torch.randint(0, vocab, (CHECK_BATCH, *shape), generator=generator)
        if integer
        else torch.randn((CHECK_BATCH, *shape), generator=generator)
        for shape, integer in shapes
    )


def _write(result: Any, out: Path, attached: Path) -> None:
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.contiguous() for key, value in result.weights.items()}
    temporary = attached.with_name(attached.name + ".part")
    save_file(tensors, temporary, metadata={"format": "pt", "nnstudio_project": out.name})
    temporary.replace(attached)
    result.graph.save(out)  # atomic, like every project save
