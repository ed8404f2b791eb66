"""Functional forms of every op in the table: ``engine.exp(x)``, ``engine.pow(x, y)``.

Each accepts Values or plain numbers. Numbers next to a Value are constants; when
every input is a number the result is a new leaf Value. These functions are made
from :data:`tapegrad.engine.ops.OPS` by a listener of :func:`~tapegrad.engine.ops.on_register`,
so a row registered later (``register_op``) gets its function here, and as
``engine.<name>``, automatically.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .ops import Op, on_register
from .value import Value, apply

__all__: list[str] = []


def _functional(row: Op) -> Callable[..., Value]:
    def unary(x: Value | float) -> Value:
        return apply(row, x)

    def binary(x: Value | float, y: Value | float) -> Value:
        return apply(row, x, y)

    f = unary if row.arity == 1 else binary
    f.__name__ = f.__qualname__ = row.name
    f.__doc__ = f"{row.doc}\n\nAccepts a Value or a number; returns a Value."
    f.__module__ = __name__
    return f


def _add_function(row: Op) -> None:
    f = _functional(row)
    globals()[row.name] = f
    if row.name not in __all__:
        __all__.append(row.name)
    # ``engine.<name>``: the package re-exports this module's names at import; a row
    # registered after that is added to the package here.
    package = sys.modules.get(__package__)
    if package is not None and "functional" in vars(package):
        setattr(package, row.name, f)


on_register(_add_function)
