"""The icon set: every size desktops ask for, rendered from the SVGs, and found by the app."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from nnstudio.resources import app_icon, icons_dir

ROOT = Path(__file__).resolve().parents[2]


def _render_icons_module():
    spec = importlib.util.spec_from_file_location("render_icons", ROOT / "packaging" / "render_icons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIZES = _render_icons_module().SIZES


@pytest.mark.parametrize("name", sorted(SIZES))
def test_every_size_is_rendered_square_with_transparency(name: str):
    svg = ET.parse(icons_dir() / f"{name}.svg").getroot()
    assert svg.get("viewBox") == "0 0 64 64"
    for size in SIZES[name]:
        with Image.open(icons_dir() / f"{name}-{size}.png") as image:
            assert image.size == (size, size)
            assert image.mode == "RGBA"
            # The corners are outside the rounded tile (or the page): see-through.
            assert image.getpixel((0, 0))[3] == 0


def test_no_stray_pngs_that_the_render_script_would_not_make():
    expected = {f"{name}-{size}.png" for name, sizes in SIZES.items() for size in sizes}
    assert {p.name for p in icons_dir().glob("*.png")} == expected


def test_the_icons_stay_small():
    total = sum(p.stat().st_size for p in icons_dir().iterdir())
    assert total < 200_000, f"the icon set grew to {total:,} bytes; render with optimize=True"


def test_app_icon_picks_the_smallest_png_at_least_as_large():
    assert app_icon().suffix == ".svg"
    assert app_icon(48).name == "nnstudio-48.png"
    assert app_icon(40).name == "nnstudio-48.png"
    assert app_icon(4096).name == "nnstudio-512.png"
