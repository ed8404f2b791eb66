"""The formula compiler: an op row's formulas, turned into the functions that run it.

A row of the op table (:mod:`tapegrad.engine.ops`) states its forward pass and the
local derivative with respect to each input once, as formulas in ``x`` (and ``y``;
the derivatives may also read ``out``, the result). This module parses them (with
:mod:`ast`), checks them against the formula language, and writes Python source
for each consumer, ``exec``-ed once when the row is made:

* :func:`compile_fn` -- ``fn(*floats) -> (result, *locals)``, the eager forward
  pass: IEEE results, never Python exceptions (a fast path of math-module calls,
  and a safe path it falls back to when that raised);
* :func:`compile_value_grads` -- ``value_grads(inputs, out) -> locals``: the same
  derivatives computed with Value ops, so that ``create_graph=True`` records them;
* :func:`compile_array_fn` -- ``array_fn(*arrays) -> (result, *locals)`` over numpy
  arrays (batched replay); numpy is imported on first use only;
* :func:`inline_templates` -- for a row that is plain arithmetic, the source
  templates replay splices into its generated code, else ``None``;
* :func:`method_source` -- the source of the row's ``Value`` methods (``def tanh``,
  ``def __mul__``): one template per arity, the recording inlined. The built-in
  rows' methods are committed into ``engine/value.py`` by ``python -m
  tapegrad.engine.codegen``; a row added with ``register_op`` gets the same source,
  ``exec``-ed when it is registered.

**The formula language.** Inputs are ``x`` (and ``y`` for a binary op); the
derivatives may also read ``out``. Allowed: float literals, ``+ - * /``, unary ``-``,
comparisons, ``and``/``or``/``not`` (in conditions only), and the functions of
:data:`FUNCTIONS` (``exp log log1p expm1 sqrt sin cos tanh sigmoid pow abs sign``: each has a
float, a Value and an array implementation; its Value implementation is the op row
of the same name), plus

* ``where(condition, a, b)`` -- ``a`` where the condition holds, else ``b``;
* ``mask(condition, d)`` -- the derivative ``d`` where the condition holds, else a
  *masked* zero (:data:`MASKED`), and the constant ``MASKED`` itself. A masked edge is
  one PyTorch's backward *selects* zero for (``threshold_backward``, ``zeros_like``,
  ``where(exponent == 0, 0, ...)``): it contributes exactly 0 whatever gradient
  arrives, ``inf`` and ``nan`` included.

Conditions compare numbers: for Values they read ``.data`` and are not recorded.
Semantics follow PyTorch's float64 results (``inf``/``nan`` instead of exceptions,
signed zeros, PyTorch's conventions at kinks and for masked edges).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is loaded on first use, by the rows' array forms
    import numpy as np
    import numpy.typing

    from .value import Value

__all__ = [
    "FUNCTIONS",
    "INPUT_NAMES",
    "MASKED",
    "ArrayMasked",
    "FormulaError",
    "compile_array_fn",
    "compile_fn",
    "compile_value_grads",
    "inline_templates",
    "method_source",
    "parse_formula",
    "safe_pow",
    "set_value_op",
    "uses",
]

#: The names of a row's inputs, by arity.
INPUT_NAMES = {1: ("x",), 2: ("x", "y")}

INF = math.inf
NAN = math.nan


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

    def __init__(
        self, keep: np.typing.ArrayLike, local: np.typing.NDArray[np.floating] | float
    ) -> None:
        self.keep = keep
        self.local = local

    def __mul__(
        self, grad: np.typing.NDArray[np.floating] | float
    ) -> np.typing.NDArray[np.floating]:
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


def _log1p(x: float) -> float:
    """``ln(1 + x)`` accurate near 0 (C's log1p): ``log1p(-1) = -inf``, ``nan`` below -1."""
    if x > -1.0:
        return math.log1p(x)
    return -INF if x == -1.0 else NAN


def _expm1(x: float) -> float:
    """``e^x - 1`` accurate near 0 (C's expm1): ``inf`` where it overflows."""
    try:
        return math.expm1(x)
    except OverflowError:
        return INF


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


#: The functions formulas may call. Their Value form is the op row of the same name.
FUNCTIONS: dict[str, _Function] = {
    "exp": _Function(1, "_math_exp({0})", "_math_exp({0})", _exp, "np.exp"),
    "log": _Function(
        1, "(_math_log({0}) if {0} > 0.0 else _safe_log({0}))", "_math_log({0})", _ln, "np.log"
    ),
    "log1p": _Function(
        1,
        "(_math_log1p({0}) if {0} > -1.0 else _safe_log1p({0}))",
        "_math_log1p({0})",
        _log1p,
        "np.log1p",
    ),
    "expm1": _Function(1, "_math_expm1({0})", "_math_expm1({0})", _expm1, "np.expm1"),
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
    "_math_log1p": math.log1p,
    "_math_expm1": math.expm1,
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


def _called(n: ast.expr) -> str:
    """The function a checked formula's call names (``where``, ``exp``, ...)."""
    assert isinstance(n, ast.Call) and isinstance(n.func, ast.Name), ast.dump(n)
    return n.func.id


def _number(n: ast.expr) -> float:
    """The number of a checked formula's numeric constant, as a float."""
    assert isinstance(n, ast.Constant) and isinstance(n.value, (int, float)), ast.dump(n)
    return float(n.value)


def parse_formula(formula: object, names: tuple[str, ...], where: str) -> ast.expr:
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


class _Source(ast.NodeVisitor):
    """A checked formula written as Python source, node by node: the walk the three
    compilers share (floats, Values, arrays). A visit returns the node's source; the
    compilers' subclasses write what they compute differently -- every call, and
    for floats division, for arrays ``not``/``and``/``or``, for Values each operation."""

    masked = "_MASKED"  # the name the compiled code's namespace gives MASKED

    def visit_Constant(self, n: ast.Constant) -> str:
        return repr(n.value) if isinstance(n.value, bool) else repr(_number(n))

    def visit_Name(self, n: ast.Name) -> str:
        return self.masked if n.id == "MASKED" else n.id

    def visit_BinOp(self, n: ast.BinOp) -> str:
        return f"({self.visit(n.left)} {_OPERATORS[type(n.op)]} {self.visit(n.right)})"

    def visit_UnaryOp(self, n: ast.UnaryOp) -> str:  # unary minus (``not``: subclasses)
        return f"(-{self.visit(n.operand)})"

    def visit_Compare(self, n: ast.Compare) -> str:
        left, right = self.visit(n.left), self.visit(n.comparators[0])
        return f"({left} {_COMPARISONS[type(n.ops[0])]} {right})"

    def generic_visit(self, n: ast.AST) -> str:
        raise AssertionError(f"not a node of a checked formula: {ast.dump(n)}")


class _FloatSource(_Source):
    """Python source computing a formula on floats (see :func:`_float_source`)."""

    def __init__(self, safe: bool, data: Callable[[str], str] | None) -> None:
        self.safe, self.data = safe, data

    def visit_Name(self, n: ast.Name) -> str:
        if n.id != "MASKED" and self.data:
            return self.data(n.id)
        return super().visit_Name(n)

    def visit_BinOp(self, n: ast.BinOp) -> str:
        if not isinstance(n.op, ast.Div):
            return super().visit_BinOp(n)
        left, right = self.visit(n.left), self.visit(n.right)
        if self.safe:
            return f"_div({left}, {right})"
        if isinstance(n.right, ast.Name):
            # guarded: a zero divisor (sqrt's 0.5 / out at 0) takes _div, no exception
            return f"({left} / {right} if {right} else _div({left}, {right}))"
        return f"({left} / {right})"

    def visit_UnaryOp(self, n: ast.UnaryOp) -> str:
        if isinstance(n.op, ast.Not):
            return f"(not {self.visit(n.operand)})"
        return super().visit_UnaryOp(n)

    def visit_BoolOp(self, n: ast.BoolOp) -> str:
        word = " and " if isinstance(n.op, ast.And) else " or "
        return "(" + word.join(self.visit(v) for v in n.values) + ")"

    def visit_Call(self, n: ast.Call) -> str:
        name = _called(n)
        if name in ("where", "mask"):
            condition, a, b = _split_call(n)
            return f"({self.visit(a)} if {self.visit(condition)} else {self.visit(b)})"
        args = [self.visit(a) for a in n.args]
        function = FUNCTIONS[name]
        simple = all(isinstance(a, (ast.Name, ast.Constant)) for a in n.args)
        template = function.fast if simple else function.fast_any
        if self.safe or not template:
            return f"_safe_{name}({', '.join(args)})"
        return template.format(*args)


def _float_source(node: ast.expr, safe: bool, data: Callable[[str], str] | None = None) -> str:
    """Python source computing ``node`` on floats.

    ``safe=False``: the fast path (math-module calls and ``/``, which may raise);
    ``safe=True``: IEEE functions that never raise. ``data`` rewrites names (the Value
    form's conditions read ``.data``)."""
    return _FloatSource(safe, data).visit(node)


def uses(node: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


_MATH_CALLS = ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "pow")


def _may_raise(node: ast.expr) -> bool:
    """Whether the fast float path may raise: a division or a math-module call."""
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
            return True
        if isinstance(n, ast.Call) and _called(n) in _MATH_CALLS:
            return True
    return False


def compile_fn(name: str, inputs: tuple[str, ...], forward: ast.expr, derivatives: tuple):
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
            function = FUNCTIONS.get(_called(n))
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
    if not (isinstance(node, ast.Call) and _called(node) in ("where", "mask")):
        return None
    condition, a = node.args[0], node.args[1]
    b = node.args[2] if _called(node) == "where" else ast.Name("MASKED", ast.Load())
    if isinstance(condition, ast.UnaryOp) and isinstance(condition.op, ast.Not):
        return condition.operand, b, a
    return condition, a, b


def _split_call(node: ast.expr) -> tuple[ast.expr, ast.expr, ast.expr]:
    """:func:`_split` of a node that is a where/mask call."""
    found = _split(node)
    assert found is not None, ast.dump(node)
    return found


def _branches(outputs: list[ast.expr], safe: bool, indent: str) -> list[str]:
    """Statements returning ``(forward, *derivatives)``; see :func:`_compile_fn`."""
    splits = [_split(n) for n in outputs]
    for s in splits:
        if s is None or uses(s[0], "out"):
            continue
        key = ast.dump(s[0])
        shared = [i for i, t in enumerate(splits) if t is not None and ast.dump(t[0]) == key]
        if len(shared) < 2:
            continue
        then = [_split_call(outputs[i])[1] if i in shared else n for i, n in enumerate(outputs)]
        other = [_split_call(outputs[i])[2] if i in shared else n for i, n in enumerate(outputs)]
        return [
            f"{indent}if {_float_source(s[0], safe)}:",
            *_branches(then, safe, indent + "    "),
            *_branches(other, safe, indent),
        ]
    forward, *derivatives = outputs
    results = ", ".join(_float_source(d, safe) for d in derivatives)
    if any(uses(d, "out") for d in derivatives):
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


class _ValueSource(_Source):
    """Source computing a formula with Value ops: every operation is the op row of
    the same name (``_op('mul', a, b)``), applied to Values or, when all its operands
    are numbers, to floats by the row's ``fn``. Conditions read ``.data``."""

    def visit_BinOp(self, n: ast.BinOp) -> str:
        return f"_op({_OPERATOR_ROWS[type(n.op)]!r}, {self.visit(n.left)}, {self.visit(n.right)})"

    def visit_UnaryOp(self, n: ast.UnaryOp) -> str:  # unary minus (not: in conditions only)
        return f"_op('neg', {self.visit(n.operand)})"

    def visit_Call(self, n: ast.Call) -> str:
        name = _called(n)
        if name in ("where", "mask"):
            condition, a, b = _split_call(n)
            test = _float_source(condition, True, data=lambda v: f"_data({v})")
            return f"({self.visit(a)} if {test} else {self.visit(b)})"
        return f"_op({name!r}, {', '.join(self.visit(a) for a in n.args)})"


def _value_source(node: ast.expr) -> str:
    return _ValueSource().visit(node)


def compile_value_grads(name: str, inputs: tuple[str, ...], derivatives: tuple):
    lines = [
        f"def {name}_value_grads(inputs, out):",
        f"    {', '.join(inputs)}, = inputs",
        f"    return ({', '.join(_value_source(d) for d in derivatives)},)",
    ]
    namespace = _float_namespace()
    namespace.update(_op=_apply_op, _data=_data)
    return _exec("\n".join(lines), f"{name}_value_grads", namespace)


def _data(v: float | Value) -> float:
    return v if isinstance(v, float) else v._data


def _values_not_connected(name: str, *args: object) -> object:
    raise RuntimeError("value_grads needs tapegrad.engine.value, which connects itself on import")


_value_op: Callable[..., object] = _values_not_connected


def set_value_op(apply_op: Callable[..., object]) -> None:
    """Give the compiled ``value_grads`` their operations: ``apply_op(name, *args)``
    applies the row ``name`` to Values (recorded) or, when every argument is a
    number, returns the row's float result. :mod:`tapegrad.engine.value` connects
    itself here on import (this module sits below it and does not import it)."""
    global _value_op
    _value_op = apply_op


def _apply_op(name: str, *args: object) -> object:
    return _value_op(name, *args)


class _ArraySource(_Source):
    """Source computing a formula over numpy float64 arrays, elementwise."""

    masked = "_ARRAY_MASKED"

    def visit_UnaryOp(self, n: ast.UnaryOp) -> str:
        if isinstance(n.op, ast.Not):
            return f"np.logical_not({self.visit(n.operand)})"
        return super().visit_UnaryOp(n)

    def visit_BoolOp(self, n: ast.BoolOp) -> str:
        f = "np.logical_and" if isinstance(n.op, ast.And) else "np.logical_or"
        out = self.visit(n.values[0])
        for v in n.values[1:]:
            out = f"{f}({out}, {self.visit(v)})"
        return out

    def visit_Call(self, n: ast.Call) -> str:
        name = _called(n)
        if name == "where" and _is_call(n.args[1], "where"):
            inner = n.args[1]
            assert isinstance(inner, ast.Call)
            if ast.dump(inner.args[2]) == ast.dump(n.args[2]):
                # where(c, where(d, a, b), b) is where(c and d, a, b): numpy's where
                # costs several multiplications on unsorted conditions, "and" one
                both = f"np.logical_and({self.visit(n.args[0])}, {self.visit(inner.args[0])})"
                return f"np.where({both}, {self.visit(inner.args[1])}, {self.visit(n.args[2])})"
        args = [self.visit(a) for a in n.args]
        if name == "where":
            return f"np.where({args[0]}, {args[1]}, {args[2]})"
        if name == "mask":
            return f"ArrayMasked({args[0]}, {args[1]})"
        return f"{FUNCTIONS[name].array}({', '.join(args)})"


def _array_source(node: ast.expr) -> str:
    """Python source computing ``node`` over numpy arrays (also lift's, per element)."""
    return _ArraySource().visit(node)


def _is_call(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def compile_array_fn(name: str, inputs: tuple[str, ...], forward: ast.expr, derivatives: tuple):
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


def inline_templates(inputs: tuple[str, ...], forward: ast.expr, derivatives: tuple):
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
            return ast.Constant(_number(n))

    def template(node: ast.expr) -> str:
        return ast.unparse(Placeholders().visit(ast.parse(ast.unparse(node), mode="eval").body))

    return template(forward), tuple(template(d) for d in derivatives)


def _exec(source: str, name: str, namespace: dict) -> Callable:
    code = compile(source, f"<op {name}>", "exec")
    exec(code, namespace)
    fn = namespace[name]
    fn.source = source  # for reading: print(OPS['tanh'].fn.source)
    return fn


# -- the Value methods of a row ---------------------------------------------------
# One template per arity: the recording, inlined (no helper call; measured, a call
# costs 12-32% of an op). The source runs in the namespace of
# :mod:`tapegrad.engine.value`, which provides ``Value``, ``_new``, ``_current``,
# ``_fresh_tape``, ``make_result``, ``to_float``, ``_TAPE_CAP``, ``_W`` and the switches
# ``_plain`` and ``_scope``; ``_row_<name>`` and ``_fn_<name>`` are the row and its
# ``fn``. ``{def_name}`` is the row's first operator if it has one (``__mul__``),
# else its name; the name is then an alias (``mul = __mul__``).

_UNARY_METHOD = """
def {def_name}(self) -> Value:
    {doc}
    out, local = _fn_{name}(self._data)
    t = self._tape
    if _plain and (t is None or t.open):
        first: Value | int
        if t is None:  # a leaf: record on the current tape
            first = self
            t = _current()
            if t is None or len(t.entries) >= _TAPE_CAP:
                t = _fresh_tape()
        else:  # a result on the open tape: its index
            first = self._i
        e = t.entries
        node = _new(Value)
        node._data = out
        node._tape = t
        e += (out, _row_{name}, first, None, local, None, None, _scope)
        node._i = len(e) // _W - 1  # after the append: see record
        return node
    return make_result(_row_{name}, out, (self,), (local,), None)
"""

_BINARY_METHOD = """
def {def_name}(self, other: Value | float) -> Value:
    {doc}
    # Each input is written as its index on the open tape, or as itself (a
    # leaf); a number is a constant. ``t`` becomes the tape the entry goes on.
    t = self._tape
    first: Value | int = self if t is None else self._i
    second: Value | int | None
    if isinstance(other, Value):
        out, d_self, d_other = _fn_{name}(self._data, other._data)
        constant = None
        u = other._tape
        if u is None:
            second = other
        elif t is None or t is u:
            second = other._i
            t = u
        else:  # two tapes: at most one is open, so the general path
            return make_result(_row_{name}, out, (self, other), (d_self, d_other), None)
    else:
        constant = other if type(other) is float else to_float(other)
        out, d_self, _ = _fn_{name}(self._data, constant)
        second = d_other = None
    if _plain and (t is None or t.open):
        if t is None:  # leaves and constants only: the current tape
            t = _current()
            if t is None or len(t.entries) >= _TAPE_CAP:
                t = _fresh_tape()
        e = t.entries
        node = _new(Value)
        node._data = out
        node._tape = t
        e += (out, _row_{name}, first, second, d_self, d_other, constant, _scope)
        node._i = len(e) // _W - 1  # after the append: see record
        return node
    if constant is not None:
        return make_result(_row_{name}, out, (self,), (d_self,), constant)
    return make_result(_row_{name}, out, (self, other), (d_self, d_other), None)
"""

_REFLECTED_METHOD = """
def {def_name}(self, other: float) -> Value:
    {doc}
    c = to_float(other)
    out, _, d_self = _fn_{name}(c, self._data)
    return make_result(_row_{name}, out, (self,), (d_self,), (0, c))
"""


def _docstring(text: str) -> str:
    if '"""' in text or "\\" in text or text.endswith('"'):
        return repr(text)
    return f'"""{text}"""'


def method_source(name: str, arity: int, doc: str, operators: tuple[str, ...]) -> str:
    """The source of the ``Value`` methods of a row, at indentation 0: the method
    ``name`` (its first operator's ``def`` when it has operators, the name an alias),
    and for a binary row with operators the reflected one (``2.0 * x``)."""
    def_name = operators[0] if operators else name
    template = _UNARY_METHOD if arity == 1 else _BINARY_METHOD
    parts = [template.format(def_name=def_name, name=name, doc=_docstring(doc)).strip("\n")]
    if arity == 2 and operators:
        reflected = _docstring(
            f"{doc}\n\n    The reflected form: the number on the left (``2.0 * x``).\n    "
        )
        parts.append(
            _REFLECTED_METHOD.format(def_name=operators[1], name=name, doc=reflected).strip("\n")
        )
    if arity == 1:
        aliases = [n for n in (name, *operators[1:]) if n != def_name]
    else:
        aliases = [name] if operators else []
    lines = "\n\n".join(parts)
    for alias in aliases:
        lines += f"\n\n{alias} = {def_name}"
    return lines + "\n"
