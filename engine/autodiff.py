"""Derivatives as functions: gradients that are graphs, Hessians, and forward mode.

``backward()`` leaves numbers in ``.grad``. This module asks for derivatives
instead, the way ``torch.autograd.grad`` and ``torch.autograd.functional`` do:

* :func:`grad` -- ``d(Σ_k v_k · out_k)/d(input)`` for each input, written into no
  ``.grad``. With ``create_graph=True`` the gradients are Values whose graphs
  record the backward pass itself, so they can be differentiated again (to any
  order), drawn (``engine.draw``) and stepped through (``backward_steps()``);
* :func:`hessian` and :func:`hvp` -- second derivatives, as a gradient of a gradient;
* :func:`vjp` and :func:`jvp` -- ``vᵀ J`` by one reverse pass and ``J t`` by one
  *forward* pass; :func:`jacobian` by either, one pass per output or per input.

**Gradients that are graphs.** The backward pass is the one chain rule of
:func:`tapegrad.engine.backprop.backprop` -- ``dc/ds += dz/ds · dc/dz`` -- run with
Values in place of numbers: the pass takes each entry's local derivatives from its
op row's ``value_grads`` (the *same* formula as the float ``fn``, evaluated with
Value ops, see :mod:`tapegrad.engine.ops`), so every ``·`` and ``+`` of the pass is
recorded as an op. A masked edge (relu at x <= 0, pow's d/dx at exponent 0)
contributes an exact 0 whatever arrives from above; in the graph it is a recorded
selection of zero over the derivative left unselected, so that differentiating it
again gives what PyTorch's double backward gives (see :class:`_MaskedEdge`); sign's
derivative is a constant 0 with no graph, as PyTorch's ``zeros_like``.

**Forward mode** (:func:`forward_pass`) runs the same local derivatives the other
way: in tape order, each entry's *tangent* (how much it moves when the inputs move
along a direction ``t``) is ``Σ_s dz/ds · tangent[s]`` -- the lecture's perturbation
argument (``dz ≈ h'(s) ds``) pushed forwards. Backprop is its transpose: the same
edges and the same products, walked in reverse order and summed into the parent
instead of the child. One reverse pass gives one row of the Jacobian (``uᵀ J``),
one forward pass one column (``J t``): for ``f: Rⁿ → Rᵐ`` reverse mode needs ``m``
passes and forward mode ``n``.

Conventions as :func:`tapegrad.engine.gradcheck.numerical_jacobian`: ``f(*values)``
takes one Value per input and returns a Value or a sequence of Values; ``inputs`` is
a sequence of numbers (or leaf Values, used themselves); results are floats in lists.
"""

from __future__ import annotations

import ast
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

from . import backprop, graph
from .formulas import MASKED, compile_value_grads
from .modes import enable_grad
from .ops import Op
from .value import (
    Value,
    made_since,
    make_result,
    recording_mark,
    set_graph_backward,
    to_float,
)
from .wengert import CONSTANT, NO_GRAD, ROW, W, WengertList, inputs_of, local_grads_of

__all__ = [
    "grad",
    "forward_pass",
    "jvp",
    "vjp",
    "jacobian",
    "hessian",
    "hvp",
    "data_dependent_selections",
    "float_gradients",
    "leaf_arguments",
    "output_list",
]


# -- engine.grad --------------------------------------------------------------------


# For type checkers: an entry is None only with allow_unused=True and
# materialize_grads=False (issue 21 item 2: `ga + 1` type-checks in a user's code).
@overload
def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: object = None,
    create_graph: bool = False,
    allow_unused: Literal[False] = False,
    *,
    retain_graph: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Value, ...]: ...
@overload
def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: object = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    *,
    retain_graph: bool | None = None,
    materialize_grads: Literal[True],
) -> tuple[Value, ...]: ...
@overload
def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: object = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    *,
    retain_graph: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Value | None, ...]: ...


