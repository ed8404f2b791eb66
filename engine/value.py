"""``Value``: a scalar that records, on a dynamic tape, how it was computed.

Each op appends one entry to a *tape* as it runs, holding, as plain numbers
computed during the forward pass,

* the op's inputs, in order (``x * x`` has ``x`` twice), and
* the local derivative of the result with respect to each input,

and returns a ``Value``: a small handle on that entry. The tape is in the order the
ops ran, and an op's inputs always exist before it does, so the tape read backwards
is a reverse topological order: ``backward()`` needs no graph search. It walks the
tape from the root down and applies the chain rule one edge -- one *perturbation*
-- at a time::

    parent.grad += local_derivative * node.grad        # dc/ds += dc/dz · dz/ds

The tape is a flat list of numbers and shared objects; a handle is freed as soon as
user code drops it, and a tape as soon as no handle on it is left. There are no
closures and no reference cycles, so the cyclic garbage collector has nothing to
walk however big the graph grows (``benchmarks/bench.py`` measures time and memory
per node against micrograd). Graph walks (``parents``, :func:`topological_order`,
drawing) hand back a Value for every entry, including those whose handle was
dropped; two handles on one entry compare equal.

Numbers used as operands (``x * 2.0``) are constants: they are not nodes of the
graph; the entry keeps them (``node.constant``) so that it can be displayed and
replayed, as PyTorch does with Python scalars.
"""

from __future__ import annotations

import decimal
import heapq
import math
import numbers
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .ops import Op, on_register

__all__ = [
    "Value",
    "Scope",
    "AnomalyError",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "scope",
    "current_scope",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "zero_grad",
    "topological_order",
    "BackwardStep",
    "backprop_steps",
]


# -- recording state ------------------------------------------------------------
# Module globals, read once per op. ``_plain`` is True in the common case (grad
# recording on, anomaly detection off) so the hot path tests a single flag.
_grad_enabled = True
_anomaly = False
_plain = True
_scope = None  # the innermost active Scope, shared by every node created in it


def _refresh_plain() -> None:
    global _plain
    _plain = _grad_enabled and not _anomaly


class AnomalyError(FloatingPointError):
    """Raised under :func:`detect_anomaly` by the first op with a non-finite result
    or local derivative."""


@contextmanager
def no_grad() -> Iterator[None]:
    """Record nothing inside: results are leaves with no parents.

    Use it for inference and for parameter updates (``p.data -= lr * p.grad`` does
    not need it, but computing an update from Values does).
    """
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = False
    _refresh_plain()
    try:
        yield
    finally:
        _grad_enabled = previous
        _refresh_plain()


@contextmanager
def enable_grad() -> Iterator[None]:
    """Turn recording back on inside a :func:`no_grad` block."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = True
    _refresh_plain()
    try:
        yield
    finally:
        _grad_enabled = previous
        _refresh_plain()


def is_grad_enabled() -> bool:
    """True when ops record their parents (the default)."""
    return _grad_enabled


def set_detect_anomaly(enabled: bool) -> None:
    """Turn anomaly detection on or off for the rest of the program."""
    global _anomaly
    if not isinstance(enabled, bool):
        raise TypeError(f"set_detect_anomaly expects a bool, got {type(enabled).__name__}")
    _anomaly = enabled
    _refresh_plain()


def is_anomaly_enabled() -> bool:
    return _anomaly


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside, the first op whose result or local derivative is not finite raises
    :class:`AnomalyError` naming the op, its inputs and their labels.

    Inputs that are already non-finite do not count: the error points at the op
    where inf or nan first *appeared*.
    """
    global _anomaly
    previous = _anomaly
    _anomaly = True
    _refresh_plain()
    try:
        yield
    finally:
        _anomaly = previous
        _refresh_plain()


class Scope:
    """A named region of code (a module, a layer) that tags the Values made in it.

    One ``Scope`` object is shared by every node created inside it, so tagging costs
    one pointer per node. ``path`` is the dotted name from the outermost scope.
    """

    __slots__ = ("name", "parent")

    def __init__(self, name: str, parent: Scope | None) -> None:
        self.name = name
        self.parent = parent

    @property
    def path(self) -> str:
        """The dotted name from the outermost scope (``MLP.layers.0``)."""
        return ".".join(s.name for s in self.chain())

    @property
    def depth(self) -> int:
        """0 for an outermost scope, 1 inside it, and so on."""
        return len(self.chain()) - 1

    def chain(self) -> tuple[Scope, ...]:
        """The scopes from the outermost to this one."""
        out = []
        s: Scope | None = self
        while s is not None:
            out.append(s)
            s = s.parent
        return tuple(reversed(out))

    def __repr__(self) -> str:
        return f"Scope({self.path!r})"


class scope:
    """Tag every Value created inside with a scope; scopes nest (``mlp.layer0``).

    ``with engine.scope("layer0") as s:`` -- ``s`` is the new :class:`Scope`. A class
    rather than a generator-based context manager: ``nn`` enters one per module call,
    so entering and leaving must be cheap.
    """

    __slots__ = ("name", "_previous")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"scope name must be a non-empty str, got {name!r}")
        self.name = name
        self._previous: list[Scope | None] = []  # a stack: one object may be re-entered

    def __enter__(self) -> Scope:
        global _scope
        self._previous.append(_scope)
        _scope = Scope(self.name, _scope)
        return _scope

    def __exit__(self, *exc_info: object) -> None:
        global _scope
        _scope = self._previous.pop()


