"""The layer catalog: one LayerSpec per layer type.

The catalog is the single source of truth for the palette, the inspector, the
validator and the code generator. Shape rules, parameter counts and
multiply-add counts are plain Python arithmetic, so validation never needs
torch. Shapes exclude the batch dimension; input channels and features are
inferred from the incoming shape, never typed by the user.

Code templates are ``str.format`` strings filled by the compiler with
validated literals:

- ``module``: the expression that builds the layer in ``__init__``; it may use
  the node's parameters and the values returned by the spec's ``derive``.
- ``forward``: one or more lines computing ``{out}`` from ``{x}`` (the first
  input), ``{inputs}`` (all inputs, comma separated) or ``{sum}`` (all inputs
  joined by ``+``); ``self.{attr}`` is the module built in ``__init__``.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nnstudio.core.errors import ParamError, ShapeError, UnknownLayerError

Shape = tuple[int, ...]
Params = Mapping[str, Any]

CATEGORIES = (
    "Input/Output",
    "Dense",
    "Convolution",
    "Pooling",
    "Activation",
    "Recurrent",
    "Attention",
    "Composite",
    "Merge",
    "Tensor",
)


@dataclass(frozen=True)
class Param:
    """One user-editable parameter: its type, default and allowed values."""

    name: str
    kind: str  # "int", "float", "bool", "choice", "shape", "import_path" or "json_args"
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    doc: str = ""

    def coerce(self, value: Any) -> Any:
        """Return ``value`` as this parameter's type, or raise ParamError."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(f"'{self.name}' must be true or false, not {value!r}.")
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParamError(f"'{self.name}' must be a whole number, not {value!r}.")
            if isinstance(value, float) and not value.is_integer():
                raise ParamError(f"'{self.name}' must be a whole number, not {value!r}.")
            return self._check_range(int(value))
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParamError(f"'{self.name}' must be a number, not {value!r}.")
            if not math.isfinite(value):
                raise ParamError(f"'{self.name}' must be a finite number, not {value!r}.")
            return self._check_range(float(value))
        if self.kind == "choice":
            if value not in self.choices:
                allowed = ", ".join(repr(c) for c in self.choices)
                raise ParamError(f"'{self.name}' must be one of {allowed}, not {value!r}.")
            return value
        if self.kind == "shape":
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise ParamError(f"'{self.name}' must be a list of sizes like [1, 28, 28].")
            dims = []
            for dim in value:
                if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 1_000_000:
                    raise ParamError(
                        f"'{self.name}' must hold whole numbers from 1 to 1000000, not {list(value)!r}."
                    )
                dims.append(dim)
            if not 1 <= len(dims) <= 4:
                raise ParamError(f"'{self.name}' must have 1 to 4 sizes, not {len(dims)}.")
            return tuple(dims)
        if self.kind == "import_path":
            return check_import_path(self.name, value)
        if self.kind == "json_args":
            return check_json_args(self.name, value)
        raise AssertionError(f"unknown parameter kind {self.kind!r}")

    def _check_range(self, value: float) -> Any:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"'{self.name}' must be at least {self.minimum:g}, not {shown}.")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"'{self.name}' must be at most {self.maximum:g}, not {shown}.")
        return value


# A foreign module's class, as ``package.module:ClassName``: identifiers only, so the
# generated ``import package.module`` can never be anything else. Modules that run
# commands or load code are refused outright; the class name must look like a class.
_IMPORT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Z][A-Za-z0-9_]*")
_REFUSED_MODULES = frozenset(
    {
        "__main__",
        "builtins",
        "os",
        "sys",
        "subprocess",
        "shutil",
        "importlib",
        "ctypes",
        "pickle",
        "marshal",
        "runpy",
        "code",
        "codeop",
        "pty",
        "multiprocessing",
        "socket",
        "webbrowser",
        "pathlib",
        "io",
        "tempfile",
        "signal",
        "threading",
        "asyncio",
    }
)
_JSON_DEPTH = 4
_JSON_ITEMS = 256


def check_import_path(name: str, value: Any) -> str:
    """``value`` as a safe ``package.module:ClassName``, or ParamError saying why."""
    if not isinstance(value, str) or not _IMPORT_PATH.fullmatch(value):
        raise ParamError(
            f"'{name}' must be a class's import path like 'package.module:ClassName' "
            f"(letters, digits and underscores only), not {value!r}."
        )
    module, cls = value.split(":")
    parts = module.split(".")
    if any(keyword.iskeyword(p) or p.startswith("__") for p in [*parts, cls]):
        raise ParamError(f"'{name}' must not use Python keywords or dunder names, not {value!r}.")
    if parts[0] in _REFUSED_MODULES:
        raise ParamError(f"'{name}' names a class of '{parts[0]}', which is not a model module: {value!r}.")
    return value


def check_json_args(name: str, value: Any) -> tuple[Any, ...]:
    """``value`` as a tuple of plain data (numbers, text, true/false, null and lists of
    them), copied; ParamError for anything else, dicts and code included."""

    def plain(item: Any, depth: int) -> Any:
        if item is None or isinstance(item, bool | int | str):
            return item
        if isinstance(item, float) and math.isfinite(item):
            return item
        if isinstance(item, list | tuple) and depth < _JSON_DEPTH and len(item) <= _JSON_ITEMS:
            return [plain(i, depth + 1) for i in item]
        raise ParamError(
            f"'{name}' must hold only numbers, text, true/false, null and lists of them, not {item!r}."
        )

    if not isinstance(value, list | tuple):
        raise ParamError(f"'{name}' must be a list of constructor arguments, not {value!r}.")
    return tuple(plain(value, 0))


def _zero(*_: Any) -> int:
    return 0


