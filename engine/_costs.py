"""Which Values are costs and which are parameters, for the drawings.

In the course's block diagrams a red square is a cost or an energy: a scalar-valued
function (C, the loss) with an implicit output and no outgoing arrow. Nothing in a
graph says which of its ops compute a cost, so code says it: the ops made inside
``with cost_scope("mse"):`` compute the cost ``mse`` (every loss of
:mod:`tapegrad.nn.losses` runs in one), and the blocks view draws them as one red
square named ``mse``. ``draw(costs=[...])`` marks costs by hand. A neuron's tanh, or
the last op of a formula, is not a cost.

A cost scope is an ordinary :func:`tapegrad.engine.scope` whose *name* is registered
here; the registry holds names only, so it never keeps a graph alive.

Parameters (the ``w`` of ``G(x, w)``, implicit in the block) are leaves too, and
nothing in a graph tells them from inputs either: :func:`mark_parameters` says so
(every :class:`tapegrad.nn.Module` marks its parameters when first called), and the
blocks view then draws them inside their blocks rather than as observed inputs. The
registry holds weak references: it never keeps a parameter alive.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Scope, Value, scope

__all__ = ["cost_scope", "is_cost_scope", "cost_scope_of", "mark_parameters", "is_parameter"]

_COST_NAMES: set[str] = set()
_PARAMETERS: weakref.WeakSet = weakref.WeakSet()


def cost_scope(name: str) -> scope:
    """A scope whose ops compute the cost ``name`` (``with cost_scope("mse"): ...``).

    Drawn as one red square labelled ``name`` in the blocks view. Every scope with a
    name registered this way is a cost scope. Raises TypeError unless ``name`` is a
    non-empty str.
    """
    from . import scope  # the engine's, once the package is imported

    if not isinstance(name, str) or not name:
        raise TypeError(f"cost scope name must be a non-empty str, got {name!r}")
    _COST_NAMES.add(name)
    return scope(name)


def is_cost_scope(s: Scope) -> bool:
    """True if ``s`` was entered as a :func:`cost_scope`."""
    return s.name in _COST_NAMES


def cost_scope_of(node: Value) -> Scope | None:
    """The outermost cost scope ``node`` was computed in, or None."""
    s = node.scope
    if s is None or not _COST_NAMES:
        return None
    return next((c for c in s.chain() if c.name in _COST_NAMES), None)


def mark_parameters(values) -> None:
    """Mark leaf Values as parameters (learned weights) for the drawings.

    ``draw(root)`` without ``params=`` or ``observed=`` draws marked leaves as the
    implicit ``w`` of their blocks and every other leaf as an observed input.
    Raises TypeError for anything but leaf Values (nothing is marked then).
    """
    from . import Value

    values = list(values)
    for v in values:
        if not isinstance(v, Value) or not v.is_leaf:
            raise TypeError(f"mark_parameters expects leaf Values, got {type(v).__name__}: {v!r}")
    _PARAMETERS.update(values)


def is_parameter(v: Value) -> bool:
    """True if ``v`` was marked with :func:`mark_parameters`."""
    return v in _PARAMETERS