def current_scope() -> Scope | None:
    """The innermost active scope, or None."""
    return _scope


# -- the tape -------------------------------------------------------------------
#
# Every op appends one *entry* to a tape, a flat Python list, in the order the ops
# run. Creation order is a topological order (an op's inputs exist before it), so
# backprop needs no graph search: it walks the tape backwards from the root, one
# edge at a time. An entry is eight consecutive list items:
#
#     data, row, p0, p1, l0, l1, constant, scope
#
# ``row`` is the op's row of the table (a str for an op defined by user code);
# ``p0``/``p1`` are the first and second input and ``l0``/``l1`` d(result)/d(input).
# An input is stored as an ``int`` (the index of an entry on the same tape) or as
# the ``Value`` itself: a leaf (input, parameter), or a result recorded on an older
# tape. ``p1`` is None for one input; for more than two, ``p0`` and ``l0`` are
# tuples and ``p1`` is ``_MANY``. ``constant`` is a number operand: a float on the
# right (``x * 2.0``), ``(0, c)`` on the left (``2.0 * x``), else None.
#
# Entries hold numbers and shared objects only, and a ``Value`` returned by an op is
# a small handle (its number, its tape, its index): when user code drops it, it is
# freed at once, however big the graph. The cyclic garbage collector then never
# walks the graph -- for a graph of objects it walks every live node again and
# again while the graph grows, which is most of micrograd's time.

_W = 8  # list items per entry
_DATA, _ROW, _P0, _P1, _L0, _L1, _CONST, _SCOPE = range(_W)
_MANY = object()  # ``p1`` of an entry with more than two inputs

#: Every op is recorded on the *current* tape, the newest one. A new current tape
#: starts when backward() retires the current one (so each training step has its
#: own), when nothing holds the current one any more, and, at a leaf-only op
#: (``w * x`` of two parameters), once it holds this many list items (100,000
#: entries). A Value keeps its whole tape alive, and the cap bounds what an old
#: result still held can keep: a loop of forward passes never piles up on its tape.
#: An op reading a result of an older tape refers to that Value, as to a leaf.
_TAPE_CAP = _W * 100_000


class _Tape:
    """The record of one computation: entries in creation order (see above)."""

    __slots__ = ("entries", "serial", "open", "grads", "labels", "views", "__weakref__")

    def __init__(self, serial: int) -> None:
        self.entries: list = []
        self.serial = serial  # tapes made later have larger serials
        self.open = True  # True while this is the current tape
        self.grads: list | None = None  # per entry, from the latest backward pass
        self.labels: dict[int, str] | None = None
        self.views: weakref.WeakValueDictionary | None = None

    def __getstate__(self) -> tuple:
        # The cache of views holds weak references, which cannot be pickled (and
        # need not be: it refills on demand).
        return (self.entries, self.grads, self.labels)

    def __setstate__(self, state: tuple) -> None:
        # A copy (pickle, deepcopy) is a new tape: newer than every tape so far,
        # and never the current one. Copies of the tapes it refers to are made
        # first, so they stay older.
        global _serial
        self.entries, self.grads, self.labels = state
        _serial += 1
        self.serial = _serial
        self.open = False
        self.views = None

    def _views(self) -> weakref.WeakValueDictionary:
        views = self.views
        if views is None:
            views = self.views = weakref.WeakValueDictionary()
        return views

    def view(self, i: int) -> Value:
        """The canonical Value for entry ``i`` while one is alive, else a new one."""
        views = self._views()
        v = views.get(i)
        if v is None:
            v = _new(Value)
            v.data = self.entries[i * _W]
            v._tape = self
            v._i = i
            views[i] = v
        return v


_serial = 0


def _no_tape() -> None:
    return None


# The current tape (see _TAPE_CAP) is held weakly: the Values on it keep it alive.
_current = _no_tape


def _fresh_tape() -> _Tape:
    global _serial, _current
    old = _current()
    if old is not None:
        old.open = False
    _serial += 1
    t = _Tape(_serial)
    _current = weakref.ref(t)
    return t


def _retire(t: _Tape) -> None:
    """backward() ran on ``t``: the next op starts a new tape (a new training step)."""
    global _current
    t.open = False
    if _current() is t:
        _current = _no_tape


# -- the node -------------------------------------------------------------------


def _to_float(data: object) -> float:
    """Convert a real number to a Python float, refusing everything else."""
    if type(data) is float:
        return data
    if isinstance(data, bool) or not isinstance(data, (numbers.Real, decimal.Decimal)):
        if isinstance(data, Value):
            raise TypeError(
                "Value(...) expects a number, got a Value; use value.data to copy its number"
            )
        raise TypeError(
            f"Value data must be a real number (int, float, Fraction, Decimal, numpy "
            f"scalar), got {type(data).__name__}: {data!r}"
        )
    try:
        return float(data)
    except OverflowError:
        raise ValueError(
            f"Value data {type(data).__name__} is too large for a float64: {data!r}"
        ) from None


_new = object.__new__

_NO_CLOSURES = (
    "tapegrad records local derivatives, not _backward closures: define an op as "
    "Value(data, (x, y), 'name', local_grads=(d data/d x, d data/d y)) and backprop "
    "applies the chain rule itself"
)


