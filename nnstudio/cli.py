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
from nnstudio.commands.exit_codes import EXIT_BAD_INPUT, EXIT_INTERRUPTED

COMMANDS = ("validate", "info", "export", "train", "sweep", "import")
_MODULES = {"import": "import_"}  # a command whose name is a Python keyword


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
            module = importlib.import_module(f"nnstudio.commands.{_MODULES.get(name, name)}")
        except ModuleNotFoundError as exc:
            if exc.name != f"nnstudio.commands.{_MODULES.get(name, name)}":
                raise
            continue  # a command still being built
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``nnstudio ARGS``; return the exit status. A Ctrl-C that reaches here (during
    start-up, or the second one during a run) ends the command without a traceback."""
    as_program = argv is None  # the process is ours: `nnstudio ...` or `python -m nnstudio`
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        print("\nnnstudio: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if as_program:
            _quit_on_interrupt()


def _quit_on_interrupt() -> None:
    """From here on the process only tears down (torch's finalizers can take a moment):
    a Ctrl-C now ends it at once instead of raising inside those finalizers."""
    import os
    import signal

    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(EXIT_INTERRUPTED))


def _main(argv: list[str]) -> int:
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
    close = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = f" Did you mean 'nnstudio {close[0]}'?" if close else ""
    print(
        f"nnstudio: error: '{word}' is neither a command ({', '.join(COMMANDS)}) nor an existing file.{hint}",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
