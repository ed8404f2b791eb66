"""The table of primitive operations: one row per op.

Every primitive the engine knows is a single :class:`Op` row in :data:`OPS`. A row
holds everything about the op in one place:

* ``fn`` -- a plain function on Python floats that returns the result *and* the
  local derivative with respect to each input, as numbers, in one call. The
  engine stores those numbers on the node during the forward pass; backprop then
  only multiplies and adds (``parent.grad += local * node.grad``).
* ``label`` -- how graphs and tapes display it,
* ``doc`` -- a one-line statement of its math,
* ``domain`` / ``kinks`` -- where its tests draw inputs from, and the points they
  keep a margin away from (a kink such as relu at 0, a domain edge such as log at 0).

Adding an op means adding a row: the ``Value`` operator methods, the functional
forms (``engine.exp(x)``) and the per-op tests are all generated from this table.
Composite operations (subtraction, division, negation, reflected operators) are
written in terms of these primitives in :mod:`tapegrad.engine.value`.

Semantics follow PyTorch's float64 results: IEEE ``inf``/``nan`` instead of Python
exceptions, and PyTorch's conventions at kinks (``relu'(0) = 0``, ``abs'(0) = 0``,
``sign' = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

INF = math.inf
NAN = math.nan

__all__ = [
    "Op",
    "OPS",
    "UNARY_OPS",
    "BINARY_OPS",
    "MASKED",
    "register_op",
    "on_register",
    "safe_pow",
]


@dataclass(frozen=True)
class Op:
    """One primitive: its forward pass, local derivatives, label, doc and test domain.

    ``fn(*inputs)`` returns ``(result, d_result/d_input_0, d_result/d_input_1, ...)``.
    A local derivative may be :data:`MASKED`: an edge PyTorch's backward *selects*
    zero for instead of multiplying (relu at x <= 0, sign, pow's d/dx at exponent 0).
    ``operators`` are the ``Value`` methods the row provides besides its name: for a
    binary op the operator and its reflected form (``("__mul__", "__rmul__")``), for
    a unary op any extra operator (``("__abs__",)``). ``micrograd_op`` is the string
    micrograd's ``_op`` shows for it (``'ReLU'``), the label when empty.
    ``domain`` is one ``(low, high)`` interval per input for the property tests;
    ``kinks`` are points inside it that tests keep a margin away from.
    """

    name: str
    arity: int
    fn: Callable[..., tuple]
    label: str
    doc: str
    domain: tuple = ((-5.0, 5.0),)
    kinks: tuple = ()
    operators: tuple[str, ...] = ()
    micrograd_op: str = ""

    def __call__(self, *inputs: float) -> tuple:
        return self.fn(*inputs)

    def __repr__(self) -> str:
        return f"Op({self.name!r}: {self.doc})"


class _Masked(float):
    """The local derivative of a masked edge: a zero that stays exactly 0 whatever
    it multiplies, ``inf`` and ``nan`` included.

    PyTorch's backward *selects* zero on such edges (``threshold_backward`` for
    relu, ``zeros_like`` for sign, ``where(exponent == 0, 0, ...)`` for pow)
    rather than multiplying by a derivative of 0, so an infinite or nan gradient
    from above does not turn into nan below. Storing this zero on the tape keeps
    the chain rule one line (``local * grad``) for every edge.
    """

    __slots__ = ()

    def __mul__(self, other: object) -> float:
        return 0.0

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return "MASKED"


#: A masked edge's local derivative (see :class:`_Masked`); ``MASKED == 0.0``.
MASKED = _Masked(0.0)


# -- IEEE-style float functions ------------------------------------------------
# Python's math module raises where C and PyTorch return inf or nan; these helpers
# return what torch.float64 returns instead.


def _is_odd_integer(y: float) -> bool:
    return y == y and abs(y) != INF and y % 2.0 == 1.0


def safe_pow(x: float, y: float) -> float:
    """``x ** y`` with C ``pow`` semantics: ``inf``/``nan`` instead of exceptions.

    ``0 ** -1 = inf``, ``(-8) ** (1/3) = nan`` (never a complex number),
    ``10 ** 400 = inf``.
    """
    try:
        return math.pow(x, y)
    except OverflowError:
        if x < 0.0 and _is_odd_integer(y):
            return -INF
        return INF
    except ValueError:
        if x == 0.0:  # zero to a negative power: a pole
            if _is_odd_integer(y):
                return math.copysign(INF, x)
            return INF
        return NAN  # negative base, non-integer exponent


def _div(a: float, b: float) -> float:
    """``a / b`` with IEEE results (``1/0 = inf``, ``0/0 = nan``)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


