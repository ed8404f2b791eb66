"""Loss functions on Values: what training makes small.

A per-sample loss ``L(x, y, w)`` compares a model's output on ``x`` with the label
``y``; training minimises the average over a set of ``P`` samples (the slides'
``𝓛(S, w) = 1/P Σ_p L(x[p], y[p], w)``, :func:`average_loss`).

Label conventions: margin losses (:func:`hinge`, :func:`perceptron_criterion`,
:func:`logistic_loss`, the classic rules' losses) take ``y ∈ {−1, +1}`` and a real
score ``s`` whose sign is the prediction; :func:`binary_cross_entropy` and
:func:`binary_cross_entropy_with_logits` take ``y ∈ [0, 1]`` (a probability, so soft
labels too) *or* ``y = −1``, read as 0: the two-class datasets' ``±1`` labels work
unchanged (``+1`` means class 1 in both conventions, ``−1`` means class 0), as
:func:`tapegrad.nn.data.to_01` would convert them; :func:`softmax_cross_entropy` takes a
class index ``0..K−1`` and a list of ``K`` logits.

Every function builds its result from the engine's ops, so ``loss.backward()`` gives
its gradient; the ones that exponentiate are written so that no intermediate
overflows (``softplus`` and ``log_sum_exp`` shift by a constant first).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import ParamSpec, Protocol, TypeGuard, cast

from tapegrad.engine import Value, cost_scope, trace

from . import _checks

__all__ = [
    "mse",
    "hinge",
    "perceptron_criterion",
    "perceptron_rule_loss",
    "adaline_loss",
    "logistic_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "softmax_cross_entropy",
    "softmax",
    "log_sum_exp",
    "maximum",
    "softplus",
    "l2",
    "mean",
    "average_loss",
    "LOSSES",
    "COST_NAMES",
    "Loss",
]


#: How the drawings name a cost whose function name is snake_case: the red square's
#: label (its cost scope), readable on a slide. Other costs are named by their function.
COST_NAMES = {
    "perceptron_criterion": "perceptron criterion",
    "perceptron_rule_loss": "perceptron loss",
    "adaline_loss": "Adaline loss",
    "logistic_loss": "logistic loss",
    "binary_cross_entropy": "binary cross-entropy",
    "binary_cross_entropy_with_logits": "binary cross-entropy",
    "softmax_cross_entropy": "cross-entropy",
}


_P = ParamSpec("_P")


class Loss(Protocol[_P]):
    """What the losses of this module are (:data:`LOSSES`): functions with their own
    parameters, returning a Value built inside a cost scope, and ``cost_name``, that
    scope's name (how drawings label the cost's red square)."""

    cost_name: str

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> Value: ...


def _cost(loss: Callable[_P, Value]) -> Loss[_P]:
    """Run ``loss`` inside a cost scope named after it (:data:`COST_NAMES`, else its
    function name), so that drawings show it as the course's red square (``C``) with
    its inputs, not as the ops inside it. The name is the wrapper's ``cost_name``."""
    name = COST_NAMES.get(loss.__name__, loss.__name__)
    cost_scope(name)  # registers the name; entering it per call costs one scope

    @functools.wraps(loss)
    def scoped(*args: _P.args, **kwargs: _P.kwargs) -> Value:
        with cost_scope(name):
            return loss(*args, **kwargs)

    # a function with an attribute: what Loss describes, which mypy cannot infer
    cost = cast("Loss[_P]", scoped)
    cost.cost_name = name
    return cost


# -- argument checks --------------------------------------------------------------


def _as_value(x: object, what: str) -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{what} must be a Value or a real number, got {type(x).__name__}: {x!r}")
    return Value(float(x))


def _real(y: object, what: str) -> float:
    return _checks.real(y.data if isinstance(y, Value) else y, what)


# A Value label's number is checked with trace.require, not read: a batched step
# (engine.vmap) then checks it on every sample, as building each graph would.


def _finite(y: Value, what: str, holds=trace.finite, wrong=None) -> Value:
    """Require ``y``'s number to be finite and, if given, ``holds`` (a test that implies
    finite), one check: ``wrong(number)`` is the message for a finite number that fails."""

    def message(number: float) -> str:
        if wrong is not None and trace.finite(number):
            return wrong(number)
        return f"{what} must be finite, got {number!r}"

    trace.require(y, holds, message)
    return y


