"""The table of primitive operations: one row per op, its derivative written once.

Every primitive the engine knows is one :class:`Op` row in :data:`OPS`. In the spirit
of PyTorch's ``tools/autograd/derivatives.yaml``, a row states its forward pass and
the local derivative with respect to each input *once*, as formulas::

    Op("tanh", 1, "tanh(x)", ("1.0 - out * out",), "tanh", "tanh x;  d/dx = 1 - tanh² x")
    Op("div", 2, "x / y", ("1.0 / y", "-(out / y)"), "/", ...,
       operators=("__truediv__", "__rtruediv__"))

and the formulas are compiled (parsed with :mod:`ast`, turned into Python source,
``exec``-ed once when the row is registered) into one function per consumer:

* ``row.fn(*floats) -> (result, *locals)`` -- the eager forward pass. The engine
  stores the local derivatives on the node; backward only multiplies and adds
  (``parent.grad += local * node.grad``). IEEE results, never Python exceptions.
* ``row.value_grads(inputs, out) -> locals`` -- the same derivatives computed with
  Value ops, so that ``create_graph=True`` records them and they can be
  differentiated again (higher-order gradients).
* ``row.array_fn(*arrays) -> (result, *locals)`` -- the same over numpy arrays
  (batched replay); numpy is imported on first use only.
* ``row.inline`` -- for a row that is plain arithmetic, source templates that replay
  splices into its generated code (``("{0} * {1}", ("{1}", "{0}"))``), else ``None``.

**The formula language.** Inputs are ``x`` (and ``y`` for a binary op); the
derivatives may also read ``out``, the result. Allowed: float literals, ``+ - * /``,
unary ``-``, comparisons, ``and``/``or``/``not`` (in conditions only), and the
functions of :data:`FUNCTIONS` (``exp log sqrt sin cos tanh sigmoid pow abs sign``:
each has a float, a Value and an array implementation; its Value implementation is the
op row of the same name), plus

* ``where(condition, a, b)`` -- ``a`` where the condition holds, else ``b``;
* ``mask(condition, d)`` -- the derivative ``d`` where the condition holds, else a
  *masked* zero (:data:`MASKED`), and the constant ``MASKED`` itself. A masked edge is
  one PyTorch's backward *selects* zero for (``threshold_backward``, ``zeros_like``,
  ``where(exponent == 0, 0, ...)``): it contributes exactly 0 whatever gradient
  arrives, ``inf`` and ``nan`` included.

Conditions compare numbers: for Values they read ``.data`` and are not recorded.

Semantics follow PyTorch's float64 results, checked against torch 2.13.0 (see the
comments on each row and ``tests/engine/test_golden.py``): ``inf``/``nan`` instead of
exceptions, signed zeros (``sqrt(-0.0) = -0.0`` with derivative ``-inf``), and
PyTorch's conventions at kinks and for masked edges.

Adding an op means adding a row with :func:`register_op`: the ``Value`` methods and
operators, the functional form ``engine.<name>``, the per-op tests, replay, drawing
and the strategies of random expressions all read the table.
"""

from __future__ import annotations

import ast
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

INF = math.inf
NAN = math.nan

__all__ = [
    "Op",
    "OPS",
    "UNARY_OPS",
    "BINARY_OPS",
    "FUNCTIONS",
    "MASKED",
    "ArrayMasked",
    "FormulaError",
    "register_op",
    "unregister_op",
    "on_register",
    "safe_pow",
]


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


class ArrayMasked:
    """A masked local derivative over a batch (the array form of :data:`MASKED`).

    ``keep`` is a boolean array (or a bool) and ``local`` the derivative where it
    holds. Its product with a gradient array ``g`` (either side) is
    ``np.where(keep, local * g, 0.0)``: where the edge is masked the result is exactly
    0 even if ``g`` is ``inf`` or ``nan``, as :data:`MASKED` does for one number.
    """

    __slots__ = ("keep", "local")
    __array_ufunc__ = None  # ``g * masked`` calls __rmul__, not numpy's broadcasting

    def __init__(self, keep: object, local: object) -> None:
        self.keep = keep
        self.local = local

    def __mul__(self, grad: object):
        import numpy as np

        with np.errstate(all="ignore"):
            return np.where(self.keep, self.local * grad, 0.0)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"ArrayMasked(keep={self.keep!r}, local={self.local!r})"


# -- IEEE float functions ------------------------------------------------------
# Python's math module raises where C and PyTorch return inf or nan; these return
# what torch.float64 returns instead. They are the *safe* float implementations:
# the compiled ``fn`` runs the plain math-module code first and falls back to them
# only when that raised.


def _is_odd_integer(y: float) -> bool:
    return y == y and abs(y) != INF and y % 2.0 == 1.0


