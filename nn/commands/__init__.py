"""Subcommands of the ``tapegrad`` command line, one module each (see :mod:`tapegrad.nn.cli`).

Each module defines ``register(subparsers)``; :mod:`tapegrad.nn.cli` loads them by name
and turns a :class:`UsageError` into one line and exit code 2.
"""

__all__ = ["UsageError"]


class UsageError(Exception):
    """A bad argument: printed as one line, exit code 2."""
