"""Import a PyTorch model as an editable graph: the compiler run backwards.

``from_torch(module, example_inputs)`` traces the module with torch.fx,
treating every module the catalog knows as a leaf, measures every value's
shape on the example inputs, and maps each module call and each operation
of ``forward`` (``+``, ``torch.cat``, ``view``, ``permute``, ``x[:, 0]``...)
to a catalog node (rules in ``import_rules.py``). The weights are carried
over under the names the generated module will use, and the test of truth is
the one export uses: the compiled graph, given those weights, must compute
the module's outputs. The report says what became what, what could not be
mapped and why, and the largest output difference measured.

Nothing is imported approximately: a module or operation with no exact
catalog equivalent stops the import with a sentence naming it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import linecache
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx.operator_schemas import normalize_function
from torch.utils import _pytree as pytree

from nnstudio.api import Graph
from nnstudio.compiler import import_export
from nnstudio.compiler import import_rules as rules
from nnstudio.compiler.codegen import GENERATED_MARK, generate
from nnstudio.compiler.import_rules import Mapped, Unmappable
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.layers import check_import_path, check_json_args, format_shape

TOLERANCE = 1e-5


class ModelImportError(GraphError):
    """The model cannot be imported; the message says which parts and why."""

    def __init__(self, message: str, problems: Sequence[str] = (), bad_input: bool = False) -> None:
        super().__init__(message)
        self.problems = list(problems)
        self.bad_input = bad_input  # the module or the example inputs were wrong, not the catalog


@dataclass(frozen=True)
class ReportLine:
    """One sentence of the report; ``node_id`` links it to a node of the graph."""

    text: str
    node_id: str | None = None
    kind: str = "mapped"  # "summary", "mapped", "note" or "verification"

    def __str__(self) -> str:
        return self.text


@dataclass
class ImportReport:
    """What the import did, as sentences, plus the verification's figures."""

    lines: list[ReportLine] = field(default_factory=list)
    max_difference: float | None = None
    verified: bool = False
    source_parameters: int = 0
    imported_parameters: int = 0

    def add(self, text: str, node_id: str | None = None, kind: str = "mapped") -> None:
        self.lines.append(ReportLine(text, node_id, kind))

    @property
    def verification(self) -> str:
        found = [line.text for line in self.lines if line.kind == "verification"]
        return found[-1] if found else "Not verified."

    def __iter__(self):
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def __str__(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass
class ImportResult:
    """The imported graph, weights that fit it, and the report."""

    graph: Graph
    weights: dict[str, torch.Tensor]
    report: ImportReport


def from_torch(
    module: nn.Module,
    example_inputs: Sequence[torch.Tensor] | torch.Tensor,
    name: str | None = None,
    verify: bool = True,
    blocks: bool = True,
    foreign_args: dict[str, list[Any]] | None = None,
) -> ImportResult:
    """Import ``module`` as a graph with its weights; raises ModelImportError with sentences.

    ``example_inputs`` holds one batched tensor per ``forward`` argument
    (a batch of 2 or more shows layers that mix samples up). With ``blocks``,
    custom classes used several times become block definitions. The module runs
    in eval mode during the import and gets its own mode back afterwards.

    A submodule the catalog cannot express whose class is importable becomes a
    Foreign node (reported); ``foreign_args`` gives its constructor's positional
    arguments by module path ('head') where they cannot be read off the module.
    """
    if not isinstance(module, nn.Module):
        raise ModelImportError(
            f"Only a torch.nn.Module can be imported, not {type(module).__name__}.", bad_input=True
        )
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ModelImportError(
            "The example inputs must be one or more tensors, each with a batch dimension.", bad_input=True
        )
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            if rules.module_rule(module) is not None:  # a single layer: trace a holder that calls it
                return _Importer(_Holder(module), inputs, name or type(module).__name__, blocks).run(verify)
            foreign: set[str] = set()  # submodules kept whole, found one import round at a time
            routes = import_export.Routes()  # parts fx cannot trace, given to torch.export
            for _ in range(_MAX_FOREIGN_ROUNDS):
                try:
                    return _Importer(
                        module, inputs, name, blocks, frozenset(foreign), foreign_args, routes
                    ).run(verify)
                except _Retry as retry:
                    foreign |= retry.paths
                    for path in retry.paths:  # exported, but holding what the catalog lacks
                        routes.exported.pop(path, None)
                except _TryExport as attempt:
                    # the other instances of its class run the same forward: fx fails on them too
                    for path in [attempt.path, *_same_class(module, attempt.path, routes)]:
                        routes.exported[path] = attempt.reason
            raise ModelImportError(
                f"{type(module).__name__} cannot be imported: more than {_MAX_FOREIGN_ROUNDS} of its "
                "submodules would have to be kept as foreign modules."
            )
    finally:
        module.train(was_training)


class _Holder(nn.Module):
    """Holds a module that is itself one catalog layer, so tracing sees one layer call."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        from nnstudio.compiler.naming import snake_case

        self.add_module(snake_case(type(layer).__name__, "layer"), layer)

    def forward(self, x: torch.Tensor) -> Any:
        (layer,) = self.children()
        return layer(x)


# --- tracing ----------------------------------------------------------------------------------


class _ConcreteProxy(fx.Proxy):
    """A proxy that answers size questions with the example's real sizes.

    ``x.size()[1:]`` in a loop, ``x.shape[0]`` in arithmetic: plain torch.fx
    cannot iterate or compare them; with the example inputs' sizes it can, as
    torch.export does with static shapes. Tensor values stay symbolic.
    """

    @property
    def shape(self) -> torch.Size:
        return self.tracer.concrete[self.node].shape

    def size(self, dim: int | None = None) -> Any:
        value = self.tracer.concrete[self.node]
        return value.size() if dim is None else value.size(dim)

    def dim(self) -> int:
        return self.tracer.concrete[self.node].dim()

    def numel(self) -> int:
        return self.tracer.concrete[self.node].numel()

    def __len__(self) -> int:
        return len(self.tracer.concrete[self.node])


class _Tracer(fx.Tracer):
    """torch.fx with the catalog's modules as leaves; remembers where tracing failed.

    With ``example_inputs`` every traced value is also computed for real, so
    Python code that reads sizes can run (see _ConcreteProxy).
    """

    def __init__(
        self, example_inputs: tuple[torch.Tensor, ...] | None = None, foreign: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self.foreign = foreign  # paths of submodules kept whole as foreign modules
        self.record_stack_traces = True
        self.stack: list[str] = []
        self.failed_in: list[str] | None = None
        self.examples = list(example_inputs) if example_inputs is not None else None
        self.concrete: dict[fx.Node, Any] = {}
        self.evaluating = False

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if (
            rules.module_rule(m) is not None
            or rules.is_preprocess(m)
            or module_qualified_name in self.foreign
        ):
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        if self.evaluating:  # computing a leaf's real value: its children just run
            return forward(*args, **kwargs)
        self.stack.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = list(self.stack)
            raise
        finally:
            self.stack.pop()

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if self.evaluating:  # a leaf running for real reads its real parameters
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _ConcreteProxy(node, self) if self.examples is not None else super().proxy(node)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if self.examples is not None and isinstance(proxy, fx.Proxy):
            self.concrete[proxy.node] = self._evaluate(kind, target, args, kwargs)
        return proxy

    def _evaluate(self, kind: str, target: Any, args: Any, kwargs: Any) -> Any:
        def real(value: Any) -> Any:
            return self.concrete[value.node] if isinstance(value, fx.Proxy) else value

        args = fx.node.map_aggregate(args, real)
        kwargs = fx.node.map_aggregate(kwargs, real)
        if kind == "placeholder":
            return self.examples.pop(0) if self.examples else None
        if kind == "get_attr":
            return _fetch_attr(self.root, target)
        if kind == "call_module":
            self.evaluating = True
            try:
                return self.root.get_submodule(target)(*args, **kwargs)
            finally:
                self.evaluating = False
        if kind == "call_function":
            return target(*args, **kwargs)
        if kind == "call_method":
            return getattr(args[0], target)(*args[1:], **kwargs)
        return None


def _trace(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    foreign: frozenset[str] = frozenset(),
    routes: import_export.Routes | None = None,
) -> tuple[fx.Graph, bool]:
    """The fx graph and whether the example's sizes were needed to trace it.

    Parts in ``routes.exported`` stay single module calls here (the importer
    inlines their torch.export graphs); with '' among them the whole module is
    exported. Raises _TryExport when fx fails on a part not yet given to
    torch.export, and _Retry when a part both routes failed on can be kept as a
    foreign module.
    """
    routes = routes or import_export.Routes()
    if "" in routes.exported:
        return _export_whole(module, inputs, foreign, routes), True
    leaves = foreign | frozenset(routes.exported)
    concrete = _concrete_defaults(module, len(inputs))
    try:
        return _Tracer(foreign=leaves).trace(module, concrete_args=concrete or None), False
    except Exception:  # fx raises many kinds; try again with real sizes
        pass
    tracer = _Tracer(inputs, leaves)
    try:
        graph = tracer.trace(module, concrete_args=concrete or None)
    except Exception as exc:
        stack = tracer.failed_in or []
        reason = import_export.first_line(exc)
        part = _export_candidate(module, stack, routes)
        if part is not None:
            _check_runs(module, inputs)
            if not part:
                routes.where = stack[-1] if stack else ""
            raise _TryExport(part, reason) from None
        keep = _foreign_candidate(module, stack, foreign)
        if keep is not None:
            raise _Retry({keep}) from None
        where = stack[-1] if stack else ""
        raise _untraceable(module, where, reason, routes) from None
    return graph, True


def _untraceable(
    module: nn.Module, where: str, reason: str, routes: import_export.Routes
) -> ModelImportError:
    """The error for a part neither torch.fx nor torch.export can trace and that cannot be kept whole."""
    owner = module.get_submodule(where) if where else module
    place = f"'{where}' ({type(owner).__name__})" if where else type(module).__name__
    failed = [f"'{p}': {why[1]}" if p else why[1] for p, why in routes.failed.items()]
    export = f" torch.export failed too ({'; '.join(failed)})." if failed else ""
    return ModelImportError(
        f"The forward of {place} cannot be traced: {reason}.{export} Its Python code probably "
        "branches or loops on tensor values (data-dependent control flow), which has no graph form; "
        "rewrite that part without it (torch.cond for a branch), or split it into a module the catalog knows.",
        [f"{place}: {reason}"],
    )


def _export_candidate(root: nn.Module, stack: Sequence[str], routes: import_export.Routes) -> str | None:
    """The part torch.export should try next: the innermost model-defined module fx failed in,
    or the whole model ('') when fx failed in its own forward; None when those were tried."""
    own = [
        path for path in stack if path and not type(root.get_submodule(path)).__module__.startswith("torch.")
    ]
    if own:
        return None if routes.tried(own[-1]) else own[-1]
    return None if routes.tried("") else ""


def _same_class(root: nn.Module, path: str, routes: import_export.Routes) -> list[str]:
    """The other submodules of ``path``'s class, outside (and around) none already exported."""
    if not path:
        return []
    cls = type(root.get_submodule(path))
    taken = [p for p in routes.exported if p] + [path]
    return [
        name
        for name, sub in root.named_modules()
        if type(sub) is cls
        and name != path
        and not routes.tried(name)
        and not any(name.startswith(p + ".") or p.startswith(name + ".") for p in taken)
    ]


def _check_runs(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
    """A model that rejects the example inputs is the inputs' fault, not the tracer's."""
    try:
        module(*inputs)
    except Exception as exc:
        reason = import_export.first_line(exc)
        raise ModelImportError(
            f"{type(module).__name__} rejects example inputs of shape "
            f"{', '.join(format_shape(tuple(t.shape)) for t in inputs)}: {reason}. "
            "Give inputs of the shape the model expects (batch first).",
            [reason],
            bad_input=True,
        ) from None


def _is_leaf(foreign: frozenset[str]) -> Any:
    """The fx route's leaf test (a catalog layer or a part kept whole), for the export route."""

    def is_leaf(module: nn.Module, path: str) -> bool:
        return rules.module_rule(module) is not None or rules.is_preprocess(module) or path in foreign

    return is_leaf


def _export_whole(
    module: nn.Module, inputs: tuple[torch.Tensor, ...], foreign: frozenset[str], routes: import_export.Routes
) -> fx.Graph:
    """The whole model through torch.export, as an fx graph of layers and torch functions."""
    try:
        program = import_export.export(module, inputs, {})
        graph = fx.Graph()
        names = list(inspect.signature(module.forward).parameters)
        placeholders = [
            graph.placeholder(names[i] if i < len(names) else f"input_{i}") for i in range(len(inputs))
        ]
        lifter = import_export.Lifter(program, module, "", graph, _is_leaf(foreign))
        graph.output(lifter.lift(list(placeholders), list(inputs)))
    except import_export.ExportFailed as exc:
        fx_reason = routes.exported.pop("")
        routes.failed[""] = (fx_reason, exc.args[0])
        raise _untraceable(module, routes.where, fx_reason, routes) from None
    return graph


@dataclass(frozen=True)
class _TensorMeta:
    shape: tuple[int, ...]
    dtype: torch.dtype


def _propagate(root: nn.Module, graph: fx.Graph, inputs: tuple[torch.Tensor, ...], keep: Any = ()) -> None:
    """Run the traced graph on the example inputs; record each tensor's shape in ``node.meta``.

    Runs against the module itself rather than an fx.GraphModule, whose own
    attributes ('code', 'graph') would shadow layers of those names. Calls of
    the modules in ``keep`` also record their arguments (``meta["example"]``).
    """
    env: dict[fx.Node, Any] = {}
    pending = list(inputs)

    def real(value: Any) -> Any:
        return env[value] if isinstance(value, fx.Node) else value

    for node in graph.nodes:
        args = fx.node.map_aggregate(node.args, real)
        kwargs = fx.node.map_aggregate(node.kwargs, real)
        if node.op == "placeholder":
            value = pending.pop(0) if pending else node.args[0] if node.args else None
        elif node.op == "get_attr":
            value = _fetch_attr(root, node.target)
        elif node.op == "call_module":
            value = root.get_submodule(node.target)(*args, **kwargs)
            if node.target in keep:
                node.meta["example"] = (args, kwargs)
        elif node.op == "call_function":
            value = node.target(*args, **kwargs)
        elif node.op == "call_method":
            value = getattr(args[0], node.target)(*args[1:], **kwargs)
        else:
            continue
        env[node] = value
        if isinstance(value, torch.Tensor):
            node.meta["tensor_meta"] = _TensorMeta(tuple(value.shape), value.dtype)


def _concrete_defaults(module: nn.Module, count: int) -> dict[str, Any]:
    """forward's optional arguments beyond the example inputs keep their defaults."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    extra = parameters[count:]
    return {p.name: p.default for p in extra if p.default is not inspect.Parameter.empty}


# --- values flowing through the fx graph ---------------------------------------------------------


@dataclass(frozen=True)
class _T:
    """A tensor some graph node computes; ``shape`` includes the batch."""

    node_id: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class _P:
    """A parameter or buffer read with ``self.name`` in forward."""

    target: str
    tensor: torch.Tensor


@dataclass(frozen=True)
class _Expanded:
    param: _P


@dataclass
class _Pending:
    """A module call whose meaning depends on which of its results are used (RNN, attention)."""

    fx_node: fx.Node
    module: nn.Module
    mapped: Mapped
    args: tuple[Any, ...]
    made: dict[bool, _T] = field(default_factory=dict)


@dataclass(frozen=True)
class _Part:
    """Part of a pending call's result: ("state",) of an RNN, ("h",) of an LSTM, ("h", i)."""

    pending: _Pending
    path: tuple[Any, ...]


class _Meta:
    """A non-tensor value (a size, a flag) that only shapes other operations."""


_META = _Meta()
_FAILED = _Meta()  # what a node that could not be mapped leaves behind


# --- foreign modules ----------------------------------------------------------------------------

_MAX_FOREIGN_ROUNDS = 20


class _Retry(Exception):
    """Not an error: import again with these submodules kept whole as foreign modules."""

    def __init__(self, paths: set[str]) -> None:
        super().__init__(sorted(paths))
        self.paths = paths


class _TryExport(Exception):
    """Not an error: torch.fx failed on ``path`` ('' for the whole model); import again giving it
    to torch.export."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path, self.reason = path, reason


def _foreign_path(cls: type) -> tuple[str | None, str]:
    """``cls`` as ``package.module:ClassName`` the exported code can import, or (None, why not)."""
    module_name, qualname = cls.__module__, cls.__qualname__
    if module_name == "__main__":
        return (
            None,
            "its class is defined in the script being run (__main__), which exported code cannot import",
        )
    if module_name.startswith("nnstudio_import_"):
        return None, (
            "its class is defined in the file given as SOURCE, which is not an importable module; "
            "move it into a module on the Python path"
        )
    if not qualname.isidentifier():
        return None, "its class is defined inside a function or another class, so it cannot be imported"
    if module_name.startswith("torch.nn.") and getattr(nn, qualname, None) is cls:
        module_name = "torch.nn"  # torch.nn.PixelShuffle, as people write it
    target = f"{module_name}:{qualname}"
    try:
        check_import_path("target", target)
        imported = importlib.import_module(module_name)
    except ParamError as exc:
        return None, str(exc).rstrip(".")
    except Exception:  # any failure to import means the same to the user
        return None, f"'{module_name}' cannot be imported by that name"
    if getattr(imported, qualname, None) is not cls:
        return None, f"importing '{module_name}' does not give that class"
    return target, ""


def _foreign_candidate(root: nn.Module, paths: Sequence[str], foreign: frozenset[str]) -> str | None:
    """The innermost of ``paths`` (a module stack, outermost first) that can be kept whole."""
    for path in reversed(paths):
        if not path or path in foreign:
            continue
        try:
            sub = root.get_submodule(path)
        except AttributeError:
            continue
        if type(sub).__module__.startswith("torch."):
            continue  # torch's containers (Sequential, ModuleList) are only traced through
        if _foreign_path(type(sub))[0] is not None:
            return path
    return None


def _recover_args(module: nn.Module) -> list[Any] | None:
    """Positional constructor arguments rebuilding ``module`` (same state-dict keys and shapes),
    read from attributes named like the constructor's parameters; None when that fails."""
    cls = type(module)
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return None
    args: list[Any] = []
    defaults: list[Any] = []
    for param in list(signature.parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # left empty: the state-dict check below (and the import's verification) judge
        missing = inspect.Parameter.empty
        value = getattr(module, param.name, missing) if param.name in vars(module) else missing
        if param.kind is param.KEYWORD_ONLY:
            if value is not missing and value != param.default:
                return None
            continue
        if value is missing:
            value = param.default
        if value is missing:
            return None
        try:
            value = check_json_args("args", [value])[0]
        except ParamError:
            return None
        args.append(value)
        defaults.append(param.default)
    while args and type(args[-1]) is type(defaults[-1]) and args[-1] == defaults[-1]:
        args.pop()
        defaults.pop()
    try:
        with torch.device("meta"):
            copy = cls(*args)
    except Exception:  # the guess is wrong: the user gives the arguments
        return None
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    return args if {k: tuple(v.shape) for k, v in copy.state_dict().items()} == shapes else None


def _measured(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return tuple(int(d) for d in shape) if shape is not None else None


def _dtype(node: fx.Node) -> torch.dtype | None:
    return getattr(node.meta.get("tensor_meta"), "dtype", None)


# --- names from nnstudio's own generated code --------------------------------------------------------


class _GeneratedSource:
    """What a module compiled or exported by nnstudio says about the graph it came from."""

    def __init__(self, module: nn.Module) -> None:
        self.filename = getattr(getattr(type(module).forward, "__code__", None), "co_filename", "")
        lines = linecache.getlines(self.filename) if self.filename else []
        self.lines = lines
        text = "".join(lines)
        self.is_generated = GENERATED_MARK in text and hasattr(module, "forward")
        self.code = getattr(module, "nnstudio_code", None)
        self.graph_name: str | None = None
        self.description = ""
        self.output_names: list[str] = []
        if self.is_generated:
            self._read_docstrings(text, type(module))

    def _read_docstrings(self, text: str, cls: type) -> None:
        try:
            doc = ast.get_docstring(ast.parse(text), clean=True) or ""
        except SyntaxError:
            return
        paragraphs = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
        suffix = ": a PyTorch model designed in nnstudio."
        if paragraphs and paragraphs[0].endswith(suffix):
            self.graph_name = paragraphs[0][: -len(suffix)]
            rest = [p for p in paragraphs[1:] if not p.startswith(GENERATED_MARK)]
            self.description = rest[0] if rest else ""
        self.output_names = re.findall(r"Output ``([^`]+)``", cls.__doc__ or "")

    def attr_name(self, attr: str) -> str | None:
        """The node name behind a generated attribute (exact when compiled in this process)."""
        if self.code is None:
            return None
        for node_id, owner in self.code.attr_of.items():
            if owner == attr:
                return self.code.label_of[node_id][1]
        return None

    def input_name(self, arg: str) -> str | None:
        if self.code is None:
            return None
        for item in self.code.inputs:
            if item.name == arg:
                return self.code.label_of[item.node_id][1]
        return None

    def outputs(self, count: int) -> list[str]:
        if self.code is not None and len(self.code.output_ids) == count:
            return [self.code.label_of[i][1] for i in self.code.output_ids]
        return self.output_names if len(self.output_names) == count else []

    def line_name(self, node: fx.Node) -> str | None:
        """The node name behind an operation, from the generated line it was traced on."""
        if not self.is_generated or not node.stack_trace:
            return None
        found = [
            int(n)
            for f, n in re.findall(r'File "([^"]+)", line (\d+)', node.stack_trace)
            if f == self.filename
        ]
        if not found:
            return None
        line = found[-1]
        top_level = self.code is not None and self.code.line_of and line > min(self.code.line_of.values()) - 2
        if top_level:  # the model's own forward, not a block's class
            later = sorted((n, i) for i, n in self.code.line_of.items() if n >= line)
            if later:
                return self.code.label_of[later[0][1]][1]
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?:, _)? = ", text)
        return match.group(1) if match and match.group(1) != "x" else None


# --- the importer ----------------------------------------------------------------------------------------


class _Importer:
    """One use: builds the graph, the weights and the report for one module."""

    def __init__(
        self,
        module: nn.Module,
        inputs: tuple[torch.Tensor, ...],
        name: str | None,
        blocks: bool = True,
        foreign: frozenset[str] = frozenset(),
        foreign_args: dict[str, list[Any]] | None = None,
        routes: import_export.Routes | None = None,
    ) -> None:
        self.module = module
        self.foreign = foreign
        self.routes = routes or import_export.Routes()
        self.inlined: list[str] = []  # parts whose torch.export graph replaced their call
        self.foreign_args = dict(foreign_args or {})
        self.retry: set[str] = set()  # submodules to keep whole in the next round
        self.inputs = inputs
        self.batch = int(inputs[0].shape[0]) if inputs[0].dim() else 0
        self.source = _GeneratedSource(module)
        graph_name = next(n for n in (name, self.source.graph_name, type(module).__name__) if n is not None)
        self.graph = Graph(name=graph_name, description=self.source.description)
        self.report = ImportReport()
        self.problems: list[str] = []
        self.values: dict[fx.Node, Any] = {}
        self.names: set[str] = set()
        self.module_of: dict[str, tuple[str, nn.Module]] = {}  # node id -> (path, module) for weights
        self.param_of: dict[str, dict[str, torch.Tensor]] = {}  # node id -> {key: tensor}
        self.measured: dict[str, tuple[int, ...]] = {}  # node id -> shape torch gave
        self.origin: dict[str, str] = {}  # node id -> what it came from, for the report
        self.merged_from: dict[str, fx.Node] = {}  # Add node id -> last fx node merged into it
        self.modules_used: dict[str, int] = {}
        self.next_input = 0
        self.stacks: dict[str, Any] = {}  # node id -> fx's nn_module_stack where it was computed
        self.blocks = blocks
        self.code: Any = None

    # -- running -----------------------------------------------------------------------------

    def run(self, verify: bool) -> ImportResult:
        if self.batch < 1:
            raise ModelImportError(
                "Each example input needs a batch dimension first, e.g. shape (2, 3, 32, 32).", bad_input=True
            )
        graph, sized = _trace(self.module, self.inputs, self.foreign, self.routes)
        if sized and not self.routes.exported:
            self.report.add(
                f"{type(self.module).__name__}'s forward computes with tensor sizes in Python, so it was "
                f"traced with the example's sizes: the graph is made for inputs shaped like them.",
                None,
                "note",
            )
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(self.inputs):
            raise ModelImportError(
                f"{type(self.module).__name__}.forward takes {len(placeholders)} input(s), but "
                f"{len(self.inputs)} example input(s) were given.",
                bad_input=True,
            )
        try:
            _propagate(self.module, graph, self.inputs, keep=self.routes.exported)
            if any(n.op == "call_module" and n.target in self.routes.exported for n in graph.nodes):
                graph = self._inline_exports(graph)
                _propagate(self.module, graph, self.inputs)
        except (_Retry, ModelImportError):
            raise
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelImportError(
                f"{type(self.module).__name__} rejects example inputs of shape "
                f"{', '.join(format_shape(tuple(t.shape)) for t in self.inputs)}: {reason.rstrip('.')}. "
                "Give inputs of the shape the model expects (batch first).",
                [reason],
                bad_input=True,
            ) from None
        live = self._live_nodes(graph)
        for node in graph.nodes:
            if node in live:
                self._visit(node)
        if self.retry:
            raise _Retry(self.retry)
        if self.problems:
            count = len(self.problems)
            raise ModelImportError(
                f"{type(self.module).__name__} cannot be imported: {count} part(s) have no exact "
                "equivalent in the catalog. " + " ".join(self.problems),
                self.problems,
            )
        self._check_shapes()
        labels = {n.id: (n.type, n.name) for n in self.graph.nodes.values()}
        place, checked = None, None
        if self.blocks:
            flat = self.graph.to_dict()
            try:
                place = self._group_blocks()
                if place is not None:
                    weights = self._weights(place)
                    checked = self._check(weights) if verify else None
                    if checked is not None and not checked[0]:
                        raise ValueError("the outputs with blocks differ")
            except Exception as exc:  # the flat graph is right; blocks are a reading aid
                self.graph = Graph.from_dict(flat)
                self.report.add(
                    f"The repeated modules stay as separate layers: grouping them into blocks failed ({exc}).",
                    None,
                    "note",
                )
                place, checked = None, None
        if place is None:
            weights = self._weights(None)
        self._layout()
        self._summarise(weights, labels, place or {})
        self._report_routes()
        if verify:
            self._report_check(*(checked or self._check(weights)))
        return ImportResult(self.graph, weights, self.report)

    def _inline_exports(self, graph: fx.Graph) -> fx.Graph:
        """``graph`` with each call of a part fx could not trace replaced by its torch.export graph."""
        out = fx.Graph()
        env: dict[fx.Node, Any] = {}
        is_leaf = _is_leaf(self.foreign)
        for node in graph.nodes:
            if node.target is operator_getitem() and isinstance(env.get(node.args[0]), tuple | list):
                env[node] = env[node.args[0]][node.args[1]]  # an item of an exported part's result
                continue
            if node.op != "call_module" or node.target not in self.routes.exported:
                env[node] = out.node_copy(node, lambda n: env[n])
                continue
            path = str(node.target)
            part = self.module.get_submodule(path)
            args, kwargs = node.meta["example"]
            stack = dict(node.meta.get("nn_module_stack") or {})
            stack.setdefault(path, (path, type(part)))
            try:
                program = import_export.export(part, args, kwargs)
                given = pytree.tree_leaves((tuple(node.args), dict(node.kwargs)))
                real = pytree.tree_leaves((tuple(args), dict(kwargs)))
                result = import_export.Lifter(program, self.module, path, out, is_leaf, stack).lift(
                    [env[v] if isinstance(v, fx.Node) else v for v in given], real
                )
            except import_export.ExportFailed as exc:
                raise self._export_failed(path, exc.args[0], stack) from None
            env[node] = result
            if path not in self.inlined:
                self.inlined.append(path)
        return out

    def _export_failed(self, path: str, reason: str, stack: dict[str, Any]) -> Exception:
        """torch.export failed on a part fx failed on too: keep it (or a module around it) whole."""
        fx_reason = self.routes.exported.pop(path)
        self.routes.failed[path] = (fx_reason, reason)
        keep = _foreign_candidate(
            self.module, [v[0] if isinstance(v, tuple) else k for k, v in stack.items()], self.foreign
        )
        if keep is not None:
            return _Retry({keep})
        return _untraceable(self.module, path, fx_reason, self.routes)

    def _report_routes(self) -> None:
        """Which parts torch.export traced, and why torch.fx could not (instances of one class together)."""
        if "" in self.routes.exported:
            self.report.add(
                f"{type(self.module).__name__} was traced with torch.export because torch.fx failed: "
                f"{self.routes.exported['']}; the graph is made for inputs shaped like the example.",
                None,
                "note",
            )
            return
        groups: dict[tuple[str, str], list[str]] = {}
        for path in self.inlined:
            kind = type(self.module.get_submodule(path)).__name__
            groups.setdefault((kind, self.routes.exported[path]), []).append(path)
        for (kind, reason), paths in groups.items():
            named = [f"'{p}'" for p in paths]
            listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
            first = next(
                (
                    i
                    for i, o in self.origin.items()
                    if o.startswith(f"'{paths[0]}.") and i in self.graph.nodes
                ),
                None,
            )
            self.report.add(
                f"{listed} ({kind}) {'was' if len(paths) == 1 else 'were'} traced with torch.export because "
                f"torch.fx failed: {reason}; the graph is made for inputs shaped like the example.",
                first,
                "note",
            )
        if self.inlined:
            self.report.add(
                f"The rest of {type(self.module).__name__} was traced with torch.fx.", None, "note"
            )

    def _group_blocks(self) -> dict[str, list[tuple[str, int]]] | None:
        """Custom classes used several times become blocks; where each flat node went, or None."""
        from nnstudio.compiler.import_blocks import BlockBuilder, scopes

        builder = BlockBuilder(self.graph, self.module, scopes(self.stacks.items()))
        builder.run()
        for note in builder.notes:
            self.report.add(note + ".", None, "note")
        if not builder.made:
            return None
        graphs = [self.graph, *(self.graph.blocks.get(name).body for name in builder.made)]
        for name in builder.made:
            uses = [
                n for g in graphs for n in g.nodes.values() if n.type == "Block" and n.params["block"] == name
            ]
            copies = sum(n.params.get("repeat", 1) for n in uses)
            self.report.add(
                f"Block {name}: one definition for {copies} uses of the class, in {len(uses)} instance node(s).",
                uses[0].id if uses else None,
                "mapped",
            )
        return builder.place

    @staticmethod
    def _live_nodes(graph: fx.Graph) -> set[fx.Node]:
        """Nodes the output depends on (fx keeps unused tuple items and sizes too)."""
        live: set[fx.Node] = set()
        stack = [n for n in graph.nodes if n.op in ("output", "placeholder")]
        while stack:
            node = stack.pop()
            if node in live:
                continue
            live.add(node)
            stack.extend(node.all_input_nodes)
        return live

    # -- building nodes ----------------------------------------------------------------------------

    def _name(self, base: str) -> str:
        base = base[:60] if base.strip() else "node"
        name, index = base, 0
        while name in self.names:
            index += 1
            name = f"{base}_{index}"
        self.names.add(name)
        return name

    def _add(
        self,
        type_: str,
        params: dict[str, Any],
        inputs: Sequence[_T],
        fx_node: fx.Node,
        name: str,
        origin: str,
    ) -> _T:
        try:
            node_id = self.graph.add(type_, name=self._name(name), **params)
        except GraphError as exc:
            raise Unmappable(f"the catalog refuses its settings ({exc})") from None
        for value in inputs:
            self.graph.connect(value.node_id, node_id)
        shape = _measured(fx_node)
        if shape is not None:
            self.measured[node_id] = shape
        self.origin[node_id] = origin
        self.stacks[node_id] = fx_node.meta.get("nn_module_stack")
        return _T(node_id, shape or ())

    def _op_name(self, node: fx.Node) -> str:
        return self.source.line_name(node) or node.name

    def _visit(self, node: fx.Node) -> None:
        if any(self.values.get(n) is _FAILED for n in node.all_input_nodes):
            self.values[node] = _FAILED  # already reported where it started
            return
        try:
            if node.op == "placeholder":
                self.values[node] = self._input(node)
            elif node.op == "get_attr":
                self.values[node] = _P(node.target, _fetch_attr(self.module, node.target))
            elif node.op == "call_module":
                self.values[node] = self._module_call(node)
            elif node.op in ("call_function", "call_method"):
                self.values[node] = self._operation(node)
            elif node.op == "output":
                self._outputs(node)
        except Unmappable as exc:
            self.problems.append(f"{self._where(node)} cannot be mapped: {exc.args[0].rstrip('.')}.")
            self.values[node] = _FAILED
            stack = [
                v[0] if isinstance(v, tuple) else k
                for k, v in (node.meta.get("nn_module_stack") or {}).items()
            ]
            if node.op == "call_module":
                stack = [p for p in stack if p != node.target]
            keep = _foreign_candidate(self.module, stack, self.foreign)
            if keep is not None:
                self.retry.add(keep)
                return
            modules = dict(self.module.named_modules())
            owners = [
                p
                for p in stack
                if p in modules and p and not type(modules[p]).__module__.startswith("torch.")
            ]
            if owners:  # say why the module around it could not be kept whole either
                owner = modules[owners[-1]]
                why = _foreign_path(type(owner))[1]
                self.problems[-1] = self.problems[-1][:-1] + (
                    f"; its module '{owners[-1]}' ({type(owner).__name__}) cannot be kept as a foreign module: {why}."
                )

    def _where(self, node: fx.Node) -> str:
        if node.op == "call_module":
            module = self.module.get_submodule(node.target)
            return f"Module '{node.target}' ({type(module).__name__})"
        if node.op in ("call_function", "call_method"):
            return f"The operation {rules.describe_target(node.target)} ('{node.name}' in forward)"
        return f"'{node.name}'"

    def _input(self, node: fx.Node) -> _T:
        tensor = self.inputs[self.next_input]
        self.next_input += 1
        shape = tuple(int(d) for d in tensor.shape[1:])
        if not 1 <= len(shape) <= 4:
            raise Unmappable(
                f"inputs of shape {format_shape(tuple(tensor.shape))} have {len(shape)} "
                "dimensions besides the batch; the catalog's Input takes 1 to 4"
            )
        integer = not tensor.dtype.is_floating_point
        # Raw inputs in, as the source takes them (token ids are never normalised anyway).
        params = {"shape": list(shape), "dtype": "int64" if integer else "float32"}
        if not integer:
            params["normalize"] = "none"
        name = self.source.input_name(str(node.target)) or str(node.target)
        value = self._add("Input", params, [], node, name, f"forward's argument '{node.target}'")
        self.measured[value.node_id] = tuple(tensor.shape)
        return _T(value.node_id, tuple(tensor.shape))

    def _outputs(self, node: fx.Node) -> None:
        result = node.args[0]
        items = list(result) if isinstance(result, tuple | list) else [result]
        names = self.source.outputs(len(items))
        for index, item in enumerate(items):
            value = self.values.get(item) if isinstance(item, fx.Node) else None
            if not isinstance(value, _T):
                raise Unmappable("forward must return tensors (or a tuple of tensors)")
            base = names[index] if names else ("output" if len(items) == 1 else f"output_{index + 1}")
            node_id = self.graph.add("Output", name=self._name(base))
            self.graph.connect(value.node_id, node_id)

    # -- modules ---------------------------------------------------------------------------------------

    def _module_call(self, node: fx.Node) -> Any:
        module = self.module.get_submodule(node.target)
        args = tuple(self.values.get(a, a) if isinstance(a, fx.Node) else a for a in node.args)
        if rules.is_preprocess(module) and len(args) == 1 and isinstance(args[0], _T):
            return self._preprocess(node, module, args[0])
        rule = rules.module_rule(module)
        if rule is None:
            return self._foreign(node, module, args)
        mapped = rule(module)
        if mapped.type in ("LSTM", "GRU", "RNN"):
            if len(args) != 1 or node.kwargs:
                raise Unmappable(
                    "it is given an initial state; the catalog's recurrent layers start from zeros"
                )
            return _Pending(node, module, mapped, args)
        if mapped.type == "MultiheadAttention":
            return self._attention(node, module, mapped, args)
        if len(args) != 1 or node.kwargs or not isinstance(args[0], _T):
            raise Unmappable("it is called with more than one input")
        x = args[0]
        if mapped.type == "Shortcut" and mapped.params["out_channels"] == -1:
            mapped.params["out_channels"] = x.shape[1]
        return self._module_node(node, module, mapped, [x], return_sequences=None)

    def _preprocess(self, node: fx.Node, module: nn.Module, x: _T) -> _T:
        """nnstudio's own input normalisation goes back onto its Input node."""
        input_node = self.graph.nodes[x.node_id]
        if input_node.type != "Input" or x.node_id in self.module_of:
            raise Unmappable("it normalises something other than a model input")
        shape = tuple(input_node.params["shape"])
        kept = {axis for axis in range(len(shape)) if axis + 1 not in module.reduced}
        keeps = {"channel": {0}, "feature": {len(shape) - 1}, "element": set(range(len(shape)))}
        matching = [per for per, axes in keeps.items() if axes == kept]
        if not matching:
            raise Unmappable("it normalises over axes the Input node cannot express")
        auto = "channel" if len(shape) == 3 else "feature"
        self.graph.set_param(x.node_id, "normalize", module.mode)
        self.graph.set_param(x.node_id, "normalize_per", "auto" if auto in matching else matching[0])
        self.module_of[x.node_id] = (str(node.target), module)
        self.origin[x.node_id] += f", normalised by '{node.target}'"
        return x

    def _module_node(
        self,
        node: fx.Node,
        module: nn.Module,
        mapped: Mapped,
        inputs: list[_T],
        return_sequences: bool | None,
    ) -> _T:
        params = dict(mapped.params)
        if return_sequences is not None:
            params["return_sequences"] = return_sequences
        path = str(node.target)
        self.modules_used[path] = self.modules_used.get(path, 0) + 1
        name = self.source.attr_name(path) or path.replace(".", "_")  # 'layer1.0.conv1' -> 'layer1_0_conv1'
        value = self._add(mapped.type, params, inputs, node, name, f"'{path}' ({type(module).__name__})")
        self.module_of[value.node_id] = (path, module)
        for note in mapped.notes:
            self.report.add(f"'{path}': {note}.", value.node_id, "note")
        return value

    def _foreign(self, node: fx.Node, module: nn.Module, args: tuple[Any, ...]) -> _T:
        """A module the catalog lacks, kept whole: a Foreign node that imports its class."""
        path, cls = str(node.target), type(module)
        lacking = f"{cls.__module__}.{cls.__qualname__} is not a layer the catalog has"
        target, why = _foreign_path(cls)
        if target is None:
            raise Unmappable(f"{lacking}, and it cannot be kept as a foreign module: {why}")
        out = _measured(node)
        if len(args) != 1 or node.kwargs or not isinstance(args[0], _T) or out is None:
            raise Unmappable(f"{lacking}, and a foreign module must take one tensor and return one")
        in_shape, out_shape = tuple(args[0].shape[1:]), tuple(out[1:])
        if not (1 <= len(in_shape) <= 4 and 1 <= len(out_shape) <= 4):
            raise Unmappable(f"{lacking}, and a foreign module's shapes need 1 to 4 sizes besides the batch")
        if path in self.foreign_args:
            try:
                ctor = check_json_args("args", self.foreign_args[path])
            except ParamError as exc:
                raise Unmappable(f"the arguments given for it are not plain data ({exc})") from None
        else:
            ctor = _recover_args(module)
        if ctor is None:
            raise Unmappable(
                f"{lacking}, and its constructor arguments cannot be read off the module to keep it as a "
                f"foreign module; give them with --foreign-args '{path}=[...]' (from Python: foreign_args)"
            )
        params = {
            "target": target,
            "args": ctor,
            "in_shape": list(in_shape),
            "out_shape": list(out_shape),
            "parameters": sum(p.numel() for p in module.parameters()),
        }
        self.modules_used[path] = self.modules_used.get(path, 0) + 1
        name = self.source.attr_name(path) or path.replace(".", "_")
        value = self._add("Foreign", params, [args[0]], node, name, f"'{path}' ({cls.__name__})")
        self.module_of[value.node_id] = (path, module)
        failed = self.routes.failed.get(path)
        why = (
            f" because torch.fx failed ({failed[0]}) and torch.export failed too ({failed[1]})"
            if failed
            else ""
        )
        self.report.add(
            f"'{path}' ({target.replace(':', '.')}) kept as a foreign module{why}: the exported code imports "
            "it; it cannot be edited.",
            value.node_id,
            "foreign",
        )
        return value

    def _attention(self, node: fx.Node, module: nn.Module, mapped: Mapped, args: tuple[Any, ...]) -> _Pending:
        kwargs = dict(node.kwargs)
        query = args[0] if args else kwargs.pop("query", None)
        key = args[1] if len(args) > 1 else kwargs.pop("key", None)
        value = args[2] if len(args) > 2 else kwargs.pop("value", None)
        extra = {k: v for k, v in kwargs.items() if k != "need_weights" and v is not None}
        if extra or len(args) > 3:
            raise Unmappable("it is given a mask or other options; the catalog's self-attention takes none")
        if not (isinstance(query, _T) and query == key == value):
            raise Unmappable(
                "its query, key and value differ; the catalog's MultiheadAttention is self-attention"
            )
        return _Pending(node, module, mapped, (query,))

    def _materialise(self, pending: _Pending, return_sequences: bool | None, node: fx.Node) -> _T:
        key = bool(return_sequences)
        if key in pending.made:
            return pending.made[key]
        if pending.made:
            self.report.add(
                f"'{pending.fx_node.target}' is used for both its sequence and its last state, so it "
                "became two nodes holding the same weights.",
                None,
                "note",
            )
        value = self._module_node(
            pending.fx_node, pending.module, pending.mapped, [pending.args[0]], return_sequences
        )
        # The node's output is the value this getitem produces, not the module's tuple.
        shape = _measured(node)
        if shape is not None:
            self.measured[value.node_id] = shape
            value = _T(value.node_id, shape)
        pending.made[key] = value
        return value

    # -- operations ---------------------------------------------------------------------------------------

    def _arguments(self, node: fx.Node) -> tuple[list[Any], dict[str, Any]]:
        def value(a: Any) -> Any:
            if isinstance(a, fx.Node):
                return self.values.get(a, _META)
            if isinstance(a, list | tuple):
                return type(a)(value(x) for x in a)
            return a

        return [value(a) for a in node.args], {k: value(v) for k, v in node.kwargs.items()}

    def _normalised(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        pair = normalize_function(node.target, tuple(args), kwargs, normalize_to_only_use_kwargs=True)
        if pair is None:
            raise Unmappable("its arguments could not be read")
        return dict(pair.kwargs)

    def _operation(self, node: fx.Node) -> Any:
        target = node.target
        args, kwargs = self._arguments(node)
        receiver = args[0] if args else None

        special = self._pending_part(node, target, args)
        if special is not None:
            return special
        if target == "expand" and isinstance(receiver, _P):
            return _Expanded(receiver)
        shape = _measured(node)
        if shape is None:
            if any(isinstance(a, _T) for a in _flat(args)) and not _is_metadata(target):
                raise Unmappable("it does not return a tensor")
            return _META
        if len(shape) == 0 or shape[0] != self.batch:
            raise Unmappable(
                f"its result {format_shape(shape)} does not keep the batch of {self.batch} first, and "
                "every catalog layer works sample by sample"
            )
        name = self._op_name(node)
        origin = f"{rules.describe_target(target)} in forward"

        def one(type_: str, params: dict[str, Any] | None = None, inputs: Sequence[_T] | None = None) -> _T:
            return self._add(
                type_, params or {}, list(inputs or [self._tensor(receiver)]), node, name, origin
            )

        if target in rules.ACTIVATIONS:
            return one(rules.ACTIVATIONS[target])
        if target in rules.ADDS:
            return self._add_op(node, args, kwargs, name, origin)
        if target in rules.MULS:
            return self._mul_op(node, args, name, origin)
        if target in rules.CATS:
            return self._cat(node, args, kwargs, name, origin)
        if target in rules.ALIASES or (
            target in ("to", "float", "type_as") and _dtype(node) == torch.float32
        ):
            return self._tensor(receiver)
        if target in rules.RESHAPES:
            return self._reshape(node, target, args, kwargs, name, origin)
        if target in rules.PERMUTES:
            dims = _int_list(
                args[1:]
                if isinstance(target, str)
                else [kwargs.get("dims", args[1] if len(args) > 1 else None)]
            )
            x = self._tensor(receiver)
            dims = [d % len(x.shape) for d in dims]
            if not dims or dims[0] != 0:
                raise Unmappable("it moves the batch dimension")
            return one("Permute", {"dims": dims[1:]})
        if target in rules.TRANSPOSES:
            d0 = args[1] if len(args) > 1 else kwargs.get("dim0")
            d1 = args[2] if len(args) > 2 else kwargs.get("dim1")
            x = self._tensor(receiver)
            if 0 in (d0 % len(x.shape), d1 % len(x.shape)):
                raise Unmappable("it moves the batch dimension")
            return one("Transpose", {"dim0": d0, "dim1": d1})
        if target in rules.MEANS:
            return self._mean(node, args, kwargs, one)
        if target in rules.SOFTMAXES:
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            if dim is None:
                raise Unmappable("its dimension is implicit (dim=None)")
            return one(rules.SOFTMAXES[target], {"dim": dim})
        if target is torch.nn.functional.leaky_relu:
            slope = self._normalised(node, args, kwargs)["negative_slope"]
            return one("LeakyReLU", {"negative_slope": float(slope)})
        if target is torch.nn.functional.gelu:
            if self._normalised(node, args, kwargs).get("approximate", "none") != "none":
                raise Unmappable("it uses the tanh approximation, and the catalog's GELU is exact")
            return one("GELU")
        if target is torch.nn.functional.hardtanh:
            given = self._normalised(node, args, kwargs)
            if (given["min_val"], given["max_val"]) != (0.0, 6.0):
                raise Unmappable("it clips to a range other than 0..6 (ReLU6)")
            return one("ReLU6")
        if target is torch.nn.functional.dropout:
            return one("Dropout", {"p": float(self._normalised(node, args, kwargs)["p"])})
        if target is torch.nn.functional.adaptive_avg_pool2d:
            size = rules.adaptive_size(self._normalised(node, args, kwargs)["output_size"])
            return one("AdaptiveAvgPool2d", {"output_size": size})
        if target in (
            torch.nn.functional.max_pool2d,
            torch.nn.functional.max_pool1d,
            torch.nn.functional.avg_pool2d,
            torch.nn.functional.avg_pool1d,
        ):
            return self._pool(node, args, kwargs, one)
        if target is torch.nn.functional.interpolate:
            return self._interpolate(node, args, kwargs, one)
        if target is torch.nn.functional.layer_norm:
            raise Unmappable("a functional layer norm keeps its weights outside a module; use nn.LayerNorm")
        if target == operator_getitem():
            return self._getitem(node, receiver, args[1], one)
        if target in ("select", torch.select):
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            index = args[2] if len(args) > 2 else kwargs.get("index")
            if (
                not isinstance(dim, int)
                or not isinstance(index, int)
                or dim % len(self._tensor(receiver).shape) == 0
            ):
                raise Unmappable("it selects along the batch or at a computed position")
            return one("Select", {"dim": dim, "index": index})
        raise Unmappable("the catalog has no layer for it")

    def _tensor(self, value: Any) -> _T:
        if isinstance(value, _T):
            return value
        if isinstance(value, _P):
            raise Unmappable(f"it uses the parameter '{value.target}' in a way the catalog has no layer for")
        raise Unmappable("its input is not a tensor the graph computes")

    # -- merge-like operations ---------------------------------------------------------------------------

    def _add_op(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any], name: str, origin: str) -> _T:
        if kwargs.get("alpha", 1) != 1 or len(args) != 2:
            raise Unmappable("it scales one operand (alpha)")
        a, b = args
        if isinstance(a, _P) or isinstance(b, _P):
            param, x = (a, b) if isinstance(a, _P) else (b, a)
            x = self._tensor(x)
            sample = x.shape[1:]
            if tuple(param.tensor.shape) in (sample, (1, *sample)):
                value = self._add(
                    "PositionEmbedding",
                    {},
                    [x],
                    node,
                    _param_name(param, name),
                    f"the parameter '{param.target}' added in forward",
                )
                self.param_of[value.node_id] = {
                    "embedding": param.tensor.detach().reshape(1, *sample).clone()
                }
                return value
            raise Unmappable(
                f"it adds the parameter '{param.target}' of shape {tuple(param.tensor.shape)}, "
                f"which is not shaped like one sample {format_shape(sample)}"
            )
        a, b = self._tensor(a), self._tensor(b)
        if a.shape != b.shape:
            raise Unmappable(
                f"it adds shapes {format_shape(a.shape[1:])} and {format_shape(b.shape[1:])}; "
                "the catalog's Add needs equal shapes"
            )
        merged = self._merge_into(a, node, "Add")
        if merged is not None and b.node_id != merged.node_id:
            self.graph.connect(b.node_id, merged.node_id)
            self.merged_from[merged.node_id] = node
            return merged
        value = self._add("Add", {}, [a, b], node, name, origin)
        self.merged_from[value.node_id] = node
        return value

    def _merge_into(self, a: _T, node: fx.Node, type_: str) -> _T | None:
        """``a + b + c`` on one line is one Add with three inputs, as nnstudio writes it."""
        previous = self.merged_from.get(a.node_id)
        if previous is None or self.graph.nodes[a.node_id].type != type_ or len(previous.users) != 1:
            return None
        if not node.stack_trace or _last_line(previous.stack_trace) != _last_line(node.stack_trace):
            return None
        return a

    def _mul_op(self, node: fx.Node, args: list[Any], name: str, origin: str) -> _T:
        if len(args) != 2:
            raise Unmappable("it multiplies more than two values")
        a, b = args
        if isinstance(a, _P) or isinstance(b, _P):
            param, x = (a, b) if isinstance(a, _P) else (b, a)
            x = self._tensor(x)
            if tuple(param.tensor.shape) == (x.shape[-1],):
                init = rules.shortest_float(param.tensor.detach().flatten()[0])
                value = self._add(
                    "LayerScale",
                    {"init_value": init},
                    [x],
                    node,
                    _param_name(param, name),
                    f"the parameter '{param.target}' multiplied in forward",
                )
                self.param_of[value.node_id] = {"gamma": param.tensor.detach().clone()}
                return value
            raise Unmappable(
                f"it multiplies by the parameter '{param.target}' of shape "
                f"{tuple(param.tensor.shape)}; the catalog scales the last dimension only"
            )
        if not (isinstance(a, _T) and isinstance(b, _T)):
            raise Unmappable("it multiplies by a constant, which the catalog has no layer for")
        if len(a.shape) != len(b.shape):
            raise Unmappable("it multiplies tensors with different numbers of dimensions")
        return self._add("Multiply", {}, [a, b], node, name, origin)

    def _cat(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any], name: str, origin: str) -> _T:
        given = self._normalised(node, args, kwargs)
        tensors = list(given.get("tensors", []))
        dim = given.get("dim", 0)
        if (
            len(tensors) == 2
            and isinstance(tensors[0], _Expanded)
            and isinstance(tensors[1], _T)
            and dim % len(tensors[1].shape) == 1
            and len(tensors[1].shape) == 3
        ):
            param, x = tensors[0].param, tensors[1]
            if tuple(param.tensor.shape) != (1, 1, x.shape[2]):
                raise Unmappable(
                    f"the token '{param.target}' has shape {tuple(param.tensor.shape)}, "
                    f"not (1, 1, {x.shape[2]})"
                )
            value = self._add(
                "ClassToken",
                {},
                [x],
                node,
                _param_name(param, name),
                f"the parameter '{param.target}' put in front of the sequence",
            )
            self.param_of[value.node_id] = {"token": param.tensor.detach().clone()}
            return value
        if len(tensors) == 2 and all(isinstance(t, _Part) for t in tensors):
            return self._bidirectional_last(node, tensors, dim)
        inputs = [self._tensor(t) for t in tensors]
        if dim % len(inputs[0].shape) == 0:
            raise Unmappable("it joins along the batch dimension")
        if len(inputs) < 2:
            return inputs[0]
        return self._add("Concat", {"dim": dim}, inputs, node, name, origin)

    # -- shape operations ----------------------------------------------------------------------------

    def _reshape(
        self, node: fx.Node, target: Any, args: list[Any], kwargs: dict[str, Any], name: str, origin: str
    ) -> _T:
        x = self._tensor(args[0])
        out = _measured(node)
        sizes = args[1:]
        # nnstudio writes its Reshape as x.reshape(-1, ...): keep it a Reshape on the way back,
        # even one that keeps the shape (a no-op anyone else writes is simply left out)
        written_minus_one_first = target == "reshape" and bool(sizes) and sizes[0] == -1
        if out == x.shape and not written_minus_one_first:
            return x
        if math.prod(out[1:]) != math.prod(x.shape[1:]):
            raise Unmappable("it changes the number of values per sample")
        if len(out) == 2 and not written_minus_one_first:
            return self._add("Flatten", {}, [x], node, name, origin)
        if not 1 <= len(out) - 1 <= 4:
            raise Unmappable(f"its result {format_shape(out[1:])} has more than 4 dimensions per sample")
        return self._add("Reshape", {"shape": list(out[1:])}, [x], node, name, origin)

    def _mean(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any], one: Any) -> _T:
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        x = self._tensor(args[0])
        rank = len(x.shape)
        if dim is None:
            raise Unmappable("it averages over the whole batch")
        dims = [dim] if isinstance(dim, int) else list(dim)
        if len(dims) == 1:
            if dims[0] % rank == 0:
                raise Unmappable("it averages over the batch")
            return one("Mean", {"dim": dims[0], "keepdim": bool(keepdim)})
        if rank == 4 and sorted(d % rank for d in dims) == [2, 3]:
            if keepdim:
                return one("AdaptiveAvgPool2d", {"output_size": 1})
            return one("GlobalAvgPool2d")
        raise Unmappable("it averages over several dimensions other than height and width")

    def _pool(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any], one: Any) -> _T:
        given = self._normalised(node, args, kwargs)
        name = node.target.__name__
        kind = {
            "max_pool2d": "MaxPool2d",
            "max_pool1d": "MaxPool1d",
            "avg_pool2d": "AvgPool2d",
            "avg_pool1d": "AvgPool1d",
        }[name]
        if given.get("return_indices"):
            raise Unmappable("it also returns the indices of the maxima")
        params = rules.pool_params(
            kind,
            given["kernel_size"],
            given.get("stride"),
            given.get("padding", 0),
            given.get("ceil_mode", False),
            given.get("dilation", 1),
            given.get("count_include_pad", True),
            given.get("divisor_override"),
        )
        return one(kind, params)

    def _interpolate(self, node: fx.Node, args: list[Any], kwargs: dict[str, Any], one: Any) -> _T:
        given = self._normalised(node, args, kwargs)
        x = self._tensor(given["input"])
        scale = given.get("scale_factor")
        if scale is None and given.get("size") is not None:
            out = _measured(node)
            factors = {o / i for o, i in zip(out[2:], x.shape[2:], strict=True)}
            scale = factors.pop() if len(factors) == 1 else None
        return one(
            "Upsample", rules.upsample_params(scale, given.get("mode", "nearest"), given.get("align_corners"))
        )

    def _getitem(self, node: fx.Node, receiver: Any, index: Any, one: Any) -> _T:
        x = self._tensor(receiver)
        items = list(index) if isinstance(index, tuple) else [index]
        rank = len(x.shape)
        if any(isinstance(i, _Meta | _T) for i in items):
            raise Unmappable("it indexes with computed values")
        if Ellipsis in items:
            at = items.index(Ellipsis)
            items = items[:at] + [slice(None)] * (rank - len(items) + 1) + items[at + 1 :]
        full = slice(None)
        ints = [(d, i) for d, i in enumerate(items) if isinstance(i, int)]
        if any(not isinstance(i, int) and i != full for i in items):
            raise Unmappable("it slices a range; the catalog selects single positions (Select)")
        if len(ints) != 1 or ints[0][0] == 0:
            raise Unmappable("it indexes the batch or several dimensions at once")
        dim, position = ints[0]
        return one("Select", {"dim": dim, "index": position})

    # -- recurrent and attention results ------------------------------------------------------------------

    def _pending_part(self, node: fx.Node, target: Any, args: list[Any]) -> Any:
        if target != operator_getitem() or not args or not isinstance(args[0], _Pending | _Part):
            return None
        holder, index = args[0], args[1]
        if isinstance(holder, _Pending):
            if holder.mapped.type == "MultiheadAttention":
                if index != 0:
                    raise Unmappable(
                        "it uses the attention weights, which the catalog's layer does not return"
                    )
                return self._materialise(holder, None, node)
            if index == 0:
                return self._materialise(holder, True, node)
            if index == 1:
                path = ("state",) if holder.mapped.type == "LSTM" else ("h",)
                return _Part(holder, path)
            raise Unmappable("it reads an unknown part of a recurrent layer's result")
        pending = holder.pending
        if holder.path == ("state",):
            if index == 0:
                return _Part(pending, ("h",))
            raise Unmappable("it uses the LSTM's cell state, which the catalog's layer does not return")
        if holder.path == ("h",) and isinstance(index, int):
            layers = pending.mapped.params["num_layers"] * (
                2 if pending.mapped.params["bidirectional"] else 1
            )
            position = index % layers
            if not pending.mapped.params["bidirectional"] and position == layers - 1:
                return self._materialise(pending, False, node)
            if pending.mapped.params["bidirectional"] and position in (layers - 2, layers - 1):
                return _Part(pending, ("h", position - layers))
        raise Unmappable(
            "it uses hidden states other than the last layer's, which the catalog's layer does not return"
        )

    def _bidirectional_last(self, node: fx.Node, parts: list[_Part], dim: Any) -> _T:
        first, second = parts
        if (
            first.pending is not second.pending
            or first.path != ("h", -2)
            or second.path != ("h", -1)
            or dim not in (1, -1)
        ):
            raise Unmappable("it joins recurrent states in an order the catalog's layer does not use")
        return self._materialise(first.pending, False, node)

    # -- checks, weights, layout, report ------------------------------------------------------------------

    def _check_shapes(self) -> None:
        shapes = self.graph.shapes()
        for diagnostic in self.graph.validate():
            if diagnostic.is_error:
                node = self.graph.nodes.get(diagnostic.node)
                where = f"{self.origin.get(diagnostic.node, node.name)}: " if node else ""
                self.problems.append(f"{where}{diagnostic.message}")
        for node_id, measured in self.measured.items():
            node = self.graph.nodes[node_id]
            if node.type == "Input":
                continue
            predicted = shapes.get(node_id)
            if predicted is not None and predicted != tuple(measured[1:]):
                self.problems.append(
                    f"{self.origin[node_id]} gives {format_shape(tuple(measured[1:]))} in PyTorch, but its "
                    f"catalog layer {node.type} computes {format_shape(predicted)}."
                )
        if self.problems:
            raise ModelImportError(
                f"{type(self.module).__name__} cannot be imported: " + " ".join(self.problems), self.problems
            )

    def _weights(self, place: dict[str, list[tuple[str, int]]] | None) -> dict[str, torch.Tensor]:
        from nnstudio.compiler.import_blocks import state_prefix

        code = self.code = generate(self.graph)

        def prefix(node_id: str) -> str:
            return state_prefix(code, self.graph, place[node_id]) if place else code.attr_of[node_id]

        weights: dict[str, torch.Tensor] = {}
        for node_id, (_, module) in self.module_of.items():
            attr = prefix(node_id)
            for key, tensor in module.state_dict().items():
                weights[f"{attr}.{key}"] = tensor.detach().clone()
        for node_id, tensors in self.param_of.items():
            attr = prefix(node_id)
            for key, tensor in tensors.items():
                weights[f"{attr}.{key}"] = tensor
        return weights

    def _layout(self) -> None:
        from nnstudio.core.layout import layered_positions

        for node_id, (x, y) in layered_positions(self.graph).items():
            self.graph.nodes[node_id].position = (float(x), float(y))

    def _summarise(
        self,
        weights: dict[str, torch.Tensor],
        labels: dict[str, tuple[str, str]],
        place: dict[str, list[tuple[str, int]]],
    ) -> None:
        source = sum(p.numel() for p in self.module.parameters())
        imported = self.graph.num_parameters()
        self.report.source_parameters, self.report.imported_parameters = source, imported
        modules = sum(1 for v in self.origin.values() if v.startswith("'"))
        operations = sum(1 for v in self.origin.values() if v.endswith("in forward"))
        same = "the same as" if source == imported else "while the source has"
        self.report.lines.insert(
            0,
            ReportLine(
                f"Imported {type(self.module).__name__} as {len(labels)} layers: {modules} from modules, "
                f"{operations} from operations in forward; {imported:,} parameters, {same} "
                f"{'the source' if source == imported else f'{source:,}'}.",
                None,
                "summary",
            ),
        )
        for node_id, origin in self.origin.items():
            layer, name = labels[node_id]
            shown = place[node_id][0][0] if node_id in place else node_id  # inside a block: its instance
            where = f" in block {self.graph.nodes[shown].name}" if shown != node_id else ""
            self.report.add(f"{origin} became {layer} '{name}'{where}.", shown)
        unused = [
            name
            for name, _ in self.module.named_modules()
            if name
            and name not in self.modules_used
            and rules.module_rule(self.module.get_submodule(name))
            and any(True for _ in self.module.get_submodule(name).parameters())
            and not any(used.startswith(name + ".") for used in self.modules_used)
            and not any(name.startswith(used + ".") for used in self.modules_used)  # inside a foreign one
        ]
        if unused:
            self.report.add(
                f"Not used by forward, so not imported: {', '.join(repr(u) for u in unused)}.", None, "note"
            )

    def _check(self, weights: dict[str, torch.Tensor]) -> tuple[bool, float]:
        """Whether the generated module with ``weights`` computes the source's outputs, and the
        largest difference."""
        model = _with_weights(self.code, weights)
        theirs = self.module(*self.inputs)
        ours = model(*self.inputs)
        theirs = theirs if isinstance(theirs, tuple | list) else (theirs,)
        ours = ours if isinstance(ours, tuple | list) else (ours,)
        worst = 0.0
        close = len(theirs) == len(ours)
        for a, b in zip(theirs, ours, strict=False):
            if a.shape != b.shape:
                close = False
                continue
            if a.numel():
                worst = max(worst, float((a.double() - b.double()).abs().max()))
            close = close and torch.allclose(a, b, atol=TOLERANCE)
        return close, worst

    def _report_check(self, close: bool, worst: float) -> None:
        self.report.max_difference = worst
        self.report.verified = close
        verdict = "match" if close else "DO NOT match"
        self.report.add(
            f"Verified in eval mode on the example inputs: the imported graph's outputs {verdict} the "
            f"source model's (largest difference {worst:.2g}, tolerance {TOLERANCE:g}).",
            None,
            "verification",
        )