def safe_pow(x: float, y: float) -> float:
    """``x ** y`` with C ``pow`` semantics: ``inf``/``nan`` instead of exceptions.

    ``0 ** -1 = inf``, ``(-0.0) ** -1 = -inf``, ``(-8) ** (1/3) = nan`` (never a
    complex number), ``10 ** 400 = inf``.
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
    """``a / b`` with IEEE results (``1/0 = inf``, ``1/-0.0 = -inf``, ``0/0 = nan``)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def _ln(x: float) -> float:
    """Natural log with IEEE results: ``ln 0 = -inf`` (also at -0.0), ``ln(x < 0) = nan``."""
    if x > 0.0:
        return math.log(x)
    return -INF if x == 0.0 else (math.log(x) if x == INF else NAN)


def _sqrt(x: float) -> float:
    """``sqrt(-0.0) = -0.0`` (IEEE), ``sqrt(x < 0) = nan``."""
    return math.sqrt(x) if x >= 0.0 else NAN


def _sin(x: float) -> float:
    return math.sin(x) if -INF < x < INF else NAN


def _cos(x: float) -> float:
    return math.cos(x) if -INF < x < INF else NAN


def _sigmoid(x: float) -> float:
    # Two algebraically equal forms, each stable on its own side of 0:
    # 1 / (1 + e^-x) never overflows for x >= 0; e^x / (1 + e^x) never for x < 0.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # x < 0, or nan (then the result is nan)
    return e / (1.0 + e)


def _sign(x: float) -> float:
    # PyTorch: sign(-0.0) = 0.0 and sign(nan) = 0.0.
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


# -- the vocabulary of the formulas ---------------------------------------------


@dataclass(frozen=True)
class _Function:
    """A function the formulas may call, with its float and array implementations.

    The float fast path uses ``fast`` (a source template, ``{0}`` the argument) when
    every argument is a name or a constant, else ``fast_any`` (which reads each
    argument once), else calls ``safe``. Templates may raise (the compiled code then
    reruns the safe path), but ordinary inputs should not: Python's exceptions cost
    more than the op. ``safe`` is the IEEE float function; ``array`` the numpy
    implementation's name in the array namespace; ``definition``, if given, a formula
    in ``x`` inlined instead of a call. The Value implementation is the op row of the
    same name.
    """

    arity: int
    fast: str
    fast_any: str
    safe: Callable[..., float]
    array: str
    definition: str = ""


#: The functions formulas may call. Their Value form is ``OPS[name]``.
FUNCTIONS: dict[str, _Function] = {
    "exp": _Function(1, "_math_exp({0})", "_math_exp({0})", _exp, "np.exp"),
    "log": _Function(
        1, "(_math_log({0}) if {0} > 0.0 else _safe_log({0}))", "_math_log({0})", _ln, "np.log"
    ),
    "sqrt": _Function(1, "_math_sqrt({0})", "_math_sqrt({0})", _sqrt, "np.sqrt"),
    "sin": _Function(1, "_math_sin({0})", "_math_sin({0})", _sin, "np.sin"),
    "cos": _Function(1, "_math_cos({0})", "_math_cos({0})", _cos, "np.cos"),
    "tanh": _Function(1, "_math_tanh({0})", "_math_tanh({0})", math.tanh, "np.tanh"),
    "pow": _Function(2, "_math_pow({0}, {1})", "_math_pow({0}, {1})", safe_pow, "np.power"),
    # abs and sign are defined by selections, inlined into the float code; the
    # remaining branch of abs (±0.0, nan) is 0.0 - x: +0.0 for both zeros, nan for nan.
    "abs": _Function(
        1,
        "_abs({0})",
        "_abs({0})",
        abs,
        "np.abs",
        definition="where(x > 0.0, x, where(x < 0.0, -x, 0.0 - x))",
    ),
    "sign": _Function(
        1,
        "_safe_sign({0})",
        "_safe_sign({0})",
        _sign,
        "_np_sign",
        definition="where(x > 0.0, 1.0, where(x < 0.0, -1.0, 0.0))",
    ),
    "sigmoid": _Function(
        1,
        "(1.0 / (1.0 + _math_exp(-{0})) if {0} >= 0.0 else (_e := _math_exp({0})) / (1.0 + _e))",
        "",
        _sigmoid,
        "_np_sigmoid",
    ),
}

_FLOAT_NAMESPACE = {
    "_math_exp": math.exp,
    "_math_log": math.log,
    "_math_sqrt": math.sqrt,
    "_math_sin": math.sin,
    "_math_cos": math.cos,
    "_math_tanh": math.tanh,
    "_math_pow": math.pow,
    "_div": _div,
    "_abs": abs,
    "_MASKED": MASKED,
    # Python's math module raises these where IEEE arithmetic returns inf or nan.
    "_ERRORS": (ArithmeticError, ValueError),
}


class FormulaError(ValueError):
    """A row's formula is outside the formula language (the message says where)."""


