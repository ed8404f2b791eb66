"""The tape: the recorded operations behind a Value, as a Wengert list.

``tape(root)`` lists every Value that ``root`` depends on, in an order in which they
can be evaluated (each entry after its inputs): leaves first where they are used,
then each op with the tape indices of its inputs, its constant operand if any, its
value and its local derivatives. It prints as a table in the terminal and renders
as an HTML table in Jupyter.

An entry holds everything needed to run it again with new leaf values: the op's row
of :data:`tapegrad.engine.ops.OPS`, the input indices and the constant. Replaying a tape is
forward over the entries, then backward over them in reverse.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass

from .graph import topological_order
from .ops import Op
from .value import Value

__all__ = ["Tape", "TapeEntry", "tape"]


@dataclass(frozen=True)
class TapeEntry:
    """One line of the tape.

    ``inputs`` are tape indices of the parent Values in order; ``constant`` is
    ``(position, number)`` when a plain number was an operand (position 0 means it
    was the left operand), else None. ``op`` is None for leaves.
    """

    index: int
    node: Value
    op: Op | None
    inputs: tuple[int, ...]
    constant: tuple[int, float] | None
    value: float
    local_grads: tuple[float, ...]

    @property
    def is_leaf(self) -> bool:
        return not self.inputs

    @property
    def name(self) -> str:
        return self.node.label or f"v{self.index}"

    def operand_names(self, names: list[str]) -> list[str]:
        """The operands in order, with the constant (if any) in its place."""
        out = [names[i] for i in self.inputs]
        if self.constant is not None:
            out.insert(self.constant[0], f"{self.constant[1]:g}")
        return out


class Tape:
    """The Wengert list of the graph behind ``root`` (see :func:`tape`)."""

    def __init__(self, root: Value) -> None:
        order = topological_order(root)
        index = {node: i for i, node in enumerate(order)}
        self.root = root
        self.entries: list[TapeEntry] = [
            TapeEntry(
                i,
                node,
                node.op_row,
                tuple(index[p] for p in node.parents),
                node.constant,
                node._data,
                node.local_grads,
            )
            for i, node in enumerate(order)
        ]

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[TapeEntry]:
        return iter(self.entries)

    def __getitem__(self, i: int) -> TapeEntry:
        return self.entries[i]

    @property
    def leaves(self) -> list[TapeEntry]:
        """The entries with no inputs: the graph's inputs, parameters and constants."""
        return [e for e in self.entries if e.is_leaf]

    def rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """The table as strings: index, name, op, inputs, value, local derivatives."""
        names = [e.name for e in self.entries]
        out = []
        for e in self.entries:
            if e.is_leaf:
                op, inputs, local = "leaf", "", ""
            else:
                op = e.node.op
                inputs = ", ".join(e.operand_names(names))
                local = ", ".join(f"{g:.6g}" for g in e.local_grads)
            out.append((str(e.index), e.name, op, inputs, f"{e.value:.6g}", local))
        return out

    _HEADER = ("#", "name", "op", "inputs", "value", "local derivatives")

    def __str__(self) -> str:
        rows = [self._HEADER, *self.rows()]
        widths = [max(len(r[c]) for r in rows) for c in range(len(self._HEADER))]
        lines = []
        for k, r in enumerate(rows):
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Tape of {len(self)} entries for {self.root!r}>"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def tape(root: Value) -> Tape:
    """The recorded operations that produced ``root``, in execution order."""
    return Tape(root)