def _no_derived(params: Params, shapes: Sequence[Shape]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class LayerSpec:
    """Everything nnstudio knows about one layer type."""

    type: str
    category: str
    description: str
    params: tuple[Param, ...]
    infer: Callable[[Params, Sequence[Shape]], Shape]
    forward: str | Callable[[Params], str]
    module: str | Callable[[Params], str | None] | None = None  # None: nothing to build
    count_params: Callable[[Params, Sequence[Shape]], int] = _zero
    count_macs: Callable[[Params, Sequence[Shape], Shape], int] = _zero
    derive: Callable[[Params, Sequence[Shape]], dict[str, Any]] = _no_derived
    min_inputs: int = 1
    max_inputs: int | None = 1  # None: any number of inputs
    has_output: bool = True
    key_params: tuple[str, ...] = ()
    support_code: str = ""  # helper classes the generated file must contain
    role: str = ""  # "input" or "output" for the model's boundary nodes
    # Reads token ids (int64) straight from an Input, like Embedding; every other layer is
    # refused after an int64 Input. ``id_limit_param`` names the parameter the ids stay below
    # (example inputs are drawn under it); empty when the layer has none.
    takes_token_ids: bool = False
    id_limit_param: str = ""
    # What the training views can show of this layer: its learned filters (convolutions),
    # and its activations as feature maps.
    shows_filters: bool = False
    has_feature_maps: bool = False
    # Keyword arguments of the ``module`` constructor at PyTorch's own defaults: the
    # compiler leaves them out, as a person would write the call. tests/compiler checks
    # every entry against the installed torch.
    torch_defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParamError(f"{self.type} has no parameter '{name}'.")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def complete_params(self, given: Params) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each value checked; raises ParamError."""
        unknown = set(given) - {p.name for p in self.params}
        if unknown:
            known = ", ".join(p.name for p in self.params) or "none"
            raise ParamError(
                f"{self.type} has no parameter '{sorted(unknown)[0]}' (its parameters: {known})."
            )
        values = self.defaults()
        for name, value in given.items():
            values[name] = self.param(name).coerce(value)
        return values

    def forward_template(self, params: Params) -> str:
        return self.forward(params) if callable(self.forward) else self.forward

    def module_template(self, params: Params) -> str | None:
        """The ``module`` expression for these parameter values; None when nothing is built."""
        return self.module(params) if callable(self.module) else self.module

    def accepts_inputs(self, count: int) -> bool:
        return count >= self.min_inputs and (self.max_inputs is None or count <= self.max_inputs)


# --- shape arithmetic ------------------------------------------------------------


def _numel(shape: Shape) -> int:
    return math.prod(shape)


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_all(shapes: Sequence[Shape]) -> str:
    """'(1,), (2,) and (3,)': shapes listed as a sentence reads them."""
    texts = [_fmt(s) for s in shapes]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def _need_rank(shape: Shape, ranks: Sequence[int], what: str) -> None:
    if len(shape) not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"expects {what} ({wanted} dimensions), but receives {_fmt(shape)}.")


def _window_out(length: int, kernel: int, stride: int, padding: int, dilation: int, axis: str) -> int:
    span = dilation * (kernel - 1) + 1
    out = (length + 2 * padding - span) // stride + 1
    if out < 1:
        raise ShapeError(
            f"kernel of size {span} does not fit the {axis} of {length} "
            f"(with padding {padding}); use a smaller kernel or more padding."
        )
    return out


def _check_pool_padding(p: Params) -> None:
    if p["padding"] > p["kernel_size"] // 2:
        raise ShapeError(
            f"padding {p['padding']} is more than half the kernel size {p['kernel_size']}; "
            "PyTorch does not allow that."
        )


# --- parameter helpers -------------------------------------------------------------

_OUT_CHANNELS = Param("out_channels", "int", 16, 1, 8192, doc="Number of filters, i.e. output channels.")
_KERNEL = Param("kernel_size", "int", 3, 1, 64, doc="Width (and height) of each filter.")
_STRIDE = Param("stride", "int", 1, 1, 64, doc="Step between filter positions.")
_PADDING = Param("padding", "int", 0, 0, 64, doc="Zeros added on each side of the input.")
_DILATION = Param("dilation", "int", 1, 1, 64, doc="Spacing between filter taps.")
_BIAS = Param("bias", "bool", True, doc="Learn an additive bias per output.")
_POOL_KERNEL = Param("kernel_size", "int", 2, 1, 64, doc="Size of the pooling window.")
_POOL_STRIDE = Param("stride", "int", 2, 1, 64, doc="Step between pooling windows.")
_POOL_PADDING = Param("padding", "int", 0, 0, 32, doc="Padding added on each side.")


def _softmax_dim_param() -> Param:
    return Param(
        "dim",
        "int",
        -1,
        -5,
        4,
        doc="Dimension to normalise over, counted as in PyTorch (0 is the batch).",
    )


def _check_dim(dim: int, shape: Shape) -> int:
    """Map a PyTorch dim (batch included) to an index into ``shape`` (batch excluded)."""
    rank = len(shape) + 1
    index = dim + rank if dim < 0 else dim
    if not 1 <= index < rank:
        raise ShapeError(
            f"dim {dim} is not valid for inputs of shape {_fmt(shape)} "
            f"(allowed: 1 to {rank - 1}, or -1 to -{rank - 1}; 0 is the batch)."
        )
    return index - 1


# --- Input / Output -------------------------------------------------------------------


def _input_infer(p: Params, shapes: Sequence[Shape]) -> Shape:
    return tuple(p["shape"])


NORMALIZATIONS = ("standard", "minmax", "none")
NORMALIZE_PER = ("auto", "channel", "feature", "element")


def preprocessing(p: Params) -> tuple[str, str] | None:
    """How an Input prepares raw samples: (normalisation, statistics per ...), or None.

    Token ids (int64) are never touched. "auto" keeps one statistic per channel
    for images (channels, height, width) and per feature otherwise, which is
    the last axis of tables and sequences.
    """
    if p.get("dtype", "float32") != "float32" or p.get("normalize", "none") == "none":
        return None
    per = p.get("normalize_per", "auto")
    if per == "auto":
        per = "channel" if len(p["shape"]) == 3 else "feature"
    return p["normalize"], per


def _input_module(p: Params) -> str | None:
    prepared = preprocessing(p)
    if prepared is None:
        return None
    return "Preprocess({normalize}, {shape}, per=" + repr(prepared[1]) + ")"


# Emitted into model.py when an Input normalises: the statistics are buffers, so
# they travel with the weights and every exported form takes raw inputs.
_PREPROCESS_CODE = '''
class Preprocess(nn.Module):
    """Prepares raw samples as the training data was prepared: ``(x - shift) / scale``.

    ``fit`` sets the statistics from raw training samples when training starts:
    mean and standard deviation ("standard") or minimum and range ("minmax"),
    one per channel, per feature or per element. They are buffers, saved with
    the weights, so the model takes raw inputs wherever it goes.
    """

    def __init__(self, mode: str, shape: tuple[int, ...], per: str) -> None:
        super().__init__()
        self.mode = mode
        kept = {"channel": {0}, "feature": {len(shape) - 1}, "element": set(range(len(shape)))}[per]
        self.reduced = tuple(1 + axis for axis in range(len(shape)) if axis not in kept)
        statistic = tuple(size if axis in kept else 1 for axis, size in enumerate(shape))
        self.register_buffer("shift", torch.zeros(statistic))
        self.register_buffer("scale", torch.ones(statistic))

    @torch.no_grad()
    def fit(self, samples: torch.Tensor) -> None:
        """Set ``shift`` and ``scale`` from a batch of raw training samples."""
        x = samples.detach().to(torch.float64)
        dims = (0, *self.reduced)
        if self.mode == "standard":
            shift, scale = x.mean(dim=dims), x.std(dim=dims, correction=0)
        else:
            shift = x.amin(dim=dims)
            scale = x.amax(dim=dims) - shift
        scale = torch.where(scale > 1e-8, scale, torch.ones_like(scale))  # constant: left as it is
        self.shift.copy_(shift.reshape(self.shift.shape))
        self.scale.copy_(scale.reshape(self.scale.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale
'''


INPUT = LayerSpec(
    type="Input",
    category="Input/Output",
    description="Where data enters the network. Its shape is one sample's shape, "
    "without the batch: (channels, height, width) for images, (features,) for tables. "
    "It also prepares raw samples (normalisation), so the exported model takes raw data.",
    params=(
        Param("shape", "shape", (1, 28, 28), doc="One sample's shape, without the batch."),
        Param(
            "dtype",
            "choice",
            "float32",
            choices=("float32", "int64"),
            doc="float32 for measurements and pixels, int64 for token ids (Embedding).",
        ),
        Param(
            "normalize",
            "choice",
            "standard",
            choices=NORMALIZATIONS,
            doc="How raw samples are prepared inside the model: standard (minus the training "
            "split's mean, divided by its standard deviation), minmax (to 0..1 with its minimum "
            "and range) or none. Images are resized to the shape when read. Token ids (int64) "
            "are never normalised.",
        ),
        Param(
            "normalize_per",
            "choice",
            "auto",
            choices=NORMALIZE_PER,
            doc="One statistic per channel (images), per feature (the last axis of tables and "
            "sequences) or per element; auto picks channel for images, feature otherwise.",
        ),
    ),
    infer=_input_infer,
    forward="",
    module=_input_module,
    support_code=_PREPROCESS_CODE,
    min_inputs=0,
    max_inputs=0,
    key_params=("shape",),
    role="input",
)

OUTPUT = LayerSpec(
    type="Output",
    category="Input/Output",
    description="Marks a result of the network. With several Outputs the model "
    "returns a tuple, in the order the Outputs were added.",
    params=(),
    infer=lambda p, s: s[0],
    forward="",
    has_output=False,
    role="output",
)

# --- Dense ------------------------------------------------------------------------------


def _linear_infer(p: Params, s: Sequence[Shape]) -> Shape:
    if len(s[0]) == 0:
        raise ShapeError("expects features but receives a scalar.")
    return (*s[0][:-1], p["out_features"])


LINEAR = LayerSpec(
    type="Linear",
    category="Dense",
    description="A fully connected layer: every output is a weighted sum of all "
    "input features plus a bias. Works on the last dimension.",
    params=(
        Param("out_features", "int", 64, 1, 1_000_000, doc="Number of output features."),
        _BIAS,
    ),
    infer=_linear_infer,
    module="nn.Linear({in_features}, {out_features}, bias={bias})",
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"in_features": s[0][-1]},
    count_params=lambda p, s: s[0][-1] * p["out_features"] + (p["out_features"] if p["bias"] else 0),
    count_macs=lambda p, s, o: _numel(s[0]) * p["out_features"],
    key_params=("out_features",),
    has_feature_maps=True,
    torch_defaults={"bias": True},
)

FLATTEN = LayerSpec(
    type="Flatten",
    category="Dense",
    description="Unrolls each sample into one long vector, e.g. before a Linear layer.",
    params=(),
    infer=lambda p, s: (_numel(s[0]),),
    module="nn.Flatten()",
    forward="{out} = self.{attr}({x})",
)


def _reshape_infer(p: Params, s: Sequence[Shape]) -> Shape:
    if _numel(p["shape"]) != _numel(s[0]):
        raise ShapeError(
            f"cannot reshape {_fmt(s[0])} ({_numel(s[0])} values) into "
            f"{_fmt(tuple(p['shape']))} ({_numel(p['shape'])} values)."
        )
    return tuple(p["shape"])


RESHAPE = LayerSpec(
    type="Reshape",
    category="Dense",
    description="Rearranges each sample's values into a new shape with the same "
    "number of values, e.g. a vector of 64 into an 8x8 image.",
    params=(Param("shape", "shape", (1, 8, 8), doc="New shape of one sample."),),
    infer=_reshape_infer,
    forward="{out} = {x}.reshape(-1, {dims})",
    derive=lambda p, s: {"dims": ", ".join(str(d) for d in p["shape"])},
    key_params=("shape",),
)

DROPOUT = LayerSpec(
    type="Dropout",
    category="Dense",
    description="During training, zeroes a random share p of the values so the "
    "network cannot rely on any single one. Does nothing at prediction time.",
    params=(Param("p", "float", 0.5, 0.0, 0.99, doc="Probability of zeroing a value."),),
    infer=lambda p, s: s[0],
    module="nn.Dropout(p={p})",
    torch_defaults={"p": 0.5},
    forward="{out} = self.{attr}({x})",
    key_params=("p",),
)


_EPS = Param("eps", "float", 1e-5, 1e-12, 0.1, doc="Added to the variance so it is never zero.")


def _batchnorm_spec(type_: str, ranks: tuple[int, ...], what: str) -> LayerSpec:
    def infer(p: Params, s: Sequence[Shape]) -> Shape:
        _need_rank(s[0], ranks, what)
        return s[0]

    return LayerSpec(
        type=type_,
        category="Dense",
        description="Normalises each channel to zero mean and unit variance over "
        "the batch, then rescales it; makes deep networks train faster.",
        params=(_EPS,),
        infer=infer,
        module=f"nn.{type_}({{num_features}}, eps={{eps}})",
        forward="{out} = self.{attr}({x})",
        derive=lambda p, s: {"num_features": s[0][0]},
        count_params=lambda p, s: 2 * s[0][0],
        count_macs=lambda p, s, o: _numel(s[0]),
        torch_defaults={"eps": 1e-05},
    )


BATCHNORM1D = _batchnorm_spec("BatchNorm1d", (1, 2), "(features,) or (channels, length)")
BATCHNORM2D = _batchnorm_spec("BatchNorm2d", (3,), "(channels, height, width)")


def _layernorm_infer(p: Params, s: Sequence[Shape]) -> Shape:
    if len(s[0]) == 0:
        raise ShapeError("expects at least one dimension.")
    return s[0]


LAYERNORM = LayerSpec(
    type="LayerNorm",
    category="Dense",
    description="Normalises the features of each sample (over the last dimension) "
    "to zero mean and unit variance; common in transformers and RNNs.",
    params=(Param("elementwise_affine", "bool", True, doc="Learn a scale and shift."), _EPS),
    infer=_layernorm_infer,
    module="nn.LayerNorm({normalized_shape}, eps={eps}, elementwise_affine={elementwise_affine})",
    torch_defaults={"eps": 1e-05, "elementwise_affine": True},
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"normalized_shape": s[0][-1]},
    count_params=lambda p, s: 2 * s[0][-1] if p["elementwise_affine"] else 0,
    count_macs=lambda p, s, o: _numel(s[0]),
)

# --- Convolution ------------------------------------------------------------------------


def _conv_infer(rank: int) -> Callable[[Params, Sequence[Shape]], Shape]:
    def infer(p: Params, s: Sequence[Shape]) -> Shape:
        what = "(channels, length)" if rank == 1 else "(channels, height, width)"
        _need_rank(s[0], (rank + 1,), what)
        axes = ("length",) if rank == 1 else ("height", "width")
        spatial = tuple(
            _window_out(n, p["kernel_size"], p["stride"], p["padding"], p["dilation"], axis)
            for n, axis in zip(s[0][1:], axes, strict=True)
        )
        _check_groups(p, s[0][0])
        return (p["out_channels"], *spatial)

    return infer


def _check_groups(p: Params, in_channels: int) -> None:
    groups = p.get("groups", 1)
    for what, channels in (("input", in_channels), ("output", p["out_channels"])):
        if channels % groups:
            raise ShapeError(f"its {channels} {what} channels cannot be split evenly into {groups} groups.")


def _conv_params(rank: int) -> Callable[[Params, Sequence[Shape]], int]:
    def count(p: Params, s: Sequence[Shape]) -> int:
        weights = s[0][0] // p.get("groups", 1) * p["out_channels"] * p["kernel_size"] ** rank
        return weights + (p["out_channels"] if p["bias"] else 0)

    return count


def _conv_macs(rank: int) -> Callable[[Params, Sequence[Shape], Shape], int]:
    return lambda p, s, o: _numel(o) * (s[0][0] // p.get("groups", 1)) * p["kernel_size"] ** rank


_GROUPS = Param(
    "groups",
    "int",
    1,
    1,
    8192,
    doc="Independent channel groups; equal to the input channels for a depthwise convolution.",
)
_CONV_PARAMS = (_OUT_CHANNELS, _KERNEL, _STRIDE, _PADDING, _DILATION, _BIAS, _GROUPS)
_CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "bias": True, "groups": 1}
_CONV_MODULE = (
    "nn.Conv{rank}d({in_channels}, {out_channels}, kernel_size={kernel_size}, "
    "stride={stride}, padding={padding}, dilation={dilation}, bias={bias}, groups={groups})"
)

CONV1D = LayerSpec(
    type="Conv1d",
    category="Convolution",
    description="Slides small learned filters along a sequence; each filter "
    "detects one local pattern and produces one output channel.",
    params=_CONV_PARAMS,
    infer=_conv_infer(1),
    module=_CONV_MODULE.replace("{rank}", "1"),
    shows_filters=True,
    has_feature_maps=True,
    torch_defaults=_CONV_DEFAULTS,
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"in_channels": s[0][0]},
    count_params=_conv_params(1),
    count_macs=_conv_macs(1),
    key_params=("out_channels", "kernel_size", "stride", "padding"),
)

CONV2D = LayerSpec(
    type="Conv2d",
    category="Convolution",
    description="Slides small learned filters over an image; each filter detects "
    "one local pattern (an edge, a blob) and produces one output channel.",
    params=_CONV_PARAMS,
    infer=_conv_infer(2),
    module=_CONV_MODULE.replace("{rank}", "2"),
    shows_filters=True,
    has_feature_maps=True,
    torch_defaults=_CONV_DEFAULTS,
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"in_channels": s[0][0]},
    count_params=_conv_params(2),
    count_macs=_conv_macs(2),
    key_params=("out_channels", "kernel_size", "stride", "padding"),
)


def _deconv_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (3,), "(channels, height, width)")
    if p["output_padding"] >= p["stride"]:
        raise ShapeError(
            f"output_padding ({p['output_padding']}) must be smaller than stride ({p['stride']})."
        )
    spatial = []
    for n in s[0][1:]:
        out = (n - 1) * p["stride"] - 2 * p["padding"] + p["kernel_size"] + p["output_padding"]
        if out < 1:
            raise ShapeError(f"padding {p['padding']} leaves no output for input size {n}.")
        spatial.append(out)
    return (p["out_channels"], *spatial)


CONVTRANSPOSE2D = LayerSpec(
    type="ConvTranspose2d",
    category="Convolution",
    description="The reverse of a strided convolution: spreads each input value "
    "through learned filters to make a larger image, as in decoders and GANs.",
    params=(
        _OUT_CHANNELS,
        _KERNEL,
        Param("stride", "int", 2, 1, 64, doc="Upsampling factor."),
        _PADDING,
        Param("output_padding", "int", 0, 0, 63, doc="Extra size added to one side of the output."),
        _BIAS,
    ),
    infer=_deconv_infer,
    module=(
        "nn.ConvTranspose2d({in_channels}, {out_channels}, kernel_size={kernel_size}, "
        "stride={stride}, padding={padding}, output_padding={output_padding}, bias={bias})"
    ),
    shows_filters=True,
    has_feature_maps=True,
    torch_defaults={"stride": 1, "padding": 0, "output_padding": 0, "bias": True},
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"in_channels": s[0][0]},
    count_params=_conv_params(2),
    count_macs=lambda p, s, o: _numel(s[0]) * p["out_channels"] * p["kernel_size"] ** 2,
    key_params=("out_channels", "kernel_size", "stride"),
)

# --- Pooling ------------------------------------------------------------------------------


def _pool_spec(type_: str, rank: int, description: str) -> LayerSpec:
    def infer(p: Params, s: Sequence[Shape]) -> Shape:
        what = "(channels, length)" if rank == 1 else "(channels, height, width)"
        _need_rank(s[0], (rank + 1,), what)
        _check_pool_padding(p)
        axes = ("length",) if rank == 1 else ("height", "width")
        spatial = tuple(
            _window_out(n, p["kernel_size"], p["stride"], p["padding"], 1, axis)
            for n, axis in zip(s[0][1:], axes, strict=True)
        )
        return (s[0][0], *spatial)

    return LayerSpec(
        type=type_,
        category="Pooling",
        description=description,
        params=(_POOL_KERNEL, _POOL_STRIDE, _POOL_PADDING),
        infer=infer,
        module=f"nn.{type_}(kernel_size={{kernel_size}}, stride={{stride}}, padding={{padding}})",
        torch_defaults={"padding": 0},
        forward="{out} = self.{attr}({x})",
        key_params=("kernel_size", "stride"),
    )


_MAX_DESC = "Keeps the largest value in each window, shrinking the {} while keeping strong responses."
_AVG_DESC = "Averages each window, shrinking the {} smoothly."
MAXPOOL1D = _pool_spec("MaxPool1d", 1, _MAX_DESC.format("sequence"))
MAXPOOL2D = _pool_spec("MaxPool2d", 2, _MAX_DESC.format("image"))
AVGPOOL1D = _pool_spec("AvgPool1d", 1, _AVG_DESC.format("sequence"))
AVGPOOL2D = _pool_spec("AvgPool2d", 2, _AVG_DESC.format("image"))


def _adaptive_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (3,), "(channels, height, width)")
    return (s[0][0], p["output_size"], p["output_size"])


ADAPTIVEAVGPOOL2D = LayerSpec(
    type="AdaptiveAvgPool2d",
    category="Pooling",
    description="Averages the image down to a fixed output size, whatever the input size.",
    params=(Param("output_size", "int", 1, 1, 1024, doc="Height and width of the output."),),
    infer=_adaptive_infer,
    module="nn.AdaptiveAvgPool2d({output_size})",
    forward="{out} = self.{attr}({x})",
    key_params=("output_size",),
)


def _gap_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (3,), "(channels, height, width)")
    return (s[0][0],)


GLOBALAVGPOOL2D = LayerSpec(
    type="GlobalAvgPool2d",
    category="Pooling",
    description="Averages each channel over the whole image, giving one number per "
    "channel; replaces big Linear layers at the end of modern CNNs.",
    params=(),
    infer=_gap_infer,
    forward="{out} = {x}.mean(dim=(2, 3))",
)

# --- Activations --------------------------------------------------------------------------


def _activation(
    type_: str,
    description: str,
    params: tuple[Param, ...] = (),
    module: str = "",
    torch_defaults: Mapping[str, Any] | None = None,
) -> LayerSpec:
    return LayerSpec(
        type=type_,
        category="Activation",
        description=description,
        params=params,
        infer=lambda p, s: s[0],
        module=module or f"nn.{type_}()",
        forward="{out} = self.{attr}({x})",
        key_params=tuple(p.name for p in params),
        torch_defaults=torch_defaults or {},
    )


def _softmax_like(type_: str, description: str) -> LayerSpec:
    def infer(p: Params, s: Sequence[Shape]) -> Shape:
        _check_dim(p["dim"], s[0])
        return s[0]

    return LayerSpec(
        type=type_,
        category="Activation",
        description=description,
        params=(_softmax_dim_param(),),
        infer=infer,
        module=f"nn.{type_}(dim={{dim}})",
        forward="{out} = self.{attr}({x})",
        key_params=("dim",),
    )


RELU = _activation("ReLU", "Keeps positive values and sets negative ones to zero: the default non-linearity.")
LEAKYRELU = _activation(
    "LeakyReLU",
    "Like ReLU, but lets a small slope through for negative values so units never die.",
    (Param("negative_slope", "float", 0.01, 0.0, 1.0, doc="Slope for negative inputs."),),
    "nn.LeakyReLU(negative_slope={negative_slope})",
    torch_defaults={"negative_slope": 0.01},
)
SIGMOID = _activation("Sigmoid", "Squashes values into 0..1; used for probabilities of yes/no outputs.")
TANH = _activation("Tanh", "Squashes values into -1..1, centred on zero.")
GELU = _activation("GELU", "A smooth ReLU used in transformers.")
SOFTMAX = _softmax_like("Softmax", "Turns scores into probabilities that sum to one.")
LOGSOFTMAX = _softmax_like(
    "LogSoftmax", "The logarithm of Softmax; numerically safer, pairs with a negative log-likelihood loss."
)

# --- Recurrent ------------------------------------------------------------------------------

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _recurrent_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (2,), "(sequence length, features)")
    width = p["hidden_size"] * (2 if p["bidirectional"] else 1)
    return (s[0][0], width) if p["return_sequences"] else (width,)


def _recurrent_params(type_: str) -> Callable[[Params, Sequence[Shape]], int]:
    def count(p: Params, s: Sequence[Shape]) -> int:
        gates, hidden = _GATES[type_], p["hidden_size"]
        directions = 2 if p["bidirectional"] else 1
        total = 0
        for layer in range(p["num_layers"]):
            features = s[0][-1] if layer == 0 else hidden * directions
            total += directions * gates * (hidden * features + hidden * hidden + 2 * hidden)
        return total

    return count


def _recurrent_macs(type_: str) -> Callable[[Params, Sequence[Shape], Shape], int]:
    def count(p: Params, s: Sequence[Shape], o: Shape) -> int:
        gates, hidden = _GATES[type_], p["hidden_size"]
        directions = 2 if p["bidirectional"] else 1
        per_step = 0
        for layer in range(p["num_layers"]):
            features = s[0][-1] if layer == 0 else hidden * directions
            per_step += directions * gates * (hidden * features + hidden * hidden)
        return per_step * s[0][0]

    return count


def _recurrent_forward(type_: str) -> Callable[[Params], str]:
    def template(p: Params) -> str:
        if p["return_sequences"]:
            return "{out}, _ = self.{attr}({x})"
        state = "_, ({out}, _)" if type_ == "LSTM" else "_, {out}"
        last = "torch.cat([{out}[-2], {out}[-1]], dim=1)" if p["bidirectional"] else "{out}[-1]"
        return f"{state} = self.{{attr}}({{x}})\n{{out}} = {last}"

    return template


def _recurrent_spec(type_: str, description: str) -> LayerSpec:
    params = [
        Param("hidden_size", "int", 64, 1, 16384, doc="Size of the memory (hidden state)."),
        Param("num_layers", "int", 1, 1, 16, doc="Recurrent layers stacked on top of each other."),
        Param("bidirectional", "bool", False, doc="Also read the sequence backwards."),
        Param(
            "return_sequences",
            "bool",
            False,
            doc="Return the output at every step (for stacking) instead of only the last.",
        ),
    ]
    extra = ""
    defaults: dict[str, Any] = {"num_layers": 1, "bidirectional": False}
    if type_ == "RNN":
        params.append(
            Param(
                "nonlinearity", "choice", "tanh", choices=("tanh", "relu"), doc="Activation inside the cell."
            )
        )
        extra = ", nonlinearity={nonlinearity}"
        defaults["nonlinearity"] = "tanh"
    return LayerSpec(
        type=type_,
        category="Recurrent",
        description=description,
        params=tuple(params),
        infer=_recurrent_infer,
        module=(
            f"nn.{type_}({{input_size}}, {{hidden_size}}, num_layers={{num_layers}}, "
            f"batch_first=True, bidirectional={{bidirectional}}{extra})"
        ),
        forward=_recurrent_forward(type_),
        derive=lambda p, s: {"input_size": s[0][-1]},
        count_params=_recurrent_params(type_),
        count_macs=_recurrent_macs(type_),
        key_params=("hidden_size", "num_layers", "bidirectional", "return_sequences"),
        has_feature_maps=True,
        torch_defaults=defaults,
    )


LSTM = _recurrent_spec(
    "LSTM",
    "Reads a sequence step by step, keeping a memory that gates decide to keep, "
    "update or forget; learns dependencies over long sequences.",
)
GRU = _recurrent_spec("GRU", "A simpler LSTM with two gates; often trains as well with fewer parameters.")
RNN = _recurrent_spec("RNN", "The plain recurrent layer: a memory updated at every step. Forgets quickly.")


def _embedding_infer(p: Params, s: Sequence[Shape]) -> Shape:
    return (*s[0], p["embedding_dim"])


EMBEDDING = LayerSpec(
    type="Embedding",
    category="Recurrent",
    description="Looks up a learned vector for each token id; turns words or "
    "symbols into numbers a network can use. Needs an int64 Input.",
    params=(
        Param("num_embeddings", "int", 1000, 1, 10_000_000, doc="Number of distinct token ids."),
        Param("embedding_dim", "int", 32, 1, 65536, doc="Length of each learned vector."),
    ),
    infer=_embedding_infer,
    module="nn.Embedding({num_embeddings}, {embedding_dim})",
    forward="{out} = self.{attr}({x})",
    count_params=lambda p, s: p["num_embeddings"] * p["embedding_dim"],
    key_params=("num_embeddings", "embedding_dim"),
    takes_token_ids=True,
    id_limit_param="num_embeddings",
)

# --- Attention --------------------------------------------------------------------------------


def _attention_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (2,), "(sequence length, features)")
    if s[0][1] % p["num_heads"]:
        raise ShapeError(f"its {s[0][1]} input features cannot be split evenly into {p['num_heads']} heads.")
    return s[0]


MULTIHEADATTENTION = LayerSpec(
    type="MultiheadAttention",
    category="Attention",
    description="Self-attention: every position of the sequence looks at every "
    "other and mixes in what is relevant, in several heads at once.",
    params=(
        Param("num_heads", "int", 4, 1, 256, doc="Parallel attention heads; must divide the features."),
        Param("dropout", "float", 0.0, 0.0, 0.99, doc="Dropout on the attention weights."),
        _BIAS,
    ),
    infer=_attention_infer,
    module=(
        "nn.MultiheadAttention({embed_dim}, {num_heads}, dropout={dropout}, bias={bias}, batch_first=True)"
    ),
    forward="{out}, _ = self.{attr}({x}, {x}, {x}, need_weights=False)",
    derive=lambda p, s: {"embed_dim": s[0][1]},
    count_params=lambda p, s: 4 * s[0][1] ** 2 + (4 * s[0][1] if p["bias"] else 0),
    count_macs=lambda p, s, o: 4 * s[0][0] * s[0][1] ** 2 + 2 * s[0][0] ** 2 * s[0][1],
    key_params=("num_heads",),
    torch_defaults={"dropout": 0.0, "bias": True},
)

# --- Composite -------------------------------------------------------------------------------

_INCEPTION_CODE = '''
class Inception(nn.Module):
    """GoogLeNet inception module (Szegedy et al., 2014): four parallel branches
    (1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max-pool then 1x1), each convolution
    followed by ReLU, concatenated on the channel dimension."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, 1), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels, ch3x3red, 1), nn.ReLU(inplace=True),
            nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.branch3 = nn.Sequential(
            nn.Conv2d(in_channels, ch5x5red, 1), nn.ReLU(inplace=True),
            nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU(inplace=True),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU(inplace=True),
        )

    def forward(self, x):
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)
'''


def _inception_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (3,), "(channels, height, width)")
    channels = p["ch1x1"] + p["ch3x3"] + p["ch5x5"] + p["pool_proj"]
    return (channels, s[0][1], s[0][2])


def _inception_convs(p: Params, in_channels: int) -> list[tuple[int, int, int]]:
    """(in, out, kernel) of every convolution in the module."""
    return [
        (in_channels, p["ch1x1"], 1),
        (in_channels, p["ch3x3red"], 1),
        (p["ch3x3red"], p["ch3x3"], 3),
        (in_channels, p["ch5x5red"], 1),
        (p["ch5x5red"], p["ch5x5"], 5),
        (in_channels, p["pool_proj"], 1),
    ]


def _inception_params(p: Params, s: Sequence[Shape]) -> int:
    return sum(i * o * k * k + o for i, o, k in _inception_convs(p, s[0][0]))


def _inception_macs(p: Params, s: Sequence[Shape], o: Shape) -> int:
    pixels = s[0][1] * s[0][2]
    return sum(i * out * k * k * pixels for i, out, k in _inception_convs(p, s[0][0]))


def _channels(name: str, default: int, doc: str) -> Param:
    return Param(name, "int", default, 1, 8192, doc=doc)


INCEPTION = LayerSpec(
    type="Inception",
    category="Composite",
    description="GoogLeNet's inception module: 1x1, 3x3 and 5x5 convolutions and a "
    "max-pool run side by side and their outputs are stacked, so the network "
    "sees several scales at once.",
    params=(
        _channels("ch1x1", 64, "Filters of the 1x1 branch."),
        _channels("ch3x3red", 96, "1x1 filters that reduce channels before the 3x3."),
        _channels("ch3x3", 128, "Filters of the 3x3 branch."),
        _channels("ch5x5red", 16, "1x1 filters that reduce channels before the 5x5."),
        _channels("ch5x5", 32, "Filters of the 5x5 branch."),
        _channels("pool_proj", 32, "1x1 filters after the 3x3 max-pool."),
    ),
    infer=_inception_infer,
    module=("Inception({in_channels}, {ch1x1}, {ch3x3red}, {ch3x3}, {ch5x5red}, {ch5x5}, {pool_proj})"),
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"in_channels": s[0][0]},
    count_params=_inception_params,
    count_macs=_inception_macs,
    # All six: the reductions decide the branches' cost as much as their widths do.
    key_params=("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj"),
    support_code=_INCEPTION_CODE,
    has_feature_maps=True,
)

# --- Merge --------------------------------------------------------------------------------------


def _concat_infer(p: Params, s: Sequence[Shape]) -> Shape:
    first = s[0]
    axis = _check_dim(p["dim"], first)
    for other in s[1:]:
        same_rank = len(other) == len(first)
        if not same_rank or any(
            a != b for i, (a, b) in enumerate(zip(first, other, strict=True)) if i != axis
        ):
            raise ShapeError(f"inputs have shapes {_fmt_all(s)}; all sizes except dim {p['dim']} must match.")
    return (*first[:axis], sum(x[axis] for x in s), *first[axis + 1 :])


CONCAT = LayerSpec(
    type="Concat",
    category="Merge",
    description="Joins its inputs side by side along one dimension (channels by "
    "default), as in Inception or U-Net skip connections.",
    params=(
        Param("dim", "int", 1, -5, 4, doc="Dimension to join along, counted as in PyTorch (0 is the batch)."),
    ),
    infer=_concat_infer,
    forward="{out} = torch.cat([{inputs}], dim={dim})",
    min_inputs=2,
    max_inputs=None,
    key_params=("dim",),
)


def _add_infer(p: Params, s: Sequence[Shape]) -> Shape:
    if any(x != s[0] for x in s[1:]):
        raise ShapeError(f"inputs have shapes {_fmt_all(s)}; they must match.")
    return s[0]


ADD = LayerSpec(
    type="Add",
    category="Merge",
    description="Adds its inputs element by element: the shortcut of a residual "
    "block, which lets gradients flow through deep networks.",
    params=(),
    infer=_add_infer,
    forward="{out} = {sum}",
    count_macs=lambda p, s, o: _numel(o) * (len(s) - 1),
    min_inputs=2,
    max_inputs=None,
)

# --- What common architectures need (grown for importing PyTorch models) -----------------------

RELU6 = _activation("ReLU6", "ReLU capped at 6; the activation of MobileNet V2, robust at low precision.")
SILU = _activation("SiLU", "x times sigmoid(x), also called Swish: a smooth ReLU used in EfficientNet.")
HARDSWISH = _activation("Hardswish", "A cheap piecewise-linear Swish, used in MobileNet V3.")
HARDSIGMOID = _activation(
    "Hardsigmoid", "A cheap piecewise-linear sigmoid, used as the gate of squeeze-excitation."
)

IDENTITY = LayerSpec(
    type="Identity",
    category="Tensor",
    description="Passes its input through unchanged; a placeholder where a model "
    "may later put a layer, such as a shortcut that needs no projection.",
    params=(),
    infer=lambda p, s: s[0],
    module="nn.Identity()",
    forward="{out} = self.{attr}({x})",
)


def _broadcast_infer(p: Params, s: Sequence[Shape]) -> Shape:
    if len({len(x) for x in s}) != 1:
        raise ShapeError(f"inputs have shapes {_fmt_all(s)}; they need the same number of dimensions.")
    out = []
    for sizes in zip(*s, strict=True):
        wider = {d for d in sizes if d != 1}
        if len(wider) > 1:
            raise ShapeError(
                f"inputs have shapes {_fmt_all(s)}; each size must match or be 1 to be broadcast."
            )
        out.append(wider.pop() if wider else 1)
    return tuple(out)


MULTIPLY = LayerSpec(
    type="Multiply",
    category="Merge",
    description="Multiplies its two inputs element by element; a size of 1 is "
    "repeated to match, so (C, 1, 1) gates scale (C, H, W) maps as in squeeze-excitation.",
    params=(),
    infer=_broadcast_infer,
    forward="{out} = torch.mul({inputs})",
    count_macs=lambda p, s, o: _numel(o),
    min_inputs=2,
    max_inputs=2,
)


def _upsample_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (3,), "(channels, height, width)")
    return (s[0][0], s[0][1] * p["scale_factor"], s[0][2] * p["scale_factor"])


UPSAMPLE = LayerSpec(
    type="Upsample",
    category="Pooling",
    description="Enlarges an image by a whole factor, repeating pixels (nearest) or "
    "blending them (bilinear); the decoder half of a U-Net uses it.",
    params=(
        Param("scale_factor", "int", 2, 1, 64, doc="How many times larger the height and width get."),
        Param(
            "mode",
            "choice",
            "nearest",
            choices=("nearest", "bilinear"),
            doc="nearest repeats pixels; bilinear blends neighbours.",
        ),
    ),
    infer=_upsample_infer,
    module="nn.Upsample(scale_factor={scale_factor}, mode={mode})",
    forward="{out} = self.{attr}({x})",
    count_macs=lambda p, s, o: _numel(o) if p["mode"] == "bilinear" else 0,
    key_params=("scale_factor", "mode"),
)


def _permute_infer(p: Params, s: Sequence[Shape]) -> Shape:
    dims = tuple(p["dims"])
    if sorted(dims) != list(range(1, len(s[0]) + 1)):
        raise ShapeError(
            f"dims {_fmt(dims)} must order 1 to {len(s[0])} (the dimensions of {_fmt(s[0])}, "
            "0 being the batch), each once."
        )
    return tuple(s[0][d - 1] for d in dims)


PERMUTE = LayerSpec(
    type="Permute",
    category="Tensor",
    description="Reorders the dimensions of each sample, e.g. (C, H, W) into (H, W, C) "
    "with dims (2, 3, 1); the batch stays first.",
    params=(
        Param(
            "dims", "shape", (2, 3, 1), doc="New order of the dimensions, counted from 1 (0 is the batch)."
        ),
    ),
    infer=_permute_infer,
    forward="{out} = {x}.permute(0, {order})",
    derive=lambda p, s: {"order": ", ".join(str(d) for d in p["dims"])},
    key_params=("dims",),
)


def _transpose_infer(p: Params, s: Sequence[Shape]) -> Shape:
    a, b = _check_dim(p["dim0"], s[0]), _check_dim(p["dim1"], s[0])
    out = list(s[0])
    out[a], out[b] = out[b], out[a]
    return tuple(out)


TRANSPOSE = LayerSpec(
    type="Transpose",
    category="Tensor",
    description="Swaps two dimensions of each sample, e.g. (channels, length) into "
    "(length, channels) before a recurrent layer.",
    params=(
        Param("dim0", "int", 1, -4, 4, doc="First dimension, counted as in PyTorch (0 is the batch)."),
        Param("dim1", "int", 2, -4, 4, doc="Second dimension, counted as in PyTorch (0 is the batch)."),
    ),
    infer=_transpose_infer,
    forward="{out} = {x}.transpose({dim0}, {dim1})",
    key_params=("dim0", "dim1"),
)


def _select_infer(p: Params, s: Sequence[Shape]) -> Shape:
    axis = _check_dim(p["dim"], s[0])
    if len(s[0]) < 2:
        raise ShapeError(f"selecting from {_fmt(s[0])} would leave no dimensions.")
    size = s[0][axis]
    if not -size <= p["index"] < size:
        raise ShapeError(f"index {p['index']} is outside dim {p['dim']} of size {size}.")
    return (*s[0][:axis], *s[0][axis + 1 :])


SELECT = LayerSpec(
    type="Select",
    category="Tensor",
    description="Picks one position along a dimension and drops that dimension: the "
    "class token of a transformer (index 0) or the last step of a sequence (index -1).",
    params=(
        Param("dim", "int", 1, -4, 4, doc="Dimension to pick from, counted as in PyTorch (0 is the batch)."),
        Param(
            "index", "int", 0, -1_000_000, 1_000_000, doc="Position to keep; negative counts from the end."
        ),
    ),
    infer=_select_infer,
    forward="{out} = {x}.select({dim}, {index})",
    key_params=("dim", "index"),
)


def _mean_infer(p: Params, s: Sequence[Shape]) -> Shape:
    axis = _check_dim(p["dim"], s[0])
    if p["keepdim"]:
        return (*s[0][:axis], 1, *s[0][axis + 1 :])
    if len(s[0]) < 2:
        raise ShapeError(f"averaging {_fmt(s[0])} over its only dimension would leave none.")
    return (*s[0][:axis], *s[0][axis + 1 :])


MEAN = LayerSpec(
    type="Mean",
    category="Tensor",
    description="Averages over one dimension, e.g. over the tokens of a sequence to "
    "get one vector per sample.",
    params=(
        Param(
            "dim", "int", 1, -4, 4, doc="Dimension to average over, counted as in PyTorch (0 is the batch)."
        ),
        Param("keepdim", "bool", False, doc="Keep the averaged dimension with size 1."),
    ),
    infer=_mean_infer,
    forward="{out} = {x}.mean(dim={dim}, keepdim={keepdim})",
    count_macs=lambda p, s, o: _numel(s[0]),
    key_params=("dim",),
)

_CLASS_TOKEN_CODE = '''
class ClassToken(nn.Module):
    """A learned token put in front of every sequence (ViT's class token)."""

    def __init__(self, dim):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)