_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_OPERATOR_ROWS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}
_COMPARISONS = {
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}


def _parse(formula: object, names: tuple[str, ...], where: str) -> ast.expr:
    """Parse and check one formula; raise :class:`FormulaError` naming ``where``."""
    if not isinstance(formula, str):
        raise FormulaError(f"{where}: a formula must be a str, got {type(formula).__name__}")
    try:
        tree = ast.parse(formula.strip(), mode="eval").body
    except SyntaxError as e:
        raise FormulaError(f"{where}: {formula!r} is not an expression ({e.msg})") from None

    def check(node: ast.AST, condition: bool) -> None:
        bad = None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                bad = None if condition else "a bool outside a condition"
            elif not isinstance(node.value, (int, float)):
                bad = f"the constant {node.value!r}"
        elif isinstance(node, ast.Name):
            if node.id not in names and node.id != "MASKED":
                bad = f"the name {node.id!r} (the inputs are {', '.join(names)})"
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _OPERATORS:
                bad = f"the operator {type(node.op).__name__} (use + - * / or pow())"
            else:
                check(node.left, False)
                check(node.right, False)
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                check(node.operand, False)
            elif isinstance(node.op, ast.Not) and condition:
                check(node.operand, True)
            else:
                bad = f"unary {type(node.op).__name__} here"
        elif isinstance(node, ast.Compare) and condition:
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARISONS:
                bad = "a chained or non-numeric comparison"
            else:
                check(node.left, False)
                check(node.comparators[0], False)
        elif isinstance(node, ast.BoolOp) and condition:
            for v in node.values:
                check(v, True)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if node.keywords:
                bad = f"keyword arguments to {name}()"
            elif name == "where" and len(node.args) == 3:
                check(node.args[0], True)
                check(node.args[1], False)
                check(node.args[2], False)
            elif name == "mask" and len(node.args) == 2:
                check(node.args[0], True)
                check(node.args[1], False)
            elif name in FUNCTIONS and len(node.args) == FUNCTIONS[name].arity:
                for a in node.args:
                    check(a, False)
            else:
                known = ", ".join([*FUNCTIONS, "where", "mask"])
                bad = f"the call {ast.unparse(node)} (the functions are {known})"
        else:
            bad = ast.unparse(node)
        if bad is not None:
            raise FormulaError(f"{where}: {formula!r} uses {bad}, outside the formula language")

    check(tree, False)
    return tree


# -- compilers: one formula, four consumers ------------------------------------


def _float_source(node: ast.expr, safe: bool, data: Callable[[str], str] | None = None) -> str:
    """Python source computing ``node`` on floats.

    ``safe=False``: the fast path (math-module calls and ``/``, which may raise);
    ``safe=True``: IEEE functions that never raise. ``data`` rewrites names (the Value
    form's conditions read ``.data``)."""

    def go(n: ast.expr) -> str:
        if isinstance(n, ast.Constant):
            return repr(n.value) if isinstance(n.value, bool) else repr(float(n.value))
        if isinstance(n, ast.Name):
            if n.id == "MASKED":
                return "_MASKED"
            return data(n.id) if data else n.id
        if isinstance(n, ast.BinOp):
            left, right = go(n.left), go(n.right)
            if isinstance(n.op, ast.Div) and safe:
                return f"_div({left}, {right})"
            if isinstance(n.op, ast.Div) and isinstance(n.right, ast.Name):
                # guarded: a zero divisor (sqrt's 0.5 / out at 0) takes _div, no exception
                return f"({left} / {right} if {right} else _div({left}, {right}))"
            return f"({left} {_OPERATORS[type(n.op)]} {right})"
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.Not):
                return f"(not {go(n.operand)})"
            return f"(-{go(n.operand)})"
        if isinstance(n, ast.Compare):
            return f"({go(n.left)} {_COMPARISONS[type(n.ops[0])]} {go(n.comparators[0])})"
        if isinstance(n, ast.BoolOp):
            word = " and " if isinstance(n.op, ast.And) else " or "
            return "(" + word.join(go(v) for v in n.values) + ")"
        name = n.func.id
        if name in ("where", "mask"):
            condition, a, b = _split(n)
            return f"({go(a)} if {go(condition)} else {go(b)})"
        args = [go(a) for a in n.args]
        function = FUNCTIONS[name]
        simple = all(isinstance(a, (ast.Name, ast.Constant)) for a in n.args)
        template = function.fast if simple else function.fast_any
        if safe or not template:
            return f"_safe_{name}({', '.join(args)})"
        return template.format(*args)

    return go(node)


