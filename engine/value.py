"""``Value``: a scalar that records, on a tape, how it was computed.

Each op runs its row of the op table (:mod:`tapegrad.engine.ops`: the result and
the local derivative with respect to each input, as numbers), appends one entry
to the current tape (:mod:`tapegrad.engine.wengert`) and returns a ``Value``: a
small handle on that entry. ``backward()`` then walks the tape backwards and
applies the chain rule one edge at a time (:mod:`tapegrad.engine.backprop`)::

    parent.grad += local_derivative * node.grad        # dc/ds += dz/ds · dc/dz

A leaf (an input, a parameter) keeps its own number, gradient and label; a result
of an op keeps only its number, its tape and its index -- its gradient, label and
parents live on the tape, so a dropped handle is freed at once, however big the
graph. Graph walks hand back a Value for every entry, and two handles on one
entry compare equal. Numbers used as operands (``x * 2.0``) are constants, not
nodes: the entry keeps them (``node.constant``), as PyTorch does with Python scalars.
"""

from __future__ import annotations

import decimal
import math
import numbers
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import backprop, formulas, modes
from .ops import OPS, Op, on_register
from .wengert import (
    CONSTANT,
    NO_GRAD,
    ROW,
    SCOPE,
    WengertList,
    inputs_of,
    last_serial,
    local_grads_of,
    next_serial,
)
from .wengert import TAPE_CAP as _TAPE_CAP
from .wengert import W as _W

if TYPE_CHECKING:
    from .modes import Scope

__all__ = [
    "Value",
    "read_number",
    "apply",
    "apply_op",
    "canonical_handle",
    "made_since",
    "make_result",
    "recording_mark",
    "retire_tape",
    "seed_gradient",
    "set_graph_backward",
    "to_float",
    "zero_grad",
]

_new = object.__new__

# The switches of :mod:`tapegrad.engine.modes`, kept equal to them (modes.follow).
# ``_plain`` is True in the common case -- recording on, anomaly detection off --
# so the hot path tests one flag.
_grad_enabled = _plain = True
_anomaly = False
_scope = None
modes.follow(sys.modules[__name__])


# -- the current tape -----------------------------------------------------------
# Every op is recorded on the current tape, the newest one. A new one starts when
# backward() retires it (each training step gets its own), when nothing holds it
# any more (it is held weakly: the Values on it keep it alive), and at a leaf-only
# op once it holds _TAPE_CAP items.


def _no_tape() -> None:
    return None


_current: Callable[[], WengertList | None] = _no_tape


def _fresh_tape() -> WengertList:
    global _current
    old = _current()
    if old is not None:
        old.open = False
    t = WengertList(next_serial())
    _current = weakref.ref(t)
    return t