def _label(y: object, what: str) -> Value | float:
    """A label or target: a number (checked, as a float: a constant of the graph), or
    a Value (its number checked; the Value kept, so the loss reads it as an operand --
    a batched step, :func:`tapegrad.engine.vmap`, passes labels as per-sample Values)."""
    return _finite(y, what) if isinstance(y, Value) else _checks.real(y, what)


def _probability_label(y: object, loss: str) -> Value | float:
    """A label for binary cross-entropy: ``y ∈ [0, 1]``, or ``−1`` read as 0 (for a
    Value label, by ``relu``: the same number, and the same for every label)."""

    def wrong(number: float) -> str:
        return f"{loss} needs a label y in [0, 1] (or -1, read as 0, for ±1 labels), got {number!r}"

    if isinstance(y, Value):
        _finite(y, "label y", lambda n: (n == -1.0) | ((0.0 <= n) & (n <= 1.0)), wrong)
        return y.relu()
    number = _checks.real(y, "label y")
    if number != -1.0 and not 0.0 <= number <= 1.0:
        raise ValueError(wrong(number))
    return 0.0 if number == -1.0 else number


def _pm1(y: object) -> Value | float:
    def wrong(number: float) -> str:
        return f"label y must be -1 or +1 for this loss, got {number!r}"

    if isinstance(y, Value):
        return _finite(y, "label y", lambda n: (n == -1.0) | (n == 1.0), wrong)
    number = _checks.real(y, "label y")
    if number not in (-1.0, 1.0):
        raise ValueError(wrong(number))
    return number


# -- building blocks --------------------------------------------------------------


def softplus(z: Value | float, beta: float = 1.0, threshold: float | None = 20.0) -> Value:
    """``softplus(z) = (1/β) log(1 + e^{βz})``, as ``torch.nn.functional.softplus(z, beta,
    threshold)`` computes it in float64: ``z`` itself where ``βz > threshold``, else
    ``log1p(exp(βz)) / β``. Its derivative, as PyTorch's ``softplus_backward``
    (derivatives.yaml: ``self: softplus_backward(grad, self, beta, threshold)``), is 1
    where ``βz > threshold``, else ``σ(βz) = e^{βz} / (e^{βz} + 1)``.

    Equal to PyTorch 2.13.0 bit for bit in value and within 4 ulp in derivative (the
    chain rule rounds ``(1 / (1 + e)) · e`` where PyTorch rounds ``e / (e + 1)``), at
    every logit and for every gradient arriving, ``±inf`` and ``nan`` included
    (``tests/nn/test_losses_golden.py``), also where PyTorch's formula overflows: with
    a threshold above ``709.78 / β``, ``e^{βz}`` is inf below it (value inf, derivative
    nan), as in PyTorch.

    The choice ``βz > threshold`` is made by ops, not by reading the number -- the
    selector ``h = relu(sign(βz − threshold))`` has no gradient (sign's derivative is a
    masked zero), and ``a ** h`` is ``a`` or exactly 1, its derivative masked where
    ``h = 0`` -- so the graph is the same for every ``z`` (a batched step,
    :func:`tapegrad.engine.vmap`, needs that) and the branch not taken contributes an
    exact 0 to the gradient, even where it is inf.

    ``threshold=None``: no threshold, evaluated without overflow as
    ``(relu(βz) + log1p(e^{−|βz|})) / β`` = PyTorch's ``-logsigmoid(-βz) / β``: keeps
    the ``log1p(e^{−βz})`` term that the threshold drops (``2.06e-9`` at ``z = 20``),
    finite everywhere; :func:`logistic_loss` uses it. ``log1p``, not ``log(1 + ·)``:
    ``1 + e^{−40}`` rounds to 1 (issue 18 item 3). Within 4 ulp of PyTorch's
    ``-logsigmoid`` over the whole float range.

    Raises ``TypeError`` for a ``z`` that is not a Value or a real number, or a
    ``beta``/``threshold`` that is not a real number (bools refused), and
    ``ValueError`` for a ``beta`` that is not finite and positive or a nan threshold.
    """
    beta = _checks.positive(beta, "softplus: beta")
    if threshold is not None:
        threshold = _checks.ordered(threshold, "softplus: threshold")
    z = _as_value(z, "softplus input")
    u = z if beta == 1.0 else beta * z
    if threshold is None:
        out = u.relu() + _softplus_tail(u)  # relu(u) last: backward adds its part to u first
        return out if beta == 1.0 else out / beta
    h = (u - threshold).sign().relu()  # 1 where βz > threshold, else 0; no gradient
    keep = 1.0 - h
    # The branch not taken reads the threshold instead of u, so that nothing overflows
    # there (for a threshold up to 709.78), and u ** 0 masks the gradient back through it.
    soft = (u**keep * threshold**h).exp().log1p()
    return z**h * (soft if beta == 1.0 else soft / beta) ** keep


