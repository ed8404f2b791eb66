"""``Value``: a scalar that records, on a dynamic tape, how it was computed.

Each op creates a new ``Value`` whose node stores, as plain numbers computed during
the forward pass,

* its parents, an ordered tuple (``x * x`` has ``x`` twice), and
* the local derivative of the result with respect to each parent.

``backward()`` then walks the graph in reverse topological order and applies the
chain rule one edge -- one *perturbation* -- at a time::

    parent.grad += local_derivative * node.grad        # dc/ds += dc/dz · dz/ds

There are no closures and no reference cycles: a graph is freed by reference
counting the moment it is dropped. A node is one object of about 150 bytes, so
the cyclic garbage collector has little to walk while a graph is built
(``benchmarks/bench.py`` measures time and memory per node against micrograd).

Numbers used as operands (``x * 2.0``) are constants: they are not nodes of the
graph; the node keeps them in ``node.constant`` so that it can be displayed and
replayed, as PyTorch does with Python scalars.
"""

from __future__ import annotations

import decimal
import math
import numbers
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .ops import OPS, Op, safe_pow

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

    def __enter__(self) -> Scope:
        global _scope
        self._previous = _scope
        _scope = Scope(self.name, _scope)
        return _scope

    def __exit__(self, *exc_info: object) -> None:
        global _scope
        _scope = self._previous


def current_scope() -> Scope | None:
    """The innermost active scope, or None."""
    return _scope


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


