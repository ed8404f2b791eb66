"""Build a graph from a formula written as text, safely.

``parse_expression("tanh(x1*w1 + x2*w2 + b)", {"x1": 2, ...})`` returns the root
``Value`` of the formula with one labelled leaf per variable, exactly as if the
formula had been typed in Python with Values -- so ``x*x`` uses one leaf twice and
the tape, the gradients and the drawings are those of the Python expression.

The text is parsed with :mod:`ast` and only a whitelist is accepted:

* numbers (``2``, ``-0.5``, ``1e-3``) -- constants, not graph nodes;
* variable names bound in ``values``;
* ``+ - * / **`` and unary ``-`` / ``+``;
* calls of the op table's names with positional arguments: ``tanh(s)``,
  ``exp(x)``, ``pow(x, 3)``, ``relu(x)``, ... (see :data:`tapegrad.engine.OPS`).

Nothing is ever evaluated by Python: attribute access, subscripts, keyword
arguments, comparisons and every other construct are refused with an
:class:`ExpressionError` that names the problem and its column.
"""

from __future__ import annotations

import ast
import math
import numbers

from .ops import OPS, _value_op
from .value import Value

__all__ = ["ExpressionError", "parse_expression"]


class ExpressionError(ValueError):
    """A formula that cannot be built: the message names the problem and where it is."""


_WORDS = {
    "Attribute": "attribute access",
    "Subscript": "a subscript",
    "Compare": "a comparison",
    "BoolOp": "and/or",
    "IfExp": "an if-expression",
    "Lambda": "a lambda",
    "List": "a list",
    "Tuple": "a tuple",
    "Dict": "a dict",
    "Set": "a set",
    "JoinedStr": "an f-string",
}

#: Python's operators and the op rows they apply (as ``Value``'s operators do). Every
#: operation goes through ``ops._value_op``: recorded when an operand is a Value, else
#: computed by the row's own ``fn``, so ``49/49`` is the division row's 1.0 and ``1/0``
#: its IEEE ``inf``, exactly as the same op on Values.
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}


def _where(node: ast.AST) -> str:
    return f"at column {node.col_offset + 1}"


def _syntax_message(source: str, error: SyntaxError) -> str:
    """``syntax error at column N: ...`` (columns count from 1 in the formula as parsed,
    without leading spaces; line L too when the formula has several lines). Python
    reports a formula that stops too early (``x*``) at offset 0 or past its end: that
    column is the one just after the last character."""
    lines = source.splitlines() or [""]
    line = error.lineno if error.lineno and 1 <= error.lineno <= len(lines) else len(lines)
    width = len(lines[line - 1])
    where = f"line {line}, column" if len(lines) > 1 else "column"
    if error.offset and 1 <= error.offset <= width:
        return f"syntax error at {where} {error.offset}: {error.msg}"
    return f"syntax error at {where} {width + 1}: the formula ends too early ({error.msg})"


def parse_expression(text: str, values: dict[str, object]) -> tuple[Value, dict[str, Value]]:
    """Build the graph of ``text`` with each variable a leaf holding ``values[name]``.

    Returns ``(root, leaves)`` where ``leaves`` maps each variable name to its leaf
    Value (labelled with the name), in the order of ``values``. Raises
    :class:`ExpressionError` for a syntax error, an unknown name, a variable without
    a value, a value that is not a number, a binding the formula never uses, or a
    construct outside the whitelist.
    """
    if not isinstance(text, str):
        raise TypeError(f"the expression must be a str, got {type(text).__name__}")
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict of name -> number, got {type(values).__name__}")
    leaves: dict[str, Value] = {}
    for name, number in values.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ExpressionError(f"{name!r} is not a variable name")
        if name in OPS:
            raise ExpressionError(f"{name!r} is the name of an op; pick another variable name")
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise ExpressionError(f"the value of {name} must be a number, got {number!r}")
        try:
            leaves[name] = Value(float(number), label=name)
        except OverflowError:
            raise ExpressionError(f"the value of {name} is too large for a float") from None
    if not text.strip():
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        used: set[str] = set()
        root = _build(tree.body, leaves, used)
    except SyntaxError as e:
        raise ExpressionError(_syntax_message(text.strip(), e)) from None
    except RecursionError:
        # Python's parser (and _build) recurse once per nesting level: a formula such
        # as x*x*...*x with thousands of factors is too deep for them.
        raise ExpressionError(
            "the expression is nested too deeply to parse; build large graphs in Python"
        ) from None
    if not isinstance(root, Value):
        raise ExpressionError(
            "the expression has no variables, so it has no graph; bind at least one name"
        )
    unused = [name for name in leaves if name not in used]
    if unused:
        raise ExpressionError(f"{', '.join(unused)} given a value but not used in the expression")
    return root, leaves


def _build(node: ast.AST, leaves: dict[str, Value], used: set[str]) -> Value | float:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"{node.value!r} {_where(node)} is not a real number")
        try:
            number = float(node.value)
        except OverflowError:  # an int literal beyond the float range
            number = math.inf
        if not math.isfinite(number):
            raise ExpressionError(f"the number {_where(node)} is too large for a float")
        return number
    if isinstance(node, ast.Name):
        if node.id in leaves:
            used.add(node.id)
            return leaves[node.id]
        if node.id in OPS:
            raise ExpressionError(f"{node.id!r} {_where(node)} is an op: call it, {node.id}(x)")
        raise ExpressionError(
            f"unknown name {node.id!r} {_where(node)}: give it a value (e.g. {node.id}=1.0)"
        )
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _build(node.left, leaves, used)
        right = _build(node.right, leaves, used)
        return _value_op(_BINARY[type(node.op)], left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _build(node.operand, leaves, used)
        return _value_op("neg", operand) if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.Call):
        return _call(node, leaves, used)
    what = _WORDS.get(type(node).__name__, type(node).__name__)
    if isinstance(node, ast.BinOp):
        what = f"operator {type(node.op).__name__}"
    raise ExpressionError(
        f"{what} {_where(node)} is not allowed: use numbers, variables, + - * / ** "
        f"and the ops {', '.join(OPS)}"
    )


def _call(node: ast.Call, leaves: dict[str, Value], used: set[str]) -> Value | float:
    if not isinstance(node.func, ast.Name):
        raise ExpressionError(
            f"only the op table's functions can be called {_where(node)}, e.g. tanh(x)"
        )
    name = node.func.id
    row = OPS.get(name)
    if row is None:
        raise ExpressionError(
            f"unknown function {name!r} {_where(node)}; the ops are {', '.join(OPS)}"
        )
    if node.keywords:
        raise ExpressionError(f"{name}() {_where(node)} takes no keyword arguments")
    if len(node.args) != row.arity or any(isinstance(a, ast.Starred) for a in node.args):
        raise ExpressionError(
            f"{name}() {_where(node)} takes {row.arity} argument(s), got {len(node.args)}"
        )
    args = [_build(a, leaves, used) for a in node.args]
    return _value_op(row.name, *args)