def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: object = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    *,
    retain_graph: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Value | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    Returns a tuple with one entry per input: ``d(Σ_k v_k · outputs[k]) / d input``,
    where ``v = grad_outputs`` (default: 1 for every output). Nothing is written into
    any ``.grad``: every gradient a Value holds is left as it was. ``inputs`` may be
    leaves or intermediate results (then the gradient with respect to that node).

    * ``create_graph=False`` (default): each gradient is a **new Value with no
      history** (a leaf holding the number, as PyTorch returns a tensor without a
      ``grad_fn``); read it with ``.data``.
    * ``create_graph=True``: each gradient is a Value whose graph records the
      backward pass, built with the same local derivatives (each op row's
      ``value_grads``), so ``grad``, ``backward()``, ``engine.draw`` and
      ``backward_steps()`` work on it, to any order. Recorded even inside
      ``no_grad()`` (as PyTorch, whose backward runs with grad mode set to
      ``create_graph``). A gradient that does not depend on any Value (``d(x + y)/dx =
      1``) is a Value with no history. Passing through an op built as ``Value(data,
      children, op, local_grads=numbers)`` raises ``RuntimeError``: its derivative is
      numbers, so it cannot be differentiated again (register it as an op row).
      Every gradient returned is a new node, never one of the graph's own (nor a
      ``grad_outputs`` Value): where the chain rule's result is an existing node
      (``d(x·y)/dx = y``), it is returned as the recorded copy ``y · 1``.
    * An input the outputs do not depend on raises ``ValueError`` naming it, unless
      ``allow_unused=True``: then its entry is ``None`` (as PyTorch); with
      ``materialize_grads=True`` it is a Value 0.0 with no history instead.
    * ``grad_outputs``: a number or Value per output (a Value's graph is used when
      ``create_graph=True``, else its number), ``None`` meaning 1; for a single output
      the number itself may be given. ``retain_graph`` is accepted for PyTorch code and
      ignored: a pass never frees the tape.

    Raises ``TypeError`` for outputs, inputs or grad_outputs of the wrong type,
    ``ValueError`` for empty sequences or mismatched lengths.
    """
    del retain_graph  # nothing to retain: tapes are freed by dropping their Values
    outputs = _values(outputs, "outputs")
    inputs = _values(inputs, "inputs")
    seeds = _seeds(grad_outputs, len(outputs), create_graph)
    for flag, name in (
        (create_graph, "create_graph"),
        (allow_unused, "allow_unused"),
        (materialize_grads, "materialize_grads"),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"grad: {name} must be True or False, got {type(flag).__name__}")
    if create_graph:
        with enable_grad():
            mark = recording_mark()
            found = [_new_node(g, mark) for g in _value_gradients(outputs, inputs, seeds)]
    else:
        found = backprop.gradients(outputs, inputs, seeds)
    results: list[Value | None] = []
    for k, (x, g) in enumerate(zip(inputs, found)):
        if g is None:
            if materialize_grads:
                g = 0.0
            elif not allow_unused:
                name = f" ({x.label!r})" if x.label else ""
                why = ""
                if all(o.is_leaf for o in outputs):
                    # PyTorch: "element 0 of tensors does not require grad"
                    why = (
                        "; the outputs have no graph at all (each is a leaf: a number made "
                        "a Value, a result computed under no_grad(), or a gradient that "
                        "depends on no Value)"
                    )
                raise ValueError(
                    f"grad: inputs[{k}]{name} = {x!r} is not used by the outputs (their "
                    f"graphs do not reach it){why}; pass allow_unused=True to get None for it"
                )
            else:
                results.append(None)
                continue
        results.append(g if isinstance(g, Value) and create_graph else Value(_number(g)))
    return tuple(results)


def _number(g: object) -> float:
    return g.data if isinstance(g, Value) else to_float(g)


def _values(given: object, what: str) -> list[Value]:
    """``given`` as a non-empty list of Values, or an error naming ``what``."""
    if isinstance(given, Value):
        return [given]
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise TypeError(
            f"grad: {what} must be a Value or a sequence of Values, got "
            f"{type(given).__name__}: {given!r}"
        )
    values = list(given)
    if not values:
        raise ValueError(f"grad: {what} is empty")
    for k, v in enumerate(values):
        if not isinstance(v, Value):
            raise TypeError(
                f"grad: {what}[{k}] must be a Value, got {type(v).__name__}: {v!r}"
                + (" (a number has no graph to differentiate)" if what == "outputs" else "")
            )
    return values


def _seeds(grad_outputs: object, n: int, create_graph: bool) -> list:
    """One seed per output: floats, or Values when building a graph."""
    if grad_outputs is None:
        return [1.0] * n
    if isinstance(grad_outputs, (Value, numbers.Real)) and not isinstance(grad_outputs, bool):
        given = [grad_outputs]
    elif isinstance(grad_outputs, Sequence) and not isinstance(grad_outputs, (str, bytes)):
        given = list(grad_outputs)
    else:
        raise TypeError(
            "grad: grad_outputs must be None, a number or Value, or a sequence of them, "
            f"got {type(grad_outputs).__name__}: {grad_outputs!r}"
        )
    if len(given) != n:
        raise ValueError(f"grad: grad_outputs has {len(given)} entries for {n} outputs")
    seeds = []
    for k, s in enumerate(given):
        if s is None:
            seeds.append(1.0)
        elif isinstance(s, Value):
            seeds.append(s if create_graph else s.data)
        elif isinstance(s, numbers.Real) and not isinstance(s, bool):
            seeds.append(to_float(s))
        else:
            raise TypeError(
                f"grad: grad_outputs[{k}] must be a number, a Value or None, got "
                f"{type(s).__name__}: {s!r}"
            )
    return seeds


class _Identity:
    """The local derivative 1 (add, sub's d/dx): ``1 · g`` is ``g`` itself, so the
    gradient's graph passes it on without a multiplication node (PyTorch's add
    backward is ``grad``). For a number, ``1.0 * g == g`` bit for bit."""

    __slots__ = ()

    def __mul__(self, g: object) -> object:
        return g

    def __repr__(self) -> str:
        return "1"


class _Negation:
    """The local derivative -1 (neg, sub's d/dy): ``-1 · g`` is ``-g``, one neg node."""

    __slots__ = ()

    def __mul__(self, g: Any) -> Any:
        return -g

    def __repr__(self) -> str:
        return "-1"


_ONE, _MINUS_ONE = _Identity(), _Negation()


class _ValueLocals:
    """The local derivatives of tape ``t``'s entries as Values: one column per input
    position, computed when backprop first reads an entry (only entries the pass
    reaches are computed, and only once), from the entry's op row ``value_grads``."""

    __slots__ = ("tape", "cache")

    def __init__(self, tape) -> None:
        self.tape = tape
        self.cache: dict[int, tuple] = {}

    def entry(self, i: int) -> tuple:
        found = self.cache.get(i)
        if found is None:
            found = self.cache[i] = _entry_value_grads(self.tape, i)
        return found


class _Column:
    __slots__ = ("locals", "position")

    def __init__(self, value_locals: _ValueLocals, position: int) -> None:
        self.locals = value_locals
        self.position = position

    def __getitem__(self, i: int) -> object:
        return self.locals.entry(i)[self.position]


def _entry_value_grads(t, i: int) -> tuple:
    """``(d/d input0, d/d input1 or None)`` of entry ``i`` of tape ``t`` as Values (or
    exact constants), from its row's ``value_grads`` applied to Values for its inputs
    and result. A number operand takes its place in the row's inputs."""
    entries = t.entries
    row = entries[i * W + ROW]
    if not isinstance(row, Op):
        raise RuntimeError(
            f"grad(create_graph=True) reached the op {row!r}, built with Value(data, "
            "children, op, local_grads=...): its local derivatives are numbers, so the "
            "gradient could not be differentiated again; add the op as a row "
            "(engine.ops.register_op) to give it a derivative formula"
        )
    refs = [t.view(r) if type(r) is int else r for r in inputs_of(t, i)]
    constant = entries[i * W + CONSTANT]
    out = t.view(i)
    arguments: list[Any]
    positions: Sequence[int]
    if constant is None:
        arguments, positions = refs, range(len(refs))
    elif type(constant) is tuple:  # the number on the left: 2.0 * x
        arguments, positions = [constant[1], refs[0]], (1,)
    else:  # the number on the right: x * 2.0
        arguments, positions = [refs[0], constant], (0,)
    if _selects_on_values(row, arguments, positions):
        global _selections
        _selections += 1
    found: Sequence[Any] = row.value_grads(arguments, out)
    if constant is None:  # (with a number operand PyTorch's backward is an ``if``)
        found = [_selected_zero(row, arguments, out, k, d) for k, d in enumerate(found)]
    locals_ = tuple(_simplest(found[k]) for k in positions)
    return locals_ + (None,) * (2 - len(locals_))


#: How many local derivatives of a ``create_graph=True`` pass chose a branch by the
#: numbers of Values (see :func:`data_dependent_selections`).
_selections = 0
_condition_names: dict[str, tuple] = {}


def data_dependent_selections() -> int:
    """How many times, so far, a ``create_graph=True`` pass chose an op's local
    derivative by the number of a Value: relu's and pow's derivatives are selections
    (``mask``/``where`` in the row's formula) whose condition, for numbers, Python
    evaluates while building the gradient's graph. That graph then holds the branch
    taken, not the condition -- it is a graph of *this* sample's numbers -- so a tape
    of it cannot be replayed on other numbers: :func:`tapegrad.engine.vmap` and
    :func:`tapegrad.engine.compile` compare this count before and after tracing and
    refuse such a graph."""
    return _selections


def _selects_on_values(row: Op, arguments: list, positions) -> bool:
    """Whether a derivative of ``row`` used here (``positions``) is a selection whose
    condition reads a Value (an input that is a Value, or the result ``out``)."""
    names = _condition_names.get(row.name)
    if names is None or names[0] is not row:
        _, trees = row.parsed
        per_input = []
        for tree in trees:
            read: set[str] = set()
            for n in ast.walk(tree):
                if (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Name)
                    and n.func.id in ("where", "mask")
                ):
                    read |= {m.id for m in ast.walk(n.args[0]) if isinstance(m, ast.Name)}
            per_input.append(frozenset(read))
        names = _condition_names[row.name] = (row, tuple(per_input))
    for k in positions:
        for name in names[1][k]:
            if name == "out":
                return True
            a = arguments[("x", "y").index(name)]
            if isinstance(a, Value) and not _flat(a):
                return True
    return False


