"""Identifiers made from user text: legal, readable, unique, never reserved."""

from __future__ import annotations

import builtins
import keyword

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnstudio.compiler.naming import (
    MODULE_ATTRIBUTES,
    PYTHON_RESERVED,
    Namespace,
    camel_case,
    snake_case,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("conv1", "conv1"),
        ("Conv 1", "conv_1"),
        ("ConvBlock", "conv_block"),
        ("ReLU1", "relu1"),
        ("fc-2 (hidden)", "fc_2_hidden"),
        ("Café crème", "cafe_creme"),
        ("__init__", "init"),
        ("3x3 conv", "layer_3x3_conv"),
        ("卷积", "layer"),
        ("__import__('os').system('rm -rf /')", "import_os_system_rm_rf"),
        ("a\r\nb", "a_b"),
    ],
)
def test_snake_case_reads_like_the_name_the_user_gave(text: str, expected: str) -> None:
    assert snake_case(text, fallback="layer") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LeNet-5", "LeNet5"),
        ("GoogLeNet mini", "GoogLeNetMini"),
        ("my model", "MyModel"),
        ("3 layer net", "Model3LayerNet"),
        ('"""; import os', "ImportOs"),
        ("", "Model"),
        ("!!!", "Model"),
    ],
)
def test_camel_case_makes_class_names(text: str, expected: str) -> None:
    assert camel_case(text) == expected


def test_namespace_never_hands_out_reserved_or_repeated_names() -> None:
    names = Namespace()
    assert names.create("self") == "self_1"
    assert names.create("class") == "class_1"
    assert names.create("print") == "print_1"
    assert names.create("torch") == "torch_1"
    assert names.create("conv") == "conv"
    assert names.create("Conv") == "conv_1"
    assert names.create("conv_1") == "conv_1_1"
    assert names.create("???", fallback="linear") == "linear"


def test_module_attribute_names_cover_every_public_nn_module_attribute() -> None:
    """A layer named 'forward' or 'training' must not replace the module's own."""
    public = {name for name in dir(torch.nn.Module()) if not name.startswith("_")}
    missing = public - MODULE_ATTRIBUTES
    assert not missing, f"add these torch.nn.Module attributes to MODULE_ATTRIBUTES: {sorted(missing)}"


@given(st.lists(st.text(max_size=30), max_size=30))
def test_any_text_becomes_distinct_legal_identifiers(texts: list[str]) -> None:
    names = Namespace({*PYTHON_RESERVED, *MODULE_ATTRIBUTES})
    made = [names.create(text, fallback="layer") for text in texts]
    assert len(set(made)) == len(made)
    for name in made:
        assert name.isidentifier() and name.isascii()
        assert not keyword.iskeyword(name) and not keyword.issoftkeyword(name)
        assert name not in dir(builtins) and name not in MODULE_ATTRIBUTES
        assert name not in {"self", "torch", "nn"}
        assert not name.startswith("_")


@given(st.text(max_size=60))
def test_any_text_becomes_a_legal_class_name(text: str) -> None:
    name = camel_case(text)
    assert name.isidentifier() and name.isascii() and name[0].isupper()