def _uses(node: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _may_raise(node: ast.expr) -> bool:
    """Whether the fast float path may raise: a division or a math-module call."""
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
            return True
        if isinstance(n, ast.Call) and n.func.id in ("exp", "log", "sqrt", "sin", "cos", "pow"):
            return True
    return False


def _compile_fn(name: str, inputs: tuple[str, ...], forward: ast.expr, derivatives: tuple):
    """``fn(*floats) -> (result, *locals)``: the fast path, and the safe path if it raised.

    Functions with a ``definition`` (abs, sign) are expanded in place, and a condition
    shared by the top-level ``where``/``mask`` of several outputs is tested once, as an
    ``if`` (relu, abs: the same branches a hand-written function would take)."""
    outputs = [_expand(n) for n in (forward, *derivatives)]
    lines = [f"def {name}({', '.join(inputs)}):"]
    if any(_may_raise(n) for n in outputs):
        lines += ["    try:", *_branches(outputs, False, "        "), "    except _ERRORS:"]
        lines += _branches(outputs, True, "        ")
    else:
        lines += _branches(outputs, False, "    ")
    return _exec("\n".join(lines), name, _float_namespace())


def _expand(node: ast.expr) -> ast.expr:
    """Inline the ``definition`` of functions called on names or constants."""

    class Expand(ast.NodeTransformer):
        def visit_Call(self, n: ast.Call) -> ast.expr:
            self.generic_visit(n)
            function = FUNCTIONS.get(n.func.id)
            if function is None or not function.definition:
                return n
            if not all(isinstance(a, (ast.Name, ast.Constant)) for a in n.args):
                return n
            body = ast.parse(function.definition, mode="eval").body
            arguments = dict(zip(("x", "y"), n.args))

            class Substitute(ast.NodeTransformer):
                def visit_Name(self, m: ast.Name) -> ast.expr:
                    return arguments.get(m.id, m)

            return Substitute().visit(body)

    return Expand().visit(ast.parse(ast.unparse(node), mode="eval").body)


def _split(node: ast.expr) -> tuple[ast.expr, ast.expr, ast.expr] | None:
    """``(condition, if_true, if_false)`` of a where/mask call, ``not`` removed (it swaps
    the branches instead of negating); None for another node."""
    if not (isinstance(node, ast.Call) and node.func.id in ("where", "mask")):
        return None
    condition, a = node.args[0], node.args[1]
    b = node.args[2] if node.func.id == "where" else ast.Name("MASKED", ast.Load())
    if isinstance(condition, ast.UnaryOp) and isinstance(condition.op, ast.Not):
        return condition.operand, b, a
    return condition, a, b


def _branches(outputs: list[ast.expr], safe: bool, indent: str) -> list[str]:
    """Statements returning ``(forward, *derivatives)``; see :func:`_compile_fn`."""
    splits = [_split(n) for n in outputs]
    for s in splits:
        if s is None or _uses(s[0], "out"):
            continue
        key = ast.dump(s[0])
        shared = [i for i, t in enumerate(splits) if t is not None and ast.dump(t[0]) == key]
        if len(shared) < 2:
            continue
        then = [splits[i][1] if i in shared else n for i, n in enumerate(outputs)]
        other = [splits[i][2] if i in shared else n for i, n in enumerate(outputs)]
        return [
            f"{indent}if {_float_source(s[0], safe)}:",
            *_branches(then, safe, indent + "    "),
            *_branches(other, safe, indent),
        ]
    forward, *derivatives = outputs
    results = ", ".join(_float_source(d, safe) for d in derivatives)
    if any(_uses(d, "out") for d in derivatives):
        return [
            f"{indent}out = {_float_source(forward, safe)}",
            f"{indent}return out, {results}",
        ]
    return [f"{indent}return {_float_source(forward, safe)}, {results}"]


def _float_namespace() -> dict:
    namespace = dict(_FLOAT_NAMESPACE)
    for fname, function in FUNCTIONS.items():
        namespace[f"_safe_{fname}"] = function.safe
    return namespace


def _value_source(node: ast.expr) -> str:
    """Source computing ``node`` with Value ops: every operation is the op row of the
    same name (``_op('mul', a, b)``), applied to Values or, when all its operands are
    numbers, to floats by the row's ``fn``. Conditions read ``.data``."""

    def go(n: ast.expr) -> str:
        if isinstance(n, ast.Constant):
            return repr(float(n.value))
        if isinstance(n, ast.Name):
            return "_MASKED" if n.id == "MASKED" else n.id
        if isinstance(n, ast.BinOp):
            return f"_op({_OPERATOR_ROWS[type(n.op)]!r}, {go(n.left)}, {go(n.right)})"
        if isinstance(n, ast.UnaryOp):  # unary minus (not appears only in conditions)
            return f"_op('neg', {go(n.operand)})"
        name = n.func.id
        if name in ("where", "mask"):
            condition, a, b = _split(n)
            test = _float_source(condition, True, data=lambda v: f"_data({v})")
            return f"({go(a)} if {test} else {go(b)})"
        return f"_op({name!r}, {', '.join(go(a) for a in n.args)})"

    return go(node)


def _compile_value_grads(name: str, inputs: tuple[str, ...], derivatives: tuple):
    lines = [
        f"def {name}_value_grads(inputs, out):",
        f"    {', '.join(inputs)}, = inputs",
        f"    return ({', '.join(_value_source(d) for d in derivatives)},)",
    ]
    namespace = _float_namespace()
    namespace.update(_op=_value_op, _data=_data)
    return _exec("\n".join(lines), f"{name}_value_grads", namespace)


def _data(v: object) -> float:
    return v if isinstance(v, float) else v.data


_value_module = None


def _value_op(name: str, *args: object):
    """Apply the row ``name`` to Values (recorded) or, if every input is a number,
    return the row's float result (not a Value: a constant has no graph)."""
    global _value_module
    if _value_module is None:
        from . import value as _value_module_loaded

        _value_module = _value_module_loaded
    row = OPS[name]
    if any(isinstance(a, _value_module.Value) for a in args):
        return _value_module.apply(row, *args)
    return row.fn(*(float(a) for a in args))[0]


def _array_source(node: ast.expr) -> str:
    def go(n: ast.expr) -> str:
        if isinstance(n, ast.Constant):
            return repr(n.value) if isinstance(n.value, bool) else repr(float(n.value))
        if isinstance(n, ast.Name):
            return "_ARRAY_MASKED" if n.id == "MASKED" else n.id
        if isinstance(n, ast.BinOp):
            return f"({go(n.left)} {_OPERATORS[type(n.op)]} {go(n.right)})"
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.Not):
                return f"np.logical_not({go(n.operand)})"
            return f"(-{go(n.operand)})"
        if isinstance(n, ast.Compare):
            return f"({go(n.left)} {_COMPARISONS[type(n.ops[0])]} {go(n.comparators[0])})"
        if isinstance(n, ast.BoolOp):
            f = "np.logical_and" if isinstance(n.op, ast.And) else "np.logical_or"
            out = go(n.values[0])
            for v in n.values[1:]:
                out = f"{f}({out}, {go(v)})"
            return out
        name = n.func.id
        if name == "where" and _is_call(n.args[1], "where"):
            inner = n.args[1]
            if ast.dump(inner.args[2]) == ast.dump(n.args[2]):
                # where(c, where(d, a, b), b) is where(c and d, a, b): numpy's where
                # costs several multiplications on unsorted conditions, "and" one
                both = f"np.logical_and({go(n.args[0])}, {go(inner.args[0])})"
                return f"np.where({both}, {go(inner.args[1])}, {go(n.args[2])})"
        args = [go(a) for a in n.args]
        if name == "where":
            return f"np.where({args[0]}, {args[1]}, {args[2]})"
        if name == "mask":
            return f"ArrayMasked({args[0]}, {args[1]})"
        return f"{FUNCTIONS[name].array}({', '.join(args)})"

    return go(node)


