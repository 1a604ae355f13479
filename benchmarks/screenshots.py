"""Screenshots of the editor with bundled examples open, in the light and dark themes.

Meant for a real (virtual) display, so fonts, DPI and the window frame are
what users get::

    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/screenshots.py

For each example (all bundled ones by default) and theme it writes
``screenshots/<example>-<theme>.png`` (the view a user gets on opening it, the
example's description in view and one layer selected so the inspector is filled
in) and ``...-fit.png`` (Fit to
Window: the whole graph, the summary showing), with ``--code`` one with the
generated code showing, and with ``--inside NAME`` ``...-inside.png``: the
block instance NAME opened on the canvas (as a double-click does), the summary
tree open at that instance. It prints the zoom Fit to Window gives each example in a window of
``--size`` (1280x800 by default), the figure the layout is judged by.
Settings go to a throw-away folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from nnstudio import resources
from nnstudio.gui import theme
from nnstudio.gui.app import create_application
from nnstudio.gui.main_window import MainWindow

EXAMPLES = tuple(sorted(p.stem for p in resources.examples_dir().glob("*.nnstudio")))
THEMES = ("light", "dark")


def settle(app: QApplication, rounds: int = 10) -> None:
    """Run what the event loop would: posted events, timers, and deferred deletes, which
    processEvents() alone leaves pending (Qt's replaced dock tab bars then stay drawn
    over the bottom panels in the screenshot, though the app never shows them)."""
    for _ in range(rounds):
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def shoot(
    app: QApplication,
    example: str,
    mode: str,
    folder: Path,
    with_code: bool,
    size: tuple[int, int] = (1280, 800),
    arrange: bool = False,
    inside: str | None = None,
) -> list[Path]:
    theme.manager().set_mode(mode)
    window = MainWindow()
    window.resize(*size)
    window.show()
    settle(app)
    window.open_example(resources.examples_dir() / f"{example}.nnstudio")
    graph = window.document.graph
    convolutions = [n.id for n in graph.nodes.values() if n.type in ("Conv2d", "Inception")]
    window.scene.select_nodes(convolutions[:1])
    settle(app)  # as opened: the "About" tab shows the example's description
    written = []
    path = folder / f"{example}-{mode}.png"
    window.grab().save(str(path))
    written.append(path)
    window.docks["summary"].raise_()
    if arrange:
        window.auto_layout()
    window.view.fit_to_view()
    settle(app)
    path = folder / f"{example}-{mode}-fit.png"
    window.grab().save(str(path))
    written.append(path)
    viewport = window.view.viewport().size()
    print(
        f"{example} ({mode}): Fit to Window zoom {window.view.zoom():.0%} in a "
        f"{viewport.width()}x{viewport.height()} canvas"
    )
    if inside is not None and inside in {n.name for n in graph.nodes.values()}:
        window.block_editing.open_instance(graph.node_by_name(inside).id)
        body = window.canvas_document.graph
        window.scene.select_nodes([n.id for n in body.nodes.values() if n.type == "Conv2d"][:1])
        settle(app)
        path = folder / f"{example}-{mode}-inside.png"
        window.grab().save(str(path))
        written.append(path)
        window.block_editing.go_to(0)
    if with_code:
        window.docks["code"].raise_()
        window.code_preview.refresh()
        settle(app)
        path = folder / f"{example}-{mode}-code.png"
        window.grab().save(str(path))
        written.append(path)
    window.document.undo_stack.setClean()
    window.close()
    settle(app)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="screenshots", help="folder for the PNG files")
    parser.add_argument("--code", action="store_true", help="also capture the code preview")
    parser.add_argument("--examples", nargs="*", default=list(EXAMPLES))
    parser.add_argument("--themes", nargs="*", default=list(THEMES))
    parser.add_argument("--arrange", action="store_true", help="Arrange (automatic layout) before fitting")
    parser.add_argument("--size", default="1280x800", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--inside", help="also open this block instance (by name) and capture its inside")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        os.environ["NNSTUDIO_HOME"] = home
        app = create_application()
        for example in args.examples:
            for mode in args.themes:
                for path in shoot(app, example, mode, folder, args.code, size, args.arrange, args.inside):
                    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