def _softplus_tail(z: Value) -> Value:
    """``log1p(e^{−|z|})``, the same graph for every ``z``: ``−|z|`` is ``s · z`` with
    ``s = 1 − 2 relu(sign z)`` (−1 where z > 0, else +1), a selector with no gradient
    (sign's derivative is a masked zero), so ``d(s z)/dz`` is ``s`` -- +1 at z = 0,
    where ``|z|`` has none. Plus ``relu(z)`` it is softplus without a threshold: for
    ``z > 0``, ``z + log1p(e^{−z})``, the same function, whose ``e^{−z}`` cannot
    overflow."""
    s = 1.0 - 2.0 * z.sign().relu()  # -1 where z > 0, else +1; no gradient
    return (s * z).exp().log1p()  # log(1 + e^-|z|), exact for tiny e^-|z|


def maximum(values: Sequence[Value | float]) -> Value:
    """``max_k v_k`` as a node: exactly the largest number, selected by ops alone.

    Each step keeps ``m`` or takes ``v`` as ``m · (1 − h) + v · h`` with the selector
    ``h = relu(sign(v − m))`` (1 where ``v > m``, else 0; no gradient: sign's
    derivative is a masked zero), which is ``m`` or ``v`` exactly for finite inputs.
    The gradient goes to the largest input (the first of equal ones), as PyTorch's
    ``max`` does. No op depends on which input is largest, so the graph is the same
    for all inputs (a batched step, :func:`tapegrad.engine.vmap`, needs that).
    """
    vs = _as_values(values, "maximum")
    m = vs[0]
    for v in vs[1:]:
        h = (v - m).sign().relu()
        m = m * (1.0 - h) + v * h
    return m


def _shift(vs: list[Value], what: str) -> Value:
    """The shift of a stable log-sum-exp: the max as a node (see :func:`maximum`).

    Raises ``ValueError`` for an input that is not finite, wherever it is: the
    selection of :func:`maximum` multiplies ``±inf`` by 0 (nan), and Python's ``max``
    skips a nan that is not first, so checking only the largest let ``[1, nan]`` and
    ``[-inf, 1]`` through as a silent nan."""
    for k, v in enumerate(vs):
        trace.require(v, trace.finite, _not_finite(what, k))
    return maximum(vs)


def _not_finite(what: str, k: int) -> Callable[[float], str]:
    """The message of :func:`_shift`'s check of input ``k``."""
    return lambda n: f"{what} needs finite inputs, got {n!r} at position {k}"


def _not_a_probability(number: float) -> str:
    return f"softmax_cross_entropy: class probabilities must be in [0, 1], got {number!r}"


def log_sum_exp(values: Sequence[Value | float]) -> Value:
    """``log Σ_k e^{v_k}``, stable: ``m + log Σ_k e^{v_k − m}`` with ``m = max_k v_k``.

    Every ``e^{v_k − m} ≤ 1`` cannot overflow. ``m`` is a node (:func:`maximum`), not
    a number read from ``.data``, so the graph is the same for every input (batched
    steps need that); the value is the same number as with ``m`` a constant. Its
    gradient is ``softmax(v)``: the path through ``m`` adds
    ``(1 − Σ_k softmax(v)_k)`` to the largest input, zero but for rounding (a few
    ulp of the gradient).
    """
    vs = _as_values(values, "log_sum_exp")
    m = _shift(vs, "log_sum_exp")
    total = (vs[0] - m).exp()
    for v in vs[1:]:
        total = total + (v - m).exp()
    return total.log() + m


def softmax(logits: Sequence[Value | float]) -> list[Value]:
    """``softmax(v)_k = e^{v_k} / Σ_j e^{v_j}`` as Values (shifted by the max, a node:
    see :func:`log_sum_exp`)."""
    vs = _as_values(logits, "softmax")
    m = _shift(vs, "softmax")
    exps = [(v - m).exp() for v in vs]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    return [e / total for e in exps]


def _as_values(values: object, what: str) -> list[Value]:
    if isinstance(values, (str, bytes, Value, numbers.Number)) or not hasattr(values, "__len__"):
        raise TypeError(f"{what} expects a list of Values or numbers, got {type(values).__name__}")
    items = cast("Sequence[object]", values)
    if len(items) == 0:
        raise ValueError(f"{what} expects at least one value, got an empty list")
    return [_as_value(v, f"each input of {what}") for v in items]


