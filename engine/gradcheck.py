"""Gradient checking: compare backprop with central differences.

Central differences estimate a derivative from two nearby evaluations,
``(f(x + ε) - f(x - ε)) / 2ε``, with an error of order ε². They need no graph, so
they are an independent check of every local derivative in the op table and of
the chain rule that combines them.

* :func:`numerical_grad` -- the estimate alone,
* :func:`gradcheck` -- analytic vs numerical, per input, as a report (or an error),
* :func:`numerical_jacobian` -- the Jacobian of a function with several outputs (the
  lecture's Jacobian of a functional module, ``(∂z_g/∂z_f)_ij``), to compare with
  :func:`~tapegrad.engine.autodiff.jacobian` (by reverse or forward mode) and
  :func:`~tapegrad.engine.autodiff.vjp`, which live in :mod:`tapegrad.engine.autodiff`
  and are re-exported here.

Functions take one positional argument per input and return a Value (or a
sequence of Values for the Jacobian functions); plain numbers are accepted as
outputs too.

**Which Values are checked.** Each input that is a *leaf* Value -- a parameter, or
any ``Value(2.0)`` -- is used itself: ``f`` is called with those very Values, the
central differences move their ``.data`` by ``±eps`` (and put it back), and their
gradients are computed by a backward pass that writes no ``.grad`` (a check changes
no ``.data`` and no ``.grad``). Numbers, and Values made by ops, are copied into fresh
leaves. So a model's parameters are checked by passing them, with a function that
builds the loss from the model itself and ignores its arguments::

    report = engine.gradcheck(lambda *_: average_loss(mse, model, X, y), model.parameters())

Row ``i`` of the report is ``model.parameters()[i]`` (``model.named_parameters()``
gives its name).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .autodiff import float_gradients, jacobian, leaf_arguments, output_list, vjp
from .modes import no_grad
from .value import Value, to_float

__all__ = [
    "GradcheckError",
    "GradcheckReport",
    "GradcheckRow",
    "numerical_grad",
    "gradcheck",
    "jacobian",
    "numerical_jacobian",
    "vjp",
]


def _check_eps(eps: float) -> float:
    eps = to_float(eps)
    if not (eps > 0.0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return eps


def _scalar(out: object, what: str) -> float:
    if isinstance(out, Value):
        return out.data
    try:
        return to_float(out)
    except TypeError:
        raise TypeError(
            f"{what} must return a Value or a number, got {type(out).__name__}"
        ) from None


def _evaluate(f: Callable, args: list[Value]) -> list[float]:
    with no_grad():
        return [_scalar(o, "f") for o in output_list(f(*args))]


def numerical_grad(f: Callable, inputs: Sequence[object], eps: float = 1e-6) -> list[float]:
    """Central-difference estimate of ``∂f/∂x_i`` for each input.

    ``f(*values)`` must return a scalar Value (or number). Leaf Values among the
    inputs are moved in place and restored (see the module docstring).
    """
    args = leaf_arguments(inputs)
    eps = _check_eps(eps)
    return [row[0] for row in _numerical_columns(f, args, eps, n_out=1)]


def _numerical_columns(f: Callable, args: list[Value], eps: float, n_out: int | None):
    """For each input i, the central difference of every output: J[:, i]. Each
    argument's ``.data`` is moved by ``±eps`` and always put back."""
    columns = []
    for arg in args:
        x = arg.data
        try:
            arg.data = x + eps
            hi = _evaluate(f, args)
            arg.data = x - eps
            lo = _evaluate(f, args)
        finally:
            arg.data = x
        if n_out is not None and len(hi) != n_out:
            raise ValueError(f"f must return a single scalar, got {len(hi)} outputs")
        columns.append([(a - b) / (2.0 * eps) for a, b in zip(hi, lo)])
    return columns


