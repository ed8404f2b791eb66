"""Backprop one step at a time: every application of the chain rule, as an object.

:func:`backprop_steps` runs the backward pass of :mod:`tapegrad.engine.backprop`
in its own storage and hands back one :class:`BackwardStep` per edge, in the
order ``backward()`` applies them, writing no ``.grad``: drawing, the CLI and the
notebooks read it. ``Value.backward_steps()`` is the same pass, writing each
parent's ``.grad`` as its step is yielded, so that exhausting it leaves exactly
what ``backward()`` leaves.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import backprop
from .graph import topological_order
from .value import Value, canonical_handle, retire_tape, seed_gradient

__all__ = ["BackwardStep", "backprop_steps"]


class BackwardStep:
    """One application of the chain rule along one edge ``parent -> node``.

    ``contribution = local * upstream`` is added to the parent's gradient, which is
    ``parent_grad`` after the step. ``position`` is which input of ``node`` the
    parent is (``x * x`` has two steps into ``x``, at positions 0 and 1).
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
        # x + 0.0: a signed zero (0 · -1) reads 0, never -0
        up, local, out, now = (
            x + 0.0 for x in (self.upstream, self.local, self.contribution, self.parent_grad)
        )
        return (
            f"d{c}/d{s} += d{c}/d{z} · {self.local_name} = {up:.6g} · "
            f"{local:.6g} = {out:.6g}  (d{c}/d{s} is now {now:.6g})"
        )

    def __repr__(self) -> str:
        return f"BackwardStep({self.index}: {self.explanation})"


def backprop_steps(root: Value, grad: float = 1.0) -> Iterator[BackwardStep]:
    """Every chain-rule step of a backward pass from ``root``, computed without
    writing any ``.grad``.

    Yields :class:`BackwardStep` objects in the order ``root.backward(grad)``
    applies them. Each ``parent_grad`` is the running gradient of this pass
    alone (every sum starts from its first contribution, leaves included), kept
    in the pass's own storage. Raises ``TypeError`` for a root that is not a
    Value or a seed that is not a real number.
    """
    if not isinstance(root, Value):
        raise TypeError(f"backprop_steps expects a Value, got {type(root).__name__}: {root!r}")
    seed = seed_gradient(grad)
    order = topological_order(root)
    p = backprop.run(backprop.Pass(own_storage=True, record_steps=True), ((root, seed),))
    yield from _steps(order, p)


def backward_steps(root: Value, grad: float = 1.0) -> Iterator[BackwardStep]:
    """:meth:`Value.backward_steps`: ``backward()``'s own pass, shown step by step."""
    seed = seed_gradient(grad)
    order = topological_order(root)
    if root._tape is not None:
        retire_tape(root._tape)  # as backward() does: the next op starts a new tape
    p = backprop.Pass(own_storage=True, leaf_start=_leaf_grad, record_steps=True)
    backprop.run(p, ((root, seed),))
    for node in order:  # the intermediates this pass reaches start again from 0
        if node._tape is not None:
            node._tape.set_grad(node._i, None)
    root.grad = p.gradient(root)
    for step in _steps(order, p):
        step.parent.grad = step.parent_grad
        yield step


def _leaf_grad(leaf: Value) -> float:
    """Where backward()'s sum for a leaf starts: its gradient, or ``NO_GRAD`` (a
    -0.0; -0.0 + c is c bit for bit: the sum starts at the first contribution)."""
    return leaf._g


def _steps(order: list[Value], p: backprop.Pass) -> Iterator[BackwardStep]:
    """The steps a pass recorded, as :class:`BackwardStep` objects."""
    names = {node: (node.label or f"v{i}") for i, node in enumerate(order)}
    root_name = names[order[-1]]
    previous = None
    position = 0
    assert p.steps is not None  # both callers' passes record their steps
    for index, (t, i, ref, upstream, local, contribution, total) in enumerate(p.steps):
        position = position + 1 if (t, i) == previous else 0
        previous = (t, i)
        node = t.view(i)
        parent = t.view(ref) if type(ref) is int else canonical_handle(ref)
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