# -- losses -----------------------------------------------------------------------


@_cost
def mse(pred: Value | Sequence[Value], target: float | Sequence[float]) -> Value:
    """Mean squared error ``1/K Σ_k (pred_k − target_k)²`` (one number or a list)."""
    if isinstance(pred, (Value, numbers.Real)) and not isinstance(pred, bool):
        return (_as_value(pred, "pred") - _label(target, "target")) ** 2
    preds = _as_values(pred, "mse")
    if isinstance(target, (str, bytes)) or not hasattr(target, "__len__"):
        raise TypeError(f"mse: target must be a list like pred, got {type(target).__name__}")
    targets = cast("Sequence[float]", target)
    if len(targets) != len(preds):
        raise ValueError(f"mse: {len(preds)} predictions but {len(targets)} targets")
    total = (preds[0] - _label(targets[0], "target")) ** 2
    for p, t in zip(preds[1:], targets[1:]):
        total = total + (p - _label(t, "target")) ** 2
    return total * (1.0 / len(preds))


@_cost
def hinge(score: Value, y: float, margin: float = 1.0) -> Value:
    """Hinge / max-margin loss ``max(0, margin − y s)``, y ∈ {−1, +1}.

    Written as micrograd's demo writes it, ``(1 + -y*score).relu()``, so the two give
    identical numbers. ``∂/∂s = −y`` while the margin is violated, else 0.
    """
    label = _pm1(y)
    return (_real(margin, "margin") + -label * _as_value(score, "score")).relu()


@_cost
def perceptron_criterion(score: Value, y: float) -> Value:
    """The perceptron criterion ``max(0, −y s)``: zero when the sign is right."""
    return (-_pm1(y) * _as_value(score, "score")).relu()


@_cost
def perceptron_rule_loss(score: Value, y: float) -> Value:
    """The slide's perceptron loss ``−(y − ỹ) s`` with ``ỹ = sign(s)``.

    ``sign`` is flat, so autograd gives ``∂L/∂s = −(y − ỹ)``: one SGD step is the
    perceptron rule. On a mistake it is ``2 |s|``, twice :func:`perceptron_criterion`.
    """
    label = _pm1(y)
    s = _as_value(score, "score")
    return -(label - s.sign()) * s


@_cost
def adaline_loss(score: Value, y: float) -> Value:
    """Adaline's (LMS) loss ``½ (y − s)²``; ``∂L/∂s = −(y − s)``."""
    label = _label(y, "label y")
    return 0.5 * (label - _as_value(score, "score")) ** 2


@_cost
def logistic_loss(score: Value, y: float) -> Value:
    """The lecture's logistic loss, corrected: ``log(1 + exp(−2 y s))``, y ∈ {−1, +1}.

    ``∂L/∂s = −2y σ(−2ys) = −(y − tanh(s))``, so one SGD step is the rule
    ``w ← w + η (y − tanh(s)) x``. (The slide's ``−2 log(1 + exp(−y s))`` has the wrong
    sign and gives ``tanh(s/2)``; see :mod:`tapegrad.nn.classic`.) Computed with
    :func:`softplus`, so large scores do not overflow.
    """
    label = _pm1(y)
    return softplus(-2.0 * label * _as_value(score, "score"), threshold=None)


@_cost
def binary_cross_entropy(p: Value, y: float, eps: float = 1e-12) -> Value:
    """``−[y log p + (1 − y) log(1 − p)]`` for a probability ``p`` and ``y ∈ [0, 1]``
    (PyTorch's ``binary_cross_entropy``); ``y = −1`` is read as 0, so ``±1`` labels work.

    ``p`` is clipped to ``[eps, 1 − eps]`` (as a constant shift, so the gradient is
    kept) to keep the log finite; from a logit, prefer
    :func:`binary_cross_entropy_with_logits`, which needs no clipping.
    Raises ``ValueError`` for a label outside ``[0, 1] ∪ {−1}`` or ``p`` outside
    ``[0, 1]``. The clipping and the label's terms depend on the numbers, so this
    loss builds a different graph for different samples: a batched step
    (:func:`tapegrad.engine.vmap`) refuses it; a Value label is read as its number.
    """
    label = _probability_label(y.data if isinstance(y, Value) else y, "binary_cross_entropy")
    assert not isinstance(label, Value)  # a number label gives a number
    p = _as_value(p, "probability p")
    if not 0.0 <= p.data <= 1.0:
        raise ValueError(f"binary_cross_entropy needs a probability p in [0, 1], got {p.data!r}")
    # Shifting by a constant keeps d/dp; it only moves p off 0 and 1.
    if p.data < eps:
        p = p + (eps - p.data)
    elif p.data > 1.0 - eps:
        p = p - (p.data - (1.0 - eps))
    out = -label * p.log() if label > 0 else None
    if label < 1:
        rest = -(1.0 - label) * (1.0 - p).log()
        out = rest if out is None else out + rest
    assert out is not None  # a label in [0, 1] is > 0 or < 1
    return out