# -- forward + local derivatives ----------------------------------------------


def _add(x, y):
    return x + y, 1.0, 1.0


def _sub(x, y):
    return x - y, 1.0, -1.0


def _neg(x):
    return -x, -1.0


def _mul(x, y):
    return x * y, y, x


def _div_op(x, y):
    # PyTorch's formulas: d/dx = 1/y and d/dy = -x/(y·y), so results match it bit for bit.
    return _div(x, y), _div(1.0, y), _div(-x, y * y)


def _pow(x, y):
    out = safe_pow(x, y)
    # d/dx x^y = y x^(y-1), and 0 when y == 0 (PyTorch's convention, so 0**0 has
    # derivative 0 rather than 0 * inf).
    dx = MASKED if y == 0.0 else y * safe_pow(x, y - 1.0)
    # d/dy x^y = x^y ln x, and 0 where x == 0 and y >= 0 (PyTorch's convention).
    dy = 0.0 if (x == 0.0 and y >= 0.0) else out * _ln(x)
    return out, dx, dy


def _ln(x: float) -> float:
    """Natural log with IEEE results: ``ln 0 = -inf``, ``ln(x < 0) = nan``."""
    if x > 0.0:
        return math.log(x)
    return -INF if x == 0.0 else NAN


def _exp(x):
    try:
        out = math.exp(x)
    except OverflowError:
        out = INF
    return out, out


def _log(x):
    # d/dx ln x = 1/x, which is +inf at +0 and -inf at -0 as in PyTorch.
    return _ln(x), _div(1.0, x)


def _tanh(x):
    t = math.tanh(x)
    return t, 1.0 - t * t


def _sigmoid(x):
    # Two algebraically equal forms, each stable on its own side of 0:
    # 1 / (1 + e^-x) never overflows for x >= 0; e^x / (1 + e^x) never for x < 0.
    if x >= 0.0:
        s = 1.0 / (1.0 + math.exp(-x))
    elif x < 0.0:
        e = math.exp(x)
        s = e / (1.0 + e)
    else:
        return NAN, NAN
    return s, s * (1.0 - s)


def _relu(x):
    if x > 0.0:
        return x, 1.0
    if x <= 0.0:
        return 0.0, MASKED  # PyTorch's threshold_backward selects 0
    return NAN, 1.0  # PyTorch: relu(nan) = nan, and its backward passes the gradient


def _sign(x):
    # PyTorch's derivative of sign is zeros_like(grad): a masked edge everywhere.
    if x > 0.0:
        return 1.0, MASKED
    if x < 0.0:
        return -1.0, MASKED
    return 0.0, MASKED  # sign(0) = 0, and sign(nan) = 0 as in PyTorch


def _abs(x):
    if x > 0.0:
        return x, 1.0
    if x < 0.0:
        return -x, -1.0
    return (0.0 if x == 0.0 else NAN), 0.0  # d/dx = sign(x): 0 at 0 and at nan (PyTorch)


def _sqrt(x):
    if x > 0.0:
        r = math.sqrt(x)
        return r, 0.5 / r
    if x == 0.0:
        return 0.0, INF
    return NAN, NAN


def _sin(x):
    if x != x or x in (INF, -INF):
        return NAN, NAN
    return math.sin(x), math.cos(x)


def _cos(x):
    if x != x or x in (INF, -INF):
        return NAN, NAN
    return math.cos(x), -math.sin(x)


_ANY = (-5.0, 5.0)
_POSITIVE = (0.01, 20.0)

#: The table. Order is display order; names are the method/function names.
OPS: dict[str, Op] = {}
UNARY_OPS: dict[str, Op] = {}
BINARY_OPS: dict[str, Op] = {}
_listeners: list[Callable[[Op], None]] = []


def on_register(listener: Callable[[Op], None]) -> None:
    """Call ``listener(row)`` for every row of the table, now and when one is added.

    :mod:`tapegrad.engine.value` uses it to give ``Value`` each row's methods."""
    _listeners.append(listener)
    for row in OPS.values():
        listener(row)