def _flat(v: Value) -> bool:
    """Whether ``v`` is the result of an op whose every derivative is masked (sign):
    whatever is selected on its number, the gradient passes through it as an exact 0
    and the gradient's graph does not depend on the choice (softplus's and maximum's
    ``relu(sign(z))`` selectors)."""
    row = v.op_row
    return row is not None and all(d.strip() == "MASKED" for d in row.derivatives)


class _MaskedEdge:
    """A masked local derivative (relu at x <= 0, pow's d/dx at exponent 0) in a
    pass that records a graph, as PyTorch's backward *selects* zero there:
    ``local · g`` is a recorded zero -- a :data:`_MASKED_ZERO` node reading the
    unselected product ``d · g`` (``d`` the row's derivative formula with the mask
    taken off). At first order it is exactly 0 whatever ``g`` is; differentiated
    again, the selection masks the incoming gradient once more and passes an exact 0
    into ``d · g`` -- where ``0 · inf`` is nan, as in PyTorch's double backward of
    ``threshold_backward`` and ``where``."""

    __slots__ = ("branch",)

    def __init__(self, branch: Any) -> None:
        self.branch = branch

    def __mul__(self, g: Any) -> Any:
        product = self.branch * g
        if not isinstance(product, Value):
            return 0.0  # nothing recorded upstream: a plain masked zero
        return make_result(_MASKED_ZERO, 0.0, (product,), (MASKED,), None)

    def __repr__(self) -> str:
        return f"masked({self.branch!r})"