class Value:
    """A scalar node of the computation graph.

    ``Value(data, _children=(), _op='', label='')`` is micrograd's constructor. Code
    that defines its own op this way passes ``local_grads`` -- the derivative of
    ``data`` with respect to each child -- so backprop can use it.

    The constructor and every op make ``data`` a Python float. Assigning to ``data``,
    ``grad`` or ``label`` afterwards (``p.data -= lr * p.grad``) is a plain slot write,
    unchecked because the update loop runs it for every parameter at every step:
    assign floats.
    """

    # How a node is stored. Almost every node is made by a unary or binary op, so
    # its (at most two) parents and their local derivatives live in four slots:
    # ``_p0``/``_p1`` are the first and second parent (None when absent) and
    # ``_l0``/``_l1`` are d(self)/d(_p0) and d(self)/d(_p1). A node is then ONE
    # object -- no tuples -- which halves what the cyclic garbage collector walks
    # while a graph is built and keeps a node near 150 bytes. ``_l1`` is left unset
    # when there is no second parent. Nodes built with ``Value(data, children,
    # local_grads=...)`` from more than two children keep tuples instead:
    # ``_p0`` = parents, ``_l0`` = local derivatives, ``_p1`` = ``_MANY``. Missing
    # local derivatives are stored as None. ``parents`` and ``local_grads`` read
    # every form back as tuples.
    # ``_constant`` is a right-hand number operand as a float (``x * 2.0``), or
    # ``(0, c)`` for a left-hand one (``2.0 * x``), or None; see ``constant``.
    __slots__ = (
        "data",
        "grad",
        "_p0",
        "_p1",
        "_l0",
        "_l1",
        "_oprow",
        "_constant",
        "label",
        "_scope",
    )

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
        if not _grad_enabled:
            parents = ()
        self.data = data
        self.grad = 0.0
        self._oprow = _op or None
        self._constant = None
        self.label = label
        self._scope = _scope
        _store_edges(self, parents, local_grads)

    # -- what the node records ---------------------------------------------------
    @property
    def _parents(self) -> tuple[Value, ...]:
        return self.parents

    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs of the op that made this Value, in order (duplicates kept)."""
        first, second = self._p0, self._p1
        if first is None:
            return ()
        if second is None:
            return (first,)
        if second is _MANY:
            return first
        return (first, second)

    @property
    def _local_grads(self) -> tuple[float, ...] | None:
        """The local derivatives, or None when the node was built without them."""
        first, second = self._p0, self._p1
        if first is None:
            return ()
        if self._l0 is None:
            return None
        if second is None:
            return (self._l0,)
        if second is _MANY:
            return self._l0
        return (self._l0, self._l1)

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
        c = self._constant
        if c is None or type(c) is tuple:
            return c
        return (1, c)

    @property
    def op(self) -> str:
        """The name of the op that made this Value ('' for a leaf)."""
        row = self._oprow
        if row is None:
            return ""
        return row if isinstance(row, str) else row.name

    @property
    def op_row(self) -> Op | None:
        """The row of :data:`engine.ops.OPS` that made this Value, if any."""
        row = self._oprow
        return row if isinstance(row, Op) else None

    @property
    def is_leaf(self) -> bool:
        """True for inputs and parameters: Values with no parents."""
        return self._p0 is None

    @property
    def scope(self) -> Scope | None:
        """The :class:`Scope` this Value was created in, or None."""
        return self._scope

    # micrograd compatibility: read-only views with micrograd's names.
    @property
    def _prev(self) -> tuple[Value, ...]:
        """micrograd's ``_prev``: the distinct children, in order."""
        return tuple(dict.fromkeys(self.parents))

    @property
    def _op(self) -> str:
        """micrograd's ``_op``: the op's display string ('+', '*', 'tanh', '**2')."""
        row = self._oprow
        if row is None:
            return ""
        if isinstance(row, str):
            return row
        constant = self.constant
        if row.name == "pow" and constant is not None and self._p1 is None:
            c = constant[1]
            return f"**{_fmt(c)}" if constant[0] == 1 else f"{_fmt(c)}**"
        return row.label

    def __repr__(self) -> str:
        if self.label:
            return f"Value(data={self.data!r}, grad={self.grad!r}, label={self.label!r})"
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # -- backprop ----------------------------------------------------------------
    def backward(self, grad: float = 1.0) -> None:
        """Backpropagate from this Value, seeded with ``d self / d self = grad``.

        Gradients of intermediate nodes are recomputed on each call and show the
        latest pass; gradients of leaves accumulate across calls, as in PyTorch
        (clear them with ``zero_grad``). Works from any node, not only a loss.
        """
        seed = _to_float(grad)
        order = topological_order(self)
        # Reset the intermediates reached from here so that a second backward()
        # never over-counts; leaves keep accumulating.
        for node in order:
            if node._p0 is not None:
                node.grad = 0.0
        self.grad += seed
        # The chain rule, one edge at a time, from the root down: every node's
        # gradient is complete before it is passed on, since all of its consumers
        # come after it in ``order``. A node's edges sit in its two parent slots
        # (see ``Value.__slots__``); nodes with more parents take the general path.
        try:
            for node in reversed(order):
                parent = node._p0
                if parent is None:
                    continue  # a leaf: nothing to pass on
                g = node.grad
                second = node._p1
                if second is _MANY:
                    _backward_many(node, g)
                    continue
                parent.grad += node._l0 * g  # dc/ds += dz/ds · dc/dz
                if second is not None:
                    second.grad += node._l1 * g
        except TypeError:
            if node._p0 is None or node._l0 is not None:
                raise
        else:
            return
        _missing_local_grads(node)  # None * g: built by Value(...) without local_grads

    def backward_steps(self, grad: float = 1.0) -> Iterator[BackwardStep]:
        """Yield every chain-rule step in the order :meth:`backward` applies it.

        Each :class:`BackwardStep` carries the node, the parent, the upstream
        gradient ``dc/dz``, the local derivative ``dz/ds``, their product and the
        parent's running gradient after the step, and explains itself in the
        lecture's words. Exhausting the generator leaves exactly the gradients
        ``backward()`` leaves.
        """
        seed = _to_float(grad)
        order = topological_order(self)
        names = _display_names(order)
        for node in order:
            if node._p0 is not None:
                node.grad = 0.0
        self.grad += seed
        root_name = names[self]
        index = 0
        for node in reversed(order):
            parents = node.parents
            if not parents:
                continue
            local_grads = node._local_grads
            if local_grads is None:
                _missing_local_grads(node)
            for position, (parent, local) in enumerate(zip(parents, local_grads)):
                upstream = node.grad
                contribution = local * upstream
                parent.grad += contribution
                yield BackwardStep(
                    index,
                    node,
                    parent,
                    position,
                    upstream,
                    local,
                    contribution,
                    parent.grad,
                    root_name,
                    names[node],
                    names[parent],
                )
                index += 1

    def zero_grad(self) -> None:
        """Set this Value's gradient to 0."""
        self.grad = 0.0

    # -- operators (generated from the op table below) ----------------------------
    def __abs__(self) -> Value:
        """``abs(v)`` is the table's ``abs`` op."""
        return self.abs()

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: object) -> Value:
        if isinstance(other, Value):
            return self + (-other)
        return self + (-_to_float(other))

    def __rsub__(self, other: object) -> Value:
        return (-self) + other

    def __truediv__(self, other: object) -> Value:
        if isinstance(other, Value):
            return self * other**-1.0
        return self * safe_pow(_to_float(other), -1.0)

    def __rtruediv__(self, other: object) -> Value:
        return self**-1.0 * other


def _fmt(c: float) -> str:
    return str(int(c)) if c == int(c) and abs(c) < 1e15 else repr(c)


def _missing_local_grads(node: Value) -> None:
    raise RuntimeError(
        f"{node!r} was built with Value(data, _children, _op={node.op!r}) but no "
        "local_grads, so backprop cannot pass through it; pass local_grads=(d/d child, ...) "
        "or build it from tapegrad's ops"
    )


# -- building nodes -------------------------------------------------------------

_MANY = object()  # marks a node whose parents are kept as tuples (more than two)


def _store_edges(node: Value, parents: tuple, local_grads: tuple | None) -> None:
    """Store parents and local derivatives in the node's slots (any number of them)."""
    n = len(parents)
    if n > 2:
        node._p0, node._p1, node._l0 = parents, _MANY, local_grads
        return
    node._p0 = parents[0] if n else None
    node._p1 = parents[1] if n == 2 else None
    if n:
        node._l0 = None if local_grads is None else local_grads[0]
    if n == 2:
        node._l1 = None if local_grads is None else local_grads[1]


