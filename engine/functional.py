"""Functional forms of every op in the table: ``engine.exp(x)``, ``engine.pow(x, y)``.

Each accepts Values or plain numbers. Numbers next to a Value are constants; when
every input is a number the result is a new leaf Value. These functions are made
from :data:`tapegrad.engine.ops.OPS`, so a new row gets its function here automatically.
"""

from __future__ import annotations

from .ops import OPS, Op
from .value import apply

__all__ = list(OPS)


def _functional(row: Op):
    if row.arity == 1:

        def f(x):
            return apply(row, x)

    else:

        def f(x, y):
            return apply(row, x, y)

    f.__name__ = f.__qualname__ = row.name
    f.__doc__ = f"{row.doc}\n\nAccepts a Value or a number; returns a Value."
    return f


for _name, _row in OPS.items():
    globals()[_name] = _functional(_row)
del _name, _row