class _OutsideTheTable(Op):
    """A row that is not in the op table: it pickles as a reference to this module."""

    def __reduce__(self):
        return (_masked_zero_row, ())


def _masked_zero_row() -> Op:
    return _MASKED_ZERO


#: The selection ``0 if masked else d · g`` at a masked point: result 0.0, and its
#: own derivative masked again (``mask`` with a condition that never holds, so
#: that a third-order pass selects zero here too). Not in the op table: it appears
#: only in graphs of gradients (drawn, stepped through and pickled like any op;
#: replay refuses it, as any op outside the table).
_MASKED_ZERO = _OutsideTheTable(
    "masked_zero",
    1,
    "0.0",
    ("mask(x < x, 1.0)",),
    "masked",
    "a masked edge's selected zero: 0 whatever x is;  d/dx masked",
)

_branch_functions: dict[str, tuple] = {}


def _branch_value_grads(row: Op) -> tuple[Callable, Callable]:
    """Two variants of the row's ``value_grads``: each top-level ``mask(condition, d)``
    and ``where(condition, a, b)`` of a derivative replaced by its first branch (``d``,
    ``a``) in one and by its second (``MASKED``, ``b``) in the other. They give the
    branch a selection did *not* take, which PyTorch's backward still computes (and
    its double backward differentiates, with an exact 0 from above). Compiled by the
    op table's own compiler from the row's own formulas, once per row."""
    found = _branch_functions.get(row.name)
    if found is None or found[0] is not row:
        _, trees = row.parsed
        inputs = ("x", "y")[: row.arity]

        def branch(tree: ast.expr, k: int) -> ast.expr:
            if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
                if tree.func.id == "where":
                    return tree.args[1 + k]
                if tree.func.id == "mask":
                    return tree.args[1] if k == 0 else ast.Name("MASKED", ast.Load())
            return tree

        found = _branch_functions[row.name] = (
            row,
            compile_value_grads(row.name, inputs, tuple(branch(t, 0) for t in trees)),
            compile_value_grads(row.name, inputs, tuple(branch(t, 1) for t in trees)),
        )
    return found[1], found[2]


