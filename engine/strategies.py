"""Hypothesis strategies for property tests of gradients, built over the op table.

Import them in your own tests::

    from hypothesis import given
    from tapegrad.engine import gradcheck
    from tapegrad.engine.strategies import expressions

    @given(expressions())
    def test_backprop_matches_central_differences(expr):
        gradcheck(expr, expr.inputs)

Everything about an op comes from its row of the table (``engine.OPS``): its
``domain`` and ``kinks`` say where inputs are drawn, ``unbounded`` whether random
expressions may feed it any moderate value, and ``operators`` how an expression
applies it (``x * y``, ``2.0 * x``). A row added with ``register_op`` is drawn too.

* :func:`op_inputs` draws inputs for one op row from its domain, a margin away from
  its kinks (relu at 0) so that central differences are meaningful.
* :func:`expressions` draws random expression trees whose nodes are reused
  (diamonds: ``y = f(x); z = g(y, y)``), evaluated as they are drawn so every op
  stays inside its domain and every value stays moderate.

Requires the ``hypothesis`` package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import strategies as st

from .ops import OPS, Op
from .value import Value

__all__ = ["MARGIN", "floats_between", "op_inputs", "expressions", "Expression"]

#: How far tests stay from kinks and domain edges (much larger than eps = 1e-6).
MARGIN = 1e-3
#: Largest magnitude an expression's values and local derivatives may reach.
BOUND = 1e3


def _away_from_kinks(x: float, kinks: tuple, margin: float) -> bool:
    return all(abs(x - k) >= margin for k in kinks)


def floats_between(low: float, high: float, kinks: tuple = (), margin: float = MARGIN):
    """Finite floats in ``[low + margin, high - margin]``, at least ``margin`` from each kink."""
    return st.floats(low + margin, high - margin, allow_nan=False, allow_infinity=False).filter(
        lambda x: _away_from_kinks(x, kinks, margin)
    )


def op_inputs(row: Op | str, margin: float = MARGIN):
    """A tuple of inputs for ``row``, one per argument, drawn from its domain."""
    if isinstance(row, str):
        row = OPS[row]
    return st.tuples(*(floats_between(lo, hi, row.kinks, margin) for lo, hi in row.domain))


def _inside(row: Op, args: tuple, margin: float) -> bool:
    if row.unbounded:
        return True  # smooth on all of R: any moderate operands (BOUND checks the rest)
    for x, (lo, hi) in zip(args, row.domain):
        if not (lo + margin <= x <= hi - margin and _away_from_kinks(x, row.kinks, margin)):
            return False
    return True


@dataclass(frozen=True)
class Expression:
    """A straight-line program over the op table, callable on Values.

    ``inputs`` are the drawn input numbers; ``program`` lists instructions
    ``(op name, operands)`` where an operand is ``("reg", i)`` -- register ``i``,
    the inputs first, then each instruction's result -- or ``("const", c)``.
    Calling the expression returns the last register.
    """

    inputs: tuple[float, ...]
    program: tuple[tuple[str, tuple], ...]

    def __call__(self, *args):
        if len(args) != len(self.inputs):
            raise TypeError(f"expression takes {len(self.inputs)} inputs, got {len(args)}")
        regs = [a if isinstance(a, Value) else Value(a) for a in args]
        for name, operands in self.program:
            vals = [regs[i] if kind == "reg" else i for kind, i in operands]
            if OPS[name].arity == 1:
                regs.append(getattr(vals[0], name)())
            elif isinstance(vals[0], Value):  # through the operator (x + y, x / 2.0, ...)
                regs.append(getattr(vals[0], OPS[name].operators[0])(vals[1]))
            else:  # a number on the left: the reflected operator (2.0 * x)
                regs.append(getattr(vals[1], OPS[name].operators[1])(vals[0]))
        return regs[-1]

    def __repr__(self) -> str:
        lines = [f"inputs = {list(self.inputs)!r}"]
        n = len(self.inputs)

        def show(op):
            kind, i = op
            return f"r{i}" if kind == "reg" else repr(i)

        for k, (name, operands) in enumerate(self.program):
            lines.append(f"r{n + k} = {name}({', '.join(show(o) for o in operands)})")
        return "Expression(" + "; ".join(lines) + ")"


@st.composite
def expressions(
    draw,
    min_inputs: int = 1,
    max_inputs: int = 3,
    max_ops: int = 10,
    ops: tuple[str, ...] | None = None,
    margin: float = MARGIN,
):
    """Random expression trees with shared subexpressions, over the op table.

    Operands are drawn from *all* earlier registers, so a node often feeds several
    later ones (fan-out) and paths reconverge (diamonds). Each instruction is kept
    only if its inputs lie in the op's domain, a margin from its kinks, and its
    result and local derivatives are finite and at most ``BOUND`` in magnitude.
    """
    names = tuple(ops) if ops is not None else tuple(OPS)
    for name in names:
        if name not in OPS:
            raise ValueError(f"unknown op {name!r}; the table has {sorted(OPS)}")
    n = draw(st.integers(min_inputs, max_inputs))
    inputs = [draw(floats_between(-3.0, 3.0, (0.0,), margin)) for _ in range(n)]
    values = list(inputs)
    program: list[tuple[str, tuple]] = []
    n_ops = draw(st.integers(1, max_ops))
    attempts = 0
    while len(program) < n_ops and attempts < 4 * n_ops:
        attempts += 1
        row = OPS[draw(st.sampled_from(names))]
        operands = []
        for position in range(row.arity):
            # Prefer recent registers (deep graphs) but allow any (fan-out, diamonds);
            # binary ops sometimes take a constant instead.
            if row.arity == 2 and position == 1 and draw(st.integers(0, 4)) == 0:
                lo, hi = row.domain[1]
                operands.append(("const", draw(floats_between(lo, hi, row.kinks, margin))))
            else:
                operands.append(("reg", draw(st.integers(0, len(values) - 1))))
        args = tuple(values[i] if kind == "reg" else i for kind, i in operands)
        if not _inside(row, args, margin):
            continue
        out, *local = row.fn(*args)
        if not all(math.isfinite(v) and abs(v) <= BOUND for v in (out, *local)):
            continue
        program.append((row.name, tuple(operands)))
        values.append(out)
    if not program:  # always at least one op: fall back to a product of the inputs
        program.append(("mul", (("reg", 0), ("reg", n - 1))))
    return Expression(tuple(inputs), tuple(program))
