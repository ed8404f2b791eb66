"""The ``tapegrad`` command line.

Each subcommand lives in its own module under :mod:`tapegrad.nn.commands` and registers
itself with ``register(subparsers)``; ``main`` parses arguments and turns every
user error into a one-line message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import os
import sys
from importlib import metadata
from typing import NoReturn

from .commands import UsageError

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ["train", "demo", "graph", "tape"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors on one line: ``tapegrad train: error: argument
    --model: invalid choice: 'foo' (choose from ...); see tapegrad train --help``.

    argparse's own ``error`` prints the whole usage summary first (ten lines for
    ``tapegrad train``); the line that says what is wrong was the last one. The
    subcommands' parsers are made by ``add_subparsers``, which uses this class too.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def version() -> str:
    """The installed distribution's version (``pyproject.toml``'s ``version``), read
    from its metadata, so ``tapegrad --version`` and ``pip show tapegrad`` agree."""
    try:
        return metadata.version("tapegrad")
    except metadata.PackageNotFoundError:  # imported from a checkout, never installed
        return "unknown (not installed: pip install .)"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="tapegrad",
        description="tapegrad: a tape-based scalar autograd engine for learning deep learning.",
    )
    parser.add_argument("--version", action="version", version=f"tapegrad {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"tapegrad.nn.commands.{name}").register(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` (build_parser made it with add_subparsers)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise ValueError(f"{parser.prog} has no subcommands")


#: Subcommands whose positional argument is a formula, which may start with '-'.
FORMULA_COMMANDS = ("graph", "tape")


def _shield_formulas(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """A formula such as ``-x*w`` or ``-log(p)`` starts with '-', which argparse takes
    for an option (and then reports the formula as missing). A space in front, which
    the expression parser strips, keeps it a formula. Arguments that are the
    subcommand's options, or an option's value, are left alone."""
    if len(argv) < 2 or argv[0] not in FORMULA_COMMANDS:
        return argv
    options = _subparser(parser, argv[0])._option_string_actions
    shielded = [argv[0]]
    for previous, arg in itertools.pairwise(argv):
        is_value = previous in options and options[previous].nargs != 0
        if arg.startswith("-") and not arg.startswith("--") and arg[:2] not in options:
            arg = arg if is_value else " " + arg
        shielded.append(arg)
    return shielded


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unknown = parser.parse_known_args(_shield_formulas(parser, argv))
    if unknown:  # named by the subcommand that refuses them, not by `tapegrad`
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.run(args) or 0)
    except UsageError as e:
        print(f"tapegrad {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`tapegrad tape ... | head`): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