def _selected_zero(row: Op, arguments: list, out: Value, k: int, found: object) -> object:
    """The local derivative ``found`` of input ``k`` where a selection chose zero,
    as PyTorch's backward builds it: a masked edge (``mask``) becomes a
    :class:`_MaskedEdge` over the unselected derivative; a selected constant 0.0 of
    a ``where`` (pow's d/dy at a zero base) becomes a recorded zero reading the
    unselected branch. Anything else is returned as it is."""
    if found is not MASKED and not (type(found) is float and found == 0.0):
        return found
    first, second = _branch_value_grads(row)
    a, b = first(arguments, out)[k], second(arguments, out)[k]
    if found is MASKED:
        return found if a is MASKED else _MaskedEdge(_simplest(a))
    unselected = b if not isinstance(a, Value) and isinstance(b, Value) else None
    if unselected is None and isinstance(a, Value) and not isinstance(b, Value):
        unselected = a
    if unselected is None or math.copysign(1.0, found) < 0:
        return found
    return make_result(_MASKED_ZERO, 0.0, (unselected,), (MASKED,), None)


class _Factor:
    """A local derivative that is a Value: ``d · g`` records one mul node, except
    where ``g`` is the number 1.0 -- the seed, or a gradient passed unchanged through
    sums -- since ``d · 1`` is ``d`` bit for bit: no ``* 1`` node in the gradient's
    graph (the seed's mirror of :class:`_Identity`)."""

    __slots__ = ("d",)

    def __init__(self, d: Value) -> None:
        self.d = d

    def __mul__(self, g: Any) -> Any:
        if type(g) is float and g == 1.0:
            return self.d
        return self.d * g

    def __repr__(self) -> str:
        return repr(self.d)


def _simplest(d: object) -> object:
    """The constants 1 and -1 as :data:`_ONE` and :data:`_MINUS_ONE`, a Value as a
    :class:`_Factor`, else ``d``."""
    if type(d) is float:
        if d == 1.0:
            return _ONE
        if d == -1.0:
            return _MINUS_ONE
    elif isinstance(d, Value):
        return _Factor(d)
    return d


def _value_local_grads(t: WengertList, n: int) -> tuple[_Column, _Column]:
    """The local derivatives of tape ``t`` as Values, computed as backprop reads them."""
    value_locals = _ValueLocals(t)
    return _Column(value_locals, 0), _Column(value_locals, 1)


def _value_gradients(outputs: list[Value], inputs: list[Value], seeds: list) -> list:
    """The chain rule of :func:`backprop.backprop` on Values: the same pass as
    :func:`backprop.gradients`, with each entry's local derivatives as Values."""
    p = backprop.Pass(own_storage=True, local_grads=_value_local_grads)
    backprop.run(p, zip(outputs, seeds))
    return [p.gradient(v) for v in inputs]


def _new_node(g: object, mark: tuple[int, int]) -> object:
    """A gradient as a new node, as PyTorch's are new tensors: one that is a node made
    before ``mark`` (d(x·y)/dx is ``y`` itself, d(exp x)/dx the node ``exp(x)``, a
    seed passed through sums) is copied as ``g · 1.0``, exact for every float."""
    return g * 1.0 if isinstance(g, Value) and not made_since(g, mark) else g


