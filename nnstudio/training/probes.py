"""Looking inside a model: filters, feature maps, layer statistics, predictions.

The GUI calls these from its training thread (through ``Trainer.submit``, so
they run between two steps and see consistent weights) and sends the NumPy
results to the main thread. Each function leaves the model as it found it:
training mode restored, no hooks or trace functions left behind, no
gradients recorded.

Nodes are named by their graph id. A model built by nnstudio's compiler
carries ``nnstudio_code``, whose ``attr_of`` maps nodes to submodules and
whose ``var_of``/``line_of`` say where in ``forward`` each node's value is
computed; that lets ``node_outputs`` read the value of *any* node, including
those without a submodule (Add, Concat, Reshape). For a hand-written module,
its direct children stand in for nodes, keyed by attribute name.

Layers inside block instances are named by instance path (``layer2.0/conv1``,
as diagnostics name them). ``inner_layers`` finds their submodules from the
graph and the generated classes; the functions that take ``inner`` read those
layers with forward hooks. Inner nodes without a module of their own (an Add
inside a residual block) are not watched: the layer after them shows their
effect, and the instance's own value is the block's output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from nnstudio.compiler.build import trace_node_values
from nnstudio.core.instance_paths import copy_paths, join
from nnstudio.training.errors import InspectError
from nnstudio.training.events import LayerStat

if TYPE_CHECKING:
    from nnstudio.core.graph import GraphModel
    from nnstudio.training.data import TrainingData

_DEAD_TYPES = (nn.ReLU, nn.ReLU6)
_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


# --- nodes and their modules ----------------------------------------------------------------


def node_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The submodule implementing each node (nodes without one are absent)."""
    code = getattr(model, "nnstudio_code", None)
    if code is not None:
        return {node_id: getattr(model, attr) for node_id, attr in code.attr_of.items()}
    return dict(model.named_children())


@dataclass(frozen=True)
class InnerLayer:
    """A layer inside a block instance: its submodule in the trained model."""

    module: nn.Module
    type: str  # the catalog's layer type, "Conv2d"
    instance: str  # the node id of the top-level instance it belongs to


Inner = Mapping[str, InnerLayer]  # instance path -> layer


def inner_layers(model: nn.Module, graph: GraphModel) -> dict[str, InnerLayer]:
    """Every layer with a module inside the block instances of ``model``, compiled from
    ``graph``, by instance path, in forward order (empty for a model without blocks)."""
    code = getattr(model, "nnstudio_code", None)
    if code is None or not code.class_of:
        return {}
    layers: dict[str, InnerLayer] = {}

    def add_copies(holder: nn.Module, classes: Sequence[str], path: str, instance: str) -> None:
        copies = list(holder) if len(classes) > 1 else [holder]  # a repeat is an nn.Sequential
        for prefix, module, class_name in zip(copy_paths(path, len(classes)), copies, classes, strict=True):
            cls = code.block_classes[class_name]
            body = graph.blocks.get(cls.definition).body
            for node_id, attr in cls.attr_of.items():
                node = body.nodes[node_id]
                inner_path = join(prefix, node.name)
                if node_id in cls.class_of:  # a block inside the block
                    add_copies(getattr(module, attr), cls.class_of[node_id], inner_path, instance)
                else:
                    layers[inner_path] = InnerLayer(getattr(module, attr), node.type, instance)

    for node_id in sorted(code.class_of, key=lambda n: code.line_of.get(n, 0)):
        add_copies(
            getattr(model, code.attr_of[node_id]), code.class_of[node_id], code.label_of[node_id][1], node_id
        )
    return layers


