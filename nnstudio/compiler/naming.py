"""Legal, unique Python identifiers from whatever the user typed.

Node and graph names are free text (``"Conv 1"``, ``"LeNet-5"``, even
``"__import__('os')"``); generated source only ever sees what comes out of
here: ASCII letters, digits and underscores that are not keywords, builtins or
names the generated file already uses. Like torch.fx's ``_Namespace``, a
:class:`Namespace` hands out each name once, adding ``_1``, ``_2``... on clashes.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from collections.abc import Iterable

# Public attributes of torch.nn.Module (and of a module instance). A layer
# stored under one of these names would shadow a method the trainer calls, so
# attribute names avoid them. Written out because naming must not import
# torch; tests/compiler/test_naming.py checks the list against the installed torch.
MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
        # set on compiled modules by nnstudio.compiler.build
        "nnstudio_code",
    }
)

# Names no generated identifier may take: Python's own, and the modules every
# generated file imports.
PYTHON_RESERVED = frozenset({*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "self", "torch", "nn"})

_MAX_LENGTH = 40
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])")
_NOT_IDENTIFIER = re.compile(r"[^a-z0-9]+")
_WORDS = re.compile(r"[A-Za-z0-9]+")


def _ascii(text: str) -> str:
    """'Café' -> 'Cafe'; characters with no ASCII form are dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii")


def snake_case(text: str, fallback: str = "value") -> str:
    """A lower-case snake_case identifier from free text ('Conv Block 1' -> 'conv_block_1').

    The result is legal but not yet checked against reserved names; use a
    :class:`Namespace` for that. ``fallback`` (itself snake_case) replaces text
    with no usable characters and prefixes text that starts with a digit.
    """
    words = _CAMEL_BOUNDARY.sub("_", _ascii(text)).lower()
    name = _NOT_IDENTIFIER.sub("_", words).strip("_")[:_MAX_LENGTH].rstrip("_")
    if not name:
        return fallback
    if name[0].isdigit():
        return f"{fallback}_{name}"
    return name


def camel_case(text: str, fallback: str = "Model") -> str:
    """A CamelCase class name from free text ('LeNet-5' -> 'LeNet5', 'my model' -> 'MyModel')."""
    words = _WORDS.findall(_ascii(text))
    name = "".join(word[0].upper() + word[1:] for word in words)[:_MAX_LENGTH]
    if not name:
        return fallback
    if name[0].isdigit():
        return f"{fallback}{name}"
    return name


class Namespace:
    """Hands out unique identifiers that avoid ``reserved`` and each other."""

    def __init__(self, reserved: Iterable[str] = PYTHON_RESERVED) -> None:
        self._taken: set[str] = set(reserved)

    def __contains__(self, name: object) -> bool:
        return name in self._taken

    def reserve(self, name: str) -> None:
        """Mark ``name`` as taken without handing it out."""
        self._taken.add(name)

    def create(self, text: str, fallback: str = "value") -> str:
        """A fresh snake_case identifier made from ``text``."""
        return self.claim(snake_case(text, fallback))

    def claim(self, base: str) -> str:
        """``base`` itself if free, else ``base_1``, ``base_2``...; ``base`` must be legal."""
        if not base.isidentifier():
            raise ValueError(f"{base!r} is not a Python identifier")
        name, index = base, 0
        while name in self._taken or keyword.iskeyword(name):
            index += 1
            name = f"{base}_{index}"
        self._taken.add(name)
        return name
