"""What each PyTorch module and operation becomes in the catalog.

The importer (``importer.py``) walks a torch.fx graph; for every module call
it asks :func:`module_rule` and for every function or method call
:data:`FUNCTIONS` / :data:`METHODS` what catalog layer stands for it. A rule
reads the layer's parameters off the module (or the call's arguments) and
raises :class:`Unmappable` with the reason when the catalog cannot express
that configuration exactly, so nothing is ever imported approximately.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class Unmappable(Exception):
    """The catalog has no exact equivalent; ``args[0]`` says why, as a clause."""


@dataclass
class Mapped:
    """One catalog node standing for a module: its type and parameters."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # differences that do not change eval outputs


def _single(value: Any, what: str) -> int:
    """An int from an int or a tuple of equal ints (square kernels, equal strides)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, tuple | list) and value and all(v == value[0] for v in value):
        return int(value[0])
    raise Unmappable(
        f"its {what} {tuple(value)} differs between dimensions, and the catalog's layers use one {what} for all"
    )


def _conv_padding(module: nn.Module) -> int:
    padding = module.padding
    if padding == "valid":
        return 0
    if padding == "same":
        kernel, dilation = _single(module.kernel_size, "kernel size"), _single(module.dilation, "dilation")
        if (dilation * (kernel - 1)) % 2:
            raise Unmappable("its 'same' padding is uneven on the two sides")
        return dilation * (kernel - 1) // 2
    return _single(padding, "padding")


def _conv(module: nn.Conv1d | nn.Conv2d) -> Mapped:
    if module.padding_mode != "zeros":
        raise Unmappable(f"it pads with '{module.padding_mode}', and the catalog pads with zeros")
    return Mapped(
        type(module).__name__,
        {
            "out_channels": module.out_channels,
            "kernel_size": _single(module.kernel_size, "kernel size"),
            "stride": _single(module.stride, "stride"),
            "padding": _conv_padding(module),
            "dilation": _single(module.dilation, "dilation"),
            "bias": module.bias is not None,
            "groups": module.groups,
        },
    )


def _deconv(module: nn.ConvTranspose2d) -> Mapped:
    if module.groups != 1 or _single(module.dilation, "dilation") != 1:
        raise Unmappable("it is grouped or dilated, and the catalog's ConvTranspose2d is neither")
    return Mapped(
        "ConvTranspose2d",
        {
            "out_channels": module.out_channels,
            "kernel_size": _single(module.kernel_size, "kernel size"),
            "stride": _single(module.stride, "stride"),
            "padding": _single(module.padding, "padding"),
            "output_padding": _single(module.output_padding, "output padding"),
            "bias": module.bias is not None,
        },
    )


def pool_params(
    kind: str,
    kernel: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool = False,
    dilation: Any = 1,
    count_include_pad: bool = True,
    divisor_override: Any = None,
) -> dict[str, Any]:
    if ceil_mode:
        raise Unmappable("it rounds its output size up (ceil_mode), and the catalog rounds down")
    if _single(dilation, "dilation") != 1:
        raise Unmappable("its window is dilated, and the catalog's pooling windows are not")
    if not count_include_pad or divisor_override is not None:
        raise Unmappable("it averages without counting the padding, and the catalog counts it")
    kernel = _single(kernel, "kernel size")
    stride = kernel if stride is None or stride == [] or stride == () else _single(stride, "stride")
    return {"kernel_size": kernel, "stride": stride, "padding": _single(padding, "padding")}


def _pool(module: nn.Module) -> Mapped:
    kind = type(module).__name__
    if kind.startswith("Max"):
        if module.return_indices:
            raise Unmappable("it also returns the indices of the maxima")
        params = pool_params(
            kind, module.kernel_size, module.stride, module.padding, module.ceil_mode, module.dilation
        )
    else:
        params = pool_params(
            kind,
            module.kernel_size,
            module.stride,
            module.padding,
            module.ceil_mode,
            count_include_pad=module.count_include_pad,
            divisor_override=getattr(module, "divisor_override", None),
        )
    return Mapped(kind, params)


def adaptive_size(size: Any) -> int:
    if size is None or (isinstance(size, tuple | list) and None in size):
        raise Unmappable("it keeps one dimension's size (None), and the catalog's output is square")
    return _single(size, "output size")


def _batchnorm(module: nn.BatchNorm1d | nn.BatchNorm2d) -> Mapped:
    if not module.affine or not module.track_running_stats:
        raise Unmappable(
            "it has no learned scale or keeps no running statistics, and the catalog's BatchNorm has both"
        )
    notes = []
    if module.momentum != 0.1:
        notes.append(
            f"its momentum {module.momentum} became PyTorch's default 0.1 (this changes "
            "training, not predictions)"
        )
    return Mapped(type(module).__name__, {"eps": float(module.eps)}, notes)


def _layernorm(module: nn.LayerNorm) -> Mapped:
    if len(module.normalized_shape) != 1:
        raise Unmappable(
            f"it normalises over {len(module.normalized_shape)} dimensions, and the "
            "catalog's LayerNorm over the last one"
        )
    if module.elementwise_affine and module.bias is None:
        raise Unmappable("it learns a scale without a shift, and the catalog's LayerNorm learns both")
    return Mapped("LayerNorm", {"eps": float(module.eps), "elementwise_affine": module.elementwise_affine})


def _recurrent(module: nn.RNNBase) -> Mapped:
    kind = type(module).__name__
    if not module.batch_first:
        raise Unmappable(
            "it reads (sequence, batch, features) tensors (batch_first=False), and every "
            "nnstudio model keeps the batch first"
        )
    if not module.bias:
        raise Unmappable("it has no biases, and the catalog's recurrent layers have them")
    if getattr(module, "proj_size", 0):
        raise Unmappable("it projects its hidden state (proj_size), which the catalog's LSTM does not")
    params: dict[str, Any] = {
        "hidden_size": module.hidden_size,
        "num_layers": module.num_layers,
        "bidirectional": module.bidirectional,
    }
    if kind == "RNN":
        params["nonlinearity"] = module.nonlinearity
    notes = []
    if module.dropout:
        notes.append(
            f"its dropout of {module.dropout} between layers was left out (this changes "
            "training, not predictions)"
        )
    return Mapped(kind, params, notes)


def _attention(module: nn.MultiheadAttention) -> Mapped:
    if not module.batch_first:
        raise Unmappable(
            "it reads (sequence, batch, features) tensors (batch_first=False), and every "
            "nnstudio model keeps the batch first"
        )
    if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
        raise Unmappable(
            "it has separate key/value sizes or extra key/value biases, which the "
            "catalog's self-attention does not"
        )
    return Mapped(
        "MultiheadAttention",
        {
            "num_heads": module.num_heads,
            "dropout": float(module.dropout),
            "bias": module.in_proj_bias is not None,
        },
    )


def _embedding(module: nn.Embedding) -> Mapped:
    if module.max_norm is not None:
        raise Unmappable("it renormalises its vectors (max_norm), which the catalog's Embedding does not")
    notes = []
    if module.padding_idx is not None:
        notes.append(
            f"its padding index {module.padding_idx} only kept that row's gradient at zero; "
            "the imported layer trains every row"
        )
    return Mapped(
        "Embedding", {"num_embeddings": module.num_embeddings, "embedding_dim": module.embedding_dim}, notes
    )


def _upsample(module: nn.Upsample) -> Mapped:
    return Mapped("Upsample", upsample_params(module.scale_factor, module.mode, module.align_corners))


def upsample_params(scale: Any, mode: str, align_corners: Any) -> dict[str, Any]:
    if scale is None:
        raise Unmappable("it resizes to a fixed size rather than by a factor")
    factor = scale if isinstance(scale, int | float) else _single(tuple(scale), "scale factor")
    if float(factor) != int(factor):
        raise Unmappable(f"its scale factor {factor} is not a whole number")
    if mode not in ("nearest", "bilinear"):
        raise Unmappable(f"it uses '{mode}' interpolation; the catalog has nearest and bilinear")
    if align_corners:
        raise Unmappable("it aligns corners, which the catalog's Upsample does not")
    return {"scale_factor": int(factor), "mode": mode}


def _flatten(module: nn.Flatten) -> Mapped:
    if module.start_dim != 1 or module.end_dim != -1:
        raise Unmappable("it flattens only some dimensions")  # the importer maps it as a Reshape
    return Mapped("Flatten")


def _gelu(module: nn.GELU) -> Mapped:
    if module.approximate != "none":
        raise Unmappable("it uses the tanh approximation, and the catalog's GELU is exact")
    return Mapped("GELU")


def _softmax(module: nn.Softmax | nn.LogSoftmax) -> Mapped:
    if module.dim is None:
        raise Unmappable("its dimension is implicit (dim=None)")
    return Mapped(type(module).__name__, {"dim": module.dim})


def _hardtanh(module: nn.Hardtanh) -> Mapped:
    if (module.min_val, module.max_val) != (0.0, 6.0):
        raise Unmappable(f"it clips to {module.min_val}..{module.max_val}; the catalog has ReLU6 (0..6)")
    return Mapped("ReLU6")


def _plain(type_: str) -> Callable[[nn.Module], Mapped]:
    return lambda module: Mapped(type_)


# --- nnstudio's own helper classes, so exported models import back as they were --------------


def _inception(module: nn.Module) -> Mapped:
    try:
        return Mapped(
            "Inception",
            {
                "ch1x1": module.branch1[0].out_channels,
                "ch3x3red": module.branch2[0].out_channels,
                "ch3x3": module.branch2[2].out_channels,
                "ch5x5red": module.branch3[0].out_channels,
                "ch5x5": module.branch3[2].out_channels,
                "pool_proj": module.branch4[1].out_channels,
            },
        )
    except (AttributeError, IndexError, TypeError):
        raise Unmappable("it is not nnstudio's Inception module") from None


def shortest_float(value: torch.Tensor) -> float:
    """The shortest decimal that is this float32 (0.1, not 0.10000000149011612)."""
    single = float(value)
    for digits in range(1, 10):
        text = float(f"{single:.{digits}g}")
        if torch.tensor(text, dtype=torch.float32).item() == single:
            return text
    return single


def _layer_scale(module: nn.Module) -> Mapped:
    # The factors start equal; the first one is the best guess of their starting value.
    return Mapped("LayerScale", {"init_value": shortest_float(module.gamma.detach().flatten()[0])})


def _shortcut(module: nn.Module) -> Mapped:
    if len(module) == 0:
        return Mapped("Shortcut", {"out_channels": -1, "stride": 1})  # channels filled from the shape
    conv = module[0]
    return Mapped("Shortcut", {"out_channels": conv.out_channels, "stride": _single(conv.stride, "stride")})


HELPER_CLASSES: dict[str, Callable[[nn.Module], Mapped]] = {
    "Inception": _inception,
    "ClassToken": _plain("ClassToken"),
    "PositionEmbedding": _plain("PositionEmbedding"),
    "LayerScale": _layer_scale,
    "Shortcut": _shortcut,
}

# Parameter and buffer names of each helper, as the catalog's support code defines them.
_HELPER_STATE = {
    "ClassToken": {"token"},
    "PositionEmbedding": {"embedding"},
    "LayerScale": {"gamma"},
}


def is_helper(module: nn.Module) -> bool:
    """A class from an nnstudio-generated file (same name, same structure as the catalog's)."""
    name = type(module).__name__
    if name not in HELPER_CLASSES:
        return False
    doc = type(module).__doc__ or ""
    if name in _HELPER_STATE:
        return set(dict(module.named_parameters())) == _HELPER_STATE[name] and bool(doc)
    if name == "Inception":
        return "GoogLeNet inception module" in doc
    if name == "Shortcut":
        return isinstance(module, nn.Sequential) and "ResNet's shortcut" in doc
    return False


def is_preprocess(module: nn.Module) -> bool:
    """The Preprocess module nnstudio puts behind an Input that normalises."""
    return (
        type(module).__name__ == "Preprocess"
        and "Prepares raw samples" in (type(module).__doc__ or "")
        and hasattr(module, "reduced")
        and getattr(module, "mode", None) in ("standard", "minmax")
    )


MODULES: dict[type[nn.Module], Callable[[Any], Mapped]] = {
    nn.Linear: lambda m: Mapped("Linear", {"out_features": m.out_features, "bias": m.bias is not None}),
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.ConvTranspose2d: _deconv,
    nn.MaxPool1d: _pool,
    nn.MaxPool2d: _pool,
    nn.AvgPool1d: _pool,
    nn.AvgPool2d: _pool,
    nn.AdaptiveAvgPool2d: lambda m: Mapped(
        "AdaptiveAvgPool2d", {"output_size": adaptive_size(m.output_size)}
    ),
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.LayerNorm: _layernorm,
    nn.Dropout: lambda m: Mapped("Dropout", {"p": float(m.p)}),
    nn.ReLU: _plain("ReLU"),
    nn.ReLU6: _plain("ReLU6"),
    nn.Hardtanh: _hardtanh,
    nn.LeakyReLU: lambda m: Mapped("LeakyReLU", {"negative_slope": float(m.negative_slope)}),
    nn.Sigmoid: _plain("Sigmoid"),
    nn.Tanh: _plain("Tanh"),
    nn.GELU: _gelu,
    nn.SiLU: _plain("SiLU"),
    nn.Hardswish: _plain("Hardswish"),
    nn.Hardsigmoid: _plain("Hardsigmoid"),
    nn.Softmax: _softmax,
    nn.LogSoftmax: _softmax,
    nn.Identity: _plain("Identity"),
    nn.Flatten: _flatten,
    nn.Upsample: _upsample,
    nn.LSTM: _recurrent,
    nn.GRU: _recurrent,
    nn.RNN: _recurrent,
    nn.Embedding: _embedding,
    nn.MultiheadAttention: _attention,
}


def module_rule(module: nn.Module) -> Callable[[Any], Mapped] | None:
    """The rule for this module's exact class (subclasses may change forward), or None."""
    rule = MODULES.get(type(module))
    if rule is None and is_helper(module):
        rule = HELPER_CLASSES[type(module).__name__]
    return rule


# --- functions and methods ---------------------------------------------------------------------

# Element-wise activations: (function or method name) -> catalog type.
ACTIVATIONS: dict[Any, str] = {
    F.relu: "ReLU",
    torch.relu: "ReLU",
    "relu": "ReLU",
    F.relu_: "ReLU",
    "relu_": "ReLU",
    torch.relu_: "ReLU",
    F.relu6: "ReLU6",
    torch.sigmoid: "Sigmoid",
    F.sigmoid: "Sigmoid",
    "sigmoid": "Sigmoid",
    torch.tanh: "Tanh",
    F.tanh: "Tanh",
    "tanh": "Tanh",
    F.silu: "SiLU",
    F.hardswish: "Hardswish",
    F.hardsigmoid: "Hardsigmoid",
}

ADDS = {operator.add, operator.iadd, torch.add, "add", "add_"}
MULS = {operator.mul, operator.imul, torch.mul, "mul", "mul_"}
CATS = {torch.cat, torch.concat, torch.concatenate}
RESHAPES = {
    torch.flatten,
    torch.reshape,
    torch.squeeze,
    torch.unsqueeze,
    "view",
    "reshape",
    "flatten",
    "squeeze",
    "unsqueeze",
    "view_as",
    "reshape_as",
}
ALIASES = {"contiguous", "clone", "detach", F.dropout1d if hasattr(F, "dropout1d") else None} - {None}
PERMUTES = {torch.permute, "permute"}
TRANSPOSES = {torch.transpose, "transpose"}
MEANS = {torch.mean, "mean"}
SOFTMAXES = {
    F.softmax: "Softmax",
    torch.softmax: "Softmax",
    "softmax": "Softmax",
    F.log_softmax: "LogSoftmax",
    torch.log_softmax: "LogSoftmax",
    "log_softmax": "LogSoftmax",
}


def describe_target(target: Any) -> str:
    """How a person would write the call: 'torch.cat', 'F.relu', '.view()'."""
    if isinstance(target, str):
        return f".{target}()"
    if isinstance(target, torch._ops.OpOverload):  # from the torch.export route
        return f"torch.ops.{target._schema.name.replace('::', '.')}"
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__name__", repr(target))
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module.startswith("torch") or (module == "" and hasattr(torch, name)):
        return f"torch.{name}"
    if module == "_operator":
        return f"the '{name}' operator"
    return f"{module}.{name}" if module else name
