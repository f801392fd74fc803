"""The ``papertrans`` console entry point.

Each part registers its own subcommands (``papertrans.server.cli``, ``papertrans.rl.cli``, ``papertrans.clients.cli``,
...) through a ``register(subparsers)`` function; registration only declares arguments, so ``papertrans --help`` stays
fast and heavy imports (torch, vLLM, Litestar) happen inside the command that needs them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["build_parser", "main"]

from papertrans import demo, distill, exitcodes, extras
from papertrans.clients import cli as clients_cli
from papertrans.rl import cli as rl_cli
from papertrans.server import cli as server_cli

# Modules that contribute subcommands (registration is light: argparse only).
_COMMAND_MODULES = (server_cli, demo, clients_cli, rl_cli, distill)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with :data:`exitcodes.USAGE` (argparse's default 2 would read as "unavailable" in the one
    exit-code table, :mod:`papertrans.exitcodes`); subcommand parsers inherit this class."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="papertrans",
        description="Translate English papers (Markdown + LaTeX) into Chinese; serve, collect feedback, train.",
        epilog=exitcodes.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return exitcodes.USAGE
    try:
        code = handler(args)
    except ModuleNotFoundError as exc:
        # A smaller install registers every command; one whose extra is missing says which to install.
        message = extras.missing_extra_message(args.command, exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return exitcodes.USAGE
    return int(code or exitcodes.OK)


if __name__ == "__main__":
    sys.exit(main())
