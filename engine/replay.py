"""Tape replay: record a computation once, then rerun it on new numbers, fast.

A training loop builds the *same* graph at every step: only the numbers in the
leaves (the parameters, the data) change. :func:`compile` records the graph once
and turns its tape into a straight-line Python function over floats -- the forward
pass in tape order, then one line per edge of the backward pass::

    # (x * w + b).tanh() with leaves x, w, b = v0, v1, v3
    v5, d5_0 = _tanh(((v0 * v1) + v3))   # forward: tanh's row gives tanh and tanh'
    g5 = 0.0 + seed                      # backward, in reverse order, one line per
    g4 = 0.0 + d5_0 * g5                 # edge: parent.grad += local * node.grad
    g3 = gin[2] + g4                     # (x * w shares the sum's gradient g4)
    g0 = gin[0] + v1 * g4
    g1 = gin[1] + v0 * g4

Replaying it creates no Value objects and walks no graph, so a step costs a few
times the bare arithmetic (``benchmarks/``). The code is the tape: every op is
evaluated by its row of :data:`tapegrad.engine.ops.OPS` (``fn`` returns the result and the
local derivatives), so ops whose derivative depends on the input -- relu, abs,
sign -- are re-evaluated at every replay. ``add`` and ``mul`` are written inline
as ``+`` and ``*`` (a test checks them bit for bit against their rows). Gradients
equal a fresh ``backward()`` exactly: the same operations on the same floats,
accumulated in the same order. ``compiled.source`` shows the code. Recording costs
about ten ordinary steps (Python compiles the code), so it pays from a few dozen
steps on; one leaf's numbers change by setting its ``.data`` (create input Values
once and update them, rather than creating new ones inside the function).

**What a tape cannot capture.** A tape records which ops ran, not the Python that
chose them. A graph whose *shape* depends on the numbers -- ``if x.data > 0:``, a
loop that runs until a value converges, a number read from ``.data`` and used as
a constant (``x - max(v.data for v in xs)``) -- is recorded for the numbers of
the first call only. Replay would then compute the wrong function, silently. So
the compiled step can re-trace: ``compiled.check()`` (or ``check_every=k``)
calls your function again, builds the graph the ordinary way, and raises
:class:`GraphChangedError` if any op, input or constant differs from the
recording, or if the re-traced loss differs from the replayed one. Models built
only from ops -- an MLP with relu, tanh, any loss written with Value operations
-- never change shape and replay safely.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import backprop, graph
from .autodiff import data_dependent_selections
from .graph import Walk
from .modes import is_anomaly_enabled
from .ops import OPS, Op
from .value import Value

#: Why a graph built with ``engine.grad(..., create_graph=True)`` through relu or pow
#: is refused (see :func:`tapegrad.engine.autodiff.data_dependent_selections`).
_GRADIENT_GRAPH_SELECTS = (
    "the function takes a gradient with create_graph=True through an op whose "
    "derivative is chosen by the numbers (relu's and pow's are selections): the graph "
    "of that gradient holds the branch these numbers chose, not the condition, so "
    "{what} cannot replay it on other numbers; build the graph every time "
    "(backward()), or use smooth ops (tanh, sigmoid, x * x) in it"
)

__all__ = ["compile", "record", "Replay", "CompiledStep", "GraphChangedError", "ReplayError"]


class ReplayError(ValueError):
    """The graph cannot be replayed (it holds an op that is not in the table)."""


class GraphChangedError(RuntimeError):
    """Re-tracing built a different graph than the one recorded."""


def _literal(c: float, constants: dict[str, float]) -> str:
    """Source text for a constant: its repr when finite (exact), else a global name."""
    if math.isfinite(c):
        return repr(c)
    name = f"_c{len(constants)}"
    constants[name] = c
    return name


def _op_name(row: object) -> str:
    if row is None:
        return ""
    return row if isinstance(row, str) else row.name


def _signature(walk: Walk) -> list[tuple | None]:
    """What must stay the same for a replay to be valid: per tape entry, the op and
    its inputs (tape indices) and constant; for a leaf, None."""
    return [
        None if type(item) is not tuple else (_op_name(row), inputs, constant)
        for item, inputs, row, constant in zip(walk.items, walk.parents, walk.rows, walk.constants)
    ]


def _describe(entry: tuple | None) -> str:
    if entry is None:
        return "a leaf"
    op, inputs, constant = entry
    args = [f"v{i}" for i in inputs]
    if constant is not None:
        args.insert(constant[0], repr(constant[1]))
    return f"{op}({', '.join(args)})"


class Replay:
    """A recorded tape compiled to straight-line float code (see :func:`record`).

    ``leaves`` are the tape's leaf Values in tape order; ``wrt`` the leaves whose
    gradients are computed. :meth:`run` is the pure function on floats;
    calling the object reads each leaf's ``.data`` and adds into each ``wrt``
    leaf's ``.grad``, as ``backward()`` would.
    """

    def __init__(self, root: Value, wrt: Iterable[Value] | None = None, watch=()) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"replay records a Value, got {type(root).__name__}: {root!r}")
        walk = graph.walk(root)  # read from the tape directly: no Value per entry
        self.leaves: tuple[Value, ...] = tuple(walk.leaves())
        self.wrt: tuple[Value, ...] = self.leaves if wrt is None else _leaf_list(wrt, "wrt")
        self.size = len(walk.items)
        self.signature = _signature(walk)
        self._watch = [walk.position(v) if isinstance(v, Value) else -1 for v in watch]
        for v, i in zip(watch, self._watch):
            if i < 0:
                raise ValueError(
                    f"{v!r} is not part of the graph of the loss, so replay cannot compute it"
                )
        self.source, namespace, reached = _generate(root, walk, self.wrt, self._watch)
        # the wrt leaves the root depends on (the others' gradients are left alone)
        self._reached_flags = reached
        exec(builtins.compile(self.source, "<engine.replay>", "exec"), namespace)
        self._function = namespace["replay"]
        self.watched: list[float] = []

    def run(
        self, leaf_values: Sequence[float], grads: Sequence[float] | None = None, seed: float = 1.0
    ) -> tuple[float, list[float], list[float]]:
        """Forward and backward on floats.

        ``leaf_values`` are the numbers of :attr:`leaves` in order; ``grads`` the
        starting gradient of each :attr:`wrt` leaf (if None, none: each sum starts at
        its first contribution, as for a leaf with no gradient yet). Returns the
        root's value, the gradient of each ``wrt`` leaf (``grads`` plus the
        contributions, accumulated in ``backward()``'s order) and the values of
        the watched nodes.
        """
        if len(leaf_values) != len(self.leaves):
            raise ValueError(f"expected {len(self.leaves)} leaf values, got {len(leaf_values)}")
        if grads is None:
            grads = [-0.0] * len(self.wrt)  # -0.0 + c is c, bit for bit
        elif len(grads) != len(self.wrt):
            raise ValueError(f"expected {len(self.wrt)} starting gradients, got {len(grads)}")
        out_grads = [0.0] * len(self.wrt)
        watched = [0.0] * len(self._watch)
        value = self._function(leaf_values, grads, out_grads, watched, seed)
        return value, out_grads, watched

    def __call__(self) -> float:
        """Replay with the leaves' current ``.data``; add gradients into ``.grad`` of
        each ``wrt`` leaf (exactly what ``root.backward()`` adds); return the root's value."""
        wrt = self.wrt
        values = [leaf.data for leaf in self.leaves]
        # a leaf with no gradient yet starts from -0.0, the sum's identity
        grads = [w._g for w in wrt]
        out = [0.0] * len(wrt)
        self.watched = [0.0] * len(self._watch)
        value = self._function(values, grads, out, self.watched, 1.0)
        for w, g, r in zip(wrt, out, self._reached_flags):
            if r:
                w.grad = g
        return value

    def __repr__(self) -> str:
        return (
            f"<Replay of {self.size} tape entries: {len(self.leaves)} leaves, "
            f"gradients for {len(self.wrt)}>"
        )


