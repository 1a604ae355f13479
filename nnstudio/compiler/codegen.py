"""GraphModel -> standalone PyTorch source: the one compiler.

``generate`` returns a :class:`PythonCode` whose ``src`` is a complete file
that imports only torch. The module that trains is built by executing that
very text (``nnstudio.compiler.build``), so the code a user exports is the
model they trained by construction.

Nothing from the project file reaches the source unchecked: identifiers come
from :mod:`nnstudio.compiler.naming`, parameter values are re-validated by the
catalog and written as Python literals, every layer constructor is parsed
back and must be a call whose arguments are constants, and every forward line
may only name variables this generator created. This module imports no torch,
so the editor's live code preview stays light.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nnstudio.compiler.naming import MODULE_ATTRIBUTES, PYTHON_RESERVED, Namespace, camel_case
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.layers import LayerSpec, Shape, check_import_path, check_json_args, format_shape
from nnstudio.core.validation import require_valid

if TYPE_CHECKING:
    import torch

    from nnstudio.core.graph import GraphModel, Node


class CodegenError(GraphError):
    """A value that cannot be written into generated source safely."""


@dataclass(frozen=True)
class ModelInput:
    """One argument of the generated ``forward``."""

    node_id: str
    name: str
    shape: Shape  # one sample, batch excluded
    dtype: str  # "float32" or "int64"
    high: int = 0  # int64 inputs: example token ids are drawn from 0..high-1


@dataclass(frozen=True)
class PythonCode:
    """Generated source and the map from graph nodes to what implements them."""

    src: str
    class_name: str
    inputs: tuple[ModelInput, ...]
    output_ids: tuple[str, ...]  # Output nodes, in the order ``forward`` returns them
    output_names: tuple[str, ...]  # their identifiers (ONNX output names, comments)
    attr_of: Mapping[str, str]  # node id -> attribute of the submodule that implements it
    var_of: Mapping[str, str]  # node id -> forward variable holding its output
    line_of: Mapping[str, int]  # node id -> source line after which var_of holds its output
    shape_of: Mapping[str, Shape]  # node id -> output shape the catalog predicts
    label_of: Mapping[str, tuple[str, str]]  # node id -> (layer type, user's name)
    # Blocks: generated class name -> BlockClass (nnstudio.compiler.block_codegen), and
    # each Block node's class per copy (a repeat is an nn.Sequential of them).
    block_classes: Mapping[str, Any] = field(default_factory=dict)
    class_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def input_ids(self) -> tuple[str, ...]:
        return tuple(i.node_id for i in self.inputs)

    @property
    def node_ids(self) -> tuple[str, ...]:
        """The nodes that are part of the model, in forward order; dead branches are left out."""
        return tuple(self.shape_of)


def generate(graph: GraphModel, class_name: str | None = None) -> PythonCode:
    """Standalone PyTorch source for ``graph``; raises GraphError if it is not valid."""
    analysis = require_valid(graph)
    return _Generator(graph, analysis.shapes, class_name).run()


def compile_graph(
    graph: GraphModel, check_shapes: bool = True, class_name: str | None = None
) -> torch.nn.Module:
    """The ``nn.Module`` built by executing ``generate(graph).src``.

    With ``check_shapes`` the module first runs once on meta tensors and every
    node's real output shape is compared with the catalog's (see build.py).
    """
    from nnstudio.compiler.build import compile_code

    return compile_code(generate(graph, class_name=class_name), check_shapes=check_shapes)


# --- literals -----------------------------------------------------------------------------


def _literal(spec: LayerSpec, name: str, value: Any) -> str:
    """``value`` of parameter ``name`` as Python source; only plain validated values pass."""
    param = spec.param(name)
    if isinstance(value, bool) and param.kind == "bool":
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and param.kind == "int":
        return repr(value)
    if isinstance(value, float) and param.kind == "float":
        return repr(value)
    if isinstance(value, str) and param.kind == "choice" and value in param.choices:
        return repr(value)
    if param.kind == "shape" and isinstance(value, tuple) and all(type(d) is int for d in value):
        return repr(value)
    if param.kind == "import_path":  # a foreign module's class: 'pkg.mod:Cls' -> pkg.mod.Cls
        return check_import_path(name, value).replace(":", ".")
    if param.kind == "json_args":  # plain data only, written as the call's arguments
        return ", ".join(repr(a) for a in check_json_args(name, value))
    raise CodegenError(f"{spec.type} parameter '{name}' holds {value!r}, which is not a valid value.")


def _derived_literal(spec: LayerSpec, name: str, value: Any) -> str:
    """A value the catalog derived from shapes: an int, or a fragment such as '1, 8, 8'."""
    if type(value) is int:
        return repr(value)
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(f"({value},)")
        except (SyntaxError, ValueError):
            parsed = None
        if isinstance(parsed, tuple) and parsed and all(type(d) is int for d in parsed):
            return value
    raise CodegenError(f"{spec.type}: derived value '{name}' is {value!r}, not a literal.")


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool | int | float | str) or node.value is None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
    if isinstance(node, ast.Tuple | ast.List):
        return all(_is_literal(e) for e in node.elts)
    return False


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _constructor(
    text: str,
    helpers: set[str],
    where: str,
    defaults: Mapping[str, Any],
    allowed: Callable[[ast.expr], bool] = _is_literal,
    what: str = "plain values",
) -> tuple[str, list[str]]:
    """Check a filled ``module`` template; return the callee and its argument sources.

    The expression must be one call of ``nn.<Layer>`` or of a helper class in
    this file, whose arguments pass ``allowed`` (literals only, unless a block
    class allows its own arguments), whatever the node's name or values.
    Keyword arguments equal to ``defaults`` (the spec's ``torch_defaults``, PyTorch's
    own) are left out, as a person would write the call.
    """
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise CodegenError(f"{where}: its layer expression does not parse ({exc.msg}).") from None
    if not isinstance(tree, ast.Call):
        raise CodegenError(f"{where}: its layer expression is not a constructor call.")
    func = ast.unparse(tree.func)
    if not (func.startswith("nn.") and func[3:].isidentifier()) and func not in helpers:
        raise CodegenError(f"{where}: '{func}' is not a torch.nn layer.")
    if not all(allowed(a) for a in tree.args) or not all(k.arg and allowed(k.value) for k in tree.keywords):
        raise CodegenError(f"{where}: its layer arguments must be {what}.")
    args = [ast.unparse(a) for a in tree.args]
    for kw in tree.keywords:
        literal = _is_literal(kw.value)
        if kw.arg in defaults and literal and _same_value(ast.literal_eval(kw.value), defaults[kw.arg]):
            continue
        args.append(f"{kw.arg}={ast.unparse(kw.value)}")
    return func, args


def _wrap_call(prefix: str, func: str, args: Sequence[str], indent: str, width: int = 88) -> list[str]:
    """``prefix + func(args)`` on one line, or wrapped the way ruff format would."""
    line = f"{indent}{prefix}{func}({', '.join(args)})"
    if len(line) <= width or not args:
        return [line]
    inner = indent + "    "
    joined = f"{inner}{', '.join(args)}"
    if len(joined) <= width:
        return [f"{indent}{prefix}{func}(", joined, f"{indent})"]
    return [f"{indent}{prefix}{func}(", *(f"{inner}{a}," for a in args), f"{indent})"]


def _doc_lines(text: str, width: int = 76) -> list[str]:
    """Free text as docstring lines that cannot end the docstring or break the file."""
    flat = " ".join("".join(ch for ch in part if ch.isprintable()) for part in text.split())
    lines = textwrap.wrap(flat, width, break_long_words=False, break_on_hyphens=False)
    return [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]


# --- the generator ---------------------------------------------------------------------------

# Starts a line of every file nnstudio writes, so export can tell its own files
# from a user's before replacing them.
GENERATED_MARK = "Generated by nnstudio"

_MODULE_LEVEL = ("example_inputs", "summary", "model")  # names the file defines besides the classes

_SUMMARY = '''
def summary(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
    """Print each layer's output shape and parameter count for one forward pass."""
    shapes = {}

    def record(name):
        def hook(module, args, output):
            if isinstance(output, tuple):  # recurrent layers also return their state
                output = output[0]
            shapes[name] = tuple(output.shape)

        return hook

    children = list(model.named_children())
    handles = [child.register_forward_hook(record(name)) for name, child in children]
    try:
        with torch.no_grad():
            outputs = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    width = max([len(name) for name, _ in children] + [5])
    print(f"{'Layer':<{width}}  {'Type':<20}  {'Output shape':<20}  {'Params':>10}")
    for name, child in children:
        count = sum(p.numel() for p in child.parameters())
        shape = str(shapes.get(name, "-"))
        print(f"{name:<{width}}  {type(child).__name__:<20}  {shape:<20}  {count:>10,}")
    print(f"Total parameters: {sum(p.numel() for p in model.parameters()):,}")
    for output in outputs if isinstance(outputs, tuple) else (outputs,):
        print(f"Output: {tuple(output.shape)} {output.dtype}")
