"""Optimizers: how a gradient becomes a change of the parameters.

After ``loss.backward()`` every parameter ``w`` holds ``g = ∂loss/∂w`` in ``w.grad``;
``optimizer.step()`` changes ``w.data`` and ``optimizer.zero_grad()`` clears the
gradients before the next backward pass (leaves accumulate gradients): as in PyTorch,
to "no gradient" (None), which ``.grad`` reads as 0.0. The formulas
are PyTorch's, so the same hyperparameters give the same steps:

SGD, with weight decay ``λ`` and momentum ``μ``::

    g ← g + λ w
    v ← μ v + g            (v = g on the first step)
    w ← w − η v

Adam (Kingma & Ba, 2015), at step ``t = 1, 2, ...``::

    g ← g + λ w
    m ← β₁ m + (1 − β₁) g            v ← β₂ v + (1 − β₂) g²
    m̂ = m / (1 − β₁ᵗ)                v̂ = v / (1 − β₂ᵗ)
    w ← w − η m̂ / (√v̂ + ε)

The learning rate ``lr`` is a plain attribute: change it between steps to schedule it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Protocol

from tapegrad.engine import Value

__all__ = ["Optimizer", "SGD", "Adam", "HasParameters"]


class HasParameters(Protocol):
    """What an optimizer takes besides a list of Values: a Module, or anything with
    ``parameters()``."""

    def parameters(self) -> Iterable[Value]: ...


def _hyper(value: object, name: str, low: float, high: float, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    ok = math.isfinite(value) and (low < value if open_low else low <= value) and value < high
    if not ok:
        left = "(" if open_low else "["
        raise ValueError(f"{name} must be in {left}{low}, {high}), got {value!r}")
    return value


class Optimizer:
    """Holds a list of parameters; subclasses define :meth:`step`.

    ``params`` is a list of Values or anything with ``.parameters()`` (a Module).
    """

    def __init__(self, params: Iterable[Value] | HasParameters, lr: float) -> None:
        # what a caller passed is checked here, whatever its static type said
        given: object = params
        parameters = getattr(given, "parameters", None)
        if callable(parameters):
            given = parameters()
        if isinstance(given, Value):
            raise TypeError("params must be a list of Values, got a single Value; wrap it: [w]")
        if not isinstance(given, Iterable):
            raise TypeError(
                f"params must be a list of Values or a Module, got {type(given).__name__}"
            )
        values: list[Value] = []
        seen: set[int] = set()
        for p in given:
            if not isinstance(p, Value):
                raise TypeError(f"params must be Values, got {type(p).__name__}: {p!r}")
            if not p.is_leaf:
                raise ValueError(
                    f"params must be leaves (inputs, parameters), got {p!r}, the result of "
                    f"op {p.op!r}: an optimizer changes .data, which an op's result does not own"
                )
            if id(p) in seen:
                raise ValueError(
                    f"parameter {p!r} appears twice in params (a weight shared by two "
                    "neurons, listed by each?): its step would be taken twice; list every "
                    "Value once, e.g. list(dict.fromkeys(model.parameters()))"
                )
            seen.add(id(p))
            values.append(p)
        if not values:
            raise ValueError("the optimizer got an empty list of parameters")
        self.params: list[Value] = values
        self.lr = _hyper(lr, "lr", 0.0, math.inf, open_low=True)

    def zero_grad(self) -> None:
        """Clear every parameter's gradient, as PyTorch does: no gradient (None), which
        ``.grad`` reads as 0.0; the next ``backward`` starts each sum at its first
        contribution."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError

    def _grads(self) -> list[float]:
        """Every parameter's gradient, checked before any parameter changes: a step
        either updates all parameters or none."""
        grads = [p.grad for p in self.params]
        for i, g in enumerate(grads):
            if type(g) is not float and (isinstance(g, bool) or not isinstance(g, numbers.Real)):
                raise TypeError(
                    f"parameter {i} ({self.params[i]!r}) has a gradient that is not a number: "
                    f"{type(g).__name__} {g!r}; no parameter was changed"
                )
        return grads

    def _lr(self) -> float:
        # lr may be reassigned between steps (schedules); check it when it is used.
        return _hyper(self.lr, "lr", 0.0, math.inf, open_low=True)


class SGD(Optimizer):
    """Stochastic gradient descent ``w ← w − η g``, with optional momentum and weight
    decay (PyTorch's formulas; see the module docstring)."""

    def __init__(
        self,
        params: Iterable[Value] | HasParameters,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _hyper(momentum, "momentum", 0.0, 1.0)
        self.weight_decay = _hyper(weight_decay, "weight_decay", 0.0, math.inf)
        self._velocity: list[float] | None = None

    def step(self) -> None:
        lr, mu, decay = self._lr(), self.momentum, self.weight_decay
        grads = self._grads()
        if mu == 0.0 and decay == 0.0:
            for p, g in zip(self.params, grads):
                p.data -= lr * g
            return
        grads = [g + decay * p.data for p, g in zip(self.params, grads)]
        if mu:
            if self._velocity is None:
                self._velocity = grads
            else:
                self._velocity = [mu * v + g for v, g in zip(self._velocity, grads)]
            grads = self._velocity
        for p, g in zip(self.params, grads):
            p.data -= lr * g

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}, "
            f"{len(self.params)} parameters)"
        )


class Adam(Optimizer):
    """Adam: per-parameter steps scaled by running averages of ``g`` and ``g²``
    (PyTorch's formulas, bias-corrected; see the module docstring)."""

    def __init__(
        self,
        params: Iterable[Value] | HasParameters,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_hyper(betas[0], "beta1", 0.0, 1.0), _hyper(betas[1], "beta2", 0.0, 1.0))
        self.eps = _hyper(eps, "eps", 0.0, math.inf, open_low=True)
        self.weight_decay = _hyper(weight_decay, "weight_decay", 0.0, math.inf)
        self.t = 0
        self._m = [0.0] * len(self.params)
        self._v = [0.0] * len(self.params)

    def step(self) -> None:
        lr, (beta1, beta2), eps, decay = self._lr(), self.betas, self.eps, self.weight_decay
        self.t += 1
        correction1 = 1.0 - beta1**self.t
        correction2 = 1.0 - beta2**self.t
        m, v = self._m, self._v
        for i, (p, g) in enumerate(zip(self.params, self._grads())):
            if decay:
                g = g + decay * p.data
            m[i] = beta1 * m[i] + (1.0 - beta1) * g
            v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
            p.data -= lr * (m[i] / correction1) / (math.sqrt(v[i] / correction2) + eps)

    def __repr__(self) -> str:
        return (
            f"Adam(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
            f"weight_decay={self.weight_decay}, {len(self.params)} parameters)"
        )
