"""The importer's second route: torch.export, for forwards torch.fx cannot trace.

torch.fx runs ``forward`` with proxies, so Python that looks at a tensor
(``if x.ndim == 3``, ``x.dtype`` tests, iterating a result) stops it.
``torch.export`` runs it with fake tensors that know their sizes and types,
and records an ATen-level graph whose nodes remember, in
``meta["nn_module_stack"]``, which submodule produced them. This module turns
that graph back into the torch-level fx graph the importer already maps: the
ATen operations of each catalog layer (a ``Conv2d``'s ``aten.conv2d``) become one
``call_module`` of that layer again, and the functional operations between
layers become the torch functions the fx route sees (``aten.add.Tensor`` ->
``+``). Data-dependent control flow defeats export too; that part is then
kept whole as a foreign module, as before.
"""

from __future__ import annotations

import contextlib
import io
import logging
import operator
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.utils import _pytree as pytree

aten = torch.ops.aten


class ExportFailed(Exception):
    """torch.export could not trace the part, or its graph could not be mapped back; args[0] says why."""


@dataclass
class Routes:
    """How each part of the model was traced, across the import's rounds.

    ``exported``: module path ('' for the whole model) -> why torch.fx failed on it;
    ``failed``: module path -> (why torch.fx failed, why torch.export failed).
    """

    exported: dict[str, str] = field(default_factory=dict)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    where: str = ""  # the module fx failed in when the whole model is exported (a torch.nn one)

    def tried(self, path: str) -> bool:
        return path in self.exported or path in self.failed