def _is_call(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _compile_array_fn(name: str, inputs: tuple[str, ...], forward: ast.expr, derivatives: tuple):
    results = ", ".join(_array_source(d) for d in derivatives)
    lines = [f"def {name}_array_fn({', '.join(inputs)}):"]
    lines += [f"    {v} = np.asarray({v}, dtype=np.float64)" for v in inputs]
    lines += [
        "    with np.errstate(all='ignore'):",
        f"        out = {_array_source(forward)}",
        f"        return out, {results}",
    ]
    return _exec("\n".join(lines), f"{name}_array_fn", _array_namespace())


_ARRAY_NAMESPACE: dict | None = None


def _array_namespace() -> dict:
    """numpy and the array helpers, built (and numpy imported) on first use."""
    global _ARRAY_NAMESPACE
    if _ARRAY_NAMESPACE is None:
        import numpy as np

        def _np_sigmoid(x):
            # Both stable forms, selected per element (np.where evaluates both; the
            # unselected one may overflow harmlessly under errstate).
            e = np.exp(np.where(x >= 0.0, -x, x))
            return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

        def _np_sign(x):
            # PyTorch: sign(nan) = 0 and sign(-0.0) = 0.0 (numpy gives nan and -0.0).
            return np.where(x > 0.0, 1.0, np.where(x < 0.0, -1.0, 0.0))

        _ARRAY_NAMESPACE = {
            "np": np,
            "ArrayMasked": ArrayMasked,
            "_ARRAY_MASKED": ArrayMasked(False, 0.0),
            "_np_sigmoid": _np_sigmoid,
            "_np_sign": _np_sign,
        }
    return dict(_ARRAY_NAMESPACE)


_PLAIN = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp)


