"""Build a graph from a formula written as text, safely.

``parse_expression("tanh(x1*w1 + x2*w2 + b)", {"x1": 2, ...})`` returns the root
``Value`` of the formula with one labelled leaf per variable, exactly as if the
formula had been typed in Python with Values -- so ``x*x`` uses one leaf twice and
the tape, the gradients and the drawings are those of the Python expression.

The formula language is a small subset of Python's expressions:

* numbers, written as Python writes them (``2``, ``0.5``, ``1e-3``, ``1_000``,
  ``0x1f``) -- constants, not graph nodes;
* variable names bound in ``values``;
* ``+ - * / **`` and unary ``-`` / ``+``, with Python's precedence (``-x**2`` is
  ``-(x**2)``, ``2**-x`` is ``2**(-x)``, ``**`` groups from the right);
* parentheses, and calls of the op table's names with positional arguments:
  ``tanh(s)``, ``exp(x)``, ``pow(x, 3)``, ``relu(x)``, ... (see
  :data:`tapegrad.engine.OPS`).

The parser is our own, not Python's: a tokenizer and an operator-precedence
(shunting-yard, Dijkstra 1961) pass into postfix order, then a loop over that order
that applies the op rows. Neither step recurses, so no formula is too deep: a
hundred thousand nested minus signs, a 5,000-factor ``**`` chain or thousands of
nested parentheses each give a graph (in time and memory linear in the formula's
length), and anything outside the language -- attribute access, subscripts,
comparisons, strings, keyword arguments, every other construct -- is refused with an
:class:`ExpressionError` that names the problem and its column. Nothing is ever
evaluated by Python.
"""

from __future__ import annotations

import keyword
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .ops import OPS
from .value import Value, apply_op

__all__ = ["ExpressionError", "parse_expression"]


class ExpressionError(ValueError):
    """A formula that cannot be built: the message names the problem and where it is."""


#: One token at a time, after any whitespace: the group that matched names its kind. A
#: number is Python's literal (underscores between digits; hex, octal and binary integers).
_TOKEN = re.compile(
    r"""
    \s*
    (?:
    (?P<number>
        0[xX](?:_?[0-9a-fA-F])+ | 0[oO](?:_?[0-7])+ | 0[bB](?:_?[01])+
      | (?: \d(?:_?\d)* (?:\.(?:\d(?:_?\d)*)?)? | \.\d(?:_?\d)* ) (?:[eE][+-]?\d(?:_?\d)*)?
    )
  | (?P<name>[^\W\d]\w*)
  | (?P<symbol>\*\*|//|<<|>>|<=|>=|==|!=|:=|->|[-+*/(),%@&|^~<>=.\[\]{}:;!\#\\'"`$?])
    )
    """,
    re.VERBOSE,
)

_WORD = re.compile(r"\w*")
_SPACE = re.compile(r"\s*")
_CALL = re.compile(r"\s*\(")  # after a name: a call

#: The binary operators: the op row each applies (as ``Value``'s operators do), its
#: precedence (higher binds tighter), and Python's grouping (``**`` from the right).
_BINARY = {"+": ("add", 1), "-": ("sub", 1), "*": ("mul", 2), "/": ("div", 2), "**": ("pow", 4)}
_UNARY_MINUS = 3  # between * and **: -x*y is (-x)*y, -x**2 is -(x**2)
_RIGHT_GROUPING = {"pow"}

#: Python's symbols outside the language, and the words the refusal names them by.
_SYMBOL_WORDS = {
    "//": "floor division //",
    "%": "the remainder %",
    "@": "matrix multiplication @",
    "~": "the bitwise operator ~",
    "&": "the bitwise operator &",
    "|": "the bitwise operator |",
    "^": "the bitwise operator ^ (for a power write **)",
    "<<": "a shift <<",
    ">>": "a shift >>",
    "<": "a comparison",
    ">": "a comparison",
    "<=": "a comparison",
    ">=": "a comparison",
    "==": "a comparison",
    "!=": "a comparison",
    "=": "an assignment",
    ":=": "an assignment :=",
    "->": "an annotation ->",
    ":": "':' (a slice, a dict or a lambda)",
    ";": "a second statement after ;",
    "{": "a dict or a set",
    "#": "a comment",
    "\\": "a backslash",
    "'": "a string",
    '"': "a string",
}
_KEYWORD_WORDS = {
    "lambda": "a lambda",
    "if": "an if-expression",
    "else": "an if-expression",
    "and": "and/or",
    "or": "and/or",
    "not": "the operator not",
    "in": "a comparison",
    "is": "a comparison",
    "for": "a comprehension",
    "async": "a comprehension",
}


