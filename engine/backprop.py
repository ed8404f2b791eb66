"""Backpropagation: the chain rule, written once, as a reverse interpreter of the tape.

Walk the tape (:mod:`tapegrad.engine.wengert`) from the root down; for each entry
``z`` the root depends on, and each of its inputs ``s`` in order, add one
*perturbation* -- the slides' argument, one edge at a time::

    dc/ds += dz/ds · dc/dz          # grads[s] += local * grads[z]

``dz/ds`` is the local derivative the forward pass stored on the entry. When the
walk reaches ``z``, every entry after it has passed its share back, so ``dc/dz``
is complete. Gradients that reach a Value of an older tape wait there until that
tape's turn (tapes only point at older tapes, so newest first is reverse order).

:func:`backprop` is that loop. Every pass runs it, and differs only in the
:class:`Pass` it is given, which says where gradients go:

* ``Value.backward()`` -- into ``.grad`` (leaves accumulate across calls);
* :func:`gradients` and the step-by-step view (``backprop_steps``) -- into the
  pass's own storage, no ``.grad`` written; the view also records every step;
* replay (:mod:`tapegrad.engine.replay`) -- the same loop run once on *names*
  instead of numbers: the code it writes is what backward does, line for line;
* gradients that are Values (``create_graph``): ``Pass.local_grads`` gives the local
  derivatives as Values, and ``*`` and ``+`` then record a graph.

**What ``*`` and ``+`` mean in a pass.** The arithmetic is only ``local * g`` and
``old + c``, so a pass works unchanged on anything with ``*`` and ``+``. These are
all the objects that give them a meaning other than float arithmetic:

=============================  ===========================  =====================================
object (module)                appears as                   ``local * g`` / ``old + c``
=============================  ===========================  =====================================
``MASKED`` (formulas)          a masked edge's local        exactly ``0.0`` whatever ``g`` is
                               (relu at x <= 0, sign, pow)  (``inf``, ``nan`` included)
``ArrayMasked`` (formulas)     the same over a batch        ``np.where(keep, local * g, 0.0)``
``NO_GRAD`` (wengert)          a leaf's gradient before     a ``-0.0``: ``NO_GRAD + c`` is ``c``
                               any pass (a float)           bit for bit (the sum starts at ``c``)
``Value`` (value)              locals and gradients of      records ``mul`` / ``add`` nodes
                               ``create_graph=True``
``_Identity`` (autodiff)       a local 1 as a Value         ``g`` itself: no ``* 1`` node
``_Negation`` (autodiff)       a local -1 as a Value        ``-g``: one ``neg`` node
``_Factor`` (autodiff)         a local that is a Value      ``d * g``, or ``d`` when ``g`` is 1.0
``_MaskedEdge`` (autodiff)     a masked local as a Value    a recorded zero over ``d * g``
``_Symbol`` (replay)           locals and gradients as      source text: the code replay writes
                               names (replay, vmap)
=============================  ===========================  =====================================

A local derivative is None for an op built with ``Value(data, children, op)`` and
no ``local_grads``: the product raises ``TypeError``, which :func:`backprop` turns
into a ``RuntimeError`` naming the op.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .wengert import INPUT0, INPUT1, LOCAL0, LOCAL1, ROW, W, WengertList

__all__ = ["Pass", "Column", "backprop", "run", "gradients"]


class Column(Protocol):
    """A column of local derivatives as :func:`backprop` reads it: ``column[i]`` for
    entry ``i`` (a list, or anything computing its items on demand)."""

    def __getitem__(self, i: int, /) -> Any: ...


class Pass:
    """The gradients d(root)/d(node) of one backward pass, and where they go.

    ``tapes[t][i]`` is the gradient of entry ``i`` of tape ``t`` (None: the root
    does not depend on it; the first contribution starts the sum, as in PyTorch);
    ``heap`` holds the tapes still to walk, newest first.

    ``own_storage=False`` (``backward()``): a leaf's gradient is added into its
    ``.grad`` (which starts, like every sum, from its first contribution when the
    leaf has no gradient yet). ``True``: into ``leaves[id(leaf)] = (leaf, gradient)``, nothing
    written; ``leaf_start(leaf)``, if given, is where a leaf's sum starts (its
    ``.grad`` to repeat ``backward()``'s arithmetic; a name for replay).
    ``local_grads(tape, n)``, if given, replaces the numbers on the tape: two
    columns ``(local0, local1)`` indexable by entry, read only for the entries the
    pass reaches. ``steps``, if recording, gets one ``(tape, entry, parent, upstream,
    local, contribution, parent's new gradient)`` per edge, in order.
    """

    __slots__ = ("tapes", "heap", "leaves", "leaf_start", "local_grads", "steps")

    def __init__(
        self,
        own_storage: bool = False,
        *,
        leaf_start: Callable[[Any], Any] | None = None,
        local_grads: Callable[[WengertList, int], tuple[Column, Column]] | None = None,
        record_steps: bool = False,
    ) -> None:
        self.tapes: dict[WengertList, list] = {}
        self.heap: list[tuple[int, WengertList]] = []
        self.leaves: dict[int, tuple] | None = {} if own_storage else None
        self.leaf_start = leaf_start
        self.local_grads = local_grads
        self.steps: list | None = [] if record_steps else None

    def add(self, ref: Any, c: Any, grads: list) -> Any:
        """Add the contribution ``c`` to the gradient of ``ref`` and return the sum:
        ``ref`` is an index into ``grads`` (the tape being walked), a leaf, or a
        Value of an older tape (whose walk this schedules)."""
        if type(ref) is not int:
            t = ref._tape
            if t is None:  # a leaf
                if self.leaves is None:
                    ref._g = total = ref._g + c  # NO_GRAD + c is c
                    return total
                key = id(ref)
                old = self.leaves.get(key)
                if old is not None:
                    total = old[1] + c
                elif self.leaf_start is not None:
                    total = self.leaf_start(ref) + c
                else:
                    total = c
                self.leaves[key] = (ref, total)
                return total
            found = self.tapes.get(t)
            if found is None:
                found = self.tapes[t] = []
                heapq.heappush(self.heap, (-t.serial, t))
            grads = found
            ref = ref._i
            if len(grads) <= ref:
                grads.extend([None] * (ref + 1 - len(grads)))
        old = grads[ref]
        grads[ref] = total = c if old is None else old + c
        return total

    def edge(self, t: WengertList, grads: list, i: int, s: Any, local: Any, g: Any, c: Any) -> None:
        """One edge ``s -> z`` (entry ``i`` of ``t``) in the general case: add ``c``
        (``= local * g``) to ``s``'s gradient and record the step if asked."""
        total = self.add(s, c, grads)
        if self.steps is not None:
            self.steps.append((t, i, s, g, local, c, total))

    def gradient(self, v: Any) -> Any:
        """The gradient this pass computed for the Value ``v`` (None: not reached)."""
        t = v._tape
        if t is None:
            found = None if self.leaves is None else self.leaves.get(id(v))
            return None if found is None else found[1]
        grads = self.tapes.get(t)
        return None if grads is None or v._i >= len(grads) else grads[v._i]


def run(p: Pass, seeds: Iterable[tuple]) -> Pass:
    """Seed ``d root/d root`` for each ``(root, seed)``, then walk the tapes newest
    first. A pass without its own storage keeps each tape's gradients on it."""
    for root, seed in seeds:
        p.add(root, seed, [])
    while p.heap:
        _, t = heapq.heappop(p.heap)
        grads = p.tapes[t]
        backprop(t, grads, p)
        if p.leaves is None:
            t.keep_grads(grads)
    return p


def backprop(t: WengertList, grads: list, p: Pass) -> None:
    """The chain rule over tape ``t``, from its last seeded entry down to its first.

    ``grads[i]`` holds d(root)/d(entry i) once every later entry has passed its
    share back (None: the root does not depend on entry i). For each input ``s`` of
    each entry ``z`` -- its first, then its second -- it computes ``dz/ds · dc/dz``
    and adds it to ``dc/ds``: inline for an input on this tape and for a leaf's
    ``.grad`` in ``backward()``, through :meth:`Pass.edge` for every other case
    (views, older tapes). This is the only place the chain rule is written: the
    inner loop runs once per input, without a loop object (a loop over the
    inputs cost ~5% of a training step, and a loop over edges sliced from the tape
    6% of the deep chain, measured with callgrind).
    """
    n = len(grads)
    end = n * W
    entries = t.entries
    # The columns backprop reads, sliced out at C speed.
    inputs0, inputs1 = entries[INPUT0:end:W], entries[INPUT1:end:W]
    locals0: Column
    locals1: Column
    if p.local_grads is None:
        locals0, locals1 = entries[LOCAL0:end:W], entries[LOCAL1:end:W]
    else:
        locals0, locals1 = p.local_grads(t, n)
    extra = t.extra_inputs  # None unless an op of the tape has more than two inputs
    direct = p.leaves is None and p.steps is None  # backward(): the common cases inline
    i = n
    try:
        for i in range(n - 1, -1, -1):
            g = grads[i]  # dc/dz
            if g is None:
                continue  # the root does not depend on this entry
            s, local, second = inputs0[i], locals0[i], inputs1[i]
            while True:  # s: the first input, then the second
                c = local * g  # dz/ds · dc/dz
                if direct and type(s) is int:  # s on this tape
                    old = grads[s]
                    grads[s] = c if old is None else old + c
                elif direct and s._tape is None:  # a leaf: into its .grad
                    s._g += c  # a leaf starts at NO_GRAD, -0.0: the sum starts at c
                else:
                    p.edge(t, grads, i, s, local, g, c)
                if second is None:
                    break
                s, local, second = second, locals1[i], None
            if extra is not None and i in extra:  # the inputs past the second
                for s, local in extra[i]:
                    p.edge(t, grads, i, s, local, g, local * g)
    except TypeError:
        if i < n and entries[i * W + LOCAL0] is None:
            raise RuntimeError(
                f"a Value built with Value(data, _children, _op={entries[i * W + ROW]!r}) "
                "but no local_grads is on the path of this backward pass, so it cannot pass "
                "through it; pass local_grads=(d data/d child, ...) or build it from "
                "tapegrad's ops"
            ) from None
        raise


def gradients(outputs: list, inputs: list, seeds: list) -> list:
    """d(Σ_k seeds[k] · outputs[k])/d(input) for each input, computed in the pass's
    own storage (no ``.grad`` written); None for an input the outputs do not reach.
    The float pass behind ``engine.grad`` (callers check the arguments)."""
    p = run(Pass(own_storage=True), zip(outputs, seeds))
    return [p.gradient(v) for v in inputs]
