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

**Every read of a traced number is seen.** A tape records which ops ran, not the
Python that chose them: a number read from a Value and used by Python -- to branch
(``if x.data > 0:``, ``if x > 0:``, ``while abs(float(step)) > tol``), or as a constant
(``x - max(v.data for v in xs)``), or an index (``int(x)``) -- is baked into the
recording, and replaying it on other numbers would compute another function, silently.
So while :func:`call` runs the function (for :func:`tapegrad.engine.vmap`,
:func:`tapegrad.engine.compile`, :func:`tapegrad.engine.lift`), every read of a
Value's number is recorded: ``.data``, ``float()``, ``int()``, ``bool()``, ``round()``,
``math.floor``/``ceil``/``trunc``, the comparisons ``< <= > >=`` and ``format()`` (each
one that ``Value`` defines). A read of a number that depends on a leaf the replay will
read again -- a per-sample input, a parameter, any Value made before the trace (the
replay reads their ``.data`` at every call) -- raises :class:`TracedReadError`
at once, naming the read and the line of your code that made it, as JAX's
``ConcretizationTypeError`` does. A number that depends only on Values made inside
the function from plain numbers (``Value(2.0)``) is a constant and can be read.
Not reads: ``repr()`` (``print(v)``, debuggers), ``==`` (node identity), ``.grad``,
``.label``; the engine's own reads while it records an op.

An argument check that reads a number only to raise or pass (a label must be finite,
a probability in ``[0, 1]``) goes through :func:`require` instead: checked on the
traced sample now and recorded, so the replay checks it again on every sample of
every call and raises the same ``ValueError`` -- an exact path, not a refusal.

The re-trace checks of replay and vmap stay as a second line of defence: they
see what no read shows (a leaf made under ``no_grad`` from traced numbers, a
number captured from outside changing between calls).
"""

from __future__ import annotations

import contextlib
import linecache
import math
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from . import graph
from .autodiff import data_dependent_selections
from .program import GraphChangedError
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
    "TracedReadError",
    "Requirement",
    "require",
    "finite",
    "is_tracing",
    "READS",
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
    requirements: list[Requirement] | None = None,
) -> Traced:
    """``split(fn(*args))`` with every read of a traced number seen (see the module
    docstring: :class:`TracedReadError`), refusing (``error``, naming ``what``:
    "engine.compile") a function that took a gradient with ``create_graph=True``
    through a selection while it ran (``kind`` names the function in :func:`split`'s
    error). The checks the function made with :func:`require` on traced numbers are
    appended to ``requirements``, if given."""
    selections = data_dependent_selections()
    with _tracing(what) as trace:
        result = fn(*args)
    if data_dependent_selections() != selections:
        raise error(GRADIENT_GRAPH_SELECTS.format(what=what))
    if requirements is not None:
        requirements += trace.requirements
    return split(result, kind)


# -- reads of traced numbers ---------------------------------------------------------


class TracedReadError(GraphChangedError):
    """A traced function read the number of a Value that the replay reads anew (see
    the module docstring); the message names the read and the line that made it."""


#: The methods through which Python reads a Value's number, and how the read is
#: written in messages; each is watched while tracing if ``Value`` defines it.
READS: dict[str, str] = {
    "__float__": "float(v)",
    "__int__": "int(v)",
    "__index__": "v as an index",
    "__bool__": "bool(v) (an `if v:`)",
    "__round__": "round(v)",
    "__trunc__": "math.trunc(v)",
    "__floor__": "math.floor(v)",
    "__ceil__": "math.ceil(v)",
    "__complex__": "complex(v)",
    "__format__": "format(v) (an f-string)",
    "__lt__": "v < ...",
    "__le__": "v <= ...",
    "__gt__": "v > ...",
    "__ge__": "v >= ...",
}


class Requirement:
    """A check of a traced number made with :func:`require`: ``value`` (the Value),
    ``holds`` (the test, on a float or a numpy array) and ``message`` (number ->
    the ``ValueError``'s text). Replay evaluates it on every call."""

    __slots__ = ("value", "holds", "message")

    def __init__(self, value: Value, holds: Callable[[Any], Any], message: Callable) -> None:
        self.value, self.holds, self.message = value, holds, message

    def check(self, numbers: Any, sample: str = "") -> None:
        """Raise the ``ValueError`` for the first number (of a float or an array of
        them, one per sample) that fails; ``sample`` names where in the message."""
        ok = self.holds(numbers)
        if isinstance(ok, bool) or getattr(ok, "ndim", 0) == 0:
            if not ok:
                raise ValueError(self.message(float(numbers)) + sample)
            return
        if not ok.all():
            p = int((~ok).argmax())
            raise ValueError(self.message(float(numbers[p])) + (sample or f" (sample {p})"))


def finite(number: Any) -> Any:
    """Whether ``number`` (a float, or a numpy array elementwise) is finite: a test
    for :func:`require`."""
    return abs(number) < math.inf


def require(value: Value, holds: Callable[[Any], Any], message: Callable[[float], str]) -> None:
    """An argument check of a Value's number: raise ``ValueError(message(number))``
    unless ``holds(number)``.

    In eager code this is ``if not holds(value.data): raise ...``. While a function
    is traced (:func:`call`), the check is made on the traced number now and, when
    the number depends on what the replay reads anew (a per-sample input, a
    parameter), recorded: the replay checks it again on every sample of every call
    and raises the same error (naming the sample). ``holds`` must work on a float and
    on a numpy array elementwise: comparisons joined with ``&`` and ``|``, and
    :func:`finite` (``lambda n: (0.0 <= n) & (n <= 1.0)``).
    """
    number = _DATA.__get__(value, Value)
    if not holds(number):
        raise ValueError(message(number))
    trace = _current_trace()
    if trace is not None and trace.depends(value):
        trace.requirements.append(Requirement(value, holds, message))


def is_tracing() -> bool:
    """Whether a function is being traced (by replay, vmap or lifting) in this thread."""
    return _current_trace() is not None


#: ``Value.data``'s own descriptor (a slot): read without being seen.
_DATA = Value.__dict__["data"]
#: The traces running, innermost last (a trace inside a trace: compile inside vmap).
_traces: list[_Trace] = []
#: While any trace runs, ``Value``'s own attributes that the hooks replace.
_saved: dict[str, Any] = {}
#: Frames of these modules read numbers to record ops, not to decide anything.
_ENGINE = "tapegrad.engine."


class _Trace:
    """One traced call: the leaves it made (constants), the requirements it made."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.thread = threading.get_ident()
        self.made: dict[int, Value] = {}  # leaves made during the trace, by id (kept alive)
        self.requirements: list[Requirement] = []

    def depends(self, v: Value) -> bool:
        """Whether ``v``'s number depends on a leaf made before the trace (one the
        replay reads anew), not only on leaves made inside it from plain numbers."""
        return any(id(leaf) not in self.made for leaf in graph.walk(v).leaves())

    def read(self, v: Value, how: str, frame: Any) -> None:
        if not self.depends(v):
            return
        where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        shown = f" (`{line}`)" if line else ""
        raise TracedReadError(
            f"{self.what}: the function reads the number of a Value that depends on the "
            f"inputs or parameters -- {how}, at {where}{shown}. A tape records which ops "
            "ran, not the Python that read numbers, so replaying it on other numbers "
            "could compute another function. Write it with ops (relu, abs, "
            "nn.losses.maximum instead of an `if` or max() on numbers), or build the "
            "graph every time (backward())"
        )


def _current_trace() -> _Trace | None:
    if _traces and _traces[-1].thread == threading.get_ident():
        return _traces[-1]
    return None


def _seen(v: Value, how: str) -> None:
    """A read of ``v``'s number, made by the caller of the hook that calls this."""
    frame = sys._getframe(2)  # the hook's caller: the code that read the number
    if frame.f_globals.get("__name__", "").startswith(_ENGINE):
        return  # the engine recording an op, or a hook calling the original method
    trace = _current_trace()
    if trace is not None:
        trace.read(v, how, frame)


