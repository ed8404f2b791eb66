"""Training: the loop that turns gradients into a model that fits its data.

One training step on a batch ``B`` of samples is the four lines every deep learning
library runs::

    loss = 1/|B| Σ_{p ∈ B} L(model(x[p]), y[p])  (+ α Σ w²)    # forward
    optimizer.zero_grad()                                      # clear old gradients
    loss.backward()                                            # backprop: ∂loss/∂w
    optimizer.step()                                           # w ← w − η ∂loss/∂w

:func:`fit` repeats it over the data for a number of epochs. ``batch_size=None`` makes
every step use the whole set (gradient descent on the average loss ``𝓛(S, w)``),
``batch_size=1`` one sample (stochastic gradient descent), anything in between
mini-batches -- the three regimes the lecture contrasts. It returns a
:class:`History`: the loss, accuracy and mistakes per epoch, the loss of every
update (the number each step computes anyway, so recording it is free), and on
request the parameters after every update (the path a small model walks over its
loss landscape). It shows a progress bar (tqdm: a text bar in a terminal, a widget
in a notebook). :mod:`tapegrad.nn.plot` draws histories.

Accuracy: for a model with one output, a sample counts as right when the sign of the
output matches the label (``out > 0`` iff ``y > 0``, which works for labels in
``{−1, +1}`` and in ``{0, 1}``); an output of exactly 0 lies on the decision boundary
and is wrong for either class (the perceptron's ``sign(0) = 0`` is a mistake it learns
from, so a perceptron's mistakes are its updates); for a model with a list of outputs,
when the largest output is at the label's index.
"""

from __future__ import annotations

import math
import numbers
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tapegrad import engine
from tapegrad.engine import Value

from . import _checks, losses
from .classic import Adaline, LogisticRegression, Perceptron
from .data import batches, check_dataset
from .layers import MLP, Layer, Neuron
from .optim import SGD, Adam, Optimizer

__all__ = [
    "fit",
    "accuracy",
    "batch_loss",
    "History",
    "format_loss",
    "format_accuracy",
    "OPTIMIZERS",
    "LEARNING_RATES",
]

#: Optimizers by name, built by :func:`fit` from ``optimizer="adam"`` and ``lr``.
OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {"sgd": SGD, "adam": Adam}

#: The learning rate of an optimizer built by name when none is given: one table, read by
#: :func:`fit` (``lr=None``) and by ``tapegrad train`` (no ``--lr``). Adam's 0.03 trains
#: the command's default MLP on two moons to 98-100% in 30 epochs of batches of 10
#: (seeds 0-9); SGD's 0.1 is the step of full-batch gradient descent on the toy sets.
LEARNING_RATES: dict[str, float] = {"sgd": 0.1, "adam": 0.03}


