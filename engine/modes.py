"""Switches that change how ops record: grad mode, anomaly detection, scopes.

They are process-wide (module globals; PyTorch's grad mode is per thread): a
``no_grad()`` block in one thread turns recording off in every thread while it lasts.
The recording code reads them once per op; ``plain`` is True in the common
case -- recording on, anomaly detection off -- so the hot path tests one flag.
Each switch is the setting of the innermost *active* block (the latest entered that
has not exited), so blocks that threads enter and leave in any order leave the
switches as they found them once all have exited.

* :func:`no_grad` / :func:`enable_grad`: record or not (results of ops made under
  ``no_grad`` are leaves);
* :func:`detect_anomaly`: the first op whose result or local derivative is not
  finite raises :class:`AnomalyError` naming the op and its inputs;
* :class:`scope`: tag every Value made inside with a named :class:`Scope` (``nn``
  enters one per module call, drawing groups nodes by it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "AnomalyError",
    "Scope",
    "scope",
    "current_scope",
]

grad_enabled = True
anomaly = False
innermost = None  # the innermost active Scope, shared by every node created in it
_followers: list = []
# The active blocks, oldest first: (token, setting) for grad mode and anomaly
# detection, the Scope itself for scopes. A block removes its own entry on exit,
# wherever it is, so exits in another order than entries (threads) restore nothing
# stale; a single thread's nested blocks exit last-in, first-out, as before.
_grad_blocks: list[tuple[object, bool]] = []
_anomaly_blocks: list[tuple[object, bool]] = []
_anomaly_default = False  # set_detect_anomaly's setting, outside every block
_scopes: list = []


def _leave(blocks: list, entry: object) -> None:
    if blocks and blocks[-1] is entry:
        blocks.pop()
    else:
        blocks.remove(entry)


def _grad_setting() -> bool:
    return _grad_blocks[-1][1] if _grad_blocks else True


def _anomaly_setting() -> bool:
    return _anomaly_blocks[-1][1] if _anomaly_blocks else _anomaly_default


@contextmanager
def _grad_block(setting: bool) -> Iterator[None]:
    entry = (object(), setting)
    _grad_blocks.append(entry)
    _set(setting, anomaly, innermost)
    try:
        yield
    finally:
        _leave(_grad_blocks, entry)
        _set(_grad_setting(), anomaly, innermost)


def follow(module) -> None:
    """Keep ``module``'s globals ``_grad_enabled``, ``_anomaly``, ``_plain`` (recording
    on, anomaly detection off) and ``_scope`` equal to these switches.

    The recording code reads them as its own globals, the cheapest lookup in
    CPython: reading them as attributes of this module cost about 190 more
    instructions per op (3% of building a graph, measured with callgrind)."""
    _followers.append(module)
    _set(grad_enabled, anomaly, innermost)


def _set(grad: bool, detect: bool, scope: Scope | None) -> None:
    global grad_enabled, anomaly, innermost
    grad_enabled, anomaly, innermost = grad, detect, scope
    for module in _followers:
        module._grad_enabled, module._anomaly, module._scope = grad, detect, scope
        module._plain = grad and not detect


@contextmanager
def no_grad() -> Iterator[None]:
    """Record nothing inside: results are leaves with no parents.

    Use it for inference and for parameter updates (``p.data -= lr * p.grad`` does
    not need it, but computing an update from Values does).
    """
    with _grad_block(False):
        yield


@contextmanager
def enable_grad() -> Iterator[None]:
    """Turn recording back on inside a :func:`no_grad` block."""
    with _grad_block(True):
        yield


def is_grad_enabled() -> bool:
    """True when ops record their parents (the default)."""
    return grad_enabled


class AnomalyError(FloatingPointError):
    """Raised under :func:`detect_anomaly` by the first op with a non-finite result
    or local derivative."""


def set_detect_anomaly(enabled: bool) -> None:
    """Turn anomaly detection on or off for the rest of the program."""
    if not isinstance(enabled, bool):
        raise TypeError(f"set_detect_anomaly expects a bool, got {type(enabled).__name__}")
    global _anomaly_default
    _anomaly_default = enabled
    # inside detect_anomaly() blocks it takes effect now, until the innermost exits
    _set(grad_enabled, enabled, innermost)


def is_anomaly_enabled() -> bool:
    return anomaly


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside, the first op whose result or local derivative is not finite raises
    :class:`AnomalyError` naming the op, its inputs and their labels.

    Inputs that are already non-finite do not count: the error points at the op
    where inf or nan first *appeared*.
    """
    entry = (object(), True)
    _anomaly_blocks.append(entry)
    _set(grad_enabled, True, innermost)
    try:
        yield
    finally:
        _leave(_anomaly_blocks, entry)
        _set(grad_enabled, _anomaly_setting(), innermost)


def check_anomaly(node, parents: tuple, local_grads: tuple) -> None:
    """Raise :class:`AnomalyError` if ``node`` (just recorded from ``parents``) made
    the first non-finite number: its result or a local derivative, from finite inputs."""
    values = (node._data, *local_grads)
    if all(math.isfinite(v) for v in values):
        return
    constant = node.constant
    inputs = [p._data for p in parents]
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

    __slots__ = ("name", "_entered")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"scope name must be a non-empty str, got {name!r}")
        self.name = name
        self._entered: list[Scope] = []  # a stack: one object may be re-entered

    def __enter__(self) -> Scope:
        global innermost
        innermost = Scope(self.name, innermost)
        self._entered.append(innermost)
        _scopes.append(innermost)
        for module in _followers:  # _set, inlined: nn enters a scope per module call
            module._scope = innermost
        return innermost

    def __exit__(self, *exc_info: object) -> None:
        global innermost
        _leave(_scopes, self._entered.pop())
        innermost = _scopes[-1] if _scopes else None
        for module in _followers:
            module._scope = innermost


def current_scope() -> Scope | None:
    """The innermost active scope, or None."""
    return innermost