@dataclass
class _Open:
    """A ``(`` on the operator stack: a group, or the argument list of ``function``."""

    pos: int  # of the function's name, or of the "(" of a group
    paren: int  # of the "("
    function: str | None
    commas: int = 0


def parse_expression(text: str, values: dict[str, float]) -> tuple[Value, dict[str, Value]]:
    """Build the graph of ``text`` with each variable a leaf holding ``values[name]``.

    Returns ``(root, leaves)`` where ``leaves`` maps each variable name to its leaf
    Value (labelled with the name), in the order of ``values``. Raises
    :class:`ExpressionError` for a syntax error, an unknown name, a variable without
    a value, a value that is not a number, a binding the formula never uses, or a
    construct outside the language; ``TypeError`` if ``text`` is not a str or
    ``values`` not a dict. Columns in messages count from 1 in the formula without
    its leading and trailing whitespace. Any str gives a graph or an
    ``ExpressionError``; the time and memory are linear in its length.
    """
    if not isinstance(text, str):
        raise TypeError(f"the expression must be a str, got {type(text).__name__}")
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict of name -> number, got {type(values).__name__}")
    leaves = _leaves(values)
    text = text.strip()
    if not text:
        raise ExpressionError("the expression is empty")
    postfix = _Parser(text).postfix()
    used: set[str] = set()
    root = _evaluate(text, postfix, leaves, used)
    if not isinstance(root, Value):
        raise ExpressionError(
            "the expression has no variables, so it has no graph; bind at least one name"
        )
    unused = [name for name in leaves if name not in used]
    if unused:
        raise ExpressionError(f"{', '.join(unused)} given a value but not used in the expression")
    return root, leaves


def _leaves(values: Mapping[str, object]) -> dict[str, Value]:
    leaves: dict[str, Value] = {}
    for name, number in values.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ExpressionError(f"{name!r} is not a variable name")
        if keyword.iskeyword(name):
            raise ExpressionError(f"{name!r} is a Python keyword; pick another variable name")
        if name in OPS:
            raise ExpressionError(f"{name!r} is the name of an op; pick another variable name")
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise ExpressionError(f"the value of {name} must be a number, got {number!r}")
        try:
            leaves[name] = Value(float(number), label=name)
        except OverflowError:
            raise ExpressionError(f"the value of {name} is too large for a float") from None
    return leaves


def _where(text: str, pos: int) -> str:
    """``at column C`` (``at line L, column C`` in a formula of several lines), from 1."""
    start = text.rfind("\n", 0, pos) + 1
    if "\n" in text:
        return f"at line {text.count(chr(10), 0, pos) + 1}, column {pos - start + 1}"
    return f"at column {pos - start + 1}"


def _allowed() -> str:
    return f"use numbers, variables, + - * / ** and the ops {', '.join(OPS)}"