@dataclass
class History:
    """What happened during :func:`fit`.

    Per epoch ``e``:

    * ``accuracy[e]`` -- the fraction of the training set the model classifies right
      at the end of epoch ``e``, after its last step: what :func:`accuracy` gives
      then (one definition: ``history.accuracy[-1] == accuracy(model, X, y)`` after
      ``fit``; the progress bar and ``tapegrad train`` show it as ``99.0%``);
    * ``loss[e]`` -- the average training loss over the epoch, each batch's loss
      taken just before its step (as micrograd's demo and Keras report it: free, the
      steps compute it anyway);
    * ``mistakes[e]`` -- the samples the model got wrong during the epoch, each batch
      just before its step: for a perceptron trained one sample at a time, the number
      of updates that changed it -- its mistakes, not ``1 - accuracy[e]``.

    Per update ``k`` (one optimizer step, ``k = 0, 1, ...``):

    * ``update_loss[k]`` -- the loss of the batch the step was computed from (the
      average loss over the set for a full batch; one sample's loss for SGD: noisy);
    * ``samples_seen[k]`` -- how many samples the first ``k + 1`` steps used, so
      ``samples_seen[k] / dataset_size`` is the time in epochs;
    * ``parameters[k]`` -- only with ``fit(..., record_parameters=True)``: the
      parameters' values *before* step ``k``, with one more entry at the end for
      the trained model (``len(parameters) == updates + 1``); empty otherwise.

    ``dataset_size`` is the number of training samples, ``seconds`` the wall time;
    ``batched`` says whether the steps ran as batched replay (:func:`tapegrad.engine.vmap`).
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0
    mistakes: list[int] = field(default_factory=list, kw_only=True)
    update_loss: list[float] = field(default_factory=list, kw_only=True)
    samples_seen: list[int] = field(default_factory=list, kw_only=True)
    parameters: list[list[float]] = field(default_factory=list, kw_only=True)
    dataset_size: int = field(default=0, kw_only=True)
    batched: bool = field(default=False, kw_only=True)

    @property
    def epochs(self) -> int:
        """The number of epochs trained."""
        return len(self.loss)

    @property
    def updates(self) -> int:
        """The number of optimizer steps taken."""
        return len(self.update_loss)

    def summary(self) -> str:
        """One line, the same every run of a seeded fit (no time): the epochs, the
        loss of the first and the last epoch and the accuracy after the last, in
        :func:`format_loss` and :func:`format_accuracy`, as ``tapegrad train`` and
        the progress bar print them, e.g. ``30 epochs: loss 0.7651 -> 0.01746,
        accuracy 98.0%``."""
        if not self.loss:
            return "no epochs"
        return (
            f"{self.epochs} epochs: loss {format_loss(self.loss[0])} -> "
            f"{format_loss(self.loss[-1])}, accuracy {format_accuracy(self.accuracy[-1])}"
        )

    def __repr__(self) -> str:
        if not self.loss:
            return "History(no epochs)"
        return f"History({self.summary()}, {self.seconds:.2f} s)"


def format_loss(loss: float) -> str:
    """A loss as :class:`History`, the progress bar and ``tapegrad train`` print it:
    four significant digits (``0.7651``, ``0.01746``, ``3.2e-05``: a small loss
    does not read as ``0.0000``)."""
    return f"{loss:.4g}"


def format_accuracy(fraction: float) -> str:
    """An accuracy (a fraction in [0, 1]) as a percentage with one decimal,
    ``98.0%``, wherever tapegrad prints one."""
    return f"{fraction:.1%}"


def _number(v: Value | float) -> float:
    return v.data if isinstance(v, Value) else v


def _is_right(output: Any, target: Any) -> bool:
    # outputs are Values, or floats when the step was replayed (engine.compile)
    if isinstance(output, (Value, float)):
        s = _number(output)
        return s != 0 and (s > 0) == (target > 0)
    # a list of class scores: right when the largest is at the label's index
    best = max(range(len(output)), key=lambda k: _number(output[k]))
    return best == target


def accuracy(model: Callable, X: Sequence, y: Sequence) -> float:
    """The fraction of samples the model classifies right (see the module docstring);
    runs under :func:`tapegrad.engine.no_grad`, so it records no graph. For
    :mod:`tapegrad.nn`'s models on rows of numbers, the outputs are computed for all
    samples at once by batched replay (:func:`tapegrad.engine.vmap`, the same numbers).
    :func:`fit` records it after every epoch (``History.accuracy``)."""
    X, y = check_dataset(X, y)
    return _Accuracy(model, X, y)()


class _Accuracy:
    """:func:`accuracy` of a model on ``(X, y)``, as its parameters change: the batched
    outputs step is recorded once and run again at every call."""

    def __init__(self, model: Any, X: list, y: list) -> None:
        self.model, self.X, self.y = model, X, y
        self.outputs = _outputs_step(model, X) if len(X) >= BATCHED_MIN_BATCH else None

    def __call__(self) -> float:
        if self.outputs is not None:
            return _count_right(self.outputs(), self.y) / len(self.X)
        with engine.no_grad():
            right = sum(_is_right(self.model(xp), yp) for xp, yp in zip(self.X, self.y))
        return right / len(self.X)


def _count_right(outputs: Any, y: Sequence) -> int:
    """:func:`_is_right` over a batch: outputs of shape (B,) or (B, classes)."""
    import numpy as np

    labels = np.asarray(y)
    if outputs.ndim == 1:
        return int(np.sum((outputs != 0) & ((outputs > 0) == (labels > 0))))
    return int(np.sum(np.argmax(outputs, axis=1) == labels))


def _outputs_step(model: Any, X: list) -> Callable[[], Any] | None:
    """A function giving ``model`` on every row of ``X`` by batched replay (no
    gradients), as an array of shape (B,) or (B, classes), for the model's current
    parameters; None when the model is not nn's own or ``X`` is not rows of numbers."""
    if not _batchable(model, _default_loss):
        return None
    data = _batched_data(X, [0] * len(X))
    if data is None:
        return None
    with engine.no_grad():
        first = model(X[0])  # checks the number of inputs
    single = isinstance(first, Value)

    def outputs(x):
        out = model(x)
        if single:
            return out, out
        root = out[0]  # a root that every output is part of (watched nodes must be)
        for o in out[1:]:
            root = root + o
        return root, out

    try:
        step = engine.vmap(outputs, []).record(data[0])
    except (engine.GraphChangedError, engine.BatchingError):
        return None
    return lambda: step(data[0], reduce="sum")[1]


