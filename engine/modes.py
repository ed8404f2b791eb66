"""Switches that change how ops record: grad mode, anomaly detection, scopes.

They are process-wide (module globals, like PyTorch's ``no_grad`` in one thread),
and the recording code reads them once per op; ``plain`` is True in the common
case -- recording on, anomaly detection off -- so the hot path tests one flag.

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
    previous = grad_enabled
    _set(False, anomaly, innermost)
    try:
        yield
    finally:
        _set(previous, anomaly, innermost)


@contextmanager
def enable_grad() -> Iterator[None]:
    """Turn recording back on inside a :func:`no_grad` block."""
    previous = grad_enabled
    _set(True, anomaly, innermost)
    try:
        yield
    finally:
        _set(previous, anomaly, innermost)


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
    previous = anomaly
    _set(grad_enabled, True, innermost)
    try:
        yield
    finally:
        _set(grad_enabled, previous, innermost)


def check_anomaly(node, parents: tuple, local_grads: tuple) -> None:
    """Raise :class:`AnomalyError` if ``node`` (just recorded from ``parents``) made
    the first non-finite number: its result or a local derivative, from finite inputs."""
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
        global innermost
        self._previous.append(innermost)
        innermost = Scope(self.name, innermost)
        for module in _followers:  # _set, inlined: nn enters a scope per module call
            module._scope = innermost
        return innermost

    def __exit__(self, *exc_info: object) -> None:
        global innermost
        innermost = self._previous.pop()
        for module in _followers:
            module._scope = innermost


def current_scope() -> Scope | None:
    """The innermost active scope, or None."""
    return innermost
