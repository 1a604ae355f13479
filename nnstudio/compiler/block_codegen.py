"""One ``nn.Module`` class per block definition, as a person would write it.

The model class builds each instance as ``BasicBlock(64, 128, 2)`` and a
repeat as ``nn.Sequential(BasicBlock(64, 64, 1), BasicBlock(64, 64, 1))``.
A class takes the block's declared parameters as constructor arguments,
preceded by the input sizes its layers need (``in_channels``, like
torchvision's ``inplanes``). Inside, a parameter written ``$width * 4`` becomes
``width * 4``; a size the catalog derives from shapes becomes the argument or
expression that equals it in every use of the block (checked on the real uses
and on probe uses with other input sizes), or a literal when it never changes.

Every value passed is computed per use from that use's own analysis, so the
module is right whatever names the reading aid picks. Uses whose forward code
differs (a choice that changes which lines run) get classes of their own.

A conditional inner node (``enabled`` = ``"$norm_first"``) is built only when
its condition holds and is an ``nn.Identity()`` otherwise, so the forward code
is the same for every value and a switched-off node has no weights::

    self.pre_norm1 = nn.LayerNorm(in_features) if norm_first else nn.Identity()
"""

from __future__ import annotations

import ast
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nnstudio.compiler.naming import MODULE_ATTRIBUTES, PYTHON_RESERVED, Namespace, camel_case, snake_case
from nnstudio.core import expressions
from nnstudio.core.blocks import BLOCK_TYPE, PORT_IN, PORT_OUT, BlockShapeError, BodyResult
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.layers import format_shape

if TYPE_CHECKING:
    from nnstudio.core.blocks import BlockDefinition, BlockLibrary
    from nnstudio.core.graph import GraphModel, Node

_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)
_WIDTH = 88  # as ruff format lays lines out


def _key(use: BodyResult) -> tuple:
    return (use.definition, use.in_shapes, tuple(sorted((k, repr(v)) for k, v in use.values)))


def _python_literal(value: Any) -> str:
    if isinstance(value, bool | int | float | str) and not (isinstance(value, float) and value != value):
        return repr(value)
    raise GraphError(f"A block parameter holds {value!r}, which cannot be written into code.")


@dataclass
class BlockClass:
    """One generated class: which definition, its arguments, and where each inner node lives."""

    name: str
    definition: str
    args: list[str]  # constructor arguments in order
    attr_of: dict[str, str] = field(default_factory=dict)  # inner node id -> attribute
    class_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # inner Block id -> class per copy
    arg_values: dict[tuple, list[Any]] = field(default_factory=dict)  # use key -> argument values
    lines: list[str] = field(default_factory=list)


