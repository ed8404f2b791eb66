"""The lifted program's data: :class:`Variable`, :class:`Instruction`, :class:`Program`.

Plain, documented data that several consumers read: the batched runner
(:mod:`.batched`), the printing as the lecture writes it, the export to PyTorch
(:func:`tapegrad.engine.to_torch`) and the block diagram
(:func:`tapegrad.engine.draw_program`). Tape positions are positions in
:func:`tapegrad.engine.graph.walk` of the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..graph import Walk
from ..ops import OPS
from ..program import ReplayError
from ..value import Value

#: The kinds of :class:`Variable`.
KINDS = ("input", "parameter", "constant", "result")

#: Infix forms of binary rows for printing, by their operator method.
_INFIX = {"__add__": "+", "__sub__": "-", "__mul__": "*", "__truediv__": "/", "__pow__": "**"}


class LiftError(ReplayError):
    """The tape cannot be lifted (an entry made by user code, not by a row of OPS)."""


@dataclass(frozen=True)
class Variable:
    """A vector (or a ``linear`` instruction's weight matrix) of one sample's numbers.

    ``kind`` is one of :data:`KINDS`: ``"input"`` (per-sample leaves, one column of
    ``lift``'s ``inputs``), ``"parameter"`` (shared leaves: read from their ``.data``
    at every run; their gradients are the leaves' gradients), ``"constant"`` (the
    numbers in ``values``) or ``"result"`` (an instruction's output). ``shape`` is
    the per-sample shape: ``(n,)`` for a vector, ``(m, n)`` for a weight matrix.
    ``entries`` are the tape positions of the elements, row-major (-1 for an element
    of a batched step's argument that ``fn`` does not read; empty for a constant).
    ``per_sample`` is False when the numbers are the same for every sample
    (parameters, constants, and results computed from them only).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    entries: tuple[int, ...]
    per_sample: bool
    values: tuple[float, ...] = ()

    @property
    def size(self) -> int:
        """The number of elements."""
        size = 1
        for n in self.shape:
            size *= n
        return size


@dataclass(frozen=True)
class Instruction:
    """One vector operation of a :class:`Program`: ``output = op(*inputs)``.

    ``op`` is

    * ``"linear"``: ``output = W z (+ b) (+ c)``, inputs ``(W, z[, b][, c])`` -- ``W``
      an ``(m, n)`` parameter matrix, ``z`` an ``(n,)`` vector, ``b`` an ``(m,)``
      parameter vector, ``c`` an ``(m,)`` constant (which of ``b`` and ``c`` are
      present is in ``bias``);
    * ``"gather"``: ``output[k] = inputs[i][j]`` for ``(i, j) = index[k]``;
    * the name of a row of :data:`tapegrad.engine.OPS`: that op elementwise, inputs
      in the row's operand order (constants included); an input of one element
      broadcasts over the output's elements.

    ``shape`` is the output's per-sample shape; ``entries`` the tape positions of
    the entries the instruction stands for, ascending (for ``linear``: the weighted
    sums' additions and products).
    """

    op: str
    output: str
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    entries: tuple[int, ...]
    index: tuple[tuple[int, int], ...] = ()
    bias: tuple[str, ...] = ()


@dataclass
class Program:
    """A lifted tape: variables and vector instructions (see the module docstring).

    ``variables`` by name (inputs first, in ``lift``'s order); ``instructions`` in
    an order in which they can run; ``output`` the root's ``(variable, element)``;
    ``watched`` the same for each watched node. ``walk`` is the tape the positions
    refer to, ``inputs`` the input variables' names and ``shared`` the shared leaves
    (the Values behind the parameter variables, in the order
    :class:`BatchedProgram` reads them).
    """

    walk: Walk
    variables: dict[str, Variable]
    instructions: list[Instruction]
    output: tuple[str, int]
    watched: list[tuple[str, int]]
    inputs: list[str]
    shared: list[Value]
    locations: dict[int, tuple[str, int]] = field(repr=False)

    @property
    def entry_count(self) -> int:
        """The tape's op entries (its leaves are not counted)."""
        return sum(1 for p in self.walk.parents if p)

    @property
    def lifted_count(self) -> int:
        """The op entries that stand in an instruction of more than one entry."""
        return sum(len(i.entries) for i in self.instructions if len(i.entries) > 1)

    @property
    def lifted_fraction(self) -> float:
        """:attr:`lifted_count` over :attr:`entry_count` (1.0 for a tape of no ops)."""
        total = self.entry_count
        return self.lifted_count / total if total else 1.0

    def location(self, v: Value) -> tuple[str, int]:
        """``(variable, element)`` holding ``v``'s number; ``KeyError`` if the tape
        does not hold ``v`` or holds it only inside a ``linear`` instruction (a
        partial sum or a product)."""
        position = self.walk.position(v)
        if position < 0 or position not in self.locations:
            raise KeyError(f"{v!r} is not a variable's element in this program")
        return self.locations[position]

    def __str__(self) -> str:
        rows = [
            (
                f"{i.output} = {self._expression(i)}",
                "x".join(map(str, i.shape)),
                str(len(i.entries)),
            )
            for i in self.instructions
        ]
        widths = [max((len(r[c]) for r in rows), default=0) for c in range(3)]
        head = (
            f"# {self.entry_count} tape entries -> {len(self.instructions)} instructions, "
            f"{self.lifted_fraction:.1%} of the entries lifted"
        )
        lines = [
            f"{text:<{widths[0]}}  # {size:>{widths[1]}} {'value, ' if size == '1' else 'values,'}"
            f" {count:>{widths[2]}} {'tape entry' if count == '1' else 'tape entries'}"
            for text, size, count in rows
        ]
        return "\n".join([head, *lines])

    def __repr__(self) -> str:
        return (
            f"<Program of {len(self.instructions)} instructions for {self.entry_count} tape "
            f"entries ({self.lifted_fraction:.1%} lifted)>"
        )

    def _operand(self, name: str) -> str:
        v = self.variables[name]
        if v.kind == "constant" and len(set(v.values)) == 1:
            return f"{v.values[0]:g}"
        return name

    def _expression(self, instruction: Instruction) -> str:
        names = [self._operand(n) for n in instruction.inputs]
        if instruction.op == "linear":
            return " + ".join([f"{names[0]} {names[1]}", *names[2:]])
        if instruction.op == "gather":
            return f"[{', '.join(_ranges(instruction.inputs, instruction.index))}]"
        row = OPS[instruction.op]
        if row.arity == 2 and row.operators and row.operators[0] in _INFIX:
            return f"{names[0]} {_INFIX[row.operators[0]]} {names[1]}"
        if row.name == "neg":
            return f"-{names[0]}"
        return f"{row.name}({', '.join(names)})"


def _ranges(sources: tuple[str, ...], index: tuple[tuple[int, int], ...]) -> list[str]:
    """``z1[0:4], x[1]`` for a gather's index: consecutive elements as slices."""
    out: list[str] = []
    k = 0
    while k < len(index):
        i, j = index[k]
        end = k + 1
        while end < len(index) and index[end] == (i, j + end - k):
            end += 1
        count = end - k
        out.append(f"{sources[i]}[{j}]" if count == 1 else f"{sources[i]}[{j}:{j + count}]")
        k = end
    return out
