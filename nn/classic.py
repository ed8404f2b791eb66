"""The three classic learning rules of lecture 1: Perceptron, Adaline, logistic regression.

All three are one linear unit with a bias, ``s = b + Σ_i w_i x_i``, and differ only in
the output ``ỹ`` they compare with the label ``y``:

=====================  ==============  ==========================================
model                  ỹ               per-sample loss ``L(s, y)``
=====================  ==============  ==========================================
Perceptron (1957)      sign(s)         −(y − ỹ) s, with ỹ held constant
Adaline / LMS (1961)   s               ½ (y − s)²
logistic regression    tanh(s)         log(1 + exp(−2 y s)),  y ∈ {−1, +1}
=====================  ==============  ==========================================

and all three learn with the same rule, written with the bias as a weight on a
constant input 1::

    w_i ← w_i + η (y − ỹ) x_i          b ← b + η (y − ỹ)

because for each loss ``∂L/∂s = −(y − ỹ)``, so one gradient step
``w ← w − η ∂L/∂w = w − η (∂L/∂s) x`` is the rule. Each model has both: the
closed-form :meth:`LinearUnit.update`, and a :meth:`LinearUnit.loss` built from Values
whose autograd step is the same update (the tests check them against each other to 1e-12).

Corrections to the slides (checked numerically in ``tests/nn/test_classic.py``):

* **Perceptron** -- the slide's ``−(y − ỹ) Σ w x`` is right, as long as ``ỹ = sign(s)``
  contributes no gradient: sign is flat (``sign' = 0``), so autograd through ``ỹ``
  gives exactly ``−(y − ỹ) x``. On a mistake it equals ``2 |s|``: twice the
  perceptron criterion ``max(0, −y s)``.
* **Adaline** -- the slide's ``½ (y − ỹ)²`` with ``ỹ = s`` is right.
* **Logistic regression** -- the slide's ``−2 log(1 + exp(−y s))`` is wrong twice.
  Its sign makes the step climb the loss (a gradient *ascent* step), and even with
  the sign fixed, ``2 log(1 + exp(−y s))`` has ``∂/∂s = −2y σ(−ys) = −(y − tanh(s/2))``:
  the rule for ``ỹ = tanh(s/2)``, not ``tanh(s)``. For ``y = ±1``,
  ``y − tanh(s) = y (1 − tanh(ys)) = 2y σ(−2ys)``, and
  ``∂/∂s log(1 + exp(−2ys)) = −2y σ(−2ys)``, so the loss that gives the slide's rule
  is ``L = log(1 + exp(−2 y s))`` -- the usual logistic loss of the logit ``2s``.

Calling a model, ``model(x)``, returns the score ``s`` as a Value (like a logit in
PyTorch: its sign is the predicted class); :meth:`LinearUnit.predict` returns the number ``ỹ``.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Sequence
from typing import Any

from tapegrad import engine
from tapegrad.engine import Value

from . import _checks, losses
from .layers import check_inputs
from .module import Module

__all__ = ["LinearUnit", "Perceptron", "Adaline", "LogisticRegression", "train_rule"]

_INITS = ("zeros", "uniform")


class LinearUnit(Module):
    """A linear unit ``s = b + Σ_i w_i x_i`` trained by ``w ← w + η (y − ỹ) x``.

    Subclasses choose ``ỹ`` (:meth:`output`) and the per-sample loss
    (:meth:`criterion`). ``init="zeros"`` (the classic start) or ``"uniform"``
    (``uniform(−1, 1)`` from ``rng``, or from Python's ``random`` if ``rng`` is None).
    """

    #: True when labels must be −1 or +1.
    binary_labels = True

    def __init__(self, nin: int, init: str = "zeros", rng: random.Random | None = None) -> None:
        nin = _checks.count(nin, "nin")
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        source = _checks.random_source(rng)
        if init == "zeros":
            self.w = [Value(0.0, label=f"w{i}") for i in range(nin)]
        else:
            self.w = [Value(source.uniform(-1, 1), label=f"w{i}") for i in range(nin)]
        self.b = Value(0.0, label="b")
        self._init = init

    # -- the unit ---------------------------------------------------------------
    def forward(self, x: Sequence) -> Value:
        """The score ``s = b + Σ_i w_i x_i`` as a Value."""
        check_inputs(x, len(self.w), self)
        s = self.b
        for wi, xi in zip(self.w, x):
            s = s + wi * xi
        return s

    def score(self, x: Sequence) -> float:
        """``s = b + Σ_i w_i x_i`` as a number (no graph)."""
        check_inputs(x, len(self.w), self)
        s = self.b.data
        for wi, xi in zip(self.w, x):
            s += wi.data * _number(xi)
        return s

    def output(self, s: float) -> float:
        """``ỹ`` as a function of the score."""
        raise NotImplementedError

    def predict(self, x: Sequence) -> float:
        """``ỹ``, the output the learning rule compares with ``y``."""
        return self.output(self.score(x))

    def criterion(self, s: Value, y: float) -> Value:
        """The per-sample loss as a function of the score Value ``s`` and label ``y``."""
        raise NotImplementedError

    # -- learning ---------------------------------------------------------------
    def loss(self, x: Sequence, y: float) -> Value:
        """The per-sample loss ``L(x, y, w)`` as a Value, for autograd."""
        y = self._check_label(y)
        return self.criterion(self(x), y)

    def update(self, x: Sequence, y: float, lr: float) -> float:
        """Apply ``w ← w + η (y − ỹ) x`` and ``b ← b + η (y − ỹ)`` in closed form.

        Returns the error ``y − ỹ`` (0 means the sample taught nothing).
        """
        y = self._check_label(y)
        lr = _checks.positive(lr, "lr")
        error = y - self.predict(x)
        step = lr * error
        for wi, xi in zip(self.w, x):
            wi.data += step * _number(xi)
        self.b.data += step
        return error

    def _check_label(self, y: object) -> float:
        if isinstance(y, bool) or not isinstance(y, numbers.Real) or not math.isfinite(y):
            raise TypeError(f"label y must be a finite real number, got {type(y).__name__}: {y!r}")
        if self.binary_labels and y not in (-1, 1):
            raise ValueError(f"{type(self).__name__} labels must be -1 or +1, got {y!r}")
        return float(y)

    def config(self) -> dict[str, Any]:
        return {"nin": len(self.w), "init": self._init}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nin={len(self.w)})"


class Perceptron(LinearUnit):
    """Rosenblatt's perceptron: ``ỹ = sign(s)``, loss ``−(y − ỹ) s`` with ``ỹ`` constant.

    The rule changes the weights only on a mistake, by ``2 η y x``.
    """

    def output(self, s: float) -> float:
        return float((s > 0) - (s < 0))

    def criterion(self, s: Value, y: float) -> Value:
        return losses.perceptron_rule_loss(s, y)


class Adaline(LinearUnit):
    """Widrow and Hoff's Adaline (LMS): ``ỹ = s``, loss ``½ (y − s)²``.

    Labels may be any real number (it is linear regression, one sample at a time).
    """

    binary_labels = False

    def output(self, s: float) -> float:
        return s

    def criterion(self, s: Value, y: float) -> Value:
        return losses.adaline_loss(s, y)


class LogisticRegression(LinearUnit):
    """Logistic regression with a tanh unit: ``ỹ = tanh(s)``, loss
    ``log(1 + exp(−2 y s))`` (the slide's ``−2 log(1 + exp(−y s))`` corrected; see the
    module docstring)."""

    def output(self, s: float) -> float:
        return math.tanh(s)

    def criterion(self, s: Value, y: float) -> Value:
        return losses.logistic_loss(s, y)


def train_rule(
    model: LinearUnit,
    X: Sequence[Sequence[float]],
    y: Sequence[float],
    lr: float,
    epochs: int = 1,
    batch_size: int | None = 1,
    shuffle: bool = True,
    seed: int | None = 0,
) -> list[float]:
    """Train with the closed-form rule, no autograd; returns the mean loss per epoch.

    ``batch_size=1`` is the slides' SGD (one sample, one update), ``None`` full-batch
    gradient descent, anything else mini-batches; a batch applies the *average* of its
    samples' updates, ``w ← w + η/B Σ_p (y_p − ỹ_p) x_p``, which is the gradient step on
    the average loss. Batches are drawn exactly as :func:`tapegrad.nn.train.fit` draws them, so
    both give the same weights.
    """
    from .data import batches, check_dataset

    if not isinstance(model, LinearUnit):
        raise TypeError(
            f"train_rule needs a Perceptron, Adaline or LogisticRegression, got {model!r}"
        )
    X, y = check_dataset(X, y)
    lr = _checks.positive(lr, "lr")
    epochs = _checks.count(epochs, "epochs")
    # Every sample and label checked before the first update, so a bad one cannot
    # leave the model half-trained.
    for xi, yi in zip(X, y):
        model._check_label(yi)
        model.predict(xi)
    rng = random.Random(seed)
    history = []
    for _ in range(epochs):
        total = 0.0
        for xb, yb in batches(X, y, batch_size, shuffle=shuffle, rng=rng):
            # Errors are all computed with the weights before the batch's update.
            errors = [model._check_label(yi) - model.predict(xi) for xi, yi in zip(xb, yb)]
            with engine.no_grad():
                total += sum(model.criterion(model(xi), float(yi)).data for xi, yi in zip(xb, yb))
            scale = lr / len(xb)
            for xi, error in zip(xb, errors):
                step = scale * error
                for wi, xij in zip(model.w, xi):
                    wi.data += step * xij
                model.b.data += step
        history.append(total / len(X))
    return history


def _number(x: Value | float) -> float:
    return x.data if isinstance(x, Value) else float(x)
