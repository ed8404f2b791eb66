"""Programs: a recorded tape written out as one straight-line function, forward then backward.

Replay (:func:`tapegrad.engine.compile`) and batched replay (:func:`tapegrad.engine.vmap`)
run the same code: the tape of a root, written as Python source by :func:`generate`
and compiled once. The code is the tape -- one line per entry, in tape order, then
the backward pass as :func:`tapegrad.engine.backprop.run` writes it when run on names
instead of numbers (one line per sum, ``parent.grad += local * node.grad``)::

    # engine.record((x * w + b).tanh()).source, with leaves x, w, b = v0, v1, v3
    def replay(x, gin, gout, watched, seed):
        v0 = x[0]
        v1 = x[1]
        v3 = x[2]
        v5, d5_0 = _tanh(((v0 * v1) + v3))   # tanh's row gives tanh and tanh'
        g0 = d5_0 * seed                     # backward: one line per sum
        g1 = gin[2] + g0                     # b: the sum's local derivative is 1.0
        g2 = gin[0] + v1 * g0                # x: d(x * w)/dx = w
        g3 = gin[1] + v0 * g0
        gout[0] = g2
        gout[1] = g3
        gout[2] = g1
        return v5

The generated function ``replay(x, gin, gout, watched, seed)`` takes the leaves'
numbers ``x`` (in :meth:`Walk.leaves <tapegrad.engine.graph.Walk.leaves>` order), the
starting gradient of each ``wrt`` leaf ``gin`` and the seed ``d root/d root``;
it writes each ``wrt`` leaf's gradient into ``gout`` and each watched node's value
into ``watched``, and returns the root's value. The same source runs on floats
(``form="fn"``: every op by its row's float ``fn``) or on numpy arrays
(``form="array_fn"``: one numpy operation per entry, over a batch).

Public names, for the modules that build on recorded tapes:

* :func:`generate` -> :class:`Code` (``source``, ``function``, ``reached``);
* :func:`signature`, :func:`describe` and :func:`first_difference` -- what must stay
  the same for a recording to stay valid, and the words for a tape entry;
* :func:`check_table_ops` -- a tape replay can run: every entry made by a row of
  :data:`tapegrad.engine.OPS`;
* :class:`ReplayError` and :class:`GraphChangedError`.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import backprop
from .graph import Walk
from .ops import OPS, Op
from .value import Value

__all__ = [
    "Code",
    "generate",
    "signature",
    "describe",
    "first_difference",
    "check_table_ops",
    "is_table_op",
    "op_name",
    "ReplayError",
    "GraphChangedError",
    "MAX_NESTING",
]


class ReplayError(ValueError):
    """The graph cannot be replayed (it holds an op that is not in the table)."""


class GraphChangedError(RuntimeError):
    """Re-tracing built a different graph than the one recorded."""


#: An inlined expression nested deeper than this starts a new line (Python's
#: compiler recurses on nested expressions).
MAX_NESTING = 32


def op_name(row: Op | str | None) -> str:
    """The name of a tape entry's op row ('' for a leaf; a user's own op is its name)."""
    if row is None:
        return ""
    return row if isinstance(row, str) else row.name


#: One tape entry of a :func:`signature`: ``(op name, input positions, constant)``
#: for an op (``constant`` is ``(position, number)`` or None), None for a leaf.
Entry = tuple[str, tuple[int, ...], Any] | None


def signature(walk: Walk) -> list[Entry]:
    """What must stay the same for a replay to be valid: per tape entry, the op and
    its inputs (positions in the walk) and constant; for a leaf, None."""
    return [
        None if type(item) is not tuple else (op_name(row), inputs, constant)
        for item, inputs, row, constant in zip(walk.items, walk.parents, walk.rows, walk.constants)
    ]


def describe(entry: Entry) -> str:
    """A tape entry of a :func:`signature` in words: ``tanh(v3)``, ``mul(v0, 2.0)``,
    ``a leaf``."""
    if entry is None:
        return "a leaf"
    op, inputs, constant = entry
    args = [f"v{i}" for i in inputs]
    if constant is not None:
        args.insert(constant[0], repr(constant[1]))
    return f"{op}({', '.join(args)})"


def first_difference(now: Sequence[Entry], then: Sequence[Entry]) -> int | None:
    """The first position where two signatures of the same length differ, or None
    if they are equal. (Compare the lengths first: a different length is its own
    message.)"""
    for i, (a, b) in enumerate(zip(now, then)):
        if a != b:
            return i
    return None


def is_table_op(row: object) -> bool:
    """Whether a tape entry's row is the op of :data:`tapegrad.engine.OPS` of its name
    (what replay can rerun), not a user's ``Value(..., _op=...)``."""
    return isinstance(row, Op) and OPS.get(row.name) is row


