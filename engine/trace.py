"""Tracing: run a user's function once to record its tape, and check what it gave.

Replay (:func:`tapegrad.engine.compile`) and batched replay
(:func:`tapegrad.engine.vmap`) record a function by calling it on Values: the
ops it runs land on the tape, and :mod:`tapegrad.engine.program` writes that tape
as code. This module holds what both need around that call:

* :func:`call` -- run the function, refuse a graph that holds a gradient taken
  with ``create_graph=True`` through a selection (relu, pow), and split what it
  returned (:func:`split`: the root, the watched Values, their nesting);
* :func:`fill` -- put the replayed watched values back in that nesting;
* :func:`leaf_list`, :func:`check_every` -- the checks of their arguments;
* :func:`same` -- float equality with nan equal to nan (a re-trace's numbers), and
  :func:`first_new_leaf` -- a re-trace that made a leaf anew from other numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .autodiff import data_dependent_selections
from .value import Value

__all__ = [
    "call",
    "split",
    "fill",
    "leaf_list",
    "check_every",
    "same",
    "first_new_leaf",
    "Traced",
    "GRADIENT_GRAPH_SELECTS",
]

#: Why a graph built with ``engine.grad(..., create_graph=True)`` through relu or pow
#: is refused (see :func:`tapegrad.engine.autodiff.data_dependent_selections`).
GRADIENT_GRAPH_SELECTS = (
    "the function takes a gradient with create_graph=True through an op whose "
    "derivative is chosen by the numbers (relu's and pow's are selections): the graph "
    "of that gradient holds the branch these numbers chose, not the condition, so "
    "{what} cannot replay it on other numbers; build the graph every time "
    "(backward()), or use smooth ops (tanh, sigmoid, x * x) in it"
)

#: What :func:`split` returns: the root, the watched Values in order, and their
#: nesting (None when the function returned the root alone).
Traced = tuple[Value, list[Value], Any]


def call(
    fn: Callable[..., Any],
    args: tuple = (),
    *,
    error: type[Exception],
    what: str,
    kind: str,
) -> Traced:
    """``split(fn(*args))``, refusing (``error``, naming ``what``: "engine.compile")
    a function that took a gradient with ``create_graph=True`` through a selection
    while it ran (``kind`` names the function in :func:`split`'s error)."""
    selections = data_dependent_selections()
    result = fn(*args)
    if data_dependent_selections() != selections:
        raise error(GRADIENT_GRAPH_SELECTS.format(what=what))
    return split(result, kind)


def split(result: Any, what: str = "compiled") -> Traced:
    """(root, watched Values flattened, nesting shape) of what a traced function
    returned: a Value (the loss), or a tuple ``(loss, *watched)`` whose watched items
    are Values or (nested) lists and tuples of Values. Raises ``TypeError`` otherwise
    (``what`` names the function: compiled, batched)."""
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


def fill(shape: list, values: Iterator[Any]) -> list:
    """The watched values in the nesting :func:`split` read (``shape``), taken in
    order from ``values``: a Value's place gets the next value, a list or tuple is
    rebuilt as its own type."""
    out = []
    for item in shape:
        if item is None:
            out.append(next(values))
        else:
            kind, inner = item
            out.append(kind(fill(inner, values)))
    return out


def same(a: float, b: float) -> bool:
    """``a == b``, with nan equal to nan."""
    return a == b or (a != a and b != b)


def first_new_leaf(now: Sequence[Value], then: Sequence[Value]) -> int | None:
    """The first position where a re-trace's leaf is a new Value holding another
    number than the recorded leaf (a leaf made anew from changing numbers), or None."""
    for k, (a, b) in enumerate(zip(now, then)):
        if a is not b and not same(a.data, b.data):
            return k
    return None


def check_every(check_every: object) -> int | None:
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


def leaf_list(values: Iterable[Value], name: str) -> tuple[Value, ...]:
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
