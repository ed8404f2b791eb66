"""tapegrad's engine: scalar reverse-mode automatic differentiation on a dynamic tape.

A :class:`Value` records its parents and the local derivative with respect to each
of them as every op runs; :meth:`Value.backward` walks the graph in reverse
topological order and applies the chain rule one edge at a time. Every primitive is
one row of :data:`OPS`.

    >>> from tapegrad.engine import Value
    >>> x = Value(2.0, label="x")
    >>> y = (x * x + 1).tanh()
    >>> y.backward()
    >>> round(x.grad, 6)
    0.000726
"""

from . import _dot
from ._costs import cost_scope, mark_parameters
from .autodiff import grad, hessian, hvp, jacobian, jvp, vjp
from .export import to_torch
from .expr import ExpressionError, parse_expression
from .formulas import safe_pow
from .functional import *  # noqa: F403  (exp, log, tanh, ... generated from the table)
from .functional import __all__ as _functional_names
from .gradcheck import (
    GradcheckError,
    GradcheckReport,
    GradcheckRow,
    gradcheck,
    numerical_grad,
    numerical_jacobian,
)
from .graph import topological_order
from .lift import LiftError, lift
from .modes import (
    AnomalyError,
    Scope,
    current_scope,
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    scope,
    set_detect_anomaly,
)
from .ops import OPS, Op
from .program import GraphChangedError, ReplayError
from .replay import CompiledStep, Replay, compile, record
from .steps import BackwardStep, backprop_steps
from .tape import Tape, TapeEntry, tape
from .trace import TracedReadError
from .value import Value, zero_grad
from .vmap import BatchedStep, BatchingError, vmap

# Drawing imports graphviz: it loads on first use (engine.draw(...)), so the core
# engine imports fast and works without it.
_DRAWING = (
    "draw",
    "draw_steps",
    "save_graph",
    "save_steps",
    "BackpropSteps",
    "GraphDrawing",
    "GraphTooLargeError",
    "DotNotFoundError",
)


# A lifted program's block diagram (engine.block_diagram) imports graphviz too.
_DIAGRAM = ("draw_program",)

# graphviz.Digraph code written for micrograd (draw_dot) finds the bundled dot.
_dot.install()


def __getattr__(name: str):
    if name in _DIAGRAM:
        from . import block_diagram

        return getattr(block_diagram, name)
    if name in _DRAWING:
        from . import drawing

        return getattr(drawing, name)
    raise AttributeError(f"module 'tapegrad.engine' has no attribute {name!r}")


__all__ = [
    "Value",
    "OPS",
    "Op",
    "safe_pow",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "scope",
    "Scope",
    "current_scope",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "AnomalyError",
    "zero_grad",
    "topological_order",
    "BackwardStep",
    "backprop_steps",
    "tape",
    "Tape",
    "TapeEntry",
    "compile",
    "record",
    "Replay",
    "CompiledStep",
    "GraphChangedError",
    "TracedReadError",
    "ReplayError",
    "vmap",
    "BatchedStep",
    "BatchingError",
    "lift",
    "LiftError",
    "to_torch",
    "numerical_grad",
    "numerical_jacobian",
    "gradcheck",
    "GradcheckError",
    "GradcheckReport",
    "GradcheckRow",
    "jacobian",
    "vjp",
    "grad",
    "hessian",
    "hvp",
    "jvp",
    "parse_expression",
    "ExpressionError",
    "cost_scope",
    "mark_parameters",
    *_DRAWING,
    *_DIAGRAM,
    *_functional_names,
]