def numerical_jacobian(
    f: Callable, inputs: Sequence[object], eps: float = 1e-6
) -> list[list[float]]:
    """Central-difference Jacobian: ``J[i][j] ≈ ∂out_i/∂in_j``."""
    args = leaf_arguments(inputs)
    eps = _check_eps(eps)
    columns = _numerical_columns(f, args, eps, n_out=None)
    n_out = len(_evaluate(f, args))
    return [[columns[j][i] for j in range(len(args))] for i in range(n_out)]


@dataclass(frozen=True)
class GradcheckRow:
    """Analytic vs numerical derivative for one input."""

    index: int
    input: float
    analytic: float
    numerical: float
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.error <= self.tolerance or (
            self.analytic == self.numerical  # equal infinities
        )


@dataclass(frozen=True)
class GradcheckReport:
    """Per-input comparison; ``ok`` is True when every row is within tolerance."""

    rows: tuple[GradcheckRow, ...]
    eps: float
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        lines = [
            f"gradcheck (eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g}): "
            + ("ok" if self.ok else "FAILED"),
            f"{'#':>3}  {'input':>12}  {'analytic':>14}  {'numerical':>14}  {'error':>10}",
        ]
        for r in self.rows:
            flag = "" if r.ok else "  <-- mismatch"
            lines.append(
                f"{r.index:>3}  {r.input:>12.6g}  {r.analytic:>14.8g}  {r.numerical:>14.8g}  "
                f"{r.error:>10.3g}{flag}"
            )
        return "\n".join(lines)


class GradcheckError(AssertionError):
    """Backprop and central differences disagree; ``report`` has the details."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(str(report))
        self.report = report


def gradcheck(
    f: Callable,
    inputs: Sequence[object],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Check backprop's gradient of scalar ``f`` against central differences.

    An input passes when ``|analytic - numerical| <= atol + rtol·|numerical|``.
    Returns a :class:`GradcheckReport`; raises :class:`GradcheckError` carrying it if
    any input fails and ``raise_on_failure`` is true, and ``TypeError`` when ``f``
    returns anything but a Value (a number has no graph: its gradients would be 0).

    Leaf Values among ``inputs`` are checked in place -- ``f`` is called with them --
    so ``gradcheck(lambda *_: loss(model), model.parameters())`` checks a model whose
    loss is built from its own parameters; their ``.data`` and ``.grad`` are left as
    they were (see the module docstring).
    """
    leaves = leaf_arguments(inputs)
    xs = [leaf.data for leaf in leaves]
    eps = _check_eps(eps)
    atol, rtol = to_float(atol), to_float(rtol)
    if not (atol >= 0 and rtol >= 0):  # also refuses nan, which would fail every row
        raise ValueError(f"atol and rtol must be >= 0, got atol={atol!r}, rtol={rtol!r}")
    out = f(*leaves)
    if not isinstance(out, Value):
        # PyTorch's gradcheck refuses an output that does not require grad: a number has
        # no graph, so every analytic gradient would be 0 and a wrong f would pass.
        raise TypeError(
            f"gradcheck: f must return a Value (the output to differentiate), got "
            f"{type(out).__name__}: {out!r}; a number has no graph, so the check would "
            "compare zeros and pass whatever f computes"
        )
    # backprop in the pass's own storage: no .grad is written, so a leaf without a
    # gradient keeps none (one set to 0.0 and put back would turn a later -0.0 into 0.0)
    analytic = float_gradients(out, leaves)
    numerical = [row[0] for row in _numerical_columns(f, leaves, eps, n_out=1)]
    rows = []
    for i, (x, a, n) in enumerate(zip(xs, analytic, numerical)):
        err = abs(a - n)
        rows.append(GradcheckRow(i, x, a, n, err if err == err else math.inf, atol + rtol * abs(n)))
    report = GradcheckReport(tuple(rows), eps, atol, rtol)
    if raise_on_failure and not report.ok:
        raise GradcheckError(report)
    return report