def _default_loss(output: Any, target: Any) -> Value:
    """Hinge loss for one output, softmax cross-entropy for a list of class scores."""
    if isinstance(output, Value):
        return losses.hinge(output, target)
    return losses.softmax_cross_entropy(output, target)


def _resolve_loss(model: Any, loss: str | Callable | None, y: list) -> Callable:
    if loss is None:
        criterion = getattr(model, "criterion", None)
        if callable(criterion):
            return criterion  # the classic rules' own losses
        return _default_loss
    if isinstance(loss, str):
        if loss not in losses.LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(losses.LOSSES)}")
        return losses.LOSSES[loss]
    if not callable(loss):
        raise TypeError(
            f"loss must be a name, a function (output, y) -> Value, or None; got {loss!r}"
        )
    return loss


def _resolve_optimizer(model: Any, optimizer: Optimizer | str, lr: float | None) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            raise ValueError("pass lr to the optimizer you built, not to fit()")
        return optimizer
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be an Optimizer or one of {', '.join(OPTIMIZERS)}; got {optimizer!r}"
        )
    if lr is None:
        lr = LEARNING_RATES[optimizer]
    return OPTIMIZERS[optimizer](model.parameters(), lr=lr)


def _show_progress(progress: bool) -> bool:
    if not progress:
        return False
    return _in_notebook() or sys.stderr.isatty()


def _in_notebook() -> bool:
    """Whether tqdm.auto picked the notebook widget (inside Jupyter; importing
    tqdm.notebook to do so). In a terminal the text bar shows only on an interactive
    stderr, not in logs or tests."""
    from tqdm.auto import tqdm as auto_tqdm

    notebook = sys.modules.get("tqdm.notebook")
    return notebook is not None and issubclass(auto_tqdm, notebook.tqdm_notebook)


def batch_loss(
    model: Callable, xb: list, yb: list, loss_fn: Callable, l2: float, params: list[Value]
) -> tuple[Value, int]:
    """The forward pass of one step: ``1/|B| Σ L(model(x), y) + l2 Σ w²`` and the
    number of samples of the batch classified right."""
    total, outputs = _batch_forward(model, xb, yb, loss_fn, l2, params)
    right = sum(_is_right(out, yp) for out, yp in zip(outputs, yb))
    return total, right


def _batch_forward(model, xb, yb, loss_fn, l2, params) -> tuple[Value, list]:
    outputs = [model(xp) for xp in xb]
    total = losses.mean([loss_fn(out, yp) for out, yp in zip(outputs, yb)])
    if l2:
        total = total + losses.l2(params, l2)
    return total, outputs


# -- batched replay: one sample's graph, run over the batch (engine.vmap) ------------
#: Per-sample losses of :mod:`tapegrad.nn.losses` whose graph is the same for every
#: sample when the label is a Value (cross-entropy takes a one-hot row): fit batches
#: them. (``binary_cross_entropy``, with its clipping, is not among them.)
_BATCHABLE_LOSSES = (
    losses.mse,
    losses.hinge,
    losses.perceptron_criterion,
    losses.perceptron_rule_loss,
    losses.adaline_loss,
    losses.logistic_loss,
    losses.binary_cross_entropy_with_logits,
    losses.softmax_cross_entropy,
)
#: Below this many samples per step fit builds the graph: numpy's cost per call
#: dominates small batches (measured, MLP(2, [8, 8, 1]) on 100 moons: building is 1.8x
#: faster at 1 sample per step, even at 2, batched replay 1.8x faster at 4, 2.7x at 8).
BATCHED_MIN_BATCH = 4
#: Every this many batched steps, fit re-traces one sample and checks the graph.
BATCHED_CHECK_EVERY = 50