def _backward_with_graph(root: Value, seed: float) -> None:
    """``root.backward(create_graph=True)``: the pass of :func:`grad` with
    ``create_graph=True``, written into ``.grad`` as ``backward()`` writes: each entry
    reached shows its gradient (a Value, or a number where it depends on no Value),
    and each leaf's ``.grad`` becomes ``old + new`` (``new`` when it had none, as
    PyTorch's accumulation). Recorded even inside ``no_grad()``."""
    with enable_grad():
        mark = recording_mark()
        p = backprop.Pass(own_storage=True, local_grads=_value_local_grads)
        backprop.run(p, ((root, seed),))
        for t, grads in p.tapes.items():
            t.keep_grads([_new_node(g, mark) for g in grads])
        assert p.leaves is not None
        for leaf, total in p.leaves.values():
            total = _new_node(total, mark)
            leaf.grad = total if leaf._g is NO_GRAD else leaf._g + total


set_graph_backward(_backward_with_graph)


# -- forward mode ---------------------------------------------------------------------


def forward_pass(
    outputs: Sequence[Value], inputs: Sequence[Value], tangents: Sequence[float]
) -> list[float]:
    """Forward-mode differentiation: ``Σ_j d(outputs[k])/d(inputs[j]) · tangents[j]``
    for each output -- the Jacobian times a direction, ``J t``, in one forward sweep.

    Every entry between the inputs and the outputs gets a *tangent*, its rate of
    change along ``t``, in tape order (oldest tape first, each in creation order --
    an op's inputs always come before it)::

        tangent[z] = Σ_s dz/ds · tangent[s]     # the perturbation dz ≈ h'(s) ds, forwards

    with the same local derivatives ``dz/ds`` that backward reads from the tape. This
    is the dual of :func:`tapegrad.engine.backprop.backprop`, which walks the same
    edges from the end and adds ``dz/ds · dc/dz`` into the *parent*: reverse mode
    computes a row ``uᵀ J``, forward mode a column ``J t``, and ``u · (J t) =
    (uᵀ J) · t``. A masked edge contributes exactly 0 (:data:`~tapegrad.engine.formulas.MASKED`),
    but that 0 is a tangent, which the next edge multiplies: ``0 · inf`` is nan
    (``sqrt(relu(-x))``), as in PyTorch's forward mode, where backward selects 0.
    An input that is an intermediate result takes its tangent as given (its own
    inputs are held still), as :func:`grad` differentiates with respect to it.
    Writes nothing on the graph; ``outputs`` that the inputs do not reach get 0.0.
    """
    outputs, inputs = list(outputs), list(inputs)
    tangents = [to_float(t) for t in tangents]
    for what, values in (("outputs", outputs), ("inputs", inputs)):
        for k, v in enumerate(values):
            if not isinstance(v, Value):
                raise TypeError(f"forward_pass: {what}[{k}] must be a Value, got {v!r}")
    if len(tangents) != len(inputs):
        raise ValueError(f"forward_pass: {len(tangents)} tangents for {len(inputs)} inputs")
    # The entries the outputs depend on, oldest tape first, each in creation order.
    w = graph.walk(*outputs)
    tangent: list = [None] * len(w.items)  # per position; None: does not move
    given = set()
    for x, t in zip(inputs, tangents):
        k = w.position(x)
        if k >= 0:
            tangent[k] = t
            given.add(k)
    for k, item in enumerate(w.items):
        if type(item) is not tuple or k in given:
            continue
        tape, i = item
        parents = w.parents[k]
        local_grads = local_grads_of(tape, i) or (None,) * len(parents)
        total = None
        for s, local in zip(parents, local_grads):
            ts = tangent[s]
            if ts is None:
                continue  # s does not move with the inputs
            if local is None:
                raise RuntimeError(
                    f"forward mode reached an op built with Value(data, children, "
                    f"{w.rows[k]!r}) and no local_grads: it has no derivative"
                )
            c = local * ts  # dz/ds · ds
            total = c if total is None else total + c
        tangent[k] = total
    found = [tangent[w.position(out)] for out in outputs]
    return [0.0 if t is None else t for t in found]