def node_label(model: nn.Module, node_id: str, inner: Inner | None = None) -> str:
    """ "Conv2d 'conv1'" (or "Conv2d 'layer2.0/conv1'" inside a block) for messages."""
    if inner and node_id in inner:
        return f"{inner[node_id].type} '{node_id}'"
    code = getattr(model, "nnstudio_code", None)
    if code is not None and node_id in code.label_of:
        layer, name = code.label_of[node_id]
        return f"{layer} '{name}'"
    return f"'{node_id}'"


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no gradients for the duration; the previous mode comes back after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def node_outputs(model: nn.Module, inputs: torch.Tensor, node_ids: Iterable[str]) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``inputs`` (a batch) and return the outputs of ``node_ids``.

    Call it inside ``evaluating`` (or another no-grad context). For a
    hand-written model, a child module returning a tuple (a recurrent layer)
    gives its first element.
    """
    wanted = list(node_ids)
    code = getattr(model, "nnstudio_code", None)
    if code is None:
        return _hooked_outputs(model, inputs, wanted)
    # An Output's value is its source's; an Input's value is the model's input.
    source = {n: (output_source(code, n) if n in code.output_ids else n) for n in wanted}
    for node_id, src in source.items():
        if src not in code.line_of and src not in code.input_ids:
            raise InspectError(f"The node '{node_id}' is not part of the trained model.")
    values = trace_node_values(model, code, (inputs,), [s for s in source.values() if s in code.line_of])
    for src in code.input_ids:
        values[src] = inputs
    return {n: values[src] for n, src in source.items() if src in values}


def output_source(code: Any, output_id: str) -> str:
    """The node whose value an Output returns: the last one assigned to its variable."""
    var = code.var_of[output_id]
    writers = [n for n, line in code.line_of.items() if code.var_of[n] == var]
    if writers:
        return max(writers, key=code.line_of.__getitem__)
    return next(n for n in code.input_ids if code.var_of[n] == var)


def _hooked_outputs(model: nn.Module, inputs: torch.Tensor, node_ids: list[str]):
    modules = node_modules(model)
    missing = [n for n in node_ids if n not in modules]
    if missing:
        raise InspectError(f"The model has no layer named '{missing[0]}'.")
    return _hooked_values(model, inputs, {n: modules[n] for n in node_ids}, _as_is)


def _hooked_values(
    model: nn.Module, inputs: torch.Tensor, modules: Mapping[str, nn.Module], keep: Any, run: Any = None
) -> dict[str, Any]:
    """``keep(key, output)`` of each of ``modules`` (by key) when ``run()`` (default: the model
    on ``inputs``) calls it; a module called twice keeps its first call's."""
    values: dict[str, Any] = {}

    def hook_for(key: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            output = output[0] if isinstance(output, tuple) else output
            if key not in values and isinstance(output, torch.Tensor):
                values[key] = keep(key, output)

        return hook

    handles = [module.register_forward_hook(hook_for(key)) for key, module in modules.items()]
    try:
        run() if run is not None else model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return values


def _as_is(_key: str, value: torch.Tensor) -> torch.Tensor:
    return value


# --- filters and feature maps -------------------------------------------------------------------


def conv_kernels(model: nn.Module, node_id: str, inner: Inner | None = None) -> np.ndarray:
    """The filters of a convolution node as float32 (out, in, k, k) (or (out, in, k) for
    Conv1d), scaled for display: each filter maps to 0..1 with 0.5 meaning zero weight,
    so the sign of every weight stays visible."""
    module = inner[node_id].module if inner and node_id in inner else node_modules(model).get(node_id)
    if not isinstance(module, _CONV_TYPES):
        raise InspectError(
            f"{node_label(model, node_id, inner)} is not a convolution, so it has no filters to show."
        )
    weight = module.weight.detach().float()
    if isinstance(module, nn.ConvTranspose2d):
        weight = weight.transpose(0, 1)  # stored (in, out, k, k)
    flat = weight.reshape(weight.shape[0], -1)
    peak = flat.abs().amax(dim=1).clamp_min(1e-12).reshape(-1, *([1] * (weight.dim() - 1)))
    return (0.5 + 0.5 * weight / peak).cpu().numpy().astype(np.float32)


def conv_nodes(model: nn.Module, inner: Inner | None = None) -> list[str]:
    """The ids of the convolution nodes in forward order; with ``inner``, the convolutions
    inside each block instance (by path) where the instance is."""
    code = getattr(model, "nnstudio_code", None)
    modules = node_modules(model)
    order = sorted(code.line_of, key=code.line_of.get) if code is not None else list(modules)
    found = []
    for node_id in order:
        if isinstance(modules.get(node_id), _CONV_TYPES):
            found.append(node_id)
        for path, layer in (inner or {}).items():
            if layer.instance == node_id and isinstance(layer.module, _CONV_TYPES):
                found.append(path)
    return found


def first_conv(model: nn.Module) -> str | None:
    """The id of the first convolution node in forward order, if any."""
    return next(iter(conv_nodes(model)), None)


def first_layer_filters(model: nn.Module) -> tuple[str, np.ndarray] | None:
    """(node id, kernels) of the first convolution, for the filter view; None without one."""
    node_id = first_conv(model)
    return None if node_id is None else (node_id, conv_kernels(model, node_id))


def feature_maps(
    model: nn.Module,
    node_id: str,
    sample: torch.Tensor | np.ndarray,
    max_maps: int = 64,
    inner: Inner | None = None,
) -> np.ndarray:
    """The output of ``node_id`` for one sample (batch dimension removed) as float32.

    ``sample`` is one input as the model takes it (already normalised, as the
    samples of ``TrainingData`` are). Image-like outputs keep at most
    ``max_maps`` channels: the view shows a grid, not hundreds of maps.
    A path (``layer2.0/conv1``) names a layer of ``inner``.
    """
    device = model_device(model)
    x = torch.as_tensor(sample).to(device).unsqueeze(0)
    if "/" in node_id and not (inner and node_id in inner):
        raise InspectError(
            f"'{node_id}' has no layer of its own inside its block (an Add or a similar operation), "
            "so there is nothing to watch there; pick the layer after it to see its effect."
        )
    with evaluating(model):
        if inner and node_id in inner:
            module = {node_id: inner[node_id].module}
            value = _hooked_values(model, x, module, lambda _key, v: v.clone()).get(node_id)
        else:
            value = node_outputs(model, x, [node_id]).get(node_id)
    if not isinstance(value, torch.Tensor):
        raise InspectError(f"{node_label(model, node_id, inner)} did not compute a tensor.")
    out = value[0].detach().float()
    if out.dim() >= 2 and out.shape[0] > max_maps:
        out = out[:max_maps]
    return out.cpu().numpy()


# --- layer statistics ---------------------------------------------------------------------------------


def layer_statistics(
    model: nn.Module, probe: torch.Tensor, inner: Inner | None = None
) -> dict[str, LayerStat]:
    """Mean and spread of every node's output on ``probe`` (a batch on the model's device),
    the gradient norm of its parameters from the last backward pass, and for ReLUs
    the share of units that stay zero for every probe sample ("dead"). With ``inner``,
    the layers inside block instances too, keyed by path (``layer2.0/relu``).

    One forward pass in eval mode without gradients, and one read-back of all
    numbers together: cheap enough to run every few dozen steps.
    """
    modules = node_modules(model)
    code = getattr(model, "nnstudio_code", None)
    # Inputs are data, not layers: their preparation has no health to show.
    node_ids = [n for n in code.line_of if n not in code.input_ids] if code is not None else list(modules)
    nan = torch.tensor(float("nan"), device=probe.device)
    inner = inner or {}

    def summarise(key: str, value: torch.Tensor) -> torch.Tensor | None:
        """(mean, std, dead) of an output, computed at once: inner outputs are not kept."""
        if not value.is_floating_point():
            return None
        value = value.detach().float()
        module = inner[key].module if key in inner else modules.get(key)
        dead = _dead_fraction(value) if isinstance(module, _DEAD_TYPES) else nan
        if value.numel() < 2:
            return torch.stack([value.mean(), nan, dead])
        std, mean = torch.std_mean(value)  # one pass over a large activation, not two
        return torch.stack([mean, std, dead])

    outputs: dict[str, torch.Tensor] = {}
    with evaluating(model):
        inner_rows = _hooked_values(
            model,
            probe,
            {path: layer.module for path, layer in inner.items()},
            summarise,
            run=lambda: outputs.update(node_outputs(model, probe, node_ids)),
        )
    summaries = {n: summarise(n, outputs[n]) for n in node_ids if n in outputs}
    summaries.update(inner_rows)
    rows: list[torch.Tensor] = []
    keys: list[str] = []
    for key, summary in summaries.items():
        if summary is None:
            continue
        module = inner[key].module if key in inner else modules.get(key)
        grads = [
            p.grad.detach().float().norm()
            for p in (module.parameters() if module else ())
            if p.grad is not None
        ]
        grad_norm = torch.stack(grads).norm().to(probe.device) if grads else nan
        mean, std, dead = summary
        rows.append(torch.stack([mean, std, grad_norm, dead]))
        keys.append(key)
    if not rows:
        return {}
    table = torch.stack(rows).cpu().tolist()  # the only read-back
    return {k: LayerStat(*row) for k, row in zip(keys, table, strict=True)}


def _dead_fraction(value: torch.Tensor) -> torch.Tensor:
    """Share of units that are zero for every probe sample. A unit is a channel of an
    image (batch, channels, height, width) and one value of anything else."""
    active = value > 0
    if value.dim() == 4:
        alive = active.transpose(0, 1).reshape(value.shape[1], -1).any(dim=1)
    else:
        alive = active.reshape(value.shape[0], -1).any(dim=0)
    return 1.0 - alive.float().mean()


# --- predictions for the views ------------------------------------------------------------------------


@dataclass(frozen=True)
class GridPrediction:
    """Predictions over a 2-D grid, for decision-boundary plots of 2-D data sets."""

    xs: np.ndarray  # (resolution,) first input feature, in the data's own units
    ys: np.ndarray  # (resolution,) second input feature
    classes: np.ndarray  # (resolution, resolution) int64, indexed [y, x]
    confidence: np.ndarray  # (resolution, resolution) float32: probability of that class
    # node id -> (units, resolution, resolution) float32: what each unit of the node computes
    # at each grid point (a channel's mean where a unit has more than one value)
    units: dict[str, np.ndarray] = field(default_factory=dict)
    unit_counts: dict[str, int] = field(default_factory=dict)  # node id -> its units, all of them


def predict_grid(
    model: nn.Module,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    resolution: int = 100,
    node_ids: Sequence[str] = (),
    max_units: int = 64,
) -> GridPrediction:
    """Classify every point of a ``resolution`` x ``resolution`` grid spanning the ranges
    (in the data's raw units: the model scales its inputs itself). The model must take 2 features.

    With ``node_ids``, the same forward pass also records what the first ``max_units``
    units of each of those nodes compute over the plane (the neuron thumbnails)."""
    xs = np.linspace(*x_range, resolution, dtype=np.float32)
    ys = np.linspace(*y_range, resolution, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    points = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
    values: dict[str, torch.Tensor] = {}
    with evaluating(model):
        points = points.to(model_device(model))
        if node_ids:
            values, output = _values_and_output(model, points, list(node_ids))
        else:
            output = model(points)
        logits = _first(output).float()
    if logits.dim() != 2:
        raise InspectError("A decision boundary needs a model that outputs one score per class.")
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        classes, confidence = (p > 0.5).long(), torch.where(p > 0.5, p, 1 - p)
    else:
        probs = torch.softmax(logits, dim=1)
        confidence, classes = probs.max(dim=1)
    shape = (resolution, resolution)
    units = {n: _unit_maps(v, resolution, max_units) for n, v in values.items() if v.is_floating_point()}
    return GridPrediction(
        xs,
        ys,
        classes.cpu().numpy().reshape(shape),
        confidence.cpu().numpy().astype(np.float32).reshape(shape),
        {n: maps for n, (maps, _count) in units.items()},
        {n: count for n, (_maps, count) in units.items()},
    )


def _values_and_output(model: nn.Module, inputs: torch.Tensor, node_ids: list[str]):
    """The values of ``node_ids`` and the model's output, from one forward pass.

    Forward hooks when every node has a submodule (a tenth of the cost of the
    line tracer on a small network, which matters at several passes a second);
    the tracer otherwise."""
    modules = node_modules(model)
    if all(n in modules for n in node_ids) and len({id(modules[n]) for n in node_ids}) == len(node_ids):
        outputs: list[Any] = []
        values = _hooked_values(
            model,
            inputs,
            {n: modules[n] for n in node_ids},
            _as_is,
            run=lambda: outputs.append(model(inputs)),
        )
        return values, outputs[0]
    code = getattr(model, "nnstudio_code", None)
    if code is None or not code.output_ids:
        return {}, model(inputs)
    found = node_outputs(model, inputs, [*node_ids, code.output_ids[0]])
    output = found.pop(code.output_ids[0], None)
    if output is None:
        output = model(inputs)
    return {n: v for n, v in found.items() if n in node_ids}, output


def _unit_maps(value: torch.Tensor, resolution: int, max_units: int) -> tuple[np.ndarray, int]:
    """(points, units, ...) -> the first ``max_units`` as (units, resolution, resolution), and how
    many units there are: a unit with several values (a channel of a sequence or an image)
    shows their mean."""
    value = value.detach()
    if value.dim() == 1:
        value = value[:, None]
    count = value.shape[1]
    value = value[:, :max_units].float()
    if value.dim() > 2:
        value = value.flatten(2).mean(dim=2)
    return value.T.reshape(-1, resolution, resolution).cpu().numpy().astype(np.float32), count


@dataclass(frozen=True)
class Confusion:
    """How the validation samples were classified."""

    matrix: np.ndarray  # (classes, classes) int64: rows are true classes, columns predictions
    predicted: np.ndarray  # (samples,) int64
    misclassified: np.ndarray  # indices into the validation set, in order

    @property
    def accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")


def confusion(model: nn.Module, data: TrainingData, batch_size: int = 512) -> Confusion:
    """Classify the whole validation set of a classification task."""
    if data.task != "classification" or not data.num_classes:
        raise InspectError(f"A confusion matrix needs classes, but {data.name} is a {data.task} task.")
    device = model_device(model)
    loader = torch.utils.data.DataLoader(data.val, batch_size=batch_size, shuffle=False)
    predicted, truth = [], []
    with evaluating(model):
        for xb, yb in loader:
            out = _first(model(xb.to(device))).float()
            predicted.append(out[:, 0].gt(0).long() if out.shape[1] == 1 else out.argmax(dim=1))
            truth.append(yb.to(device).long().reshape(-1))
    pred, true = torch.cat(predicted), torch.cat(truth)
    k = data.num_classes
    matrix = torch.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    wrong = torch.nonzero(pred != true).flatten()
    return Confusion(matrix.cpu().numpy(), pred.cpu().numpy(), wrong.cpu().numpy())


def _first(output: Any) -> torch.Tensor:
    """The first Output of a model that may return several."""
    return output[0] if isinstance(output, tuple | list) else output