def _batchable(model: Any, loss_fn: Callable) -> bool:
    """Whether ``model`` and ``loss_fn`` are nn's own, whose graphs have the same shape
    for every sample (so batched replay computes exactly what building them does)."""
    if type(model) not in (MLP, Layer, Neuron, Perceptron, Adaline, LogisticRegression):
        return False
    if loss_fn is _default_loss or loss_fn in _BATCHABLE_LOSSES:
        return True
    # the classic rules' own criteria (bound methods of the model)
    return getattr(loss_fn, "__self__", None) is model and getattr(loss_fn, "__func__", None) in (
        Perceptron.criterion,
        Adaline.criterion,
        LogisticRegression.criterion,
    )


class _Objective:
    """What fit minimises, batch by batch: ``1/|B| Σ L(model(x), y) (+ l2 Σ w²)`` over
    ``params`` (the optimizer's)."""

    def __init__(self, model: Any, loss_fn: Callable, params: list[Value], l2: float) -> None:
        self.model, self.loss_fn, self.params, self.l2 = model, loss_fn, params, l2

    def forward(self, xb: list, yb: list) -> tuple[Value, list]:
        """The batch's loss Value and the model's outputs."""
        return _batch_forward(self.model, xb, yb, self.loss_fn, self.l2, self.params)


# fit's three steps: ``step(xb, yb) -> (loss, right)`` adds the gradients of the batch's
# loss into ``.grad`` -- the same numbers whichever runs (see fit's docstring) -- and
# returns the loss and the number of samples of the batch classified right.


class _Eager:
    """Build the batch's graph, then ``backward()``."""

    batched = False

    def __init__(self, objective: _Objective) -> None:
        self.objective = objective

    def __call__(self, xb: list, yb: list) -> tuple[float, int]:
        loss, outputs = self.objective.forward(xb, yb)
        loss.backward()
        return loss.data, sum(_is_right(out, yp) for out, yp in zip(outputs, yb))


class _Replayed:
    """Record each batch's graph at its first step and replay its tape at every later
    epoch (:func:`tapegrad.engine.compile`): the batches must come in the same order
    every epoch. Every leaf gets its gradient, as ``loss.backward()`` gives them."""

    batched = False

    def __init__(self, objective: _Objective, batches_per_epoch: int) -> None:
        self.objective = objective
        self.batches_per_epoch = batches_per_epoch
        self.recorded: list[engine.CompiledStep] = []
        self.calls = 0

    def __call__(self, xb: list, yb: list) -> tuple[float, int]:
        k = self.calls % self.batches_per_epoch  # the batch's place in the epoch
        self.calls += 1
        if k == len(self.recorded):  # the batch's first step: record it
            forward = self.objective.forward
            self.recorded.append(
                engine.compile(lambda: forward(xb, yb), None, check_every=REPLAY_CHECK_EVERY)
            )
        value, outputs = self.recorded[k]()
        return value, sum(_is_right(out, yp) for out, yp in zip(outputs, yb))


class _Batched:
    """One sample's graph recorded once and replayed over the batch with numpy
    (:func:`tapegrad.engine.vmap`): the gradients :func:`batch_loss` and ``backward()``
    give, within 1e-12 relative as the lifted program (``lift``), else bit for bit.
    Raises ``GraphChangedError`` or ``BatchingError`` when made for a graph that cannot
    be batched."""

    batched = True

    def __init__(self, objective: _Objective, X: list, y: list, lift: bool = True) -> None:
        import numpy as np

        self.np = np
        model, loss_fn, params, l2 = (
            objective.model,
            objective.loss_fn,
            objective.params,
            objective.l2,
        )
        with engine.no_grad():
            first = model(X[0])
        # one output per class: labels are class indices, passed as one-hot rows
        self.classes = None if isinstance(first, Value) else len(first)

        def per_sample(x, label):
            output = model(x)
            return loss_fn(output, label), output

        # lift: the lifted program, within 1e-12; lift=False: bit for bit (fit's ``lift``)
        self.step = engine.vmap(per_sample, params, check_every=BATCHED_CHECK_EVERY, lift=lift)
        self.step.record(*self.columns(X, y))  # raises if the graph cannot be batched
        # The L2 term is shared by the batch: its graph replayed on floats (bit for bit
        # its backward(), without building it at every step).
        self.l2_step = engine.compile(lambda: losses.l2(params, l2), params) if l2 else None

    def columns(self, xb: list, yb: list) -> tuple:
        np = self.np
        labels = np.asarray(yb, dtype=np.float64)
        if self.classes is not None:
            labels = np.eye(self.classes)[np.asarray(yb, dtype=np.intp)]
        return np.asarray(xb, dtype=np.float64), labels

    def __call__(self, xb: list, yb: list) -> tuple[float, int]:
        # backward() of the batch loss reaches the L2 term first
        reg = 0.0 if self.l2_step is None else self.l2_step()
        _, outputs = self.step(*self.columns(xb, yb))
        loss = self.step.loss
        assert loss is not None  # every call of the batched step sets it
        return loss + reg, _count_right(outputs, yb)