def _backward_many(node: Value, g: float) -> None:
    """The chain rule for a node with more than two parents."""
    local_grads = node._l0
    if local_grads is None:
        _missing_local_grads(node)
    for parent, local in zip(node._p0, local_grads):
        parent.grad += local * g


def _make(data: float, first: Value, second, d_first: float, d_second, row: Op, constant):
    """Create a recorded node, applying ``no_grad`` and ``detect_anomaly``.

    The op methods below create their nodes inline when recording normally, which
    saves a function call per node; this is the same construction for every other
    case (and for the rarer reflected operators such as ``2.0 * x``).
    """
    node = _new(Value)
    node.data = data
    node.grad = 0.0
    node._oprow = row
    node._constant = constant
    node.label = ""
    node._scope = _scope
    if not _grad_enabled:
        node._p0 = node._p1 = None
        return node
    node._p0 = first
    node._p1 = second
    node._l0 = d_first
    if second is not None:
        node._l1 = d_second
    if _anomaly:
        _check_anomaly(node, node.parents, node.local_grads)
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


# The op methods are generated from the table. Each creates its node inline (no
# helper call) when recording normally, and hands over to ``_make`` otherwise.


def _unary_method(row: Op):
    fn = row.fn

    def method(self: Value) -> Value:
        out, local = fn(self.data)
        if not _plain:
            return _make(out, self, None, local, None, row, None)
        node = _new(Value)
        node.data = out
        node.grad = 0.0
        node._p0 = self
        node._p1 = None
        node._l0 = local
        node._oprow = row
        node._constant = None
        node.label = ""
        node._scope = _scope
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
                return _make(out, self, other, d_self, d_other, row, None)
            node = _new(Value)
            node.data = out
            node.grad = 0.0
            node._p0 = self
            node._p1 = other
            node._l0 = d_self
            node._l1 = d_other
            node._oprow = row
            node._constant = None
            node.label = ""
            node._scope = _scope
            return node
        # A number on the right is a constant, kept as a bare float.
        c = other if type(other) is float else _to_float(other)
        out, d_self, _ = fn(self.data, c)
        if not _plain:
            return _make(out, self, None, d_self, None, row, c)
        node = _new(Value)
        node.data = out
        node.grad = 0.0
        node._p0 = self
        node._p1 = None
        node._l0 = d_self
        node._oprow = row
        node._constant = c
        node.label = ""
        node._scope = _scope
        return node

    def reflected(self: Value, other: object) -> Value:
        c = _to_float(other)
        out, _, d_self = fn(c, self.data)
        return _make(out, self, None, d_self, None, row, (0, c))

    forward.__doc__ = row.doc
    reflected.__doc__ = f"{row.doc} (number on the left)"
    return forward, reflected


_DUNDER = {
    "add": ("__add__", "__radd__"),
    "mul": ("__mul__", "__rmul__"),
    "pow": ("__pow__", "__rpow__"),
}

for _row in OPS.values():
    if _row.arity == 1:
        setattr(Value, _row.name, _unary_method(_row))
    else:
        _fwd, _refl = _binary_methods(_row)
        _fwd.__name__, _refl.__name__ = _DUNDER[_row.name]
        setattr(Value, _DUNDER[_row.name][0], _fwd)
        setattr(Value, _DUNDER[_row.name][1], _refl)
del _row


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
        return getattr(Value, _DUNDER[row.name][0])(x, y)
    if isinstance(y, Value):
        return getattr(Value, _DUNDER[row.name][1])(y, x)
    return Value(row.fn(_to_float(x), _to_float(y))[0])


# -- graph walks ----------------------------------------------------------------


def topological_order(root: Value) -> list[Value]:
    """Every Value ``root`` depends on, each after all of its parents.

    Iterative depth-first search (no recursion limit), visiting parents in their
    recorded order, so the same graph always gives the same order -- the order in
    which Python evaluated the expression.
    """
    if not isinstance(root, Value):
        raise TypeError(f"expected a Value, got {type(root).__name__}")
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list = [root]
    emit = order.append
    push = stack.append
    pop = stack.pop
    add = visited.add
    # A node is expanded when first popped: it goes back on the stack under a None
    # marker, then its unvisited parents go on top, first parent last so that it
    # is explored first. Popping the marker means the node's parents are all in
    # ``order``, so the node below the marker is emitted.
    while stack:
        node = pop()
        if node is None:
            emit(pop())
            continue
        if node in visited:
            continue
        add(node)
        first = node._p0
        if first is None:
            emit(node)  # a leaf
            continue
        push(node)
        push(None)
        second = node._p1
        if second is _MANY:
            for parent in reversed(first):
                if parent not in visited:
                    push(parent)
            continue
        if second is not None and second not in visited:
            push(second)
        if first not in visited:
            push(first)
    return order


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