def _hooked_data() -> property:
    def get(self: Value) -> float:
        # most reads while tracing are the engine's own, recording ops: skip them first
        if not sys._getframe(1).f_globals.get("__name__", "").startswith(_ENGINE):
            _seen(self, "`.data`")
        return _DATA.__get__(self, Value)

    def set_(self: Value, number: float) -> None:
        _DATA.__set__(self, number)

    return property(get, set_, doc="The number (read while tracing: seen).")


def _hooked_read(name: str, method: Callable) -> Callable:
    how = READS[name]

    def hooked(self: Value, *args: Any) -> Any:
        _seen(self, f"`{how}`")
        for other in args:  # a comparison reads both sides: `c < x` reads x too
            if isinstance(other, Value):
                _seen(other, f"`{how}`")
        return method(self, *args)

    hooked.__name__ = name
    return hooked


def _hooked_init(init: Callable) -> Callable:
    def hooked(self: Value, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        trace = _current_trace()
        if trace is not None and self.is_leaf:
            trace.made[id(self)] = self  # a constant of this trace

    return hooked


@contextlib.contextmanager
def _tracing(what: str) -> Iterator[_Trace]:
    """Watch every read of a Value's number while the body runs (see the module
    docstring). The hooks are installed on ``Value`` only while a trace runs, so
    eager code pays nothing for them."""
    trace = _Trace(what)
    if not _traces:
        _install()
    _traces.append(trace)
    try:
        yield trace
    finally:
        _traces.remove(trace)
        if not _traces:
            _uninstall()


def _install() -> None:
    own = Value.__dict__
    _saved["data"] = own["data"]
    _saved["__init__"] = own["__init__"]
    for name in READS:
        if name in own:
            _saved[name] = own[name]
    for name, original in _saved.items():
        hook: property | Callable[..., Any]
        if name == "data":
            hook = _hooked_data()
        elif name == "__init__":
            hook = _hooked_init(original)
        else:
            hook = _hooked_read(name, original)
        setattr(Value, name, hook)


def _uninstall() -> None:
    for name, original in _saved.items():
        setattr(Value, name, original)
    _saved.clear()


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
            raise ValueError(
                f"{v!r} appears twice in {name} (a weight shared by two neurons, listed by each?): "
                "list every Value once, e.g. list(dict.fromkeys(model.parameters()))"
            )
        seen.add(id(v))
    return values
