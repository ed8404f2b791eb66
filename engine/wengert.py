"""The tape: where every op is recorded, as a Wengert list.

A Wengert list is a program with no branches, one line per op, each line naming
its inputs by their line numbers -- ``v3 = v1 * v2``. JAX calls the same thing a
jaxpr; here it is written eagerly, line by line, as Python runs the ops. Each
line (an *entry*) keeps, as plain numbers computed during the forward pass, the
op's result and the local derivative of the result with respect to each input.
Reverse-mode differentiation is then a reverse interpreter over the lines
(:mod:`tapegrad.engine.backprop`): creation order is a topological order, since
an op's inputs exist before it does, so no graph search is needed.

**Layout.** A tape is one flat Python list, eight items per entry::

    data, row, input0, input1, local0, local1, constant, scope

* ``row``: the op's row of :data:`tapegrad.engine.ops.OPS` (a str for an op
  defined by user code with ``Value(data, children, op, local_grads=...)``);
* ``input0``/``input1``: the inputs in order (``x * x`` names ``x`` twice); ``input1``
  is None for one input; an op with more inputs (user code's ``Value(data, (a, b,
  c), ...)``) keeps the others in the tape's ``extra_inputs``, by entry;
* ``local0``/``local1``: d(result)/d(input); :data:`~tapegrad.engine.formulas.MASKED`
  for an edge PyTorch selects zero on; None when user code gave none (backward
  says so when it reaches the entry);
* ``constant``: a number operand, a float on the right (``x * 2.0``) or
  ``(0, c)`` on the left (``2.0 * x``), else None; ``scope``: the :class:`Scope`.

**The invariant.** At most one tape is *open*: the current one, where every op is
recorded. An input on the open tape is written as its index (an ``int``); any
other input -- a leaf, or a result of a closed tape -- as the ``Value`` itself. So
a tape only ever points at older tapes, and backward walks the newest tape first.

A ``Value`` made by an op is a *handle*: its number, its tape, its index. Entries
hold numbers and shared objects only -- no closures, no references to handles of
the same tape -- so a dropped handle is freed at once, a tape as soon as no handle
on it is left, and the cyclic garbage collector never walks the graph (it walks
every live object again and again while a graph of objects grows: most of
micrograd's time).
"""

from __future__ import annotations

import weakref
from typing import Any

W = 8  # list items per entry
DATA, ROW, INPUT0, INPUT1, LOCAL0, LOCAL1, CONSTANT, SCOPE = range(W)

#: A new tape starts, at a leaf-only op (``w * x`` of two parameters), once the
#: current one holds this many list items (100,000 entries). A Value keeps its
#: whole tape alive; the cap bounds what an old result still held can keep.
TAPE_CAP = W * 100_000


class _NoGrad(float):
    """The gradient of a leaf that no backward pass has reached: a -0.0 that
    ``.grad`` reads as 0.0 (micrograd's starting value).

    -0.0 is the identity of float addition, sign included (``-0.0 + c`` is ``c``
    bit for bit, even for ``c = -0.0``), so backward adds every contribution with a
    plain ``leaf._g += c`` and the sum still starts at its first contribution, as
    PyTorch's does. The object is unique (copies and pickles give it back), so
    ``.grad`` can tell "no gradient yet" from a computed -0.0.
    """

    __slots__ = ()

    def __reduce__(self) -> str:
        return "NO_GRAD"  # pickled by name: unpickling gives this very object

    def __repr__(self) -> str:
        return "NO_GRAD"


#: A leaf's gradient before any backward pass reaches it (see :class:`_NoGrad`).
NO_GRAD = _NoGrad(-0.0)


def inputs_of(t: WengertList, i: int) -> tuple:
    """The input references of entry ``i`` of ``t`` (ints and Values), in order."""
    entries = t.entries
    first = entries[i * W + INPUT0]
    second = entries[i * W + INPUT1]
    if second is None:
        return (first,)
    extra = t.extra_inputs
    if extra is not None and i in extra:
        return (first, second, *(ref for ref, _ in extra[i]))
    return (first, second)