def _inline_templates(inputs: tuple[str, ...], forward: ast.expr, derivatives: tuple):
    """Replay's templates for a row that is plain ``+ - *`` arithmetic of its inputs
    (no division, calls, conditions or ``out``): ``("{0} - {1}", ("1.0", "-1.0"))``.
    ``{k}`` is input ``k``'s source text (a name, a literal or a parenthesised
    expression). Else ``None``: replay calls ``row.fn``."""
    nodes = (forward, *derivatives)
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.expr) and not isinstance(n, _PLAIN):
                return None
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
                return None
            if isinstance(n, ast.Name) and n.id not in inputs:
                return None
            if isinstance(n, ast.Constant) and isinstance(n.value, bool):
                return None

    class Placeholders(ast.NodeTransformer):
        def visit_Name(self, n: ast.Name) -> ast.Name:
            return ast.Name(id=f"{{{inputs.index(n.id)}}}", ctx=ast.Load())

        def visit_Constant(self, n: ast.Constant) -> ast.Constant:
            return ast.Constant(float(n.value))

    def template(node: ast.expr) -> str:
        return ast.unparse(Placeholders().visit(ast.parse(ast.unparse(node), mode="eval").body))

    return template(forward), tuple(template(d) for d in derivatives)


def _exec(source: str, name: str, namespace: dict) -> Callable:
    code = compile(source, f"<op {name}>", "exec")
    exec(code, namespace)
    fn = namespace[name]
    fn.source = source  # for reading: print(OPS['tanh'].fn.source)
    return fn


# -- the row --------------------------------------------------------------------

_INPUTS = {1: ("x",), 2: ("x", "y")}


@dataclass(frozen=True)
class Op:
    """One primitive: its forward pass and local derivatives as formulas, its label,
    doc, test domain and operators.

    ``forward`` is a formula in ``x`` (and ``y``); ``derivatives`` one formula per
    input, which may also read ``out`` (see the module docstring for the language).
    ``operators`` are the ``Value`` methods the row provides besides its name: for a
    binary op the operator and its reflected form (``("__mul__", "__rmul__")``), for a
    unary op any extra operator (``("__abs__",)``). ``micrograd_op`` is the string
    micrograd's ``_op`` shows for it (``'ReLU'``), the label when empty.
    ``domain`` is one ``(low, high)`` interval per input for the property tests;
    ``kinks`` are points inside it that tests keep a margin away from;
    ``unbounded`` says random expressions may feed the op any moderate value (it is
    smooth on all of R), not only values in ``domain``.

    Compiled when the row is made: ``fn``, ``value_grads``, ``inline`` and (on first
    use, importing numpy) ``array_fn`` -- see the module docstring. Raises
    :class:`FormulaError` for a formula outside the language.
    """

    name: str
    arity: int
    forward: str
    derivatives: tuple[str, ...]
    label: str
    doc: str
    domain: tuple = ((-5.0, 5.0),)
    kinks: tuple = ()
    operators: tuple[str, ...] = ()
    micrograd_op: str = ""
    unbounded: bool = False
    fn: Callable[..., tuple] = field(init=False, repr=False, compare=False)
    value_grads: Callable[..., tuple] = field(init=False, repr=False, compare=False)
    inline: tuple | None = field(init=False, repr=False, compare=False)
    _trees: tuple = field(init=False, repr=False, compare=False)
    _array_fn: list = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"op name must be an identifier, got {self.name!r}")
        if self.arity not in _INPUTS:
            raise ValueError(f"op {self.name!r}: arity must be 1 or 2, got {self.arity!r}")
        derivatives = self.derivatives
        if isinstance(derivatives, str) or len(derivatives) != self.arity:
            raise FormulaError(
                f"op {self.name!r}: derivatives must be a tuple of {self.arity} formula(s), "
                f"one per input; got {derivatives!r}"
            )
        inputs = _INPUTS[self.arity]
        forward = _parse(self.forward, inputs, f"op {self.name!r} forward")
        trees = tuple(
            _parse(d, (*inputs, "out"), f"op {self.name!r} d/d{v}")
            for d, v in zip(derivatives, inputs)
        )
        if _uses(forward, "MASKED"):
            raise FormulaError(f"op {self.name!r}: MASKED is a derivative, not a result")
        fn = _compile_fn(self.name, inputs, forward, trees)
        set_ = object.__setattr__
        set_(self, "fn", fn)
        set_(self, "value_grads", _compile_value_grads(self.name, inputs, trees))
        set_(self, "inline", _inline_templates(inputs, forward, trees))
        set_(self, "_trees", (forward, trees))
        set_(self, "_array_fn", [])

    @property
    def array_fn(self) -> Callable[..., tuple]:
        """``array_fn(*arrays) -> (result, *locals)`` over numpy float64 arrays.

        Same IEEE results as ``fn`` (``np.errstate`` silences the warnings): bit for
        bit where numpy's operation is the same IEEE operation (``+ - * /``, sqrt,
        abs, and selections: relu, sign, neg); elsewhere numpy's exp, log, tanh,
        sin, cos and pow are a different libm from ``math``'s: results and
        derivatives within 4 ulp (measured: at most 2), except the derivatives of
        tanh and sigmoid, ``1 - t²`` and ``s(1 - s)``, which carry t's or s's rounding
        as an absolute error: within ``4 * 2**-52`` (measured 3.3e-16).
        tests/engine/test_op_forms.py asserts these bounds. A local derivative is an
        array, a float constant (``1.0``; it broadcasts) or an :class:`ArrayMasked`.
        Imports numpy on first use."""
        if not self._array_fn:
            forward, trees = self._trees
            self._array_fn.append(_compile_array_fn(self.name, _INPUTS[self.arity], forward, trees))
        return self._array_fn[0]

    def __call__(self, *inputs: float) -> tuple:
        return self.fn(*inputs)

    def __reduce__(self):
        # A tape pickles its rows by name (the compiled functions cannot be pickled).
        return (_row_named, (self.name,))

    def __repr__(self) -> str:
        return f"Op({self.name!r}: {self.doc})"