def _batched_data(X: list, y: list):
    """The dataset as numbers for batched replay, or None if it is not (Values as
    inputs, rows of different lengths, non-numbers: fit's per-sample checks say why)."""
    import numpy as np

    try:
        xs, ys = np.asarray(X), np.asarray(y)
    except (ValueError, TypeError):
        return None
    if xs.ndim != 2 or xs.dtype.kind not in "iuf" or ys.ndim != 1 or ys.dtype.kind not in "iuf":
        return None
    return xs, ys


# -- replay: record a step once, rerun its tape (engine.compile) --------------------
#: Per-sample losses whose graph never depends on the numbers (no ``if`` on ``.data``,
#: no constant read from ``.data``), so a recorded step stays valid while training.
_STATIC_LOSSES = (
    losses.mse,
    losses.hinge,
    losses.perceptron_criterion,
    losses.perceptron_rule_loss,
    losses.adaline_loss,
)
#: Recording compiles the tape to Python, which costs about 10 ordinary steps
#: (measured: fit on 100 moons with MLP(2, [16, 16, 1]) breaks even at ~12 epochs):
#: below this many epochs fit builds the graph every step.
REPLAY_MIN_EPOCHS = 20
#: Every this many replayed steps, fit re-traces the step and checks the graph.
REPLAY_CHECK_EVERY = 50


def _replays(model: Any, loss_fn: Callable, epochs: int, batch_size, shuffle: bool) -> bool:
    """Whether fit can replay: the same batches every epoch (a full batch, or no
    shuffling), enough epochs to pay for recording, and a model and loss whose
    graph has the same shape whatever the numbers."""
    if epochs < REPLAY_MIN_EPOCHS or (shuffle and batch_size is not None):
        return False
    if type(model) not in (MLP, Layer, Neuron):
        return False
    if loss_fn is _default_loss:  # the hinge loss for one output (softmax's is not static)
        last = model.layers[-1] if isinstance(model, MLP) else model
        return isinstance(last, Neuron) or len(last.neurons) == 1
    return loss_fn in _STATIC_LOSSES


def _check_finite_features(X) -> None:
    """Refuse a sample with an inf or nan feature before any step (the labels are
    checked by the loss): one would turn every parameter into nan."""
    for k, sample in enumerate(X):
        features = [sample] if isinstance(sample, (Value, numbers.Real)) else sample
        for j, f in enumerate(features):
            number = f.data if isinstance(f, Value) else f
            if isinstance(number, numbers.Real) and not math.isfinite(number):
                raise ValueError(f"sample X[{k}] has a non-finite feature {j}: {number!r}")