class Value:
    """A scalar node of the computation graph.

    ``Value(data, _children=(), _op='', label='')`` is micrograd's constructor. Code
    that defines its own op this way passes ``local_grads`` -- the derivative of
    ``data`` with respect to each child -- so backprop can use it.

    The constructor and every op make ``data`` a Python float. Assigning to ``data``,
    ``grad`` or ``label`` afterwards (``p.data -= lr * p.grad``) is unchecked,
    because the update loop runs it for every parameter at every step: assign
    floats. What an op recorded on the tape does not change when ``data`` is
    reassigned afterwards.

    A Value made by an op is a handle on its tape entry (``_tape``, ``_i``); its
    gradient, label and parents live on the tape. A leaf keeps its own gradient
    (``_g``), label and scope. A Value keeps its whole tape alive.
    """

    __slots__ = ("data", "_g", "_tape", "_i", "_label", "_sc", "__weakref__")

    def __init__(
        self,
        data: object,
        _children: Iterable[Value] = (),
        _op: str = "",
        label: str = "",
        *,
        local_grads: Iterable[float] | None = None,
    ) -> None:
        data = _to_float(data)
        parents = tuple(_children)
        for p in parents:
            if not isinstance(p, Value):
                raise TypeError(f"_children must be Values, got {type(p).__name__}: {p!r}")
        if not isinstance(label, str):
            raise TypeError(f"label must be a str, got {type(label).__name__}")
        if not isinstance(_op, str):
            raise TypeError(f"_op must be a str, got {type(_op).__name__}")
        if local_grads is not None:
            local_grads = tuple(_to_float(g) for g in local_grads)
            if len(local_grads) != len(parents):
                raise ValueError(
                    f"local_grads has {len(local_grads)} entries for {len(parents)} children"
                )
        self.data = data
        if parents and _grad_enabled:
            _record(self, _op or None, parents, local_grads, None)
            if label:
                self.label = label
            if _anomaly:
                _check_anomaly(self, parents, local_grads or ())
        else:
            self._g = 0.0
            self._tape = None
            self._label = label
            self._sc = _scope

    # -- what the node records ---------------------------------------------------
    @property
    def grad(self) -> float:
        """d(root)/d(self) from the latest backward pass (0.0 before any)."""
        t = self._tape
        if t is None:
            return self._g
        grads = t.grads
        i = self._i
        if grads is None or i >= len(grads):
            return 0.0
        g = grads[i]
        return 0.0 if g is None else g

    @grad.setter
    def grad(self, value: float) -> None:
        if value is None:  # PyTorch's "no gradient yet": the same as 0 here
            value = 0.0
        t = self._tape
        if t is None:
            self._g = value
            return
        grads = t.grads
        if grads is None:
            grads = t.grads = []
        if self._i >= len(grads):
            grads.extend([None] * (len(t.entries) // _W - len(grads)))
        grads[self._i] = value

    @property
    def label(self) -> str:
        """A name for displays ('' by default)."""
        t = self._tape
        if t is None:
            return self._label
        labels = t.labels
        return "" if labels is None else labels.get(self._i, "")

    @label.setter
    def label(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"label must be a str, got {type(value).__name__}")
        t = self._tape
        if t is None:
            self._label = value
        elif t.labels is None:
            t.labels = {self._i: value}
        else:
            t.labels[self._i] = value

    def _entry(self) -> list:
        """This node's eight entry items (a copy)."""
        base = self._i * _W
        return self._tape.entries[base : base + _W]

    @property
    def _parents(self) -> tuple[Value, ...]:
        return self.parents

    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs of the op that made this Value, in order (duplicates kept)."""
        t = self._tape
        if t is None:
            return ()
        _, _, first, second, *_ = self._entry()
        refs = first if second is _MANY else (first,) if second is None else (first, second)
        return tuple(t.view(r) if type(r) is int else _canonical(r) for r in refs)

    @property
    def _local_grads(self) -> tuple[float, ...] | None:
        """The local derivatives, or None when the node was built without them."""
        if self._tape is None:
            return ()
        _, _, _, second, first, other, *_ = self._entry()
        if first is None:
            return None
        if second is _MANY:
            return first
        return (first,) if second is None else (first, other)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, computed during the forward pass."""
        local_grads = self._local_grads
        if local_grads is None:
            return tuple(math.nan for _ in self.parents)
        return local_grads

    @property
    def constant(self) -> tuple[int, float] | None:
        """``(position, number)`` when a plain number was an operand (position 0: it
        was the left operand, as in ``2.0 * x``), else None."""
        if self._tape is None:
            return None
        c = self._tape.entries[self._i * _W + _CONST]
        if c is None or type(c) is tuple:
            return c
        return (1, c)

    @property
    def _row(self) -> Op | str | None:
        t = self._tape
        return None if t is None else t.entries[self._i * _W + _ROW]

    @property
    def op(self) -> str:
        """The name of the op that made this Value ('' for a leaf)."""
        row = self._row
        if row is None:
            return ""
        return row if isinstance(row, str) else row.name

    @property
    def op_row(self) -> Op | None:
        """The row of :data:`tapegrad.engine.ops.OPS` that made this Value, if any."""
        row = self._row
        return row if isinstance(row, Op) else None

    @property
    def is_leaf(self) -> bool:
        """True for inputs and parameters: Values with no parents."""
        return self._tape is None

    @property
    def scope(self) -> Scope | None:
        """The :class:`Scope` this Value was created in, or None."""
        t = self._tape
        if t is None:
            return self._sc
        return t.entries[self._i * _W + _SCOPE]

    # micrograd compatibility: read-only views with micrograd's names.
    @property
    def _prev(self) -> tuple[Value, ...]:
        """micrograd's ``_prev``: the distinct children, in order."""
        return tuple(dict.fromkeys(self.parents))

    @property
    def _op(self) -> str:
        """micrograd's ``_op``: the op's display string ('+', '*', 'tanh', '**2')."""
        row = self._row
        if row is None:
            return ""
        if isinstance(row, str):
            return row
        constant = self.constant
        if row.name == "pow" and constant is not None:
            c = constant[1]
            return f"**{_fmt(c)}" if constant[0] == 1 else f"{_fmt(c)}**"
        return row.micrograd_op or row.label

    # Two handles on the same tape entry are the same node: the Value an op returned
    # and the one a graph walk hands back for that entry compare equal and hash
    # alike. Anything else compares by identity, as in micrograd (``v == 0.5`` is
    # False: use ``v.data == 0.5``).
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Value):
            return NotImplemented
        t = self._tape
        return t is not None and t is other._tape and self._i == other._i

    def __hash__(self) -> int:
        t = self._tape
        return object.__hash__(self) if t is None else hash((id(t), self._i))

    @property
    def _backward(self) -> None:
        raise AttributeError(_NO_CLOSURES)

    @_backward.setter
    def _backward(self, fn: object) -> None:
        raise AttributeError(_NO_CLOSURES)

    def __repr__(self) -> str:
        label = self.label
        if label:
            return f"Value(data={self.data!r}, grad={self.grad!r}, label={label!r})"
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # -- backprop ----------------------------------------------------------------
    def backward(self, grad: float = 1.0) -> None:
        """Backpropagate from this Value, seeded with ``d self / d self = grad``.

        Gradients of intermediate nodes are recomputed on each call and show the
        latest pass; gradients of leaves accumulate across calls, as in PyTorch
        (clear them with ``zero_grad``). Works from any node, not only a loss.
        """
        seed = _seed(grad)
        if self._tape is not None:
            _retire(self._tape)  # the next op starts a new tape: a new training step
        _run_pass(_Pass(), ((self, seed),))

    def backward_steps(self, grad: float = 1.0) -> Iterator[BackwardStep]:
        """Yield every chain-rule step in the order :meth:`backward` applies it,
        writing each parent's ``.grad`` as its step is yielded.

        Each :class:`BackwardStep` carries the node, the parent, the upstream
        gradient ``dc/dz``, the local derivative ``dz/ds``, their product and the
        parent's running gradient after the step, and explains itself in the
        lecture's words. Exhausting the generator leaves exactly the gradients
        ``backward()`` leaves (the same arithmetic in the same order: leaves start
        from their ``.grad``). To look without writing, use :func:`backprop_steps`.
        """
        seed = _seed(grad)
        order = topological_order(self)
        t = self._tape
        if t is not None:
            _retire(t)
        p = _Pass(own_storage=True, leaves_from_grad=True, record_steps=True)
        _run_pass(p, ((self, seed),))
        for node in order:  # the intermediates this pass reaches start again from 0
            if node._tape is not None:
                _clear_grad(node._tape, node._i)
        self.grad = p.gradient(self)
        for step in _steps(order, p):
            step.parent.grad = step.parent_grad
            yield step

    def zero_grad(self) -> None:
        """Set this Value's gradient to 0."""
        self.grad = 0.0

    # -- operators (generated from the op table below) ----------------------------
    def __abs__(self) -> Value:
        """``abs(v)`` is the table's ``abs`` op."""
        return self.abs()


def _seed(grad: object) -> float:
    if isinstance(grad, Value) or isinstance(grad, bool) or not isinstance(grad, numbers.Real):
        raise TypeError(
            f"backward(grad=...) expects a real number, d(self)/d(self), got "
            f"{type(grad).__name__}: {grad!r}"
        )
    return _to_float(grad)


def _fmt(c: float) -> str:
    return str(int(c)) if c == int(c) and abs(c) < 1e15 else repr(c)


def _clear_grad(t: _Tape, i: int) -> None:
    grads = t.grads
    if grads is None:
        grads = t.grads = []
    if len(grads) <= i:
        grads.extend([None] * (i + 1 - len(grads)))
    grads[i] = None


def _canonical(v: Value) -> Value:
    """A leaf as it is; a result recorded on another tape as that tape's view."""
    t = v._tape
    return v if t is None else t.view(v._i)


def _missing_local_grads(node: Value) -> None:
    raise RuntimeError(
        f"{node!r} was built with Value(data, _children, _op={node.op!r}) but no "
        "local_grads, so backprop cannot pass through it; pass local_grads=(d/d child, ...) "
        "or build it from tapegrad's ops"
    )


# -- backprop: the chain rule, written once ---------------------------------------


class _Pass:
    """The gradients d(root)/d(node) of one backward pass, and where they go.

    ``tapes[t][i]`` is the gradient of entry ``i`` of tape ``t`` (None: the root
    does not depend on it); ``heap`` holds the tapes still to walk, newest first
    (a tape only refers to older ones). Leaves: ``backward()`` adds into each
    leaf's ``.grad`` (``leaves`` is None); a view keeps its own storage
    (``leaves[id(leaf)] = (leaf, gradient)``), starting from 0 or, to replay
    ``backward()``'s arithmetic without writing it, from the leaf's ``.grad``.
    ``steps`` (when recorded) gets one ``(tape, i, parent, upstream, local,
    contribution, parent's new gradient)`` per edge, in order.
    """

    __slots__ = ("tapes", "heap", "leaves", "leaves_from_grad", "steps")

    def __init__(
        self,
        own_storage: bool = False,
        leaves_from_grad: bool = False,
        record_steps: bool = False,
    ) -> None:
        self.tapes: dict[_Tape, list] = {}
        self.heap: list[tuple[int, _Tape]] = []
        self.leaves: dict[int, tuple[Value, float]] | None = {} if own_storage else None
        self.leaves_from_grad = leaves_from_grad
        self.steps: list | None = [] if record_steps else None

    def add(self, v: Value, c: float) -> float:
        """Add the contribution ``c`` to the gradient of ``v`` (a leaf, or an entry of
        a tape other than the one being walked); return the new gradient."""
        t = v._tape
        if t is None:
            leaves = self.leaves
            if leaves is None:
                v._g = total = v._g + c
                return total
            old = leaves.get(id(v))
            if old is not None:
                total = old[1] + c
            else:
                total = v._g + c if self.leaves_from_grad else 0.0 + c
            leaves[id(v)] = (v, total)
            return total
        grads = self.tapes.get(t)
        if grads is None:
            grads = self.tapes[t] = []
            heapq.heappush(self.heap, (-t.serial, t))
        i = v._i
        if len(grads) <= i:
            grads.extend([None] * (i + 1 - len(grads)))
        old = grads[i]
        grads[i] = total = 0.0 + c if old is None else old + c
        return total

    def gradient(self, v: Value) -> float | None:
        """The gradient this pass computed for ``v`` (None if not reached)."""
        t = v._tape
        if t is None:
            found = self.leaves.get(id(v)) if self.leaves is not None else None
            return None if found is None else found[1]
        grads = self.tapes.get(t)
        return None if grads is None or v._i >= len(grads) else grads[v._i]


def _run_pass(p: _Pass, seeds: Iterable[tuple[Value, float]]) -> None:
    """Seed ``d root/d root`` for each root, then walk the tapes newest first."""
    for root, seed in seeds:
        p.add(root, seed)
    while p.heap:
        _, t = heapq.heappop(p.heap)
        grads = p.tapes[t]
        _backprop(t, grads, p)
        if p.leaves is None:
            _keep_grads(t, grads)


def _backprop(t: _Tape, grads: list, p: _Pass) -> None:
    """The chain rule over tape ``t``, from its last seeded entry down to its first.

    ``grads[i]`` holds d(root)/d(entry i) once every later entry has passed its
    share back (None: the root does not depend on entry i). For each edge
    ``s -> z`` it applies ``dc/ds += dc/dz · dz/ds``: into ``grads`` for an input
    on this tape, else through ``p`` (a leaf, or a Value of an older tape).
    This is the only place the chain rule is written; every pass runs it.
    """
    n = len(grads)
    end = n * _W
    entries = t.entries
    # The four columns backprop reads, sliced out at C speed.
    inputs0, inputs1 = entries[_P0:end:_W], entries[_P1:end:_W]
    locals0, locals1 = entries[_L0:end:_W], entries[_L1:end:_W]
    into_leaves = p.leaves is None
    steps = p.steps
    for i in range(n - 1, -1, -1):
        g = grads[i]  # dc/dz
        if g is None:
            continue  # the root does not depend on this entry
        second = inputs1[i]
        if locals0[i] is None:  # Value(data, children) built without local_grads
            _missing_local_grads(t.view(i))
        if second is None:
            edges = ((inputs0[i], locals0[i]),)
        elif second is _MANY:
            edges = zip(inputs0[i], locals0[i])
        else:
            edges = ((inputs0[i], locals0[i]), (second, locals1[i]))
        for parent, local in edges:
            c = local * g  # dc/dz · dz/ds
            if type(parent) is int:  # s on this tape
                old = grads[parent]
                grads[parent] = total = 0.0 + c if old is None else old + c
            elif into_leaves and parent._tape is None:  # a leaf: into its .grad
                parent._g = total = parent._g + c
            else:
                total = p.add(parent, c)
            if steps is not None:
                steps.append((t, i, parent, g, local, c, total))


def _keep_grads(t: _Tape, grads: list) -> None:
    """Entries the pass reached show its gradients; the others keep theirs."""
    old = t.grads
    if old is None:
        t.grads = grads
        return
    if len(old) < len(grads):
        old.extend([None] * (len(grads) - len(old)))
    for i, g in enumerate(grads):
        if g is not None:
            old[i] = g


# -- recording ops ----------------------------------------------------------------


def _record(
    node: Value, row: object, inputs: tuple, local_grads: tuple | None, constant: object
) -> None:
    """Append ``node``'s entry to a tape and make ``node`` its handle.

    The general path: any number of inputs, on any tapes. The entry goes on the
    current tape, which is newer than every input's (so a tape never refers to a
    newer one); inputs from other tapes are referred to as Values.
    """
    newest = max((v._tape.serial for v in inputs if v._tape is not None), default=0)
    t = _current()
    if t is None or len(t.entries) >= _TAPE_CAP or t.serial < newest:
        t = _fresh_tape()
    refs = [v._i if v._tape is t else v for v in inputs]
    if len(refs) > 2:
        first, second = tuple(refs), _MANY
        d_first, d_second = local_grads, None
    else:
        first = refs[0]
        second = refs[1] if len(refs) == 2 else None
        d_first = None if local_grads is None else local_grads[0]
        d_second = None if local_grads is None or second is None else local_grads[1]
    e = t.entries
    node._tape = t
    e += (node.data, row, first, second, d_first, d_second, constant, _scope)
    # The index is read after the append, with no call in between: another thread
    # can only run at a call's end, so it cannot append between the two.
    node._i = len(e) // _W - 1


def _leaf(data: float) -> Value:
    node = _new(Value)
    node.data = data
    node._g = 0.0
    node._tape = None
    node._label = ""
    node._sc = _scope
    return node


def _make(row: Op, data: float, inputs: tuple, local_grads: tuple, constant) -> Value:
    """Create a result the general way, applying ``no_grad`` and ``detect_anomaly``.

    The op methods below record the common cases inline, which saves a function
    call per node; this handles every other case (numbers on the left as in
    ``2.0 * x``, inputs on two different tapes, ``no_grad``, ``detect_anomaly``).
    """
    if not _grad_enabled:
        return _leaf(data)
    node = _new(Value)
    node.data = data
    _record(node, row, inputs, local_grads, constant)
    if _anomaly:
        _check_anomaly(node, inputs, local_grads)
    return node


def _check_anomaly(node: Value, parents: tuple, local_grads: tuple) -> None:
    values = (node.data, *local_grads)
    if all(math.isfinite(v) for v in values):
        return
    constant = node.constant
    inputs = [p.data for p in parents]
    if constant is not None:
        inputs.insert(constant[0], constant[1])
    if not all(math.isfinite(v) for v in inputs):
        return  # the anomaly came from upstream; it was (or would be) reported there
    described = ", ".join(f"{p.label or '<unlabelled>'}={p.data!r}" for p in parents)
    if constant is not None:
        described += f"{', ' if described else ''}constant={constant[1]!r}"
    what = "result" if not math.isfinite(node.data) else "local derivative"
    raise AnomalyError(
        f"op '{node.op}' produced a non-finite {what}: result={node.data!r}, "
        f"local derivatives={tuple(local_grads)!r}, inputs: {described}"
    )


# The op methods are generated from the table. Each records its entry inline (no
# helper call) in the common cases, and hands over to ``_make`` otherwise.


def _unary_method(row: Op):
    fn = row.fn

    def method(self: Value) -> Value:
        out, local = fn(self.data)
        if not _plain:
            return _make(row, out, (self,), (local,), None)
        t = self._tape
        if t is None:  # a leaf: record on the current tape
            first = self
            t = _current()
            if t is None or len(t.entries) >= _TAPE_CAP:
                t = _fresh_tape()
        elif t.open:  # a result on the current tape
            first = self._i
        else:  # a result of an older tape
            return _make(row, out, (self,), (local,), None)
        e = t.entries
        node = _new(Value)
        node.data = out
        node._tape = t
        e += (out, row, first, None, local, None, None, _scope)
        node._i = (len(e) >> 3) - 1  # after the append: see _record
        return node

    method.__name__ = row.name
    method.__doc__ = f"{row.doc}"
    return method


def _binary_methods(row: Op):
    fn = row.fn

    def forward(self: Value, other: object) -> Value:
        if isinstance(other, Value):
            out, d_self, d_other = fn(self.data, other.data)
            if not _plain:
                return _make(row, out, (self, other), (d_self, d_other), None)
            t = self._tape
            u = other._tape
            if t is u:
                if t is None:  # two leaves
                    first = self
                    second = other
                    t = _current()
                    if t is None or len(t.entries) >= _TAPE_CAP:
                        t = _fresh_tape()
                elif t.open:
                    first = self._i
                    second = other._i
                else:
                    return _make(row, out, (self, other), (d_self, d_other), None)
            elif t is None and u.open:
                first = self
                second = other._i
                t = u
            elif u is None and t.open:
                first = self._i
                second = other
            else:  # a result of an older tape is involved
                return _make(row, out, (self, other), (d_self, d_other), None)
            e = t.entries
            node = _new(Value)
            node.data = out
            node._tape = t
            e += (out, row, first, second, d_self, d_other, None, _scope)
            node._i = (len(e) >> 3) - 1  # after the append: see _record
            return node
        # A number on the right is a constant, kept as a bare float.
        c = other if type(other) is float else _to_float(other)
        out, d_self, _ = fn(self.data, c)
        if not _plain:
            return _make(row, out, (self,), (d_self,), c)
        t = self._tape
        if t is None:
            first = self
            t = _current()
            if t is None or len(t.entries) >= _TAPE_CAP:
                t = _fresh_tape()
        elif t.open:
            first = self._i
        else:
            return _make(row, out, (self,), (d_self,), c)
        e = t.entries
        node = _new(Value)
        node.data = out
        node._tape = t
        e += (out, row, first, None, d_self, None, c, _scope)
        node._i = (len(e) >> 3) - 1  # after the append: see _record
        return node

    def reflected(self: Value, other: object) -> Value:
        c = _to_float(other)
        out, _, d_self = fn(c, self.data)
        return _make(row, out, (self,), (d_self,), (0, c))

    forward.__doc__ = row.doc
    reflected.__doc__ = f"{row.doc} (number on the left)"
    return forward, reflected


def _give_value_methods(row: Op) -> None:
    """Attach a row's methods to ``Value`` (called for every row of the table)."""
    if row.arity == 1:
        method = _unary_method(row)
        setattr(Value, row.name, method)
        for name in row.operators:
            setattr(Value, name, method)
    else:
        forward, reflected = _binary_methods(row)
        forward.__name__, reflected.__name__ = row.operators
        setattr(Value, row.operators[0], forward)
        setattr(Value, row.operators[1], reflected)


on_register(_give_value_methods)


def apply(row: Op, *inputs: object) -> Value:
    """Apply an op row to Values or numbers (numbers become constants; if every
    input is a number the result is a leaf Value holding the result)."""
    if len(inputs) != row.arity:
        raise TypeError(f"{row.name} takes {row.arity} input(s), got {len(inputs)}")
    if row.arity == 1:
        (x,) = inputs
        if isinstance(x, Value):
            return getattr(x, row.name)()
        return Value(row.fn(_to_float(x))[0])
    x, y = inputs
    if isinstance(x, Value):
        return getattr(Value, row.operators[0])(x, y)
    if isinstance(y, Value):
        return getattr(Value, row.operators[1])(y, x)
    return Value(row.fn(_to_float(x), _to_float(y))[0])


# -- graph walks ----------------------------------------------------------------


def topological_order(root: Value) -> list[Value]:
    """Every Value ``root`` depends on, each after all of its parents.

    This is the order in which the ops ran -- the tape's order -- keeping only
    the entries ``root`` depends on; each leaf comes just before the first op that
    read it. Results recorded on an older tape come before the newer tape's. The
    Values returned for intermediate results are views of their tape entries: the
    same object for the same entry while one is held.
    """
    if not isinstance(root, Value):
        raise TypeError(f"expected a Value, got {type(root).__name__}")
    t = root._tape
    if t is not None:
        t._views()[root._i] = root  # the caller's own object stands for its entry
    return _walk(root).values()


class _Walk:
    """The part of the tape(s) a root depends on, in :func:`topological_order`'s
    order, read straight from the tape: position ``k`` holds ``items[k]`` (a leaf
    Value, or ``(tape, index)`` for an entry), the positions of its inputs, its op
    row and its constant. Replay compiles from this without a Value per entry."""

    __slots__ = ("items", "parents", "rows", "constants", "_positions", "_leaf_positions")

    def __init__(self) -> None:
        self.items: list = []
        self.parents: list[tuple[int, ...]] = []
        self.rows: list = []
        self.constants: list = []
        self._positions: dict[_Tape, list[int]] = {}
        self._leaf_positions: dict[int, int] = {}

    def position(self, v: Value) -> int:
        """Where ``v`` is in the order, or -1 if ``root`` does not depend on it."""
        t = v._tape
        if t is None:
            k = self._leaf_positions.get(id(v), -1)
            return k if k >= 0 and self.items[k] is v else -1
        positions = self._positions.get(t)
        return -1 if positions is None or v._i >= len(positions) else positions[v._i]

    def values(self) -> list[Value]:
        return [item if type(item) is not tuple else item[0].view(item[1]) for item in self.items]


def _walk(root: Value) -> _Walk:
    walk = _Walk()
    t = root._tape
    if t is None:
        walk.items.append(root)
        walk.parents.append(())
        walk.rows.append(None)
        walk.constants.append(None)
        walk._leaf_positions[id(root)] = 0
        return walk
    # Mark what root depends on, newest tape first, each tape from its end.
    marks: dict[_Tape, bytearray] = {t: bytearray(root._i + 1)}
    marks[t][root._i] = 1
    walked: list[_Tape] = []  # newest first
    heap = [(-t.serial, t)]
    while heap:
        _, t = heapq.heappop(heap)
        walked.append(t)
        mark = marks[t]
        entries = t.entries
        for i in range(len(mark) - 1, -1, -1):
            if not mark[i]:
                continue
            for ref in _refs(entries, i):
                if type(ref) is int:
                    mark[ref] = 1
                elif ref._tape is not None:
                    other = marks.get(ref._tape)
                    if other is None:
                        other = marks[ref._tape] = bytearray(len(ref._tape.entries) // _W)
                        heapq.heappush(heap, (-ref._tape.serial, ref._tape))
                    other[ref._i] = 1
    # Emit oldest tape first, each in creation order, leaves before first use.
    items, parents, rows, constants = walk.items, walk.parents, walk.rows, walk.constants
    leaf_positions = walk._leaf_positions
    for t in reversed(walked):
        mark = marks[t]
        entries = t.entries
        positions = walk._positions[t] = [-1] * len(mark)
        for i in range(len(mark)):
            if not mark[i]:
                continue
            inputs = []
            for ref in _refs(entries, i):
                if type(ref) is int:
                    inputs.append(positions[ref])
                elif ref._tape is not None:
                    inputs.append(walk._positions[ref._tape][ref._i])
                else:
                    k = leaf_positions.get(id(ref))
                    if k is None:
                        k = leaf_positions[id(ref)] = len(items)
                        items.append(ref)
                        parents.append(())
                        rows.append(None)
                        constants.append(None)
                    inputs.append(k)
            base = i * _W
            c = entries[base + _CONST]
            positions[i] = len(items)
            items.append((t, i))
            parents.append(tuple(inputs))
            rows.append(entries[base + _ROW])
            constants.append(c if c is None or type(c) is tuple else (1, c))
    return walk


def _refs(entries: list, i: int) -> tuple:
    """The input references of entry ``i`` (ints and Values), in order."""
    base = i * _W
    first = entries[base + _P0]
    second = entries[base + _P1]
    if second is _MANY:
        return first
    return (first,) if second is None else (first, second)


def zero_grad(values: Iterable[Value]) -> None:
    """Set the gradient of every Value in ``values`` to 0."""
    if isinstance(values, Value):
        raise TypeError("zero_grad expects a collection of Values; for one Value use v.zero_grad()")
    values = list(values)
    for v in values:
        if not isinstance(v, Value):
            raise TypeError(f"zero_grad expects Values, got {type(v).__name__}: {v!r}")
    for v in values:
        v.grad = 0.0


# -- step-by-step backprop ------------------------------------------------------


def _display_names(order: list[Value]) -> dict[Value, str]:
    """A readable name per node: its label, else v<index in the order>."""
    return {node: (node.label or f"v{i}") for i, node in enumerate(order)}


class BackwardStep:
    """One application of the chain rule along one edge ``parent -> node``.

    ``contribution = upstream * local`` is added to ``parent.grad``, whose value
    after the step is ``parent_grad``.
    """

    __slots__ = (
        "index",
        "node",
        "parent",
        "position",
        "upstream",
        "local",
        "contribution",
        "parent_grad",
        "root_name",
        "node_name",
        "parent_name",
    )

    def __init__(
        self,
        index,
        node,
        parent,
        position,
        upstream,
        local,
        contribution,
        parent_grad,
        root_name,
        node_name,
        parent_name,
    ) -> None:
        self.index = index
        self.node = node
        self.parent = parent
        self.position = position
        self.upstream = upstream
        self.local = local
        self.contribution = contribution
        self.parent_grad = parent_grad
        self.root_name = root_name
        self.node_name = node_name
        self.parent_name = parent_name

    @property
    def local_name(self) -> str:
        """The local derivative written as math: ``tanh'(s)`` for a function of one
        input, else the partial derivative ``∂z/∂s`` -- a partial, so that it never
        reads like the total derivatives ``dc/ds`` that backprop accumulates."""
        row = self.node.op_row
        p = self.parent_name
        if row is not None and row.arity == 1:
            return f"{row.name}'({p})"
        return f"∂{self.node_name}/∂{p}"

    @property
    def explanation(self) -> str:
        """The step in the lecture's words: ``dc/ds += dc/dz · h'(s)``, with numbers."""
        c, z, s = self.root_name, self.node_name, self.parent_name
        return (
            f"d{c}/d{s} += d{c}/d{z} · {self.local_name} = {self.upstream:.6g} · "
            f"{self.local:.6g} = {self.contribution:.6g}  (d{c}/d{s} is now {self.parent_grad:.6g})"
        )

    def __repr__(self) -> str:
        return f"BackwardStep({self.index}: {self.explanation})"


def _steps(order: list[Value], p: _Pass) -> Iterator[BackwardStep]:
    """The steps a pass recorded, as :class:`BackwardStep` objects."""
    names = _display_names(order)
    root_name = names[order[-1]]
    previous = None
    position = 0
    for index, (t, i, ref, upstream, local, contribution, total) in enumerate(p.steps):
        position = position + 1 if (t, i) == previous else 0
        previous = (t, i)
        node = t.view(i)
        parent = t.view(ref) if type(ref) is int else _canonical(ref)
        yield BackwardStep(
            index,
            node,
            parent,
            position,
            upstream,
            local,
            contribution,
            total,
            root_name,
            names[node],
            names[parent],
        )


def backprop_steps(root: Value, grad: float = 1.0) -> Iterator[BackwardStep]:
    """Every chain-rule step of a backward pass from ``root``, computed without
    writing any ``.grad``: the step-by-step view drawing and teaching read.

    Yields :class:`BackwardStep` objects in the order ``root.backward(grad)``
    applies them; each ``parent_grad`` is the running gradient of this pass alone
    (every gradient starts from 0, leaves included), kept in the pass's own
    storage. ``root.backward_steps()`` is the same pass writing ``.grad`` as it goes.
    """
    if not isinstance(root, Value):
        raise TypeError(f"backprop_steps expects a Value, got {type(root).__name__}: {root!r}")
    seed = _seed(grad)
    order = topological_order(root)
    p = _Pass(own_storage=True, record_steps=True)
    _run_pass(p, ((root, seed),))
    yield from _steps(order, p)


def gradients(
    outputs: Iterable[Value], inputs: Iterable[Value], grad_outputs: Iterable[float] | None = None
) -> list[float | None]:
    """d(Σ_k grad_outputs[k] · outputs[k])/d(input) for each input, as floats, with
    no ``.grad`` written (the float pass behind ``engine.grad``).

    ``grad_outputs`` defaults to 1.0 per output. An input the outputs do not
    depend on gets None.
    """
    outputs = list(outputs)
    inputs = list(inputs)
    for v in (*outputs, *inputs):
        if not isinstance(v, Value):
            raise TypeError(f"expected Values, got {type(v).__name__}: {v!r}")
    if grad_outputs is None:
        seeds = [1.0] * len(outputs)
    else:
        seeds = [_seed(g) for g in grad_outputs]
        if len(seeds) != len(outputs):
            raise ValueError(f"{len(seeds)} grad_outputs for {len(outputs)} outputs")
    p = _Pass(own_storage=True)
    _run_pass(p, zip(outputs, seeds))
    return [p.gradient(v) for v in inputs]
