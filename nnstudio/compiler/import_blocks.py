"""Imported models keep their structure: classes used several times become blocks.

The importer first builds a flat graph (every layer at the top). Here each
custom ``nn.Module`` class used at least twice turns into a block definition,
innermost classes first: the nodes one instance computes become the body
(``blocks.group``), every other instance with the same wiring becomes an
instance node of that definition, and a parameter whose value differs between
instances becomes a declared block parameter (``$out_channels`` inside the
body). Consecutive identical instances in one ``nn.Sequential`` become one
instance with ``repeat``. Instances that are wired differently (a ResNet block
with a downsample and one without) get a definition each.

Every flat node's place is tracked through the regrouping, so each weight
goes to the state-dict key the generated module uses for it. The caller keeps
the flat graph if anything here fails.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from nnstudio.compiler.codegen import GENERATED_MARK
from nnstudio.core import blocks as core_blocks
from nnstudio.core.blocks import BLOCK_TYPE
from nnstudio.core.graph import GraphModel

Path = list[tuple[str, int]]  # (node id, copy) from the top-level node down to the layer's node


@dataclass
class _Instance:
    path: str  # module path, e.g. "layer1.0"
    members: list[str]  # node ids of the graph, in graph order


class BlockBuilder:
    """One use: regroups ``graph`` (edited in place) and tracks where each flat node went."""

    def __init__(self, graph: GraphModel, root: nn.Module, scope: Mapping[str, tuple[str, ...]]) -> None:
        self.graph = graph
        self.root = root
        self.scope = dict(scope)  # node id -> module paths whose forward computed it, outermost first
        self.place: dict[str, Path] = {node_id: [(node_id, 0)] for node_id in graph.nodes}
        self.notes: list[str] = []
        self.made: list[str] = []  # definitions created, in order
        self.replaced: dict[str, str] = {}  # a grouped instance's output node -> its instance node

    # -- the whole pass ------------------------------------------------------------------

    def run(self) -> None:
        for cls, paths in self._classes():
            self._make_blocks(cls, paths)
        self._repeats()

    def _classes(self) -> list[tuple[type, list[str]]]:
        """Custom classes with two or more instances that compute nodes, innermost first."""
        from nnstudio.compiler import import_rules as rules

        by_class: dict[type, list[str]] = {}
        for path, module in self.root.named_modules():
            if not path or rules.module_rule(module) is not None or rules.is_preprocess(module):
                continue
            if type(module).__module__.startswith("torch.nn") or isinstance(
                module, nn.Sequential | nn.ModuleList
            ):
                continue
            by_class.setdefault(type(module), []).append(path)
        found = [(cls, paths) for cls, paths in by_class.items() if len(paths) >= 2]
        return sorted(found, key=lambda item: -max(p.count(".") for p in item[1]))

    # -- one class -------------------------------------------------------------------------

    def _members(self, path: str) -> list[str]:
        return [n for n in self.graph.nodes if path in self.scope.get(n, ())]

    def _make_blocks(self, cls: type, paths: list[str]) -> None:
        instances = [_Instance(p, self._members(p)) for p in paths]
        instances = [i for i in instances if i.members]
        # A block's class is generated code: a foreign module (imported, not generated) stays outside.
        if any(self.graph.nodes[n].type == "Foreign" for i in instances for n in i.members):
            if any(self.graph.nodes[n].type != "Foreign" for i in instances for n in i.members):
                self.notes.append(f"{cls.__name__} stayed as separate layers: it holds a foreign module")
            return
        groups: dict[Any, list[_Instance]] = {}
        for instance in instances:
            groups.setdefault(self._signature(instance.members), []).append(instance)
        for same in groups.values():
            if len(same) >= 2:
                try:
                    self._define(cls.__name__, same)
                except core_blocks.BlockError as exc:
                    self.notes.append(f"{cls.__name__} stayed as separate layers: {str(exc).rstrip('.')}")

    def _signature(self, members: list[str]) -> Any:
        graph = self.graph
        index = {n: i for i, n in enumerate(members)}
        chosen = set(members)
        layers = []
        for node_id in members:
            node = graph.nodes[node_id]
            fixed = tuple(
                sorted(
                    (k, repr(v))
                    for k, v in node.params.items()
                    if k in ("block", "repeat") or node.spec.param(k).kind == "shape"
                )
            )
            layers.append((node.type, fixed))
        inner = sorted(
            (index[e.source], index[e.target], e.port)
            for e in graph.edges
            if e.source in chosen and e.target in chosen
        )
        entering = sorted(
            (index[e.target], e.port) for e in graph.edges if e.source not in chosen and e.target in chosen
        )
        leaving = sorted(
            {index[e.source] for e in graph.edges if e.source in chosen and e.target not in chosen}
        )
        return (tuple(layers), tuple(inner), tuple(entering), tuple(leaving))

    def _define(self, class_name: str, instances: list[_Instance]) -> None:
        graph = self.graph
        library = graph.blocks
        first = instances[0]
        counterpart = [dict(zip(i.members, first.members, strict=True)) for i in instances]
        params = self._declared(instances)
        # Every instance's wiring is read before the first one is grouped.
        plans = [self._plan(instance) for instance in instances]
        name = library.unique_name(self._block_name(class_name))
        edit = core_blocks.group(graph, first.members, name=name)
        definition = library.get(name)
        self.made.append(name)
        self._relative_names(definition.body, first.path)
        params = self._as_generated(definition, self.root.get_submodule(first.path), params, instances)
        declared = [entry for entry in params if entry[0] is not None]
        if declared:
            library.set_params(name, [param for param, _, _ in declared])
        for _, _, uses in params:
            for node_id, key, text in uses:
                definition.body.set_param(node_id, key, text)
        for index, (instance, plan) in enumerate(zip(instances, plans, strict=True)):
            if index == 0:
                node_id = edit.result
            else:
                node_id = self._replace(instance, plan, name)
            self.replaced[plan[2]] = node_id
            for param, values, _ in declared:
                graph.set_param(node_id, param.name, values[index])
            graph.rename(node_id, graph.free_name(instance.path.replace(".", "_")))
            for flat_id, path in self.place.items():
                if path[0][0] in counterpart[index]:
                    body_id = counterpart[index][path[0][0]]
                    self.place[flat_id] = [(node_id, 0), (body_id, path[0][1]), *path[1:]]
            # The instance node now stands where its members stood, in the modules around it.
            scope = self.scope.get(instance.members[0], ())
            self.scope[node_id] = scope[: scope.index(instance.path)] if instance.path in scope else ()
        for instance in instances:
            for member in instance.members:
                self.scope.pop(member, None)

    def _as_generated(
        self, definition: Any, module: nn.Module, params: list, instances: list[_Instance]
    ) -> list:
        """A class nnstudio generated from a block brings back its description, its declared
        parameters (names, defaults) and which layer settings are written with them."""
        cls = type(module)
        init = getattr(cls.__init__, "__code__", None)
        text = "".join(linecache.getlines(init.co_filename)) if init is not None else ""
        if GENERATED_MARK not in text:
            return params
        doc = inspect.getdoc(cls) or ""
        paragraphs = [" ".join(part.split()) for part in doc.split("\n\n") if part.strip()]
        described = [
            p for p in paragraphs if not p.startswith("Parameters:") and "designed in nnstudio" not in p
        ]
        if described:
            definition.description = described[0]
        try:
            signature = inspect.signature(cls.__init__).parameters
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
        except (TypeError, ValueError, OSError, SyntaxError):
            return params
        defaults = {
            name: p.default for name, p in signature.items() if p.default is not inspect.Parameter.empty
        }
        switched = self._switches(definition, tree, defaults, instances, cls.__init__.__globals__)
        written = self._written_with(
            definition.body, tree, set(defaults) | set(core_blocks.IMPLICIT), cls.__init__.__globals__
        )
        declared = []
        first = instances[0]
        for name, default in defaults.items():
            # A switched layer is an Identity in some instances: its settings are not read there.
            plain = [(n, k) for n, k, text in written if text == f"${name}" and n not in switched]
            if name in switched:
                values = switched[name]
                param = core_blocks.make_param({"name": name, "kind": "bool", "default": default})
            elif plain:
                node_id, key = plain[0]
                position = first.members.index(node_id)
                values = [
                    self.graph.nodes[i.members[position]].params[key]
                    if index
                    else definition.body.nodes[node_id].params[key]
                    for index, i in enumerate(instances)
                ]
                param = self._param_like(definition.body.nodes[node_id], key, name, default)
            else:
                values = [default] * len(instances)
                kind = {bool: "bool", int: "int", float: "float"}.get(type(default), "int")
                param = core_blocks.make_param({"name": name, "kind": kind, "default": default})
            uses = [(n, k, text) for n, k, text in written if re.search(rf"\${name}\b", text)]
            declared.append((param, values, uses))
        implicit = [
            (n, k, text)
            for n, k, text in written
            if not any(re.search(rf"\${name}\b", text) for name in defaults)
        ]
        if implicit:
            declared.append((None, [], implicit))
        return declared

    def _switches(
        self,
        definition: Any,
        tree: ast.AST,
        defaults: Mapping[str, Any],
        instances: list[_Instance],
        scope: Mapping[str, Any],
    ) -> dict[str, list[bool]]:
        """Layers a generated class builds only when a bool argument says so
        (``self.pre_norm1 = nn.LayerNorm(in_features) if norm_first else nn.Identity()``):
        the body's layer gets that condition as its 'enabled', and is the layer itself
        even where the first instance holds the Identity. Returns each such argument's
        value per instance, read off which of the two modules the instance holds."""
        from nnstudio.compiler import import_rules as rules
        from nnstudio.compiler.naming import snake_case

        body = definition.body
        by_attr = {snake_case(n.name): n for n in body.nodes.values()}
        found: dict[str, list[bool]] = {}
        for statement in ast.walk(tree):
            if not (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.IfExp)):
                continue
            target, choice = statement.targets[0], statement.value
            if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
                continue
            node = by_attr.get(target.attr)
            negated = isinstance(choice.test, ast.UnaryOp) and isinstance(choice.test.op, ast.Not)
            flag = choice.test.operand if negated else choice.test
            if (
                node is None
                or ast.unparse(choice.orelse) != "nn.Identity()"
                or not isinstance(choice.body, ast.Call)
                or not (isinstance(flag, ast.Name) and isinstance(defaults.get(flag.id), bool))
            ):
                continue
            try:
                held = [self.root.get_submodule(f"{i.path}.{target.attr}") for i in instances]
                values = [isinstance(m, nn.Identity) == negated for m in held]
                if found.get(flag.id, values) != values:
                    continue  # the instances do not say one value: leave the layers as they are
                live = next((m for m in held if not isinstance(m, nn.Identity)), None)
                if live is None:  # no instance holds it: build it as the class would
                    live = self._build_switched(choice.body, definition, defaults, scope)
                rule = rules.module_rule(live)
                mapped = rule(live) if rule is not None else None
            except Exception:  # the layer stays as the instance holds it
                continue
            if mapped is None or mapped.type in (BLOCK_TYPE, "Identity"):
                continue
            found[flag.id] = values
            self._become(body, node, mapped.type, mapped.params, f"{'not ' if negated else ''}${flag.id}")
        return found

    def _build_switched(
        self,
        call: ast.Call,
        definition: Any,
        defaults: Mapping[str, Any],
        scope: Mapping[str, Any],
    ) -> nn.Module:
        """The module ``call`` builds for the first instance: the class's arguments are its
        input sizes (``in_features``, ``in_channels``) and the declared defaults."""
        if len(definition.input_ports) != 1:
            raise ValueError("only a one-input class's size arguments are known")
        # The instance grouped first stands in the graph now: its input's shape sizes the class.
        node = next(
            n
            for n in self.graph.nodes.values()
            if n.type == BLOCK_TYPE and n.params["block"] == definition.name
        )
        (edge,) = self.graph.inputs_of(node.id)
        shape = self.graph.shapes()[edge.source]
        values = {**defaults, "in_channels": shape[0], "in_features": shape[-1]}
        expression = ast.Expression(call)
        ast.fix_missing_locations(expression)
        # The class's own constructor call, from the generated source being imported.
        return eval(compile(expression, "<generated block>", "eval"), dict(scope), values)

    @staticmethod
    def _become(body: GraphModel, node: Any, type_name: str, params: dict, enabled: str) -> None:
        """Replace a body node by one of another type, keeping its id, name, place and wires."""
        inputs = [(e.source, e.port) for e in body.inputs_of(node.id)]
        outputs = [(e.target, e.port) for e in body.outputs_of(node.id)]
        record = {"id": node.id, "type": type_name, "name": node.name, "position": node.position}
        order = list(body.nodes)
        body.remove(node.id)
        body.add_record({**record, "params": params, "enabled": enabled})
        for source, port in inputs:
            body.connect(source, node.id, port)
        for target, port in outputs:
            body.connect(node.id, target, port)
        body.reorder(order)

    def _written_with(
        self, body: GraphModel, tree: ast.AST, names: set[str], scope: Mapping[str, Any]
    ) -> list[tuple[str, str, str]]:
        """(node, setting, '$expression') for each layer argument the class writes with ``names``."""
        from nnstudio.compiler.naming import snake_case

        by_attr = {snake_case(n.name): n for n in body.nodes.values()}
        found = []
        for statement in ast.walk(tree):
            if not isinstance(statement, ast.Assign):
                continue
            call = statement.value
            if isinstance(call, ast.IfExp):  # a switched layer: what it builds when switched on
                call = call.body
            if not isinstance(call, ast.Call):
                continue
            target = statement.targets[0]
            if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
                continue
            node = by_attr.get(target.attr)
            if node is None:
                continue
            fields = self._fields(node, call, scope)
            pairs = [(fields[0][i] if i < len(fields[0]) else None, a) for i, a in enumerate(call.args)]
            pairs += [(fields[1].get(k.arg, k.arg), k.value) for k in call.keywords]
            for key, value in pairs:
                used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
                if key is None or key not in node.params or not used & names or used - names:
                    continue
                found.append((node.id, key, _with_dollars(value, names)))
        return found

    def _fields(
        self, node: Any, call: ast.Call, scope: Mapping[str, Any]
    ) -> tuple[list[str | None], dict[str, str]]:
        """Which setting each positional and keyword argument of the layer's constructor holds."""
        from nnstudio.core.layers import CATALOG

        if node.type == BLOCK_TYPE:  # a nested block's class: its arguments are its parameters
            cls = scope.get(ast.unparse(call.func))
            try:
                names = list(inspect.signature(cls.__init__).parameters)[1:]
            except (TypeError, ValueError, AttributeError):
                return [], {}
            return names, {n: n for n in names}
        template = CATALOG[node.type].module_template(node.params)
        if not template:
            return [], {}
        spec_call = ast.parse(re.sub(r"\{(\w+)\}", r"\1", template), mode="eval").body
        positional = [a.id if isinstance(a, ast.Name) else None for a in spec_call.args]
        keywords = {k.arg: k.value.id for k in spec_call.keywords if isinstance(k.value, ast.Name)}
        return positional, keywords

    @staticmethod
    def _relative_names(body: GraphModel, path: str) -> None:
        """Inside the block, layers are named as in the class: 'layer1_0_conv1' -> 'conv1', 'add_3' -> 'add'."""
        prefix = path.replace(".", "_") + "_"
        for node in list(body.nodes.values()):
            if node.type in (core_blocks.PORT_IN, core_blocks.PORT_OUT):
                continue
            wanted = (
                node.name[len(prefix) :] if node.name.startswith(prefix) else re.sub(r"_\d+$", "", node.name)
            )
            if wanted and wanted != node.name and wanted not in {n.name for n in body.nodes.values()}:
                body.rename(node.id, wanted)

    def _block_name(self, class_name: str) -> str:
        """The class's name, unless a layer type has it ('Inception' -> 'InceptionBlock',
        a class called 'Block' -> '<Model>Block')."""
        from nnstudio.core.layers import CATALOG

        if class_name == BLOCK_TYPE:
            return f"{type(self.root).__name__}Block"
        if class_name in CATALOG:
            return f"{class_name}Block"
        return class_name

    def _declared(self, instances: list[_Instance]) -> list[tuple[Any, list[Any], list[tuple[str, str]]]]:
        """Block parameters: one per distinct row of values that differ between instances."""
        graph = self.graph
        rows: dict[tuple, list[tuple[str, str]]] = {}
        first = instances[0]
        for position, node_id in enumerate(first.members):
            node = graph.nodes[node_id]
            for key in node.params:
                if key in ("block", "repeat"):
                    continue
                spec_param = node.spec.param(key) if node.type != BLOCK_TYPE else None
                if spec_param is not None and spec_param.kind == "shape":
                    continue
                values = tuple(graph.nodes[i.members[position]].params[key] for i in instances)
                if len(set(map(repr, values))) > 1:
                    rows.setdefault(values, []).append((node_id, key))
        declared = []
        taken: set[str] = set()
        # Named in the order of the layers' names, so a model imported again declares them alike.
        for values, uses in sorted(
            rows.items(), key=lambda row: sorted((graph.nodes[n].name, k) for n, k in row[1])
        ):
            node_id, key = uses[0]
            node = graph.nodes[node_id]
            base = key if key not in core_blocks._RESERVED_PARAMS else f"{key}_value"
            name, index = base, 2
            while name in taken:
                name, index = f"{base}_{index}", index + 1
            taken.add(name)
            texts = [(n, k, f"${name}") for n, k in uses]
            declared.append((self._param_like(node, key, name, values[0]), list(values), texts))
        return declared

    def _param_like(self, node: Any, key: str, name: str, default: Any) -> Any:
        from dataclasses import replace

        if node.type == BLOCK_TYPE:
            inner = self.graph.blocks.get(node.params["block"])
            source = next(p for p in inner.params if p.name == key)
        else:
            source = node.spec.param(key)
        return replace(source, name=name, default=default)

    def _plan(self, instance: _Instance) -> tuple[list[str], list[tuple[str, int]], str]:
        """Where an instance's inputs come from, where its output goes and which member
        computes that output, read before any editing."""
        chosen = set(instance.members)
        edges = self.graph.edges
        order = {n: i for i, n in enumerate(instance.members)}
        entering = sorted(
            (e for e in edges if e.source not in chosen and e.target in chosen),
            key=lambda e: (order[e.target], e.port),
        )
        sources = list(dict.fromkeys(e.source for e in entering))
        leaving = [(e.target, e.port) for e in edges if e.source in chosen and e.target not in chosen]
        outputs = list(
            dict.fromkeys(e.source for e in edges if e.source in chosen and e.target not in chosen)
        )
        if len(outputs) != 1:
            raise core_blocks.BlockError(f"'{instance.path}' does not have exactly one output")
        return sources, leaving, outputs[0]

    def _replace(
        self, instance: _Instance, plan: tuple[list[str], list[tuple[str, int]], str], name: str
    ) -> str:
        graph = self.graph
        sources, leaving, _ = plan
        sources = [self.replaced.get(s, s) for s in sources]  # an earlier instance may feed this one
        xs = [graph.nodes[n].position[0] for n in instance.members]
        ys = [graph.nodes[n].position[1] for n in instance.members]
        for member in instance.members:
            graph.remove(member)
        node_id = graph.add(
            BLOCK_TYPE,
            name=graph.free_name(name.lower()),
            position=(sum(xs) / len(xs), sum(ys) / len(ys)),
            block=name,
        )
        for port, source in enumerate(sources):
            graph.connect(source, node_id, port)
        for target, port in leaving:
            graph.connect(node_id, target, port)
        return node_id

    # -- repeats -----------------------------------------------------------------------------

    def _repeats(self) -> None:
        """Consecutive identical instances inside one nn.Sequential become one repeated instance."""
        graph = self.graph
        by_name = {n.name: n.id for n in graph.nodes.values() if n.type == BLOCK_TYPE}
        for path, module in self.root.named_modules():
            if not isinstance(module, nn.Sequential):
                continue
            prefix = f"{path}_" if path else ""
            chain = [
                by_name.get(f"{prefix}{child}".replace(".", "_")) for child, _ in module.named_children()
            ]
            run: list[str] = []
            for node_id in [*chain, None]:
                if node_id is not None and run and self._continues(run[-1], node_id):
                    run.append(node_id)
                    continue
                if len(run) >= 2:
                    self._merge(run)
                    if len(run) == len(module) and path:  # the whole Sequential: name it so
                        self.graph.rename(run[0], self.graph.free_name(path.replace(".", "_")))
                run = [node_id] if node_id is not None else []

    def _continues(self, previous: str, node_id: str) -> bool:
        graph = self.graph
        a, b = graph.nodes[previous], graph.nodes[node_id]
        if a.params != b.params or a.params.get("repeat", 1) != 1:
            return False
        feeds = graph.outputs_of(previous)
        return [e.target for e in feeds] == [node_id] and [e.source for e in graph.inputs_of(node_id)] == [
            previous
        ]

    def _merge(self, run: list[str]) -> None:
        graph = self.graph
        first, last = run[0], run[-1]
        leaving = [(e.target, e.port) for e in graph.outputs_of(last)]
        for copy, node_id in enumerate(run):
            for flat_id, path in self.place.items():
                if path[0][0] == node_id:
                    self.place[flat_id] = [(first, copy), *path[1:]]
        for node_id in run[1:]:
            graph.remove(node_id)
        for target, port in leaving:
            graph.connect(first, target, port)
        graph.set_param(first, "repeat", len(run))