def fit(
    model: Any,
    X: Sequence,
    y: Sequence,
    loss: str | Callable | None = None,
    optimizer: Optimizer | str = "sgd",
    lr: float | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = 0,
    l2: float = 0.0,
    lr_schedule: Callable[[int], float] | None = None,
    progress: bool = True,
    replay: bool = True,
    batched: bool = True,
    lift: bool = True,
    record_parameters: bool = False,
) -> History:
    """Train ``model`` on ``(X, y)`` and return a :class:`History`.

    * ``loss`` -- a per-sample loss ``(output, y) -> Value``, a name from
      :data:`tapegrad.nn.losses.LOSSES`, or None: the model's own ``criterion`` (the classic
      rules), softmax cross-entropy for class indices, else the hinge loss.
    * ``optimizer`` -- an :class:`~nn.optim.Optimizer`, or ``"sgd"``/``"adam"`` built
      with ``lr`` (default: :data:`LEARNING_RATES`, 0.1 for SGD, 0.03 for Adam).
    * ``batch_size`` -- None: full batch (gradient descent); 1: SGD; else mini-batches,
      shuffled each epoch from ``random.Random(seed)``.
    * ``l2`` -- add ``l2 · Σ w²`` to every batch loss (micrograd's demo uses 1e-4).
    * ``lr_schedule`` -- ``epoch -> lr``, applied at the start of each epoch.
    * ``progress`` -- show a progress bar (only in a notebook or on a terminal).
    * ``replay`` -- when the batches repeat every epoch (a full batch, or
      ``shuffle=False``) and the model's graph cannot depend on the numbers (an
      :class:`~nn.layers.MLP` with a loss built only from ops), record each batch's
      step once and replay its tape (:func:`tapegrad.engine.compile`): the same gradients,
      several times faster. A full batch is then always taken in dataset order
      (shuffling it only reorders a sum). ``replay=False`` builds every graph.
    * ``batched`` -- when the model is one of :mod:`tapegrad.nn`'s (``MLP``, ``Layer``,
      ``Neuron``, the classic rules) and the loss one of its losses, and batches hold
      at least ``BATCHED_MIN_BATCH`` samples, run each step as batched replay
      (:func:`tapegrad.engine.vmap`): one sample's graph recorded once, replayed over
      the batch with numpy -- the same gradients as building every graph (bit for bit
      for ``+ - * /``, relu, sign; within a few ulp for tanh, sigmoid, exp, log), many
      times faster on large batches. Labels go in as Values (class indices as one-hot
      rows). Otherwise, or with ``batched=False``, ``replay`` or building every graph.
    * ``lift`` -- a batched step runs the lifted program (:func:`tapegrad.engine.lift`,
      ``engine.vmap``'s default: a layer one matrix product), several times faster than
      one numpy operation per tape entry. Its sums add in another order: each step's
      loss and gradients are within ``1e-12`` relative of building every graph, not
      bit for bit (over many updates such differences can grow, as with any change
      of summation order, and an output within rounding of 0 may count as right in
      one and wrong in the other). ``lift=False`` replays the tape entry by entry:
      bit for bit as stated for ``batched``.
    * ``record_parameters`` -- keep every parameter's value before each update and
      at the end in ``history.parameters`` (costs one float per parameter per
      update: for small models, to draw the path training takes).

    The step -- batched, replayed or built -- is chosen once, before the first epoch;
    each update is then the four lines of the module docstring: ``zero_grad``, the
    step's forward and backward, ``opt.step()``.

    Raises ``TypeError``/``ValueError`` for a bad argument, sample or label before
    any step has changed the model.
    """
    X, y = check_dataset(X, y)
    epochs = _checks.count(epochs, "epochs")
    l2 = _checks.nonnegative(l2, "l2")
    _check_flags(shuffle=shuffle, batched=batched, lift=lift, record_parameters=record_parameters)
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError(f"lr_schedule must be a function epoch -> lr, got {lr_schedule!r}")
    if not callable(model) or not hasattr(model, "parameters"):
        raise TypeError(f"fit needs a model with parameters(), got {type(model).__name__}")
    loss_fn = _resolve_loss(model, loss, y)
    opt = _resolve_optimizer(model, optimizer, lr)
    batches(X, y, batch_size, shuffle=False)  # checks batch_size now, not at the first epoch
    _check_finite_features(X)
    params = opt.params
    objective = _Objective(model, loss_fn, params, l2)
    step = _choose_step(objective, X, y, epochs, batch_size, shuffle, replay, batched, lift)
    # replayed steps need the same batches every epoch: a full batch in dataset order
    shuffle = shuffle and not isinstance(step, _Replayed)

    history = History(dataset_size=len(X), batched=step.batched)
    accuracy_now = _Accuracy(model, X, y)
    rng = random.Random(seed)
    seen = 0  # samples the steps so far used
    start = time.perf_counter()
    bar = _ProgressBar(epochs, progress)
    for epoch in bar:
        if lr_schedule is not None:
            opt.lr = lr_schedule(epoch)
        total, right = 0.0, 0
        for xb, yb in batches(X, y, batch_size, shuffle=shuffle, rng=rng):
            if record_parameters:
                history.parameters.append([p.data for p in params])
            opt.zero_grad()
            loss_value, batch_right = step(xb, yb)  # forward and backward
            opt.step()
            seen += len(xb)
            history.update_loss.append(loss_value)
            history.samples_seen.append(seen)
            total += loss_value * len(xb)
            right += batch_right
        history.loss.append(total / len(X))
        history.accuracy.append(accuracy_now())
        history.mistakes.append(len(X) - right)
        bar.set_postfix(
            loss=format_loss(history.loss[-1]), acc=format_accuracy(history.accuracy[-1])
        )
    bar.close()
    if record_parameters:
        history.parameters.append([p.data for p in params])
    history.seconds = time.perf_counter() - start
    return history