'''


def _sequence_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (2,), "(sequence length, features)")
    return (s[0][0] + 1, s[0][1])


CLASSTOKEN = LayerSpec(
    type="ClassToken",
    category="Attention",
    description="Puts one learned token in front of the sequence; after the transformer "
    "its output summarises the whole input (ViT's class token).",
    params=(),
    infer=_sequence_infer,
    module="ClassToken({dim})",
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"dim": s[0][-1]},
    count_params=lambda p, s: s[0][-1],
    support_code=_CLASS_TOKEN_CODE,
)

_POSITION_CODE = '''
class PositionEmbedding(nn.Module):
    """Adds a learned tensor shaped like one sample (a transformer's position embedding)."""

    def __init__(self, *shape):
        super().__init__()
        self.embedding = nn.Parameter(torch.randn(1, *shape) * 0.02)

    def forward(self, x):
        return x + self.embedding
'''

POSITIONEMBEDDING = LayerSpec(
    type="PositionEmbedding",
    category="Attention",
    description="Adds a learned value to every position of each sample, so a "
    "transformer, which otherwise ignores order, knows where each token sits.",
    params=(),
    infer=lambda p, s: s[0],
    module="PositionEmbedding({shape})",
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"shape": ", ".join(str(d) for d in s[0])},
    count_params=lambda p, s: _numel(s[0]),
    count_macs=lambda p, s, o: _numel(o),
    support_code=_POSITION_CODE,
)

_LAYER_SCALE_CODE = '''
class LayerScale(nn.Module):
    """Multiplies the last dimension by learned per-feature factors (ConvNeXt, CaiT)."""

    def __init__(self, dim, init_value):
        super().__init__()
        self.gamma = nn.Parameter(init_value * torch.ones(dim))

    def forward(self, x):
        return self.gamma * x