def state_prefix(code: Any, graph: GraphModel, path: Sequence[tuple[str, int]]) -> str:
    """The state-dict prefix of the layer at ``path`` in the module generated from ``graph``."""
    top, copy = path[0]
    parts = [code.attr_of[top]]
    if len(path) == 1:
        return parts[0]
    classes = code.class_of[top]
    if len(classes) > 1:
        parts.append(str(copy))
    cls = code.block_classes[classes[copy]]
    for node_id, inner_copy in path[1:-1]:
        parts.append(cls.attr_of[node_id])
        inner = cls.class_of[node_id]
        if len(inner) > 1:
            parts.append(str(inner_copy))
        cls = code.block_classes[inner[inner_copy]]
    parts.append(cls.attr_of[path[-1][0]])
    return ".".join(parts)


def scopes(entries: Iterable[tuple[str, Any]]) -> dict[str, tuple[str, ...]]:
    """node id -> module paths from fx's ``nn_module_stack`` metadata, outermost first."""
    found = {}
    for node_id, stack in entries:
        found[node_id] = tuple(
            value[0] if isinstance(value, tuple) else key for key, value in (stack or {}).items()
        )
    return found


def _with_dollars(value: ast.expr, names: set[str]) -> str:
    """``width * 4`` as a block expression: ``$width * 4``."""
    text = ast.unparse(value)
    return re.sub(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b", r"$\1", text)
