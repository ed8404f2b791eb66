"""Write the op table's ``Value`` methods into ``engine/value.py``.

Every row of :data:`tapegrad.engine.ops.OPS` is a method of ``Value`` (``def tanh``,
``def __mul__`` ...) that grep, IDEs and type checkers find: committed source, made
from the table by :func:`tapegrad.engine.formulas.method_source` (one template per
arity) between two marked lines of ``value.py``. After editing the table, run::

    python -m tapegrad.engine.codegen           # rewrite the generated sections
    python -m tapegrad.engine.codegen --check   # exit 1 if they differ from the table

``tests/engine/test_codegen.py`` runs the check. A row added at run time with
``register_op`` gets the same source, ``exec``-ed when it is registered.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from . import value
from .formulas import method_source
from .ops import OPS

__all__ = ["generated_value_source", "main"]

METHODS = ("    # BEGIN GENERATED OP METHODS\n", "    # END GENERATED OP METHODS\n")
ROWS = ("# BEGIN GENERATED OP ROWS\n", "# END GENERATED OP ROWS\n")


def _methods() -> str:
    parts = []
    for row in OPS.values():
        source = method_source(row.name, row.arity, row.doc, row.operators)
        lines = source.splitlines(True)
        parts.append("".join(f"    {line}" if line.strip() else line for line in lines))
    return "\n".join(parts) + "\n"


def _rows() -> str:
    return "".join(f'_row_{n} = OPS["{n}"]\n_fn_{n} = _row_{n}.fn\n' for n in OPS)


def _replace(source: str, markers: tuple[str, str], body: str) -> str:
    begin, end = markers
    start, stop = source.find(begin), source.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"value.py has no section {begin.strip()!r} ... {end.strip()!r}")
    return source[: start + len(begin)] + body + source[stop:]


def generated_value_source(source: str) -> str:
    """``source`` (value.py's text) with its generated sections made from the table."""
    return _replace(_replace(source, METHODS, _methods()), ROWS, _rows())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tapegrad.engine.codegen")
    parser.add_argument("--check", action="store_true", help="exit 1 if value.py is stale")
    args = parser.parse_args(argv)
    path = pathlib.Path(value.__file__)
    old = path.read_text(encoding="utf-8")
    new = generated_value_source(old)
    if args.check:
        if new != old:
            print(f"{path}: the op methods differ from the table; run {parser.prog}")
            return 1
        return 0
    if new != old:
        path.write_text(new, encoding="utf-8")
        print(f"{path}: op methods rewritten from the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