# -- the functions of f(*values) ------------------------------------------------------


def leaf_arguments(inputs: Sequence[object], what: str = "inputs") -> list[Value]:
    """The Values ``f`` is called with: each leaf Value given is used itself; numbers
    and results of ops become fresh leaves holding their number."""
    if isinstance(inputs, (str, bytes, Value)) or not hasattr(inputs, "__iter__"):
        raise TypeError(
            f"{what} must be a sequence of numbers or Values, got {type(inputs).__name__}: "
            f"{inputs!r}"
        )
    result = []
    for k, x in enumerate(list(inputs)):
        if isinstance(x, Value):
            result.append(x if x.is_leaf else Value(x.data))
        else:
            try:
                result.append(Value(x))
            except (TypeError, ValueError) as e:
                raise type(e)(f"{what}[{k}]: {e}") from None
    return result


def output_list(out: object) -> list:
    """``f``'s result as a list of Values and numbers (a number has zero derivatives)."""
    items = list(out) if isinstance(out, (list, tuple)) else [out]
    for k, o in enumerate(items):
        if not isinstance(o, (Value, numbers.Real)) or isinstance(o, bool):
            where = "" if isinstance(out, Value) or len(items) == 1 else f"[{k}]"
            raise TypeError(
                f"f must return a Value or a sequence of Values, got {type(o).__name__}"
                f"{' at position ' + where if where else ''}: {o!r}"
            )
    return items


def _directions(v: object, n: int, what: str, against: str) -> list[float]:
    if isinstance(v, (str, bytes, Value)) or not hasattr(v, "__iter__"):
        raise TypeError(
            f"{what} must be a sequence of numbers, one per {against}, got "
            f"{type(v).__name__}: {v!r}"
        )
    numbers_ = [x.data if isinstance(x, Value) else to_float(x) for x in v]
    if len(numbers_) != n:
        raise ValueError(f"{what} has {len(numbers_)} entries but there are {n} {against}s")
    return numbers_


def _data(o: object) -> float:
    return o.data if isinstance(o, Value) else to_float(o)


def float_gradients(out: object, xs: list[Value]) -> list[float]:
    """d out/d x for each x by one reverse pass, writing no ``.grad``; 0.0 where out
    does not reach x, and for an ``out`` that is not a Value (a number, None)."""
    if not isinstance(out, Value):
        return [0.0] * len(xs)
    found = backprop.gradients([out], xs, [1.0])
    return [0.0 if g is None else g for g in found]


def vjp(
    f: Callable, inputs: Sequence[object], v: Sequence[float]
) -> tuple[list[float], list[float]]:
    """``(outputs, vᵀ J)``: the vector-Jacobian product in one reverse pass.

    This is what backprop through a functional module computes: given ``v = ∂c/∂z_g``,
    it returns ``∂c/∂z_f = v · ∂z_g/∂z_f`` (the lecture's ``[1 × d_f] = [1 × d_g] ·
    [d_g × d_f]``). Writes no ``.grad``. Raises ``ValueError`` if ``v`` does not have
    one entry per output.
    """
    xs = leaf_arguments(inputs)
    outs = output_list(f(*xs))
    weights = _directions(v, len(outs), "v", "output")
    pairs = [(o, w) for o, w in zip(outs, weights) if isinstance(o, Value)]
    if pairs:
        found = backprop.gradients([o for o, _ in pairs], xs, [w for _, w in pairs])
        grads = [0.0 if g is None else g for g in found]
    else:
        grads = [0.0] * len(xs)
    return [_data(o) for o in outs], grads


def jvp(
    f: Callable, inputs: Sequence[object], tangents: Sequence[float]
) -> tuple[list[float], list[float]]:
    """``(outputs, J t)``: the Jacobian-vector product in one forward pass.

    ``tangents`` is a direction ``t`` in input space (one number per input); the
    result's entry ``i`` is ``Σ_j ∂out_i/∂in_j · t_j``, how fast output ``i`` moves
    when the inputs move along ``t`` (see :func:`forward_pass`). Writes no ``.grad``.
    Raises ``ValueError`` if ``tangents`` does not have one entry per input.
    """
    xs = leaf_arguments(inputs)
    t = _directions(tangents, len(xs), "tangents", "input")
    outs = output_list(f(*xs))
    values = [o for o in outs if isinstance(o, Value)]
    moved = iter(forward_pass(values, xs, t))
    return [_data(o) for o in outs], [next(moved) if isinstance(o, Value) else 0.0 for o in outs]