def _with_weights(code: Any, weights: dict[str, torch.Tensor]) -> nn.Module:
    """The generated module holding ``weights`` (strictly: every key, no other), in eval mode.

    Built on the meta device and given the weights themselves, so a big model
    is not first initialised at random; every node's shape was already checked
    against PyTorch's, so the compiler's own meta-tensor check is not repeated.
    """
    from nnstudio.compiler.build import load_class

    with torch.device("meta"):
        model = load_class(code)()
    model.load_state_dict(weights, strict=True, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # a buffer outside the state dict
        model = load_class(code)()
        model.load_state_dict(weights, strict=True)
    model.nnstudio_code = code
    return model.eval()


# --- small helpers --------------------------------------------------------------------------------


def operator_getitem() -> Any:
    import operator

    return operator.getitem


def _fetch_attr(gm: fx.GraphModule, target: str) -> torch.Tensor:
    value: Any = gm
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _param_name(param: _P, fallback: str) -> str:
    return param.target.replace(".", "_") or fallback


def _flat(values: Any) -> list[Any]:
    out = []
    for v in values:
        if isinstance(v, list | tuple):
            out.extend(_flat(v))
        else:
            out.append(v)
    return out


def _int_list(values: Sequence[Any]) -> list[int]:
    flat = _flat(values)
    if not all(isinstance(v, int) for v in flat):
        raise Unmappable("its dimensions are computed values")
    return [int(v) for v in flat]


def _is_metadata(target: Any) -> bool:
    return target in ("size", "dim", "numel") or getattr(target, "__name__", "") in ("getattr", "getitem")


def _last_line(stack_trace: str | None) -> str:
    """The innermost line of the model's own code that a traced operation came from."""
    found = [
        (f, n)
        for f, n in re.findall(r'File "([^"]+)", line (\d+)', stack_trace or "")
        if f != __file__ and f"{os.sep}torch{os.sep}" not in f
    ]
    return f"{found[-1][0]}:{found[-1][1]}" if found else ""
