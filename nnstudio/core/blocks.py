"""Blocks: named sub-networks used many times, like ``nn.Module`` classes.

A **definition** is a small graph (its *body*) whose data enters through
``BlockInput`` port nodes and leaves through one ``BlockOutput``, plus
declared parameters with defaults. An **instance** is one node of type
``Block`` in another graph: its ``block`` parameter names the definition, its
``repeat`` parameter stands for that many chained copies (each with its own
weights), and the declared parameters take values per instance. Inner nodes
may write a parameter as an expression over the block's parameters
(``"$out_channels"``, ``"$width * 4"``; see :mod:`nnstudio.core.expressions`);
``$in_channels`` and ``$in_features`` name the first input's first and last
size. Every graph of a project shares one :class:`BlockLibrary`
(``graph.blocks``); editing a body changes every instance.

From Python::

    from nnstudio.core.graph import GraphModel
    from nnstudio.core.layers import Param

    graph = GraphModel()
    block = graph.blocks.define("ConvBN", params=[Param("out_channels", "int", 16, 1, 8192)])
    body = block.body                                   # a GraphModel; edit it as any graph
    x = body.add("BlockInput", name="x")
    conv = body.add("Conv2d", name="conv", out_channels="$out_channels", padding=1)
    bn = body.add("BatchNorm2d", name="bn")
    out = body.add("BlockOutput", name="out")
    body.connect(x, conv); body.connect(conv, bn); body.connect(bn, out)

    image = graph.add("Input", shape=[3, 32, 32])
    stage = graph.add("Block", name="stage", block="ConvBN", out_channels=32, repeat=2)
    graph.connect(image, stage)
    graph.set_param(stage, "repeat", 3)                 # three chained copies
    graph.shapes()[stage]                               # (32, 32, 32)

Editing operations that an undo command applies and reverts in one step:
:func:`group` (selected nodes -> a new definition and one instance),
:func:`ungroup` (an instance -> its nodes) and :func:`make_unique` (an instance
gets its own copy of its definition); each returns an :class:`Edit` that
:func:`revert` undoes exactly.

An inner node may be **conditional**: its ``enabled`` setting is True, False
or a condition over the block's parameters (``"$norm_first"``,
``"not $norm_first"``; ``graph.set_enabled``). For an instance where it is
false the node is *bypassed*, like a muted node in Blender: it passes its one
input through, builds no module and counts no parameters or multiply-adds.
Only a layer with one input and an output whose code is one module call can be
conditional, and it must keep its input's shape, so that the shapes inside a
block never depend on which nodes are on; the code generator writes it as
``self.pre_norm1 = nn.LayerNorm(d) if norm_first else nn.Identity()``.

Shapes, parameter counts and diagnostics recurse into bodies; a body's
analysis is cached per definition, input shapes and parameter values, and the
cache is dropped whenever any definition changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nnstudio.core import expressions
from nnstudio.core.errors import GraphError, ParamError, ShapeError, UnknownLayerError
from nnstudio.core.events import Signal
from nnstudio.core.layers import LayerSpec, Param, Shape, format_shape, layer_figures

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel, Node
    from nnstudio.core.validation import Analysis

BLOCK_TYPE = "Block"
PORT_IN = "BlockInput"
PORT_OUT = "BlockOutput"
MAX_REPEAT = 64
ENABLED = "enabled"  # the node setting that switches an inner node on or off
# The forward code of a layer that is one module call: nn.Identity() can stand in for it.
_PLAIN_CALLS = ("{out} = self.{attr}({x})", "{out} = self.{attr}({inputs})")
# Names an inner expression may use besides the declared parameters.
IMPLICIT = ("in_channels", "in_features")
_PARAM_KINDS = ("int", "float", "bool", "choice")
_RESERVED_PARAMS = {"block", "repeat", "enabled", *IMPLICIT}


def _port_in_infer(p, s):
    raise ShapeError("a block input's shape comes from the instance; open the block from one.")


# The port nodes of a body. They are not catalog layers (they exist only inside
# blocks and build nothing), so they live here rather than in the palette's catalog.
PORT_SPECS: dict[str, LayerSpec] = {
    PORT_IN: LayerSpec(
        type=PORT_IN,
        category="Blocks",
        description="Where data enters a block: one input of every instance, in the order "
        "the ports were added.",
        params=(),
        infer=_port_in_infer,
        forward="",
        min_inputs=0,
        max_inputs=0,
        role="block_input",
    ),
    PORT_OUT: LayerSpec(
        type=PORT_OUT,
        category="Blocks",
        description="What a block returns: the value wired into it is every instance's output.",
        params=(),
        infer=lambda p, s: s[0],
        forward="",
        has_output=False,
        role="block_output",
    ),
}


@dataclass(frozen=True)
class _InstanceSpec(LayerSpec):
    """The spec of an instance: its parameters follow its definition, which may change.

    Values of parameters the definition no longer declares (it was edited, or the
    instance was switched to another block) are left out instead of refused, so a
    project saved before such an edit still opens."""

    def complete_params(self, given):
        known = {p.name for p in self.params}
        return super().complete_params({k: v for k, v in given.items() if k in known})


def type_label(node: Node) -> str:
    """A node's type as tables show it: an instance's block and repeat ("BasicBlock ×2")."""
    if node.type != BLOCK_TYPE:
        return node.type
    repeat = node.params.get("repeat", 1)
    return f"{node.params.get('block')}" + (f" ×{repeat}" if repeat != 1 else "")


class BlockError(GraphError):
    """A block edit that cannot be done: recursion, a bad selection, a missing definition."""


class BlockShapeError(ShapeError):
    """A problem inside an instance: ``path`` locates it below the instance (``.0/conv1``)."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"at {path.lstrip('/')}: {detail}")
        self.path = path
        self.detail = detail

    def located(self, name: str) -> str:
        """The message with the instance's name in front: 'at layer2.0/conv1: ...'."""
        return f"at {name}{self.path}: {self.detail}"