def jacobian(f: Callable, inputs: Sequence[object], mode: str = "reverse") -> list[list[float]]:
    """The Jacobian ``J[i][j] = ∂out_i/∂in_j`` of ``f`` at ``inputs``.

    ``mode="reverse"``: one reverse pass (backprop) per output, each giving row
    ``i``; ``mode="forward"``: one forward pass per input, each giving column ``j``.
    Both give the same numbers up to the order of float additions, except where a
    masked edge (relu at x <= 0, sign, pow at exponent 0) meets an infinite local
    derivative: reverse mode selects 0 there, forward mode multiplies ``0 · inf`` and
    gives nan, as ``torch.func.jvp`` does (``sqrt(relu(-x))`` at x = 0.5: reverse
    -0.0, forward nan; checked against torch 2.13.0). Reverse mode
    costs ``m`` passes for ``m`` outputs, forward mode ``n`` for ``n`` inputs: reverse
    is cheaper when there are fewer outputs than inputs (a loss has one), forward when
    there are fewer inputs than outputs. Writes no ``.grad``. Raises ``ValueError``
    for another ``mode``.
    """
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
    xs = leaf_arguments(inputs)
    outs = output_list(f(*xs))
    if mode == "reverse":
        return [float_gradients(o, xs) for o in outs]
    values = [o for o in outs if isinstance(o, Value)]
    columns = []
    for j in range(len(xs)):
        direction = [0.0] * len(xs)
        direction[j] = 1.0
        moved = iter(forward_pass(values, xs, direction))
        columns.append([next(moved) if isinstance(o, Value) else 0.0 for o in outs])
    return [[column[i] for column in columns] for i in range(len(outs))]


def _scalar_output(f: Callable, xs: list[Value], what: str) -> object:
    out = f(*xs)
    if isinstance(out, (list, tuple)):
        if len(out) != 1:
            raise ValueError(f"{what}: f must return a single scalar, got {len(out)} outputs")
        out = out[0]
    return output_list(out)[0]


def _gradient_graph(out: object, xs: list[Value]) -> list:
    """d out/d x for each x as Values recording the backward pass (None: unused)."""
    if not isinstance(out, Value):
        return [None] * len(xs)
    return list(grad(out, xs, create_graph=True, allow_unused=True))


def hessian(f: Callable, inputs: Sequence[object]) -> list[list[float]]:
    """The Hessian ``H[i][j] = ∂²f/∂in_i ∂in_j`` of a scalar ``f`` at ``inputs``.

    One reverse pass with ``create_graph=True`` gives the gradient as Values; one
    reverse pass through each of its ``n`` entries gives a row. Masked edges (relu
    at x <= 0, sign, pow's exponent 0) have zero second derivatives, as in PyTorch.
    Raises ``ValueError`` if ``f`` returns more than one output.
    """
    xs = leaf_arguments(inputs)
    gradient = _gradient_graph(_scalar_output(f, xs, "hessian"), xs)
    return [float_gradients(g, xs) for g in gradient]


def hvp(f: Callable, inputs: Sequence[object], v: Sequence[float]) -> tuple[float, list[float]]:
    """``(f(inputs), H v)``: the Hessian-vector product, without forming ``H``.

    ``H v`` is the gradient of ``∇f · v`` (``v`` held constant): one reverse pass with
    ``create_graph=True`` gives ``∇f`` as a graph, a second one differentiates the
    scalar ``Σ_i ∂f/∂in_i · v_i`` -- two passes whatever the number of inputs (``H``
    is symmetric, so this is also ``vᵀ H``). Raises ``ValueError`` if ``v`` does not
    have one entry per input.
    """
    xs = leaf_arguments(inputs)
    direction = _directions(v, len(xs), "v", "input")
    out = _scalar_output(f, xs, "hvp")
    total = None
    for g, vi in zip(_gradient_graph(out, xs), direction):
        if isinstance(g, Value):
            total = g * vi if total is None else total + g * vi
    return _data(out), float_gradients(total, xs)