#: An inlined expression nested deeper than this starts a new line (Python's
#: compiler recurses on nested expressions).
_MAX_NESTING = 32


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

    def __init__(self, text: str, program: _Program, reads=frozenset(), *, product=False):
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


class _Program:
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


def _generate(
    root: Value, walk: Walk, wrt, watch, *, form: str = "fn", start: Callable | None = None
) -> tuple[str, dict[str, Any], list[bool]]:
    """The replay function's source: forward in tape order, backward in reverse.

    The forward pass is one line per entry: an op whose row has inline templates
    (plain arithmetic, ``row.inline``) is written as its expression -- inside its
    reader's line when read once, by a reader whose local derivatives do not name
    their operands -- any other op calls its row's ``fn``, which returns the result
    and the local derivatives. The backward pass is :func:`backprop.run` over the
    same tapes with those local derivatives as symbols (:class:`_Symbol`): the
    same edges in the same order, so the floats equal ``backward()``'s bit for bit.
    Also returns, per ``wrt`` leaf, whether the root depends on it.

    ``form`` names the compiled form of each row the code calls: ``"fn"`` (floats)
    or ``"array_fn"`` (numpy arrays: batched replay, :mod:`tapegrad.engine.vmap`).
    ``start(program, k)``, if given, is the symbol where the sum of ``wrt[k]``'s
    gradient starts (default: the name ``gin[k]``).
    """
    namespace: dict[str, Any] = {}
    constants: dict[str, float] = {}
    program = _Program()
    n = len(walk.items)
    parents_of = walk.parents
    op_names = [_op_name(row) for row in walk.rows]
    reads = [0] * n
    reader = [-1] * n
    for i, ps in enumerate(parents_of):
        for j in ps:
            reads[j] += 1
            reader[j] = i
    keep = set(watch)
    keep.add(n - 1)

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
        if not isinstance(row, Op) or OPS.get(row.name) is not row:
            raise ReplayError(
                f"tape entry v{i} was made by Value(..., _op={op_names[i]!r}), not by an op of "
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
                and depth < _MAX_NESTING
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
    add(f"    return v{n - 1}")
    namespace.update(constants)
    return "\n".join(lines) + "\n", namespace, [g is not None for g in outputs]


def record(root: Value, wrt: Iterable[Value] | None = None) -> Replay:
    """Compile the tape behind ``root`` for replay (gradients for ``wrt``, default
    every leaf). Change leaves' ``.data`` and call the result to rerun it."""
    return Replay(root, wrt)


class CompiledStep:
    """A function's graph, recorded once and replayed on every call.

    ``fn()`` builds the loss from Values it reads (parameters, inputs); it may
    return ``(loss, *watched)`` to also get the values of other nodes of the
    graph (model outputs, say), as floats in the same nesting. A call replays
    the tape with the leaves' current ``.data`` and adds the gradients into
    ``.grad`` of ``wrt`` (default: every leaf), exactly as ``loss.backward()``
    would; it returns the loss's value (and the watched values).

    ``check_every=k`` re-traces the function at every k-th call and raises
    :class:`GraphChangedError` if its graph changed; ``check()`` does it on demand.
    Under :func:`~tapegrad.engine.detect_anomaly` every call re-traces it first, so an
    op making inf or nan raises :class:`~tapegrad.engine.AnomalyError`.
    """

    def __init__(
        self,
        fn: Callable[[], Any],
        wrt: Iterable[Value] | None = None,
        *,
        check_every: int | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"compile needs a function that builds a loss, got {fn!r}")
        self.fn = fn
        self.check_every = _check_every(check_every)
        self.calls = 0
        selections = data_dependent_selections()
        result = fn()
        if data_dependent_selections() != selections:
            raise ReplayError(_GRADIENT_GRAPH_SELECTS.format(what="engine.compile"))
        root, watched, self._shape = _split(result)
        self.replay = Replay(root, wrt, watched)

    @property
    def source(self) -> str:
        """The generated straight-line code."""
        return self.replay.source

    @property
    def wrt(self) -> tuple[Value, ...]:
        return self.replay.wrt

    def __call__(self):
        self.calls += 1
        every = self.check_every
        # Under detect_anomaly the function is re-traced first: an op making inf or nan
        # then raises AnomalyError naming it, as in backward(), before any .grad changes.
        checking = (every is not None and self.calls % every == 0) or is_anomaly_enabled()
        root_value = self.check() if checking else None
        value = self.replay()
        if root_value is not None and not _same(root_value, value):
            raise GraphChangedError(
                f"replay computed {value!r} but the function computes {root_value!r}: the "
                "graph reads numbers that replay does not see; use loss.backward() instead"
            )
        if self._shape is None:
            return value
        return (value, *_fill(self._shape, iter(self.replay.watched)))

    def check(self) -> float:
        """Re-trace the function, compare its graph with the recording, and return the
        re-traced loss value. Raises :class:`GraphChangedError` if they differ."""
        root, _, _ = _split(self.fn())
        walk = graph.walk(root)
        signature = _signature(walk)
        recorded = self.replay.signature
        if len(signature) != len(recorded):
            raise GraphChangedError(
                f"the function now builds a graph of {len(signature)} entries, but "
                f"{len(recorded)} were recorded: its shape depends on the numbers "
                "(an `if` or a loop on .data), which a tape cannot capture; use "
                "loss.backward() for this model"
            )
        for i, (now, then) in enumerate(zip(signature, recorded)):
            if now != then:
                raise GraphChangedError(
                    f"tape entry v{i} was {_describe(then)} when recorded and is now "
                    f"{_describe(now)}: the graph depends on the numbers (an `if` on .data, "
                    "or a number read from .data used as a constant), which a tape cannot "
                    "capture; use loss.backward() for this model"
                )
        leaves = walk.leaves()
        for k, (now, then) in enumerate(zip(leaves, self.replay.leaves)):
            if now is not then and not _same(now.data, then.data):
                raise GraphChangedError(
                    f"leaf {k} of the tape is a new Value holding {now.data!r}, but the "
                    f"recorded one holds {then.data!r}: the function creates its inputs "
                    "anew from changing numbers; create them once outside and set .data"
                )
        return root.data


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _check_every(check_every: object) -> int | None:
    """``check_every`` if it is None or a positive int; else ``TypeError`` (not an int)
    or ``ValueError`` (below 1), naming it."""
    if check_every is None:
        return None
    if isinstance(check_every, bool) or not isinstance(check_every, int):
        raise TypeError(
            f"check_every must be a positive int or None, got "
            f"{type(check_every).__name__}: {check_every!r}"
        )
    if check_every < 1:
        raise ValueError(f"check_every must be a positive int or None, got {check_every!r}")
    return check_every


def _leaf_list(values: Iterable[Value], name: str) -> tuple[Value, ...]:
    """``values`` (``wrt``, ``params``: the leaves whose gradients are computed) as a
    tuple. Raises ``TypeError`` for an item that is not a Value, ``ValueError`` for the
    result of an op or a leaf listed twice (its gradient would be added twice; the
    optimizers refuse it too), naming it."""
    values = tuple(values)
    seen: set[int] = set()
    for v in values:
        if not isinstance(v, Value):
            raise TypeError(f"{name} must hold Values, got {type(v).__name__}: {v!r}")
        if not v.is_leaf:
            raise ValueError(f"{name} must hold leaves (inputs, parameters), got {v!r}")
        if id(v) in seen:
            raise ValueError(f"{v!r} appears twice in {name}")
        seen.add(id(v))
    return values


def _split(result: Any, what: str = "compiled") -> tuple[Value, list[Value], Any]:
    """(root, watched Values flattened, nesting shape) of what ``fn`` returned
    (``what`` names the function in the error: compiled, batched)."""
    if isinstance(result, Value):
        return result, [], None
    if isinstance(result, tuple) and result and isinstance(result[0], Value):
        flat: list[Value] = []
        shape = [_flatten(item, flat) for item in result[1:]]
        return result[0], flat, shape
    raise TypeError(
        f"the {what} function must return a Value (the loss) or a tuple (loss, *watched), "
        f"got {type(result).__name__}: {result!r}"
    )


def _flatten(item: Any, flat: list[Value]):
    if isinstance(item, Value):
        flat.append(item)
        return None
    if isinstance(item, (list, tuple)):
        return type(item), [_flatten(x, flat) for x in item]
    raise TypeError(f"watched outputs must be Values or lists of Values, got {item!r}")


def _fill(shape, values):
    out = []
    for item in shape:
        if item is None:
            out.append(next(values))
        else:
            kind, inner = item
            out.append(kind(_fill(inner, values)))
    return out


def compile(
    fn: Callable[[], Any],
    wrt: Iterable[Value] | None = None,
    *,
    check_every: int | None = None,
) -> CompiledStep:
    """Record ``fn()``'s graph once; return a step that replays it on every call.

    ::

        step = engine.compile(lambda: loss_of(model, X, y), model.parameters())
        for k in range(100):
            model.zero_grad()
            loss = step()                  # forward + backward, no graph built
            for p in model.parameters():
                p.data -= 0.1 * p.grad

    See the module docstring for what replay cannot capture and ``check_every``.
    """
    return CompiledStep(fn, wrt, check_every=check_every)