# --- definitions and the library -----------------------------------------------------------


@dataclass(eq=False)
class BlockDefinition:
    """A named body graph with declared parameters; instances refer to it by name."""

    name: str
    params: tuple[Param, ...]
    body: GraphModel
    description: str = ""

    def param_defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    @property
    def input_ports(self) -> list[Node]:
        return [n for n in self.body.nodes.values() if n.type == PORT_IN]

    @property
    def output_ports(self) -> list[Node]:
        return [n for n in self.body.nodes.values() if n.type == PORT_OUT]

    def uses(self) -> set[str]:
        """Names of the definitions this body instantiates directly."""
        return {n.params["block"] for n in self.body.nodes.values() if n.type == BLOCK_TYPE}

    def to_record(self) -> dict[str, Any]:
        data = self.body.to_dict(with_blocks=False)  # the library lists the blocks it uses
        return {
            "name": self.name,
            "description": self.description,
            "params": [_param_record(p) for p in self.params],
            "nodes": data["nodes"],
            "edges": data["edges"],
        }


def _param_record(param: Param) -> dict[str, Any]:
    record: dict[str, Any] = {"name": param.name, "kind": param.kind, "default": param.default}
    if param.minimum is not None:
        record["minimum"] = param.minimum
    if param.maximum is not None:
        record["maximum"] = param.maximum
    if param.choices:
        record["choices"] = list(param.choices)
    if param.doc:
        record["doc"] = param.doc
    return record


def make_param(record: dict[str, Any] | Param) -> Param:
    """A declared block parameter from a record; raises ParamError in words."""
    if isinstance(record, Param):
        record = _param_record(record)
    name = record.get("name")
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ParamError(f"A block parameter needs a name like out_channels, not {name!r}.")
    if name in _RESERVED_PARAMS:
        raise ParamError(f"'{name}' is reserved; give the block parameter another name.")
    kind = record.get("kind", "int")
    if kind not in _PARAM_KINDS:
        raise ParamError(f"Block parameter '{name}' has kind {kind!r}; use one of {', '.join(_PARAM_KINDS)}.")
    choices = tuple(record.get("choices", ()))
    if kind == "choice" and (not choices or not all(isinstance(c, str | int) for c in choices)):
        raise ParamError(f"Block parameter '{name}' is a choice but lists no choices.")
    bounds = []
    for key in ("minimum", "maximum"):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ParamError(f"Block parameter '{name}': {key} must be a number.")
        bounds.append(value)
    draft = Param(name, kind, None, bounds[0], bounds[1], choices, str(record.get("doc", "")))
    default = draft.coerce(record.get("default"))
    return Param(name, kind, default, bounds[0], bounds[1], choices, draft.doc)


@dataclass(frozen=True)
class BodyResult:
    """One copy of a definition analysed for given input shapes and parameter values."""

    definition: str
    in_shapes: tuple[Shape, ...]
    values: tuple[tuple[str, Any], ...]  # declared and implicit parameter values
    analysis: Analysis  # inner shapes, figures, diagnostics, order, in_model
    resolved: dict[str, dict[str, Any]]  # inner node id -> concrete parameter values
    errors: tuple[tuple[str, str], ...]  # (path below the copy, sentence), first is the cause
    output_shape: Shape | None

    @property
    def parameters(self) -> int:
        return self.analysis.model_parameters()

    @property
    def macs(self) -> int:
        return sum(f.macs for f in self.analysis.model_figures())

    @property
    def bypassed(self) -> set[str]:
        """Inner nodes switched off in this copy: they pass their input through."""
        return self.analysis.bypassed


@dataclass(frozen=True)
class InstanceResult:
    """An instance's copies in chain order; its shape is the last copy's."""

    copies: tuple[BodyResult, ...]

    @property
    def output_shape(self) -> Shape:
        shape = self.copies[-1].output_shape
        assert shape is not None
        return shape