class _Parser:
    """Tokens in, postfix order out: Dijkstra's shunting-yard with Python's precedence.

    The output is a list of ``("number", float, pos)``, ``("name", str, pos)``,
    ``("op", row name, pos, arity)`` and ``("call", function name, pos, argument count)``;
    ``pos`` is the token's offset in the text. An operand is expected at the start,
    after an operator, after ``(`` and after ``,``; an operator everywhere else.
    """

    def __init__(self, text: str):
        self.text = text
        self.out: list[tuple] = []
        # operators waiting for their right operand: (row, precedence, pos, arity)
        self.stack: list[tuple[str, int, int, int] | _Open] = []
        self.expect_operand = True
        self.call_opened = False  # name() saw "f(" and stacked the call; skip its "("
        self.previous = ""  # the last token's text

    def fail(self, pos: int, message: str) -> ExpressionError:
        return ExpressionError(f"syntax error {_where(self.text, pos)}: {message}")

    def refuse(self, pos: int, what: str) -> ExpressionError:
        return ExpressionError(f"{what} {_where(self.text, pos)} is not allowed: {_allowed()}")

    def postfix(self) -> list[tuple]:
        text, pos, end = self.text, 0, len(self.text)  # no whitespace at either end
        while pos < end:
            match = _TOKEN.match(text, pos)
            if match is None:
                space = _SPACE.match(text, pos)
                assert space is not None  # \s* matches everywhere
                raise self.refuse(space.end(), f"the character {text[space.end()]!r}")
            kind = match.lastgroup
            assert kind is not None  # each alternative of _TOKEN is a named group
            start, pos = match.span(kind)
            token = text[start:pos]
            if kind == "number":
                self.number(token, start, pos)
            elif kind == "name":
                self.name(token, start)
            else:
                self.symbol(token, start)
            self.previous = token
        if self.expect_operand:
            raise self.fail(len(text), "the formula ends too early")
        while self.stack:
            top = self.stack.pop()
            if isinstance(top, _Open):
                raise self.fail(top.paren, "'(' was never closed")
            self.out.append(("op", top[0], top[2], top[3]))
        return self.out

    def operand(self, item: tuple, token: str, pos: int) -> None:
        if not self.expect_operand:
            raise self.fail(pos, f"an operator is missing between {self.previous!r} and {token!r}")
        self.out.append(item)
        self.expect_operand = False

    def number(self, token: str, start: int, end: int) -> None:
        word = _WORD.match(self.text, end)
        assert word is not None  # \w* matches everywhere
        follower = word.group()
        if follower[:1] in ("j", "J"):
            raise ExpressionError(
                f"{token}{follower} {_where(self.text, start)} is not a real number"
            )
        if follower:
            raise self.fail(
                start,
                f"{token + follower!r} is not a number (for a product write {token}*{follower})",
            )
        digits = token.replace("_", "")
        if digits[:2].lower() in ("0x", "0o", "0b"):
            try:
                number = float(int(digits, 0))
            except OverflowError:  # an integer beyond the float range
                number = math.inf
        else:
            if digits.isdigit() and digits[0] == "0" and digits.strip("0"):
                raise self.fail(
                    start, f"a decimal number cannot start with 0 ({token!r}; 0o{digits} is octal)"
                )
            number = float(digits)  # correctly rounded, as Python reads the literal
        if not math.isfinite(number):
            raise ExpressionError(f"the number {_where(self.text, start)} is too large for a float")
        self.operand(("number", number, start), token, start)

    def name(self, token: str, start: int) -> None:
        if keyword.iskeyword(token):
            if token in ("True", "False", "None"):
                raise ExpressionError(f"{token} {_where(self.text, start)} is not a real number")
            raise self.refuse(start, _KEYWORD_WORDS.get(token, f"the keyword {token!r}"))
        if not token.isidentifier():
            raise self.refuse(start, f"{token!r} (not a name)")
        call = _CALL.match(self.text, start + len(token))
        if call is not None and self.expect_operand:
            self.stack.append(_Open(start, call.end() - 1, token))  # "(" is next
            self.call_opened = True
            return
        self.operand(("name", token, start), token, start)

    def symbol(self, token: str, start: int) -> None:
        if token == "(" and self.call_opened:
            self.call_opened = False
        elif token in _BINARY and not self.expect_operand:
            self.binary(*_BINARY[token], start)
        elif token in ("-", "+") and self.expect_operand:
            if token == "-":  # unary plus is the number itself, as +Value is
                self.stack.append(("neg", _UNARY_MINUS, start, 1))
        elif token == "(":
            if not self.expect_operand:
                raise ExpressionError(
                    f"only the op table's functions can be called {_where(self.text, start)}, "
                    "e.g. tanh(x)"
                )
            self.stack.append(_Open(start, start, None))
        elif token == ")":
            self.close(start)
        elif token == ",":
            self.comma(start)
        elif token in ("*", "**"):  # where an operand is expected
            raise self.refuse(start, f"unpacking with {token}")
        else:
            self.refuse_symbol(token, start)

    def refuse_symbol(self, token: str, start: int) -> None:
        if token == "=" and self.previous.isidentifier() and self.inside_call():
            raise ExpressionError(
                f"{self.inside_call()}() {_where(self.text, start)} takes no keyword arguments"
            )
        if token == "." and not self.expect_operand:
            raise self.refuse(start, "attribute access")
        if token == "[":
            raise self.refuse(start, "a list" if self.expect_operand else "a subscript")
        if token in ("'", '"'):
            raise ExpressionError(f"a string {_where(self.text, start)} is not a real number")
        if token in ("]", "}"):
            raise self.fail(start, f"unmatched {token!r}")
        raise self.refuse(start, _SYMBOL_WORDS.get(token, f"the character {token!r}"))

    def inside_call(self) -> str | None:
        top = self.stack[-1] if self.stack else None
        return top.function if isinstance(top, _Open) else None

    def binary(self, row: str, precedence: int, start: int) -> None:
        """Apply every stacked operator that binds at least as tightly, then stack this."""
        right = row in _RIGHT_GROUPING
        while self.stack and not isinstance(self.stack[-1], _Open):
            top_row, top_precedence, top_pos, top_arity = self.stack[-1]
            if top_precedence < precedence or (top_precedence == precedence and right):
                break
            self.stack.pop()
            self.out.append(("op", top_row, top_pos, top_arity))
        self.stack.append((row, precedence, start, 2))
        self.expect_operand = True

    def unwind(self) -> _Open | None:
        """Apply the operators back to the innermost ``(`` and return it (None at top level)."""
        while self.stack:
            top = self.stack[-1]
            if isinstance(top, _Open):
                return top
            self.stack.pop()
            row, _, pos, arity = top
            self.out.append(("op", row, pos, arity))
        return None

    def close(self, start: int) -> None:
        opened = self.unwind()
        if opened is None:
            raise self.fail(start, "unmatched ')'")
        if opened.function is None and self.previous == "(":
            raise self.refuse(opened.pos, "a tuple ()")
        if self.expect_operand and self.previous not in ("(", ","):
            raise self.fail(start, "expected a number, a variable or '(' before ')'")
        if opened.function is not None:
            count = 0 if self.previous == "(" else opened.commas + (self.previous != ",")
            self.out.append(("call", opened.function, opened.pos, count))
        self.stack.pop()
        self.expect_operand = False

    def comma(self, start: int) -> None:
        if self.expect_operand:
            raise self.fail(start, "expected a number, a variable or '(' before ','")
        opened = self.unwind()
        if opened is None or opened.function is None:
            raise self.refuse(start if opened is None else opened.pos, "a tuple")
        opened.commas += 1
        self.expect_operand = True


