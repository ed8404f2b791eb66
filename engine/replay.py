"""Tape replay: record a computation once, then rerun it on new numbers, fast.

A training loop builds the *same* graph at every step: only the numbers in the
leaves (the parameters, the data) change. :func:`compile` records the graph once
and turns its tape into a straight-line Python function over floats -- the forward
pass in tape order, then one line per sum of the backward pass
(:mod:`tapegrad.engine.program` writes it, for replay and batched replay alike)::

    # engine.record((x * w + b).tanh()).source, with leaves x, w, b = v0, v1, v3
    v5, d5_0 = _tanh(((v0 * v1) + v3))   # forward: tanh's row gives tanh and tanh'
    g0 = d5_0 * seed                     # backward, in reverse order: each gradient
    g1 = gin[2] + g0                     # is parent.grad += local * node.grad
    g2 = gin[0] + v1 * g0                # (x * w shares the sum's gradient g0)
    g3 = gin[1] + v0 * g0

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
a constant (``x - max(v.data for v in xs)``) -- would be recorded for the numbers of
the first call only, and replay would compute the wrong function, silently. So
:func:`compile` sees every read of a number while it traces the function
(:mod:`tapegrad.engine.trace`): a read of a number that depends on a leaf (whose
``.data`` the replay reads anew at every call) raises
:class:`~tapegrad.engine.TracedReadError` naming the read and your line; an
argument check made with :func:`tapegrad.engine.trace.require` is checked again at
every call. Second line of defence, for what no read shows (a number taken from
outside the function): the compiled step can re-trace: ``compiled.check()`` (or
``check_every=k``) calls your function again, builds the graph the ordinary way,
and raises :class:`GraphChangedError` if any op, input or constant differs from the
recording, or if the re-traced loss differs from the replayed one. Models built
only from ops -- an MLP with relu, tanh, any loss written with Value operations
-- never change shape and replay safely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import graph, program, trace
from .modes import is_anomaly_enabled
from .program import GraphChangedError, ReplayError
from .value import Value

__all__ = ["compile", "record", "Replay", "CompiledStep"]


class Replay:
    """A recorded tape compiled to straight-line float code (see :func:`record`).

    ``leaves`` are the tape's leaf Values in tape order; ``wrt`` the leaves whose
    gradients are computed. :meth:`run` is the pure function on floats;
    calling the object reads each leaf's ``.data`` and adds into each ``wrt``
    leaf's ``.grad``, as ``backward()`` would. ``requirements`` are the argument checks
    the traced function made on traced numbers (:func:`tapegrad.engine.trace.require`):
    a call checks them first, and raises their ``ValueError`` before any ``.grad``
    changes.
    """

    def __init__(
        self,
        root: Value,
        wrt: Iterable[Value] | None = None,
        watch=(),
        *,
        requirements: Iterable[trace.Requirement] = (),
    ) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"replay records a Value, got {type(root).__name__}: {root!r}")
        self.requirements = tuple(requirements)
        # read from the tape directly, no Value per entry; the checked numbers too
        walk = graph.walk(root, *(r.value for r in self.requirements))
        self.leaves: tuple[Value, ...] = tuple(walk.leaves())
        self.wrt: tuple[Value, ...] = self.leaves if wrt is None else trace.leaf_list(wrt, "wrt")
        self.size = len(walk.items)
        self.signature = program.signature(walk)
        self._watch = [walk.position(v) if isinstance(v, Value) else -1 for v in watch]
        for v, i in zip(watch, self._watch):
            if i < 0:
                raise ValueError(
                    f"{v!r} is not part of the graph of the loss, so replay cannot compute it"
                )
        self._watched_count = len(self._watch)
        self._watch += [walk.position(r.value) for r in self.requirements]
        code = program.generate(root, walk, self.wrt, self._watch, filename="<engine.replay>")
        self.source = code.source
        # the wrt leaves the root depends on (the others' gradients are left alone)
        self._reached_flags = code.reached
        self._function = code.function
        self.watched: list[float] = []

    def run(
        self, leaf_values: Sequence[float], grads: Sequence[float] | None = None, seed: float = 1.0
    ) -> tuple[float, list[float], list[float]]:
        """Forward and backward on floats.

        ``leaf_values`` are the numbers of ``leaves`` in order; ``grads`` the
        starting gradient of each ``wrt`` leaf (if None, none: each sum starts at
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
        self._check(watched)
        return value, out_grads, watched[: self._watched_count]

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
        if self.requirements:
            self._check(self.watched)
            del self.watched[self._watched_count :]
        for w, g, r in zip(wrt, out, self._reached_flags):
            if r:
                w.grad = g
        return value

    def _check(self, watched: list[float]) -> None:
        """Raise the ``ValueError`` of the first requirement the numbers fail."""
        for r, number in zip(self.requirements, watched[self._watched_count :]):
            r.check(number)

    def __repr__(self) -> str:
        return (
            f"<Replay of {self.size - len(self.leaves)} tape entries and {len(self.leaves)} "
            f"leaves, gradients for {len(self.wrt)}>"
        )


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
        self.check_every = trace.check_every(check_every)
        self.calls = 0
        requirements: list[trace.Requirement] = []
        root, watched, self._shape = trace.call(
            fn, error=ReplayError, what="engine.compile", kind="compiled", requirements=requirements
        )
        self.replay = Replay(root, wrt, watched, requirements=requirements)

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
        if root_value is not None and not trace.same(root_value, value):
            raise GraphChangedError(
                f"replay computed {value!r} but the function computes {root_value!r}: the "
                "graph reads numbers that replay does not see; use loss.backward() instead"
            )
        if self._shape is None:
            return value
        return (value, *trace.fill(self._shape, iter(self.replay.watched)))

    def check(self) -> float:
        """Re-trace the function, compare its graph with the recording, and return the
        re-traced loss value. Raises :class:`GraphChangedError` if they differ."""
        requirements: list[trace.Requirement] = []
        root, _, _ = trace.call(
            self.fn,
            error=ReplayError,
            what="engine.compile",
            kind="compiled",
            requirements=requirements,
        )
        walk = graph.walk(root, *(r.value for r in requirements))
        signature = program.signature(walk)
        recorded = self.replay.signature
        if len(signature) != len(recorded):
            raise GraphChangedError(
                f"the function now builds a graph of {len(signature)} entries, but "
                f"{len(recorded)} were recorded: its shape depends on the numbers "
                "(an `if` or a loop on .data), which a tape cannot capture; use "
                "loss.backward() for this model"
            )
        i = program.first_difference(signature, recorded)
        if i is not None:
            raise GraphChangedError(
                f"tape entry v{i} was {program.describe(recorded[i])} when recorded and is "
                f"now {program.describe(signature[i])}: the graph depends on the numbers (an "
                "`if` on .data, or a number read from .data used as a constant), which a tape "
                "cannot capture; use loss.backward() for this model"
            )
        k = trace.first_new_leaf(walk.leaves(), self.replay.leaves)
        if k is not None:
            now, then = walk.leaves()[k], self.replay.leaves[k]
            raise GraphChangedError(
                f"leaf {k} of the tape is a new Value holding {now.data!r}, but the "
                f"recorded one holds {then.data!r}: the function creates its inputs "
                "anew from changing numbers; create them once outside and set .data"
            )
        return root.data


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