def check_table_ops(walk: Walk, error: Callable[[int, str], Exception]) -> None:
    """Raise ``error(position, op name)`` for the first entry of ``walk`` made by
    ``Value(..., _op=...)`` rather than a row of the table (a leaf is fine)."""
    for i, (item, row) in enumerate(zip(walk.items, walk.rows)):
        if type(item) is tuple and not is_table_op(row):
            raise error(i, op_name(row))


class Code:
    """A tape written as Python: :attr:`source`, compiled to :attr:`function`.

    ``function(x, gin, gout, watched, seed) -> root value`` (see the module
    docstring); :attr:`reached` says, per ``wrt`` leaf, whether the root depends
    on it (the others' ``gout`` is their ``gin``, unchanged).
    """

    __slots__ = ("source", "function", "reached")

    def __init__(self, source: str, namespace: dict[str, Any], reached: list[bool], filename: str):
        self.source = source
        exec(builtins.compile(source, filename, "exec"), namespace)
        self.function: Callable[..., Any] = namespace["replay"]
        self.reached = reached

    def __repr__(self) -> str:
        return f"<Code of {self.source.count(chr(10))} lines>"


def generate(
    root: Value,
    walk: Walk,
    wrt: Sequence[Value],
    watch: Sequence[int] = (),
    *,
    form: str = "fn",
    start: Callable[[Any, int], Any] | None = None,
    filename: str = "<engine.program>",
) -> Code:
    """The program of ``root``'s tape: forward in tape order, backward in reverse.

    ``walk`` is ``graph.walk(root)`` (or ``graph.walk(root, *others)``: the program
    then computes the others' values too, to watch them); ``wrt`` the leaves whose
    gradients the program writes (``gout[k]`` for ``wrt[k]``); ``watch`` positions in
    ``walk`` whose values it writes into ``watched``.

    The forward pass is one line per entry: an op whose row has inline templates
    (plain arithmetic, ``row.inline``) is written as its expression -- inside its
    reader's line when read once, by a reader whose local derivatives do not name
    their operands -- any other op calls its row's compiled form, which returns the
    result and the local derivatives. The backward pass is :func:`backprop.run
    <tapegrad.engine.backprop.run>` over the same tapes with those local derivatives
    as names: the same edges in the same order, so the floats equal
    ``backward()``'s bit for bit.

    ``form`` names the compiled form of each row the code calls: ``"fn"`` (floats)
    or ``"array_fn"`` (numpy arrays: batched replay). ``start(lines, k)``, if
    given, is the symbol where the sum of ``wrt[k]``'s gradient starts (default: the
    name ``gin[k]``; batched replay starts from an object that collects the
    contributions instead). ``filename`` names the code in tracebacks.

    Raises :class:`ReplayError` for an entry made by ``Value(..., _op=...)`` rather
    than a row of :data:`tapegrad.engine.OPS` (replay has no function to rerun it).
    """
    namespace: dict[str, Any] = {}
    constants: dict[str, float] = {}
    program = _Lines()
    n = len(walk.items)
    parents_of = walk.parents
    reads = [0] * n
    reader = [-1] * n
    for i, ps in enumerate(parents_of):
        for j in ps:
            reads[j] += 1
            reader[j] = i
    root_position = walk.position(root)  # the last entry, unless the walk has more roots
    keep = set(watch)
    keep.add(root_position)

    lines = ["def replay(x, gin, gout, watched, seed):"]
    add = lines.append
    text = [""] * n  # each entry's value in the source: a name, or an inlined expression
    nesting = [0] * n
    locals_of: list[list[_Symbol]] = [[] for _ in range(n)]
    leaf_number = 0
    for i, row in enumerate(walk.rows):
        if not parents_of[i]:
            add(f"    v{i} = x[{leaf_number}]")
            text[i] = f"v{i}"
            leaf_number += 1
            continue
        if not is_table_op(row):
            raise ReplayError(
                f"tape entry v{i} was made by Value(..., _op={op_name(row)!r}), not by an op of "
                "engine.OPS, so replay has no function to rerun it; build it from the table's ops"
            )
        operands = [text[j] for j in parents_of[i]]
        constant = walk.constants[i]
        if constant is not None:
            operands.insert(constant[0], _literal(constant[1], constants))
        value_positions = [k for k in range(row.arity) if constant is None or k != constant[0]]
        depth = 1 + max((nesting[j] for j in parents_of[i]), default=0)
        if row.inline is not None:
            expression, local_templates = row.inline
            source = expression.format(*operands)
            locals_of[i] = [
                program.symbol(local_templates[k].format(*operands)) for k in value_positions
            ]
            next_row = walk.rows[reader[i]] if reads[i] == 1 else None
            inline = (
                next_row is not None
                and i not in keep
                and depth < MAX_NESTING
                # the reader's local derivatives must not repeat its operands' text
                and (
                    not isinstance(next_row, Op)  # a user's op: refused below, not here
                    or next_row.inline is None
                    or "{" not in "".join(next_row.inline[1])
                )
            )
            if inline:
                text[i] = f"({source})"
                nesting[i] = depth
            else:
                add(f"    v{i} = {source}")
                text[i] = f"v{i}"
        else:
            fn_name = f"_{row.name}"
            namespace[fn_name] = getattr(row, form)
            targets = [f"d{i}_{k}" if k in value_positions else "_" for k in range(row.arity)]
            add(f"    v{i}, {', '.join(targets)} = {fn_name}({', '.join(operands)})")
            text[i] = f"v{i}"
            locals_of[i] = [program.symbol(f"d{i}_{k}") for k in value_positions]

    # Backward: the chain rule of backward(), run once on symbols.
    def local_grads(t, count: int) -> tuple[list, list]:
        positions = walk.positions[t]
        columns: tuple[list, list] = ([None] * count, [None] * count)
        for i in range(count):
            k = positions[i] if i < len(positions) else -1
            for column, symbol in zip(columns, locals_of[k] if k >= 0 else ()):
                column[i] = symbol
        return columns

    starts = {}
    for k, w in enumerate(wrt):
        if id(w) not in starts:
            starts[id(w)] = program.symbol(f"gin[{k}]") if start is None else start(program, k)
    zero = program.symbol("0.0")
    p = backprop.Pass(
        own_storage=True,
        leaf_start=lambda leaf: starts.get(id(leaf), zero),
        local_grads=local_grads,
    )
    backprop.run(p, ((root, program.symbol("seed")),))
    outputs = [p.gradient(w) for w in wrt]
    lines += program.live_lines(g for g in outputs if g is not None)
    for k, g in enumerate(outputs):
        add(f"    gout[{k}] = {g.text if g is not None else f'gin[{k}]'}")
    for k, i in enumerate(watch):
        add(f"    watched[{k}] = v{i}")
    add(f"    return v{root_position}")
    namespace.update(constants)
    source = "\n".join(lines) + "\n"
    return Code(source, namespace, [g is not None for g in outputs], filename)