'''

LAYERSCALE = LayerSpec(
    type="LayerScale",
    category="Dense",
    description="Multiplies each feature (the last dimension) by a learned factor that "
    "starts small, so a deep residual branch first adds almost nothing.",
    params=(Param("init_value", "float", 1e-6, 0.0, 10.0, doc="Starting value of every factor."),),
    infer=_layernorm_infer,
    module="LayerScale({dim}, {init_value})",
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"dim": s[0][-1]},
    count_params=lambda p, s: s[0][-1],
    count_macs=lambda p, s, o: _numel(o),
    key_params=("init_value",),
    support_code=_LAYER_SCALE_CODE,
)

IMPORT_LAYERS = (
    RELU6,
    SILU,
    HARDSWISH,
    HARDSIGMOID,
    IDENTITY,
    MULTIPLY,
    UPSAMPLE,
    PERMUTE,
    TRANSPOSE,
    SELECT,
    MEAN,
    CLASSTOKEN,
    POSITIONEMBEDDING,
    LAYERSCALE,
)


# --- ResNet shortcut ---------------------------------------------------------------------------------

# The shortcut's form depends on the shape it receives, which only the shape
# rule knows; the helper class decides the same way when it is built, so the
# catalog's count and the module always agree (the test in test_layers checks).
_SHORTCUT_CODE = '''
class Shortcut(nn.Sequential):
    """ResNet's shortcut (He et al., 2015, option B): the input itself when the block
    keeps its shape, else a strided 1x1 convolution and BatchNorm that project it."""

    def __init__(self, in_channels, out_channels, stride=1):
        if in_channels == out_channels and stride == 1:
            super().__init__()  # an empty Sequential returns its input
        else:
            super().__init__(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
'''


def _shortcut_projects(p: Params, s: Sequence[Shape]) -> bool:
    return s[0][0] != p["out_channels"] or p["stride"] != 1


def _shortcut_infer(p: Params, s: Sequence[Shape]) -> Shape:
    _need_rank(s[0], (3,), "(channels, height, width)")
    return (p["out_channels"], *((n - 1) // p["stride"] + 1 for n in s[0][1:]))


def _shortcut_params(p: Params, s: Sequence[Shape]) -> int:
    return s[0][0] * p["out_channels"] + 2 * p["out_channels"] if _shortcut_projects(p, s) else 0


SHORTCUT = LayerSpec(
    type="Shortcut",
    category="Composite",
    description="The shortcut of a residual block: passes its input through unchanged when "
    "the shape is kept, else projects it with a strided 1x1 convolution and BatchNorm.",
    params=(
        Param("out_channels", "int", 64, 1, 8192, doc="Channels the block's main path ends with."),
        Param("stride", "int", 1, 1, 64, doc="Stride of the block's main path."),
    ),
    infer=_shortcut_infer,
    module="Shortcut({in_channels}, {out_channels}, stride={stride})",
    forward="{out} = self.{attr}({x})",
    derive=lambda p, s: {"in_channels": s[0][0]},
    count_params=_shortcut_params,
    count_macs=lambda p, s, o: _numel(o) * s[0][0] if _shortcut_projects(p, s) else 0,
    key_params=("out_channels", "stride"),
    support_code=_SHORTCUT_CODE,
)

# --- foreign modules ------------------------------------------------------------------------------


def _foreign_infer(p: Params, s: Sequence[Shape]) -> Shape:
    # The module's code is not run to validate: the shapes measured at import are its rule.
    if tuple(s[0]) != tuple(p["in_shape"]):
        raise ShapeError(
            f"this foreign module ({p['target']}) was measured on inputs of shape {_fmt(tuple(p['in_shape']))}; "
            f"it cannot take {_fmt(tuple(s[0]))} (its shape rule is only that measurement)."
        )
    return tuple(p["out_shape"])


FOREIGN = LayerSpec(
    type="Foreign",
    category="Tensor",
    description="A module the catalog cannot express, kept from an import: the exported code "
    "imports its class and builds it with the recorded arguments. It cannot be edited.",
    params=(
        Param("target", "import_path", "torch.nn:Identity", doc="The class, as package.module:ClassName."),
        Param("args", "json_args", (), doc="Its constructor's positional arguments (plain data)."),
        Param("in_shape", "shape", (1,), doc="The input shape measured at import (no batch)."),
        Param("out_shape", "shape", (1,), doc="The output shape measured at import (no batch)."),
        Param("parameters", "int", 0, 0, 10**12, doc="Its parameter count, measured at import."),
    ),
    infer=_foreign_infer,
    module="{target}({args})",  # filled as pkg.mod.Cls(1, 'a'), each value checked again
    forward="{out} = self.{attr}({x})",
    count_params=lambda p, s: p["parameters"],
    key_params=("target",),
)

# --- the catalog ----------------------------------------------------------------------------------

_SPECS: dict[str, LayerSpec] = {
    spec.type: spec
    for spec in (
        INPUT,
        OUTPUT,
        LINEAR,
        FLATTEN,
        RESHAPE,
        DROPOUT,
        BATCHNORM1D,
        BATCHNORM2D,
        LAYERNORM,
        CONV1D,
        CONV2D,
        CONVTRANSPOSE2D,
        MAXPOOL1D,
        MAXPOOL2D,
        AVGPOOL1D,
        AVGPOOL2D,
        ADAPTIVEAVGPOOL2D,
        GLOBALAVGPOOL2D,
        RELU,
        LEAKYRELU,
        SIGMOID,
        TANH,
        GELU,
        SOFTMAX,
        LOGSOFTMAX,
        LSTM,
        GRU,
        RNN,
        EMBEDDING,
        MULTIHEADATTENTION,
        INCEPTION,
        CONCAT,
        ADD,
        SHORTCUT,
        *IMPORT_LAYERS,
        FOREIGN,
    )
}
# Read-only: a layer type is added by adding its spec above, never at run time.
CATALOG: Mapping[str, LayerSpec] = MappingProxyType(_SPECS)


def get_spec(type_name: str) -> LayerSpec:
    """The spec of ``type_name``; raises UnknownLayerError with the known types."""
    try:
        return CATALOG[type_name]
    except KeyError:
        raise UnknownLayerError(
            f"Unknown layer type '{type_name}'. Known types: {', '.join(CATALOG)}."
        ) from None


def specs_by_category() -> dict[str, list[LayerSpec]]:
    """The catalog grouped for the palette, categories in display order."""
    grouped: dict[str, list[LayerSpec]] = {c: [] for c in CATEGORIES}
    for spec in CATALOG.values():
        grouped[spec.category].append(spec)
    return grouped


@dataclass(frozen=True)
class LayerFigures:
    """What one node computes for one sample, from the catalog alone."""

    output_shape: Shape
    parameters: int
    macs: int
    activation_bytes: int = field(default=0)


def layer_figures(spec: LayerSpec, params: Params, input_shapes: Sequence[Shape]) -> LayerFigures:
    """Output shape, parameter count, multiply-adds and float32 activation memory."""
    out = spec.infer(params, input_shapes)
    return LayerFigures(
        output_shape=out,
        parameters=spec.count_params(params, input_shapes),
        macs=spec.count_macs(params, input_shapes, out),
        activation_bytes=4 * _numel(out),
    )


def format_shape(shape: Shape | None) -> str:
    """(6, 28, 28) as the user reads it; '?' when unknown."""
    return "?" if shape is None else _fmt(shape)
