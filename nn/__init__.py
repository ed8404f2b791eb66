"""tapegrad's ``nn``: neurons, layers, MLPs and the classic learning rules, on ``engine``.

Everything here is built from the engine's public API (``engine.Value`` and its ops),
so every model, loss and training step can be inspected node by node.

    >>> import random
    >>> from tapegrad.nn import MLP, fit, moons
    >>> X, y = moons(60, seed=0)
    >>> model = MLP(2, [8, 8, 1], rng=random.Random(0))
    >>> history = fit(model, X, y, optimizer="adam", lr=0.05, epochs=5, progress=False)
    >>> history.epochs
    5

* :mod:`tapegrad.nn.module` -- :class:`Module`: parameters, ``zero_grad``, scopes, config;
* :mod:`tapegrad.nn.layers` -- :class:`Neuron`, :class:`Layer`, :class:`MLP` (micrograd's);
* :mod:`tapegrad.nn.classic` -- :class:`Perceptron`, :class:`Adaline`, :class:`LogisticRegression`;
* :mod:`tapegrad.nn.losses` -- per-sample losses and the average loss over a set;
* :mod:`tapegrad.nn.optim` -- :class:`SGD` and :class:`Adam`;
* :mod:`tapegrad.nn.data` -- seeded toy datasets and a mini-batch iterator;
* :mod:`tapegrad.nn.train` -- :func:`fit` and :func:`accuracy`.
* :mod:`tapegrad.nn.energy` -- :class:`Hopfield` and :class:`BoltzmannMachine` (energy models);
* :mod:`tapegrad.nn.serialize` -- safe JSON :func:`save` / :func:`load` (:class:`ModelFileError`).
* :mod:`tapegrad.nn.plot` -- matplotlib pictures: decision regions, learning curves per
  epoch and per update, mistakes per epoch, loss contours (loaded on first use:
  ``from tapegrad.nn import plot``).
"""

from .classic import Adaline, LinearUnit, LogisticRegression, Perceptron, train_rule
from .data import (
    DATASETS,
    Dataset,
    batches,
    blobs,
    circles,
    logic_gate,
    moons,
    spirals,
    to_01,
    to_pm1,
    xor,
)
from .energy import BoltzmannMachine, Hopfield
from .layers import ACTIVATIONS, MLP, Layer, Neuron
from .losses import (
    LOSSES,
    adaline_loss,
    average_loss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    hinge,
    l2,
    log_sum_exp,
    logistic_loss,
    mean,
    mse,
    perceptron_criterion,
    perceptron_rule_loss,
    softmax,
    softmax_cross_entropy,
    softplus,
)
from .module import MODEL_REGISTRY, Module
from .optim import SGD, Adam, Optimizer
from .serialize import ModelFileError, load, save
from .train import History, accuracy, fit

__all__ = [
    "Module",
    "MODEL_REGISTRY",
    "Neuron",
    "Layer",
    "MLP",
    "ACTIVATIONS",
    "LinearUnit",
    "Perceptron",
    "Adaline",
    "LogisticRegression",
    "train_rule",
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
    "softplus",
    "l2",
    "mean",
    "average_loss",
    "LOSSES",
    "Optimizer",
    "SGD",
    "Adam",
    "Dataset",
    "blobs",
    "logic_gate",
    "xor",
    "moons",
    "circles",
    "spirals",
    "DATASETS",
    "batches",
    "to_pm1",
    "to_01",
    "fit",
    "accuracy",
    "History",
    "Hopfield",
    "BoltzmannMachine",
    "save",
    "load",
    "ModelFileError",
]


def __getattr__(name: str):
    # nn.plot imports matplotlib: load it on first use, so `import tapegrad.nn` stays fast;
    # nn.diagram likewise, so `tapegrad.nn.diagram.draw_model` works as the docs write it.
    if name in ("plot", "diagram"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