class BlockLibrary:
    """The block definitions of a project, shared by its graphs.

    ``changed`` fires after any definition or body changes; graphs listen to it
    to drop their cached analysis.
    """

    def __init__(self) -> None:
        self._definitions: dict[str, BlockDefinition] = {}
        self.changed = Signal()
        self.version = 0
        self._bodies: dict[str, BodyResult] = {}
        self._specs: dict[str, LayerSpec] = {}
        self._active: list[str] = []  # definitions being analysed: a guard against recursion
        self.last_use: dict[str, tuple[tuple[Shape, ...], dict[str, Any]]] = {}

    # -- reading ----------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._definitions

    def __iter__(self):
        return iter(self._definitions.values())

    def __len__(self) -> int:
        return len(self._definitions)

    def names(self) -> list[str]:
        return list(self._definitions)

    def get(self, name: str) -> BlockDefinition:
        try:
            return self._definitions[name]
        except (KeyError, TypeError):
            known = ", ".join(self._definitions) or "none yet"
            raise UnknownLayerError(f"There is no block named '{name}' (blocks: {known}).") from None

    def contains(self, outer: str, inner: str) -> bool:
        """Whether ``outer``'s body uses ``inner``, directly or through other blocks (or is it)."""
        seen, todo = set(), [outer]
        while todo:
            name = todo.pop()
            if name == inner:
                return True
            if name in seen or name not in self._definitions:
                continue
            seen.add(name)
            todo.extend(self._definitions[name].uses())
        return False

    def usage_count(self, name: str, graphs: Iterable[GraphModel] = ()) -> int:
        """Instances of ``name`` in the bodies of other definitions and in ``graphs``."""
        bodies = [d.body for d in self._definitions.values()]
        return sum(
            1
            for graph in [*graphs, *bodies]
            for node in graph.nodes.values()
            if node.type == BLOCK_TYPE and node.params.get("block") == name
        )

    def unique_name(self, base: str) -> str:
        stem = "".join(ch for ch in base if ch.isalnum() or ch == "_") or "Block"
        if stem[0].isdigit():
            stem = "Block" + stem
        name, index = stem, 2
        while name in self._definitions:
            name = f"{stem}{index}"
            index += 1
        return name

    # -- editing ----------------------------------------------------------------------

    def define(
        self, name: str, params: Sequence[Param | dict[str, Any]] = (), description: str = ""
    ) -> BlockDefinition:
        """A new definition with an empty body; raises BlockError if the name is taken."""
        from nnstudio.core.graph import GraphModel

        self._check_name(name)
        checked = tuple(make_param(p) for p in params)
        names = [p.name for p in checked]
        if len(set(names)) != len(names):
            raise ParamError(f"Block '{name}' declares a parameter twice.")
        body = GraphModel(name=name)
        body.adopt_blocks(self, owner=name)
        definition = BlockDefinition(name, checked, body, str(description))
        self._definitions[name] = definition
        body.events.changed.connect(self.touch)
        self.touch()
        return definition

    def remove(self, name: str) -> BlockDefinition:
        """Forget a definition (callers check that nothing uses it)."""
        definition = self.get(name)
        for other in self._definitions.values():
            if other is not definition and name in other.uses():
                raise BlockError(f"Block '{name}' is used inside block '{other.name}'; it cannot be removed.")
        del self._definitions[name]
        definition.body.events.changed.disconnect(self.touch)
        self.touch()
        return definition

    def restore(self, definition: BlockDefinition) -> None:
        """Put back a definition that ``remove`` returned (undo)."""
        self._check_name(definition.name)
        self._definitions[definition.name] = definition
        definition.body.events.changed.connect(self.touch)
        self.touch()

    def set_params(self, name: str, params: Sequence[Param | dict[str, Any]]) -> None:
        definition = self.get(name)
        definition.params = tuple(make_param(p) for p in params)
        self.touch()

    def touch(self) -> None:
        """Something in a definition changed: drop every cached result and tell the graphs."""
        self.version += 1
        self._bodies.clear()
        self._specs.clear()
        self.changed.emit()

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise BlockError(f"A block needs a name like BasicBlock (letters, digits, _), not {name!r}.")
        if name in self._definitions:
            raise BlockError(f"There is already a block named '{name}'; pick another name.")
        if name in _catalog_types():
            raise BlockError(f"'{name}' is a layer type; give the block another name.")

    # -- records ----------------------------------------------------------------------

    def to_records(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Definitions as plain data, each after the ones it uses (all when ``names`` is None)."""
        wanted = self.names() if names is None else list(names)
        ordered: list[str] = []

        def visit(name: str) -> None:
            if name in ordered or name not in self._definitions:
                return
            for inner in sorted(self._definitions[name].uses()):
                if not self.contains(inner, name):  # a loop would never end
                    visit(inner)
            ordered.append(name)

        for name in wanted:
            visit(name)
        return [self._definitions[n].to_record() for n in ordered]

    def load_records(self, records: Sequence[dict[str, Any]]) -> None:
        """Add definitions from plain data; a loop or a missing block raises BlockError."""
        created = []
        for record in records:
            created.append(
                (self.define(record["name"], record.get("params", []), record.get("description", "")), record)
            )
        for definition, record in created:
            body = definition.body
            body.fill_from_records(record.get("nodes", []), record.get("edges", []), check_blocks=False)
        for definition, _ in created:
            for node in definition.body.nodes.values():
                if node.type == BLOCK_TYPE and node.params.get("block") not in self:
                    raise BlockError(
                        f"Block '{definition.name}' uses block '{node.params.get('block')}' "
                        f"(node '{node.name}'), which is not defined."
                    )
        for definition, _ in created:
            if any(self.contains(inner, definition.name) for inner in definition.uses()):
                raise BlockError(
                    f"Block '{definition.name}' contains itself (through "
                    f"{', '.join(sorted(definition.uses()))}); a block cannot be inside itself."
                )
        self.touch()

    # -- analysis ---------------------------------------------------------------------

    def instance_spec(self, name: str) -> LayerSpec:
        """The catalog-like spec of an instance of ``name`` (cached until the next change)."""
        spec = self._specs.get(name)
        if spec is None:
            spec = self._specs[name] = self._build_spec(self.get(name))
        return spec

    def _build_spec(self, definition: BlockDefinition) -> LayerSpec:
        name = definition.name
        ports = max(1, len(definition.input_ports))

        def result(p, s) -> InstanceResult:
            return self.instance_result(name, p, s)

        return _InstanceSpec(
            type=BLOCK_TYPE,
            category="Blocks",
            description=definition.description or f"An instance of block {name}.",
            params=(
                Param(
                    "block",
                    "choice",
                    name,
                    choices=tuple(self._definitions),
                    doc="The block definition this node is an instance of.",
                ),
                Param(
                    "repeat",
                    "int",
                    1,
                    1,
                    MAX_REPEAT,
                    doc="Chained copies of the block, each with its own weights.",
                ),
                *definition.params,
            ),
            infer=lambda p, s: result(p, s).output_shape,
            forward="{out} = self.{attr}({inputs})",
            module=None,
            count_params=lambda p, s: sum(c.parameters for c in result(p, s).copies),
            count_macs=lambda p, s, o: sum(c.macs for c in result(p, s).copies),
            min_inputs=ports,
            max_inputs=ports,
            key_params=("repeat", *(p.name for p in definition.params)),
        )

    def values_for(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """An instance's declared parameter values: its own over the definition's defaults."""
        definition = self.get(name)
        values = definition.param_defaults()
        for param in definition.params:
            if param.name in params:
                values[param.name] = param.coerce(params[param.name])
        return values

    def instance_result(
        self, name: str, params: dict[str, Any], in_shapes: Sequence[Shape]
    ) -> InstanceResult:
        """Every copy of an instance analysed; raises BlockShapeError locating the first problem."""
        values = self.values_for(name, params)
        repeat = int(params.get("repeat", 1))
        in_shapes = tuple(tuple(s) for s in in_shapes)
        if repeat > 1 and len(in_shapes) != 1:
            raise BlockShapeError(
                "",
                f"block {name} has {len(in_shapes)} inputs, so its copies cannot "
                "be chained; set repeat to 1.",
            )
        copies = []
        shapes = in_shapes
        for index in range(repeat):
            body = self.body_result(name, shapes, values)
            prefix = f".{index}" if repeat > 1 else ""
            if body.errors:
                path, detail = body.errors[0]
                if index > 0:
                    detail = (
                        f"copy {index + 1} of {repeat} cannot take copy {index}'s output "
                        f"{format_shape(shapes[0])}: {detail}"
                    )
                raise BlockShapeError(f"{prefix}/{path}" if path else prefix, detail)
            copies.append(body)
            shapes = (body.output_shape,)
        return InstanceResult(tuple(copies))

    def body_result(self, name: str, in_shapes: Sequence[Shape], values: dict[str, Any]) -> BodyResult:
        """One copy of ``name`` for these input shapes and parameter values (cached)."""
        in_shapes = tuple(tuple(s) for s in in_shapes)
        key = (name, in_shapes, tuple(sorted((k, _hashable(v)) for k, v in values.items())))
        cached = self._bodies.get(key)
        if cached is not None:
            return cached
        if name in self._active:
            chain = " -> ".join([*self._active[self._active.index(name) :], name])
            raise BlockShapeError(
                "", f"block {name} contains itself ({chain}); a block cannot be inside itself."
            )
        self.last_use[name] = (in_shapes, dict(values))
        self._active.append(name)
        try:
            result = _analyze_body(self.get(name), in_shapes, values)
        finally:
            self._active.pop()
        self._bodies[key] = result
        return result


def _catalog_types() -> set[str]:
    from nnstudio.core.layers import CATALOG

    return set(CATALOG)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def implicit_values(in_shapes: Sequence[Shape]) -> dict[str, int]:
    """``$in_channels`` and ``$in_features``: the first input's first and last size."""
    if not in_shapes or not in_shapes[0]:
        return {}
    first = in_shapes[0]
    return {"in_channels": first[0], "in_features": first[-1]}


# --- analysing a body --------------------------------------------------------------------------


def resolve_params(node: Node, values: dict[str, Any]) -> dict[str, Any]:
    """``node``'s parameters with every ``$`` expression computed; raises ParamError in words."""
    spec = node.spec
    resolved = {}
    for name, raw in node.params.items():
        if expressions.is_expression(raw):
            try:
                value = expressions.parse(raw).evaluate(values)
            except expressions.ExpressionError as exc:
                raise ParamError(f"'{name}' = {raw}: {exc}") from None
            try:
                resolved[name] = spec.param(name).coerce(value)
            except ParamError as exc:
                raise ParamError(f"'{name}' = {raw} gives {value!r}: {exc}") from None
        else:
            resolved[name] = raw
    return resolved


def parse_enabled(value: Any) -> bool | str:
    """An ``enabled`` setting as stored: True, False, or a condition's text. Accepts
    true/false written as text; raises ParamError in words."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ParamError(f"'enabled' must be true, false or a condition such as $norm_first, not {value!r}.")
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        expr = expressions.parse(text)
        if not expr.names:  # a constant: store what it is
            constant = expr.evaluate({})
            if isinstance(constant, bool):
                return constant
    except expressions.ExpressionError as exc:
        raise ParamError(f"'enabled' = {text}: {exc}") from None
    if expr.kind == "int" or not expr.names:
        raise ParamError(
            f"'enabled' = {text} is a number, not a condition; write for example $norm_first or $depth > 2."
        )
    return expr.text


def is_enabled(node: Node, values: dict[str, Any]) -> bool:
    """Whether ``node`` is enabled for these block parameter values; raises ParamError in words."""
    enabled = node.enabled
    if isinstance(enabled, bool):
        return enabled
    try:
        value = expressions.parse(enabled).evaluate(values)
    except expressions.ExpressionError as exc:
        raise ParamError(f"'enabled' = {enabled}: {exc}") from None
    if not isinstance(value, bool):
        raise ParamError(f"'enabled' = {enabled} gives {value!r}, but it must give true or false.")
    return value


def _analyze_body(
    definition: BlockDefinition, in_shapes: tuple[Shape, ...], values: dict[str, Any]
) -> BodyResult:
    from nnstudio.core import validation

    body = definition.body
    all_values = {**implicit_values(in_shapes), **values}
    structure = structure_of(definition)
    result = validation.Analysis(
        diagnostics=list(structure.diagnostics), order=list(structure.order), in_model=set(structure.in_model)
    )
    errors: list[tuple[str, str]] = [("", d.message) for d in structure.diagnostics if d.is_error]
    resolved: dict[str, dict[str, Any]] = {}
    shapes = result.shapes
    ports = definition.input_ports
    if not errors and len(ports) != len(in_shapes):
        errors.append(("", f"block {definition.name} has {len(ports)} inputs but receives {len(in_shapes)}."))
    if not errors:
        for port, shape in zip(ports, in_shapes, strict=True):
            shapes[port.id] = shape
    for node_id in result.order if not errors else ():
        node = body.nodes[node_id]
        if node.type == PORT_IN or node_id not in structure.wired:
            continue
        sources = structure.wiring.sources(node_id)
        inputs = [shapes.get(s) for s in sources]
        if None in inputs:
            continue
        if node.type == PORT_OUT:
            shapes[node_id] = inputs[0]
            continue
        label = f"{node.type} '{node.name}'"
        try:
            params = resolve_params(node, all_values)
            enabled = is_enabled(node, all_values)
            # A switched-off node is still worked out, as if it were on: its class is written
            # for every value of the condition, and its shape must not depend on it.
            figures = layer_figures(node.spec, params, inputs)
            if node.enabled is not True:
                _check_switchable(node, params, inputs[0], figures.output_shape)
        except BlockShapeError as exc:
            message = exc.located(node.name)
            result.diagnostics.append(validation.Diagnostic(node_id, validation.ERROR, f"{label}: {message}"))
            errors.append((f"{node.name}{exc.path}", exc.detail))
            continue
        except (ShapeError, ParamError) as exc:
            result.diagnostics.append(validation.Diagnostic(node_id, validation.ERROR, f"{label}: {exc}"))
            errors.append((node.name, f"{label}: {exc}"))
            continue
        except (ArithmeticError, IndexError, ValueError, TypeError, KeyError) as exc:
            message = f"{label}: cannot work out its output shape ({exc})."
            result.diagnostics.append(validation.Diagnostic(node_id, validation.ERROR, message))
            errors.append((node.name, message))
            continue
        resolved[node_id] = params
        shapes[node_id] = figures.output_shape
        if enabled:
            result.figures[node_id] = figures
        else:
            result.bypassed.add(node_id)
    output = definition.output_ports
    out_shape = shapes.get(output[0].id) if len(output) == 1 else None
    if not errors and out_shape is None:
        errors.append(("", f"block {definition.name} computes no output."))
    return BodyResult(
        definition=definition.name,
        in_shapes=in_shapes,
        values=tuple(all_values.items()),
        analysis=result,
        resolved=resolved,
        errors=tuple(errors),
        output_shape=out_shape,
    )


def _check_switchable(node: Node, params: dict[str, Any], in_shape: Shape, out_shape: Shape) -> None:
    """A conditional node must be replaceable by nn.Identity(): one module call, same shape."""
    if node.spec.forward_template(params) not in _PLAIN_CALLS:
        raise ParamError(
            "only a layer whose code is one module call can be switched on and off; "
            "set its 'enabled' back to true."
        )
    if tuple(out_shape) != tuple(in_shape):
        raise ShapeError(
            f"it can be switched off only if it keeps its input's shape (switched off, it passes "
            f"{format_shape(in_shape)} on), but it gives {format_shape(out_shape)}."
        )


@dataclass
class Structure:
    """What a body's wiring says, whatever the shapes: order, wired nodes, problems."""

    order: list[str]
    wired: set[str]
    in_model: set[str]
    wiring: Any
    diagnostics: list = field(default_factory=list)


def structure_of(definition: BlockDefinition) -> Structure:
    """Ports, reachability and forbidden nodes of a body (cached on the body until it changes)."""
    from nnstudio.core import validation

    body = definition.body
    cached = getattr(body, "_structure", None)
    if cached is not None and cached[0] == body.edit_count:
        return cached[1]
    diagnostics: list = []
    report = diagnostics.append
    wiring = validation._Wiring.of(body)
    nodes = body.nodes
    ins = [n.id for n in nodes.values() if n.type == PORT_IN]
    outs = [n.id for n in nodes.values() if n.type == PORT_OUT]
    error = validation.ERROR
    if not ins:
        report(
            validation.Diagnostic(
                None,
                error,
                f"Block {definition.name} has no BlockInput; add one where data enters the block.",
            )
        )
    if len(outs) != 1:
        report(
            validation.Diagnostic(
                None, error, f"Block {definition.name} needs exactly one BlockOutput (it has {len(outs)})."
            )
        )
    for node in nodes.values():
        spec = node.spec
        if node.enabled is not True and (spec.max_inputs != 1 or not spec.has_output):
            report(
                validation.Diagnostic(
                    node.id,
                    error,
                    f"{node.type} '{node.name}' cannot be switched off: only a layer with one input "
                    "and an output can pass its input through; set its 'enabled' back to true.",
                )
            )
        if node.spec.role in ("input", "output"):
            report(
                validation.Diagnostic(
                    node.id,
                    error,
                    f"{node.type} '{node.name}' cannot be inside "
                    f"a block; use a {PORT_IN} or {PORT_OUT} port.",
                )
            )
    order = validation._topological_order(nodes, wiring)
    wired = validation._report_ports(body, wiring, report)
    fed = validation._reach(ins, wiring.targets.__getitem__)
    for node_id in nodes:
        if node_id in wired and node_id not in fed:
            node = nodes[node_id]
            report(
                validation.Diagnostic(
                    node_id,
                    error,
                    f"{node.type} '{node.name}' is not connected to any BlockInput of the block.",
                )
            )
    useful = validation._reach(outs, wiring.sources) if outs else set(nodes)
    for node_id, node in nodes.items():
        if node_id not in useful:
            report(
                validation.Diagnostic(
                    node_id,
                    validation.WARNING,
                    f"{node.type} '{node.name}' does not "
                    "lead to the BlockOutput, so it is "
                    "not part of the block.",
                )
            )
    structure = Structure(order, wired, useful, wiring, diagnostics)
    body._structure = (body.edit_count, structure)
    return structure


def analyze_in_context(body: GraphModel) -> Analysis:
    """A body's analysis for the editor: shapes from the instance it was opened from
    (``body.context``), else from its last use; structure only when never used."""
    from nnstudio.core import validation

    library = body.blocks
    definition = library.get(body.owner)
    context = body.context or library.last_use.get(definition.name)
    if context is not None:
        in_shapes, values = context
        try:
            return library.body_result(definition.name, in_shapes, values).analysis
        except (BlockShapeError, ParamError, UnknownLayerError):
            pass
    structure = structure_of(definition)
    return validation.Analysis(
        diagnostics=list(structure.diagnostics), order=list(structure.order), in_model=set(structure.in_model)
    )


# --- edits: group, ungroup, make unique --------------------------------------------------------


@dataclass
class Edit:
    """What a block edit changed, so that :func:`revert` can undo it exactly."""

    removed_nodes: list[dict[str, Any]]  # node records, with their edges below
    removed_edges: list[tuple[str, str, int]]
    added_nodes: list[str]
    order_before: list[str]
    added_definition: str | None = None
    param_changes: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # node, name, old, new
    result: str | None = None  # the instance (group) or a summary id


def _record(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "type": node.type,
        "name": node.name,
        "params": dict(node.params),
        "position": node.position,
        ENABLED: node.enabled,
    }


def group(
    graph: GraphModel, node_ids: Iterable[str], name: str | None = None, instance_id: str | None = None
) -> Edit:
    """Replace the selected nodes by one instance of a new block made of them.

    Wires entering the selection become the block's inputs (one per outside
    value, in the order of the nodes they feed), the one value leaving it its
    output. Shapes and the model's outputs stay as they were.
    """
    selected = [n for n in graph.nodes if n in set(node_ids)]
    if not selected:
        raise BlockError("Select the layers to put into a block first.")
    chosen = set(selected)
    for node_id in selected:
        node = graph.nodes[node_id]
        if node.spec.role or node.type in (PORT_IN, PORT_OUT):
            raise BlockError(
                f"{node.type} '{node.name}' marks where data enters or leaves; leave it out of the block."
            )
    edges = graph.edges
    entering = sorted(
        (e for e in edges if e.source not in chosen and e.target in chosen),
        key=lambda e: (selected.index(e.target), e.port),
    )
    leaving = [e for e in edges if e.source in chosen and e.target not in chosen]
    outside_sources = list(dict.fromkeys(e.source for e in entering))
    inner_sources = list(dict.fromkeys(e.source for e in leaving))
    if not outside_sources:
        raise BlockError("No connection enters the selection, so the block would have no input.")
    if len(inner_sources) != 1:
        if not inner_sources:
            raise BlockError("Nothing leaves the selection, so the block would have no output.")
        names = " and ".join(f"'{graph.nodes[n].name}'" for n in inner_sources[:2])
        raise BlockError(
            f"A block has one output, but {names} both feed layers outside the "
            "selection; select fewer or more layers."
        )
    _check_convex(graph, chosen)
    for e in entering:
        target = graph.nodes[e.target]
        if target.spec.takes_token_ids:
            raise BlockError(
                f"{target.type} '{target.name}' reads token ids straight from an "
                "Input; leave it out of the block."
            )
    library = graph.blocks
    block_name = name or library.unique_name("Block")
    if block_name in library:
        raise BlockError(f"There is already a block named '{block_name}'; pick another name.")
    if graph.owner is not None:
        for node_id in selected:
            node = graph.nodes[node_id]
            if node.type == BLOCK_TYPE and library.contains(node.params["block"], graph.owner):
                raise BlockError(f"Block '{graph.owner}' cannot contain itself.")

    order_before = list(graph.nodes)
    removed = [_record(graph.nodes[n]) for n in selected]
    removed_edges = [(e.source, e.target, e.port) for e in edges if e.source in chosen or e.target in chosen]
    xs = [graph.nodes[n].position[0] for n in selected]
    ys = [graph.nodes[n].position[1] for n in selected]
    left, top = min(xs), min(ys)

    definition = library.define(block_name)
    body = definition.body
    ports = {}
    for index, source in enumerate(outside_sources):
        port_name = "x" if len(outside_sources) == 1 else f"x{index + 1}"
        ports[source] = body.add(PORT_IN, name=port_name, position=(-220.0, 120.0 * index))
    for record in removed:
        x, y = record["position"]
        body.add_record({**record, "position": (x - left, y - top)})
    out_port = body.add(PORT_OUT, name="out", position=(max(xs) - left + 220.0, 0.0))
    for e in edges:
        if e.source in chosen and e.target in chosen:
            body.connect(e.source, e.target, e.port)
    for e in entering:
        body.connect(ports[e.source], e.target, e.port)
    body.connect(inner_sources[0], out_port)

    for node_id in selected:
        graph.remove(node_id)
    instance = graph.add(
        BLOCK_TYPE,
        name=graph.free_name(block_name.lower()),
        position=(sum(xs) / len(xs), sum(ys) / len(ys)),
        node_id=instance_id,
        block=block_name,
    )
    for index, source in enumerate(outside_sources):
        graph.connect(source, instance, index)
    for e in leaving:
        graph.connect(instance, e.target, e.port)
    return Edit(
        removed, removed_edges, [instance], order_before, added_definition=block_name, result=instance
    )


def _check_convex(graph: GraphModel, chosen: set[str]) -> None:
    """A path that leaves the selection and comes back would become a loop through the block."""
    from nnstudio.core import validation

    wiring = validation._Wiring.of(graph)
    outside_after = validation._reach(
        [t for n in chosen for t in wiring.targets[n] if t not in chosen], wiring.targets.__getitem__
    )
    back = outside_after & {s for n in chosen for s in wiring.sources(n) if s not in chosen}
    if back:
        node = graph.nodes[sorted(back)[0]]
        raise BlockError(
            f"{node.type} '{node.name}' lies between selected layers; select it too or fewer layers."
        )


def ungroup(graph: GraphModel, instance_id: str, node_ids: Sequence[str] | None = None) -> Edit:
    """Replace an instance by the layers of its block (every copy of a repeat), with its
    parameter values written in; the definition stays in the project. ``node_ids`` gives
    the new nodes' ids (an undo command's redo reuses the first run's)."""
    node = graph.node(instance_id)
    if node.type != BLOCK_TYPE:
        raise BlockError(f"{node.type} '{node.name}' is not a block instance.")
    library = graph.blocks
    definition = library.get(node.params["block"])
    values = library.values_for(definition.name, node.params)
    repeat = int(node.params.get("repeat", 1))
    sources = [e.source for e in graph.inputs_of(instance_id)]
    consumers = [(e.target, e.port) for e in graph.outputs_of(instance_id)]
    shapes = graph.shapes()
    in_shapes = [shapes.get(s) for s in sources]
    order_before = list(graph.nodes)
    removed = [_record(node)]
    removed_edges = [(e.source, e.target, e.port) for e in graph.inputs_of(instance_id)] + [
        (instance_id, t, p) for t, p in consumers
    ]
    body = definition.body
    ports = definition.input_ports
    (out_port,) = definition.output_ports or (None,)
    if out_port is None or len(ports) != len(sources):
        raise BlockError(f"Block '{definition.name}' has unfinished ports; fix it before ungrouping.")
    bx = [n.position[0] for n in body.nodes.values()]
    width = (max(bx) - min(bx) + 200.0) if bx else 200.0
    added: list[str] = []
    try:  # each copy's $in_channels / $in_features come from the shape it receives
        copy_shapes = [
            c.in_shapes for c in library.instance_result(definition.name, node.params, in_shapes).copies
        ]
    except (GraphError, TypeError):
        copy_shapes = []
    inner_nodes = [n for n in body.nodes.values() if n.type not in (PORT_IN, PORT_OUT)]
    resolved = []  # per copy: inner node id -> concrete values, all worked out before any change
    switched_off = []  # per copy: the inner nodes bypassed in it (left out; their input goes on)
    for copy in range(repeat):
        copy_values = {**implicit_values(copy_shapes[copy]), **values} if copy_shapes else dict(values)
        try:
            resolved.append({n.id: resolve_params(n, copy_values) for n in inner_nodes})
            switched_off.append({n.id for n in inner_nodes if not is_enabled(n, copy_values)})
        except ParamError as exc:
            raise BlockError(f"Cannot ungroup '{node.name}': {exc}") from None
    fixed_ids = iter(node_ids or ())
    port_index = {p.id: i for i, p in enumerate(ports)}
    graph.remove(instance_id)
    feeding = list(sources)
    for copy in range(repeat):
        new_ids: dict[str, str] = {}
        for inner in inner_nodes:
            if inner.id in switched_off[copy]:
                continue
            params = resolved[copy][inner.id]
            x, y = inner.position
            new_ids[inner.id] = graph.add_record(
                {
                    "id": next(fixed_ids, None),
                    "type": inner.type,
                    "params": params,
                    "name": graph.free_name(inner.name if repeat == 1 else f"{inner.name}_{copy}"),
                    "position": (node.position[0] + x - min(bx) + copy * width, node.position[1] + y),
                }
            )
            added.append(new_ids[inner.id])

        def value_of(inner_id: str, feeding=feeding, new_ids=new_ids) -> str:
            """The new node holding an inner node's value: a port's source, the node's copy,
            or, for a bypassed node, whatever feeds it."""
            while inner_id not in new_ids and inner_id not in port_index:
                (edge,) = body.inputs_of(inner_id)  # a bypassed node has exactly one input
                inner_id = edge.source
            return new_ids[inner_id] if inner_id in new_ids else feeding[port_index[inner_id]]

        for e in body.edges:
            if e.target in new_ids:
                graph.connect(value_of(e.source), new_ids[e.target], e.port)
        (out_edge,) = body.inputs_of(out_port.id)
        feeding = [value_of(out_edge.source)]
    for target, port in consumers:
        graph.connect(feeding[0], target, port)
    return Edit(removed, removed_edges, added, order_before)


def make_unique(graph: GraphModel, instance_id: str, name: str | None = None) -> Edit:
    """Give one instance its own copy of its block, so edits to it leave the others alone."""
    node = graph.node(instance_id)
    if node.type != BLOCK_TYPE:
        raise BlockError(f"{node.type} '{node.name}' is not a block instance.")
    library = graph.blocks
    source = library.get(node.params["block"])
    new_name = name or library.unique_name(source.name)
    record = {**source.to_record(), "name": new_name}
    library.load_records([record])
    old = node.params["block"]
    graph.set_param(instance_id, "block", new_name)
    return Edit(
        [],
        [],
        [],
        list(graph.nodes),
        added_definition=new_name,
        param_changes=[(instance_id, "block", old, new_name)],
        result=new_name,
    )


def revert(graph: GraphModel, edit: Edit) -> None:
    """Undo what ``group``, ``ungroup`` or ``make_unique`` did, exactly."""
    for node_id, name, old, _new in reversed(edit.param_changes):
        graph.set_param(node_id, name, old)
    for node_id in edit.added_nodes:
        if node_id in graph.nodes:
            graph.remove(node_id)
    for record in edit.removed_nodes:
        graph.add_record(record)
    for source, target, port in edit.removed_edges:
        graph.connect(source, target, port)
    if list(graph.nodes) != edit.order_before and set(graph.nodes) == set(edit.order_before):
        graph.reorder(edit.order_before)
    if edit.added_definition is not None and edit.added_definition in graph.blocks:
        graph.blocks.remove(edit.added_definition)
