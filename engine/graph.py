"""Graph walks: the part of the tape(s) a root depends on, in evaluation order.

:func:`topological_order` hands back a Value per node (views of tape entries, see
:meth:`tapegrad.engine.wengert.WengertList.view`); :func:`walk` reads the same order
straight from the tapes, without a Value per entry, for code that compiles the
graph (replay). Both are linear in the number of entries and tapes, and need no
recursion however deep the graph is.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from .wengert import CONSTANT, ROW, W, WengertList, inputs_of

if TYPE_CHECKING:
    from .value import Value

__all__ = ["topological_order", "Walk", "walk"]


def topological_order(root: Value) -> list[Value]:
    """Every Value ``root`` depends on, each after all of its parents.

    This is the order in which the ops ran -- the tape's order -- keeping only
    the entries ``root`` depends on; each leaf comes just before the first op that
    read it. Results recorded on an older tape come before the newer tape's. The
    Values returned for intermediate results are views of their tape entries: the
    same object for the same entry while one is held.
    """
    if not isinstance(root, WengertList.handle):  # Value (this module sits below value.py)
        raise TypeError(f"expected a Value, got {type(root).__name__}")
    t = root._tape
    if t is not None:
        t.view(root._i)  # make the cache
        t.views[root._i] = root  # the caller's own object stands for its entry
    return walk(root).values()


class Walk:
    """The nodes a root depends on, in :func:`topological_order`'s order: position
    ``k`` holds ``items[k]`` (a leaf Value, or ``(tape, index)`` for an entry), the
    positions of its inputs ``parents[k]``, its op row ``rows[k]`` and its constant
    ``constants[k]`` (``(position, number)`` or None)."""

    __slots__ = ("items", "parents", "rows", "constants", "positions", "_leaf_positions")

    def __init__(self) -> None:
        self.items: list = []
        self.parents: list[tuple[int, ...]] = []
        self.rows: list = []
        self.constants: list = []
        self.positions: dict[WengertList, list[int]] = {}  # per tape, per entry: -1 if not walked
        self._leaf_positions: dict[int, int] = {}

    def position(self, v: Value) -> int:
        """Where ``v`` is in the order, or -1 if ``root`` does not depend on it."""
        t = v._tape
        if t is None:
            k = self._leaf_positions.get(id(v), -1)
            return k if k >= 0 and self.items[k] is v else -1
        positions = self.positions.get(t)
        return -1 if positions is None or v._i >= len(positions) else positions[v._i]

    def values(self) -> list[Value]:
        """A Value per position (views for tape entries)."""
        return [item if type(item) is not tuple else item[0].view(item[1]) for item in self.items]

    def leaves(self) -> list[Value]:
        """The leaf Values, in order (each before the first op that read it)."""
        return [item for item in self.items if type(item) is not tuple]

    def _add_leaf(self, leaf: Value) -> int:
        k = self._leaf_positions.get(id(leaf))
        if k is None:
            k = self._leaf_positions[id(leaf)] = len(self.items)
            self.items.append(leaf)
            self.parents.append(())
            self.rows.append(None)
            self.constants.append(None)
        return k


def walk(*roots: Value) -> Walk:
    """The :class:`Walk` of ``roots`` (one or more): mark what they depend on, newest
    tape first and each tape from its end, then list the marked entries oldest tape
    first. A leaf root no other root reads comes last."""
    result = Walk()
    marks: dict[WengertList, bytearray] = {}
    heap: list = []
    for root in roots:
        t = root._tape
        if t is None:
            continue
        mark = marks.get(t)
        if mark is None:
            mark = marks[t] = bytearray(root._i + 1)
            heap.append((-t.serial, t))
        elif len(mark) <= root._i:
            mark.extend(bytes(root._i + 1 - len(mark)))
        mark[root._i] = 1
    heapq.heapify(heap)
    walked: list[WengertList] = []  # newest first
    while heap:
        _, t = heapq.heappop(heap)
        walked.append(t)
        mark = marks[t]
        entries = t.entries
        for i in range(len(mark) - 1, -1, -1):
            if not mark[i]:
                continue
            for ref in inputs_of(t, i):
                if type(ref) is int:
                    mark[ref] = 1
                elif ref._tape is not None:
                    other = marks.get(ref._tape)
                    if other is None:
                        other = marks[ref._tape] = bytearray(len(ref._tape.entries) // W)
                        heapq.heappush(heap, (-ref._tape.serial, ref._tape))
                    elif len(other) <= ref._i:  # a shorter mark, from another root
                        other.extend(bytes(ref._i + 1 - len(other)))
                    other[ref._i] = 1
    # Emit oldest tape first, each in creation order, leaves before first use.
    for t in reversed(walked):
        mark = marks[t]
        entries = t.entries
        positions = result.positions[t] = [-1] * len(mark)
        for i in range(len(mark)):
            if not mark[i]:
                continue
            inputs = []
            for ref in inputs_of(t, i):
                if type(ref) is int:
                    inputs.append(positions[ref])
                elif ref._tape is not None:
                    inputs.append(result.positions[ref._tape][ref._i])
                else:
                    inputs.append(result._add_leaf(ref))
            c = entries[i * W + CONSTANT]
            positions[i] = len(result.items)
            result.items.append((t, i))
            result.parents.append(tuple(inputs))
            result.rows.append(entries[i * W + ROW])
            result.constants.append(c if c is None or type(c) is tuple else (1, c))
    for root in roots:
        if root._tape is None:
            result._add_leaf(root)
    return result