class BlockClasses:
    """The classes of every block a model uses, and how the model builds each instance."""

    def __init__(self, graph: GraphModel, shapes: Mapping[str, Any], nodes: Sequence[Node]) -> None:
        self.graph = graph
        self.library: BlockLibrary = graph.blocks
        self.shapes = shapes
        self.top_nodes = [n for n in nodes if n.type == BLOCK_TYPE]
        self.uses: dict[str, dict[tuple, BodyResult]] = {}  # definition -> use key -> use
        self.class_for: dict[tuple, str] = {}  # use key -> class name
        self.classes: dict[str, BlockClass] = {}
        self.support_code: list[str] = []
        self.class_of: dict[str, tuple[str, ...]] = {}  # top-level node id -> class per copy
        self._top_copies: dict[str, tuple[BodyResult, ...]] = {}

    # -- collecting uses ---------------------------------------------------------------

    def _instance(self, name: str, params: dict[str, Any], in_shapes: list) -> tuple[BodyResult, ...]:
        try:
            return self.library.instance_result(name, params, in_shapes).copies
        except BlockShapeError as exc:  # validation has passed, so this is a bug
            raise GraphError(f"block {name}: {exc}") from None

    def _collect(self, use: BodyResult) -> None:
        known = self.uses.setdefault(use.definition, {})
        if _key(use) in known:
            return
        known[_key(use)] = use
        definition = self.library.get(use.definition)
        for node_id in use.analysis.in_model:
            node = definition.body.nodes[node_id]
            if node.type == BLOCK_TYPE:
                for copy in self._instance(
                    node.params["block"], use.resolved[node_id], _inner_inputs(definition, use, node_id)
                ):
                    self._collect(copy)
            else:
                code = node.spec.support_code.strip("\n")
                if code and code not in self.support_code:
                    self.support_code.append(code)

    def _order(self) -> list[str]:
        """Definitions, each after the ones its body uses."""
        ordered: list[str] = []

        def visit(name: str) -> None:
            if name in ordered:
                return
            for inner in sorted(self.library.get(name).uses()):
                if inner in self.uses:
                    visit(inner)
            ordered.append(name)

        for name in self.uses:
            visit(name)
        return ordered

    # -- building ------------------------------------------------------------------------

    def collect(self) -> None:
        """Find every use of every block (first step: the catalog helpers they need)."""
        for node in self.top_nodes:
            in_shapes = [self.shapes[e.source] for e in self.graph.inputs_of(node.id)]
            copies = self._instance(node.params["block"], dict(node.params), in_shapes)
            self._top_copies[node.id] = copies
            for copy in copies:
                self._collect(copy)

    def build(self, module_names: Namespace, helpers: set[str]) -> None:
        """Work out every class; ``module_names`` hands out the class names."""
        self.helpers = helpers
        for name in self._order():
            definition = self.library.get(name)
            variants: dict[tuple, list[BodyResult]] = {}
            for use in self.uses[name].values():
                variants.setdefault(self._variant_key(definition, use), []).append(use)
            for uses in variants.values():
                cls = _ClassWriter(
                    self, definition, uses, module_names.claim(camel_case(name, "Block"))
                ).write()
                self.classes[cls.name] = cls
                for use in uses:
                    self.class_for[_key(use)] = cls.name
        for node_id, copies in self._top_copies.items():
            self.class_of[node_id] = tuple(self.class_for[_key(c)] for c in copies)

    def _variant_key(self, definition: BlockDefinition, use: BodyResult) -> tuple:
        key = []
        for node_id in _body_order(definition, use):
            node = definition.body.nodes[node_id]
            if node.type == BLOCK_TYPE:
                copies = self._instance(
                    node.params["block"], use.resolved[node_id], _inner_inputs(definition, use, node_id)
                )
                key.append(tuple(self.class_for[_key(c)] for c in copies))
            elif node.type not in (PORT_IN, PORT_OUT):
                values = _template_values(
                    node, use.resolved[node_id], _inner_inputs(definition, use, node_id)
                )
                key.append(_fill_forward(node, use.resolved[node_id], values))
        return tuple(key)

    def source_lines(self) -> list[str]:
        lines: list[str] = []
        for cls in self.classes.values():
            lines += ["", "", *cls.lines]
        return lines

    def instance_call(self, node: Node) -> tuple[str, list[str]]:
        """(callee, arguments) that build a top-level instance: a class, or nn.Sequential of copies."""
        calls = []
        for copy, class_name in zip(self._top_copies[node.id], self.class_of[node.id], strict=True):
            values = [_python_literal(v) for v in self.classes[class_name].arg_values[_key(copy)]]
            calls.append((class_name, values))
        if len(calls) == 1:
            return calls[0]
        return "nn.Sequential", [f"{name}({', '.join(values)})" for name, values in calls]


def _inner_inputs(definition: BlockDefinition, use: BodyResult, node_id: str) -> list:
    return [use.analysis.shapes[e.source] for e in definition.body.inputs_of(node_id)]


def _body_order(definition: BlockDefinition, use: BodyResult) -> list[str]:
    """Useful body nodes, each chain followed to its end before the next branch (as in codegen)."""
    body = definition.body
    keep = use.analysis.in_model
    useful = [n for n in body.nodes if n in keep]
    rank = {node_id: i for i, node_id in enumerate(useful)}
    waiting = {n: sum(e.source in keep for e in body.inputs_of(n)) for n in useful}
    ready = [n for n in reversed(useful) if waiting[n] == 0]
    order: list[str] = []
    while ready:
        node_id = ready.pop()
        order.append(node_id)
        consumers = sorted(
            {e.target for e in body.outputs_of(node_id) if e.target in keep},
            key=rank.__getitem__,
            reverse=True,
        )
        for target in consumers:
            waiting[target] -= sum(e.source == node_id for e in body.inputs_of(target))
            if waiting[target] == 0:
                ready.append(target)
    return order