def _literal(c: float, constants: dict[str, float]) -> str:
    """Source text for a constant: its repr when finite (exact), else a global name."""
    if math.isfinite(c):
        return repr(c)
    name = f"_c{len(constants)}"
    constants[name] = c
    return name


class _Symbol:
    """A number of the backward pass as source text: :func:`backprop.backprop
    <tapegrad.engine.backprop.backprop>` run on symbols writes the replay code.

    The chain rule only computes ``local * g`` and ``old + c``. On symbols a
    product stays an expression, written where it is used once (``g9 = g4 + d7_0
    * g8``); a sum becomes a new variable (one line); a gradient read by the next
    edges is first given a name. ``1.0 * g`` is ``g`` bit for bit, so an edge of
    local derivative 1.0 passes ``g`` on unchanged.
    """

    __slots__ = ("text", "reads", "program", "is_one", "is_product", "exclusive")

    def __init__(self, text: str, program: _Lines, reads=frozenset(), *, product=False):
        self.text = text
        self.reads = reads  # the gradient variables the text reads
        self.program = program
        self.is_one = text == "1.0"
        self.is_product = product
        self.exclusive = False  # a variable only this sum holds: it may grow in place

    def __mul__(self, g: _Symbol) -> _Symbol:  # local * g
        g.name()  # read by several edges (or passed on whole): computed once
        if self.is_one:
            g.exclusive = False  # passed on whole: now shared
            return g
        return _Symbol(f"{self.text} * {g.text}", self.program, g.reads, product=True)

    def __add__(self, c: _Symbol) -> _Symbol:  # old + c: a line
        if self.exclusive:  # no other gradient holds it: reuse the variable
            self.program.lines.append((self.text, f"{self.text} + {c.text}", self.reads | c.reads))
            self.reads = self.reads | c.reads
            return self
        total = self.program.assign(f"{self.text} + {c.text}", self.reads | c.reads)
        total.exclusive = True
        return total

    def name(self) -> None:
        """Make this symbol a variable (write its line) if it is an expression."""
        if self.is_product:
            named = self.program.assign(self.text, self.reads)
            self.text, self.reads, self.is_product = named.text, named.reads, False
            self.exclusive = True


class _Lines:
    """The backward lines written so far: ``(variable, expression, variables read)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, frozenset]] = []
        self.count = 0  # variables named so far

    def symbol(self, text: str) -> _Symbol:
        return _Symbol(text, self)

    def assign(self, text: str, reads: frozenset) -> _Symbol:
        name = f"g{self.count}"
        self.count += 1
        self.lines.append((name, text, reads))
        return _Symbol(name, self, frozenset((name,)))

    def live_lines(self, outputs: Iterable[_Symbol]) -> list[str]:
        """The lines the outputs depend on, in order (gradients of nodes that lead
        to no ``wrt`` leaf are dropped)."""
        live = set().union(*(s.reads for s in outputs))
        kept = []
        for name, text, reads in reversed(self.lines):
            if name in live:
                live |= reads
                kept.append(f"    {name} = {text}")
        return kept[::-1]
