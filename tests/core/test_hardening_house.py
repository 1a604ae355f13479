"""House rules: the catalog cannot be changed at run time."""

from __future__ import annotations

import pytest

from nnstudio.core.layers import CATALOG, get_spec


def test_the_catalog_is_read_only() -> None:
    with pytest.raises(TypeError):
        CATALOG["Linear"] = CATALOG["ReLU"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del CATALOG["Linear"]  # type: ignore[attr-defined]
    assert not hasattr(CATALOG, "pop") and get_spec("Linear") is CATALOG["Linear"]