def local_grads_of(t: WengertList, i: int) -> tuple | None:
    """The local derivatives of entry ``i`` of ``t``, or None if it was built without them."""
    entries = t.entries
    first = entries[i * W + LOCAL0]
    if first is None:
        return None
    if entries[i * W + INPUT1] is None:
        return (first,)
    extra = t.extra_inputs
    if extra is not None and i in extra:
        return (first, entries[i * W + LOCAL1], *(local for _, local in extra[i]))
    return (first, entries[i * W + LOCAL1])


class WengertList:
    """The record of one computation: entries in creation order (see the module).

    Besides the entries it keeps what belongs to intermediate results, which have
    no object of their own: ``grads`` (per entry, from the latest backward pass)
    and ``labels``. ``views`` caches the Value handed out for an entry by graph
    walks, so that one entry has one Value while one is held.
    """

    __slots__ = (
        "entries",
        "serial",
        "open",
        "grads",
        "labels",
        "views",
        "extra_inputs",
        "__weakref__",
    )

    #: The class of the handles :meth:`view` makes (``Value``, set by its module).
    handle: Any

    def __init__(self, serial: int) -> None:
        self.entries: list = []
        self.serial = serial  # tapes made later have larger serials
        self.open = True  # True while this is the current tape
        self.grads: list | None = None
        self.labels: dict[int, str] | None = None
        self.views: weakref.WeakValueDictionary | None = None
        # entry -> ((input, local derivative), ...) past the second, for an op of
        # more than two inputs (a user's ``Value(data, (a, b, c), ...)``)
        self.extra_inputs: dict[int, tuple[tuple[object, object], ...]] | None = None

    def __getstate__(self) -> tuple:
        # The cache of views holds weak references, which cannot be pickled (and
        # need not be: it refills on demand).
        return (self.entries, self.grads, self.labels, self.extra_inputs)

    def __setstate__(self, state: tuple) -> None:
        # A copy (pickle, deepcopy) is a new tape: newer than every tape so far, and
        # never the current one. Copies of the tapes it refers to are made first,
        # so they stay older.
        self.entries, self.grads, self.labels, self.extra_inputs = state
        self.serial = next_serial()
        self.open = False
        self.views = None

    def view(self, i: int) -> Any:
        """The canonical Value for entry ``i`` while one is alive, else a new one."""
        views = self.views
        if views is None:
            views = self.views = weakref.WeakValueDictionary()
        v = views.get(i)
        if v is None:
            v = object.__new__(self.handle)
            v._data = self.entries[i * W]
            v._tape = self
            v._i = i
            views[i] = v
        return v

    def grad(self, i: int) -> float:
        """The gradient of entry ``i`` from the latest backward pass (0.0 before any)."""
        grads = self.grads
        if grads is None or i >= len(grads):
            return 0.0
        g = grads[i]
        return 0.0 if g is None else g

    def set_grad(self, i: int, value: float | None) -> None:
        """Set the gradient of entry ``i`` (None: as if no pass had reached it)."""
        grads = self.grads
        if grads is None:
            grads = self.grads = []
        if len(grads) <= i:
            grads.extend([None] * (i + 1 - len(grads)))
        grads[i] = value

    def keep_grads(self, grads: list) -> None:
        """Store a backward pass's gradients: entries it reached (not None) show them,
        the others keep theirs."""
        old = self.grads
        if old is None:
            self.grads = grads
            return
        if len(old) < len(grads):
            old.extend([None] * (len(grads) - len(old)))
        for i, g in enumerate(grads):
            if g is not None:
                old[i] = g


_serial = 0


def next_serial() -> int:
    """The serial of a new tape: larger than every serial so far."""
    global _serial
    _serial += 1
    return _serial


def last_serial() -> int:
    """The serial of the newest tape (0 before any)."""
    return _serial
