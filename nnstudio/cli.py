"""The ``nnstudio`` command: plain ``nnstudio [FILE]`` opens the editor;
subcommands work headless (validate, info, export, train, sweep).

Each subcommand lives in ``nnstudio/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``; none imports torch or Qt
at module level, so ``--help`` and ``validate`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nnstudio import __version__

COMMANDS = ("validate", "info", "export", "train", "sweep")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnstudio",
        description="Design neural networks visually, train them, export PyTorch code. "
        "Run without a command to open the editor.",
    )
    parser.add_argument("--version", action="version", version=f"nnstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"nnstudio.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"nnstudio.commands.{name}":
                raise
            continue  # a command still being built
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        from nnstudio.gui.app import run_app

        return run_app(argv)
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