@_cost
def binary_cross_entropy_with_logits(z: Value, y: float) -> Value:
    """Binary cross-entropy of ``p = σ(z)``, stable: ``softplus(z) − y z`` (PyTorch's
    ``binary_cross_entropy_with_logits``); the loss ``--loss bce`` trains with.

    ``∂L/∂z = σ(z) − y``; ``y ∈ [0, 1]``, or ``y = −1`` read as 0, so the two-class
    datasets' ``±1`` labels work unchanged: for ``y ∈ {−1, +1}`` it equals
    ``softplus(−y z)``, the logistic loss of the logit ``z``. A model trained with it
    predicts class +1 where ``z > 0`` (``p > ½``), the sign convention of every
    two-class loss here. Raises ``ValueError`` for a label outside ``[0, 1] ∪ {−1}``.
    """
    label = _probability_label(y, "binary_cross_entropy_with_logits")
    logit = _as_value(z, "logit z")
    # PyTorch's (1 − y) z − logsigmoid(z), logsigmoid(z) = min(z, 0) − log1p(e^{−|z|}),
    # is (1 − y) z + (relu(−z) + log1p(e^{−|z|})), rounding for rounding. softplus(z) − y z
    # cancelled: at z = 40, y = 1 it gave (40 + 4e-18) − 40 = 0.
    minus = -logit
    # −|z| as s z, s = −1 where z >= 0 (or nan), else +1: at z = 0, d(s z)/dz = −1
    # matches relu(−z)'s 0 there (the derivative σ(0) − y).
    s = 2.0 * minus.sign().relu() - 1.0
    tail = (s * logit).exp().log1p()
    return (1.0 - label) * logit + (minus.relu() + tail)


@_cost
def softmax_cross_entropy(logits: Sequence[Value], target: int | Sequence[Value | float]) -> Value:
    """``−log softmax(v)_t = log Σ_k e^{v_k} − v_t`` for the class index ``t``.

    ``∂L/∂v_k = softmax(v)_k − [k = t]``; stable through :func:`log_sum_exp`.

    ``target`` may also be ``K`` class probabilities ``p`` (numbers or Values; a
    one-hot row for a class index), as PyTorch's ``cross_entropy`` accepts:
    ``−Σ_k p_k log softmax(v)_k = Σ_k p_k (lse(v) − v_k)``. For a one-hot ``p`` that
    is the same number and the same gradient as the index form, and the graph does
    not depend on the class, so a batched step (:func:`tapegrad.engine.vmap`) takes
    labels as one-hot Values.
    """
    vs = _as_values(logits, "softmax_cross_entropy")
    if not isinstance(target, (bool, numbers.Number, str, bytes, Value)) and hasattr(
        target, "__len__"
    ):
        target = cast("Sequence[Value | float]", target)
        if len(target) != len(vs):
            raise ValueError(
                f"softmax_cross_entropy: {len(vs)} logits but {len(target)} class "
                "probabilities in the target"
            )
        probabilities = [_label(p, "each class probability of the target") for p in target]
        for p in probabilities:
            if isinstance(p, Value):
                trace.require(p, lambda n: (0.0 <= n) & (n <= 1.0), _not_a_probability)
            elif not 0.0 <= p <= 1.0:
                raise ValueError(_not_a_probability(p))
        lse = log_sum_exp(vs)
        total = probabilities[0] * (lse - vs[0])
        for p, v in zip(probabilities[1:], vs[1:]):
            total = total + p * (lse - v)
        return total
    if isinstance(target, bool) or not isinstance(target, numbers.Integral):
        raise TypeError(
            f"softmax_cross_entropy: target must be a class index (int) or a list of "
            f"class probabilities, got {type(target).__name__}: {target!r}"
        )
    if not 0 <= target < len(vs):
        raise ValueError(
            f"softmax_cross_entropy: target {target} is not a class index 0..{len(vs) - 1}"
        )
    return log_sum_exp(vs) - vs[int(target)]