def first_line(exc: BaseException, limit: int = 220) -> str:
    """The first line of an exception's message, as a clause (long ones shortened)."""
    text = str(exc).strip().splitlines()[0].strip() if str(exc).strip() else type(exc).__name__
    text = text.split(". ")[0].rstrip(".")  # the first sentence: the rest is advice for torch users
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.export logs, warns and prints (a failed trace's partial graph) at length about what it
    tried; the report says what matters."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``torch.export.export`` in non-strict mode with static shapes; raises ExportFailed."""
    try:
        with _quiet():
            return torch.export.export(module, tuple(args), dict(kwargs), strict=False)
    except Exception as exc:  # export raises many kinds; each means "no graph"
        raise ExportFailed(first_line(exc)) from None


# --- the exported graph, lifted back to modules and torch functions -----------------------------------


def _full(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


def _name(target: Any) -> str:
    """'add.Tensor' for aten.add.Tensor; '' for what is not an ATen operation."""
    schema = getattr(target, "_schema", None)
    if schema is None or not schema.name.startswith("aten::"):
        return ""
    overload = target._overloadname
    return schema.name[len("aten::") :] + ("" if overload == "default" else f".{overload}")


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, key: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(key, default)


def _zero(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _alias(a: tuple[Any, ...], k: dict[str, Any]) -> tuple[str, Any, tuple, dict]:
    return "call_method", "contiguous", (a[0],), {}


def _function(fn: Any, count: int = 1) -> Callable[..., tuple[str, Any, tuple, dict]]:
    def build(a: tuple[Any, ...], k: dict[str, Any]) -> tuple[str, Any, tuple, dict]:
        return "call_function", fn, tuple(a[:count]), {}

    return build


def _pool(fn: Any, names: tuple[str, ...]) -> Callable[..., tuple[str, Any, tuple, dict]]:
    def build(a: tuple[Any, ...], k: dict[str, Any]) -> tuple[str, Any, tuple, dict]:
        given = dict(zip(names, a[1:], strict=False)) | dict(k)
        if given.get("stride") in ([], ()):
            given["stride"] = None
        return "call_function", fn, (a[0],), given

    return build


def _upsample(mode: str, has_align: bool) -> Callable[..., tuple[str, Any, tuple, dict]]:
    def build(a: tuple[Any, ...], k: dict[str, Any]) -> tuple[str, Any, tuple, dict]:
        size = _arg(a, k, 1, "output_size", None)
        align = _arg(a, k, 2, "align_corners", None) if has_align else None
        scales = _arg(a, k, 3 if has_align else 2, "scale_factors", None)
        scale = scales[0] if scales and len(set(scales)) == 1 else scales
        given = {"mode": mode, "size": None if scale else size, "scale_factor": scale}
        if has_align:
            given["align_corners"] = align
        return "call_function", F.interpolate, (a[0],), given

    return build


# ATen operation -> how the fx route writes it: (op, target, args, kwargs) from the ATen call's.
_OPERATIONS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], tuple[str, Any, tuple, dict]]] = {
    "relu": _function(torch.relu),
    "relu_": _function(torch.relu),
    "sigmoid": _function(torch.sigmoid),
    "sigmoid_": _function(torch.sigmoid),
    "tanh": _function(torch.tanh),
    "tanh_": _function(torch.tanh),
    "silu": _function(F.silu),
    "silu_": _function(F.silu),
    "hardswish": _function(F.hardswish),
    "hardswish_": _function(F.hardswish),
    "hardsigmoid": _function(F.hardsigmoid),
    "hardsigmoid_": _function(F.hardsigmoid),
    "gelu": lambda a, k: (
        "call_function",
        F.gelu,
        (a[0],),
        {"approximate": _arg(a, k, 1, "approximate", "none")},
    ),
    "hardtanh": lambda a, k: (
        "call_function",
        F.hardtanh,
        (a[0], _arg(a, k, 1, "min_val", -1.0), _arg(a, k, 2, "max_val", 1.0)),
        {},
    ),
    "hardtanh_": lambda a, k: _OPERATIONS["hardtanh"](a, k),
    "leaky_relu": lambda a, k: (
        "call_function",
        F.leaky_relu,
        (a[0], _arg(a, k, 1, "negative_slope", 0.01)),
        {},
    ),
    "leaky_relu_": lambda a, k: _OPERATIONS["leaky_relu"](a, k),
    "add.Tensor": lambda a, k: (
        _alias(a[1:] if _zero(a[0]) else a, k)  # total = 0; total = total + x: the first sum is x
        if _zero(a[0]) or _zero(a[1])
        else ("call_function", operator.add, tuple(a[:2]), {})
        if k.get("alpha", 1) == 1
        else ("call_function", torch.add, tuple(a[:2]), {"alpha": k["alpha"]})
    ),
    "add_.Tensor": lambda a, k: _OPERATIONS["add.Tensor"](a, k),
    "mul.Tensor": lambda a, k: ("call_function", operator.mul, tuple(a[:2]), {}),
    "mul_.Tensor": lambda a, k: ("call_function", operator.mul, tuple(a[:2]), {}),
    "cat": lambda a, k: ("call_function", torch.cat, (list(a[0]), _arg(a, k, 1, "dim", 0)), {}),
    "view": lambda a, k: ("call_method", "view", (a[0], *a[1]), {}),
    "_unsafe_view": lambda a, k: ("call_method", "view", (a[0], *a[1]), {}),
    "reshape": lambda a, k: ("call_method", "view", (a[0], *a[1]), {}),
    "flatten.using_ints": lambda a, k: (
        "call_function",
        torch.flatten,
        (a[0], _arg(a, k, 1, "start_dim", 0), _arg(a, k, 2, "end_dim", -1)),
        {},
    ),
    "unsqueeze": lambda a, k: ("call_function", torch.unsqueeze, (a[0], _arg(a, k, 1, "dim", 0)), {}),
    "squeeze.dim": lambda a, k: ("call_function", torch.squeeze, (a[0], _arg(a, k, 1, "dim", 0)), {}),
    "squeeze.dims": lambda a, k: ("call_function", torch.squeeze, (a[0], tuple(a[1])), {}),
    "squeeze": _function(torch.squeeze),
    "permute": lambda a, k: ("call_function", torch.permute, (a[0], list(a[1])), {}),
    "transpose.int": lambda a, k: ("call_function", torch.transpose, tuple(a[:3]), {}),
    "mean.dim": lambda a, k: (
        "call_function",
        torch.mean,
        (a[0], list(a[1]) if a[1] is not None else None, _arg(a, k, 2, "keepdim", False)),
        {},
    ),
    "select.int": lambda a, k: (
        ("call_function", operator.getitem, (a[0], a[2]), {})
        if a[1] == 0  # h_n[-1]: the fx route's form for a recurrent layer's last state
        else ("call_function", torch.select, tuple(a[:3]), {})
    ),
    "softmax.int": lambda a, k: ("call_function", torch.softmax, (a[0], a[1]), {}),
    "_softmax": lambda a, k: ("call_function", torch.softmax, (a[0], a[1]), {}),
    "log_softmax.int": lambda a, k: ("call_function", torch.log_softmax, (a[0], a[1]), {}),
    "_log_softmax": lambda a, k: ("call_function", torch.log_softmax, (a[0], a[1]), {}),
    "dropout": lambda a, k: (
        "call_function",
        F.dropout,
        (a[0], _arg(a, k, 1, "p", 0.5)),
        {"training": False},
    ),
    "adaptive_avg_pool2d": lambda a, k: ("call_function", F.adaptive_avg_pool2d, (a[0], list(a[1])), {}),
    "max_pool2d": _pool(F.max_pool2d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    "max_pool1d": _pool(F.max_pool1d, ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    "avg_pool2d": _pool(
        F.avg_pool2d,
        ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    ),
    "avg_pool1d": _pool(F.avg_pool1d, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")),
    "upsample_nearest2d.vec": _upsample("nearest", False),
    "upsample_bilinear2d.vec": _upsample("bilinear", True),
    "expand": lambda a, k: ("call_method", "expand", (a[0], *a[1]), {}),
    "clone": _alias,
    "contiguous": _alias,
    "alias": _alias,
    "detach": _alias,
    "detach_": _alias,
    "lift_fresh_copy": _alias,
}

# Checks torch.export leaves in the graph; they compute nothing.
_CHECKS = {"_assert_tensor_metadata", "_assert_scalar", "_assert_async.msg", "sym_constrain_range_for_size"}


@dataclass
class _Group:
    """The ATen nodes one call of a catalog layer produced."""

    path: str
    nodes: list[fx.Node] = field(default_factory=list)
    stack: dict[str, tuple[str, type]] = field(default_factory=dict)


class Lifter:
    """Writes an exported program into ``graph`` as the fx route would have traced it.

    ``prefix`` is the exported module's path in ``root`` ('' for the whole
    model); ``is_leaf(module, path)`` says which modules are one catalog layer
    (or a part kept whole), exactly as the fx route's tracer decides.
    """

    def __init__(
        self,
        program: Any,
        root: nn.Module,
        prefix: str,
        graph: fx.Graph,
        is_leaf: Callable[[nn.Module, str], bool],
        outer_stack: dict[str, Any] | None = None,
    ) -> None:
        self.program = program
        self.root = root
        self.prefix = prefix
        self.graph = graph
        self.is_leaf = is_leaf
        self.outer = dict(outer_stack or {})
        signature = program.graph_signature
        self.state = {
            **signature.inputs_to_parameters,
            **signature.inputs_to_buffers,
            **getattr(signature, "inputs_to_lifted_tensor_constants", {}),
        }
        self.env: dict[fx.Node, Any] = {}

    def lift(self, inputs: list[Any], real_inputs: list[Any]) -> Any:
        """Adds the nodes; ``inputs`` are the fx values (nodes or constants) of the exported module's
        flattened (args, kwargs), ``real_inputs`` their example values. Returns the output structure."""
        exported = self.program.graph
        users = [n for n in exported.nodes if n.op == "placeholder" and n.name not in self.state]
        if len(users) != len(inputs):
            raise ExportFailed(f"its exported graph takes {len(users)} inputs where {len(inputs)} were given")
        values = self._run(real_inputs)
        for node, value in zip(users, inputs, strict=True):
            self.env[node] = value
        groups = self._groups(exported)
        done: set[int] = set()
        for node in exported.nodes:
            group = groups.get(node)
            if group is not None:
                if id(group) not in done:
                    done.add(id(group))
                    self._module_call(group, values)
                continue
            if node.op == "placeholder":
                if node.name in self.state:
                    self.env[node] = self._attr(node)
            elif node.op == "call_function":
                self._operation(node, values)
            elif node.op == "output":
                user_count = sum(
                    1 for s in self.program.graph_signature.output_specs if s.kind.name == "USER_OUTPUT"
                )
                outputs = [self._value(v) for v in list(node.args[0])[-user_count:]] if user_count else []
                return pytree.tree_unflatten(outputs, self.program.call_spec.out_spec)
        raise ExportFailed("its exported graph has no output")

    # -- values ------------------------------------------------------------------------------

    def _run(self, real_inputs: list[Any]) -> dict[fx.Node, Any]:
        """Every exported node's value on the example, to tell which result of a layer is which."""
        values: dict[fx.Node, Any] = {}
        flat: list[Any] = []
        pending = list(real_inputs)
        for node in self.program.graph.nodes:
            if node.op != "placeholder":
                continue
            if node.name in self.state:
                target = self.state[node.name]
                constant = getattr(self.program, "constants", {}).get(target)
                flat.append(
                    constant if constant is not None else _fetch(self.root, _full(self.prefix, target))
                )
            else:
                flat.append(pending.pop(0) if pending else None)

        class Recorder(fx.Interpreter):
            def run_node(self, n: fx.Node) -> Any:
                result = super().run_node(n)
                # a copy: in-place operations later on (relu_) would change what was recorded
                values[n] = pytree.tree_map(lambda v: v.clone() if isinstance(v, torch.Tensor) else v, result)
                return result

        with torch.no_grad():
            Recorder(self.program.graph_module).run(*flat)
        return values

    def _value(self, value: Any) -> Any:
        return fx.node.map_arg(value, lambda n: self.env[n]) if value is not None else None

    def _attr(self, node: fx.Node) -> fx.Node:
        target = _full(self.prefix, self.state[node.name])
        try:
            _fetch(self.root, target)
        except AttributeError:
            raise ExportFailed("it uses a tensor made inside forward, which no catalog layer holds") from None
        made = self.graph.get_attr(target)
        made.meta["nn_module_stack"] = dict(self.outer)
        return made

    def _stack(self, node: fx.Node) -> dict[str, tuple[str, type]]:
        """The node's module stack in the fx route's form: path -> (path, class), outermost first."""
        stack = dict(self.outer)
        for _, (path, _type) in (node.meta.get("nn_module_stack") or {}).items():
            full = _full(self.prefix, path)
            if full and full not in stack:
                stack[full] = (full, type(self.root.get_submodule(full)))
        return stack

    # -- layers ------------------------------------------------------------------------------

    def _groups(self, exported: fx.Graph) -> dict[fx.Node, _Group]:
        """ATen node -> the layer call it belongs to (outermost catalog layer on its module stack)."""
        found: dict[str, _Group] = {}
        owner: dict[fx.Node, _Group] = {}
        for node in exported.nodes:
            if node.op != "call_function":
                continue
            stack = self.outer.copy()
            for key, (path, _type) in (node.meta.get("nn_module_stack") or {}).items():
                full = _full(self.prefix, path)
                if not full or full == self.prefix:
                    continue
                module = self.root.get_submodule(full)
                stack[full] = (full, type(module))
                if self.is_leaf(module, full):
                    group = found.setdefault(key, _Group(full, stack=dict(stack)))
                    group.nodes.append(node)
                    owner[node] = group
                    break
        return owner

    def _module_call(self, group: _Group, values: dict[fx.Node, Any]) -> None:
        members = set(group.nodes)
        inputs: list[fx.Node] = []
        for node in group.nodes:
            for given in node.all_input_nodes:
                if given not in members and given.name not in self.state and given not in inputs:
                    inputs.append(given)
        module = self.root.get_submodule(group.path)
        call_inputs = inputs * 3 if isinstance(module, nn.MultiheadAttention) and len(inputs) == 1 else inputs
        args = tuple(self.env[n] for n in call_inputs)
        call = self.graph.call_module(group.path, args)
        call.meta["nn_module_stack"] = group.stack
        call.meta["stack_trace"] = group.nodes[0].meta.get("stack_trace")
        outputs = [n for n in group.nodes if any(u not in members for u in n.users)]
        if not outputs:
            return
        with torch.no_grad():
            result = module(*[values[n] for n in call_inputs])
        parts = list(_leaves(result, ()))
        made: dict[tuple[Any, ...], fx.Node] = {(): call}
        for node in outputs:
            path = _find(values[node], parts)
            if path is None:
                name = type(module).__name__
                raise ExportFailed(
                    f"one of the results of '{group.path}' ({name}) in the exported graph is not among its outputs"
                )
            self.env[node] = self._getitems(made, path, group.stack)

    def _getitems(
        self, made: dict[tuple[Any, ...], fx.Node], path: tuple[Any, ...], stack: dict[str, Any]
    ) -> fx.Node:
        if path not in made:
            parent = self._getitems(made, path[:-1], stack)
            item = self.graph.call_function(operator.getitem, (parent, path[-1]))
            item.meta["nn_module_stack"] = stack
            made[path] = item
        return made[path]

    # -- operations between layers ----------------------------------------------------------------

    def _operation(self, node: fx.Node, values: dict[fx.Node, Any]) -> None:
        name = _name(node.target)
        if name in _CHECKS or (not node.users and name):
            return
        args = self._value(node.args)
        kwargs = self._value(dict(node.kwargs))
        if name in ("unbind.int", "split.Tensor"):  # only their items become nodes
            self.env[node] = _Pieces(name, args[0], *args[1:])
            return
        if node.target is operator.getitem and isinstance(args[0], _Pieces):
            op, target, args, kwargs = args[0].item(args[1])
        elif node.target is operator.getitem:
            op, target, args, kwargs = "call_function", operator.getitem, args, kwargs
        elif name == "slice.Tensor":
            op, target, args, kwargs = self._slice(node, args, values)
        elif name in _OPERATIONS:
            op, target, args, kwargs = _OPERATIONS[name](tuple(args), dict(kwargs))
        else:  # the fx route names it and says the catalog has no layer for it
            op, target = "call_function", node.target
        # named as torch.fx names the same call ('relu', 'interpolate'), so both routes name alike
        base = target if isinstance(target, str) else getattr(target, "__name__", "")
        base = base if base.isidentifier() and target is not node.target else node.name
        made = self.graph.create_node(op, target, tuple(args), dict(kwargs), name=base)
        made.meta["nn_module_stack"] = self._stack(node)
        made.meta["stack_trace"] = node.meta.get("stack_trace")
        self.env[node] = made

    def _slice(
        self, node: fx.Node, args: list[Any], values: dict[fx.Node, Any]
    ) -> tuple[str, Any, tuple, dict]:
        source, dim = args[0], args[1] if len(args) > 1 else 0
        start = args[2] if len(args) > 2 else None
        end = args[3] if len(args) > 3 else None
        step = args[4] if len(args) > 4 else 1
        whole = values[node].shape == values[node.args[0]].shape and step == 1
        if whole:  # x[:, :] as export writes it: nothing happens
            return _alias((source,), {})
        index = (slice(None),) * dim + (slice(start, end, step),)
        return "call_function", operator.getitem, (source, index), {}


class _Pieces:
    """``x.unbind(dim)`` or ``x.split(size, dim)``: each item used is one selection or slice."""

    def __init__(self, kind: str, source: Any, first: Any = 0, dim: int = 0) -> None:
        self.kind, self.source = kind, source
        self.size, self.dim = (first, dim) if kind == "split.Tensor" else (None, first)

    def item(self, index: int) -> tuple[str, Any, tuple, dict]:
        if self.size is None:  # x.unbind(1)[i] is x[:, i]: a Select
            return "call_function", torch.select, (self.source, self.dim, index), {}
        part = slice(index * self.size, (index + 1) * self.size)
        return "call_function", operator.getitem, (self.source, (slice(None),) * self.dim + (part,)), {}


def _fetch(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _leaves(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))


def _find(value: Any, parts: list[tuple[tuple[Any, ...], torch.Tensor]]) -> tuple[Any, ...] | None:
    """Where ``value`` is in a layer's result: the exact tensor first, else the closest equal one."""
    if not isinstance(value, torch.Tensor):
        return None
    same = [p for p, t in parts if t.shape == value.shape and t.dtype == value.dtype]
    for path in same:
        if torch.equal(dict(parts)[path], value):
            return path
    for path in same:
        if torch.allclose(dict(parts)[path], value, atol=1e-5, rtol=1e-5):
            return path
    return None