def recording_mark() -> tuple[int, int]:
    """Where the next op is recorded, as ``(tape serial, entry index)``: a result is
    made after this call exactly when :func:`made_since` says so."""
    t = _current()
    if t is None or not t.open or len(t.entries) >= _TAPE_CAP:
        return (last_serial() + 1, 0)  # the next op starts a new tape
    return (t.serial, len(t.entries) // _W)


def made_since(v: Value, mark: tuple[int, int]) -> bool:
    """Whether ``v`` is the result of an op recorded after :func:`recording_mark`
    returned ``mark`` (a leaf never is: leaves are not recorded)."""
    t = v._tape
    return t is not None and (t.serial, v._i) >= mark


def retire_tape(t: WengertList) -> None:
    """backward() ran on ``t``: the next op starts a new tape (a new training step)."""
    global _current
    t.open = False
    if _current() is t:
        _current = _no_tape


# -- the node -------------------------------------------------------------------


def to_float(data: object) -> float:
    """Convert a real number (numpy scalars and 0-d arrays included) to a Python
    float; raise ``TypeError`` for anything else, naming it."""
    if type(data) is float:
        return data
    if isinstance(data, bool) or not isinstance(data, (numbers.Real, decimal.Decimal)):
        np = sys.modules.get("numpy")  # numpy is optional: only if the user loaded it
        if np is not None and isinstance(data, np.ndarray):
            if data.ndim == 0 and data.dtype.kind in "iuf":
                return float(data)
            if data.ndim:
                raise TypeError(
                    f"a Value holds one number, got a numpy array of shape {data.shape}; "
                    "pass a scalar or a 0-d array (arr.item() for a one-element array)"
                )
        if isinstance(data, Value):
            raise TypeError(
                "Value(...) expects a number, got a Value; use value.data to copy its number"
            )
        raise TypeError(
            f"Value data must be a real number (int, float, Fraction, Decimal, numpy "
            f"scalar or 0-d array), got {type(data).__name__}: {data!r}"
        )
    try:
        return float(data)
    except OverflowError:
        raise ValueError(
            f"Value data {type(data).__name__} is too large for a float64: {data!r}"
        ) from None


# -- reading the number -------------------------------------------------------------
# Every read of a Value's number that user code makes -- ``.data``, ``float()``,
# ``int()``, ``bool()``, ``round()``, ``format()`` with a spec, ``< <= > >=`` -- goes
# through read_number. While a function is traced (vmap, compile, lift), engine.trace
# wraps these methods of Value and sees each read (issue 18 item 1).


def read_number(v: Value, how: str) -> float:
    """The number of ``v`` as a user-facing read gets it; ``how`` names the read
    (``".data"``, ``"float()"``, ``"int()"``, ``"bool()"``, ``"round()"``,
    ``"format()"``, ``"<"``, ``"<="``, ``">"``, ``">="``).

    The one place where Value's user-facing methods (the property ``data`` and the
    dunders that read the number) get it. The engine's own reads -- the op methods,
    backward, the tape, drawing, ``repr`` -- read the slot ``_data`` directly, so a
    tracer that wraps these methods (:mod:`tapegrad.engine.trace` does, while a
    function is traced) sees user code's reads only; ops pay nothing for them.
    """
    return v._data


def _no_graph_backward(root: Value, seed: float) -> None:
    raise RuntimeError("backward(create_graph=True) needs tapegrad.engine.autodiff")


#: ``Value.backward(create_graph=True)``'s pass: :mod:`tapegrad.engine.autodiff` (which
#: builds gradients as graphs and imports this module) sets it when it is imported.
_graph_backward: Callable[[Value, float], None] = _no_graph_backward


def set_graph_backward(run: Callable[[Value, float], None]) -> None:
    """Give ``Value.backward(create_graph=True)`` its pass (``run(root, seed)``)."""
    global _graph_backward
    _graph_backward = run


def _data_number(value: object) -> float:
    """A number assigned to ``.data`` as a float, or ``TypeError`` naming what was given."""
    try:
        return to_float(value)
    except TypeError:
        raise TypeError(
            f"Value.data must be a real number (int, float, Fraction, Decimal, numpy scalar "
            f"or 0-d array), got {type(value).__name__}: {value!r}"
        ) from None


def _other_number(other: object, how: str) -> float:
    """The right side of an ordering comparison as a number (a Value's is a read)."""
    if isinstance(other, Value):
        return read_number(other, how)
    if isinstance(other, bool) or not isinstance(other, (numbers.Real, decimal.Decimal)):
        raise TypeError(
            f"'{how}' not supported between a Value and {type(other).__name__}: {other!r}"
        )
    return to_float(other)


class Value:
    """A scalar node of the computation graph.

    ``Value(data, _children=(), _op='', label='')`` is micrograd's constructor. Code
    that defines its own op this way passes ``local_grads`` -- the derivative of
    ``data`` with respect to each child -- so backprop can use it.

    ``data`` is always a Python float: the constructor, every op and assignment
    (``p.data -= lr * p.grad``; a non-number is refused there, naming it) make it
    one. What an op recorded does not change when ``data`` is reassigned.

    As PyTorch's 0-dim tensors, a Value reads as its number where Python asks for
    one: ``float(v)``, ``int(v)``, ``bool(v)`` (``if v:``), ``round(v)``,
    ``math.floor/ceil/trunc(v)``,
    ``f"{v:.3f}"`` and the ordering comparisons ``< <= > >=`` (with Values or
    numbers). ``==`` is not numeric: it is node identity (see ``__eq__``). Every such
    read, and ``.data``, goes through :func:`read_number`.

    A Value made by an op is a handle on its tape entry (``_tape``, ``_i``). A leaf
    keeps its own gradient (``_g``), label and scope (``_sc``). ``name`` is the
    label (DeZero's word), kept on the tape, so every handle on the node sees it.
    Other attributes (``p.m``, ``p.v``) are the user's, stored on this object (a
    dictionary made on first use): a leaf is always the same object, but a graph
    walk may reach an op's result through another handle (``==`` to this one)
    that does not carry them.
    """

    __slots__ = ("_data", "_g", "_tape", "_i", "_label", "_sc", "__dict__", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: np.float64(2) * v

    # The slots, typed: a result has ``_tape`` and ``_i``; a leaf ``_tape = None``,
    # ``_g``, ``_label`` and ``_sc``.
    _data: float
    _tape: WengertList | None
    _i: int
    _g: float
    _label: str
    _sc: Scope | None

    def __init__(
        self,
        data: object,
        _children: Iterable[Value] = (),
        _op: str = "",
        label: str | None = "",
        *,
        local_grads: Iterable[float] | None = None,
    ) -> None:
        data = to_float(data)
        parents = tuple(_children)
        for p in parents:
            if not isinstance(p, Value):
                raise TypeError(f"_children must be Values, got {type(p).__name__}: {p!r}")
        if label is None:  # DeZero's name=None: no name
            label = ""
        if not isinstance(label, str):
            raise TypeError(f"label must be a str or None, got {type(label).__name__}")
        if not isinstance(_op, str):
            raise TypeError(f"_op must be a str, got {type(_op).__name__}")
        if local_grads is not None:
            local_grads = tuple(to_float(g) for g in local_grads)
            if len(local_grads) != len(parents):
                raise ValueError(
                    f"local_grads has {len(local_grads)} entries for {len(parents)} children"
                )
        self._data = data
        if parents and _grad_enabled:
            _record(self, _op or None, parents, local_grads, None)
            if label:
                self.label = label
            if _anomaly:
                modes.check_anomaly(self, parents, local_grads or ())
        else:
            self._g = NO_GRAD  # no gradient yet: reads as 0.0
            self._tape = None
            self._label = label
            self._sc = _scope

    # -- the number ----------------------------------------------------------------
    @property
    def data(self) -> float:
        """The number this Value holds, a Python float (a read: :func:`read_number`)."""
        return read_number(self, ".data")

    @data.setter
    def data(self, value: float) -> None:
        # The update loop assigns a float per parameter per step: that case is one check.
        self._data = value if type(value) is float else _data_number(value)

    def __float__(self) -> float:
        return read_number(self, "float()")

    def __int__(self) -> int:
        return int(read_number(self, "int()"))

    def __bool__(self) -> bool:
        return read_number(self, "bool()") != 0.0

    def __round__(self, ndigits: int | None = None) -> float:
        return round(read_number(self, "round()"), ndigits)

    def __trunc__(self) -> int:
        return math.trunc(read_number(self, "math.trunc()"))

    def __floor__(self) -> int:
        return math.floor(read_number(self, "math.floor()"))

    def __ceil__(self) -> int:
        return math.ceil(read_number(self, "math.ceil()"))

    def __format__(self, spec: str) -> str:
        if not spec:  # f"{v}" is str(v), as for a tensor
            return str(self)
        return format(read_number(self, "format()"), spec)

    def __lt__(self, other: Value | float) -> bool:
        return read_number(self, "<") < _other_number(other, "<")

    def __le__(self, other: Value | float) -> bool:
        return read_number(self, "<=") <= _other_number(other, "<=")

    def __gt__(self, other: Value | float) -> bool:
        return read_number(self, ">") > _other_number(other, ">")

    def __ge__(self, other: Value | float) -> bool:
        return read_number(self, ">=") >= _other_number(other, ">=")

    # -- what the node records ---------------------------------------------------
    @property
    def grad(self) -> Any:
        """d(root)/d(self) from the latest backward pass (0.0 before any): a float, or
        a Value after ``backward(create_graph=True)``."""
        t = self._tape
        if t is not None:
            return t.grad(self._i)
        g = self._g
        return 0.0 if g is NO_GRAD else g

    @grad.setter
    def grad(self, value: Any) -> None:
        # None is PyTorch's "no gradient yet": it reads as 0.0, and the next backward
        # pass starts the sum with its first contribution (a -0.0 stays -0.0)
        t = self._tape
        if t is None:
            self._g = NO_GRAD if value is None else value
        else:
            t.set_grad(self._i, value)

    @property
    def label(self) -> str:
        """A name for displays ('' by default)."""
        t = self._tape
        if t is None:
            return self._label
        return "" if t.labels is None else t.labels.get(self._i, "")

    @label.setter
    def label(self, value: str | None) -> None:
        if value is None:  # DeZero's ``self.name = name`` with name=None: no name
            value = ""
        if not isinstance(value, str):
            raise TypeError(f"label must be a str or None, got {type(value).__name__}")
        t = self._tape
        if t is None:
            self._label = value
        elif t.labels is None:
            t.labels = {self._i: value}
        else:
            t.labels[self._i] = value

    # DeZero's (and Chainer's) word for the same thing: ``z.name = "z"`` labels the
    # node itself, so a graph walk that reaches ``z`` by another handle sees it too.
    @property
    def name(self) -> str:
        """The same as ``label`` (DeZero's name)."""
        return self.label

    @name.setter
    def name(self, value: str | None) -> None:
        self.label = value

    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs of the op that made this Value, in order (duplicates kept)."""
        t = self._tape
        if t is None:
            return ()
        return tuple(t.view(r) if type(r) is int else canonical_handle(r) for r in self._inputs())

    _parents = parents  # the name drawing used; ``parents`` is the public one

    def _inputs(self) -> tuple:
        t = self._tape
        return () if t is None else inputs_of(t, self._i)

    @property
    def _local_grads(self) -> tuple[float, ...] | None:
        """The local derivatives, or None when the node was built without them."""
        t = self._tape
        return () if t is None else local_grads_of(t, self._i)

    @property
    def local_grads(self) -> tuple[float, ...]:
        """d(self)/d(parent) for each parent, computed during the forward pass (nan for
        a node built with ``Value(data, children)`` and no ``local_grads``)."""
        found = self._local_grads
        return tuple(float("nan") for _ in self.parents) if found is None else found

    def _item(self, k: int):
        t = self._tape
        return None if t is None else t.entries[self._i * _W + k]

    @property
    def constant(self) -> tuple[int, float] | None:
        """``(position, number)`` when a plain number was an operand (position 0: it
        was the left operand, as in ``2.0 * x``), else None."""
        c = self._item(CONSTANT)
        return c if c is None or type(c) is tuple else (1, c)

    @property
    def op(self) -> str:
        """The name of the op that made this Value ('' for a leaf)."""
        row = self._item(ROW)
        return "" if row is None else row if isinstance(row, str) else row.name

    @property
    def op_row(self) -> Op | None:
        """The row of :data:`tapegrad.engine.ops.OPS` that made this Value, if any."""
        row = self._item(ROW)
        return row if isinstance(row, Op) else None

    @property
    def is_leaf(self) -> bool:
        """True for inputs and parameters: Values with no parents."""
        return self._tape is None

    @property
    def scope(self) -> Scope | None:
        """The :class:`Scope` this Value was created in, or None."""
        return self._sc if self._tape is None else self._item(SCOPE)

    # micrograd compatibility: read-only views with micrograd's names.
    @property
    def _prev(self) -> tuple[Value, ...]:
        """micrograd's ``_prev``: the distinct children, in order."""
        return tuple(dict.fromkeys(self.parents))

    @property
    def _op(self) -> str:
        """micrograd's ``_op``: the op's display string ('+', '*', '**2', 'ReLU')."""
        row = self._item(ROW)
        if row is None or isinstance(row, str):
            return row or ""
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
            return f"Value(data={self._data!r}, grad={self.grad!r}, label={label!r})"
        return f"Value(data={self._data!r}, grad={self.grad!r})"

    # -- backprop ----------------------------------------------------------------
    def backward(
        self, grad: float = 1.0, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Backpropagate from this Value, seeded with ``d self / d self = grad``.

        Gradients of intermediate nodes are recomputed on each call and show the
        latest pass; gradients of leaves accumulate across calls, as in PyTorch
        (clear them with ``zero_grad``). Works from any node, not only a loss.

        ``create_graph=True`` is PyTorch's (and DeZero's): the pass records its own
        graph, with the same local derivatives as Values (see
        :func:`tapegrad.engine.grad`), and each ``.grad`` it writes holds a Value --
        a new node whose graph can be differentiated again (``gx = x.grad;
        x.cleargrad(); gx.backward()``), to any order. A leaf's gradient accumulates
        as ``old + new``. Plain ``backward()`` keeps floats. ``retain_graph`` is
        accepted for PyTorch code and ignored: a pass never frees the tape. Raises
        ``TypeError`` for a seed that is not a real number or a flag that is not a bool.
        """
        seed = seed_gradient(grad)
        if not isinstance(create_graph, bool):
            raise TypeError(
                f"backward: create_graph must be True or False, got {type(create_graph).__name__}"
            )
        if self._tape is not None:
            retire_tape(self._tape)
        if create_graph:
            _graph_backward(self, seed)
        else:
            backprop.run(backprop.Pass(), ((self, seed),))

    def backward_steps(self, grad: float = 1.0) -> Iterator:
        """Yield every chain-rule step (a :class:`~tapegrad.engine.steps.BackwardStep`)
        in the order :meth:`backward` applies it, writing each parent's ``.grad``
        as its step is yielded: exhausting the generator leaves exactly the
        gradients ``backward()`` leaves (leaves start from their ``.grad``). To
        look without writing, use :func:`~tapegrad.engine.backprop_steps`.
        """
        from .steps import backward_steps  # the view sits beside the core

        return backward_steps(self, grad)

    def zero_grad(self) -> None:
        """Set this Value's gradient to 0 (to "no gradient yet", as PyTorch does)."""
        self.grad = None

    def cleargrad(self) -> None:
        """DeZero's name for :meth:`zero_grad` (``x.cleargrad()`` before differentiating
        ``x.grad`` again): no gradient, which ``.grad`` reads as 0.0."""
        self.grad = None

    # -- the ops: one method per row of the op table (engine/ops.py) -----------------
    # Generated by ``python -m tapegrad.engine.codegen`` from the table; do not edit by
    # hand (tests/engine/test_codegen.py checks them). Each records its entry inline,
    # without a helper call (measured: a call costs 12-32%), when recording is plain
    # and its inputs are leaves, constants or on the open tape; ``make_result`` is the
    # general path. The source is one template per arity, in engine/formulas.py.
    # BEGIN GENERATED OP METHODS
    def __add__(self, other: Value | float) -> Value:
        """x + y;  d/dx = 1,  d/dy = 1"""
        # Each input is written as its index on the open tape, or as itself (a
        # leaf); a number is a constant. ``t`` becomes the tape the entry goes on.
        t = self._tape
        first: Value | int = self if t is None else self._i
        second: Value | int | None
        if isinstance(other, Value):
            out, d_self, d_other = _fn_add(self._data, other._data)
            constant = None
            u = other._tape
            if u is None:
                second = other
            elif t is None or t is u:
                second = other._i
                t = u
            else:  # two tapes: at most one is open, so the general path
                return make_result(_row_add, out, (self, other), (d_self, d_other), None)
        else:
            constant = other if type(other) is float else to_float(other)
            out, d_self, _ = _fn_add(self._data, constant)
            second = d_other = None
        if _plain and (t is None or t.open):
            if t is None:  # leaves and constants only: the current tape
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_add, first, second, d_self, d_other, constant, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        if constant is not None:
            return make_result(_row_add, out, (self,), (d_self,), constant)
        return make_result(_row_add, out, (self, other), (d_self, d_other), None)

    def __radd__(self, other: float) -> Value:
        """x + y;  d/dx = 1,  d/dy = 1

        The reflected form: the number on the left (``2.0 * x``).
        """
        c = to_float(other)
        out, _, d_self = _fn_add(c, self._data)
        return make_result(_row_add, out, (self,), (d_self,), (0, c))

    add = __add__

    def __sub__(self, other: Value | float) -> Value:
        """x - y;  d/dx = 1,  d/dy = -1"""
        # Each input is written as its index on the open tape, or as itself (a
        # leaf); a number is a constant. ``t`` becomes the tape the entry goes on.
        t = self._tape
        first: Value | int = self if t is None else self._i
        second: Value | int | None
        if isinstance(other, Value):
            out, d_self, d_other = _fn_sub(self._data, other._data)
            constant = None
            u = other._tape
            if u is None:
                second = other
            elif t is None or t is u:
                second = other._i
                t = u
            else:  # two tapes: at most one is open, so the general path
                return make_result(_row_sub, out, (self, other), (d_self, d_other), None)
        else:
            constant = other if type(other) is float else to_float(other)
            out, d_self, _ = _fn_sub(self._data, constant)
            second = d_other = None
        if _plain and (t is None or t.open):
            if t is None:  # leaves and constants only: the current tape
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_sub, first, second, d_self, d_other, constant, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        if constant is not None:
            return make_result(_row_sub, out, (self,), (d_self,), constant)
        return make_result(_row_sub, out, (self, other), (d_self, d_other), None)

    def __rsub__(self, other: float) -> Value:
        """x - y;  d/dx = 1,  d/dy = -1

        The reflected form: the number on the left (``2.0 * x``).
        """
        c = to_float(other)
        out, _, d_self = _fn_sub(c, self._data)
        return make_result(_row_sub, out, (self,), (d_self,), (0, c))

    sub = __sub__

    def __mul__(self, other: Value | float) -> Value:
        """x · y;  d/dx = y,  d/dy = x"""
        # Each input is written as its index on the open tape, or as itself (a
        # leaf); a number is a constant. ``t`` becomes the tape the entry goes on.
        t = self._tape
        first: Value | int = self if t is None else self._i
        second: Value | int | None
        if isinstance(other, Value):
            out, d_self, d_other = _fn_mul(self._data, other._data)
            constant = None
            u = other._tape
            if u is None:
                second = other
            elif t is None or t is u:
                second = other._i
                t = u
            else:  # two tapes: at most one is open, so the general path
                return make_result(_row_mul, out, (self, other), (d_self, d_other), None)
        else:
            constant = other if type(other) is float else to_float(other)
            out, d_self, _ = _fn_mul(self._data, constant)
            second = d_other = None
        if _plain and (t is None or t.open):
            if t is None:  # leaves and constants only: the current tape
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_mul, first, second, d_self, d_other, constant, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        if constant is not None:
            return make_result(_row_mul, out, (self,), (d_self,), constant)
        return make_result(_row_mul, out, (self, other), (d_self, d_other), None)

    def __rmul__(self, other: float) -> Value:
        """x · y;  d/dx = y,  d/dy = x

        The reflected form: the number on the left (``2.0 * x``).
        """
        c = to_float(other)
        out, _, d_self = _fn_mul(c, self._data)
        return make_result(_row_mul, out, (self,), (d_self,), (0, c))

    mul = __mul__

    def __truediv__(self, other: Value | float) -> Value:
        """x / y;  d/dx = 1/y,  d/dy = -(x/y)/y"""
        # Each input is written as its index on the open tape, or as itself (a
        # leaf); a number is a constant. ``t`` becomes the tape the entry goes on.
        t = self._tape
        first: Value | int = self if t is None else self._i
        second: Value | int | None
        if isinstance(other, Value):
            out, d_self, d_other = _fn_div(self._data, other._data)
            constant = None
            u = other._tape
            if u is None:
                second = other
            elif t is None or t is u:
                second = other._i
                t = u
            else:  # two tapes: at most one is open, so the general path
                return make_result(_row_div, out, (self, other), (d_self, d_other), None)
        else:
            constant = other if type(other) is float else to_float(other)
            out, d_self, _ = _fn_div(self._data, constant)
            second = d_other = None
        if _plain and (t is None or t.open):
            if t is None:  # leaves and constants only: the current tape
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_div, first, second, d_self, d_other, constant, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        if constant is not None:
            return make_result(_row_div, out, (self,), (d_self,), constant)
        return make_result(_row_div, out, (self, other), (d_self, d_other), None)

    def __rtruediv__(self, other: float) -> Value:
        """x / y;  d/dx = 1/y,  d/dy = -(x/y)/y

        The reflected form: the number on the left (``2.0 * x``).
        """
        c = to_float(other)
        out, _, d_self = _fn_div(c, self._data)
        return make_result(_row_div, out, (self,), (d_self,), (0, c))

    div = __truediv__

    def __pow__(self, other: Value | float) -> Value:
        """x ** y;  d/dx = y x^(y-1) (0 if y = 0),  d/dy = x^y ln x (0 if x = 0, y >= 0)"""
        # Each input is written as its index on the open tape, or as itself (a
        # leaf); a number is a constant. ``t`` becomes the tape the entry goes on.
        t = self._tape
        first: Value | int = self if t is None else self._i
        second: Value | int | None
        if isinstance(other, Value):
            out, d_self, d_other = _fn_pow(self._data, other._data)
            constant = None
            u = other._tape
            if u is None:
                second = other
            elif t is None or t is u:
                second = other._i
                t = u
            else:  # two tapes: at most one is open, so the general path
                return make_result(_row_pow, out, (self, other), (d_self, d_other), None)
        else:
            constant = other if type(other) is float else to_float(other)
            out, d_self, _ = _fn_pow(self._data, constant)
            second = d_other = None
        if _plain and (t is None or t.open):
            if t is None:  # leaves and constants only: the current tape
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_pow, first, second, d_self, d_other, constant, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        if constant is not None:
            return make_result(_row_pow, out, (self,), (d_self,), constant)
        return make_result(_row_pow, out, (self, other), (d_self, d_other), None)

    def __rpow__(self, other: float) -> Value:
        """x ** y;  d/dx = y x^(y-1) (0 if y = 0),  d/dy = x^y ln x (0 if x = 0, y >= 0)

        The reflected form: the number on the left (``2.0 * x``).
        """
        c = to_float(other)
        out, _, d_self = _fn_pow(c, self._data)
        return make_result(_row_pow, out, (self,), (d_self,), (0, c))

    pow = __pow__

    def __neg__(self) -> Value:
        """-x;  d/dx = -1"""
        out, local = _fn_neg(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_neg, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_neg, out, (self,), (local,), None)

    neg = __neg__

    def exp(self) -> Value:
        """e^x;  d/dx = e^x"""
        out, local = _fn_exp(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_exp, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_exp, out, (self,), (local,), None)

    def log(self) -> Value:
        """ln x;  d/dx = 1/x"""
        out, local = _fn_log(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_log, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_log, out, (self,), (local,), None)

    def log1p(self) -> Value:
        """ln(1 + x);  d/dx = 1/(1 + x)"""
        out, local = _fn_log1p(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_log1p, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_log1p, out, (self,), (local,), None)

    def expm1(self) -> Value:
        """e^x - 1;  d/dx = e^x = expm1(x) + 1"""
        out, local = _fn_expm1(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_expm1, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_expm1, out, (self,), (local,), None)

    def tanh(self) -> Value:
        """tanh x;  d/dx = 1 - tanh² x"""
        out, local = _fn_tanh(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_tanh, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_tanh, out, (self,), (local,), None)

    def sigmoid(self) -> Value:
        """σ(x) = 1/(1 + e^-x);  d/dx = σ(x)(1 - σ(x))"""
        out, local = _fn_sigmoid(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_sigmoid, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_sigmoid, out, (self,), (local,), None)

    def relu(self) -> Value:
        """max(0, x);  d/dx = 1 if x > 0 else 0"""
        out, local = _fn_relu(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_relu, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_relu, out, (self,), (local,), None)

    def sign(self) -> Value:
        """sign x ∈ {-1, 0, 1};  d/dx = 0"""
        out, local = _fn_sign(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_sign, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_sign, out, (self,), (local,), None)

    def __abs__(self) -> Value:
        """|x|;  d/dx = sign x (0 at 0)"""
        out, local = _fn_abs(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_abs, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_abs, out, (self,), (local,), None)

    abs = __abs__

    def sqrt(self) -> Value:
        """√x;  d/dx = 1/(2√x)"""
        out, local = _fn_sqrt(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_sqrt, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_sqrt, out, (self,), (local,), None)

    def sin(self) -> Value:
        """sin x;  d/dx = cos x"""
        out, local = _fn_sin(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_sin, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_sin, out, (self,), (local,), None)

    def cos(self) -> Value:
        """cos x;  d/dx = -sin x"""
        out, local = _fn_cos(self._data)
        t = self._tape
        if _plain and (t is None or t.open):
            first: Value | int
            if t is None:  # a leaf: record on the current tape
                first = self
                t = _current()
                if t is None or len(t.entries) >= _TAPE_CAP:
                    t = _fresh_tape()
            else:  # a result on the open tape: its index
                first = self._i
            e = t.entries
            node = _new(Value)
            node._data = out
            node._tape = t
            e += (out, _row_cos, first, None, local, None, None, _scope)
            node._i = len(e) // _W - 1  # after the append: see record
            return node
        return make_result(_row_cos, out, (self,), (local,), None)

    # END GENERATED OP METHODS


# The rows and their float functions, read by the methods above.
# BEGIN GENERATED OP ROWS
_row_add = OPS["add"]
_fn_add = _row_add.fn
_row_sub = OPS["sub"]
_fn_sub = _row_sub.fn
_row_mul = OPS["mul"]
_fn_mul = _row_mul.fn
_row_div = OPS["div"]
_fn_div = _row_div.fn
_row_pow = OPS["pow"]
_fn_pow = _row_pow.fn
_row_neg = OPS["neg"]
_fn_neg = _row_neg.fn
_row_exp = OPS["exp"]
_fn_exp = _row_exp.fn
_row_log = OPS["log"]
_fn_log = _row_log.fn
_row_log1p = OPS["log1p"]
_fn_log1p = _row_log1p.fn
_row_expm1 = OPS["expm1"]
_fn_expm1 = _row_expm1.fn
_row_tanh = OPS["tanh"]
_fn_tanh = _row_tanh.fn
_row_sigmoid = OPS["sigmoid"]
_fn_sigmoid = _row_sigmoid.fn
_row_relu = OPS["relu"]
_fn_relu = _row_relu.fn
_row_sign = OPS["sign"]
_fn_sign = _row_sign.fn
_row_abs = OPS["abs"]
_fn_abs = _row_abs.fn
_row_sqrt = OPS["sqrt"]
_fn_sqrt = _row_sqrt.fn
_row_sin = OPS["sin"]
_fn_sin = _row_sin.fn
_row_cos = OPS["cos"]
_fn_cos = _row_cos.fn
# END GENERATED OP ROWS

WengertList.handle = Value

_NO_CLOSURES = (
    "tapegrad records local derivatives, not _backward closures: define an op as "
    "Value(data, (x, y), 'name', local_grads=(d data/d x, d data/d y)) and backprop "
    "applies the chain rule itself"
)


def seed_gradient(grad: object) -> float:
    """``grad`` as the seed of a backward pass (a real number, not a Value or bool)."""
    if isinstance(grad, (Value, bool)) or not isinstance(grad, numbers.Real):
        raise TypeError(
            f"backward(grad=...) expects a real number, d(self)/d(self), got "
            f"{type(grad).__name__}: {grad!r}"
        )
    return to_float(grad)


def _fmt(c: float) -> str:
    return str(int(c)) if c == int(c) and abs(c) < 1e15 else repr(c)


def canonical_handle(v: Value) -> Value:
    """A leaf as it is; a result recorded on another tape as that tape's view."""
    t = v._tape
    return v if t is None else t.view(v._i)


def zero_grad(values: Iterable[Value]) -> None:
    """Set the gradient of every Value in ``values`` to 0."""
    if isinstance(values, Value):
        raise TypeError("zero_grad expects a collection of Values; for one Value use v.zero_grad()")
    values = list(values)
    for v in values:
        if not isinstance(v, Value):
            raise TypeError(f"zero_grad expects Values, got {type(v).__name__}: {v!r}")
    for v in values:
        if v._tape is None:
            v._g = NO_GRAD  # what the .grad setter does for a leaf, without its call
        else:
            v.grad = None


# -- recording ops ----------------------------------------------------------------
# The op methods (in the class) record their entry inline in the common case;
# ``_record`` is the general path: any number of inputs on any tapes, no_grad,
# detect_anomaly.


def _record(node: Value, row: object, inputs: tuple, local_grads: tuple | None, constant) -> None:
    """Append ``node``'s entry to the current tape and make ``node`` its handle.

    The current tape is newer than every input's (a fresh one if need be), so a
    tape only refers to older ones; inputs from other tapes are kept as Values.
    """
    newest = max((v._tape.serial for v in inputs if v._tape is not None), default=0)
    t = _current()
    if t is None or len(t.entries) >= _TAPE_CAP or t.serial < newest:
        t = _fresh_tape()
    refs = [v._i if v._tape is t else v for v in inputs]
    if local_grads is None:  # user code gave none: backward says so if it needs them
        local_grads = (None,) * len(refs)
    second = d_second = None
    if len(refs) >= 2:
        second, d_second = refs[1], local_grads[1]
    e = t.entries
    node._tape = t
    e += (node.data, row, refs[0], second, local_grads[0], d_second, constant, _scope)
    # The index is read after the append, with no call in between: another thread
    # can only run at a call's end, so it cannot append between the two.
    node._i = i = len(e) // _W - 1
    if len(refs) > 2:  # the inputs past the second: the tape keeps them by entry
        if t.extra_inputs is None:
            t.extra_inputs = {}
        t.extra_inputs[i] = tuple(zip(refs[2:], local_grads[2:]))


def make_result(row: Op, data: float, inputs: tuple, local_grads: tuple, constant) -> Value:
    """A result of ``row`` made the general way (see ``_record``): any inputs, on any
    tapes, under ``detect_anomaly``; a leaf under ``no_grad``. ``constant`` as on the tape."""
    node = _new(Value)
    node._data = data
    if not _grad_enabled:
        node._g, node._tape, node._label, node._sc = NO_GRAD, None, "", _scope
        return node
    _record(node, row, inputs, local_grads, constant)
    if _anomaly:
        modes.check_anomaly(node, inputs, local_grads)
    return node


def _give_value_methods(row: Op) -> None:
    """Give ``Value`` the methods of a row added by ``register_op`` (the built-in
    rows' methods are in the class, generated from the table): the same source as
    theirs (:func:`tapegrad.engine.formulas.method_source`), run in this module."""
    namespace = globals()
    if namespace.get(f"_row_{row.name}") is row and row.name in vars(Value):
        return  # a built-in row: its methods are in the class body
    namespace[f"_row_{row.name}"] = row
    namespace[f"_fn_{row.name}"] = row.fn
    methods: dict[str, object] = {}
    source = formulas.method_source(row.name, row.arity, row.doc, row.operators)
    exec(compile(source, f"<methods of op {row.name}>", "exec"), namespace, methods)
    for name, method in methods.items():
        setattr(Value, name, method)


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
        return Value(row.fn(to_float(x))[0])
    x, y = inputs
    if isinstance(x, Value):
        return getattr(x, row.name)(y)
    if isinstance(y, Value):
        if row.operators:
            return getattr(y, row.operators[1])(x)
        c = to_float(x)
        out, _, d_y = row.fn(c, y._data)
        return make_result(row, out, (y,), (d_y,), (0, c))
    return Value(row.fn(to_float(x), to_float(y))[0])


def apply_op(name: str, *inputs: Value | float) -> Value | float:
    """Apply the row ``name`` of the op table: recorded when an input is a Value,
    else the row's float result (a number, not a Value: a constant has no graph).
    The compiled ``value_grads`` of every row compute with it, and the expression
    parser builds with it, so ``1/0`` is the division row's IEEE ``inf``."""
    row = OPS[name]
    if any(isinstance(a, Value) for a in inputs):
        return apply(row, *inputs)
    return row.fn(*(float(a) for a in inputs))[0]


formulas.set_value_op(apply_op)