def _row_named(name: str) -> Op:
    row = OPS.get(name)
    if row is None:
        raise KeyError(
            f"cannot unpickle op {name!r}: it is not in the op table (register it first)"
        )
    return row


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
    table (or taken by a ``Value`` attribute), or a binary row without two operator
    names. Nothing is changed when it raises.
    """
    if not isinstance(row, Op):
        raise TypeError(f"register_op expects an Op, got {type(row).__name__}: {row!r}")
    if row.name.startswith("_"):
        raise ValueError(f"op name must be a public identifier, got {row.name!r}")
    if row.name in OPS:
        raise ValueError(f"op {row.name!r} is already in the table")
    value_module = sys.modules.get(f"{__package__}.value")
    value_class = getattr(value_module, "Value", None)
    if value_class is not None and hasattr(value_class, row.name):
        raise ValueError(f"op name {row.name!r} is taken by Value.{row.name}; pick another")
    if row.arity == 2 and len(row.operators) != 2:
        raise ValueError(
            f"binary op {row.name!r} needs operators=(forward, reflected), e.g. "
            f"('__mul__', '__rmul__'); got {row.operators!r}"
        )
    for name in row.operators:
        if not (isinstance(name, str) and name.startswith("__") and name.endswith("__")):
            raise ValueError(f"op {row.name!r}: operator names are dunders, got {name!r}")
        taken = [r.name for r in OPS.values() if name in r.operators]
        if taken:
            raise ValueError(f"op {row.name!r}: operator {name} belongs to op {taken[0]!r}")
    OPS[row.name] = row
    (UNARY_OPS if row.arity == 1 else BINARY_OPS)[row.name] = row
    for listener in _listeners:
        listener(row)
    return row


def unregister_op(name: str) -> Op:
    """Remove the row ``name`` from the table and return it (for tests that add a
    row and must leave the table as they found it).

    Only the table forgets it: ``Value`` keeps the row's methods and
    ``engine.<name>`` stays defined, and replay refuses graphs holding it. Prefer
    testing a new row in a subprocess. Raises ``KeyError`` for an unknown name."""
    if name not in OPS:
        raise KeyError(f"no op {name!r} in the table")
    row = OPS.pop(name)
    (UNARY_OPS if row.arity == 1 else BINARY_OPS).pop(name)
    return row


_ANY = (-5.0, 5.0)
_POSITIVE = (0.01, 20.0)

# The rows. Each derivative is checked against PyTorch 2.13.0's derivatives.yaml
# (quoted as "torch:"); the result and every local derivative agree with torch float64
# on the golden table's grid (tests/engine/test_golden.py).
# fmt: off
for _row in (
    # torch: self: grad, other: grad * alpha
    Op(
        "add", 2, "x + y", ("1.0", "1.0"), "+", "x + y;  d/dx = 1,  d/dy = 1",
        (_ANY, _ANY), (), ("__add__", "__radd__"), unbounded=True,
    ),
    # torch: self: grad, other: -grad * alpha
    Op(
        "sub", 2, "x - y", ("1.0", "-1.0"), "-", "x - y;  d/dx = 1,  d/dy = -1",
        (_ANY, _ANY), (), ("__sub__", "__rsub__"), unbounded=True,
    ),
    # torch: self: grad * other, other: grad * self
    Op(
        "mul", 2, "x * y", ("y", "x"), "*", "x · y;  d/dx = y,  d/dy = x",
        (_ANY, _ANY), (), ("__mul__", "__rmul__"), unbounded=True,
    ),
    # torch: self: grad / other, other: -grad * ((self / other) / other).
    # -(x/y)/y, not -x/(y*y): y*y leaves the float range for |y| < 1.5e-154 or
    # > 1.3e154 where the derivative is finite (x = y = 1e-200: -1e200, not -inf).
    Op(
        "div", 2, "x / y", ("1.0 / y", "-(out / y)"), "/", "x / y;  d/dx = 1/y,  d/dy = -(x/y)/y",
        (_ANY, _ANY), (0.0,), ("__truediv__", "__rtruediv__"),
    ),  # y = 0 is a pole
    # torch: self: where(exponent == 0, 0, grad * exponent * self.pow(exponent - 1))
    #        -- a selection: a masked edge (at y = 0 any gradient gives 0);
    #        exponent: grad * where(self == 0 & exponent >= 0, 0, result * self.log())
    #        -- a product with 0, not a selection: an inf gradient gives nan there.
    # Deliberate difference: torch computes tensor ** 0.5 / ** -0.5 with a *number*
    # exponent as sqrt / rsqrt (-0.0 ** 0.5 = -0.0 there); tapegrad's one row is C's pow
    # for number and Value exponents alike, as torch's tensor ** tensor.
    Op(
        "pow", 2, "pow(x, y)",
        ("mask(y != 0.0, y * pow(x, y - 1.0))", "where(x == 0.0 and y >= 0.0, 0.0, out * log(x))"),
        "**", "x ** y;  d/dx = y x^(y-1) (0 if y = 0),  d/dy = x^y ln x (0 if x = 0, y >= 0)",
        ((0.1, 4.0), (-3.0, 3.0)), (), ("__pow__", "__rpow__"),
    ),
    # torch: self: grad.neg()
    Op("neg", 1, "-x", ("-1.0",), "-", "-x;  d/dx = -1", (_ANY,), (), ("__neg__",), unbounded=True),
    # torch: self: grad * result
    Op("exp", 1, "exp(x)", ("out",), "exp", "e^x;  d/dx = e^x", ((-10.0, 10.0),)),
    # torch: self: grad.div(self); 1/x is +inf at +0 and -inf at -0, -0.0 at -inf.
    Op("log", 1, "log(x)", ("1.0 / x",), "log", "ln x;  d/dx = 1/x", (_POSITIVE,)),
    # torch: tanh_backward(grad, result) = grad * (1 - result * result)
    Op("tanh", 1, "tanh(x)", ("1.0 - out * out",), "tanh", "tanh x;  d/dx = 1 - tanh² x", (_ANY,)),
    # torch: sigmoid_backward(grad, result) = grad * (1 - result) * result.
    # Deliberate difference: torch's forward 1/(1 + exp(-x)) gives 0.0 for
    # -745.13 < x < -709.78 (exp(-x) overflows); the stable form gives the subnormal.
    Op(
        "sigmoid", 1, "sigmoid(x)", ("out * (1.0 - out)",), "σ",
        "σ(x) = 1/(1 + e^-x);  d/dx = σ(x)(1 - σ(x))", ((-20.0, 20.0),),
    ),
    # torch: relu(x) = clamp_min(x, 0): 0.0 for x < 0, and x itself for ±0.0 and nan
    #        (relu(-0.0) = -0.0, relu(nan) = nan); self: threshold_backward(grad, result,
    #        0) selects 0 where result <= 0, i.e. where x <= 0 (not at nan): masked.
    Op(
        "relu", 1, "where(x <= 0.0, where(x < 0.0, 0.0, x), x)", ("mask(not x <= 0.0, 1.0)",),
        "relu", "max(0, x);  d/dx = 1 if x > 0 else 0", (_ANY,), (0.0,), micrograd_op="ReLU",
    ),
    # torch: sign(±0.0) = 0.0, sign(nan) = 0.0; self: zeros_like(grad) (masked)
    Op("sign", 1, "sign(x)", ("MASKED",), "sign", "sign x ∈ {-1, 0, 1};  d/dx = 0",
       (_ANY,), (0.0,)),
    # torch: self: grad * self.sgn() -- a product, not a selection: 0 * inf = nan at x = 0
    Op(
        "abs", 1, "abs(x)", ("sign(x)",), "abs", "|x|;  d/dx = sign x (0 at 0)",
        (_ANY,), (0.0,), ("__abs__",),
    ),
    # torch: self: grad / (2 * result); 0.5/r equals 1/(2r) exactly (2r is exact).
    # sqrt(-0.0) = -0.0, so its derivative is -inf (IEEE and torch).
    Op("sqrt", 1, "sqrt(x)", ("0.5 / out",), "sqrt", "√x;  d/dx = 1/(2√x)", (_POSITIVE,)),
    # torch: self: grad * self.cos()
    Op("sin", 1, "sin(x)", ("cos(x)",), "sin", "sin x;  d/dx = cos x", ((-10.0, 10.0),)),
    # torch: self: grad * -self.sin()
    Op("cos", 1, "cos(x)", ("-sin(x)",), "cos", "cos x;  d/dx = -sin x", ((-10.0, 10.0),)),
):
    register_op(_row)
del _row
# fmt: on