@_cost  # a regulariser is a cost term too: a red square R(w) in the course's figures
def l2(parameters: Sequence[Value], alpha: float = 1.0) -> Value:
    """L2 regularisation ``α Σ_i w_i²`` (micrograd's demo uses α = 1e-4)."""
    alpha = _real(alpha, "alpha")
    ps = _as_values(list(parameters), "l2")
    total = ps[0] * ps[0]
    for p in ps[1:]:
        total = total + p * p
    return alpha * total


def mean(values: Sequence[Value]) -> Value:
    """``1/P Σ_p v_p``: the average of per-sample losses."""
    vs = _as_values(values, "mean")
    total = vs[0]
    for v in vs[1:]:
        total = total + v
    return total * (1.0 / len(vs))


def average_loss(
    loss: Callable[..., Value],
    model: Callable,
    X: Sequence,
    y: Sequence,
) -> Value:
    """The slides' average loss over a set, ``𝓛(S, w) = 1/P Σ_p L(model(x[p]), y[p])``.

    Every plain number of sample ``p``'s input becomes a leaf Value named as the slides
    name it, so that a drawing tells the samples apart: ``x[p]`` (``x[p]₀``,
    ``x[p]₁``, ... for a list). A label goes to a loss of this module as a leaf Value
    named ``y[p]`` too (they all read a Value label; a class index for
    :func:`softmax_cross_entropy` stays an int). A loss of your own gets ``y[p]`` as
    given, as :func:`tapegrad.nn.fit` and a hand-written ``loss(model(x), y)`` pass it,
    so a micrograd-style loss may test it (``if y == 1``: on a Value ``==`` is node
    identity) or index with it (a class index). Values given are used as they are.

    The result is labelled ``𝓛``, the slides' name, so that a drawing names the
    average (``d𝓛/dw0`` in its captions and derivative network) and writes it in its
    red square (``𝓛`` over ``1/P Σ``); relabel it as any Value (``.label = "L"``).

    Raises ``TypeError`` when ``loss`` or ``model`` is not callable, ``ValueError`` when
    ``X`` and ``y`` differ in length or are empty.
    """
    if not callable(loss) or not callable(model):
        raise TypeError("average_loss(loss, model, X, y): loss and model must be callable")
    if len(X) != len(y):
        raise ValueError(f"average_loss: {len(X)} inputs but {len(y)} labels")
    if len(X) == 0:
        raise ValueError("average_loss needs at least one sample")
    name_labels = loss in _VALUE_LABELS
    terms = []
    for p, (xp, yp) in enumerate(zip(X, y)):
        xp = _named_input(xp, p)
        if name_labels and _plain_number(yp):
            yp = Value(float(yp), label=f"y[{p}]")
        terms.append(loss(model(xp), yp))
    total = mean(terms)
    total.label = "𝓛"
    return total


#: The per-sample losses here that read a label given as a Value (average_loss names
#: it ``y[p]`` for them); softmax_cross_entropy takes a class index instead.
_VALUE_LABELS = frozenset(
    {
        mse,
        hinge,
        perceptron_criterion,
        perceptron_rule_loss,
        adaline_loss,
        logistic_loss,
        binary_cross_entropy,
        binary_cross_entropy_with_logits,
    }
)


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _plain_number(v: object) -> TypeGuard[numbers.Real]:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _named_input(xp: object, p: int) -> object:
    """Sample ``p``'s input with its plain numbers as leaves named ``x[p]`` or ``x[p]ᵢ``."""
    if _plain_number(xp):
        return Value(float(xp), label=f"x[{p}]")
    if not isinstance(xp, (list, tuple)):
        return xp
    if len(xp) == 1:
        return [Value(float(xp[0]), label=f"x[{p}]") if _plain_number(xp[0]) else xp[0]]
    return [
        Value(float(v), label=f"x[{p}]" + str(i).translate(_SUBSCRIPTS)) if _plain_number(v) else v
        for i, v in enumerate(xp)
    ]


#: Per-sample losses by name, for :func:`tapegrad.nn.train.fit` and the command line.
LOSSES: dict[str, Loss[...]] = {
    "mse": mse,
    "hinge": hinge,
    "perceptron": perceptron_criterion,
    "logistic": logistic_loss,
    "bce": binary_cross_entropy_with_logits,
    "cross_entropy": softmax_cross_entropy,
}
