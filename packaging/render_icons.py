"""Render the SVG icons in ``resources/icons`` to the PNG sizes desktops ask for.

Run after editing an SVG:  python packaging/render_icons.py
The PNGs are committed so that neither installing nor packaging needs Qt's SVG
module at build time; ``tests/packaging`` checks that they match the sizes here.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"

# The hicolor sizes desktops look up; the MIME icon is never shown larger than 256.
SIZES: dict[str, tuple[int, ...]] = {
    "nnstudio": (16, 24, 32, 48, 64, 128, 256, 512),
    "application-x-nnstudio": (16, 24, 32, 48, 64, 128, 256),
}


def png_path(name: str, size: int) -> Path:
    return ICONS / f"{name}-{size}.png"


def render(svg: Path, size: int) -> bytes:
    """The SVG drawn on a transparent ``size``-pixel square, as optimised PNG bytes."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG file.")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    # Qt writes unoptimised PNGs; a palette-free re-save with Pillow halves them.
    out = io.BytesIO()
    Image.open(io.BytesIO(bytes(buffer.data()))).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (keeps Qt alive)
    for name, sizes in SIZES.items():
        svg = ICONS / f"{name}.svg"
        for size in sizes:
            target = png_path(name, size)
            target.write_bytes(render(svg, size))
            print(f"{target.relative_to(ICONS.parents[1])}: {target.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