def register_op(row: Op) -> Op:
    """Add ``row`` to the table: ``Value`` gets its methods and operators, the
    functional form ``engine.<name>``, the tests, replay and drawing get it too.

    Raises ``TypeError`` for a non-``Op`` and ``ValueError`` for a name already in the
    table, an arity other than 1 or 2, or a binary row without two operator names.
    """
    if not isinstance(row, Op):
        raise TypeError(f"register_op expects an Op, got {type(row).__name__}: {row!r}")
    if not row.name.isidentifier() or row.name.startswith("_"):
        raise ValueError(f"op name must be a public identifier, got {row.name!r}")
    if row.name in OPS:
        raise ValueError(f"op {row.name!r} is already in the table")
    if row.arity not in (1, 2):
        raise ValueError(f"op {row.name!r}: arity must be 1 or 2, got {row.arity!r}")
    if row.arity == 2 and len(row.operators) != 2:
        raise ValueError(
            f"binary op {row.name!r} needs operators=(forward, reflected), e.g. "
            f"('__mul__', '__rmul__'); got {row.operators!r}"
        )
    for name in row.operators:
        if not (isinstance(name, str) and name.startswith("__") and name.endswith("__")):
            raise ValueError(f"op {row.name!r}: operator names are dunders, got {name!r}")
    OPS[row.name] = row
    (UNARY_OPS if row.arity == 1 else BINARY_OPS)[row.name] = row
    for listener in _listeners:
        listener(row)
    return row


for _row in (
    Op(
        "add",
        2,
        _add,
        "+",
        "x + y;  d/dx = 1,  d/dy = 1",
        (_ANY, _ANY),
        (),
        ("__add__", "__radd__"),
    ),
    Op(
        "sub",
        2,
        _sub,
        "-",
        "x - y;  d/dx = 1,  d/dy = -1",
        (_ANY, _ANY),
        (),
        ("__sub__", "__rsub__"),
    ),
    Op(
        "mul",
        2,
        _mul,
        "*",
        "x · y;  d/dx = y,  d/dy = x",
        (_ANY, _ANY),
        (),
        ("__mul__", "__rmul__"),
    ),
    Op(
        "div",
        2,
        _div_op,
        "/",
        "x / y;  d/dx = 1/y,  d/dy = -x/y²",
        (_ANY, _ANY),
        (0.0,),
        ("__truediv__", "__rtruediv__"),
    ),  # y = 0 is a pole
    Op(
        "pow",
        2,
        _pow,
        "**",
        "x ** y;  d/dx = y x^(y-1),  d/dy = x^y ln x",
        ((0.1, 4.0), (-3.0, 3.0)),
        (),
        ("__pow__", "__rpow__"),
    ),
    Op("neg", 1, _neg, "-", "-x;  d/dx = -1", (_ANY,), (), ("__neg__",)),
    Op("exp", 1, _exp, "exp", "e^x;  d/dx = e^x", ((-10.0, 10.0),)),
    Op("log", 1, _log, "log", "ln x;  d/dx = 1/x", (_POSITIVE,)),
    Op("tanh", 1, _tanh, "tanh", "tanh x;  d/dx = 1 - tanh² x", (_ANY,)),
    Op(
        "sigmoid", 1, _sigmoid, "σ", "σ(x) = 1/(1 + e^-x);  d/dx = σ(x)(1 - σ(x))", ((-20.0, 20.0),)
    ),
    Op(
        "relu",
        1,
        _relu,
        "relu",
        "max(0, x);  d/dx = 1 if x > 0 else 0",
        (_ANY,),
        (0.0,),
        micrograd_op="ReLU",
    ),
    Op("sign", 1, _sign, "sign", "sign x ∈ {-1, 0, 1};  d/dx = 0", (_ANY,), (0.0,)),
    Op("abs", 1, _abs, "abs", "|x|;  d/dx = sign x (0 at 0)", (_ANY,), (0.0,), ("__abs__",)),
    Op("sqrt", 1, _sqrt, "sqrt", "√x;  d/dx = 1/(2√x)", (_POSITIVE,)),
    Op("sin", 1, _sin, "sin", "sin x;  d/dx = cos x", ((-10.0, 10.0),)),
    Op("cos", 1, _cos, "cos", "cos x;  d/dx = -sin x", ((-10.0, 10.0),)),
):
    register_op(_row)
del _row