'''


class _Generator:
    """One use: turns a validated graph into a PythonCode."""

    def __init__(self, graph: GraphModel, shapes: Mapping[str, Shape], class_name: str | None):
        self.graph = graph
        self.shapes = shapes
        self.requested_class_name = class_name
        self.lines: list[str] = []

    # -- which nodes, in what order --------------------------------------------------

    def _useful(self) -> list[str]:
        """Nodes that lead to an Output, in the graph's order (dead branches are dropped)."""
        outputs = [n.id for n in self.graph.nodes.values() if n.spec.role == "output"]
        keep = set(outputs)
        stack = list(outputs)
        while stack:
            for edge in self.graph.inputs_of(stack.pop()):
                if edge.source not in keep:
                    keep.add(edge.source)
                    stack.append(edge.source)
        return [node_id for node_id in self.graph.nodes if node_id in keep]

    def _order(self, useful: list[str]) -> list[str]:
        """A topological order that follows each chain to its end before starting the next
        branch (depth first), so the forward reads like code written by hand."""
        keep = set(useful)
        rank = {node_id: i for i, node_id in enumerate(useful)}
        waiting = {n: sum(e.source in keep for e in self.graph.inputs_of(n)) for n in useful}
        ready = [n for n in reversed(useful) if waiting[n] == 0]
        order: list[str] = []
        while ready:
            node_id = ready.pop()
            order.append(node_id)
            consumers = sorted(
                {e.target for e in self.graph.outputs_of(node_id) if e.target in keep},
                key=rank.__getitem__,
                reverse=True,
            )
            for target in consumers:
                waiting[target] -= sum(e.source == node_id for e in self.graph.inputs_of(target))
                if waiting[target] == 0:
                    ready.append(target)
        return order

    # -- assembling the file -----------------------------------------------------------

    def run(self) -> PythonCode:
        graph = self.graph
        useful = self._useful()
        order = self._order(useful)
        nodes = [graph.nodes[n] for n in order]
        params = {n.id: self._params(n) for n in nodes}

        helper_code: list[str] = []
        helpers: set[str] = set()
        for node in nodes:
            if node.spec.module_template(params[node.id]) is None:
                continue  # builds nothing (e.g. an Input that does not normalise): no helper class needed
            code = node.spec.support_code.strip("\n")
            if code and code not in helper_code:
                helper_code.append(code)
                helpers |= {c.name for c in ast.parse(code).body if isinstance(c, ast.ClassDef)}
        self._blocks = self._block_classes(nodes, helper_code, helpers)
        # Foreign modules are imported by their package: its name is taken at module level.
        foreign = sorted({params[n.id]["target"].split(":")[0] for n in nodes if n.type == "Foreign"})
        packages = {m.split(".")[0] for m in foreign}

        module_names = Namespace({*PYTHON_RESERVED, *helpers, *_MODULE_LEVEL, *packages})
        block_names: set[str] = set()
        if self._blocks is not None:  # block classes are named before the model's class
            self._blocks.build(module_names, helpers)
            block_names = set(self._blocks.classes)
        class_name = self._class_name(module_names)
        attrs = Namespace({*PYTHON_RESERVED, *MODULE_ATTRIBUTES})
        local_names = Namespace(
            {*PYTHON_RESERVED, *helpers, *_MODULE_LEVEL, *block_names, class_name, *packages}
        )

        input_nodes = [graph.nodes[n] for n in useful if graph.nodes[n].spec.role == "input"]
        inputs = tuple(self._model_input(n, local_names) for n in input_nodes)
        output_nodes = [graph.nodes[n] for n in useful if graph.nodes[n].spec.role == "output"]
        output_names = Namespace(PYTHON_RESERVED)
        outputs = tuple(output_names.create(n.name, "output") for n in output_nodes)

        self._header(graph, foreign)
        for code in helper_code:
            self.lines += ["", "", *code.splitlines()]
        if self._blocks is not None:
            self.lines += self._blocks.source_lines()
        self.lines += ["", "", f"class {class_name}(nn.Module):"]
        self._class_doc(graph, inputs, output_nodes, outputs)

        attr_of = self._init(nodes, params, attrs, helpers)
        var_of, line_of = self._forward(nodes, params, attr_of, inputs, local_names, output_nodes, outputs)
        self._example_inputs(inputs)
        self.lines += ["", "", *_SUMMARY.strip("\n").splitlines()]
        self.lines += [
            "",
            "",
            'if __name__ == "__main__":',
            f"    model = {class_name}().eval()",
            "    summary(model, example_inputs())",
        ]
        src = "\n".join(self.lines) + "\n"
        try:
            ast.parse(src)
        except SyntaxError as exc:  # a catalog template bug, never the user's input
            raise CodegenError(f"The generated code does not parse (line {exc.lineno}: {exc.msg}).") from None
        return PythonCode(
            src=src,
            class_name=class_name,
            inputs=inputs,
            output_ids=tuple(n.id for n in output_nodes),
            output_names=outputs,
            attr_of=attr_of,
            var_of=var_of,
            line_of=line_of,
            shape_of={n.id: self.shapes[n.id] for n in nodes},
            label_of={n.id: (n.type, n.name) for n in nodes},
            block_classes=dict(self._blocks.classes) if self._blocks is not None else {},
            class_of=dict(self._blocks.class_of) if self._blocks is not None else {},
        )

    def _block_classes(self, nodes: list[Node], helper_code: list[str], helpers: set[str]):
        """The classes of the blocks the model uses (None without blocks); the catalog
        helpers their layers need join ``helper_code``."""
        from nnstudio.compiler.block_codegen import BlockClasses
        from nnstudio.core.blocks import BLOCK_TYPE

        if not any(n.type == BLOCK_TYPE for n in nodes):
            return None
        blocks = BlockClasses(self.graph, self.shapes, nodes)
        blocks.collect()
        for code in blocks.support_code:
            if code not in helper_code:
                helper_code.append(code)
                helpers |= {c.name for c in ast.parse(code).body if isinstance(c, ast.ClassDef)}
        return blocks

    def _params(self, node: Node) -> dict[str, Any]:
        """The node's parameters, checked again: the graph's dict may have been edited directly."""
        try:
            return node.spec.complete_params(node.params)
        except ParamError as exc:
            raise CodegenError(f"{node.type} '{node.name}': {exc}") from None

    def _class_name(self, module_names: Namespace) -> str:
        wanted = self.requested_class_name or self.graph.name
        base = camel_case(wanted)
        if base in module_names:  # e.g. a graph named "Inception" that uses the Inception helper
            base += "Model"
        return module_names.claim(base)

    def _model_input(self, node: Node, local_names: Namespace) -> ModelInput:
        params = self._params(node)
        # Example token ids stay below the smallest limit of the layers that take them.
        readers = [self.graph.nodes[e.target] for e in self.graph.outputs_of(node.id)]
        high = min(
            (self._params(r)[r.spec.id_limit_param] for r in readers if r.spec.id_limit_param),
            default=2,
        )
        return ModelInput(
            node_id=node.id,
            name=local_names.create(node.name, "inputs"),
            shape=tuple(params["shape"]),
            dtype=params["dtype"],
            high=high if params["dtype"] == "int64" else 0,
        )

    def _header(self, graph: GraphModel, foreign: Sequence[str] = ()) -> None:
        title = _doc_lines(f"{graph.name}: a PyTorch model designed in nnstudio.")
        description = _doc_lines(graph.description)
        self.lines += ['"""' + title[0], *title[1:], ""]
        if description:
            self.lines += [*description, ""]
        self.lines += [
            f"{GENERATED_MARK}; needs only PyTorch. Shapes in the comments exclude the",
            "batch dimension. Run ``python model.py`` to build the model and check it on",
            "a random input.",
            '"""',
            "",
            "import torch",
            "from torch import nn",
        ]
        self.lines += [f"import {module}" for module in foreign if module not in ("torch", "torch.nn")]

    def _class_doc(
        self,
        graph: GraphModel,
        inputs: tuple[ModelInput, ...],
        output_nodes: list[Node],
        outputs: tuple[str, ...],
    ) -> None:
        title = _doc_lines(f"{graph.name}, designed in nnstudio.")
        doc = [f'    """{title[0]}', *(f"    {line}" for line in title[1:]), ""]
        for item in inputs:
            doc.append(f"    Input ``{item.name}``: {item.dtype} of shape (batch, {_dims(item.shape)}).")
        for node, name in zip(output_nodes, outputs, strict=True):
            doc.append(f"    Output ``{name}``: shape (batch, {_dims(self.shapes[node.id])}).")
        if len(outputs) > 1:
            doc.append("    ``forward`` returns the outputs as a tuple, in this order.")
        self.lines += [*doc, '    """']

    def _init(
        self, nodes: list[Node], params: Mapping[str, dict[str, Any]], attrs: Namespace, helpers: set[str]
    ) -> dict[str, str]:
        self.lines += ["", "    def __init__(self) -> None:", "        super().__init__()"]
        attr_of: dict[str, str] = {}
        for node in nodes:
            spec = node.spec
            if node.id in (self._blocks.class_of if self._blocks is not None else {}):
                attr = attrs.create(node.name, "block")
                func, args = self._blocks.instance_call(node)
                self.lines += _wrap_call(f"self.{attr} = ", func, args, "        ")
                attr_of[node.id] = attr
                continue
            template = spec.module_template(params[node.id])
            if template is None:
                continue
            # An Input's module prepares its raw samples: name it for what it does.
            attr = attrs.create(
                f"{node.name}_preprocess" if spec.role == "input" else node.name, spec.type.lower()
            )
            values = self._values(node, params[node.id])
            where = f"{node.type} '{node.name}'"
            allowed = helpers | ({values["target"]} if spec.type == "Foreign" else set())
            func, args = _constructor(template.format(**values), allowed, where, spec.torch_defaults)
            self.lines += _wrap_call(f"self.{attr} = ", func, args, "        ")
            attr_of[node.id] = attr
        return attr_of

    def _values(self, node: Node, params: dict[str, Any]) -> dict[str, str]:
        """Template values for one node: its parameters and the catalog's derived values."""
        spec = node.spec
        values = {name: _literal(spec, name, value) for name, value in params.items()}
        in_shapes = [self.shapes[e.source] for e in self.graph.inputs_of(node.id)]
        for name, value in spec.derive(params, in_shapes).items():
            values[name] = _derived_literal(spec, name, value)
        return values

    def _forward(
        self,
        nodes: list[Node],
        params: Mapping[str, dict[str, Any]],
        attr_of: Mapping[str, str],
        inputs: tuple[ModelInput, ...],
        local_names: Namespace,
        output_nodes: list[Node],
        outputs: tuple[str, ...],
    ) -> tuple[dict[str, str], dict[str, int]]:
        graph = self.graph
        keep = {n.id for n in nodes}
        var_of: dict[str, str] = {i.node_id: i.name for i in inputs}
        line_of: dict[str, int] = {}
        variables = _Variables(
            local_names, {n.id: sum(e.target in keep for e in graph.outputs_of(n.id)) for n in nodes}
        )

        args = ", ".join(f"{i.name}: torch.Tensor" for i in inputs)
        returns = (
            "torch.Tensor" if len(outputs) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(outputs))}]"
        )
        self.lines += ["", f"    def forward(self, {args}) -> {returns}:"]
        for node in nodes:
            spec = node.spec
            if spec.role == "input" and node.id in attr_of:
                # Raw samples in, prepared samples out, as the training data was prepared.
                out = variables.assign(node, [], avoid=set())
                self.lines.append(
                    f"        {out} = self.{attr_of[node.id]}({var_of[node.id]})  # {format_shape(self.shapes[node.id])}"
                )
                var_of[node.id] = out
                line_of[node.id] = len(self.lines)
                continue
            if spec.role:
                continue  # Inputs are arguments, Outputs are returned
            sources = [e.source for e in graph.inputs_of(node.id)]
            template = spec.forward_template(params[node.id])
            values = self._values(node, params[node.id])
            out, text = fill_forward(
                node, template, sources, var_of, variables, attr_of.get(node.id, ""), values
            )
            body = [f"        {line}" for line in text.splitlines()]
            body[-1] += f"  # {format_shape(self.shapes[node.id])}"
            self.lines += body
            var_of[node.id] = out
            line_of[node.id] = len(self.lines)

        returned = []
        for node in output_nodes:
            (edge,) = graph.inputs_of(node.id)
            var_of[node.id] = var_of[edge.source]
            returned.append(var_of[edge.source])
        shapes = ", ".join(
            f"{name} {format_shape(self.shapes[n.id])}" for name, n in zip(outputs, output_nodes, strict=True)
        )
        self.lines.append(f"        return {', '.join(returned)}  # {shapes}")
        return var_of, line_of

    def _example_inputs(self, inputs: tuple[ModelInput, ...]) -> None:
        makers = []
        for item in inputs:
            if item.dtype == "int64":
                makers.append(f"torch.randint(0, {item.high}, (batch_size, {_dims(item.shape)}))")
            else:
                makers.append(f"torch.randn(batch_size, {_dims(item.shape)})")
        described = ", ".join(f"{i.name} {format_shape(i.shape)}" for i in inputs)
        self.lines += [
            "",
            "",
            "def example_inputs(batch_size: int = 2) -> tuple[torch.Tensor, ...]:",
            f'    """A random batch shaped like the model\'s inputs: {described}."""',
        ]
        if len(makers) == 1:
            self.lines.append(f"    return ({makers[0]},)")
        else:
            self.lines += ["    return (", *(f"        {m}," for m in makers), "    )"]


class _Variables:
    """Decides which forward variable holds each node's output.

    A straight chain reuses one variable, ``x``, as code written by hand does.
    A value read more than once, or produced while ``x`` still holds a value
    that is needed later, gets a variable named after its node (as in torch.fx).
    """

    def __init__(self, names: Namespace, reads: dict[str, int]) -> None:
        self.names = names
        self.pending = dict(reads)  # reads still to come; Outputs read at the return
        self.chain = names.claim("x")
        self.in_chain: str | None = None  # the node whose value ``x`` holds now

    def assign(self, node: Node, sources: list[str], avoid: set[str]) -> str:
        for source in sources:
            self.pending[source] -= 1
        chain_free = self.in_chain is None or self.pending[self.in_chain] == 0
        if self.pending[node.id] == 1 and chain_free and self.chain not in avoid:
            self.in_chain = node.id
            return self.chain
        if self.in_chain is not None and self.pending[self.in_chain] == 0:
            self.in_chain = None
        return self.names.create(node.name, node.type.lower())


def fill_forward(
    node: Node,
    template: str,
    sources: list[str],
    var_of: Mapping[str, str],
    variables: _Variables,
    attr: str,
    values: Mapping[str, str],
) -> tuple[str, str]:
    """A node's forward template filled in: (the variable it assigns, the checked lines)."""
    # A template that reads its input again after assigning its output
    # must not write into the variable it is reading.
    rereads = any(k in line for line in template.splitlines()[1:] for k in ("{x}", "{inputs}", "{sum}"))
    out = variables.assign(node, sources, avoid={var_of[s] for s in sources} if rereads else set())
    in_vars = [var_of[s] for s in sources]
    text = template.format(
        out=out, x=in_vars[0], inputs=", ".join(in_vars), sum=" + ".join(in_vars), attr=attr, **values
    )
    _check_forward(text, {*var_of.values(), out, "self", "torch", "_"}, node)
    return out, text


def _dims(shape: Shape) -> str:
    return ", ".join(str(int(d)) for d in shape)


def _check_forward(text: str, allowed: set[str], node: Node) -> None:
    """Forward lines may only name this file's variables, ``self`` and ``torch``."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise CodegenError(
            f"{node.type} '{node.name}': its forward code does not parse ({exc.msg})."
        ) from None
    for item in ast.walk(tree):
        bad = (isinstance(item, ast.Name) and item.id not in allowed) or isinstance(
            item, ast.Import | ast.ImportFrom | ast.Lambda | ast.FunctionDef
        )
        if bad:
            raise CodegenError(f"{node.type} '{node.name}': its forward code uses something unexpected.")
