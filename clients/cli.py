"""The ``papertrans`` console entry point.

Each part registers its own subcommands (``server.cli``, ``rl.cli``, ``clients.commands``) through a
``register(subparsers)`` function; registration only declares arguments, so ``papertrans --help`` stays fast and
heavy imports (torch, vLLM) happen inside the command that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["build_parser", "main"]

# Modules that contribute subcommands; a part that is not installed simply contributes none.
_COMMAND_MODULES = ("server.cli", "server.demo", "server.store.cli", "clients.commands", "rl.cli")


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with 1 (argparse's default 2 would read as "server unavailable" in the client's codes);
    subcommand parsers inherit this class."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="papertrans",
        description="Translate English papers (Markdown + LaTeX) into Chinese; serve, collect feedback, train.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 1
    code = handler(args)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