def _template_values(node: Node, params: dict[str, Any], in_shapes: list) -> dict[str, str]:
    from nnstudio.compiler.codegen import _derived_literal, _literal

    spec = node.spec
    values = {name: _literal(spec, name, value) for name, value in params.items()}
    for name, value in spec.derive(params, in_shapes).items():
        values[name] = _derived_literal(spec, name, value)
    return values


def _fill_forward(node: Node, params: dict[str, Any], values: dict[str, str]) -> str:
    template = node.spec.forward_template(params)
    return template.format(out="{out}", x="{x}", inputs="{inputs}", sum="{sum}", attr="{attr}", **values)


class _ClassWriter:
    """Writes one class for uses of a definition that share their forward code."""

    def __init__(self, owner: BlockClasses, definition: BlockDefinition, uses: list[BodyResult], name: str):
        self.owner = owner
        self.definition = definition
        self.uses = uses
        self.cls = BlockClass(name, definition.name, [])
        body = definition.body
        self.ports = definition.input_ports
        single = len(self.ports) == 1
        # Candidate size arguments: the first and last size of each input.
        self.shape_args: list[tuple[str, int, int]] = []  # (name, port index, axis)
        for index, port in enumerate(self.ports):
            prefix = "in" if single else snake_case(port.name, "in")
            rank = len(uses[0].in_shapes[index])
            if rank >= 2:
                self.shape_args.append((f"{prefix}_channels", index, 0))
            self.shape_args.append((f"{prefix}_features", index, -1))
        self.declared = [p.name for p in definition.params]
        self.used_shape_args: set[str] = set()
        self.extra_args: dict[str, list[Any]] = {}  # fallback arguments: name -> per-use values
        self.known: list[tuple[str, list[Any]]] = []  # expressions seen: (source, per-use values)
        self.probes = self._probes()
        self.body = body

    # -- probing other input sizes, so names are chosen by meaning, not coincidence --------

    def _probes(self) -> list[BodyResult]:
        base = self.uses[0]
        probes = []
        for _name, index, axis in self.shape_args:
            shapes = [list(s) for s in base.in_shapes]
            shapes[index][axis] *= 3
            values = {k: v for k, v in base.values if k in self.declared}
            try:
                probe = self.owner.library.body_result(
                    self.definition.name, [tuple(s) for s in shapes], values
                )
            except (GraphError, ParamError):
                continue
            if not probe.errors:
                probes.append(probe)
        return probes

    def _symbol_values(self, use: BodyResult) -> dict[str, Any]:
        values = dict(use.values)
        symbols = {p: values[p] for p in self.declared}
        for name, index, axis in self.shape_args:
            symbols[name] = use.in_shapes[index][axis]
        return symbols

    def _spelling(self) -> dict[str, str]:
        """How an inner expression's names are written: declared names as they are,
        $in_channels / $in_features as the first input's size arguments."""
        spelling = {p: p for p in self.declared}
        for implicit, axis in (("in_channels", 0), ("in_features", -1)):
            for name, index, ax in self.shape_args:
                if index == 0 and ax == axis:
                    spelling[implicit] = name
        return spelling

    def _match(self, per_use: list[Any], per_probe: list[Any] | None) -> str | None:
        """The argument or known expression equal to these values in every use (and probe)."""
        candidates: list[tuple[str, list[Any], list[Any] | None]] = []
        for name, _, _ in self.shape_args:
            candidates.append(
                (
                    name,
                    [self._symbol_values(u)[name] for u in self.uses],
                    [self._symbol_values(p)[name] for p in self.probes],
                )
            )
        for name in self.declared:
            candidates.append(
                (
                    name,
                    [self._symbol_values(u)[name] for u in self.uses],
                    [self._symbol_values(p)[name] for p in self.probes],
                )
            )
        for source, values in self.known:
            candidates.append((source, values[: len(self.uses)], values[len(self.uses) :] or None))
        for source, values, probe_values in candidates:
            if any(type(v) is not int for v in values) or values != per_use:
                continue
            probed = (
                per_probe is not None and probe_values is not None and len(probe_values) == len(per_probe)
            )
            if probed and probe_values != per_probe:
                continue
            if source in {n for n, _, _ in self.shape_args}:
                self.used_shape_args.add(source)
            return source
        return None

    def _value_source(
        self,
        attr: str,
        field_name: str,
        per_use: list[Any],
        per_probe: list[Any] | None,
        literal=_python_literal,
    ) -> str:
        """Source text for a value that may differ between uses."""
        if all(type(v) is int for v in per_use):
            matched = self._match(per_use, per_probe)
            if matched is not None:
                return matched
        if all(repr(v) == repr(per_use[0]) for v in per_use):
            return literal(per_use[0])
        name = f"{attr}_{field_name}"
        self.extra_args[name] = per_use
        return name

    # -- the class -----------------------------------------------------------------------

    def write(self) -> BlockClass:
        definition, body = self.definition, self.body
        uses = self.uses
        order = _body_order(definition, uses[0])
        attrs = Namespace({*PYTHON_RESERVED, *MODULE_ATTRIBUTES})
        spelling = self._spelling()
        init: list[str] = []
        for node_id in order:
            node = body.nodes[node_id]
            if node.type in (PORT_IN, PORT_OUT):
                continue
            if node.type == BLOCK_TYPE:
                attr = attrs.create(node.name, "block")
                func, args = self._nested(node, attr, spelling)
            else:
                template = node.spec.module_template(uses[0].resolved[node_id])
                if template is None:
                    continue
                attr = attrs.create(node.name, node.type.lower())
                func, args = self._layer(node, attr, template, spelling)
            init += self._assignment(attr, func, args, self._condition(node, spelling))
            self.cls.attr_of[node_id] = attr

        shape_args = [n for n, _, _ in self.shape_args if n in self.used_shape_args]
        args = [*shape_args, *self.declared, *self.extra_args]
        self.cls.args = args
        for use in uses:
            symbols = self._symbol_values(use)
            index = uses.index(use)
            self.cls.arg_values[_key(use)] = [
                *(symbols[n] for n in shape_args),
                *(symbols[n] for n in self.declared),
                *(values[index] for values in self.extra_args.values()),
            ]
        self._emit(order, init, args)
        return self.cls

    def _condition(self, node: Node, spelling: dict[str, str]) -> str | None:
        """Python source of a conditional node's condition; None for a node that is always on."""
        if node.enabled is True:
            return None
        if node.enabled is False:
            return "False"
        expr = expressions.parse(node.enabled)
        self.used_shape_args |= {spelling[n] for n in expr.names if spelling.get(n) != n}
        return expr.to_python(spelling)

    def _assignment(self, attr: str, func: str, args: list[str], condition: str | None) -> list[str]:
        """``self.attr = func(args)``, or ``... if condition else nn.Identity()``, laid out
        as ruff format would."""
        from nnstudio.compiler.codegen import _wrap_call

        indent = "        "
        if condition is None:
            return _wrap_call(f"self.{attr} = ", func, args, indent)
        if condition == "False":  # switched off for good: only the stand-in is built
            return [f"{indent}self.{attr} = nn.Identity()"]
        tail = f" if {condition} else nn.Identity()"
        call = f"{func}({', '.join(args)})"
        if len(f"{indent}self.{attr} = {call}{tail}") <= _WIDTH:
            return [f"{indent}self.{attr} = {call}{tail}"]
        inner = indent + "    "
        if len(f"{inner}{call}{tail}") <= _WIDTH:
            return [f"{indent}self.{attr} = (", f"{inner}{call}{tail}", f"{indent})"]
        return [
            f"{indent}self.{attr} = (",
            *_wrap_call("", func, args, inner),
            f"{inner}if {condition}",
            f"{inner}else nn.Identity()",
            f"{indent})",
        ]

    def _layer(self, node: Node, attr: str, template: str, spelling: dict[str, str]) -> tuple[str, list[str]]:
        uses = self.uses
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        filled: dict[str, str] = {}
        from nnstudio.compiler.codegen import _derived_literal, _literal

        spec = node.spec
        for name in fields:
            raw = node.params.get(name)
            if expressions.is_expression(raw):
                expr = expressions.parse(raw)
                filled[name] = expr.to_python(spelling)
                self._note_expression(filled[name], node.id, name)
                self.used_shape_args |= {spelling[n] for n in expr.names if spelling.get(n) != n}
            elif name in node.params:  # a constant: the same in every use
                filled[name] = _literal(spec, name, uses[0].resolved[node.id][name])
            else:  # derived from the shapes the layer receives
                per_use = [self._derived(node, u, name) for u in uses]
                per_probe = [self._derived(node, p, name) for p in self.probes if node.id in p.resolved]
                filled[name] = self._value_source(
                    attr,
                    name,
                    per_use,
                    per_probe if len(per_probe) == len(self.probes) else None,
                    literal=lambda v, name=name: _derived_literal(spec, name, v),
                )
        text = template.format(**filled)
        where = f"{node.type} '{node.name}'"
        return _arguments(text, self._allowed(), self.owner.helpers, where, spec.torch_defaults)

    def _derived(self, node: Node, use: BodyResult, name: str) -> Any:
        params = use.resolved[node.id]
        derived = node.spec.derive(params, _inner_inputs(self.definition, use, node.id))
        return derived[name] if name in derived else params[name]

    def _note_expression(self, source: str, node_id: str, name: str) -> None:
        values = [u.resolved[node_id][name] for u in self.uses]
        probe_values = [p.resolved[node_id][name] for p in self.probes if node_id in p.resolved]
        if len(probe_values) == len(self.probes):
            values += probe_values
        if source not in {s for s, _ in self.known}:
            self.known.append((source, values))

    def _nested(self, node: Node, attr: str, spelling: dict[str, str]) -> tuple[str, list[str]]:
        owner, uses = self.owner, self.uses
        copies_per_use = [
            owner._instance(
                node.params["block"], u.resolved[node.id], _inner_inputs(self.definition, u, node.id)
            )
            for u in uses
        ]
        classes = tuple(owner.class_for[_key(c)] for c in copies_per_use[0])
        self.cls.class_of[node.id] = classes
        inner_definition = self.owner.library.get(node.params["block"])
        declared = [p.name for p in inner_definition.params]
        calls = []
        for copy, class_name in enumerate(classes):
            inner = owner.classes[class_name]
            args = []
            for position, arg in enumerate(inner.args):
                raw = node.params.get(arg) if arg in declared else None
                if expressions.is_expression(raw):
                    expr = expressions.parse(raw)
                    args.append(expr.to_python(spelling))
                    self.used_shape_args |= {spelling[n] for n in expr.names if spelling.get(n) != n}
                    continue
                per_use = [inner.arg_values[_key(copies[copy])][position] for copies in copies_per_use]
                args.append(
                    self._value_source(attr, f"{arg}_{copy}" if len(classes) > 1 else arg, per_use, None)
                )
            calls.append(f"{class_name}({', '.join(args)})")
        if len(calls) == 1:
            callee, _, rest = calls[0].partition("(")
            return callee, [a for a in rest[:-1].split(", ") if a]
        return "nn.Sequential", calls

    def _allowed(self) -> set[str]:
        return {*(n for n, _, _ in self.shape_args), *self.declared, *self.extra_args}

    def _emit(self, order: list[str], init: list[str], args: list[str]) -> None:
        from nnstudio.compiler.codegen import _doc_lines, _Variables, fill_forward

        definition, body, use = self.definition, self.body, self.uses[0]
        lines = [f"class {self.cls.name}(nn.Module):"]
        doc = _doc_lines(definition.description or f"The block {definition.name}, designed in nnstudio.")
        lines += [f'    """{doc[0]}', *(f"    {line}" for line in doc[1:])]
        if definition.params:
            lines += [
                "",
                "    Parameters: "
                + ", ".join(f"``{p.name}`` (default {p.default!r})" for p in definition.params)
                + ".",
            ]
        lines += ['    """', ""]
        defaults = {p.name: p.default for p in definition.params}
        signature = []
        for arg in args:
            kind = type(dict(use.values).get(arg, 0)).__name__ if arg in defaults else "int"
            if arg in defaults and not self.extra_args:
                signature.append(f"{arg}: {kind} = {_python_literal(defaults[arg])}")
            else:
                signature.append(f"{arg}: {kind}")
        head = (
            f"    def __init__(self, {', '.join(signature)}) -> None:"
            if signature
            else "    def __init__(self) -> None:"
        )
        if len(head) > 88:
            lines += [
                "    def __init__(",
                "        self,",
                *(f"        {s}," for s in signature),
                "    ) -> None:",
            ]
        else:
            lines.append(head)
        lines += ["        super().__init__()", *init, ""]

        keep = set(order)
        names = Namespace({*PYTHON_RESERVED})
        # Ports count too: one may feed only layers that lead nowhere (then it is never read).
        readers = [*order, *(p.id for p in self.ports if p.id not in keep)]
        variables = _Variables(names, {n: sum(e.target in keep for e in body.outputs_of(n)) for n in readers})
        var_of: dict[str, str] = {}
        port_args = []
        for index, port in enumerate(self.ports):
            if index == 0:
                var_of[port.id] = variables.chain
                variables.in_chain = port.id
            else:
                var_of[port.id] = names.create(port.name, "x")
            port_args.append(f"{var_of[port.id]}: torch.Tensor")
        lines.append(f"    def forward(self, {', '.join(port_args)}) -> torch.Tensor:")
        result = None
        for node_id in order:
            node = body.nodes[node_id]
            if node.type == PORT_IN:
                continue
            sources = [e.source for e in body.inputs_of(node_id)]
            if node.type == PORT_OUT:
                result = var_of[sources[0]]
                continue
            params = use.resolved[node_id]
            if node.type == BLOCK_TYPE:
                template = "{out} = self.{attr}({inputs})"
                values: dict[str, str] = {}
            else:
                template = node.spec.forward_template(params)
                values = _template_values(node, params, _inner_inputs(definition, use, node_id))
            out, text = fill_forward(
                node, template, sources, var_of, variables, self.cls.attr_of.get(node_id, ""), values
            )
            body_lines = [f"        {line}" for line in text.splitlines()]
            shapes = {u.analysis.shapes[node_id] for u in self.uses}
            if len(shapes) == 1:  # a comment only when every use of the class agrees
                body_lines[-1] += f"  # {format_shape(use.analysis.shapes[node_id])}"
            lines += body_lines
            var_of[node_id] = out
        lines.append(f"        return {result}")
        self.cls.lines = lines


def _arguments(
    text: str, allowed: set[str], helpers: set[str], where: str, defaults: Mapping[str, Any]
) -> tuple[str, list[str]]:
    """Check a filled layer template inside a block: one constructor call whose arguments
    are literals or arithmetic on the class's own arguments; PyTorch's defaults (the spec's
    ``torch_defaults``) left out."""
    from nnstudio.compiler.codegen import _constructor, _is_literal

    def ok(node: ast.expr) -> bool:
        if _is_literal(node):
            return True
        if isinstance(node, ast.Name):
            return node.id in allowed
        if isinstance(node, ast.BinOp) and isinstance(node.op, _ARITHMETIC):
            return ok(node.left) and ok(node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            return ok(node.operand)
        if isinstance(node, ast.BoolOp):  # a bool setting written as a condition: not $flag
            return all(ok(value) for value in node.values)
        if isinstance(node, ast.Compare):
            return ok(node.left) and all(ok(c) for c in node.comparators)
        return False

    return _constructor(text, helpers, where, defaults, allowed=ok, what="plain values or block parameters")