def _evaluate(
    text: str, postfix: list[tuple], leaves: dict[str, Value], used: set[str]
) -> Value | float:
    """Run the postfix order on a stack: every op through its row (``value.apply_op``),
    recorded when an operand is a Value, else computed by the row's own ``fn`` -- so
    ``49/49`` is the division row's 1.0 and ``1/0`` its IEEE ``inf``, exactly as the
    same op on Values. Names are checked here, left to right."""
    stack: list[Value | float] = []
    for item in postfix:
        kind, payload, pos = item[0], item[1], item[2]
        if kind == "number":
            stack.append(payload)
        elif kind == "name":
            stack.append(_variable(text, payload, pos, leaves, used))
        else:  # an operator or a call: its operands are the last `count` results
            count = item[3]
            if kind == "call":
                _check_call(text, payload, pos, count, leaves)
            args = stack[len(stack) - count :]
            del stack[len(stack) - count :]
            stack.append(apply_op(payload, *args))
    (root,) = stack
    return root


def _variable(text: str, name: str, pos: int, leaves: dict[str, Value], used: set[str]):
    if name in leaves:
        used.add(name)
        return leaves[name]
    where = _where(text, pos)
    if name in OPS:
        raise ExpressionError(f"{name!r} {where} is an op: call it, {name}(x)")
    raise ExpressionError(f"unknown name {name!r} {where}: give it a value (e.g. {name}=1.0)")


def _check_call(text: str, name: str, pos: int, count: int, leaves: dict[str, Value]) -> None:
    row = OPS.get(name)
    if row is not None and count == row.arity:
        return
    where = _where(text, pos)
    if row is None and name in leaves:
        raise ExpressionError(
            f"{name} {where} is a variable, not a function: for a product write {name}*(...)"
        )
    if row is None:
        raise ExpressionError(f"unknown function {name!r} {where}; the ops are {', '.join(OPS)}")
    if count != row.arity:
        raise ExpressionError(f"{name}() {where} takes {row.arity} argument(s), got {count}")