def _check_flags(**flags: object) -> None:
    """Each flag must be True or False (``TypeError`` naming it otherwise)."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def _choose_step(
    objective: _Objective,
    X: list,
    y: list,
    epochs: int,
    batch_size: int | None,
    shuffle: bool,
    replay: bool,
    batched: bool,
    lift: bool = True,
) -> _Eager | _Replayed | _Batched:
    """fit's step, chosen once: batched replay, replay or building every graph (see
    :func:`fit`'s ``batched`` and ``replay``). First runs every sample and label
    through the model and the loss once, without a graph: a bad one raises here,
    before any step has changed the model."""
    model, loss_fn = objective.model, objective.loss_fn
    size = len(X) if batch_size is None else batch_size
    rows = (
        batched
        and size >= BATCHED_MIN_BATCH
        and _batchable(model, loss_fn)
        and _batched_data(X, y) is not None
    )
    with engine.no_grad():
        if rows:
            # rows of numbers all of one length: model(X[0]) checks that length, and
            # every distinct label goes through the loss once
            first = model(X[0])
            for label in dict.fromkeys(y):
                loss_fn(first, label)
        else:
            for xp, yp in zip(X, y):
                loss_fn(model(xp), yp)
    if rows:
        try:
            return _Batched(objective, X, y, lift)
        except (engine.GraphChangedError, engine.BatchingError):
            pass  # build every graph instead (never reached for nn's own)
    if replay and _replays(model, loss_fn, epochs, batch_size, shuffle):
        return _Replayed(objective, math.ceil(len(X) / size))
    return _Eager(objective)


class _ProgressBar:
    """fit's progress bar: tqdm's ``trange`` over the epochs (a text bar on a terminal,
    a widget in a notebook), hidden unless :func:`_show_progress`.

    On a pseudo-terminal that reports no size (``script``, some CI runners) tqdm
    would print an empty line: the bar is then given 80 columns and 24 lines. In a
    notebook the widget is displayed with a display id and updated when training
    ends, so a saved notebook shown without its widgets (nbconvert, GitHub) shows
    the bar's final state as text, not the 0% it showed when it was made.
    """

    def __init__(self, epochs: int, progress: bool) -> None:
        from tqdm.auto import trange

        show = _show_progress(progress)
        notebook = show and _in_notebook()
        options: dict[str, Any] = {"desc": "train", "unit": "epoch", "disable": not show}
        if notebook:
            options["display"] = False  # displayed below, with an id
        elif show:
            options.update(_terminal_size())
        self.bar = trange(epochs, **options)
        self.display = None
        if notebook:
            from IPython.display import display

            self.display = display(self.bar.container, display_id=True)
            self.bar.displayed = True

    def __iter__(self):
        return iter(self.bar)

    def set_postfix(self, **values: str) -> None:
        self.bar.set_postfix(**values, refresh=False)

    def close(self) -> None:
        self.bar.close()
        if self.display is not None:
            # the saved output's text/plain becomes the final bar
            self.display.update(self.bar.container)


def _terminal_size() -> dict[str, int]:
    """tqdm's ``ncols`` and ``nrows`` when stderr is a terminal that reports no size
    (0 columns or lines: tqdm would then print nothing); empty otherwise."""
    import os

    try:
        columns, lines = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return {}
    if columns and lines:
        return {}
    return {"ncols": columns or 80, "nrows": lines or 24}
