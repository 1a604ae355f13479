"""The ``nnstudio`` command: plain ``nnstudio [FILE]`` opens the editor;
subcommands work headless (validate, info, export, train, sweep).

Each subcommand lives in ``nnstudio/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``; none imports torch or Qt
at module level, so ``--help`` and ``validate`` stay fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from pathlib import Path

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
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-") and not _names_a_file(argv[0]):
        return _unknown_command(argv[0])
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        from nnstudio.gui.app import run_app

        return run_app(argv)
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 0
    return args.run(args)


def _names_a_file(word: str) -> bool:
    """Whether ``nnstudio WORD`` means "open WORD in the editor": an existing path, or
    one spelled like a project (the editor then says what is wrong with it)."""
    from nnstudio.core.project import SUFFIX

    return Path(word).exists() or word.lower().endswith(SUFFIX) or any(sep in word for sep in "/\\")


def _unknown_command(word: str) -> int:
    from nnstudio.commands._common import EXIT_BAD_INPUT

    close = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = f" Did you mean 'nnstudio {close[0]}'?" if close else ""
    print(
        f"nnstudio: error: '{word}' is neither a command ({', '.join(COMMANDS)}) nor an existing "
        f"file.{hint}",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
