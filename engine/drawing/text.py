"""The words and numbers of a drawing: how values, constants and ops are written.

Numbers as micrograd prints them (four decimals), constants written into their op
(``* 2``, ``**2``, ``− 3``), the minus sign ``−`` for subtraction and negation, and
labels escaped so that Graphviz shows them literally.
"""

from __future__ import annotations

import math
import re
import textwrap

import graphviz

from .. import Value

__all__ = [
    "MINUS",
    "num",
    "short",
    "exact",
    "const",
    "plain",
    "record_field",
    "op_text",
    "is_negation",
    "caption_label",
    "derivative",
    "natural_key",
]

MINUS = "\u2212"  # the minus sign, wider and clearer than a hyphen on a slide


def num(x: float) -> str:
    """Four decimals, as micrograd prints them; scientific when that would hide the number."""
    if not math.isfinite(x):
        return repr(x)
    if x == 0.0:  # -0.0 too: a product with a zero weight is no "-0.0000" on a slide
        return "0.0000"
    if 1e-4 <= abs(x) < 1e6:
        return f"{x:.4f}"
    return f"{x:.3e}"


def short(x: float) -> str:
    """Four significant digits: the numbers on edges and in tooltips; a signed zero
    (``0 × -1``) is ``0``, never ``-0``."""
    return f"{x + 0.0:.4g}"  # -0.0 + 0.0 == +0.0


def exact(x: float) -> str:
    """Six significant digits: the numbers of a backprop step's caption; a signed
    zero is ``0``, never ``-0``."""
    return f"{x + 0.0:.6g}"


def const(c: float) -> str:
    """A constant operand: ``2`` for a whole number, else four significant digits."""
    # int(c) only for finite whole numbers: inf and nan (x / 0, x * nan) have no int.
    return str(int(c)) if math.isfinite(c) and c == int(c) and abs(c) < 1e15 else f"{c:.4g}"


def plain(text: str) -> str:
    """A label shown literally: backslashes doubled, never taken for an HTML label."""
    return graphviz.nohtml(text.replace("\\", "\\\\").replace("\n", "\\n"))


_RECORD_SPECIAL = re.compile(r'([\\{}|<>"])')


def record_field(text: str) -> str:
    """A record field shown literally; a line break stays a line break."""
    return _RECORD_SPECIAL.sub(r"\\\1", text).replace("\n", "\\n")


def op_text(node: Value) -> str:
    """The op with its constant operand written in: ``+``, ``* 2``, ``**2``, ``2**``,
    ``− 3``; subtraction and negation are written with the minus sign ``−``."""
    row = node.op_row
    name = row.label if row is not None else node.op
    if node.op in ("sub", "neg"):
        name = MINUS
    if node.constant is None:
        return name
    position, c = node.constant
    if row is not None and row.name == "pow":
        return f"**{const(c)}" if position == 1 else f"{const(c)}**"
    return f"{name} {const(c)}" if position == 1 else f"{const(c)} {name}"


def is_negation(node: Value) -> bool:
    """``-x`` however it was recorded: the ``neg`` row, or ``x * -1`` (how engines
    without a ``neg`` row, micrograd's among them, record negation)."""
    if node.op == "neg":
        return True
    c = node.constant
    return node.op == "mul" and c is not None and c[1] == -1.0


#: Characters of a caption line: a caption wraps rather than widening the picture.
CAPTION_WIDTH = 60


def caption_label(text: str, width: int = CAPTION_WIDTH):
    """``text`` as a DOT graph label of left-aligned lines of at most ``width``
    characters (a word longer than that keeps its line), so that a long caption
    wraps instead of running past the drawing."""
    lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    escaped = [line.replace("\\", "\\\\") for line in lines or [""]]
    return graphviz.nohtml("\\l".join(escaped) + "\\l")


def natural_key(path: str) -> list:
    """Sort key putting numbered siblings in their numeric order: ``neurons.2``
    before ``neurons.10`` (a lexical sort puts ``neurons.10`` first). The text is cut
    into runs of digits (compared as numbers) and the text between them."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


#: Characters that make a name read as more than one symbol in ``dc/ds``: a space,
#: or a sign (``dcross-entropy/dw`` reads as a subtraction).
_NOT_ONE_SYMBOL = re.compile(r"[\s\-−+*/·×^]")


def derivative(top: str, bottom: str, d: str = "d") -> str:
    """The derivative ``d{top}/d{bottom}`` as captions and the derivative network
    write it (``d="∂"``: the partial ``∂z/∂s``). A name holding a space or a sign --
    a cost named ``cross-entropy`` or ``Adaline loss`` -- is put in parentheses,
    ``d(cross-entropy)/dw0``, so that it never reads as a subtraction; every other
    name (``mse``, ``𝓛``, ``w1[2,0]``, ``x[0]₁``) is written as it is."""

    def symbol(name: str) -> str:
        return f"({name})" if _NOT_ONE_SYMBOL.search(name) else name

    return f"{d}{symbol(top)}/{d}{symbol(bottom)}"
